"""Peak FLOP/s of the device that MFU is measured against: a table for accelerators, a measurement on CPU."""

from __future__ import annotations

import dataclasses
import functools
import time

import jax

from bertjax.model.primitives import einsum

# Dense (no sparsity) peak TFLOP/s per chip from the vendors' data sheets: (bfloat16, float32). GPU float32 is the
# TF32 tensor-core rate, which XLA's default matmul precision uses; TPUs compute float32 matmuls in bfloat16 passes
# by default, so both columns hold the bfloat16 rate. Matched against `device_kind`, first match wins.
PEAK_TFLOPS: tuple[tuple[str, float, float], ...] = (
    ("H200", 989.0, 494.5),
    ("H100 PCIe", 756.0, 378.0),
    ("H100", 989.0, 494.5),
    ("A100", 312.0, 156.0),
    ("A10G", 70.0, 35.0),
    ("L4", 121.0, 60.0),
    ("V100", 125.0, 15.7),  # no bfloat16 or TF32: fp16 tensor cores, float32 CUDA cores
    ("T4", 65.0, 8.1),
    ("TPU v6 lite", 918.0, 918.0),
    ("TPU v5 lite", 197.0, 197.0),
    ("TPU v5", 459.0, 459.0),
    ("TPU v4", 275.0, 275.0),
    ("TPU v3", 123.0, 123.0),
)


@dataclasses.dataclass(frozen=True)
class Peak:
    flops_per_second: float | None
    source: str  # where the number comes from, shown in the report


def table_peak(device_kind: str, dtype: str) -> Peak:
    """The data-sheet peak of an accelerator named `device_kind` for `dtype` (`bfloat16` or `float32`)."""
    for name, bfloat16, float32 in PEAK_TFLOPS:
        if name.lower() in device_kind.lower():
            tflops = bfloat16 if dtype == "bfloat16" else float32
            return Peak(tflops * 1e12, f"{name} {dtype} data sheet, {tflops:g} TFLOP/s")
    return Peak(None, f"unknown peak for {device_kind!r}")


def measure_matmul_peak(dtype: str = "float32", sizes: tuple[int, ...] = (1024, 2048), repeats: int = 3) -> Peak:
    """The best FLOP/s of jitted [size, size] @ [size, size] matmuls on the default device (all its cores), in the
    form the model computes them (`bertjax.model.primitives.einsum`: bfloat16 inputs accumulated in float32)."""
    matmul = jax.jit(functools.partial(einsum, "ij,jk->ik"))
    best_flops, best_size = 0.0, sizes[0]
    for size in sizes:
        key_a, key_b = jax.random.split(jax.random.key(size))
        left = jax.random.normal(key_a, (size, size), dtype)
        right = jax.random.normal(key_b, (size, size), dtype)
        matmul(left, right).block_until_ready()
        for _ in range(repeats):
            start = time.perf_counter()
            matmul(left, right).block_until_ready()
            flops = 2 * size**3 / (time.perf_counter() - start)
            if flops > best_flops:
                best_flops, best_size = flops, size
    return Peak(best_flops, f"measured {dtype} {best_size}x{best_size} matmul, {best_flops / 1e9:.1f} GFLOP/s")


def device_peak(dtype: str) -> Peak:
    """The peak of JAX's default device: the data sheet for accelerators, a measured matmul on CPU."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return measure_matmul_peak(dtype)
    return table_peak(device.device_kind, dtype)


def best_peak(current: Peak | None, dtype: str) -> Peak:
    """On CPU the peak is measured, and other work on the machine lowers it: keep the best measurement."""
    measured = device_peak(dtype)
    if current is None or (measured.flops_per_second or 0) > (current.flops_per_second or 0):
        return measured
    return current
