"""The package's top-level names: every one resolves, type checkers see the same names, and importing the package
or its benchmark does not load the run drivers."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import bertjax


def test_every_exported_name_resolves_to_its_module() -> None:
    for name in bertjax.__all__:
        assert getattr(bertjax, name) is getattr(importlib.import_module(bertjax._MODULE_OF[name]), name), name
    assert "BertConfig" in dir(bertjax)
    with pytest.raises(AttributeError, match="module 'bertjax' has no attribute 'BertForEverything'"):
        bertjax.BertForEverything  # noqa: B018


def test_type_checkers_see_every_exported_name_from_its_module() -> None:
    source = ast.parse(Path(bertjax.__file__).read_text(encoding="utf-8"))
    guarded = next(node for node in source.body
                   if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    seen = {alias.name: node.module
            for node in guarded.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert seen == bertjax._MODULE_OF


@pytest.mark.parametrize("module", ["bertjax", "bertjax.benchmark.cli"])
def test_importing_loads_no_run_driver(module: str) -> None:
    # The benchmark's memory probes start a process per row, each paying this import.
    check = (f"import sys, {module}; loaded = [m for m in sys.modules if m.startswith(('bertjax.runs', 'matplotlib', "
             "'orbax', 'sklearn'))]; sys.exit(str(loaded) if loaded else 0)")
    completed = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_no_pytorch_warning_without_pytorch() -> None:
    """bertjax needs no PyTorch: the scripts do not pass on transformers' warning that it is missing."""
    without_torch = "import sys, runpy; sys.modules['torch'] = None; "
    bare = subprocess.run([sys.executable, "-c", without_torch + "import transformers"], capture_output=True,
                          text=True)
    assert "PyTorch was not found" in bare.stderr  # what a user without PyTorch would see
    script = Path(__file__).resolve().parents[1] / "scripts" / "pretrain.py"
    run = subprocess.run([sys.executable, "-c", without_torch + f"sys.argv = [{str(script)!r}, '--help']; "
                          f"runpy.run_path({str(script)!r}, run_name='__main__')"], capture_output=True, text=True)
    assert run.returncode == 0 and "usage:" in run.stdout, run.stderr
    assert "PyTorch was not found" not in run.stderr + run.stdout
