"""How a model computes (precision, attention kernel, layer scan, rematerialisation): never what it computes."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from bertjax.errors import ConfigError

ATTENTION_KERNELS = ("reference", "fused", "cudnn")
REMAT_POLICIES = ("none", "full", "dots", "dots_no_batch")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """Computation choices that leave the function (and the parameters' values) unchanged.

    dtype: activations and matmul inputs; param_dtype: stored parameters. Softmax, the additive padding mask
    and LayerNorm statistics are always float32.
    attention: `reference` (explicit einsum/softmax; needed for attention weights and attention dropout),
    `fused` (`jax.nn.dot_product_attention`, XLA's kernel) or `cudnn` (its cuDNN flash kernel, GPU only).
    scan_layers: run the layers under `nn.scan`; parameters are then stacked along a leading layer axis.
    remat: rematerialisation policy of each layer (`none`, `full`, `dots`, `dots_no_batch`).
    """

    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    attention: str = "reference"
    scan_layers: bool = False
    remat: str = "none"

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_KERNELS:
            raise ConfigError(f"attention is {self.attention!r}; choose one of {', '.join(ATTENTION_KERNELS)}")
        if self.remat not in REMAT_POLICIES:
            raise ConfigError(f"remat is {self.remat!r}; choose one of {', '.join(REMAT_POLICIES)}")

    @classmethod
    def from_names(cls, dtype: str = "float32", param_dtype: str = "float32", **kwargs: Any) -> ModelOptions:
        """Builds options from the dtype names used in run configs."""
        for name, value in (("dtype", dtype), ("param_dtype", param_dtype)):
            if value not in DTYPES:
                raise ConfigError(f"{name} is {value!r}; choose one of {', '.join(DTYPES)}")
        return cls(dtype=DTYPES[dtype], param_dtype=DTYPES[param_dtype], **kwargs)

    def remat_policy(self) -> Any:
        """The `jax.checkpoint` policy for `remat`, or None when nothing is saved (`full`)."""
        return {
            "full": None,
            "dots": jax.checkpoint_policies.dots_saveable,
            "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
        }[self.remat]
