"""Moving loaded parameters onto the device one at a time, so that the host never holds them all twice."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax
import numpy as np
from flax.traverse_util import unflatten_dict

from bertjax.model.layout import stacked_position

ParamPath = tuple[str, ...]


class DevicePlacement:
    """Per-layer host arrays in, params on JAX's default device out (stacked for `nn.scan` when `num_layers`).

    Each array is moved as soon as it is added; a stacked leaf is filled in on the host layer by layer and moved once
    all its layers are in. Added in `order`, loading holds at most one weight (one stacked leaf) on the host beside
    the placed parameters, and the caller can let go of each array once added.
    """

    def __init__(self, num_layers: int | None = None, first_stacked: int = 0) -> None:
        self.num_layers = num_layers  # stack the encoder's layers from `first_stacked` on; None keeps them per layer
        self.first_stacked = first_stacked
        self._placed: dict[ParamPath, jax.Array] = {}
        self._filling: dict[ParamPath, tuple[np.ndarray, set[int]]] = {}  # stacked leaf -> (values, layers in)

    @property
    def stacked_layers(self) -> int:
        return self.num_layers - self.first_stacked

    def order(self, paths: Iterable[ParamPath]) -> list[ParamPath]:
        """`paths` in the order to add them: the layers of each stacked leaf one after another."""
        if self.num_layers is None:
            return list(paths)
        return sorted(paths, key=lambda path: stacked_position(path, self.first_stacked) or (path, -1))

    def add(self, path: ParamPath, value: np.ndarray) -> None:
        """Places `value` (any strides: a transposed view is copied once, into its final layout)."""
        position = stacked_position(path, self.first_stacked) if self.num_layers is not None else None
        if position is None:
            self._placed[path] = _put(value)
            return
        stacked_path, index = position
        if stacked_path not in self._filling:
            self._filling[stacked_path] = (np.empty((self.stacked_layers, *value.shape), value.dtype), set())
        stacked, layers = self._filling[stacked_path]
        stacked[index] = value
        layers.add(index)
        if len(layers) == self.stacked_layers:
            del self._filling[stacked_path]
            self._placed[stacked_path] = _put(stacked)

    def params(self) -> dict[str, Any]:
        """The placed params (every layer of each stacked leaf must have been added)."""
        if self._filling:
            incomplete = ", ".join("/".join(path) for path in self._filling)
            raise ValueError(f"layers missing from stacked parameters: {incomplete}")
        return unflatten_dict(self._placed)


def _put(value: np.ndarray) -> jax.Array:
    # Waited for: JAX hands a finished transfer's host array back through a queue that it empties at its next
    # transfer or garbage collection. Without the wait, the arrays of transfers still running when the next began
    # stayed alive until the next garbage collection: a third of bert-base's weights.
    return jax.device_put(np.ascontiguousarray(value)).block_until_ready()
