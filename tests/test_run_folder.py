"""A run folder loads as a model: its newest readable checkpoint, in pipelines, conversion and fine-tuning."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import transformers

from checkpoint_damage import array_file, truncate
from test_pretraining_run import TINY
from bertjax.convert import load_pretrained
from bertjax.convert.run_folder import RUN_MODEL, is_run_folder
from bertjax.errors import CheckpointError
from bertjax.pipelines import pipeline, task_of_folder
from bertjax.run_config import load_run_config
from bertjax.runs.finetuning import FinetuningConfig, run_finetuning
from bertjax.runs.pretraining import PretrainingConfig, run_pretraining

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import convert  # noqa: E402  (scripts/convert.py)

TEXT = "the cat sat on the [MASK] and looked at the garden ."


@pytest.fixture(scope="module")
def pretraining_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny pretraining run with checkpoints of steps 2 and 4 and its export hf/."""
    run_dir = tmp_path_factory.mktemp("run") / "pretrain"
    run_pretraining(load_run_config(PretrainingConfig, None, [
        *TINY, f"train.output_dir={run_dir}", "train.steps=4", "train.checkpoint_every=2", "train.eval_batches=1"]))
    return run_dir


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


def _equal(params: dict, other: dict) -> bool:
    return all(jax.tree.leaves(jax.tree.map(lambda left, right: np.array_equal(left, right), params, other)))


def test_a_run_folder_loads_as_its_newest_checkpoint(pretraining_run: Path) -> None:
    """The finished run's newest checkpoint is the model it exported: the same params, the same fill-mask answers."""
    assert is_run_folder(pretraining_run) and not is_run_folder(pretraining_run / "hf")
    assert task_of_folder(pretraining_run) == "fill-mask"
    _, params, report = load_pretrained(pretraining_run, "pretraining")
    _, exported, _ = load_pretrained(pretraining_run / "hf", "pretraining")
    assert report.source == str(pretraining_run / "checkpoints" / "4") and not report.missing
    assert _equal(params, exported)
    assert pipeline("fill-mask", pretraining_run)(TEXT) == pipeline("fill-mask", pretraining_run / "hf")(TEXT)


def test_convert_takes_a_run_folder(pretraining_run: Path, tmp_path: Path) -> None:
    """Both directions read a run folder; the Hugging Face folder loads in transformers."""
    assert convert.main(["bertjax-to-hf", str(pretraining_run), str(tmp_path / "hf")]) == 0
    model = transformers.BertForPreTraining.from_pretrained(tmp_path / "hf")
    assert model.config.vocab_size == transformers.AutoConfig.from_pretrained(pretraining_run / "hf").vocab_size
    assert convert.main(["hf-to-bertjax", str(pretraining_run), str(tmp_path / "bertjax")]) == 0
    for folder in (tmp_path / "hf", tmp_path / "bertjax"):
        assert _equal(load_pretrained(folder, "pretraining")[1], load_pretrained(pretraining_run / "hf",
                                                                                  "pretraining")[1])
        assert (folder / "vocab.txt").read_text() == (pretraining_run / RUN_MODEL / "vocab.txt").read_text()


def test_a_damaged_newest_checkpoint_is_skipped_not_moved(pretraining_run: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    """A reader says in one line that step 4 cannot be read and loads step 2; the folder stays as it was (the run
    that owns it sets the step aside when it resumes)."""
    run_dir = _copy(pretraining_run, tmp_path)
    truncate(array_file(run_dir / "checkpoints" / "4"))
    capsys.readouterr()
    _, params, report = load_pretrained(run_dir, "pretraining")
    notices = capsys.readouterr().out.strip().splitlines()
    assert len(notices) == 1 and notices[0].startswith(f"checkpoint {run_dir / 'checkpoints' / '4'} cannot be read")
    assert notices[0].endswith("using step 2") and len(notices[0]) < 300
    assert report.source == str(run_dir / "checkpoints" / "2") and (run_dir / "checkpoints" / "4").is_dir()
    shutil.rmtree(run_dir / "checkpoints" / "4")
    assert _equal(params, load_pretrained(run_dir, "pretraining")[1])  # what step 2 holds
    assert not _equal(params, load_pretrained(pretraining_run, "pretraining")[1])


def test_no_readable_checkpoint_is_one_line(pretraining_run: Path, tmp_path: Path) -> None:
    run_dir = _copy(pretraining_run, tmp_path)
    for step in (2, 4):
        truncate(array_file(run_dir / "checkpoints" / str(step)))
    with pytest.raises(CheckpointError, match=r"no checkpoint in .*checkpoints can be read \(step 4: ") as caught:
        pipeline("fill-mask", run_dir)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
    shutil.rmtree(run_dir / "checkpoints")
    with pytest.raises(CheckpointError, match="the run has written no checkpoint yet"):
        load_pretrained(run_dir, "masked_lm")


def test_fine_tuning_starts_from_a_run_folder(pretraining_run: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    """model.init_from names the pretraining run itself: its encoder and vocabulary; the fine-tuning run folder then
    loads as a classifier in turn."""
    train = tmp_path / "train.tsv"
    rows = [("a fine film", 1), ("a dull film", 0)] * 16
    train.write_text("text\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows))
    run_dir = tmp_path / "finetune"
    run_finetuning(load_run_config(FinetuningConfig, None, [
        "task.type=classification", f"task.train_file={train}", "task.eval_fraction=0.25",
        f"model.init_from={pretraining_run}", "task.max_seq_length=16", "train.batch_size=8",
        "train.eval_batch_size=8", "train.steps=2", f"train.output_dir={run_dir}"]))
    assert f"loaded {pretraining_run / 'checkpoints' / '4'}" in capsys.readouterr().out
    assert (run_dir / RUN_MODEL / "vocab.txt").read_text() == (pretraining_run / RUN_MODEL / "vocab.txt").read_text()
    assert task_of_folder(run_dir) == "text-classification"
    assert len(pipeline(None, run_dir)(["a fine film"])) == 1
