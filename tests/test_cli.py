"""The scripts' shared command line (bertjax/runs/cli.py), and the one short line every script's error is."""

from __future__ import annotations

import ast
import runpy
from pathlib import Path

import jax.numpy as jnp
import pytest

from checkpoint_damage import DAMAGES
from bertjax.folder_lock import folder_lock
from bertjax.runs import pretraining
from bertjax.runs.cli import run_script
from bertjax.runs.finetuning import FinetuningConfig, run_finetuning
from bertjax.runs.predict import run_predict
from bertjax.runs.pretraining import PretrainingConfig, run_pretraining
from bertjax.train.checkpoint import Checkpointer

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.mark.parametrize("script, config_class", [("pretrain.py", PretrainingConfig),
                                                  ("finetune.py", FinetuningConfig)])
def test_help_keeps_each_example_command_on_its_own_line(script: str, config_class: type,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    docstring = ast.get_docstring(ast.parse((SCRIPTS / script).read_text()), clean=False)
    examples = [line for line in docstring.splitlines() if line.strip().startswith("python ")]
    assert len(examples) >= 2
    with pytest.raises(SystemExit) as exit_info:
        run_script(config_class, lambda config: None, docstring, argv=["--help"])
    assert exit_info.value.code == 0
    help_lines = capsys.readouterr().out.splitlines()
    for example in examples:
        assert example in help_lines


def test_path_flags_keep_their_text() -> None:
    """`--output-dir 2024` is a folder named 2024 and `--train-file '[2024] reviews.csv'` a file of that name,
    not YAML's integer or syntax error."""
    seen = []
    shorthands = {"--output-dir": ("train.output_dir", "the run folder"),
                  "--train-file": ("task.train_file", "training data")}
    status = run_script(FinetuningConfig, seen.append, "finetune", shorthands=shorthands,
                        argv=["--output-dir", "2024", "--train-file", "[2024] reviews.csv"])
    assert status == 0
    assert (seen[0].train.output_dir, seen[0].task.train_file) == ("2024", "[2024] reviews.csv")


def test_overrides_go_before_between_and_after_flags() -> None:
    seen = []
    status = run_script(PretrainingConfig, seen.append, "pretrain", shorthands={"--corpus": ("data.corpus", "text")},
                        argv=["train.steps=2", "--corpus", "c.txt", "data.max_seq_length=32", "--debug",
                              "train.batch_size=4"])
    assert status == 0
    config = seen[0]
    assert (config.train.steps, config.data.corpus, config.data.max_seq_length, config.train.batch_size) == \
        (2, "c.txt", 32, 4)


# The bad inputs of the scripts' error tests elsewhere in the suite, and the run folder's own faults.
PRETRAIN = ["model.changes={hidden_size: 32, num_attention_heads: 2, intermediate_size: 64, num_hidden_layers: 2}",
            "data.vocab_size=400", "data.max_seq_length=32", "data.max_predictions_per_seq=5", "train.batch_size=8",
            "train.eval_batches=1"]
FINETUNE = ["model.init_from=null", "train.vocab_size=600", "task.max_seq_length=32", "task.pad_to_max_length=true",
            "train.batch_size=16",
            "model.changes={hidden_size: 32, num_attention_heads: 2, intermediate_size: 64, num_hidden_layers: 2}"]


def _pretrain(run_dir: Path, *overrides: str) -> int:
    return run_script(PretrainingConfig, run_pretraining, "pretrain",
                      argv=[*PRETRAIN, f"train.output_dir={run_dir}", *overrides])


def _finetune(run_dir: Path, *overrides: str) -> int:
    return run_script(FinetuningConfig, run_finetuning, "finetune",
                      argv=[*FINETUNE, f"train.output_dir={run_dir}", *overrides])


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _with_checkpoints(tmp_path: Path, damage: str | None = None) -> Path:
    """A run folder holding checkpoints of steps 1 and 2 of another (toy) model, with `damage` done to both."""
    checkpoints = tmp_path / "run" / "checkpoints"
    with Checkpointer(checkpoints) as checkpointer:
        for step in (1, 2):
            checkpointer.save(step, {"w": jnp.full((4, 512), step, jnp.float32)}, {})
    for step in (1, 2):
        if damage:
            DAMAGES[damage](checkpoints / str(step))
    return tmp_path / "run"


def _in_use(tmp_path: Path) -> int:
    (tmp_path / "run").mkdir()
    with folder_lock(tmp_path / "run", wait=False):
        return _pretrain(tmp_path / "run")


def _unexpected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("XLA: out of memory while allocating\n" + "\n".join(f"  buffer {i}" for i in range(60)))

    monkeypatch.setattr(pretraining, "make_optimizer", failing)
    return _pretrain(tmp_path / "run")


def _gpt2_folder(tmp_path: Path) -> Path:
    (tmp_path / "gpt").mkdir()
    _write(tmp_path / "gpt" / "config.json", '{"model_type": "gpt2", "n_layer": 2}')
    return _write(tmp_path / "gpt" / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nfine\n").parent


def _csv(tmp_path: Path, text: str) -> str:
    return f"task.train_file={_write(tmp_path / 'train.csv', text)}"


BAD_INPUTS = {
    "bad YAML file": lambda tmp, patch: run_script(PretrainingConfig, run_pretraining, "pretrain", argv=[
        "--config", str(_write(tmp / "run.yaml", "train:\n  steps: 3\n bad: [\n"))]),
    "bad YAML value": lambda tmp, patch: _pretrain(tmp / "run", "train.steps=["),
    "unknown tfds data set": lambda tmp, patch: _pretrain(tmp / "run", "data.tfds=no_such_data_set"),
    "no such corpus": lambda tmp, patch: _pretrain(tmp / "run", "data.corpus=/no/such/corpus"),
    "empty corpus": lambda tmp, patch: _pretrain(tmp / "run", "data.corpus=" + str(_write(tmp / "e.txt", " \n\n"))),
    "binary corpus": lambda tmp, patch: _pretrain(
        tmp / "run", "data.corpus=" + str(_write(tmp / "b.txt", b"a fine line\n\x89PNG\r\n\x1a\n\x00\xff\xfe"))),
    "longer than the model": lambda tmp, patch: _pretrain(tmp / "run", "data.max_seq_length=1024"),
    "eval_fraction zero": lambda tmp, patch: _pretrain(tmp / "run", "data.eval_fraction=0"),
    "output folder is a file": lambda tmp, patch: _pretrain(_write(tmp / "a_file", "not a folder")),
    "another model's checkpoint": lambda tmp, patch: _pretrain(_with_checkpoints(tmp)),
    "no readable checkpoint": lambda tmp, patch: _pretrain(_with_checkpoints(tmp, "removed metadata file")),
    "run folder in use": lambda tmp, patch: _in_use(tmp),
    "unexpected error": lambda tmp, patch: _unexpected(tmp, patch),
    "bad CSV row": lambda tmp, patch: _finetune(tmp / "run", _csv(tmp, "text,label\nfine,1\nbad\n")),
    "no text column": lambda tmp, patch: _finetune(tmp / "run", _csv(tmp, "review,label\nfine,1\n")),
    "regression label": lambda tmp, patch: _finetune(
        tmp / "run", _csv(tmp, "text,score\nfine,high\n"), "task.type=regression", "task.label_column=score"),
    "empty training file": lambda tmp, patch: _finetune(tmp / "run", _csv(tmp, "")),
    "unknown task type": lambda tmp, patch: _finetune(tmp / "run", "task.type=sorting"),
    "no tag column": lambda tmp, patch: _finetune(
        tmp / "run", "task.type=token_classification",
        "task.train_file=" + str(_write(tmp / "train.txt", "Peter B-PER\nflew O\n\nBerlin\nis O\n"))),
    "not a BERT folder": lambda tmp, patch: _finetune(tmp / "run", f"model.init_from={_gpt2_folder(tmp)}"),
    "no input file to predict": lambda tmp, patch: run_predict([str(tmp), str(tmp / "missing.txt")]),
    "no model to predict with": lambda tmp, patch: run_predict([str(tmp), str(_write(tmp / "in.txt", "a\n"))]),
    "no model to convert": lambda tmp, patch: CONVERT(["bertjax-to-hf", str(tmp / "absent"), str(tmp / "out")]),
}
CONVERT = runpy.run_path(str(SCRIPTS / "convert.py"))["main"]


@pytest.mark.parametrize("bad_input", BAD_INPUTS)
def test_every_error_is_one_short_line(bad_input: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert BAD_INPUTS[bad_input](tmp_path, monkeypatch) == 1
    printed = capsys.readouterr().err
    assert "Traceback" not in printed
    *progress, error = printed.rstrip("\n").split("\n")  # progress bars, redrawn in place (\r), may come first
    assert error.startswith("error: ") and all("\r" in line for line in progress), printed
    assert len(error) <= 300, f"{len(error)} characters: {error}"
