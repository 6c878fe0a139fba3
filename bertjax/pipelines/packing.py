"""Prediction on texts packed several to a row: texts share rows of one length, each attending only to itself with
positions of its own (as pretraining packs sequences, `bertjax.data.pretraining.packing`), so few tokens are padding
and one program serves a whole call. A packed text is computed as it would be alone in a row, to float32 rounding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import jax
import numpy as np

from bertjax.data.batching import fine_bucket_lengths
from bertjax.data.pretraining.packing import Packs, pack_sequences, row_layout
from bertjax.model import packed_attention_mask

# Rows hold 128 tokens unless a text is longer: attention over 128 keys adds about 6% to MiniLM's work per token,
# where padding short texts to their bucket added 30% or more.
PACKED_ROW_TOKENS = 128
# A batch of `batch_size` texts becomes batch_size * 32 tokens of packed rows: 8 rows of 128 at the default 32.
# The benchmark's 1,000 texts took 11.3 s so, 12.2 s in 16 rows and 12.6 s in 4 (2-core AMD EPYC, AVX2).
TOKENS_PER_ROW_OF_A_BATCH = 32


@dataclasses.dataclass(frozen=True)
class PackedTexts:
    """Texts of `lengths` tokens in rows of `row_length`, at most `slots` (a power of two) in a row."""

    packs: Packs
    lengths: np.ndarray  # [texts]
    row_length: int
    slots: int

    def __len__(self) -> int:
        return len(self.packs)


def pack_texts(lengths: np.ndarray, max_length: int) -> PackedTexts:
    """Texts of `lengths` tokens (each at most `max_length`) packed best-fit decreasing into rows of 128 tokens, or
    of the bucket length (`fine_bucket_lengths`) of the longest text where that is longer."""
    buckets = np.asarray(fine_bucket_lengths(max_length))
    row_length = int(min(max_length, max(PACKED_ROW_TOKENS, buckets[np.searchsorted(buckets, lengths.max())])))
    packs = pack_sequences(lengths, np.zeros_like(lengths), row_length, 0, row_length)
    most = max(len(packs.row(row)) for row in range(len(packs)))
    return PackedTexts(packs, lengths, row_length, 1 << (most - 1).bit_length())


def packed_batch(features: Mapping[str, Sequence[np.ndarray]], pad_token_id: int, texts: PackedTexts,
                 rows: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The packed rows `rows` (-1: an empty row) as arrays, and the text in each slot of each row (-1: none).

    features: per-text `input_ids` and `token_type_ids` [tokens]. The arrays: `input_ids`, `token_type_ids`,
    `position_ids` (each text's own positions) and `sequence_ids` (1, 2, ... for a row's texts, 0 for padding), all
    int32 [rows, row_length], and `starts` int32 [rows, slots], the column of each text's first token.
    """
    slots = texts.packs.slots(rows, texts.slots)  # [rows, slots]
    lengths = np.where(slots >= 0, texts.lengths[np.maximum(slots, 0)], 0)
    layout = row_layout(lengths, texts.row_length)
    input_ids = np.full((len(rows), texts.row_length), pad_token_id, np.int32)
    token_type_ids = np.zeros((len(rows), texts.row_length), np.int32)
    for row, slot in zip(*np.nonzero(slots >= 0)):
        text, start = slots[row, slot], layout.starts[row, slot]
        input_ids[row, start:start + lengths[row, slot]] = features["input_ids"][text]
        token_type_ids[row, start:start + lengths[row, slot]] = features["token_type_ids"][text]
    batch = {"input_ids": input_ids, "token_type_ids": token_type_ids,
             "position_ids": layout.positions.astype(np.int32), "sequence_ids": layout.slots.astype(np.int32),
             "starts": layout.starts.astype(np.int32)}
    return batch, slots


def encoder_inputs(batch: Mapping[str, jax.Array]) -> tuple[jax.Array, ...]:
    """`BertModel`'s (input_ids, attention_mask, token_type_ids, position_ids) for packed rows: each text attends
    to itself ([rows, row_length, row_length] mask)."""
    return (batch["input_ids"], packed_attention_mask(batch["sequence_ids"]), batch["token_type_ids"],
            batch["position_ids"])
