"""Host memory reuse for XLA on CPU: freed buffers stay in the C heap for the next step instead of going back to
the system.

XLA's CPU runtime allocates each step's scratch memory (hundreds of MB: activations and gradients) from its worker
threads, and glibc serves allocations that large from per-thread arenas with a fresh mmap, unmapped again when freed.
Every step then faults all of it in anew, page by page (83,000 faults a step at bert-mini, batch 16 x 128: about a
tenth of the step time). With one arena, no mmap for large blocks and a high trim threshold, the next step reuses
the same pages. The peak resident memory is unchanged; memory a run freed stays resident until it exits (or
`malloc_trim`). Must run before JAX starts its CPU client (its threads keep the arenas they first used).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
TRIM_THRESHOLD_BYTES = 2**31 - 1  # the largest mallopt takes (a C int): free memory above it is still returned


def reuse_freed_host_memory() -> bool:
    """Sets glibc's allocator as the module docstring says; False where there is no glibc (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    library = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(library), "mallopt", None) if library else None
    if mallopt is None:
        return False
    settings = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return all(mallopt(parameter, value) == 1 for parameter, value in settings)
