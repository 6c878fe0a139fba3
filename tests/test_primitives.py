"""Dense: flax's Dense in parameters, initialisation, outputs and gradients, computed as one token-major matmul;
products of 16-bit inputs accumulated in float32."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from bertjax.model.activations import gelu
from bertjax.model.primitives import Dense, einsum, token_matmul

INIT = nn.initializers.normal(0.02)


def test_dense_is_flax_dense() -> None:
    inputs = jax.random.normal(jax.random.key(0), (3, 5, 16))
    ours, theirs = Dense(8, kernel_init=INIT), nn.Dense(8, kernel_init=INIT)
    params = ours.init(jax.random.key(1), inputs)
    reference = theirs.init(jax.random.key(1), inputs)
    jax.tree.map(np.testing.assert_array_equal, params, reference)
    params = jax.tree.map(lambda value: value + 0.1, params)  # a non-zero bias

    def loss(module: nn.Module) -> tuple[jax.Array, dict]:
        return jax.value_and_grad(lambda p: jnp.sum(jnp.sin(module.apply(p, inputs))))(params)

    (value, gradients), (reference_value, reference_gradients) = loss(ours), loss(theirs)
    np.testing.assert_allclose(value, reference_value, rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), gradients, reference_gradients)


def test_dense_computes_in_the_compute_dtype_and_keeps_float32_parameters() -> None:
    module = Dense(4, kernel_init=INIT, dtype=jnp.bfloat16)
    params = module.init(jax.random.key(0), jnp.ones((2, 3)))
    assert module.apply(params, jnp.ones((2, 3))).dtype == jnp.bfloat16
    assert params["params"]["kernel"].dtype == params["params"]["bias"].dtype == jnp.float32


def test_token_matmul_keeps_the_leading_axes() -> None:
    inputs, kernel = jnp.ones((2, 3, 4, 5)), jnp.ones((5, 6))
    np.testing.assert_array_equal(token_matmul(inputs, kernel), jnp.full((2, 3, 4, 6), 5.0))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_gelu_is_pytorchs(dtype: str) -> None:
    """Exact GELU through erf matches PyTorch's (the same formula, also evaluated in float32 for bfloat16 inputs): to
    float32 rounding, or one bfloat16 step. Absolutely, 2e-6 covers the negative tail, where 1 + erf cancels in both
    and the two erf approximations round differently (values of at most 1.5e-6 there)."""
    values = np.concatenate([np.linspace(-12.0, 12.0, 20_001), np.random.default_rng(0).normal(0.0, 3.0, 20_000)])
    inputs = torch.tensor(values, dtype=getattr(torch, dtype))
    expected = torch.nn.functional.gelu(inputs).float().numpy()
    actual = np.asarray(gelu(jnp.asarray(inputs.float().numpy(), dtype)).astype(jnp.float32))
    np.testing.assert_allclose(actual, expected, rtol=2e-6 if dtype == "float32" else 2.0**-7, atol=2e-6)
    gradient = jax.grad(lambda x: gelu(x).sum())(jnp.asarray(values, jnp.float32))
    torch_inputs = torch.tensor(values, dtype=torch.float32, requires_grad=True)
    torch.nn.functional.gelu(torch_inputs).sum().backward()
    np.testing.assert_allclose(np.asarray(gradient), torch_inputs.grad.numpy(), rtol=2e-6, atol=2e-6)


def _dot_operand_and_result_types(function: Any, *arguments: jax.Array) -> set[tuple[str, str, str]]:
    """(left, right, result) dtypes of every dot_general in `function`'s jaxpr, nested ones included."""
    found = set()

    def visit(jaxpr: jax.extend.core.Jaxpr) -> None:
        for equation in jaxpr.eqns:
            if equation.primitive.name == "dot_general":
                found.add(tuple(str(variable.aval.dtype) for variable in (*equation.invars, *equation.outvars)))
            for sub in jax.extend.core.jaxprs_in_params(equation.params):
                visit(sub)

    visit(jax.make_jaxpr(function)(*arguments).jaxpr)
    return found


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_16_bit_products_accumulate_in_float32(dtype: str) -> None:
    """Dense layers' matmuls take 16-bit inputs as they are and accumulate in float32, forward and backward (the form
    matrix units run); attention's products do so forward, and their gradients are float32 products. Float32 stays
    a float32 product."""
    inputs = jax.random.normal(jax.random.key(0), (2, 3, 8)).astype(dtype)
    kernel = jax.random.normal(jax.random.key(1), (8, 4)).astype(dtype)
    dense = jax.value_and_grad(lambda inputs, kernel: jnp.sum(jnp.sin(token_matmul(inputs, kernel))), argnums=(0, 1))
    assert _dot_operand_and_result_types(dense, inputs, kernel) == {(dtype, dtype, "float32")}

    def attention(query: jax.Array, key: jax.Array) -> jax.Array:
        scores = einsum("bqd,bkd->bqk", query, key, jnp.float32)  # [2, 3, 3]
        return einsum("bqk,bkd->bqd", jax.nn.softmax(scores).astype(dtype), key)  # [2, 3, 8]

    assert attention(inputs, inputs).dtype == dtype
    assert _dot_operand_and_result_types(attention, inputs, inputs) == {(dtype, dtype, "float32")}
    gradient = jax.grad(lambda query, key: jnp.sum(attention(query, key).astype(jnp.float32)), argnums=(0, 1))
    types = _dot_operand_and_result_types(gradient, inputs, inputs)  # forward products, then JAX's gradient ones
    assert {result for _, _, result in types} == {"float32"} and (dtype, dtype, "float32") in types
    assert all(left == "float32" or right == "float32" for left, right, _ in types - {(dtype, dtype, "float32")})
    assert len(types) > 1 or dtype == "float32"


def test_accumulated_products_match_float32_within_bfloat16_rounding() -> None:
    """Values and gradients of bfloat16 products against the float32 ones: the inputs are rounded to 8 significant
    bits (2^-9 relative) and the results once more, so products of 8 terms of O(1) stay within 2% of their scale."""
    inputs = jax.random.normal(jax.random.key(0), (2, 3, 8))
    kernel = jax.random.normal(jax.random.key(1), (8, 4))

    def loss(inputs: jax.Array, kernel: jax.Array, dtype: Any) -> jax.Array:
        return jnp.sum(jnp.sin(token_matmul(inputs.astype(dtype), kernel.astype(dtype)).astype(jnp.float32)))

    for argnum in (0, 1):
        expected = jax.grad(loss, argnums=argnum)(inputs, kernel, jnp.float32)
        actual = jax.grad(loss, argnums=argnum)(inputs, kernel, jnp.bfloat16)
        assert actual.dtype == jnp.float32
        np.testing.assert_allclose(actual, expected, atol=0.02 * float(jnp.abs(expected).max()))
    np.testing.assert_allclose(loss(inputs, kernel, jnp.bfloat16), loss(inputs, kernel, jnp.float32), atol=0.1)
