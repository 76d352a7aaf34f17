#!/usr/bin/env python3
"""Builds a tiny causal LM with random weights, for tests of the trainer on CPU.

    make_tiny_model.py --data some.jsonl --output DIR [--seed N] [--vocab-size N] [--no-chat-template]

The tokenizer is a byte-level BPE trained on the fly (the `tokenizers` package) on every message of the ChatExample
JSONL, with the special tokens <pad> <unk> <s> </s>; the model is a 2-layer Llama (hidden 64, 4 heads, intermediate 128)
initialised from --seed. Both are saved with save_pretrained, so AutoTokenizer / AutoModelForCausalLM load DIR offline.
The chat template (unless --no-chat-template) is the minimal

    <s><|system|>\n...<|user|>\n...<|assistant|>\n...</s>

Prints one JSON line on stdout: {"event":"done","output","vocab_size","params"}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% else %}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL = ["<pad>", "<unk>", "<s>", "</s>"]
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]


def texts(path: str):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            for m in json.loads(line)["messages"]:
                yield m["content"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="ChatExample JSONL whose text trains the tokenizer")
    ap.add_argument("--output", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab-size", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=128)
    ap.add_argument("--max-positions", type=int, default=1024)
    ap.add_argument("--no-chat-template", action="store_true", help="save no chat template (the trainer's plain format)")
    args = ap.parse_args()

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size,
        special_tokens=SPECIAL + ([] if args.no_chat_template else ROLE_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts(args.data), trainer=trainer)

    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", model_max_length=args.max_positions
    )
    if not args.no_chat_template:
        hf_tok.chat_template = CHAT_TEMPLATE

    torch.manual_seed(args.seed)
    config = LlamaConfig(
        vocab_size=len(hf_tok),
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        intermediate_size=args.intermediate,
        max_position_embeddings=args.max_positions,
        bos_token_id=hf_tok.bos_token_id,
        eos_token_id=hf_tok.eos_token_id,
        pad_token_id=hf_tok.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = hf_tok.pad_token_id
    model.generation_config.eos_token_id = hf_tok.eos_token_id
    model.generation_config.bos_token_id = hf_tok.bos_token_id
    os.makedirs(args.output, exist_ok=True)
    model.save_pretrained(args.output)
    hf_tok.save_pretrained(args.output)
    params = sum(p.numel() for p in model.parameters())
    print(f"tiny model: vocab {len(hf_tok)}, {params} params -> {args.output}", file=sys.stderr)
    print(json.dumps({"event": "done", "output": args.output, "vocab_size": len(hf_tok), "params": params}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
