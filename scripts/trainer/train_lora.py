#!/usr/bin/env python3
"""LoRA fine-tuning of a causal LM on ChatExample JSONL (src/distill/types.ts), on CUDA when present, else CPU.

    train_lora.py --data train.jsonl --config config.json --output DIR [--resume]

config.json is a TrainerConfig (camelCase keys, src/distill/types.ts). Prompts are rendered with the tokenizer's chat
template when it has one, else a fixed plain format (render_plain); the loss is on the assistant turns only (labels
-100 elsewhere), a conversation longer than maxLength loses its prompt from the left, never its last answer (truncate), and with
packing whole examples share maxLength blocks, each with its own positions and no attention across examples (pack,
packed_inputs); gradient checkpointing on request. LoRA via PEFT; AdamW with linear warmup and linear decay; gradient accumulation; seeded.

stdout carries only TrainerEvent JSON lines (start, progress, checkpoint, done); logs go to stderr. Every
checkpointEvery optimizer steps, and after the last step, DIR/checkpoints/step-N is written atomically (a temporary
folder renamed into place): adapter weights, optimizer, scheduler, RNG states, step and data position; the last two
are kept. When checkpoints
exist the run resumes from the latest (--resume says so explicitly; without checkpoints it starts fresh) and reaches
the same result as an uninterrupted run. Each checkpoint records the run's fingerprint (the data file's digest and
the config fields that change training); checkpoints with another fingerprint are refused: exit 3, nothing trained.
SIGTERM (or SIGINT) saves a checkpoint of the last completed step at the next
micro-batch boundary and exits with 143 (130). At the end DIR/adapter holds the PEFT adapter
(adapter_config.json + adapter_model.safetensors) and DIR/metrics.json the done event's fields plus the loss history
and the peak memory (peak_memory_bytes: GPU memory allocated by torch on CUDA, the process's peak RSS on the CPU).

Environment: DISTILLERY_PEAK_FLOPS (peak FLOP/s of the accelerator for the MFU estimate; default from a table of
H100/H200/A100 bf16 dense), DISTILLERY_TRAINER_STEP_DELAY_MS (test hook: sleep this long after each optimizer step,
so a test can interrupt a tiny run at a known point).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import signal
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from base_models import resolve_base, write_portable_config  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# ------------------------------------------------------------------------------------------------ stdout discipline

_events = None  # the real stdout, for event lines only


def claim_stdout() -> None:
    """Keeps the real stdout for JSON event lines and points fd 1 (and sys.stdout) at stderr, so that nothing a
    library prints (Python or C level) can land between the events."""
    global _events
    if _events is not None:
        return
    sys.stdout.flush()
    _events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def emit(event: dict[str, Any]) -> None:
    line = json.dumps({k: _finite(v) for k, v in event.items()}, allow_nan=False)
    out = _events if _events is not None else sys.stdout
    out.write(line + "\n")
    out.flush()


def log(msg: str) -> None:
    print(f"train_lora: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ prompts and labels


def read_examples(path: str) -> list[list[dict[str, str]]]:
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                msgs = json.loads(line)["messages"]
                out.append([{"role": m["role"], "content": m["content"]} for m in msgs])
            except (ValueError, KeyError, TypeError) as e:
                raise SystemExit(f"train_lora: {path}:{n}: not a ChatExample ({e})")
    return out


def render_plain(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    """The fixed format for tokenizers without a chat template:
    <bos>### System:\\n...\\n\\n### User:\\n...\\n\\n### Assistant:\\n...<eos>"""
    parts = []
    for m in messages:
        text = f"### {m['role'].capitalize()}:\n{m['content']}"
        if m["role"] == "assistant" and tokenizer.eos_token:
            text += tokenizer.eos_token
        parts.append(text)
    if add_generation_prompt:
        parts.append("### Assistant:\n")
    return (tokenizer.bos_token or "") + "\n\n".join(parts)


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return render_plain(tokenizer, messages, add_generation_prompt)


