#!/usr/bin/env python3
"""Builds a causal LM of a real model's shape with RANDOM weights, for throughput benchmarks of the trainer (nothing is
downloaded: the config is written here and the tokenizer is trained on the fly).

    make_random_model.py --preset tiny|qwen-0.5b|llama-1b --data some.jsonl --output DIR [--vocab N] [--seed N]
                         [--tokenizer-vocab N] [--dtype bf16|fp32]

Presets (the shapes of the public models; the weights are random, so only speed and memory mean anything):
  tiny       Llama, hidden 256, 4 layers, 4 heads, intermediate 1024, vocab 8000 (~6M params): CPU smoke runs
  qwen-0.5b  Qwen2-0.5B: hidden 896, 24 layers, 14 heads / 2 kv heads, intermediate 4864, vocab 151936, tied
             embeddings, q/k/v biases (~494M params)
  llama-1b   Llama-3.2-1B: hidden 2048, 16 layers, 32 heads / 8 kv heads, intermediate 8192, vocab 128256, tied
             embeddings (~1.24B params)

The tokenizer is make_tiny_model.py's: a byte-level BPE trained with the `tokenizers` package on every message of the
ChatExample JSONL (--data), with its special tokens and minimal chat template (imported from make_tiny_model). A BPE
trained on a small corpus cannot reach a 150k vocabulary, so it is trained to --tokenizer-vocab (default
min(vocab, 32000)) and the model's embedding and lm_head keep the preset's full vocab (--vocab overrides it), as
Qwen's own embedding is padded past its tokenizer: the lm_head, a large share of a small model's FLOPs, stays the
real model's size. Model and tokenizer are saved with save_pretrained (safetensors, --dtype, default bf16, which the
trainer loads as it trains: bf16 on CUDA, upcast to fp32 on the CPU), so AutoTokenizer / AutoModelForCausalLM load
DIR offline.

Prints one JSON line on stdout: {"event":"done","output","preset","model_type","vocab_size","tokenizer_vocab","params"};
logs go to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_model import CHAT_TEMPLATE, ROLE_TOKENS, SPECIAL, texts  # noqa: E402  (the tiny model's tokenizer recipe)

PRESETS: dict[str, dict] = {
    "tiny": dict(arch="llama", hidden_size=256, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
                 intermediate_size=1024, vocab_size=8000, max_position_embeddings=4096, tie_word_embeddings=False),
    "qwen-0.5b": dict(arch="qwen2", hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                      intermediate_size=4864, vocab_size=151936, max_position_embeddings=32768, rope_theta=1_000_000.0,
                      rms_norm_eps=1e-6, tie_word_embeddings=True),
    "llama-1b": dict(arch="llama", hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                     intermediate_size=8192, vocab_size=128256, max_position_embeddings=8192, rope_theta=500_000.0,
                     rms_norm_eps=1e-5, tie_word_embeddings=True),
}


def log(msg: str) -> None:
    print(f"make_random_model: {msg}", file=sys.stderr, flush=True)


def train_tokenizer(data: str, vocab_size: int, max_positions: int):
    """make_tiny_model.py's tokenizer (byte-level BPE, its special and role tokens, its chat template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL + ROLE_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts(data), trainer=trainer)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                     model_max_length=max_positions)
    hf_tok.chat_template = CHAT_TEMPLATE
    return hf_tok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--data", required=True, help="ChatExample JSONL whose text trains the tokenizer")
    ap.add_argument("--output", required=True)
    ap.add_argument("--vocab", type=int, default=None, help="rows of the embedding and lm_head (default: the preset's)")
    ap.add_argument("--tokenizer-vocab", type=int, default=None, help="BPE vocab to train (default: min(vocab, 32000))")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16", help="dtype of the saved weights")
    args = ap.parse_args()

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    shape = dict(PRESETS[args.preset])
    arch = shape.pop("arch")
    vocab = args.vocab or shape["vocab_size"]
    t0 = time.perf_counter()
    hf_tok = train_tokenizer(args.data, min(vocab, args.tokenizer_vocab or 32000), shape["max_position_embeddings"])
    if len(hf_tok) > vocab:
        raise SystemExit(f"make_random_model: the tokenizer has {len(hf_tok)} tokens, more than --vocab {vocab}")
    log(f"tokenizer: {len(hf_tok)} tokens ({time.perf_counter() - t0:.1f}s)")

    shape["vocab_size"] = vocab
    ids = dict(bos_token_id=hf_tok.bos_token_id, eos_token_id=hf_tok.eos_token_id, pad_token_id=hf_tok.pad_token_id)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    if arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**shape, **ids))
    else:
        model = LlamaForCausalLM(LlamaConfig(**shape, **ids))
    for k, v in ids.items():
        setattr(model.generation_config, k, v)
    params = sum(p.numel() for p in model.parameters())
    if args.dtype == "bf16":
        model = model.to(torch.bfloat16)
    log(f"{args.preset} ({model.config.model_type}): {params:,} params, vocab {vocab} ({time.perf_counter() - t0:.1f}s)")

    t0 = time.perf_counter()
    os.makedirs(args.output, exist_ok=True)
    model.save_pretrained(args.output)
    hf_tok.save_pretrained(args.output)
    log(f"saved to {args.output} ({time.perf_counter() - t0:.1f}s)")
    print(json.dumps({"event": "done", "output": args.output, "preset": args.preset, "model_type": model.config.model_type, "vocab_size": vocab,
                      "tokenizer_vocab": len(hf_tok), "params": params}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
