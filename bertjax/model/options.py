"""How a model computes (precision, attention kernel, layer scan, rematerialisation): never what it computes."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from bertjax.errors import ConfigError
from bertjax.model.config import ModelConfig

ATTENTION_KERNELS = ("reference", "fused", "cudnn")
REMAT_POLICIES = ("none", "full", "dots", "dots_no_batch")
CPU_ATTENTION_CHUNKS = 4
CPU_CHUNKED_MAX_HIDDEN = 512
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
CUDNN_DTYPES = (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))  # cuDNN's flash attention has no float32


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """Computation choices that leave the function (and the parameters' values) unchanged.

    dtype: activations and matmul inputs; param_dtype: stored parameters. Softmax, the additive padding mask
    and LayerNorm statistics are always float32.
    attention: `reference` (explicit einsum/softmax; needed for attention weights and attention dropout),
    `fused` (`jax.nn.dot_product_attention`, XLA's kernel) or `cudnn` (its cuDNN flash kernel: GPU only, bfloat16
    or float16 compute, padding at the end of each row).
    scan_layers: run the layers under `nn.scan`; parameters are then stacked along a leading layer axis.
    remat: rematerialisation policy of each layer (`none`, `full`, `dots`, `dots_no_batch`).
    attention_chunks: the reference attention runs on this many slices of the batch (fewer where the batch does
    not divide), which XLA's CPU runtime runs at once; None picks a number (`attention_chunks_for`).
    """

    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    attention: str = "reference"
    scan_layers: bool = False
    remat: str = "none"
    attention_chunks: int | None = None

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_KERNELS:
            raise ConfigError(f"attention is {self.attention!r}; choose one of {', '.join(ATTENTION_KERNELS)}")
        if self.attention == "cudnn" and jnp.dtype(self.dtype) not in CUDNN_DTYPES:
            raise ConfigError(f"attention 'cudnn' computes in bfloat16 or float16, not {jnp.dtype(self.dtype).name}; "
                              f"set the dtype to bfloat16 or the attention to 'fused'")
        if self.remat not in REMAT_POLICIES:
            raise ConfigError(f"remat is {self.remat!r}; choose one of {', '.join(REMAT_POLICIES)}")
        if self.attention_chunks is not None and self.attention_chunks < 1:
            raise ConfigError(f"attention_chunks must be at least 1, got {self.attention_chunks}")

    @classmethod
    def from_names(cls, dtype: str = "float32", param_dtype: str = "float32", **kwargs: Any) -> ModelOptions:
        """Builds options from the dtype names used in run configs."""
        for name, value in (("dtype", dtype), ("param_dtype", param_dtype)):
            if value not in DTYPES:
                raise ConfigError(f"{name} is {value!r}; choose one of {', '.join(DTYPES)}")
        return cls(dtype=DTYPES[dtype], param_dtype=DTYPES[param_dtype], **kwargs)

    def attention_chunks_for(self, hidden_size: int) -> int:
        """`attention_chunks`, or by default 4 on a single CPU device for hidden sizes up to 512 and 1 otherwise.

        Slices are runs of consecutive rows: with the batch sharded over several devices they would straddle
        devices, so the default keeps one slice there.

        Measured on 2 CPU cores, fine-tuning at 128 tokens: 7% faster at H256 (bert-mini), 3% at H384 (MiniLM),
        no faster at H768 (bert-base), where the dense matmuls dominate and XLA's concurrency-optimised scheduling
        (see `bertjax.train.sharding.compiler_options`) costs about 120 MB.
        """
        if self.attention_chunks is not None:
            return self.attention_chunks
        one_cpu = jax.default_backend() == "cpu" and jax.device_count() == 1
        return CPU_ATTENTION_CHUNKS if one_cpu and hidden_size <= CPU_CHUNKED_MAX_HIDDEN else 1

    def chunks_attention(self, config: ModelConfig) -> bool:
        """Whether a model of `config` trains with its attention in slices (and its steps compile for concurrency):
        only the reference attention is sliced, which the other kernels fall back to for attention dropout."""
        reference = self.attention == "reference" or config.architecture.attention_dropout > 0
        return reference and self.attention_chunks_for(config.hidden_size) > 1

    def batch_chunks(self, batch: int, hidden_size: int) -> int:
        """How many equal slices of a batch of `batch` rows the reference attention runs on."""
        requested = min(self.attention_chunks_for(hidden_size), batch)
        return max(chunks for chunks in range(1, requested + 1) if batch % chunks == 0)

    def remat_policy(self) -> Any:
        """The `jax.checkpoint` policy for `remat`, or None when nothing is saved (`full`)."""
        return {
            "full": None,
            "dots": jax.checkpoint_policies.dots_saveable,
            "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
        }[self.remat]
