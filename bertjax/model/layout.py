"""Parameter layouts of the encoder's layers: one subtree per layer, or one subtree stacked for `nn.scan`.

Per-layer: `encoder/layer_0`, `encoder/layer_1`, ... (Hugging Face's layout, used for conversion and export).
Stacked: `encoder/layer` whose leaves carry a leading layer axis (what `ModelOptions(scan_layers=True)` builds), after
the first layers whose parameters differ from the others' (`Architecture.first_scanned_layer`: ModernBERT's first
layer has no attention norm), which stay per layer. The encoder sits under `bert` (BERT) or `model` (ModernBERT) in
every head and at the top of a bare `BertModel`'s params.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bertjax.errors import CheckpointError

Params = dict[str, Any]
_LAYER_NAME = re.compile(r"layer_(\d+)")
ENCODER_SCOPES = ("bert", "model")


def _scope(params: Params) -> str | None:
    """The key of the encoder in a head's params; None for a bare encoder's."""
    return next((scope for scope in ENCODER_SCOPES if scope in params), None)


def _encoder(params: Params) -> Params:
    scope = _scope(params)
    encoder = (params if scope is None else params[scope]).get("encoder")
    if not isinstance(encoder, dict):
        raise CheckpointError(
            f"params have no encoder (expected 'bert/encoder', 'model/encoder' or 'encoder'; top-level keys: "
            f"{sorted(params)})")
    return encoder


def _with_encoder(params: Params, encoder: Params) -> Params:
    """A shallow copy of `params` whose encoder subtree is replaced."""
    scope = _scope(params)
    if scope is not None:
        return {**params, scope: {**params[scope], "encoder": encoder}}
    return {**params, "encoder": encoder}


def _layer_indices(encoder: Params) -> list[int]:
    return sorted(int(match.group(1)) for name in encoder if (match := _LAYER_NAME.fullmatch(name)))


def _array_module(leaf: Any) -> Any:
    """numpy for host arrays (keeps a host pytree on the host), jax.numpy for device arrays and tracers."""
    return np if isinstance(leaf, np.ndarray) else jnp


def is_stacked(params: Params) -> bool:
    """True when the encoder's layers are one stacked `layer` subtree."""
    return "layer" in _encoder(params)


def stack_layers(params: Params, first_stacked: int = 0) -> Params:
    """Per-layer params -> stacked params: each leaf of `encoder/layer` is [num_layers - first_stacked, ...], the
    layers before `first_stacked` stay per layer."""
    encoder = _encoder(params)
    if "layer" in encoder:
        return params
    indices = _layer_indices(encoder)
    if indices != list(range(len(indices))) or not indices:
        raise CheckpointError(f"encoder layers must be layer_0 .. layer_N without gaps; found {sorted(encoder)}")
    if first_stacked >= len(indices):
        return params
    layers = [encoder[f"layer_{index}"] for index in indices[first_stacked:]]
    stacked = jax.tree.map(lambda *leaves: _array_module(leaves[0]).stack(leaves), *layers)
    others = {name: value for name, value in encoder.items()
              if not ((match := _LAYER_NAME.fullmatch(name)) and int(match.group(1)) >= first_stacked)}
    return _with_encoder(params, {**others, "layer": stacked})


def unstack_layers(params: Params) -> Params:
    """Stacked params -> per-layer params (`encoder/layer_0`, `encoder/layer_1`, ...)."""
    encoder = _encoder(params)
    if "layer" not in encoder:
        return params
    stacked = encoder["layer"]
    first = len(_layer_indices(encoder))  # the layers kept per layer come first
    others = {name: value for name, value in encoder.items() if name != "layer"}
    layers = {f"layer_{first + index}": jax.tree.map(lambda leaf, index=index: leaf[index], stacked)
              for index in range(jax.tree.leaves(stacked)[0].shape[0])}
    return _with_encoder(params, {**others, **layers})


def stacked_position(path: tuple[str, ...], first_stacked: int = 0) -> tuple[tuple[str, ...], int] | None:
    """A per-layer parameter path (`.../encoder/layer_3/...`) -> its path in stacked params and its index along the
    stacked axis; None for parameters outside the stacked layers."""
    for position in range(1, len(path)):
        match = _LAYER_NAME.fullmatch(path[position])
        if match and path[position - 1] == "encoder" and int(match.group(1)) >= first_stacked:
            return (*path[:position], "layer", *path[position + 1:]), int(match.group(1)) - first_stacked
    return None


def keep_first_layers(params: Params, count: int) -> Params:
    """The params of a model that keeps only the first `count` encoder layers (either layout)."""
    encoder = _encoder(params)
    kept = {name: value for name, value in encoder.items()
            if not (match := _LAYER_NAME.fullmatch(name)) or int(match.group(1)) < count}
    if "layer" in encoder:
        stacked_count = count - len(_layer_indices(encoder))
        if stacked_count > 0:
            kept["layer"] = jax.tree.map(lambda leaf: leaf[:stacked_count], encoder["layer"])
        else:
            del kept["layer"]
    return _with_encoder(params, kept)
