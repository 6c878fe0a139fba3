"""The host the benchmark runs on: the cores this process may use and the processor's vector extensions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

VECTOR_EXTENSIONS = ("avx2", "avx512f", "avx512_bf16", "amx_tile")  # the ISA levels that decide CPU matmul speed


def cpu_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def host_cpu(cpuinfo: str | None = None) -> str:
    """The processor's name and which of `VECTOR_EXTENSIONS` it has, from /proc/cpuinfo where there is one: CPU
    ratios differ between machine types (PyTorch's sgemm uses AVX-512 where XLA's CPU dot is slower)."""
    if cpuinfo is None:
        cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = {key.strip(): value.strip() for key, value in
              (line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line)}
    name = fields.get("model name") or platform.processor() or platform.machine()
    extensions = [extension for extension in VECTOR_EXTENSIONS if extension in fields.get("flags", "").split()]
    return f"{name} ({', '.join(extensions)})" if extensions else name
