"""The files of a model folder: config.json, the weights (safetensors, PyTorch, bertjax msgpack), the tokenizer."""

from __future__ import annotations

import functools
import json
import pickle
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from flax.serialization import msgpack_restore, msgpack_serialize
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from bertjax.convert.architecture import hf_class_name
from bertjax.convert.names import StateDict
from bertjax.data.tokenizer import load_tokenizer
from bertjax.errors import CheckpointError, DependencyError, first_line
from bertjax.model import ModelConfig, read_config_file

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
    held = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "") or "nothing"
    raise CheckpointError(f"{directory}: no weights file ({', '.join((*HF_WEIGHT_FILES, PARAMS_FILE))}) among "
                          f"{held}; save the model with save_pretrained first")


def read_config(directory: Path) -> tuple[ModelConfig, list[str] | None]:
    """The folder's config (of the family its `model_type` names) and its `architectures` list (None when absent)."""
    path = directory / CONFIG_FILE
    config = read_config_file(path)
    return config, json.loads(path.read_text(encoding="utf-8")).get("architectures")


def write_config(path: Path, config: ModelConfig, head: str) -> None:
    """config.json as transformers reads it, with `architectures` naming the head's class."""
    if head == "question_answering" and config.num_labels != 2:
        # transformers sizes the span outputs by num_labels, which must be 2 (start, end); labels mean nothing here.
        config = config.replace(id2label=None)
    values = {**config.to_dict(), "architectures": [hf_class_name(config, head)]}
    path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")


class LazyStateDict(Mapping[str, np.ndarray]):
    """Checkpoint weights by name, each read from its file only when looked up, so that loading can convert one
    weight at a time and never holds the whole checkpoint beside the converted parameters."""

    def __init__(self, readers: dict[str, Callable[[], np.ndarray]]) -> None:
        self._readers = readers

    def __getitem__(self, name: str) -> np.ndarray:
        return self._readers[name]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._readers)

    def __len__(self) -> int:
        return len(self._readers)


def read_state_dict(path: Path) -> LazyStateDict:
    """Hugging Face weights by name from model.safetensors, pytorch_model.bin or a shard index."""
    return LazyStateDict(_readers(path))


def _readers(path: Path) -> dict[str, Callable[[], np.ndarray]]:
    if path.name.endswith(".index.json"):
        return _sharded_readers(path)
    if path.suffix == ".safetensors":
        return _safetensors_readers(path)
    return _torch_readers(path)


def _unreadable_safetensors(path: Path, error: Exception) -> CheckpointError:
    return CheckpointError(f"{path}: cannot read the safetensors weights ({first_line(error)}); the file is corrupt or "
                           f"truncated, so download or save it again")


def _safetensors_readers(path: Path) -> dict[str, Callable[[], np.ndarray]]:
    # Each weight is read through a mapping of the file that is closed at once: one mapping held open while all
    # weights are read keeps every page it touched resident, a second copy of the checkpoint.
    def read(name: str) -> np.ndarray:
        try:
            with safe_open(path, framework="np") as handle:
                return handle.get_tensor(name)
        except (SafetensorError, OSError) as error:
            raise _unreadable_safetensors(path, error) from None

    try:
        with safe_open(path, framework="np") as handle:  # checks the header against the file's size
            names = list(handle.keys())
    except (SafetensorError, OSError) as error:
        raise _unreadable_safetensors(path, error) from None
    return {name: functools.partial(read, name) for name in names}


def _sharded_readers(index_path: Path) -> dict[str, Callable[[], np.ndarray]]:
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(f"{index_path}: not a shard index with a 'weight_map' ({error})") from None
    readers: dict[str, Callable[[], np.ndarray]] = {}
    for shard in sorted(set(weight_map.values())):
        if not (index_path.parent / shard).is_file():
            raise CheckpointError(f"{index_path}: lists shard {shard}, which is not in {index_path.parent}")
        readers.update(_readers(index_path.parent / shard))
    return readers


def _torch_readers(path: Path) -> dict[str, Callable[[], np.ndarray]]:
    try:
        import torch
    except ImportError:
        raise DependencyError(
            f"{path}: reading PyTorch .bin weights needs torch; install it (pip install torch, or the project's "
            f"test extra: pip install -e '.[test]'), or save the model as model.safetensors") from None
    try:
        # Mapped, not read, so that a tensor's pages come from the file as its weight is converted; files in
        # PyTorch's format from before 1.6 (not zip archives) cannot be mapped and are read whole.
        tensors = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError) as error:
        raise CheckpointError(
            f"{path}: cannot read the PyTorch weights ({first_line(error)}); the file is corrupt or not a state "
            f"dict") from None
    if not isinstance(tensors, dict) or not all(isinstance(value, torch.Tensor) for value in tensors.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors by name")

    def read(tensor: torch.Tensor) -> np.ndarray:
        # numpy has no bfloat16 through torch; float32 holds every bfloat16 value exactly.
        return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()

    return {name: functools.partial(read, tensor) for name, tensor in tensors.items()}


def write_state_dict(path: Path, state_dict: StateDict) -> None:
    # transformers refuses safetensors files without a `format` entry in their metadata.
    save_file(state_dict, path, metadata={"format": "pt"})


def read_params(path: Path) -> dict[str, Any]:
    """bertjax's params.msgpack: nested dicts of numpy arrays."""
    try:
        params = msgpack_restore(path.read_bytes())
    except ValueError as error:
        raise CheckpointError(f"{path}: cannot read the params ({first_line(error)}); the file is corrupt or "
                              f"truncated") from None
    if not isinstance(params, dict):
        raise CheckpointError(f"{path}: expected a tree of named parameters, found {type(params).__name__}")
    return params


def write_params(path: Path, params: dict[str, Any]) -> None:
    path.write_bytes(msgpack_serialize(params))


def read_tokenizer(directory: Path) -> Any:
    """The folder's tokenizer (a fast tokenizer: `BertTokenizerFast` for WordPiece), or None when it holds no
    tokenizer files."""
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        return None
    return load_tokenizer(directory)
