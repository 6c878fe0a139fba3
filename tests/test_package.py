"""The package's top-level names: every one resolves, and importing the package or its benchmark does not load the
run drivers."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import bertjax


def test_every_exported_name_resolves_to_its_module() -> None:
    for name in bertjax.__all__:
        assert getattr(bertjax, name) is getattr(importlib.import_module(bertjax._MODULE_OF[name]), name), name
    assert "BertConfig" in dir(bertjax)
    with pytest.raises(AttributeError, match="module 'bertjax' has no attribute 'BertForEverything'"):
        bertjax.BertForEverything  # noqa: B018


@pytest.mark.parametrize("module", ["bertjax", "bertjax.benchmark.cli"])
def test_importing_loads_no_run_driver(module: str) -> None:
    # The benchmark's memory probes start a process per row, each paying this import.
    check = (f"import sys, {module}; loaded = [m for m in sys.modules if m.startswith(('bertjax.runs', 'matplotlib', "
             "'orbax', 'sklearn'))]; sys.exit(str(loaded) if loaded else 0)")
    completed = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
