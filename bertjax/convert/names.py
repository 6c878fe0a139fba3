"""Hugging Face state-dict names <-> bertjax parameter paths, and the arrays' layouts.

`bert/encoder/layer_0/attention/self/query/kernel` [in, out] is `bert.encoder.layer.0.attention.self.query.weight`
[out, in] (PyTorch's Linear layout); embeddings and LayerNorm scales are `.weight`, biases `.bias`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from flax.traverse_util import flatten_dict

from bertjax.model.layout import unstack_layers

StateDict = Mapping[str, np.ndarray]

_LEAF_NAMES = {"kernel": "weight", "embedding": "weight", "scale": "weight", "bias": "bias"}
_LAYER = re.compile(r"layer_(\d+)")
_HEAD_PREFIXES = ("bert.", "cls.", "classifier.", "qa_outputs.")
_LEGACY_LAYER_NORM = {"gamma": "weight", "beta": "bias"}

# Canonical names (see `canonical_key`) with a special meaning when loading.
BUFFERS = frozenset({"bert.embeddings.position_ids", "bert.embeddings.token_type_ids"})  # not weights
POSITION_EMBEDDINGS = "bert.embeddings.position_embeddings.weight"
MLM_BIAS = "cls.predictions.bias"
DECODER_WEIGHT = "cls.predictions.decoder.weight"  # tied to the word embeddings
DECODER_BIAS = "cls.predictions.decoder.bias"  # the same tensor as MLM_BIAS


def hf_key(path: tuple[str, ...]) -> str:
    """A per-layer parameter path -> its Hugging Face state-dict name."""
    parts = []
    for part in path[:-1]:
        match = _LAYER.fullmatch(part)
        parts += ["layer", match.group(1)] if match else [part]
    return ".".join([*parts, _LEAF_NAMES[path[-1]]])


def canonical_key(key: str) -> str:
    """A checkpoint name in one spelling: legacy `LayerNorm.gamma/beta` renamed, bare encoder names (a `BertModel`
    checkpoint's `embeddings.*`) prefixed with `bert.`."""
    module, _, leaf = key.rpartition(".")
    if module.endswith("LayerNorm") and leaf in _LEGACY_LAYER_NORM:
        key = f"{module}.{_LEGACY_LAYER_NORM[leaf]}"
    return key if key.startswith(_HEAD_PREFIXES) else f"bert.{key}"


def to_hf_layout(path: tuple[str, ...], array: Any) -> np.ndarray:
    """A parameter in PyTorch's layout (Dense kernels [in, out] -> Linear weights [out, in]); the same for the
    way back, as the transpose is its own inverse."""
    array = np.asarray(array)
    return array.T if path[-1] == "kernel" else array


def state_dict_from_params(params: Any) -> StateDict:
    """Per-layer or stacked params -> Hugging Face names and layouts (C-contiguous host arrays)."""
    return {hf_key(path): np.ascontiguousarray(to_hf_layout(path, value))
            for path, value in flatten_dict(unstack_layers(params)).items()}
