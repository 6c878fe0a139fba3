"""Length-bucketed batches: bucket lengths only, every example once, deterministic, resumable, host rows, eval
padding."""

from __future__ import annotations

import numpy as np
import pytest

from bertjax.data.batching import BucketedDataset, bucket_lengths, fine_bucket_lengths, padding_values
from bertjax.errors import ConfigError, DataError

PAD = 7
BUCKETS = (16, 32, 64, 100)


def token_features(count: int, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Example i has a random length; its input_ids are all i + 100, so a row tells which example it is."""
    lengths = np.random.default_rng(seed).integers(1, 101, count)
    return {
        "input_ids": [np.full(length, index + 100, np.int32) for index, length in enumerate(lengths)],
        "token_type_ids": [np.ones(length, np.int32) for length in lengths],
        "attention_mask": [np.ones(length, np.int32) for length in lengths],
        "labels": [np.arange(length, dtype=np.int32) for length in lengths],
    }


def dataset(count: int = 103, seed: int = 0, chunk_batches: int = 3, **options) -> BucketedDataset:
    return BucketedDataset(token_features(count), padding_values(PAD, token_labels=True), BUCKETS, seed=seed,
                           chunk_batches=chunk_batches, **options)


def example_ids(batch: dict[str, np.ndarray]) -> np.ndarray:
    return batch["input_ids"][:, 0] - 100


def test_bucket_lengths():
    assert bucket_lengths(128) == (16, 32, 64, 128)
    assert bucket_lengths(100) == (16, 32, 64, 100)
    assert bucket_lengths(512, smallest=64) == (64, 128, 256, 512)
    assert bucket_lengths(8) == (8,)


def test_fine_bucket_lengths():
    assert fine_bucket_lengths(128) == (16, 32, 48, 64, 80, 96, 112, 128)
    assert fine_bucket_lengths(512) == (16, 32, 48, 64, 80, 96, 112, 128, 192, 256, 320, 384, 448, 512)
    assert fine_bucket_lengths(100) == (16, 32, 48, 64, 80, 96, 100)
    assert fine_bucket_lengths(130) == (16, 32, 48, 64, 80, 96, 112, 128, 130)
    assert fine_bucket_lengths(8) == (8,)


def test_padding_values():
    assert padding_values(0) == {"input_ids": 0, "token_type_ids": 0, "attention_mask": 0}
    assert padding_values(1, token_labels=True)["labels"] == -100


def test_batches_use_the_smallest_bucket_and_pad_with_the_pad_values():
    data = dataset()
    lengths = data.lengths
    for step in range(data.batches_per_epoch(8)):
        batch = data.train_batch(step, 8)
        ids = example_ids(batch)
        length = batch["input_ids"].shape[1]
        assert length == min(bucket for bucket in BUCKETS if bucket >= lengths[ids].max())
        assert {key: (value.shape, value.dtype) for key, value in batch.items()} == {
            key: ((8, length), np.dtype(np.int32)) for key in ("input_ids", "token_type_ids", "attention_mask",
                                                              "labels")}
        for row, example in enumerate(ids):
            real = lengths[example]
            assert np.all(batch["input_ids"][row, real:] == PAD) and np.all(batch["input_ids"][row, :real] == example
                                                                            + 100)
            assert batch["attention_mask"][row].sum() == real and np.all(batch["token_type_ids"][row, real:] == 0)
            np.testing.assert_array_equal(batch["labels"][row], np.r_[np.arange(real), np.full(length - real, -100)])


def test_every_example_once_per_epoch():
    data = dataset(count=96)
    assert data.batches_per_epoch(8) == 12
    for epoch in range(2):
        seen = np.concatenate([example_ids(data.train_batch(epoch * 12 + step, 8)) for step in range(12)])
        assert sorted(seen) == list(range(96))


def test_last_partial_batch_is_dropped_and_differs_by_epoch():
    data = dataset(count=103)
    epochs = [np.concatenate([example_ids(data.train_batch(epoch * 12 + step, 8)) for step in range(12)])
              for epoch in range(2)]
    for seen in epochs:
        assert len(seen) == 96 and len(set(seen)) == 96
    assert not np.array_equal(epochs[0], epochs[1])


def test_batches_mostly_share_a_bucket():
    """Within a chunk only the batch at each bucket boundary can mix buckets; random batches of 8 nearly all would."""
    data = dataset(count=800, chunk_batches=50)
    buckets = np.searchsorted(BUCKETS, data.lengths)
    assert data.batches_per_epoch(8) == 100
    mixed = sum(len(set(buckets[example_ids(data.train_batch(step, 8))])) > 1 for step in range(100))
    assert mixed <= 2 * (len(BUCKETS) - 1)


def test_deterministic_for_the_seed_and_resumable():
    first, again, other = dataset(seed=3), dataset(seed=3), dataset(seed=4)
    sequence = [example_ids(first.train_batch(step, 8)) for step in range(30)]
    resumed = [example_ids(again.train_batch(step, 8)) for step in range(17, 30)]
    for expected, actual in zip(sequence[17:], resumed):
        np.testing.assert_array_equal(expected, actual)
    assert any(not np.array_equal(ids, example_ids(other.train_batch(step, 8))) for step, ids in enumerate(sequence))


def test_host_rows_make_up_the_global_batch():
    data = dataset()
    for step in (0, 5, 13):
        whole = data.train_batch(step, 8)
        parts = [data.train_batch(step, 8, process_index=host, process_count=2) for host in range(2)]
        for key in whole:
            np.testing.assert_array_equal(np.concatenate([part[key] for part in parts]), whole[key])


def test_eval_batches_cover_every_example_once_with_padding_rows_masked():
    data = dataset(count=21)
    batches = list(data.eval_batches(8))
    assert len(batches) == 3 and all(batch["input_ids"].shape[0] == 8 for batch in batches)
    masks = np.concatenate([batch["example_mask"] for batch in batches])
    np.testing.assert_array_equal(masks, np.r_[np.ones(21), np.zeros(3)])
    assert batches[0]["example_mask"].dtype == np.float32
    last = batches[-1]
    assert np.all(last["input_ids"][5:] == PAD) and np.all(last["attention_mask"][5:] == 0)
    assert np.all(last["labels"][5:] == -100)
    real_ids = np.concatenate([example_ids(batch)[batch["example_mask"] > 0] for batch in batches])
    np.testing.assert_array_equal(data.in_input_order(list(real_ids)), np.arange(21))
    # Longest first, so batches need small buckets, and the last one's filler rows are as short as its five
    # shortest examples' bucket.
    assert np.all(np.diff(data.lengths[real_ids]) <= 0)
    assert last["input_ids"].shape[1] == data.buckets[np.searchsorted(data.buckets, np.sort(data.lengths)[4])]


def test_eval_in_file_order_and_split_over_hosts():
    data = dataset(count=21, sort_eval_by_length=False)
    whole = list(data.eval_batches(8))
    ids = np.concatenate([example_ids(batch)[batch["example_mask"] > 0] for batch in whole])
    np.testing.assert_array_equal(ids, np.arange(21))
    parts = [list(data.eval_batches(8, process_index=host, process_count=2)) for host in range(2)]
    for index, batch in enumerate(whole):
        for key in batch:
            np.testing.assert_array_equal(np.concatenate([parts[0][index][key], parts[1][index][key]]), batch[key])
    assert parts[1][-1]["example_mask"].tolist() == [1, 0, 0, 0]


def test_choices_axis_and_fixed_keys():
    """Multiple choice: [choices, seq] per example padded on the last axis; scalar labels stacked as they are."""
    lengths = [5, 20, 9, 3]
    features = {"input_ids": [np.full((2, length), index + 1, np.int32) for index, length in enumerate(lengths)],
                "attention_mask": [np.ones((2, length), np.int32) for length in lengths],
                "labels": np.asarray([1, 0, 1, 1], np.int32)}
    data = BucketedDataset(features, {"input_ids": 0, "attention_mask": 0}, (8, 32), sort_eval_by_length=False)
    batch = data.train_batch(0, 4)
    assert batch["input_ids"].shape == (4, 2, 32) and batch["labels"].dtype == np.int32
    order = batch["input_ids"][:, 0, 0] - 1
    np.testing.assert_array_equal(batch["labels"], features["labels"][order])
    np.testing.assert_array_equal(batch["attention_mask"].sum(axis=(1, 2)), 2 * np.asarray(lengths)[order])
    (padded,) = data.eval_batches(6)
    assert padded["input_ids"].shape == (6, 2, 32)
    np.testing.assert_array_equal(padded["labels"], [1, 0, 1, 1, 0, 0])


def test_errors():
    with pytest.raises(DataError, match="more than the largest bucket"):
        BucketedDataset({"input_ids": [np.ones(40, np.int32)]}, {"input_ids": 0}, (16, 32))
    with pytest.raises(DataError, match="different sequence length"):
        BucketedDataset({"input_ids": [np.ones(4)], "attention_mask": [np.ones(5)]},
                        {"input_ids": 0, "attention_mask": 0}, (16,))
    with pytest.raises(ConfigError, match="larger than the 103 training examples"):
        dataset().train_batch(0, 128)
    with pytest.raises(ConfigError, match="not divisible by the 3 processes"):
        dataset().train_batch(0, 8, process_index=0, process_count=3)
