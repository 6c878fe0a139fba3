"""SQuAD exact match and F1 against an independent copy of the official v1.1 and v2.0 evaluation scripts."""

from __future__ import annotations

import json

import pytest

import reference_squad as reference
from bertjax.errors import DataError
from bertjax.metrics.squad import exact_match_score, f1_score, normalize_answer, squad_metrics, write_predictions

# (prediction, gold answers): punctuation, articles, case, white space, repeated tokens, several gold answers,
# empty predictions, answers that normalize to nothing, characters outside ASCII punctuation.
CASES = {
    "article": ("The Eiffel Tower", ["Eiffel Tower"]),
    "case_punctuation": ("eiffel TOWER!!", ["Eiffel Tower."]),
    "white_space": ("  a   tower,\tin\nParis ", ["tower in paris"]),
    "several_gold": ("Broncos.", ["Denver Broncos", "Broncos", "the Broncos"]),
    "partial": ("Carolina Panthers team", ["the Panthers", "Panthers of Carolina"]),
    "repeated_tokens": ("the cat cat sat", ["cat sat sat"]),
    "hyphen": ("state-of-the-art", ["state of the art"]),
    "an_inside_word": ("an anthem", ["anthem of the an"]),
    "empty_prediction": ("", ["Paris"]),
    "gold_only_article": ("the", ["The", "an"]),
    "unicode_dash": ("café—bar", ["Café bar"]),
    "wrong": ("Berlin", ["Paris", "Lyon"]),
}
NO_ANSWER_CASES = {  # v2.0 questions without answers
    "no_answer_right": ("", []),
    "no_answer_wrong": ("Some guess", []),
    "no_answer_punctuation": ("...", []),
}


def dataset(cases: dict[str, tuple[str, list[str]]]) -> list[dict]:
    """The `data` list of a SQuAD file holding these questions, as the official scripts read it."""
    qas = [{"id": key, "question": "?", "answers": [{"text": text, "answer_start": 0} for text in answers]}
           for key, (_, answers) in cases.items()]
    return [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]


def test_normalization_and_scores_equal_the_official_functions():
    for prediction, answers in CASES.values():
        assert normalize_answer(prediction) == reference.normalize_answer(prediction)
        for answer in answers:
            assert exact_match_score(prediction, answer) == float(reference.exact_match_score(prediction, answer))
            assert f1_score(prediction, answer) == pytest.approx(reference.f1_score(prediction, answer), abs=1e-12)
            assert exact_match_score(prediction, answer) == reference.compute_exact(answer, prediction)
            assert f1_score(prediction, answer, version_2=True) == pytest.approx(
                reference.compute_f1(answer, prediction), abs=1e-12)


def test_scores_of_known_pairs():
    assert normalize_answer("  The  Eiffel-Tower, (in) a Paris!") == "eiffeltower in paris"
    assert exact_match_score("The Eiffel Tower", "eiffel tower.") == 1.0
    assert f1_score("the cat cat sat", "cat sat sat") == pytest.approx(2 / 3)  # 2 common of 3 and 3 tokens
    assert f1_score("the", "an") == 0.0  # v1.1: nothing in common
    assert f1_score("the", "an", version_2=True) == 1.0  # v2.0: both empty agree


def test_v1_metrics_equal_the_official_script():
    predictions = {key: prediction for key, (prediction, _) in CASES.items()}
    del predictions["wrong"]  # an unanswered question scores 0
    gold = {key: answers for key, (_, answers) in CASES.items()}
    expected = reference.evaluate(dataset(CASES), predictions)
    metrics = squad_metrics(gold, predictions)
    assert metrics.keys() == expected.keys()
    for key in expected:
        assert metrics[key] == pytest.approx(expected[key], abs=1e-9)
    # Exact: article, case and punctuation, white space, several gold, gold of only articles.
    assert metrics["exact_match"] == pytest.approx(100 * 5 / 12)


def test_v2_metrics_equal_the_official_script_with_has_answer_and_no_answer_splits():
    cases = {**CASES, **NO_ANSWER_CASES}
    predictions = {key: prediction for key, (prediction, _) in cases.items()}
    gold = {key: answers for key, (_, answers) in cases.items()}
    expected = reference.evaluate_v2(dataset(cases), predictions)
    metrics = squad_metrics(gold, predictions, version_2=True)
    assert list(metrics) == list(expected)
    for key in expected:
        assert metrics[key] == pytest.approx(expected[key], abs=1e-9), key
    assert metrics["HasAns_total"] == 12 and metrics["NoAns_total"] == 3 and metrics["total"] == 15
    assert metrics["NoAns_exact"] == pytest.approx(100 * 2 / 3)  # "" and "..." are right, "Some guess" is not


def test_v2_metrics_without_no_answer_questions_have_no_no_answer_split():
    predictions = {key: prediction for key, (prediction, _) in CASES.items()}
    metrics = squad_metrics({key: answers for key, (_, answers) in CASES.items()}, predictions, version_2=True)
    assert "NoAns_exact" not in metrics and metrics["HasAns_total"] == 12


def test_v1_refuses_questions_without_answers():
    with pytest.raises(DataError, match="'unanswerable'.*version_2=True"):
        squad_metrics({"q": ["x"], "unanswerable": []}, {"q": "x", "unanswerable": ""})


def test_write_predictions_writes_the_official_format_atomically(tmp_path):
    path = tmp_path / "out" / "predictions.json"
    write_predictions(path, {"q1": "Denver Broncos", "q2": ""})
    write_predictions(path, {"q1": "Café", "q2": ""})  # replaces the previous file
    assert json.loads(path.read_text(encoding="utf-8")) == {"q1": "Café", "q2": ""}
    assert sorted(item.name for item in path.parent.iterdir()) == ["predictions.json"]