def prompt_text(tokenizer, messages: list[dict[str, str]]) -> tuple[str, str | None]:
    """For generation: the prompt (every turn before the last assistant turn, plus the generation prompt) and the
    reference answer (the last assistant turn; None when there is none)."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return render(tokenizer, messages, True), None
    return render(tokenizer, messages[:last], True), messages[last]["content"]


_warned: set[str] = set()


def segments(tokenizer, messages: list[dict[str, str]]) -> list[tuple[str, bool]]:
    """The rendered conversation as (text, trainable) pieces: the text of each assistant turn is what the rendering
    of the turns through it adds to the rendering of the turns before it with the generation prompt. When a template
    renders earlier turns differently later on (no common prefix), only the last assistant turn is trained."""
    full = render(tokenizer, messages, False)
    assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not assistant:
        return [(full, False)]
    out: list[tuple[str, bool]] = []
    done = ""
    for i in assistant:
        prefix = render(tokenizer, messages[:i], True) if i > 0 else ""
        through = render(tokenizer, messages[: i + 1], False)
        if not (prefix.startswith(done) and through.startswith(prefix) and full.startswith(through)):
            if "prefix" not in _warned:
                _warned.add("prefix")
                log("chat template renders earlier turns differently: training on the last assistant turn only")
            i = assistant[-1]
            prefix = render(tokenizer, messages[:i], True) if i > 0 else ""
            through = render(tokenizer, messages[: i + 1], False)
            if not through.startswith(prefix):
                raise SystemExit("train_lora: the chat template does not render the prompt as a prefix of the conversation")
            return [(prefix, False), (through[len(prefix):], True), (full[len(through):], False)] if full.startswith(through) else [
                (prefix, False),
                (through[len(prefix):], True),
            ]
        out.append((prefix[len(done):], False))
        out.append((through[len(prefix):], True))
        done = through
    out.append((full[len(done):], False))
    return [(t, trainable) for t, trainable in out if t]


def encode(tokenizer, messages: list[dict[str, str]], max_length: int) -> tuple[list[int], list[int]]:
    """input_ids and labels (-100 but on assistant tokens), fitted into max_length by truncate(). Each piece is
    tokenized on its own (no special tokens added: the rendering carries them), exactly as generation tokenizes a
    prompt."""
    ids: list[int] = []
    labels: list[int] = []
    answer = None  # [start, end) of the last trainable piece
    for text, trainable in segments(tokenizer, messages):
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        if trainable:
            answer = (len(ids), len(ids) + len(piece))
        ids.extend(piece)
        labels.extend(piece if trainable else [-100] * len(piece))
    return truncate(ids, labels, answer, max_length)


def truncate(ids: list[int], labels: list[int], answer: tuple[int, int] | None, max_length: int) -> tuple[list[int], list[int]]:
    """Fits a conversation into max_length tokens without ever training an answer without its prompt. What follows
    the last answer goes first; when the last answer (with its EOS) still ends past max_length, the prompt is cut
    from the left (oldest turns first) and only that last answer is trained (an earlier answer in the window may
    have lost its own prompt). When the answer leaves less than a quarter of max_length (at least one token) for its
    prompt (or the whole prompt, when shorter), the example is left out: ([], [])."""
    if len(ids) <= max_length or answer is None:
        return ids[:max_length], labels[:max_length]
    a0, a1 = answer
    if a1 <= max_length:
        return ids[:max_length], labels[:max_length]
    if max_length - (a1 - a0) < min(a0, max(1, max_length // 4)):
        return [], []
    start = a1 - max_length
    return ids[start:a1], [-100] * (a0 - start) + labels[a0:a1]


def pack(samples: list[tuple[list[int], list[int]]], max_length: int) -> list[tuple[list[int], list[int], list[int]]]:
    """Whole examples, in the given order, into blocks of at most max_length tokens (first fit over the open
    blocks, so short examples fill the gaps): (ids, labels, lengths of the examples in the block). No example is
    ever split; collate() gives each its own positions and a block-diagonal causal mask, so no token attends to
    another example."""
    blocks: list[tuple[list[int], list[int], list[int]]] = []
    for ids, labels in samples:
        block = next((b for b in blocks if len(b[0]) + len(ids) <= max_length), None)
        if block is None:
            block = ([], [], [])
            blocks.append(block)
        block[0].extend(ids)
        block[1].extend([-100] + list(labels[1:]))  # an example's first token is never predicted (from another example)
        block[2].append(len(ids))
    return blocks


def packed_inputs(lengths: list[list[int]], width: int, dtype):
    """position_ids (restarting at 0 for each example) and the additive 4-D attention mask (batch, 1, width, width)
    of packed rows: causal inside an example, blocked across examples; each row's padding is a segment of its own
    (its labels are -100). Additive (0 / dtype min) so eager and SDPA attention read it alike."""
    import torch

    seg = torch.empty((len(lengths), width), dtype=torch.long)
    pos = torch.zeros((len(lengths), width), dtype=torch.long)
    for r, lens in enumerate(lengths):
        at = 0
        for k, n in enumerate(lens):
            seg[r, at : at + n] = k
            pos[r, at : at + n] = torch.arange(n)
            at += n
        seg[r, at:] = len(lens)
        pos[r, at:] = torch.arange(width - at)
    same = seg[:, :, None] == seg[:, None, :]
    causal = torch.ones((width, width), dtype=torch.bool).tril()
    allowed = same & causal
    mask = torch.zeros((len(lengths), 1, width, width), dtype=dtype)
    mask.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)
    return pos, mask


# ------------------------------------------------------------------------------------------------ config


def load_config(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        c = json.load(f)
    missing = [k for k in ("baseModel", "lora", "learningRate", "maxLength", "batchSize", "gradientAccumulation", "seed", "checkpointEvery") if k not in c]
    if missing:
        raise SystemExit(f"train_lora: {path}: missing {', '.join(missing)}")
    c.setdefault("epochs", 1)
    c.setdefault("packing", False)
    c.setdefault("precision", "auto")
    c.setdefault("weightDecay", 0.0)
    c.setdefault("maxGradNorm", 1.0)
    lora = c["lora"]
    for k in ("r", "alpha", "dropout", "targetModules"):
        if k not in lora:
            raise SystemExit(f"train_lora: {path}: lora.{k} is missing")
    if c["batchSize"] < 1 or c["gradientAccumulation"] < 1 or c["maxLength"] < 2 or c["checkpointEvery"] < 1:
        raise SystemExit(f"train_lora: {path}: batchSize, gradientAccumulation, checkpointEvery must be >= 1 and maxLength >= 2")
    return c


# Exit status when the output's checkpoints were made from other data or another config (see fingerprint).
EXIT_FINGERPRINT_MISMATCH = 3


def fingerprint(c: dict[str, Any], data_path: str) -> str:
    """What fixes the data order and the model: the data file's digest and the config fields that change training
    (not checkpointEvery, nor maxSteps, so that a finished run can be extended in place). Each checkpoint records it,
    and a checkpoint made under another fingerprint is never resumed: its weights belong to other training."""
    h = hashlib.sha256()
    with open(data_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    keys = ("baseModel", "lora", "maxLength", "packing", "batchSize", "gradientAccumulation", "seed", "epochs", "learningRate",
            "weightDecay", "maxGradNorm", "warmupSteps")
    picked = {k: c.get(k) for k in keys}
    if c.get("baseModelDigest"):  # only when set, so fingerprints of configs without it stay as they were
        picked["baseModelDigest"] = c["baseModelDigest"]
    h.update(json.dumps(picked, sort_keys=True).encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------------------ hardware

PEAK_BF16_DENSE = [  # (substring of torch.cuda.get_device_name, peak bf16 dense FLOP/s)
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H800", 989e12),
    ("A100", 312e12),
    ("A800", 312e12),
]


def peak_flops(device_name: str) -> float | None:
    env = os.environ.get("DISTILLERY_PEAK_FLOPS")
    if env:
        return float(env)
    for key, flops in PEAK_BF16_DENSE:
        if key in device_name:
            return flops
    return None


# ------------------------------------------------------------------------------------------------ checkpoints


def checkpoint_dirs(root: str) -> list[tuple[int, str]]:
    out = []
    if os.path.isdir(root):
        for name in os.listdir(root):
            p = os.path.join(root, name)
            if name.startswith("step-") and name[5:].isdigit() and os.path.isfile(os.path.join(p, "state.json")):
                out.append((int(name[5:]), p))
    return sorted(out)


def fsync_tree(path: str) -> None:
    """Flushes every file under `path`, then the folders themselves, to disk."""
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
    for root, _, _ in os.walk(path, topdown=False):
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_dir(tmp: str, final: str) -> None:
    """Puts the complete folder `tmp` at `final` so that a crash at any point leaves either the old or the new one
    whole: fsync the new, move the old aside (a rename), rename the new into place, fsync the parent, and only then
    delete the old."""
    fsync_tree(tmp)
    old = None
    if os.path.exists(final):
        old = f"{os.path.dirname(final)}/.old-{os.path.basename(final)}-{os.getpid()}"
        os.rename(final, old)
    os.rename(tmp, final)
    fd = os.open(os.path.dirname(final), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if old:
        shutil.rmtree(old, ignore_errors=True)


# Written into a checkpoint folder by the runner once it has uploaded it (DISTILLERY_CHECKPOINT_ACK=1 says one will).
UPLOADED_MARKER = ".uploaded"


def prune_checkpoints(root: str, keep: int) -> None:
    """Deletes all but the newest `keep` checkpoints. Under a runner that uploads them (DISTILLERY_CHECKPOINT_ACK=1),
    one whose upload has not finished yet (no UPLOADED_MARKER) is left for a later pass: deleting it would race the
    upload."""
    wait_for_upload = os.environ.get("DISTILLERY_CHECKPOINT_ACK") == "1"
    for _, old in checkpoint_dirs(root)[:-keep]:
        if wait_for_upload and not os.path.exists(os.path.join(old, UPLOADED_MARKER)):
            continue
        shutil.rmtree(old, ignore_errors=True)


def lora_train_flops(shape: dict[str, int], tokens: int, tokens_sq: int) -> float:
    """Model FLOPs of LoRA training (the MFU numerator; recomputation by gradient checkpointing is not counted).
    Frozen matmul weights N: forward 2N and the activation gradients 2N per token, no weight gradients, so 4N (not
    the 6N of full fine-tuning); the adapter's own weights: 6 per token; attention (no weights, frozen or not):
    12 * layers * attention width per token per attended position (the PaLM term), summed over each example's own
    length, so sum of n^2 (packed examples do not attend to each other)."""
    return (4 * shape["frozen_matmul"] + 6 * shape["lora"]) * tokens + 12 * shape["layers"] * shape["attention_width"] * tokens_sq


def lora_flops(model, trainable_params: int) -> dict[str, int]:
    """The shape lora_train_flops needs: matmul weights that are frozen (every frozen parameter but the input
    embedding, which is a lookup, unless the output layer shares it), the adapter's, layers, attention width."""
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    emb = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    tied = out is not None and out.weight.data_ptr() == emb.data_ptr()
    cfg = model.config
    heads = int(getattr(cfg, "num_attention_heads", 0) or 0)
    head_dim = int(getattr(cfg, "head_dim", 0) or (int(getattr(cfg, "hidden_size", 0)) // max(1, heads)))
    return {"frozen_matmul": frozen - (0 if tied else emb.numel()), "lora": trainable_params,
            "layers": int(getattr(cfg, "num_hidden_layers", 0) or 0), "attention_width": heads * head_dim}


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Linux: get `sig` when the process that started us dies. A runner (Temporal worker) killed with SIGKILL must
    not leave a trainer running beside the one its retried job starts elsewhere; SIGTERM makes this one checkpoint
    and exit. Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig))  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent already died before prctl took effect
            os.kill(os.getpid(), sig)
    except (OSError, AttributeError):
        log("could not ask to be signalled when the runner dies (prctl unavailable)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--resume", action="store_true", help="resume from the latest checkpoint (the default whenever one exists)")
    args = ap.parse_args()
    claim_stdout()

    # SIGTERM/SIGINT: note it; the loop checkpoints and exits at the next micro-batch boundary.
    stop = {"signal": None}

    def on_signal(signum, _frame):
        if stop["signal"] is None:
            log(f"got {signal.Signals(signum).name}: checkpointing and exiting")
        stop["signal"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    die_with_parent()

    def exit_code() -> int:
        return 128 + int(stop["signal"])

    cfg = load_config(args.config)
    out_dir = os.path.abspath(args.output)
    ckpt_root = os.path.join(out_dir, "checkpoints")
    os.makedirs(ckpt_root, exist_ok=True)
    for name in os.listdir(ckpt_root):  # leftovers of an interrupted checkpoint write or replacement
        if name.startswith(".tmp-") or name.startswith(".old-"):
            shutil.rmtree(os.path.join(ckpt_root, name), ignore_errors=True)

    # Refuse before loading anything: resuming another training's checkpoint would mix two trainings silently.
    fp = fingerprint(cfg, args.data)
    existing = checkpoint_dirs(ckpt_root)
    if existing:
        with open(os.path.join(existing[-1][1], "state.json"), encoding="utf-8") as f:
            found = json.load(f).get("fingerprint")
        if found != fp:
            log(f"error: {existing[-1][1]} was made from another data file or config (fingerprint {found}, this run {fp}): "
                f"not resuming it. Use a new --output directory, or delete {ckpt_root} to start over")
            return EXIT_FINGERPRINT_MISMATCH

    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    seed = int(cfg["seed"])
    random.seed(seed)
    torch.manual_seed(seed)

    # device and precision
    if torch.cuda.is_available():
        device = torch.device("cuda")
        device_name = torch.cuda.get_device_name(0)
        want = cfg["precision"]
        bf16 = want == "bf16" or (want == "auto" and torch.cuda.is_bf16_supported())
        # TF32 tensor cores for the matmuls still done in fp32 on the GPU (precision fp32, or GPUs without bf16); CUDA
        # only, CPU matmuls untouched. The legacy flag on purpose: with torch 2.13, setting the new
        # torch.backends.cuda.matmul.fp32_precision makes any later read of allow_tf32 (accelerate's, say) raise.
        torch.backends.cuda.matmul.allow_tf32 = True
    else:
        device = torch.device("cpu")
        device_name = "cpu"
        if cfg["precision"] == "bf16":
            log("precision bf16 asked for, but there is no CUDA: training in fp32 on the CPU")
        bf16 = False
    precision = "bf16" if bf16 else "fp32"

    # data
    base_dir, base_identity = resolve_base(cfg["baseModel"])
    if cfg.get("baseModelDigest") and base_identity.get("digest") != cfg["baseModelDigest"]:
        raise SystemExit(f"train_lora: base model {cfg['baseModel']!r} here is {base_identity.get('digest') or 'unregistered'}, "
                         f"the job pins {cfg['baseModelDigest']}: register the same base (distillery models add) on this runner")
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    examples = read_examples(args.data)
    max_length = int(cfg["maxLength"])
    samples = []
    dropped = 0
    for msgs in examples:
        ids, labels = encode(tokenizer, msgs, max_length)
        if sum(1 for t in labels[1:] if t != -100) == 0:
            dropped += 1
            continue
        samples.append((ids, labels, None))
    if dropped:
        log(f"{dropped} examples have no assistant tokens within maxLength {max_length}: left out")
    if cfg["packing"]:
        order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed)).tolist()
        samples = pack([samples[i][:2] for i in order], max_length)
    if not samples:
        raise SystemExit("train_lora: no trainable examples")
    log(f"{len(examples)} examples -> {len(samples)} sequences ({'packed' if cfg['packing'] else 'one per example'}), "
        f"chat template: {'yes' if has_chat_template(tokenizer) else 'no (plain format)'}")

    bs, ga = int(cfg["batchSize"]), int(cfg["gradientAccumulation"])
    micro_per_epoch = math.ceil(len(samples) / bs)
    steps_per_epoch = math.ceil(micro_per_epoch / ga)
    total_steps = int(cfg["maxSteps"]) if cfg.get("maxSteps") else int(cfg["epochs"]) * steps_per_epoch
    warmup = int(cfg.get("warmupSteps", math.ceil(0.1 * total_steps) if total_steps >= 10 else 0))

    def step_batches(step: int) -> list[list[int]]:
        """The micro-batches (sample indices) of optimizer step `step` (0-based): a function of the step only, so the
        data position of a checkpoint is its step."""
        epoch, k = divmod(step, steps_per_epoch)
        order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).tolist()
        micro = [order[i : i + bs] for i in range(0, len(order), bs)]
        return micro[k * ga : (k + 1) * ga]

    pad_id = tokenizer.pad_token_id
    label_counts = [sum(1 for t in s[1][1:] if t != -100) for s in samples]  # labels that get a prediction, per sample

    def collate(idx: list[int]):
        """The model's inputs on the device (input_ids and attention_mask; with packing, per-example position_ids and
        the block-diagonal 4-D mask of packed_inputs instead), plus what the loss needs, worked out on the CPU so that a step
        never waits for the GPU (no boolean indexing or .item() on device tensors): the tokens of the batch, the flat
        indices into logits.view(-1, vocab) of the positions that predict a label (row-major, the order of
        logits[:, :-1][labels[:, 1:] != -100]), and those labels."""
        width = max(len(samples[i][0]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        lab = torch.full((len(idx), width), -100, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):
            s_ids, s_lab, _ = samples[i]
            ids[r, : len(s_ids)] = torch.tensor(s_ids)
            lab[r, : len(s_lab)] = torch.tensor(s_lab)
            mask[r, : len(s_ids)] = 1
        pos = (lab[:, 1:] != -100).nonzero()
        rows, cols = pos[:, 0], pos[:, 1]
        where = rows * width + cols
        targets = lab[rows, cols + 1]
        tokens = sum(len(samples[i][0]) for i in idx)
        # sum of squared example lengths: what the attention term of the FLOP count grows with
        tokens_sq = sum(n * n for i in idx for n in (samples[i][2] or [len(samples[i][0])]))
        nb = device.type == "cuda"
        inputs = {"input_ids": ids, "attention_mask": mask}
        if cfg["packing"]:
            lengths = [samples[i][2] for i in idx]
            inputs["position_ids"], inputs["attention_mask"] = packed_inputs(lengths, width, torch.bfloat16 if bf16 else torch.float32)
        inputs = {k: v.to(device, non_blocking=nb) for k, v in inputs.items()}
        return inputs, where.to(device, non_blocking=nb), targets.to(device, non_blocking=nb), tokens, tokens_sq

    # model
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.bfloat16 if bf16 else torch.float32)
    model.config.use_cache = False
    if cfg.get("gradientCheckpointing"):
        # non-reentrant: works with frozen inputs (LoRA) without enable_input_require_grads
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = cfg["lora"]
    torch.manual_seed(seed)
    model = get_peft_model(
        model,
        LoraConfig(
            r=int(lora["r"]),
            lora_alpha=float(lora["alpha"]),
            lora_dropout=float(lora["dropout"]),
            target_modules=list(lora["targetModules"]),
            task_type="CAUSAL_LM",
        ),
    )
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    trainable_params = sum(p.numel() for p in trainable)
    total_params = sum(p.numel() for p in model.parameters())

    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": float(cfg["weightDecay"])}, {"params": no_decay, "weight_decay": 0.0}],
        lr=float(cfg["learningRate"]),
        betas=(0.9, 0.999),
        eps=1e-8,
        fused=True if device.type == "cuda" else None,  # one kernel for the whole update on the GPU; the default elsewhere
    )

    def lr_lambda(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)

    # state that a checkpoint carries
    state: dict[str, Any] = {"step": 0, "train_tokens": 0, "elapsed_s": 0.0, "train_s": 0.0, "attention_tokens2": 0, "loss_history": [], "fingerprint": fp}
    resumed_from = None
    if existing:
        step0, path0 = existing[-1]
        with open(os.path.join(path0, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
        set_peft_model_state_dict(model, load_file(os.path.join(path0, "adapter", "adapter_model.safetensors"), device=str(device)))
        optimizer.load_state_dict(torch.load(os.path.join(path0, "optimizer.pt"), map_location=device, weights_only=True))
        scheduler.load_state_dict(torch.load(os.path.join(path0, "scheduler.pt"), weights_only=True))
        rng = torch.load(os.path.join(path0, "rng.pt"), weights_only=True)
        torch.set_rng_state(rng["torch"])
        if device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state_all(list(rng["cuda"]))
        py = state.pop("python_random", None)
        if py:
            random.setstate((py[0], tuple(py[1]), py[2]))
        resumed_from = int(state["step"])
        log(f"resuming from {path0} (step {resumed_from} of {total_steps})")
    elif args.resume:
        log("--resume: no checkpoint yet, starting fresh")
    state["fingerprint"] = fp

    start = {"event": "start", "total_steps": total_steps, "device": device.type, "trainable_params": trainable_params, "total_params": total_params,
             "device_name": device_name, "precision": precision}
    if resumed_from is not None:
        start["resumed_from_step"] = resumed_from
    emit(start)
    log(f"{device_name}, {precision}: {trainable_params} trainable of {total_params} params; {total_steps} steps "
        f"({steps_per_epoch} per epoch, {bs}x{ga} sequences each), warmup {warmup}; "
        f"attention {getattr(model.config, '_attn_implementation', None) or 'default'}")

    def save_checkpoint(step: int, rng_state: dict[str, Any], py_state) -> str:
        final = os.path.join(ckpt_root, f"step-{step}")
        tmp = os.path.join(ckpt_root, f".tmp-step-{step}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        model.save_pretrained(os.path.join(tmp, "adapter"))
        torch.save(optimizer.state_dict(), os.path.join(tmp, "optimizer.pt"))
        torch.save(scheduler.state_dict(), os.path.join(tmp, "scheduler.pt"))
        torch.save(rng_state, os.path.join(tmp, "rng.pt"))
        epoch, k = divmod(step, steps_per_epoch)
        st = dict(state, step=step, data_position={"epoch": epoch, "step_in_epoch": k, "micro_batch": k * ga},
                  python_random=[py_state[0], list(py_state[1]), py_state[2]])
        write_portable_config(os.path.join(tmp, "adapter"), base_identity)
        with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
            json.dump(st, f)
        replace_dir(tmp, final)
        prune_checkpoints(ckpt_root, keep=2)
        emit({"event": "checkpoint", "step": step, "path": final})
        return final

    def peak_memory() -> int | None:
        """This session's peak: GPU memory torch allocated on CUDA, else the process's peak resident set."""
        if device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(device))
        try:
            import resource

            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return int(rss if sys.platform == "darwin" else rss * 1024)  # bytes on macOS, KiB on Linux
        except (ImportError, OSError):
            return None

    def rng_now() -> tuple[dict[str, Any], Any]:
        r = {"torch": torch.get_rng_state()}
        if device.type == "cuda":
            r["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
        return r, random.getstate()

    flops = lora_flops(model, trainable_params)
    peak = peak_flops(device_name) if device.type == "cuda" else None
    session_tokens = 0
    session_start = time.perf_counter()
    elapsed_before = float(state["elapsed_s"])
    train_before = float(state.get("train_s", 0.0))
    state.setdefault("attention_tokens2", 0)
    session_train_s = 0.0
    delay = float(os.environ.get("DISTILLERY_TRAINER_STEP_DELAY_MS", "0")) / 1000
    log_every = max(1, total_steps // 500)
    model.train()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else None

    def interrupted(step: int, rng_state, py_state) -> int:
        if not (checkpoint_dirs(ckpt_root) and checkpoint_dirs(ckpt_root)[-1][0] == step):
            save_checkpoint(step, rng_state, py_state)
        log(f"stopped at step {step} of {total_steps}")
        return exit_code()

    step = int(state["step"])
    while step < total_steps:
        rng_state, py_state = rng_now()  # the state a checkpoint of `step` carries
        if stop["signal"] is not None:
            return interrupted(step, rng_state, py_state)
        step_started = time.perf_counter()
        batches = step_batches(step)
        label_tokens = sum(label_counts[i] for b in batches for i in b)
        losses = []  # per micro-batch, on the device: read once the step is done, so the GPU never waits for us
        step_tokens = 0
        step_tokens_sq = 0
        optimizer.zero_grad(set_to_none=True)
        for b in batches:
            if stop["signal"] is not None:  # drop the partial step: weights and optimizer are still those of `step`
                optimizer.zero_grad(set_to_none=True)
                return interrupted(step, rng_state, py_state)
            inputs, where, targets, tokens, tokens_sq = collate(b)
            if autocast is not None:
                with autocast:
                    logits = model(**inputs).logits
            else:
                logits = model(**inputs).logits
            # only the labelled positions, in fp32 (a full fp32 copy of the logits of a 150k vocabulary would not fit)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).index_select(0, where).float(), targets, reduction="sum")
            del logits
            (loss / max(1, label_tokens)).backward()
            losses.append(loss.detach())
            step_tokens += tokens
            step_tokens_sq += tokens_sq
        if float(cfg["maxGradNorm"]) > 0:
            torch.nn.utils.clip_grad_norm_(trainable, float(cfg["maxGradNorm"]))
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss_sum = 0.0
        for x in losses:
            loss_sum += float(x)
        step_loss = loss_sum / max(1, label_tokens)
        # training time only (the loss read above waited for the device): checkpoint I/O is not in it
        session_train_s += time.perf_counter() - step_started
        state["train_s"] = train_before + session_train_s
        state["attention_tokens2"] += step_tokens_sq
        session_tokens += step_tokens
        state["train_tokens"] += step_tokens
        state["step"] = step
        now = time.perf_counter()
        state["elapsed_s"] = elapsed_before + (now - session_start)
        state["loss_history"].append({"step": step, "loss": step_loss, "lr": lr, "tokens": step_tokens})
        tokens_per_s = session_tokens / max(1e-9, session_train_s)
        if step % log_every == 0 or step == total_steps or step == 1:
            emit({"event": "progress", "step": step, "total_steps": total_steps, "epoch": round(step / steps_per_epoch, 4), "loss": step_loss,
                  "lr": lr, "tokens_per_s": round(tokens_per_s, 1), "elapsed_s": round(state["elapsed_s"], 3)})
        if step % int(cfg["checkpointEvery"]) == 0 and step < total_steps:
            save_checkpoint(step, *rng_now())
        if delay and step < total_steps:
            time.sleep(delay)

    # a checkpoint of the last step too: a rerun (or one with a larger maxSteps) continues from here
    last = checkpoint_dirs(ckpt_root)
    if not (last and last[-1][0] == step):
        save_checkpoint(step, *rng_now())

    # final adapter and metrics
    adapter_dir = os.path.join(out_dir, "adapter")
    tmp = os.path.join(out_dir, f".tmp-adapter-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    write_portable_config(tmp, base_identity)
    replace_dir(tmp, adapter_dir)
    hist = state["loss_history"]
    elapsed = float(state["elapsed_s"])
    train_s = float(state.get("train_s") or elapsed)
    tokens_per_s = state["train_tokens"] / train_s if train_s > 0 else 0.0
    model_flops = lora_train_flops(flops, state["train_tokens"], state["attention_tokens2"])
    mfu = (model_flops / train_s / peak) if peak and train_s > 0 else None
    done = {"event": "done", "step": step, "final_loss": hist[-1]["loss"] if hist else None, "first_loss": hist[0]["loss"] if hist else None,
            "train_tokens": state["train_tokens"], "tokens_per_s": round(tokens_per_s, 1), "train_s": round(train_s, 3), "mfu": None if mfu is None else round(mfu, 5),
            "adapter_dir": adapter_dir}
    metrics = dict(done, device=device.type, device_name=device_name, precision=precision, total_steps=total_steps, elapsed_s=elapsed,
                   trainable_params=trainable_params, total_params=total_params, peak_flops=peak, peak_memory_bytes=peak_memory(),
                   loss_history=hist)
    metrics.pop("event")
    with open(os.path.join(out_dir, ".metrics.json.tmp"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=1)
    os.replace(os.path.join(out_dir, ".metrics.json.tmp"), os.path.join(out_dir, "metrics.json"))
    emit(done)
    log(f"done: step {step}, loss {done['first_loss']} -> {done['final_loss']}, {tokens_per_s:.0f} tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
