"""Dropout: its Threefry is JAX's bit for bit, its draws are uniform and independent, its masks are inverted dropout."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.extend.random import threefry2x32_p

from bertjax.model.dropout import DRAW_LEVELS, Dropout, threefry2x32, uniform_draws

RATE = 0.1
THRESHOLD = round(RATE * DRAW_LEVELS)
KEEP = 1 - THRESHOLD / DRAW_LEVELS


def _kept(key: jax.Array, shape: tuple[int, ...]) -> np.ndarray:
    ones = jnp.ones(shape, jnp.float32)
    return np.asarray(Dropout(RATE).apply({}, ones, deterministic=False, rngs={"dropout": key})) > 0


def _assert_fraction(observed: np.ndarray, probability: float, count: int) -> None:
    """Within 5 standard deviations of a binomial fraction."""
    assert abs(float(observed) - probability) < 5 * np.sqrt(probability * (1 - probability) / count)


def test_threefry_is_jax_threefry_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    key = tuple(jnp.uint32(word) for word in rng.integers(0, 2**32, 2, dtype=np.uint64))
    counts = tuple(jnp.asarray(rng.integers(0, 2**32, 4096, dtype=np.uint64).astype(np.uint32)) for _ in range(2))
    ours = threefry2x32(key, counts)
    theirs = threefry2x32_p.bind(*key, *counts)
    for mine, reference in zip(ours, theirs):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(reference))


def test_draws_are_the_quarters_of_consecutive_blocks() -> None:
    key = jax.random.key(7)
    draws = np.asarray(uniform_draws(key, (3, 5, 7)))  # 105 draws: 27 blocks, the last one used in part
    assert draws.shape == (3, 5, 7) and draws.dtype == np.uint16
    seed = jax.random.bits(key, (2,), jnp.uint32)
    counts = lax.iota(jnp.uint32, 27)
    high, low = (np.asarray(words) for words in threefry2x32_p.bind(seed[0], seed[1], counts, counts))
    quarters = np.stack([high & 0xFFFF, high >> 16, low & 0xFFFF, low >> 16], axis=-1).reshape(-1)[:105]
    np.testing.assert_array_equal(draws.reshape(-1), quarters)


def test_draws_are_uniform() -> None:
    draws = np.asarray(uniform_draws(jax.random.key(0), (1 << 20,)))
    counts = np.bincount(draws >> 8, minlength=256)  # 256 bins of 4096 expected draws each
    chi_square = float(((counts - 4096) ** 2 / 4096).sum())
    assert chi_square < 255 + 5 * np.sqrt(2 * 255)


def test_drops_at_the_rate_and_scales_the_rest() -> None:
    inputs = jax.random.normal(jax.random.key(1), (64, 128, 128))
    outputs = np.asarray(Dropout(RATE).apply({}, inputs, deterministic=False, rngs={"dropout": jax.random.key(2)}))
    kept = outputs != 0
    _assert_fraction(kept.mean(), KEEP, kept.size)
    np.testing.assert_allclose(outputs[kept], np.asarray(inputs)[kept] / KEEP, rtol=1e-6)
    assert abs(RATE - THRESHOLD / DRAW_LEVELS) < 2**-17


@pytest.mark.parametrize("offset", [1, 2, 3, 4, 128])
def test_masks_are_independent_within_one_draw(offset: int) -> None:
    """Elements sharing a Threefry block (offsets 1-3), neighbouring blocks and rows: P(both kept) = keep^2."""
    kept = _kept(jax.random.key(3), (1 << 20,))
    both = kept[:-offset] & kept[offset:]
    _assert_fraction(both.mean(), KEEP**2, both.size)


def test_masks_are_independent_between_keys() -> None:
    first, second = (_kept(key, (1 << 20,)) for key in jax.random.split(jax.random.key(4)))
    _assert_fraction((first & second).mean(), KEEP**2, first.size)


def test_inference_and_rate_zero_are_the_identity() -> None:
    inputs = jnp.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(Dropout(RATE).apply({}, inputs, deterministic=True), inputs)
    zero = Dropout(0.0).apply({}, inputs, deterministic=False, rngs={"dropout": jax.random.key(0)})
    np.testing.assert_array_equal(zero, inputs)


def test_keeps_the_compute_dtype() -> None:
    inputs = jnp.ones((4, 8), jnp.bfloat16)
    outputs = Dropout(RATE).apply({}, inputs, deterministic=False, rngs={"dropout": jax.random.key(0)})
    assert outputs.dtype == jnp.bfloat16
