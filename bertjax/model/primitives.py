"""Dense and LayerNorm layers configured and initialised as BERT's, and the matmuls under them and attention."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from bertjax.model.config import BertConfig
from bertjax.model.options import ModelOptions


def accumulation_dtype(dtype: Any) -> Any:
    """The type a matmul of `dtype` inputs accumulates in: float32 for 16-bit inputs, None (their own) otherwise."""
    return jnp.float32 if jnp.dtype(dtype).itemsize < 4 else None


def einsum(subscripts: str, left: jax.Array, right: jax.Array, dtype: Any = None) -> jax.Array:
    """`jnp.einsum` of two operands of one dtype, with the result in `dtype` (default: the operands').

    16-bit operands (bfloat16, float16) are multiplied as they are and accumulated in float32: the form matrix units
    run (AMX and AVX512-BF16 on CPUs, where XLA hands it to YNNPACK; tensor cores; TPUs). The gradient is JAX's, the
    float32 cotangent times a float32 copy of the other operand: XLA's CPU backend runs that in every layout, where
    its fallback matmul lacks bfloat16 x bfloat16 -> float32 for batched products with a transposed operand.
    """
    return jnp.einsum(subscripts, left, right, preferred_element_type=accumulation_dtype(left.dtype)).astype(
        dtype or left.dtype)


@jax.custom_vjp
def _accumulated_matmul(flat: jax.Array, kernel: jax.Array) -> jax.Array:
    """[tokens, in] @ [in, out] of 16-bit inputs accumulated in float32, and its gradients the same way (JAX's own
    would multiply the float32 cotangent by float32 copies of the operands)."""
    return jnp.dot(flat, kernel, preferred_element_type=jnp.float32).astype(flat.dtype)


def _accumulated_matmul_forward(flat: jax.Array, kernel: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return _accumulated_matmul(flat, kernel), (flat, kernel)


def _accumulated_matmul_backward(operands: tuple[jax.Array, jax.Array], gradient: jax.Array
                                 ) -> tuple[jax.Array, jax.Array]:
    flat, kernel = operands
    return (jnp.dot(gradient, kernel.T, preferred_element_type=jnp.float32).astype(flat.dtype),  # [tokens, in]
            jnp.dot(flat.T, gradient, preferred_element_type=jnp.float32).astype(kernel.dtype))  # [in, out]


_accumulated_matmul.defvjp(_accumulated_matmul_forward, _accumulated_matmul_backward)


def token_matmul(inputs: jax.Array, kernel: jax.Array) -> jax.Array:
    """[..., in] @ [in, out] -> [..., out] in the inputs' dtype, computed as one 2-D matmul over all tokens; 16-bit
    inputs are multiplied as they are and accumulated in float32, forward and backward.

    With the leading axes flattened, the kernel's gradient contracts a single axis, which XLA passes straight to
    its matmul; contracting [batch, seq] instead makes it copy a transposed [in, batch * seq] activation first
    (about 15% of a bert-mini training step on CPU).
    """
    flat = inputs.reshape(-1, inputs.shape[-1])  # [tokens, in]
    product = jnp.dot(flat, kernel) if accumulation_dtype(flat.dtype) is None else _accumulated_matmul(flat, kernel)
    return product.reshape(*inputs.shape[:-1], kernel.shape[-1])


class Dense(nn.Module):
    """`flax.linen.Dense` (same parameters, initialisation and dtypes) computed by `token_matmul`."""

    features: int
    kernel_init: Any
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        """[..., in] -> [..., features]."""
        kernel = self.param("kernel", self.kernel_init, (inputs.shape[-1], self.features), self.param_dtype)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), self.param_dtype)
        inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        return token_matmul(inputs, kernel) + bias


def _as_bert(config: BertConfig, options: ModelOptions) -> dict[str, Any]:
    """BERT's initialisation (normal(initializer_range) kernel, zero bias) and the options' dtypes."""
    return dict(kernel_init=nn.initializers.normal(config.initializer_range), dtype=options.dtype,
                param_dtype=options.param_dtype)


def dense(config: BertConfig, options: ModelOptions, features: int, name: str) -> Dense:
    """A Dense layer initialised as BERT's."""
    return Dense(features, name=name, **_as_bert(config, options))


def layer_norm(config: BertConfig, options: ModelOptions, name: str = "LayerNorm") -> nn.LayerNorm:
    """LayerNorm with float32 statistics (flax promotes them) and the config's epsilon."""
    return nn.LayerNorm(epsilon=config.layer_norm_eps, dtype=options.dtype, param_dtype=options.param_dtype,
                        name=name)
