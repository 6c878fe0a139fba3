"""Hugging Face state-dict names <-> bertjax parameter paths, and the arrays' layouts, for each family.

`bert/encoder/layer_0/attention/self/query/kernel` [in, out] is `bert.encoder.layer.0.attention.self.query.weight`
[out, in] (PyTorch's Linear layout), and ModernBERT's `model/encoder/layer_0/attn/Wqkv/kernel` is
`model.layers.0.attn.Wqkv.weight`; embeddings and norm scales are `.weight`, biases `.bias`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from flax.traverse_util import flatten_dict

from bertjax.model.layout import unstack_layers

StateDict = Mapping[str, np.ndarray]

_LEAF_NAMES = {"kernel": "weight", "embedding": "weight", "scale": "weight", "bias": "bias"}
_LAYER = re.compile(r"layer_(\d+)")
_LEGACY_LAYER_NORM = {"gamma": "weight", "beta": "bias"}


@dataclasses.dataclass(frozen=True)
class Naming:
    """How a family's transformers checkpoints name their weights (canonical names: see `canonical_key`)."""

    encoder: str  # the encoder's prefix in a head's checkpoint; a bare encoder's checkpoint has none
    layers: tuple[str, ...]  # how `encoder/layer_N` is spelled, before N
    head_prefixes: tuple[str, ...]  # the heads' weights, outside the encoder
    buffers: frozenset[str]  # saved tensors that are not weights
    mlm_bias: str  # the masked-LM decoder's bias, as bertjax keeps it
    tied_decoder: str  # the masked-LM decoder's weight: the word embeddings
    decoder_bias: str | None  # the same tensor as `mlm_bias`, under another name some checkpoints use
    position_embeddings: str | None  # learned positions (which sinusoidal models compute instead)


NAMINGS = {
    "bert": Naming(
        encoder="bert", layers=("encoder", "layer"), head_prefixes=("bert.", "cls.", "classifier.", "qa_outputs."),
        buffers=frozenset({"bert.embeddings.position_ids", "bert.embeddings.token_type_ids"}),
        mlm_bias="cls.predictions.bias", tied_decoder="cls.predictions.decoder.weight",
        decoder_bias="cls.predictions.decoder.bias", position_embeddings="bert.embeddings.position_embeddings.weight"),
    "modernbert": Naming(
        encoder="model", layers=("layers",), head_prefixes=("model.", "head.", "decoder.", "classifier."),
        buffers=frozenset(), mlm_bias="decoder.bias", tied_decoder="decoder.weight", decoder_bias=None,
        position_embeddings=None),
}


def hf_key(path: tuple[str, ...], family: str) -> str:
    """A per-layer parameter path -> its Hugging Face state-dict name in `family`'s checkpoints."""
    parts: list[str] = []
    for part in path[:-1]:
        match = _LAYER.fullmatch(part)
        if match and parts[-1:] == ["encoder"]:
            parts[-1:] = [*NAMINGS[family].layers, match.group(1)]
        else:
            parts.append(part)
    return ".".join([*parts, _LEAF_NAMES[path[-1]]])


def canonical_key(key: str, family: str) -> str:
    """A checkpoint name in one spelling: legacy `LayerNorm.gamma/beta` renamed, bare encoder names (a `BertModel`
    checkpoint's `embeddings.*`, a `ModernBertModel`'s `layers.*`) prefixed with the encoder's name."""
    naming = NAMINGS[family]
    module, _, leaf = key.rpartition(".")
    if module.endswith("LayerNorm") and leaf in _LEGACY_LAYER_NORM:
        key = f"{module}.{_LEGACY_LAYER_NORM[leaf]}"
    return key if key.startswith(naming.head_prefixes) else f"{naming.encoder}.{key}"


def to_hf_layout(path: tuple[str, ...], array: Any) -> np.ndarray:
    """A parameter in PyTorch's layout (Dense kernels [in, out] -> Linear weights [out, in]); the same for the
    way back, as the transpose is its own inverse."""
    array = np.asarray(array)
    return array.T if path[-1] == "kernel" else array


def state_dict_from_params(params: Any, family: str) -> StateDict:
    """Per-layer or stacked params of `family` -> Hugging Face names and layouts (C-contiguous host arrays)."""
    return {hf_key(path, family): np.ascontiguousarray(to_hf_layout(path, value))
            for path, value in flatten_dict(unstack_layers(params)).items()}
