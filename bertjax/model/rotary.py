"""Rotary position embeddings (Su et al., 2021) as transformers' ModernBERT computes them.

Each head's features are split in halves (x1, x2), and the pair (x1[i], x2[i]) is rotated by the angle
position * theta^(-2i / head_size). Positions come from `position_ids`, so packed sequences, whose positions restart
at each sequence, are rotated as each sequence alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def inverse_frequencies(theta: float, head_size: int) -> np.ndarray:
    """theta^(-2i / head_size) for i < head_size / 2: [head_size / 2] float32, computed in float32 as PyTorch does
    (the same values, bit for bit)."""
    exponents = np.arange(0, head_size, 2, dtype=np.float32) / np.float32(head_size)
    return (np.float32(1.0) / np.power(np.float32(theta), exponents)).astype(np.float32)


def rotary_table(position_ids: jax.Array, theta: float, head_size: int) -> jax.Array:
    """[batch, seq] positions -> [2, batch, seq, head_size / 2] float32: the cosines and sines of the angles."""
    angles = position_ids.astype(jnp.float32)[..., None] * inverse_frequencies(theta, head_size)
    return jnp.stack([jnp.cos(angles), jnp.sin(angles)])


def apply_rotary(inputs: jax.Array, table: jax.Array) -> jax.Array:
    """Rotates [batch, seq, heads, head_size] queries or keys by a `rotary_table` (in float32, as transformers)."""
    cos, sin = table[0][:, :, None, :], table[1][:, :, None, :]  # [batch, seq, 1, head_size / 2]
    first, second = jnp.split(inputs.astype(jnp.float32), 2, axis=-1)
    rotated = jnp.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)
    return rotated.astype(inputs.dtype)
