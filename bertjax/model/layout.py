"""Parameter layouts of the encoder's layers: one subtree per layer, or one subtree stacked for `nn.scan`.

Per-layer: `encoder/layer_0`, `encoder/layer_1`, ... (Hugging Face's layout, used for conversion and export).
Stacked: `encoder/layer` whose leaves carry a leading [num_layers] axis (what `ModelOptions(scan_layers=True)`
builds). The encoder sits under `bert` in every head and at the top of a bare `BertModel`'s params.
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


def _encoder(params: Params) -> Params:
    encoder = params.get("bert", params).get("encoder")
    if not isinstance(encoder, dict):
        raise CheckpointError(
            f"params have no encoder (expected 'bert/encoder' or 'encoder'; top-level keys: {sorted(params)})")
    return encoder


def _with_encoder(params: Params, encoder: Params) -> Params:
    """A shallow copy of `params` whose encoder subtree is replaced."""
    if "bert" in params:
        return {**params, "bert": {**params["bert"], "encoder": encoder}}
    return {**params, "encoder": encoder}


def _array_module(leaf: Any) -> Any:
    """numpy for host arrays (keeps a host pytree on the host), jax.numpy for device arrays and tracers."""
    return np if isinstance(leaf, np.ndarray) else jnp


def is_stacked(params: Params) -> bool:
    """True when the encoder's layers are one stacked `layer` subtree."""
    return "layer" in _encoder(params)


def stack_layers(params: Params) -> Params:
    """Per-layer params -> stacked params (each leaf of `encoder/layer` is [num_layers, ...])."""
    encoder = _encoder(params)
    if "layer" in encoder:
        return params
    indices = sorted(int(match.group(1)) for name in encoder if (match := _LAYER_NAME.fullmatch(name)))
    if indices != list(range(len(indices))) or not indices:
        raise CheckpointError(f"encoder layers must be layer_0 .. layer_N without gaps; found {sorted(encoder)}")
    layers = [encoder[f"layer_{index}"] for index in indices]
    stacked = jax.tree.map(lambda *leaves: _array_module(leaves[0]).stack(leaves), *layers)
    others = {name: value for name, value in encoder.items() if not _LAYER_NAME.fullmatch(name)}
    return _with_encoder(params, {**others, "layer": stacked})


def unstack_layers(params: Params) -> Params:
    """Stacked params -> per-layer params (`encoder/layer_0`, `encoder/layer_1`, ...)."""
    encoder = _encoder(params)
    if "layer" not in encoder:
        return params
    stacked = encoder["layer"]
    num_layers = jax.tree.leaves(stacked)[0].shape[0]
    others = {name: value for name, value in encoder.items() if name != "layer"}
    layers = {f"layer_{index}": jax.tree.map(lambda leaf, index=index: leaf[index], stacked)
              for index in range(num_layers)}
    return _with_encoder(params, {**others, **layers})


def stacked_position(path: tuple[str, ...]) -> tuple[tuple[str, ...], int] | None:
    """A per-layer parameter path (`.../encoder/layer_3/...`) -> its path in stacked params and its layer index;
    None for parameters outside the encoder's layers."""
    for position in range(1, len(path)):
        match = _LAYER_NAME.fullmatch(path[position])
        if match and path[position - 1] == "encoder":
            return (*path[:position], "layer", *path[position + 1:]), int(match.group(1))
    return None


def keep_first_layers(params: Params, count: int) -> Params:
    """The params of a model that keeps only the first `count` encoder layers (either layout)."""
    encoder = _encoder(params)
    if "layer" in encoder:
        kept = {**encoder, "layer": jax.tree.map(lambda leaf: leaf[:count], encoder["layer"])}
    else:
        kept = {name: value for name, value in encoder.items()
                if not (match := _LAYER_NAME.fullmatch(name)) or int(match.group(1)) < count}
    return _with_encoder(params, kept)
