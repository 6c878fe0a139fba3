"""Dense: flax's Dense in parameters, initialisation, outputs and gradients, computed as one token-major matmul."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bertjax.model.primitives import Dense, token_matmul

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
