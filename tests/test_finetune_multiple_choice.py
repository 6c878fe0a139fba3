"""Multiple choice fine-tuning end to end: SWAG-style CSV, accuracy beside the most frequent ending, the exported
model against transformers, chosen endings with probabilities, and a missing ending named by file and line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from bertjax.convert import load_pretrained
from bertjax.data.finetuning.multiple_choice import MultipleChoiceExamples
from bertjax.errors import ConfigError, DataError
from bertjax.model import BertForMultipleChoice
from bertjax.run_config import load_run_config
from bertjax.runs.families.multiple_choice import MultipleChoiceFamily
from bertjax.runs.finetuning import FinetuningConfig, run_finetuning
from bertjax.runs.task_family import TaskSection

TINY = ["task.type=multiple_choice", "model.init_from=null",
        "model.changes={hidden_size: 32, num_attention_heads: 2, intermediate_size: 64, num_hidden_layers: 2}",
        "train.vocab_size=300", "task.max_seq_length=16", "train.batch_size=16", "train.eval_batch_size=32",
        "train.log_every=5", "optimizer.learning_rate=0.01"]
HEADER = ["video-id", "sent1", "sent2", "ending0", "ending1", "ending2", "ending3", "label"]
SOUNDS = {"dog": "barks", "cat": "meows", "cow": "moos", "duck": "quacks", "lion": "roars", "sheep": "bleats"}
ANIMALS = list(SOUNDS)
ACTIONS = ["sleeps", "runs", "eats", "sits", "hides"]


def swag_rows(count: int, seed: int, labelled: bool = True) -> list[list[str]]:
    """'The dog is hungry.' + 'It' + four endings: the animal's own sound (the right one) among things it does;
    the right index is 1 in about 60% of the rows, so always choosing 1 is a baseline worth beating."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        animal = ANIMALS[rng.integers(len(ANIMALS))]
        label = 1 if rng.random() < 0.5 else int(rng.integers(4))
        endings = [str(action) for action in rng.permutation(ACTIONS)[:3]]
        endings.insert(label, SOUNDS[animal])
        rows.append([f"video{index}", f"The {animal} is hungry.", "It", *endings, *([str(label)] if labelled else [])])
    return rows


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows([header, *rows])
    return path


def _config(run_dir: Path, *overrides: str) -> FinetuningConfig:
    return load_run_config(FinetuningConfig, None, [*TINY, f"train.output_dir={run_dir}", *overrides])


def test_swag_run_learns_exports_and_predicts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train = write_csv(tmp_path / "train.csv", swag_rows(160, seed=0))
    evaluation_rows = swag_rows(40, seed=1)
    evaluation = write_csv(tmp_path / "valid.csv", evaluation_rows)
    new = write_csv(tmp_path / "new.csv", swag_rows(3, seed=2, labelled=False), HEADER[:-1])
    run_dir = tmp_path / "run"
    summary = run_finetuning(_config(run_dir, f"task.train_file={train}", f"task.eval_file={evaluation}",
                                     f"task.predict_file={new}", "train.steps=30", "train.eval_every=15"))
    best = summary["best"]
    assert set(best) == {"accuracy", "baseline_accuracy"}
    # The most frequent training label is 1: the baseline is the share of 1s among the evaluation labels.
    assert best["baseline_accuracy"] == pytest.approx(np.mean([row[-1] == "1" for row in evaluation_rows]))
    assert best["accuracy"] > best["baseline_accuracy"] + 0.2
    assert "chosen" in capsys.readouterr().out
    assert json.loads((run_dir / "results.json").read_text())["best"] == pytest.approx(best)

    assert summary["predictions"] == str(run_dir / "predictions.csv")
    with open(summary["predictions"], newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["context"] for row in rows] == [row[1] for row in swag_rows(3, seed=2, labelled=False)]
    for row in rows:
        probabilities = [float(row[f"probability_{index}"]) for index in range(4)]
        assert sum(probabilities) == pytest.approx(1, abs=1e-5)
        assert int(row["label"]) == int(np.argmax(probabilities))

    config, params, _ = load_pretrained(run_dir / "best", "multiple_choice")
    reference, info = transformers.BertForMultipleChoice.from_pretrained(run_dir / "best", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    tokenizer = transformers.BertTokenizerFast.from_pretrained(run_dir / "best")
    batch = tokenizer(["The cow is hungry."] * 4, ["It barks", "It moos", "It quacks", "It roars"], padding=True,
                      return_tensors="np")
    batch = {key: value[None] for key, value in batch.items()}  # [1, choices, seq]
    ours = BertForMultipleChoice(config).apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                                               batch["token_type_ids"])["logits"]
    with torch.no_grad():
        theirs = reference.eval()(**{key: torch.tensor(value) for key, value in batch.items()}).logits.numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)


def test_evaluate_and_report_count_choices() -> None:
    family = MultipleChoiceFamily(TaskSection(type="multiple_choice", num_choices=3))
    family._train_labels = np.array([2, 2, 0], np.int32)
    family._eval = MultipleChoiceExamples(["a", "b", "c", "d"], [["x", "y", "z"]] * 4, np.array([2, 0, 2, 1], np.int32),
                                          ["f line 2", "f line 3", "f line 4", "f line 5"])
    logits = [np.array([0.0, 0.1, 0.9]), np.array([0.5, 0.1, 0.2]), np.array([0.0, 0.9, 0.1]),
              np.array([0.0, 0.9, 0.1])]
    assert family.evaluate({"logits": logits}) == {"accuracy": 0.75, "baseline_accuracy": 0.5}
    assert family.report({"logits": logits}, Path("unused")) == [
        "      ending   chosen    right", "           0        1        1", "           1        2        1",
        "           2        1        2"]


def test_missing_ending_names_file_and_line(tmp_path: Path) -> None:
    rows = swag_rows(20, seed=3)
    rows[4][5] = " "
    train = write_csv(tmp_path / "train.csv", rows)
    with pytest.raises(DataError, match=f"{train} line 6: the ending column 'ending2' is empty"):
        run_finetuning(_config(tmp_path / "run", f"task.train_file={train}"))


def test_unlabelled_training_rows_and_tfds_are_refused(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", swag_rows(20, seed=4, labelled=False), HEADER[:-1])
    with pytest.raises(DataError, match=f"{train} line 2: no 'label' column"):
        run_finetuning(_config(tmp_path / "run", f"task.train_file={train}"))
    with pytest.raises(ConfigError, match="task.tfds='swag'"):
        run_finetuning(_config(tmp_path / "run", "task.tfds=swag"))


def test_shipped_config() -> None:
    config = load_run_config(FinetuningConfig, Path(__file__).resolve().parents[1] / "configs" / "finetune-swag.yaml")
    assert config.task.type == "multiple_choice" and config.task.num_choices == 4 and config.model.init_from
