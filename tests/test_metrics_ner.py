"""Entity-level scores equal seqeval's: its default (conlleval) mode on IOB2 tags, its strict mode with the scheme on
BIOS, BIOES and BMES tags, including tags that are not valid in their scheme, on hand-made, random and real data."""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import pytest
from seqeval import metrics as seqeval
from seqeval.scheme import IOBES
from test_tag_schemes import BIOS, SCHEME_PREFIXES, bios_as_bioes, random_tags

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


def seqeval_scores(true, predicted, scheme="iob2"):
    """seqeval's scores: default mode for IOB2, strict mode with the scheme for the others (BMES written as IOBES,
    `M-` as `I-`)."""
    options = {}
    if scheme != "iob2":
        options = {"mode": "strict", "scheme": BIOS if scheme == "bios" else IOBES}
        if scheme == "bmes":
            true, predicted = ([[tag.replace("M-", "I-", 1) if tag.startswith("M-") else tag for tag in tags]
                                for tags in sentences] for sentences in (true, predicted))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns where a score is undefined (and uses 0)
        report = seqeval.classification_report(true, predicted, output_dict=True, **options)
        overall = {"precision": seqeval.precision_score(true, predicted, **options),
                   "recall": seqeval.recall_score(true, predicted, **options),
                   "f1": seqeval.f1_score(true, predicted, **options), "support": report["micro avg"]["support"]}
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


def assert_equal_to_seqeval(true, predicted, scheme="iob2"):
    ours, reference = entity_scores(true, predicted, scheme), seqeval_scores(true, predicted, scheme)
    assert set(ours) == set(reference)
    for name in reference:
        assert ours[name] == pytest.approx(reference[name]), name


@pytest.mark.parametrize("case", CASES)
def test_equal_to_seqeval(case):
    assert_equal_to_seqeval(*CASES[case])


@pytest.mark.parametrize("scheme", SCHEME_PREFIXES)
def test_random_tags_score_as_seqeval_scores_them(scheme):
    """True and predicted tags drawn at random from the scheme's tags: most sequences are not valid in it."""
    rng = random.Random(scheme)
    true = [random_tags(rng, SCHEME_PREFIXES[scheme], rng.randint(1, 9)) for _ in range(400)]
    predicted = [[rng.choice([tag, *random_tags(rng, SCHEME_PREFIXES[scheme], 1)]) for tag in tags] for tags in true]
    assert 0.1 < entity_scores(true, predicted, scheme)["overall"]["f1"] < 0.9
    assert_equal_to_seqeval(true, predicted, scheme)


def _corrupted(sentences, prefixes, rng, rate=0.1):
    """Each tag replaced by a random tag of the scheme (often one not valid where it lands) with probability
    `rate`."""
    types = sorted({tag[2:] for tags in sentences for tag in tags if tag != "O"})
    choices = ["O", *(f"{prefix}-{entity_type}" for prefix in prefixes for entity_type in types)]
    return [[rng.choice(choices) if rng.random() < rate else tag for tag in tags] for tags in sentences]


@pytest.mark.parametrize("data, scheme", [("ner-resume", "bios"), ("ner-weibo", "bios"), ("ner-resume", "bioes"),
                                          ("ner-resume", "bmes"), ("conll2003", "iob2")])
def test_real_tags_against_corrupted_predictions(shared_data: Path, data: str, scheme: str):
    """Published test tags (Weibo's hold `I-` after `O`, not valid BIOS) against predictions with a tenth of
    their tags replaced; Resume's tags also written as BIOES and BMES."""
    if data == "conll2003":
        blocks = (shared_data / data / "valid.txt").read_text(encoding="utf-8").split("\n\n")
        true = [[line.split()[-1] for line in block.splitlines()] for block in blocks if block.strip()]
    else:
        lines = (shared_data / "chinese" / data / "test.json").read_text(encoding="utf-8").splitlines()
        true = [json.loads(line)["label"] for line in lines]
    if scheme in ("bioes", "bmes"):
        true = [bios_as_bioes(tags, "M" if scheme == "bmes" else "I") for tags in true]
    predicted = _corrupted(true, SCHEME_PREFIXES[scheme], random.Random(data))
    assert 0.3 < entity_scores(true, predicted, scheme)["overall"]["f1"] < 0.95
    assert_equal_to_seqeval(true, predicted, scheme)


def test_misaligned_or_invalid_tags():
    with pytest.raises(DataError, match="same sentences and words"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(DataError, match="sentence 0: tag 'X-PER' is not IOB2"):
        entity_scores([["X-PER"]], [["O"]])
    with pytest.raises(DataError, match="sentence 1: tag 'I-PER' is not BMES"):
        entity_scores([["O"], ["I-PER"]], [["O"], ["O"]], "bmes")
