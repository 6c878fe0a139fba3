"""Host memory of this process: resident set size and its peak, which Linux lets us reset between measurements."""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys
import time
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_bytes(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    except OSError:
        return None
    return None


def _max_resident_bytes() -> int:
    """The process's lifetime peak from getrusage: kilobytes on Linux, bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def release_free_memory() -> None:
    """Hands memory that the C allocator holds but nobody uses back to the system (glibc's malloc_trim), so that
    one framework's freed buffers are not counted as, or reused as, the other's growth."""
    library = ctypes.util.find_library("c")
    if library is None:
        return
    trim = getattr(ctypes.CDLL(library), "malloc_trim", None)
    if trim is not None:
        trim(0)


def resident_bytes() -> int:
    """The resident set size now (the lifetime peak where /proc is missing)."""
    current = _status_bytes("VmRSS")
    return current if current is not None else _max_resident_bytes()


def settled_resident_bytes(interval: float = 0.02, quiet_readings: int = 3, timeout: float = 2.0) -> int:
    """The resident set size once it has stopped falling, free heap handed back first.

    XLA frees a step's temporaries and donated buffers on its own threads shortly after the outputs are ready
    (about 15 ms for bert-base's 0.9 GB of temporaries on CPU), so a reading taken as soon as a JAX step returns
    still holds them. Taken as the next runner's starting point, such a reading hid that much of the next
    runner's growth (whichever framework it was). PyTorch frees synchronously, so its readings settle at once.
    Waits until `quiet_readings` readings `interval` seconds apart fall by less than 1 MiB, at most `timeout`.
    """
    release_free_memory()
    lowest, quiet, deadline = resident_bytes(), 0, time.monotonic() + timeout
    while quiet < quiet_readings and time.monotonic() < deadline:
        time.sleep(interval)
        release_free_memory()
        current = resident_bytes()
        quiet = 0 if current < lowest - (1 << 20) else quiet + 1
        lowest = min(lowest, current)
    return lowest


def reset_peak() -> bool:
    """Restarts the peak resident size from the current size; False where the system cannot (the peak is then the
    lifetime peak, and transient growth reads as zero after a larger earlier peak)."""
    try:
        _CLEAR_REFS.write_text("5")  # "5" resets VmHWM (Linux 4.0+)
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    """The peak resident size since the last `reset_peak`."""
    peak = _status_bytes("VmHWM")
    return peak if peak is not None else _max_resident_bytes()
