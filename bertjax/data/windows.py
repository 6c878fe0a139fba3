"""Texts longer than a model, read as overlapping windows: the tokenizer cuts each text into windows of at most
`max_length` tokens, consecutive windows of a text sharing `stride` tokens (Hugging Face's overflowing tokens, as
question answering windows its contexts); per-window outputs come back together per text, as a mean over its windows
or token by token from the window where each token has the most context (BERT's rule for SQuAD's windows)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bertjax.errors import ConfigError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

TEXT_KEYS = ("input_ids", "token_type_ids", "attention_mask")


def window_stride(max_length: int, stride: int | None = None, truncation: bool = False) -> int | None:
    """The stride for a reader's options: `stride`, by default a quarter of the window (128 of 512, 32 of 128);
    None with `truncation` (one window per text, cut)."""
    if truncation:
        return None
    return max_length // 4 if stride is None else stride


def check_stride(tokenizer: PreTrainedTokenizerBase, max_length: int, stride: int | None) -> None:
    """A stride leaves each window of a single text at least one token of its own."""
    window_tokens = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if stride is not None and not 0 <= stride < window_tokens:
        raise ConfigError(f"stride ({stride}) must be at least 0 and below the {window_tokens} text tokens a window "
                          f"of {max_length} holds; lower the stride or raise max_seq_length")


@dataclasses.dataclass(frozen=True)
class Windows:
    """Texts tokenized into windows, a row per window in text order.

    encoding: the tokenizer's output, a row per window (`word_ids(row)`, `sequence_ids(row)`, `tokens(row)`, and
      `offset_mapping` when asked for).
    features: `input_ids`, `token_type_ids`, `attention_mask`, [tokens] int32 per window.
    text_index: [windows] the text each window holds part of.
    stride: tokens consecutive windows of a text share; None: one window per text, cut to `max_length`.
    sequence: which sequence of a window is cut into windows (0, or 1 for the second of pairs).
    """

    encoding: Any
    features: dict[str, list[np.ndarray]]
    text_index: np.ndarray
    stride: int | None
    sequence: int = 0

    def __len__(self) -> int:
        return len(self.text_index)

    @property
    def num_texts(self) -> int:
        return int(self.text_index[-1]) + 1 if len(self.text_index) else 0

    def rows_of(self, text: int) -> range:
        """The rows of a text's windows (consecutive)."""
        return range(int(np.searchsorted(self.text_index, text)), int(np.searchsorted(self.text_index, text, "right")))

    def mean_over_windows(self, values: Sequence[np.ndarray]) -> np.ndarray:
        """Per-window values (e.g. [windows, labels] probabilities) -> their mean over each text's windows."""
        stacked = np.stack([np.asarray(value, np.float64) for value in values])  # [windows, ...]
        sums = np.zeros((self.num_texts, *stacked.shape[1:]), np.float64)
        np.add.at(sums, self.text_index, stacked)
        counts = np.bincount(self.text_index, minlength=self.num_texts)
        return sums / counts.reshape(-1, *([1] * (stacked.ndim - 1)))

    def _content_positions(self, row: int) -> np.ndarray:
        """Positions in window `row` of the windowed sequence's tokens (special tokens and a pair's other text left
        out)."""
        return np.asarray([position for position, sequence in enumerate(self.encoding.sequence_ids(row))
                           if sequence == self.sequence], np.int64)

    def max_context(self, text: int) -> tuple[np.ndarray, np.ndarray]:
        """For each token of a text's windowed sequence, in order: the window row and the position in it where the
        token has the most context, the larger of the fewest tokens on either side within the window (the earlier
        window on a tie). Returns (rows [tokens], positions [tokens])."""
        spans, start = [], 0
        for row in self.rows_of(text):
            positions = self._content_positions(row)
            spans.append((row, start, positions))
            start += len(positions) - (self.stride or 0)
        total = spans[-1][1] + len(spans[-1][2])
        rows, positions, best = np.zeros(total, np.int64), np.zeros(total, np.int64), np.full(total, -1)
        for row, start, window_positions in spans:
            local = np.arange(len(window_positions))
            context = np.minimum(local, len(window_positions) - 1 - local)
            covered = slice(start, start + len(window_positions))
            better = context > best[covered]
            best[covered] = np.where(better, context, best[covered])
            rows[covered] = np.where(better, row, rows[covered])
            positions[covered] = np.where(better, window_positions, positions[covered])
        return rows, positions

    def stitch(self, values: Sequence[Sequence[Any]], text: int) -> list[Any]:
        """Per-window sequences (logits [tokens, labels], word ids, offsets, ...) -> one entry per token of the
        text's windowed sequence, each from its window of most context (`max_context`)."""
        return [values[row][position] for row, position in zip(*self.max_context(text))]


def tokenize_windows(tokenizer: PreTrainedTokenizerBase, texts: Sequence[Any], max_length: int,
                     stride: int | None, pairs: Sequence[str] | None = None, **options: Any) -> Windows:
    """Each text as windows of at most `max_length` tokens, consecutive ones sharing `stride` tokens; with `pairs`
    the first text stays whole in every window and the second is windowed (question answering's contexts).

    stride None: one window per text, cut to `max_length` (a pair's longer text first). options go to the tokenizer
    (`is_split_into_words`, `return_offsets_mapping`).
    """
    if pairs is None:
        check_stride(tokenizer, max_length, stride)
    truncation = "longest_first" if stride is None else ("only_second" if pairs is not None else True)
    windowed = {} if stride is None else {"stride": stride, "return_overflowing_tokens": True}
    encoding = tokenizer(list(texts), None if pairs is None else list(pairs), truncation=truncation,
                         max_length=max_length, return_token_type_ids=True, return_attention_mask=True,
                         **windowed, **options)
    features = {key: [np.asarray(values, np.int32) for values in encoding[key]] for key in TEXT_KEYS}
    text_index = np.asarray(encoding["overflow_to_sample_mapping"] if stride is not None else range(len(texts)),
                            np.int64)
    return Windows(encoding, features, text_index, stride, sequence=0 if pairs is None else 1)
