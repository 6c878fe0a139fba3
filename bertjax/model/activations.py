"""The activation functions that configs name (BERT's `hidden_act`, ModernBERT's `hidden_activation` and
`classifier_activation`), as transformers computes them."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

SQRT_HALF = np.float32(np.sqrt(0.5))


def gelu(inputs: jax.Array) -> jax.Array:
    """Exact GELU, `x/2 · (1 + erf(x/√2))` as PyTorch computes it, evaluated in float32.

    `jax.nn.gelu(approximate=False)` goes through erfc, which XLA evaluates with an exponential and two branches
    and, on CPU, in two fusions; erf's polynomial made MiniLM fine-tuning 2% and its inference 3.5% faster on CPU.
    In float32, bfloat16 inputs do not lose the negative tail, where 1 + erf cancels (PyTorch computes there in
    float32 too).
    """
    wide = inputs.astype(jnp.float32)
    return (0.5 * wide * (1.0 + lax.erf(wide * SQRT_HALF))).astype(inputs.dtype)


def tanh_gelu(inputs: jax.Array) -> jax.Array:
    return jax.nn.gelu(inputs, approximate=True)


ACTIVATION_FUNCTIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "gelu": gelu,
    "gelu_new": tanh_gelu,
    "gelu_pytorch_tanh": tanh_gelu,
    "gelu_fast": tanh_gelu,
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
}
