"""SQuAD exact match and F1, scored exactly as the official v1.1 and v2.0 evaluation scripts, and the official
prediction file."""

from __future__ import annotations

import collections
import json
import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path

from bertjax.atomic import write_text_atomically
from bertjax.errors import DataError

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower case, punctuation removed, articles a/an/the removed, white space collapsed (the official rule)."""
    text = "".join(character for character in text.lower() if character not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction: str, ground_truth: str, version_2: bool = False) -> float:
    """F1 of the normalized token bags. An empty side scores 0 in v1.1; in v2.0 1 if both are empty, else 0."""
    prediction_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(ground_truth).split()
    if version_2 and (not prediction_tokens or not truth_tokens):
        return float(prediction_tokens == truth_tokens)
    common = collections.Counter(prediction_tokens) & collections.Counter(truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def _question_scores(answers: Sequence[str], prediction: str, version_2: bool) -> tuple[float, float]:
    """(exact match, F1), each the best over the gold answers."""
    if version_2:
        # v2.0 drops answers that normalize to nothing; a question left without any is a no-answer question.
        answers = [answer for answer in answers if normalize_answer(answer)] or [""]
    return (max(exact_match_score(prediction, answer) for answer in answers),
            max(f1_score(prediction, answer, version_2) for answer in answers))


def _averages(exact: Mapping[str, float], f1: Mapping[str, float], ids: Sequence[str]) -> tuple[float, float]:
    return 100.0 * sum(exact[key] for key in ids) / len(ids), 100.0 * sum(f1[key] for key in ids) / len(ids)


def squad_metrics(gold_answers: Mapping[str, Sequence[str]], predictions: Mapping[str, str],
                  version_2: bool = False) -> dict[str, float]:
    """The official scores, in percent, over every question of `gold_answers` (question id -> answer texts).

    v1.1: {exact_match, f1}. v2.0: {exact, f1, total} and, when there are such questions, the same prefixed
    HasAns_ (questions with answers) and NoAns_ (questions without: their only gold answer is "").
    A question without a prediction scores 0, as in the v1.1 script.
    """
    if not gold_answers:
        raise DataError("no questions to score; pass the gold answers of the evaluation examples")
    if not version_2:
        unanswerable = next((key for key, answers in gold_answers.items() if not answers), None)
        if unanswerable is not None:
            raise DataError(f"question {unanswerable!r} has no gold answer, which SQuAD v1.1 cannot score; "
                            f"score with version_2=True")
    exact, f1 = {}, {}
    for key, answers in gold_answers.items():
        exact[key], f1[key] = _question_scores(answers, predictions[key], version_2) if key in predictions \
            else (0.0, 0.0)
    everything = list(gold_answers)
    exact_average, f1_average = _averages(exact, f1, everything)
    if not version_2:
        return {"exact_match": exact_average, "f1": f1_average}
    metrics = {"exact": exact_average, "f1": f1_average, "total": len(everything)}
    for prefix, has_answer in (("HasAns", True), ("NoAns", False)):
        ids = [key for key in everything if bool(gold_answers[key]) == has_answer]
        if ids:
            metrics[f"{prefix}_exact"], metrics[f"{prefix}_f1"] = _averages(exact, f1, ids)
            metrics[f"{prefix}_total"] = len(ids)
    return metrics


def write_predictions(path: str | Path, predictions: Mapping[str, str]) -> None:
    """Writes `{question id: answer text}` as the official evaluation scripts read it, atomically (a reader never
    sees half a file)."""
    write_text_atomically(path, json.dumps(dict(predictions), ensure_ascii=False, indent=2) + "\n")
