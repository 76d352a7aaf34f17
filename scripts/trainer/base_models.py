"""Base models by name: the registry DIR/base-models.json that add_base_model.py writes (src/models/registry.ts reads
it too), and how a trainer config's baseModel (a registered name, or any local save_pretrained folder) becomes a
folder to load plus the portable identity that adapters record (distillery_base.json beside adapter_config.json).

The models directory is DISTILLERY_MODELS_DIR, else the repository's models/.
"""
from __future__ import annotations

import hashlib
import json
import os

REGISTRY = "base-models.json"
# Written beside adapter_config.json: which base an adapter belongs to, by portable name and digest.
BASE_FILE = "distillery_base.json"


def models_dir() -> str:
    return os.environ.get("DISTILLERY_MODELS_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_digest(folder: str) -> str:
    """sha256 over "relative/path\0<sha256 of the file>\n" of every file (but dot-files), sorted by path: the same
    bytes give the same digest. src/adapters/digest.ts folderDigest computes the same."""
    entries = []
    for root, _, files in os.walk(folder):
        for name in files:
            if name.startswith("."):  # markers (.uploaded), never content
                continue
            p = os.path.join(root, name)
            entries.append((os.path.relpath(p, folder).replace(os.sep, "/"), p))
    h = hashlib.sha256()
    for rel, p in sorted(entries, key=lambda e: e[0].encode()):
        h.update(f"{rel}\0{sha256_file(p)}\n".encode())
    return "sha256:" + h.hexdigest()


def read_registry(directory: str | None = None) -> dict:
    p = os.path.join(directory or models_dir(), REGISTRY)
    if not os.path.exists(p):
        return {"models": {}}
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def resolve_base(base: str) -> tuple[str, dict]:
    """(folder to load, identity {name, digest?}) of a trainer config's baseModel. A registered name loads its folder
    under the models directory; a folder is itself, named after the registry entry it is (when it sits in a models
    directory) or its folder name otherwise: never a machine path."""
    if os.path.isdir(base):
        folder = os.path.abspath(base)
        parent_reg = read_registry(os.path.dirname(folder))
        for entry in parent_reg["models"].values():
            if entry.get("path") == os.path.basename(folder):
                return folder, {"name": entry["name"], "digest": entry["digest"]}
        return folder, {"name": os.path.basename(folder.rstrip(os.sep))}
    entry = read_registry()["models"].get(base)
    if not entry:
        raise SystemExit(f"base model {base!r} is neither a folder nor registered in {os.path.join(models_dir(), REGISTRY)}: "
                         f"run `distillery models add {base}` or pass a local save_pretrained folder")
    return os.path.join(models_dir(), entry["path"]), {"name": entry["name"], "digest": entry["digest"]}


def write_portable_config(adapter_dir: str, identity: dict) -> None:
    """Points adapter_config.json's base_model_name_or_path at the portable name (PEFT writes the folder it loaded)
    and records the identity in distillery_base.json."""
    p = os.path.join(adapter_dir, "adapter_config.json")
    with open(p, encoding="utf-8") as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = identity["name"]
    with open(p, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    with open(os.path.join(adapter_dir, BASE_FILE), "w", encoding="utf-8") as f:
        json.dump(identity, f, sort_keys=True)
