"""Length-bucketed batches of per-example features, for training (shuffled, resumable) and evaluation (padded).

Features are a dict of per-example arrays: `features[key][i]` is example i's array for `key` (a list of arrays,
or one stacked array). Keys named in `padding` have a sequence as their last axis, of the example's own length
(`input_ids` [seq], or [choices, seq] for multiple choice); they are padded to a bucket length with that key's pad
value. The other keys (`labels` [], `start_positions` [], ...) have the same shape in every example and are stacked
as they are. Bookkeeping that must not go to the device (word ids, offsets) stays outside the features.

Every batch is padded to one of a few bucket lengths, so a jitted step compiles once per bucket, not per batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

import numpy as np

from bertjax.errors import ConfigError, DataError

Features = Mapping[str, Sequence[np.ndarray]]
Batch = dict[str, np.ndarray]
T = TypeVar("T")


def bucket_lengths(max_seq_length: int, smallest: int = 16) -> tuple[int, ...]:
    """Powers of two from `smallest` below `max_seq_length`, then `max_seq_length`: 16, 32, 64, 128 for 128."""
    lengths = []
    length = smallest
    while length < max_seq_length:
        lengths.append(length)
        length *= 2
    return (*lengths, max_seq_length)


def fine_bucket_lengths(max_seq_length: int, step: int = 16, coarse_from: int = 128, coarse_step: int = 64
                        ) -> tuple[int, ...]:
    """Multiples of `step` up to `coarse_from`, then of `coarse_step` below `max_seq_length`, then
    `max_seq_length`: 16, 32, 48, ..., 128, 192, 256 for 256. Prediction pads each batch only to the next of
    these (a mean of 8 tokens up to 128, where power-of-two buckets padded texts of 45 tokens to 64), for 14
    programs at 512."""
    lengths = [*range(step, coarse_from + 1, step), *range(coarse_from + coarse_step, max_seq_length, coarse_step)]
    return (*[length for length in lengths if length < max_seq_length], max_seq_length)


def padding_values(pad_token_id: int, token_labels: bool = False) -> dict[str, int]:
    """Pad values of the sequence keys of text features; `labels` too when they are per token (-100: ignored)."""
    values = {"input_ids": pad_token_id, "token_type_ids": 0, "attention_mask": 0}
    if token_labels:
        values["labels"] = -100
    return values


class BucketedDataset:
    """Batches of one split's features, each padded to the smallest bucket that fits its longest example.

    Training: `train_batch(step, ...)` is a pure function of (seed, step): epoch = step // batches_per_epoch; the
    epoch's examples are shuffled, cut into chunks of `chunk_batches` batches, sorted by bucket within a chunk (so a
    batch's examples share a bucket, but for at most one batch per bucket boundary), batched, and the batch order
    shuffled. The last partial batch of an epoch is dropped (which examples is random).
    Evaluation: `eval_batches` gives every example once, longest first when `sort_eval_by_length` (then
    `in_input_order` puts the outputs back in file order), the last batch padded with rows whose `example_mask` is 0.
    Multi-host: process h of H gets the contiguous rows [h*B/H, (h+1)*B/H) of each global batch of B.
    """

    def __init__(self, features: Features, padding: Mapping[str, int | float], buckets: Sequence[int],
                 seed: int = 0, chunk_batches: int = 50, sort_eval_by_length: bool = True) -> None:
        if not features:
            raise DataError("no features to batch")
        sequence_keys = [key for key in features if key in padding]
        if not sequence_keys:
            raise ConfigError(f"none of the feature keys {sorted(features)} has a pad value; name the sequence keys "
                              f"in `padding`")
        self.features = features
        self.padding = dict(padding)
        self.buckets = np.asarray(sorted(set(buckets)), np.int64)
        self.seed = seed
        self.chunk_batches = chunk_batches
        self.num_examples = len(features[sequence_keys[0]])
        self.lengths = self._sequence_lengths(sequence_keys)  # [examples]
        self.bucket_of_example = np.searchsorted(self.buckets, self.lengths)  # [examples] index into buckets
        # Longest first: the last batch, whose filler rows are padded as long as its longest example, then holds
        # the shortest examples.
        self.eval_order = np.argsort(-self.lengths, kind="stable") if sort_eval_by_length else \
            np.arange(self.num_examples)
        self._epoch_cache: tuple[int, int, list[np.ndarray]] | None = None

    def _sequence_lengths(self, sequence_keys: list[str]) -> np.ndarray:
        lengths = np.asarray([np.shape(array)[-1] for array in self.features[sequence_keys[0]]], np.int64)
        for key, values in self.features.items():
            if len(values) != self.num_examples:
                raise DataError(f"feature {key!r} has {len(values)} examples, {sequence_keys[0]!r} has "
                                f"{self.num_examples}")
            if key in self.padding and any(np.shape(array)[-1] != length for array, length in zip(values, lengths)):
                raise DataError(f"feature {key!r} has a different sequence length than {sequence_keys[0]!r} in some "
                                f"example; sequence keys must align token by token")
        if self.num_examples and lengths.max() > self.buckets[-1]:
            index = int(lengths.argmax())
            raise DataError(f"example {index} has {lengths[index]} tokens, more than the largest bucket "
                            f"({self.buckets[-1]}); truncate the features to max_seq_length")
        return lengths

    def batches_per_epoch(self, batch_size: int) -> int:
        return self.num_examples // batch_size

    def check_batch_size(self, batch_size: int, process_count: int = 1) -> None:
        """A training batch needs at least `batch_size` examples and must split evenly over processes."""
        if batch_size % process_count:
            raise ConfigError(f"batch_size={batch_size} is not divisible by the {process_count} processes")
        if self.batches_per_epoch(batch_size) == 0:
            raise ConfigError(f"batch_size={batch_size} is larger than the {self.num_examples} training examples; "
                              f"use a smaller batch size")

    def _epoch_batches(self, epoch: int, batch_size: int) -> list[np.ndarray]:
        if self._epoch_cache is not None and self._epoch_cache[:2] == (epoch, batch_size):
            return self._epoch_cache[2]
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.num_examples)[:self.batches_per_epoch(batch_size) * batch_size]
        chunk_size = self.chunk_batches * batch_size
        batches = []
        for start in range(0, len(order), chunk_size):
            chunk = order[start:start + chunk_size]
            chunk = chunk[np.argsort(self.bucket_of_example[chunk], kind="stable")]
            batches.extend(np.split(chunk, len(chunk) // batch_size))
        batches = [batches[index] for index in rng.permutation(len(batches))]
        self._epoch_cache = (epoch, batch_size, batches)
        return batches

    def train_batch(self, step: int, batch_size: int, process_index: int = 0, process_count: int = 1) -> Batch:
        """This process's rows of global training batch `step` (any step: epochs follow one another)."""
        self.check_batch_size(batch_size, process_count)
        epoch, index = divmod(step, self.batches_per_epoch(batch_size))
        rows = self._epoch_batches(epoch, batch_size)[index]
        return self._pad(_host_rows(rows, process_index, process_count), self._bucket(rows))

    def eval_batches(self, batch_size: int, process_index: int = 0, process_count: int = 1) -> Iterator[Batch]:
        """This process's rows of each evaluation batch, every example once, with `example_mask` float32 [rows]."""
        if batch_size % process_count:
            raise ConfigError(f"batch_size={batch_size} is not divisible by the {process_count} processes")
        for start in range(0, self.num_examples, batch_size):
            real = self.eval_order[start:start + batch_size]
            rows = np.concatenate([real, np.full(batch_size - len(real), -1)])  # -1: a padding row
            host = _host_rows(rows, process_index, process_count)
            batch = self._pad(host, self._bucket(real))
            batch["example_mask"] = (host >= 0).astype(np.float32)
            yield batch

    def in_input_order(self, values: Sequence[T]) -> list[T]:
        """Per-example outputs of `eval_batches`' real rows, in batch order -> the same in input order."""
        ordered = list(values)
        for position, example in enumerate(self.eval_order):
            ordered[example] = values[position]
        return ordered

    def _bucket(self, rows: np.ndarray) -> int:
        return int(self.buckets[self.bucket_of_example[rows].max()])

    def _pad(self, rows: np.ndarray, length: int) -> Batch:
        """Stacks the examples `rows` (-1: a padding row), sequence keys padded to `length`."""
        batch = {}
        for key, values in self.features.items():
            template = np.asarray(values[0])
            if key in self.padding:
                shape = (len(rows), *template.shape[:-1], length)
                array = np.full(shape, self.padding[key], template.dtype)
                for position, row in enumerate(rows):
                    if row >= 0:
                        example = values[row]
                        array[position, ..., :np.shape(example)[-1]] = example
            else:
                array = np.zeros((len(rows), *template.shape), template.dtype)
                real = rows >= 0
                if real.any():
                    array[real] = np.stack([values[row] for row in rows[real]])
            batch[key] = array
        return batch


def _host_rows(rows: np.ndarray, process_index: int, process_count: int) -> np.ndarray:
    per_process = len(rows) // process_count
    return rows[process_index * per_process:(process_index + 1) * per_process]
