"""Checksums of a pytree of arrays, so that a checkpoint whose files changed after they were written (bit rot, a bad
copy) is found when it is restored, not as NaNs later.

Each leaf's checksum is the CRC-32 of its bytes (zlib's, about 2 GB/s on one CPU core), fetched to the host one leaf
at a time: it catches every change of up to 32 adjacent bits and misses other damage with odds of about 2**-32. A
check against accidents, not against tampering.
"""

from __future__ import annotations

import zlib
from typing import Any

import jax
import numpy as np
from jax.experimental.multihost_utils import process_allgather


def _host_bytes(leaf: Any) -> np.ndarray:
    """The leaf's bytes on this host (typed PRNG keys as their key data; an array sharded over processes whole)."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        leaf = process_allgather(leaf, tiled=True)
    return np.ascontiguousarray(jax.device_get(leaf)).reshape(-1).view(np.uint8)


def tree_checksums(tree: Any) -> list[str]:
    """The CRC-32 of each leaf of `tree` as 8 hex digits, in `jax.tree.leaves` order; every process of a multi-host
    run gets the same list."""
    return [f"{zlib.crc32(_host_bytes(leaf)):08x}" for leaf in jax.tree.leaves(tree)]
