"""From per-window start/end logits to answer texts: the best valid span over all windows of a question, and for
SQuAD v2.0 the no-answer decision."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from bertjax.data.finetuning.question_answering import CLS_INDEX, Offsets, QuestionAnsweringFeatures
from bertjax.data.finetuning.squad import SquadExample
from bertjax.errors import DataError


@dataclasses.dataclass(frozen=True)
class Span:
    """A candidate answer: context characters [start_char, end_char), the logits that chose it, and where: its
    feature (window) and first and last token there."""

    start_char: int
    end_char: int
    start_logit: float
    end_logit: float
    feature: int = -1
    start_token: int = CLS_INDEX
    end_token: int = CLS_INDEX

    @property
    def score(self) -> float:
        return self.start_logit + self.end_logit


@dataclasses.dataclass(frozen=True)
class QaPredictions:
    """answers: question id -> answer text ("" when v2.0 predicts no answer), the official prediction format.
    n_best: question id -> up to n_best_size candidates, best first: {text, start_logit, end_logit, score,
      probability (softmax over the listed scores), start and end (characters of the context), feature, start_token
      and end_token (the window and its tokens)}; for v2.0 the no-answer candidate (text "") is always listed.
    null_score_diff: v2.0 only, question id -> no-answer score minus the best span's score (the answer is "" when
      this exceeds the threshold).
    """

    answers: dict[str, str]
    n_best: dict[str, list[dict[str, Any]]]
    null_score_diff: dict[str, float]


def _window_spans(start_logits: np.ndarray, end_logits: np.ndarray, offsets: list[Offsets], n_best_size: int,
                  max_answer_length: int, feature: int) -> list[Span]:
    """Valid spans among the window's n_best_size best starts x n_best_size best ends."""
    best_starts = np.argsort(-start_logits, kind="stable")[:n_best_size]
    best_ends = np.argsort(-end_logits, kind="stable")[:n_best_size]
    spans = []
    for start in best_starts.tolist():
        for end in best_ends.tolist():
            start_offsets, end_offsets = offsets[start], offsets[end]
            if start_offsets is None or end_offsets is None or end < start or end - start + 1 > max_answer_length:
                continue
            spans.append(Span(start_offsets[0], end_offsets[1], float(start_logits[start]), float(end_logits[end]),
                              feature, start, end))
    return spans


def _n_best_entries(context: str, spans: list[Span], null_span: Span | None, n_best_size: int
                    ) -> list[dict[str, Any]]:
    listed = spans[:n_best_size]
    if null_span is not None:
        listed = sorted(listed + [null_span], key=lambda span: span.score, reverse=True)[:n_best_size]
        if not any(span is null_span for span in listed):
            listed.append(null_span)
    if not listed:
        return []
    scores = np.asarray([span.score for span in listed], np.float64)
    weights = np.exp(scores - scores.max())
    probabilities = weights / weights.sum()
    return [{"text": "" if span is null_span else context[span.start_char:span.end_char],
             "start_logit": span.start_logit, "end_logit": span.end_logit, "score": span.score,
             "probability": float(probability), "start": span.start_char, "end": span.end_char,
             "feature": span.feature, "start_token": span.start_token, "end_token": span.end_token}
            for span, probability in zip(listed, probabilities)]


def postprocess_qa_predictions(examples: Sequence[SquadExample], features: QuestionAnsweringFeatures,
                               start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray],
                               n_best_size: int = 20, max_answer_length: int = 30, version_2: bool = False,
                               null_score_diff_threshold: float = 0.0) -> QaPredictions:
    """Answer texts for `examples` from the logits of their features ([tokens] each, or longer: padding is ignored).

    A span is valid when both ends are context tokens of one window, end >= start, and it has at most
    max_answer_length tokens; the best valid span over all windows wins. For v2.0 the no-answer score is
    start + end logit at [CLS], the lowest over the windows; "" is predicted when it beats the best span's score by
    more than null_score_diff_threshold.
    """
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise DataError(f"{len(start_logits)} start and {len(end_logits)} end logit rows for {len(features)} "
                        f"features; pass the model outputs of every feature, in feature order")
    windows: dict[str, list[int]] = defaultdict(list)
    for index, example_id in enumerate(features.example_ids):
        windows[example_id].append(index)
    answers, n_best, null_score_diff = {}, {}, {}
    for example in examples:
        if example.id not in windows:
            raise DataError(f"question {example.id!r} has no features; prepare the features from the same examples")
        spans: list[Span] = []
        null_span = Span(0, 0, math.inf, 0.0)
        for feature in windows[example.id]:
            offsets = features.offset_mapping[feature]
            start = np.asarray(start_logits[feature], np.float32)[:len(offsets)]  # [tokens]
            end = np.asarray(end_logits[feature], np.float32)[:len(offsets)]  # [tokens]
            window_null = Span(0, 0, float(start[CLS_INDEX]), float(end[CLS_INDEX]), feature)
            null_span = min(null_span, window_null, key=lambda span: span.score)
            spans += _window_spans(start, end, offsets, n_best_size, max_answer_length, feature)
        spans.sort(key=lambda span: span.score, reverse=True)
        best = spans[0] if spans else None
        answers[example.id] = "" if best is None else example.context[best.start_char:best.end_char]
        if version_2:
            null_score_diff[example.id] = null_span.score - (best.score if best is not None else -math.inf)
            if null_score_diff[example.id] > null_score_diff_threshold:
                answers[example.id] = ""
        n_best[example.id] = _n_best_entries(example.context, spans, null_span if version_2 else None, n_best_size)
    return QaPredictions(answers, n_best, null_score_diff)
