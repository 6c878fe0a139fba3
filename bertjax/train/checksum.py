"""Checksums of a pytree of arrays, computed where the arrays live (any sharding), so that a checkpoint whose files
changed after they were written (bit rot, a bad copy) is found when it is restored, not as NaNs later.

Each leaf's bits, as 32-bit words, are summed twice modulo 2**32 with two sets of odd position weights: any single
changed bit changes both sums, and so does a swap of two words; other damage goes unnoticed with odds of about
2**-64. This is a check against accidents, not against tampering.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# Odd multipliers of the second sum's weights (Knuth's golden-ratio multiplicative hash and another odd constant).
_MIXING = (0x9E3779B1, 0x7F4A7C15)


def _words(leaf: jax.Array) -> jax.Array:
    """The leaf's bits as a flat array of uint32 words (one word per element of 1, 2 or 4 bytes, two for 8 bytes)."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    if leaf.dtype == jnp.bool_:
        return leaf.astype(jnp.uint32).reshape(-1)
    unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[leaf.dtype.itemsize]
    return jax.lax.bitcast_convert_type(leaf, unsigned).astype(jnp.uint32).reshape(-1)


def _leaf_sums(leaf: jax.Array) -> jax.Array:
    """[2] uint32: the two position-weighted sums of the leaf's words."""
    words = _words(leaf)
    positions = jnp.arange(words.size, dtype=jnp.uint32)
    first = positions * jnp.uint32(2) + jnp.uint32(1)
    second = (positions * jnp.uint32(_MIXING[0]) + jnp.uint32(_MIXING[1])) | jnp.uint32(1)
    return jnp.stack([jnp.sum(words * first, dtype=jnp.uint32), jnp.sum(words * second, dtype=jnp.uint32)])


@jax.jit
def _tree_sums(tree: Any) -> Any:
    return jax.tree.map(_leaf_sums, tree)


def tree_checksums(tree: Any) -> list[str]:
    """One 16-hex-digit checksum per leaf of `tree`, in `jax.tree.leaves` order. Every process of a multi-host run
    calls it (it is one jitted computation over the global arrays) and gets the same list."""
    return [f"{int(high):08x}{int(low):08x}" for high, low in
            (np.asarray(sums) for sums in jax.tree.leaves(jax.device_get(_tree_sums(tree))))]
