"""Extractive question answering features: question and context tokenized into overlapping windows of the context,
with the answer's token span for training and the context offsets that map predicted spans back to the text."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bertjax.data.finetuning.squad import SquadExample
from bertjax.data.windows import TEXT_KEYS, tokenize_windows
from bertjax.errors import ConfigError, DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

CLS_INDEX = 0  # the span label of a window without the answer, and where the no-answer score is read
TOKENIZE_CHUNK = 1000  # examples per tokenizer call: bounds the memory of the overflowing encodings

Offsets = tuple[int, int] | None  # a context token's [start, end) characters in the context; None: not context


@dataclasses.dataclass(frozen=True)
class QuestionAnsweringFeatures:
    """One window per feature: unpadded token features for `BucketedDataset` and what maps them back.

    features: `input_ids`, `token_type_ids`, `attention_mask` ([tokens] int32 each); when training also
      `start_positions`, `end_positions` ([features] int32: the answer's first and last token, or 0 ([CLS]) when the
      window does not hold the whole answer or the question has none).
    example_ids: [features] the question id each window belongs to.
    offset_mapping: per feature, [tokens] character offsets into the context for context tokens, None elsewhere.
    """

    features: dict[str, Any]
    example_ids: list[str]
    offset_mapping: list[list[Offsets]]

    def __len__(self) -> int:
        return len(self.example_ids)


def _truncated_questions(questions: list[str], tokenizer: PreTrainedTokenizerBase, max_query_length: int
                         ) -> list[str]:
    """Each question cut after its `max_query_length`-th token (cut in characters, so it re-tokenizes the same)."""
    offsets = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return [question if len(spans) <= max_query_length else question[:spans[max_query_length - 1][1]]
            for question, spans in zip(questions, offsets)]


def _answer_tokens(example: SquadExample, offsets: list[Offsets]) -> tuple[int, int]:
    """First and last token of the example's first answer in this window; (0, 0) when the window lacks it."""
    if example.is_impossible:
        return CLS_INDEX, CLS_INDEX
    answer = example.answers[0]
    start_char, end_char = answer.answer_start, answer.answer_start + len(answer.text)
    context_tokens = [index for index, span in enumerate(offsets) if span is not None]
    if not context_tokens or offsets[context_tokens[0]][0] > start_char or offsets[context_tokens[-1]][1] < end_char:
        return CLS_INDEX, CLS_INDEX
    # The answer may begin or end inside a token (e.g. "1990s" answered by "1990"): take the token holding it.
    start = max(index for index in context_tokens if offsets[index][0] <= start_char)
    end = min(index for index in context_tokens if offsets[index][1] >= end_char)
    return start, end


def _encode_chunk(examples: Sequence[SquadExample], tokenizer: PreTrainedTokenizerBase, max_seq_length: int,
                  doc_stride: int, max_query_length: int, training: bool, into: dict[str, list[Any]]) -> None:
    questions = _truncated_questions([example.question for example in examples], tokenizer, max_query_length)
    windows = tokenize_windows(tokenizer, questions, max_seq_length, doc_stride,
                               pairs=[example.context for example in examples], return_offsets_mapping=True)
    for feature, example_index in enumerate(windows.text_index):
        example = examples[example_index]
        offsets = [tuple(span) if sequence == 1 else None for span, sequence in
                   zip(windows.encoding["offset_mapping"][feature], windows.encoding.sequence_ids(feature))]
        for key in TEXT_KEYS:
            into[key].append(windows.features[key][feature])
        into["example_ids"].append(example.id)
        into["offset_mapping"].append(offsets)
        if training:
            start, end = _answer_tokens(example, offsets)
            into["start_positions"].append(start)
            into["end_positions"].append(end)


def prepare_qa_features(examples: Sequence[SquadExample], tokenizer: PreTrainedTokenizerBase,
                        max_seq_length: int = 384, doc_stride: int = 128, max_query_length: int = 64,
                        training: bool = True) -> QuestionAnsweringFeatures:
    """[CLS] question [SEP] context window [SEP] for every window of every example, in example order.

    doc_stride: tokens of context shared by consecutive windows (Hugging Face's `stride`); a window holds
      max_seq_length - question tokens - 3 context tokens.
    max_query_length: questions are cut to this many tokens.
    training: add `start_positions`/`end_positions` from each example's first answer; every example needs an
      answer or `is_impossible`.
    """
    if max_query_length < 1:
        raise ConfigError(f"max_query_length must be at least 1, got {max_query_length}")
    if max_seq_length - max_query_length - 3 <= doc_stride:
        raise ConfigError(f"doc_stride ({doc_stride}) must be below the context tokens a window can hold, "
                          f"max_seq_length - max_query_length - 3 = {max_seq_length - max_query_length - 3}; lower "
                          f"doc_stride or max_query_length, or raise max_seq_length")
    if training:
        unlabelled = next((example for example in examples if not example.answers and not example.is_impossible),
                          None)
        if unlabelled is not None:
            raise DataError(f"question {unlabelled.id!r} has no answer and is not marked is_impossible, so it cannot "
                            f"be trained on; train on a labelled file or prepare the features with training=False")
    keys = [*TEXT_KEYS, "example_ids", "offset_mapping"]
    if training:
        keys += ["start_positions", "end_positions"]
    columns: dict[str, list[Any]] = {key: [] for key in keys}
    for begin in range(0, len(examples), TOKENIZE_CHUNK):
        _encode_chunk(examples[begin:begin + TOKENIZE_CHUNK], tokenizer, max_seq_length, doc_stride,
                      max_query_length, training, columns)
    features: dict[str, Any] = {key: columns[key] for key in TEXT_KEYS}
    if training:
        features["start_positions"] = np.asarray(columns["start_positions"], np.int32)
        features["end_positions"] = np.asarray(columns["end_positions"], np.int32)
    return QuestionAnsweringFeatures(features, columns["example_ids"], columns["offset_mapping"])
