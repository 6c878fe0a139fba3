"""Sequence packing: several short pretraining sequences share one row, so fewer tokens are padding.

Rows are filled best-fit decreasing: sequences from the longest down, each into the open row with the least room
that still takes it (its tokens within `max_seq_length`, its largest possible number of masked predictions within
`max_predictions_per_seq`, at most `max_sequences_per_pack` sequences), else into a new row. The result depends on
the lengths alone, so it is the same on every run and every process. Attention stays within each sequence
(`packed_attention_mask`) and positions restart at each sequence, so a packed sequence is computed exactly as it
would be alone in a row.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Packs:
    """Rows of sequences, as offsets into a flat list of sequence indices (a row is `members[offsets[r]:offsets[r+1]]`)."""

    offsets: np.ndarray  # int64 [rows + 1]
    members: np.ndarray  # int64 [sequences]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, index: int) -> np.ndarray:
        return self.members[self.offsets[index]:self.offsets[index + 1]]

    def slots(self, rows: np.ndarray, width: int) -> np.ndarray:
        """The sequences of rows `rows` (-1: an empty row), padded with -1 to `width`: int64 [rows, width]."""
        real = rows >= 0
        starts = self.offsets[np.where(real, rows, 0)]
        counts = np.where(real, self.offsets[np.where(real, rows, 0) + 1] - starts, 0)
        column = np.arange(width)
        members = self.members[np.minimum(starts[:, None] + column, max(len(self.members) - 1, 0))]
        return np.where(column < counts[:, None], members, -1)

    @classmethod
    def one_per_row(cls, count: int) -> Packs:
        return cls(np.arange(count + 1, dtype=np.int64), np.arange(count, dtype=np.int64))

    @classmethod
    def from_rows(cls, rows: list[list[int]]) -> Packs:
        sizes = np.asarray([len(row) for row in rows], np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        members = np.asarray([index for row in rows for index in row], np.int64)
        return cls(offsets, members)


@dataclasses.dataclass(frozen=True)
class RowLayout:
    """Where the sequences of a batch of rows lie, each row's sequences one after another from column 0."""

    starts: np.ndarray  # int64 [rows, sequences per row]: the first column of each sequence (its [CLS])
    slots: np.ndarray  # int64 [rows, seq]: 1, 2, ... for the row's sequences, 0 for padding
    positions: np.ndarray  # int64 [rows, seq]: each token's position in its own sequence, 0 for padding


def row_layout(lengths: np.ndarray, max_seq_length: int) -> RowLayout:
    """The layout of rows holding sequences of `lengths` int [rows, sequences per row] (0: no sequence)."""
    ends = np.cumsum(lengths, axis=1)
    starts = ends - lengths
    columns = np.arange(max_seq_length)
    inside = columns < ends[:, -1:]
    # The sequence of each column: how many sequences end at or before it (below the row's count inside it).
    in_row = np.minimum((columns[None, :, None] >= ends[:, None, :]).sum(axis=2), lengths.shape[1] - 1)
    positions = np.where(inside, columns - np.take_along_axis(starts, in_row, axis=1), 0)
    return RowLayout(starts, np.where(inside, in_row + 1, 0), positions)


def pack_sequences(lengths: np.ndarray, predictions: np.ndarray, max_seq_length: int, max_predictions_per_seq: int,
                   max_sequences_per_pack: int) -> Packs:
    """Packs sequences of `lengths` tokens that mask at most `predictions` tokens each (both int [sequences]).

    Rows come out in the order they were opened (longest first sequence first); members in the order added.
    """
    if len(lengths) and (lengths.max() > max_seq_length or predictions.max() > max_predictions_per_seq):
        raise ValueError("a sequence is longer than a row or masks more tokens than a row predicts")
    rows: list[list[int]] = []
    room = []  # tokens left in each row
    predicted = []  # predictions already taken in each row
    # open_rows[r]: rows (still taking sequences) with exactly r tokens of room; counts mirrors their sizes.
    open_rows: list[list[int]] = [[] for _ in range(max_seq_length + 1)]
    counts = np.zeros(max_seq_length + 1, np.int64)
    order = np.lexsort((np.arange(len(lengths)), -lengths))  # longest first, ties in index order
    for index in order.tolist():
        length, needed = int(lengths[index]), int(predictions[index])
        target = None
        for capacity in (np.flatnonzero(counts[length:]) + length).tolist():
            bucket = open_rows[capacity]
            position = next((position for position in range(len(bucket) - 1, -1, -1)
                             if predicted[bucket[position]] + needed <= max_predictions_per_seq), None)
            if position is not None:
                target = bucket.pop(position)
                counts[capacity] -= 1
                break
        if target is None:
            target = len(rows)
            rows.append([])
            room.append(max_seq_length)
            predicted.append(0)
        rows[target].append(index)
        room[target] -= length
        predicted[target] += needed
        if len(rows[target]) < max_sequences_per_pack and room[target] > 0:
            open_rows[room[target]].append(target)
            counts[room[target]] += 1
    return Packs.from_rows(rows)
