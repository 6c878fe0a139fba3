"""scripts/predict.py: texts or records in, JSON lines of the folder's task out, and errors for people."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bertjax.pipelines import pipeline
from bertjax.runs.predict import run_predict

REPOSITORY = Path(__file__).resolve().parents[1]


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_texts_one_a_line_are_classified(pipeline_models: dict[str, Path], tmp_path: Path, capsys) -> None:
    texts = ["A wonderful, moving film.", "The food was cold and bland.", "It was fine."]
    (tmp_path / "reviews.txt").write_text("\n".join([texts[0], "", *texts[1:]]) + "\n", encoding="utf-8")
    assert run_predict([str(pipeline_models["classifier"]), str(tmp_path / "reviews.txt")]) == 0
    rows = _lines(capsys.readouterr().out)
    expected = pipeline("text-classification", pipeline_models["classifier"])(texts)
    assert [row["text"] for row in rows] == texts
    assert [row["label"] for row in rows] == [result["label"] for result in expected]
    assert [row["score"] for row in rows] == pytest.approx([result["score"] for result in expected], abs=1e-6)


def test_records_of_each_task(pipeline_models: dict[str, Path], mlm_dir: Path, tmp_path: Path, capsys) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": "Who wrote it?",
                                     "context": "The novel was written by Jane Austen in 1813."}) + "\n")
    assert run_predict([str(pipeline_models["qa"]), str(questions), "--output", str(tmp_path / "answers.jsonl")]) == 0
    (answer,) = _lines((tmp_path / "answers.jsonl").read_text())
    assert answer["id"] == "q1" and answer["answer"] == answer["context"][answer["start"]:answer["end"]]

    choices = tmp_path / "choices.jsonl"
    choices.write_text(json.dumps({"context": "He was hungry", "choices": ["so he ate.", "so he slept."]}) + "\n")
    assert run_predict([str(pipeline_models["choices"]), str(choices)]) == 0
    (choice,) = _lines(capsys.readouterr().out)
    assert choice["label"] in (0, 1) and sum(choice["scores"]) == pytest.approx(1.0)

    tagged = tmp_path / "sentences.csv"
    tagged.write_text("sentence\nAngela Merkel visited Paris.\n")
    assert run_predict([str(pipeline_models["tagger"]), str(tagged), "--text-column", "sentence"]) == 0
    (entities,) = _lines(capsys.readouterr().out)
    assert all(set(entity) == {"entity_group", "score", "word", "start", "end"} for entity in entities["entities"])

    (tmp_path / "masked.txt").write_text("The capital of France is [MASK].\n")
    assert run_predict([str(mlm_dir), str(tmp_path / "masked.txt"), "--top-k", "3"]) == 0
    (filled,) = _lines(capsys.readouterr().out)
    assert len(filled["fills"]) == 3 and all("[MASK]" not in fill["sequence"] for fill in filled["fills"])


def test_errors_are_one_line(pipeline_models: dict[str, Path], tmp_path: Path, capsys) -> None:
    records = tmp_path / "rows.jsonl"
    records.write_text(json.dumps({"review": "good"}) + "\n")
    assert run_predict([str(pipeline_models["classifier"]), str(records)]) == 1
    assert "rows.jsonl line 1: no column 'text'" in capsys.readouterr().err
    assert run_predict([str(pipeline_models["classifier"]), str(tmp_path / "missing.txt")]) == 1
    assert "missing.txt: no such file" in capsys.readouterr().err
    assert run_predict([str(tmp_path), str(records)]) == 1
    assert "no config.json" in capsys.readouterr().err


def test_the_script_reads_standard_input(pipeline_models: dict[str, Path]) -> None:
    done = subprocess.run([sys.executable, str(REPOSITORY / "scripts" / "predict.py"),
                           str(pipeline_models["classifier"])], input="a lovely day\n", capture_output=True,
                          text=True, cwd=REPOSITORY, timeout=300)
    assert done.returncode == 0, done.stderr
    (row,) = _lines(done.stdout)
    assert row["text"] == "a lovely day" and row["label"] in ("negative", "neutral", "positive")


def test_modernbert_folders(modernbert_models: dict[str, Path], tmp_path: Path, capsys) -> None:
    """A ModernBERT folder's own task, as for BERT: here classification, and fill-mask with its BPE [MASK]."""
    texts = ["A wonderful, moving film.", "The food was cold and bland."]
    (tmp_path / "reviews.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    assert run_predict([str(modernbert_models["classifier"]), str(tmp_path / "reviews.txt")]) == 0
    expected = pipeline("text-classification", modernbert_models["classifier"])(texts)
    assert [row["label"] for row in _lines(capsys.readouterr().out)] == [result["label"] for result in expected]
    (tmp_path / "masked.txt").write_text("The capital of France is [MASK].\n")
    assert run_predict([str(modernbert_models["masked_lm"]), str(tmp_path / "masked.txt"), "--top-k", "2"]) == 0
    (filled,) = _lines(capsys.readouterr().out)
    assert len(filled["fills"]) == 2 and all("[MASK]" not in fill["sequence"] for fill in filled["fills"])
