#!/usr/bin/env python3
"""Greedy answers of a base model (optionally with a LoRA adapter) for the prompts of a ChatExample JSONL.

    generate.py --base MODEL_DIR [--adapter ADAPTER_DIR] --data eval.jsonl --output predictions.jsonl
                [--max-new-tokens N] [--batch-size N]

Each example's prompt is every turn before its last assistant turn, rendered exactly as train_lora.py renders it (the
tokenizer's chat template with the generation prompt, else the plain format); the last assistant turn is the
reference. Writes one {"index", "prediction", "reference"} line per example (in input order; written to a temporary
file and renamed at the end). stdout carries only JSON lines: {"event":"progress","done","total"} after each batch and
{"event":"done","total","output","device","generated_tokens","tokens_per_s","elapsed_s"}; logs go to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from base_models import resolve_base  # noqa: E402
from train_lora import claim_stdout, die_with_parent, emit, prompt_text, read_examples  # noqa: E402


def log(msg: str) -> None:
    print(f"generate: {msg}", file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="registered base model name or base model folder (save_pretrained layout)")
    ap.add_argument("--adapter", help="PEFT adapter folder (adapter_config.json + adapter_model.safetensors)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=0, help="prompts per generate call (default 8 on CPU, 32 on CUDA)")
    args = ap.parse_args()
    claim_stdout()
    die_with_parent(signal.SIGKILL)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    base_dir, _ = resolve_base(args.base)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
    if args.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.adapter)
    model.to(device).eval()

    eos = set()
    gen_eos = model.generation_config.eos_token_id
    if isinstance(gen_eos, int):
        eos.add(gen_eos)
    elif gen_eos:
        eos.update(gen_eos)
    if tokenizer.eos_token_id is not None:
        eos.add(tokenizer.eos_token_id)

    examples = read_examples(args.data)
    items = [prompt_text(tokenizer, msgs) for msgs in examples]
    total = len(items)
    batch_size = args.batch_size or (32 if cuda else 8)
    log(f"{total} prompts, {device.type} {str(dtype).replace('torch.', '')}, adapter: {args.adapter or 'none'}, batch {batch_size}")

    # longest prompts first: less padding per batch; written back in input order
    order = sorted(range(total), key=lambda i: -len(items[i][0]))
    predictions: list[str | None] = [None] * total
    generated = 0
    started = time.perf_counter()
    done = 0
    for start in range(0, total, batch_size):
        idx = order[start : start + batch_size]
        enc = tokenizer([items[i][0] for i in idx], add_special_tokens=False, padding=True, return_tensors="pt").to(device)
        with torch.no_grad():
            out = model.generate(
                **enc,
                max_new_tokens=args.max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=sorted(eos) or None,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        for row, i in enumerate(idx):
            toks = new[row].tolist()
            cut = next((k for k, t in enumerate(toks) if t in eos), len(toks))
            generated += cut
            predictions[i] = tokenizer.decode(toks[:cut], skip_special_tokens=True).strip()
        done += len(idx)
        emit({"event": "progress", "done": done, "total": total})

    tmp = f"{args.output}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        for i, (_, reference) in enumerate(items):
            f.write(json.dumps({"index": i, "prediction": predictions[i], "reference": reference}, ensure_ascii=False) + "\n")
    os.replace(tmp, args.output)
    elapsed = time.perf_counter() - started
    emit({"event": "done", "total": total, "output": os.path.abspath(args.output), "device": device.type, "generated_tokens": generated,
          "tokens_per_s": round(generated / elapsed, 1) if elapsed > 0 else 0.0, "elapsed_s": round(elapsed, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
