"""Local attention over its band (`banded_attention`) against the masked full attention (`reference_attention`
under `local_attention_mask`): padded and packed rows, rows that are not whole windows, forward and gradients, and
attention dropout."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_model import quick_jit

from bertjax.model import ModelOptions, ModernBertConfig
from bertjax.model.attention import (SelfAttention, banded_attention, local_attention_mask, packed_attention_mask,
                                     reference_attention, uses_band)
from bertjax.model.dropout import Dropout

WINDOW = 8
HEADS, HEAD_SIZE = 2, 8


def projections(seq: int, seed: int = 0) -> tuple[jax.Array, ...]:
    """Random query, key and value: 3 x [3, seq, heads, head_size]."""
    rng = np.random.default_rng(seed)
    return tuple(jnp.asarray(rng.normal(size=(3, seq, HEADS, HEAD_SIZE)), jnp.float32) for _ in range(3))


def padding_mask(seq: int) -> jax.Array:
    """[3, seq]: a full row, a row of five windows and a bit, a row shorter than one window."""
    lengths = np.array([seq, 5 * WINDOW + 3, WINDOW - 3])
    return jnp.asarray(np.arange(seq)[None, :] < lengths[:, None], jnp.int32)


def block_diagonal_mask(seq: int) -> jax.Array:
    """[3, seq, seq]: packed rows of sequences longer and shorter than the window, padding at the ends."""
    sequence_ids = np.zeros((3, seq), np.int32)
    for row, bounds in enumerate(([0, 30, seq - 4], [0, 3, 20, seq], [0, 2 * WINDOW])):
        for number, (start, end) in enumerate(zip(bounds, bounds[1:]), start=1):
            sequence_ids[row, start:end] = number
    return packed_attention_mask(jnp.asarray(sequence_ids))


MASKS = {"padding": padding_mask, "packed": block_diagonal_mask}


def full_attention(query: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array) -> jax.Array:
    return reference_attention(query, key, value, local_attention_mask(mask, WINDOW), Dropout(0.0), True)[0]


def band_attention(query: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array,
                   chunks: int = 1) -> jax.Array:
    return banded_attention(query, key, value, mask, WINDOW, Dropout(0.0), True, chunks)


@pytest.mark.parametrize(("seq", "chunks"), [(64, 1), (90, 1), (90, 3)])  # whole windows, or the last padded
@pytest.mark.parametrize("mask", list(MASKS))
def test_band_equals_the_masked_full_attention(seq: int, chunks: int, mask: str) -> None:
    """Every position, padding included: a padding query whose window holds only padding gets the row's mean value
    in both. In slices of the batch as in one."""
    inputs = (*projections(seq), MASKS[mask](seq))
    expected = quick_jit(full_attention)(*inputs)
    ours = quick_jit(functools.partial(band_attention, chunks=chunks))(*inputs)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mask", list(MASKS))
def test_band_gradients_equal_the_masked_full_attentions(mask: str) -> None:
    seq = 90
    query, key, value = projections(seq)
    cotangent = jnp.asarray(np.random.default_rng(1).normal(size=query.shape), jnp.float32)
    attention_mask = MASKS[mask](seq)

    def gradients(attention: object) -> tuple[jax.Array, ...]:
        return quick_jit(jax.grad(lambda *qkv: jnp.sum(attention(*qkv, attention_mask) * cotangent),
                                  argnums=(0, 1, 2)))(query, key, value)

    for name, ours, theirs in zip("qkv", gradients(band_attention), gradients(full_attention)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5, err_msg=f"gradient of {name}")


def test_band_dropout_drops_probabilities_inside_the_window() -> None:
    """With one-hot values (value i is the unit vector of key i) the context is each query's dropped probability
    row: every entry is 0 or the undropped probability over the keep probability, about half are dropped, and none
    falls outside the window (in slices of the batch, each with its part of the mask)."""
    seq = 64
    query, key, _ = projections(seq)
    value = jnp.broadcast_to(jnp.eye(seq)[None, :, None, :], (3, seq, HEADS, seq))
    mask = padding_mask(seq)
    module = Dropout(0.5)
    dropped = module.apply({}, method=lambda dropout: banded_attention(
        query, key, value, mask, WINDOW, dropout, deterministic=False, chunks=3), rngs={"dropout": jax.random.key(0)})
    tokens = np.asarray(mask, bool)  # [batch, seq]: padding queries without keys are left out
    probabilities = np.asarray(band_attention(query, key, value, mask))[tokens]  # [queries, heads, keys]
    dropped = np.asarray(dropped)[tokens]
    near = np.abs(np.arange(seq)[:, None] - np.arange(seq)[None, :]) <= WINDOW  # [queries, keys]
    allowed = np.broadcast_to((near[None] & tokens[:, None, :])[tokens][:, None, :], dropped.shape)
    assert np.all(dropped[~allowed] == 0) and np.all(probabilities[allowed] > 0)
    kept = dropped[allowed] != 0
    np.testing.assert_allclose(dropped[allowed][kept], probabilities[allowed][kept] * 2.0, rtol=1e-6)
    assert 0.45 < 1 - kept.mean() < 0.55


@pytest.mark.parametrize(("seq", "window", "expected"), [(32, 8, True), (31, 8, False), (64, None, False),
                                                         (64, jnp.int32(8), False), (64, 0, False)])
def test_band_is_used_for_static_windows_in_rows_of_four_windows(seq: int, window: object, expected: bool) -> None:
    assert uses_band(seq, window) is expected


@pytest.mark.parametrize(("window", "options", "squares"), [
    (WINDOW, ModelOptions(), False), (None, ModelOptions(), True), (WINDOW, ModelOptions(attention="fused"), True)])
def test_self_attention_builds_no_square_with_a_band(window: int | None, options: ModelOptions,
                                                     squares: bool) -> None:
    """With a static window and the reference attention, nothing of [.., seq, seq] is computed, forward or
    backward, for a padded batch; global attention and the fused kernel (which keeps the masked full path) do."""
    seq = 64
    config = ModernBertConfig(vocab_size=10, hidden_size=HEADS * HEAD_SIZE, num_attention_heads=HEADS,
                              num_hidden_layers=1, intermediate_size=8, pad_token_id=0)
    module = SelfAttention(config, options, output_projection="Wo")
    hidden = jnp.zeros((3, seq, config.hidden_size))
    params = module.init(jax.random.key(0), hidden, padding_mask(seq), True, window=window)

    def loss(params: object) -> jax.Array:
        return jnp.sum(module.apply(params, hidden, padding_mask(seq), True, window=window)[0])

    program = jax.make_jaxpr(jax.grad(loss))(params)
    shapes = [variable.aval.shape for equation in program.eqns for variable in equation.outvars]
    assert any(shape[-2:] == (seq, seq) for shape in shapes) is squares
