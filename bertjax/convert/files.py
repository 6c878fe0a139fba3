"""The files of a model folder: config.json, the weights (safetensors, PyTorch, bertjax msgpack), the tokenizer."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

from flax.serialization import msgpack_restore, msgpack_serialize
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from bertjax.convert.architecture import HF_CLASS_NAMES
from bertjax.convert.names import StateDict
from bertjax.data.tokenizer import load_tokenizer
from bertjax.errors import CheckpointError, DependencyError
from bertjax.model import BertConfig

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
PARAMS_FILE = "params.msgpack"  # bertjax's own format: flax msgpack of the per-layer params
# In the order they are looked for; the index files list the shards of a large checkpoint.
HF_WEIGHT_FILES = (SAFETENSORS_FILE, "model.safetensors.index.json", "pytorch_model.bin",
                   "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


def find_weights(directory: Path) -> Path:
    """The weights file of a Hugging Face or bertjax model folder."""
    if not directory.is_dir():
        raise CheckpointError(
            f"{directory}: no such directory; pass a folder holding config.json and model.safetensors "
            f"(or pytorch_model.bin, or a bertjax params.msgpack)")
    for name in (*HF_WEIGHT_FILES, PARAMS_FILE):
        if (directory / name).is_file():
            return directory / name
    present = sorted(path.name for path in directory.iterdir())
    raise CheckpointError(
        f"{directory}: no weights file; expected one of {', '.join((*HF_WEIGHT_FILES, PARAMS_FILE))} "
        f"(found: {', '.join(present) or 'nothing'}); save the model with transformers' save_pretrained first")


def read_config(directory: Path) -> tuple[BertConfig, list[str] | None]:
    """The folder's BertConfig and its `architectures` list (None when absent)."""
    path = directory / CONFIG_FILE
    config = BertConfig.from_json_file(path)
    return config, json.loads(path.read_text(encoding="utf-8")).get("architectures")


def write_config(path: Path, config: BertConfig, head: str) -> None:
    """config.json as transformers reads it, with `architectures` naming the head's class."""
    if head == "question_answering" and config.num_labels != 2:
        # transformers sizes qa_outputs by num_labels, which must be 2 (start, end); labels mean nothing here.
        config = config.replace(id2label=None)
    values = {**config.to_dict(), "architectures": [HF_CLASS_NAMES[head]]}
    path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_state_dict(path: Path) -> StateDict:
    """Hugging Face weights by name from model.safetensors, pytorch_model.bin or a shard index."""
    if path.name.endswith(".index.json"):
        return _read_sharded(path)
    if path.suffix == ".safetensors":
        try:
            return load_file(path)
        except (SafetensorError, OSError) as error:
            raise CheckpointError(
                f"{path}: cannot read the safetensors weights ({error}); the file is corrupt or truncated, so "
                f"download or save it again") from None
    return _read_torch(path)


def _read_sharded(index_path: Path) -> StateDict:
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(f"{index_path}: not a shard index with a 'weight_map' ({error})") from None
    state_dict: StateDict = {}
    for shard in sorted(set(weight_map.values())):
        if not (index_path.parent / shard).is_file():
            raise CheckpointError(f"{index_path}: lists shard {shard}, which is not in {index_path.parent}")
        state_dict.update(read_state_dict(index_path.parent / shard))
    return state_dict


def _read_torch(path: Path) -> StateDict:
    try:
        import torch
    except ImportError:
        raise DependencyError(
            f"{path}: reading PyTorch .bin weights needs torch; install it (pip install torch, or the project's "
            f"test extra: pip install -e '.[test]'), or save the model as model.safetensors") from None
    try:
        tensors = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError) as error:
        raise CheckpointError(
            f"{path}: cannot read the PyTorch weights ({error}); the file is corrupt or not a state dict") from None
    if not isinstance(tensors, dict) or not all(isinstance(value, torch.Tensor) for value in tensors.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors by name")
    # numpy has no bfloat16 through torch; float32 holds every bfloat16 value exactly.
    return {name: (value.float() if value.dtype == torch.bfloat16 else value).numpy()
            for name, value in tensors.items()}


def write_state_dict(path: Path, state_dict: StateDict) -> None:
    # transformers refuses safetensors files without a `format` entry in their metadata.
    save_file(state_dict, path, metadata={"format": "pt"})


def read_params(path: Path) -> dict[str, Any]:
    """bertjax's params.msgpack: nested dicts of numpy arrays."""
    try:
        params = msgpack_restore(path.read_bytes())
    except ValueError as error:
        raise CheckpointError(f"{path}: cannot read the params ({error}); the file is corrupt or truncated") from None
    if not isinstance(params, dict):
        raise CheckpointError(f"{path}: expected a tree of named parameters, found {type(params).__name__}")
    return params


def write_params(path: Path, params: dict[str, Any]) -> None:
    path.write_bytes(msgpack_serialize(params))


def read_tokenizer(directory: Path) -> Any:
    """The folder's tokenizer (a `BertTokenizerFast`), or None when it holds no tokenizer files."""
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        return None
    return load_tokenizer(directory)
