"""Texts packed several to a row for prediction: every text lands whole in one slot of one row, with positions of its
own and attending only to itself; rows are 128 tokens unless a text is longer."""

from __future__ import annotations

import numpy as np

from bertjax.model.encoder import attended_mean
from bertjax.pipelines.packing import PACKED_ROW_TOKENS, encoder_inputs, pack_texts, packed_batch


def _features(lengths: list[int]) -> dict[str, list[np.ndarray]]:
    """Text i's tokens are 1000 * (i + 1) + position, so each token names its text and place."""
    return {"input_ids": [np.arange(length, dtype=np.int32) + 1000 * (text + 1) for text, length in enumerate(lengths)],
            "token_type_ids": [np.full(length, text % 2, np.int32) for text, length in enumerate(lengths)]}


def test_every_text_is_whole_in_one_slot_with_its_own_positions() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=50).tolist()
    features = _features(lengths)
    texts = pack_texts(np.asarray(lengths), max_length=256)
    assert texts.row_length == PACKED_ROW_TOKENS and texts.slots & (texts.slots - 1) == 0
    assert len(texts) < sum(lengths) / PACKED_ROW_TOKENS + 2  # best fit leaves little room
    rows = np.asarray([*range(len(texts)), -1])  # an empty row pads the batch
    batch, slots = packed_batch(features, 0, texts, rows)
    assert sorted(slots[slots >= 0].tolist()) == list(range(len(lengths)))
    assert np.all(slots[-1] == -1) and np.all(batch["input_ids"][-1] == 0) and np.all(batch["sequence_ids"][-1] == 0)
    for row, slot in zip(*np.nonzero(slots >= 0)):
        text, start = slots[row, slot], batch["starts"][row, slot]
        tokens = slice(start, start + lengths[text])
        np.testing.assert_array_equal(batch["input_ids"][row, tokens], features["input_ids"][text])
        np.testing.assert_array_equal(batch["token_type_ids"][row, tokens], features["token_type_ids"][text])
        np.testing.assert_array_equal(batch["position_ids"][row, tokens], np.arange(lengths[text]))
        assert np.all(batch["sequence_ids"][row, tokens] == slot + 1)
    real = batch["sequence_ids"] > 0
    assert real.sum() == sum(lengths) and np.all(batch["input_ids"][~real] == 0)


def test_texts_attend_to_themselves_and_slots_select_their_tokens() -> None:
    features = _features([3, 2])
    batch, _ = packed_batch(features, 0, pack_texts(np.asarray([3, 2]), max_length=8), np.asarray([0]))
    assert batch["input_ids"].shape == (1, 8)  # a row no longer than the model
    _, mask, _, positions = encoder_inputs(batch)
    sequence = np.asarray(batch["sequence_ids"][0])  # [1 1 1 2 2 0 0 0]
    np.testing.assert_array_equal(np.asarray(mask[0]), sequence[:, None] == sequence[None, :])
    np.testing.assert_array_equal(np.asarray(positions[0]), [0, 1, 2, 0, 1, 0, 0, 0])
    hidden = np.arange(8, dtype=np.float32)[None, :, None]  # each token's state: its column
    means = np.asarray(attended_mean(hidden, mask, batch["starts"]))  # each text pooled over its own tokens
    np.testing.assert_array_equal(means[0, :, 0], [1.0, 3.5])


def test_rows_grow_to_the_bucket_of_a_longer_text() -> None:
    texts = pack_texts(np.asarray([150, 20, 20]), max_length=256)
    assert texts.row_length == 192  # the bucket of 150 (multiples of 64 past 128)
    assert pack_texts(np.asarray([10]), max_length=64).row_length == 64
