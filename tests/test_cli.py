"""The scripts' shared command line (bertjax/runs/cli.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bertjax.runs.cli import run_script
from bertjax.runs.finetuning import FinetuningConfig
from bertjax.runs.pretraining import PretrainingConfig

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
