"""The host allocator setting: XLA's per-step scratch memory on CPU is reused instead of faulted in afresh."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

FAULTS_PER_CALL = textwrap.dedent("""
    import resource, sys
    from bertjax.train.host_allocator import reuse_freed_host_memory
    if sys.argv[1] == "reuse":
        assert reuse_freed_host_memory()
    import jax, jax.numpy as jnp
    step = jax.jit(lambda x: jnp.tanh(x @ x).sum() + jnp.sin(x).sum())  # 36 MB temporaries: above glibc's
    x = jnp.ones((3072, 3072), jnp.float32)  # largest mmap threshold (32 MB), so freed ones are unmapped
    step(x).block_until_ready()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step(x).block_until_ready()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
""")


def _faults_per_call(mode: str) -> int:
    completed = subprocess.run([sys.executable, "-c", FAULTS_PER_CALL, mode], capture_output=True, text=True,
                               timeout=300, env={"JAX_PLATFORMS": "cpu", "PATH": ""})
    assert completed.returncode == 0, completed.stderr[-2000:]
    return int(completed.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="sets glibc's allocator")
def test_scratch_memory_is_reused_across_calls() -> None:
    fresh = _faults_per_call("default")
    reused = _faults_per_call("reuse")
    assert fresh > 10_000, "without the setting, each call maps its 36 MB temporaries afresh"  # 4 KB pages
    assert reused < fresh / 10
