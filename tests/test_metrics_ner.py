"""Entity-level scores equal seqeval's default (conlleval) mode, including tags that are not valid IOB2."""

from __future__ import annotations

import warnings

import pytest
from seqeval import metrics as seqeval

from bertjax.errors import DataError
from bertjax.metrics.ner import entity_scores, extract_entities

TRUE = [
    ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"],  # adjacent entities of the same type
    ["O", "B-ORG", "I-ORG", "I-ORG"],  # an entity at the sentence end
    ["B-MISC", "O", "B-PER"],
    ["O", "O"],
]
PREDICTED = [
    ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"],  # the two locations merged: both wrong, one false positive
    ["O", "I-ORG", "I-ORG", "I-ORG"],  # I- without B- starts the entity: correct
    ["B-MISC", "I-PER", "I-PER"],  # I-PER after B-MISC starts a PER at word 1: wrong span
    ["I-LOC", "O"],  # a spurious entity
]
CASES = {
    "mixed": (TRUE, PREDICTED),
    "empty predictions": (TRUE, [["O"] * len(tags) for tags in TRUE]),
    "no entities at all": ([["O", "O"]], [["O", "O"]]),
    "perfect": (TRUE, TRUE),
    "type change inside": ([["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-LOC", "I-LOC"]]),
}


def seqeval_scores(true, predicted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns where a score is undefined (and uses 0)
        report = seqeval.classification_report(true, predicted, output_dict=True)
        overall = {"precision": seqeval.precision_score(true, predicted),
                   "recall": seqeval.recall_score(true, predicted), "f1": seqeval.f1_score(true, predicted),
                   "support": report["micro avg"]["support"]}
    per_type = {name: {"precision": values["precision"], "recall": values["recall"], "f1": values["f1-score"],
                       "support": values["support"]}
                for name, values in report.items() if not name.endswith(" avg")}
    return {"overall": overall, **per_type}


def test_entities_by_hand():
    assert extract_entities(PREDICTED) == {(0, "PER", 0, 1), (0, "LOC", 3, 4), (1, "ORG", 1, 3), (2, "MISC", 0, 0),
                                           (2, "PER", 1, 2), (3, "LOC", 0, 0)}
    assert extract_entities([["B-LOC", "B-LOC", "I-LOC"]]) == {(0, "LOC", 0, 0), (0, "LOC", 1, 2)}


def test_mixed_case_by_hand():
    scores = entity_scores(TRUE, PREDICTED)
    # true: PER, LOC, LOC, ORG, MISC, PER (6); predicted 6; correct: PER(0), ORG, MISC (3)
    assert scores["overall"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 6})
    assert scores["LOC"] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2})


@pytest.mark.parametrize("case", CASES)
def test_equal_to_seqeval(case):
    true, predicted = CASES[case]
    ours, reference = entity_scores(true, predicted), seqeval_scores(true, predicted)
    assert set(ours) == set(reference)
    for name in reference:
        assert ours[name] == pytest.approx(reference[name]), name


def test_misaligned_or_invalid_tags():
    with pytest.raises(DataError, match="same sentences and words"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(DataError, match="sentence 0: tag 'X-PER' is not IOB2"):
        entity_scores([["X-PER"]], [["O"]])
