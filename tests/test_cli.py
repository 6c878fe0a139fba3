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
