"""The runs' and predictions' persistent compilation cache: where it goes, when it is off, a clear error for a folder
that cannot be made, and a second run that loads its programs from it and computes exactly what the first did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jax
import pytest

from bertjax.errors import ConfigError
from bertjax.train import compilation_cache
from bertjax.train.compilation_cache import default_cache_dir, use_compilation_cache
from bertjax.train.metrics_log import read_jsonl

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_cache_configured() -> Iterator[None]:
    """This process's cache settings (the suite's own cache, see conftest) cleared for the test, then restored."""
    saved = jax.config.jax_compilation_cache_dir, jax.config.jax_compilation_cache_max_size
    jax.config.update("jax_compilation_cache_dir", None)
    yield
    jax.config.update("jax_compilation_cache_dir", saved[0])
    jax.config.update("jax_compilation_cache_max_size", saved[1])


def test_default_folder_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "bertjax" / "xla"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "bertjax" / "xla"


@pytest.mark.parametrize("setting", ["off", False, "auto", True])
def test_off_and_auto_on_cpu_leave_jax_without_a_cache(setting: str | bool, no_cache_configured: None) -> None:
    assert jax.default_backend() == "cpu"
    assert use_compilation_cache(setting) is None
    assert jax.config.jax_compilation_cache_dir is None


def test_auto_on_an_accelerator_uses_the_user_cache_folder(no_cache_configured: None, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(compilation_cache.jax, "default_backend", lambda: "gpu")
    folder = use_compilation_cache("auto")
    assert folder == tmp_path / "bertjax" / "xla" and folder.is_dir()
    assert jax.config.jax_compilation_cache_dir == str(folder)
    assert jax.config.jax_compilation_cache_max_size == compilation_cache.MAX_CACHE_BYTES


def test_a_folder_set_for_jax_wins(no_cache_configured: None, tmp_path: Path) -> None:
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
    assert use_compilation_cache(str(tmp_path / "other")) == tmp_path / "mine"
    assert not (tmp_path / "other").exists()


def test_a_folder_that_cannot_be_made_is_a_config_error(no_cache_configured: None, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"train\.compilation_cache: cannot create the folder .*a-file/xla"):
        use_compilation_cache(str(blocker / "xla"))
    assert jax.config.jax_compilation_cache_dir is None


DRIVER = """
import json, sys
import jax.monitoring
from bertjax.runs.cli import run_script
from bertjax.runs.finetuning import FinetuningConfig, run_finetuning
events = {"/jax/compilation_cache/cache_hits": 0, "/jax/compilation_cache/cache_misses": 0}
jax.monitoring.register_event_listener(
    lambda event, **kwargs: events.__setitem__(event, events[event] + 1) if event in events else None)
status = run_script(FinetuningConfig, run_finetuning, "", argv=sys.argv[1:])
print(json.dumps([events["/jax/compilation_cache/cache_hits"], events["/jax/compilation_cache/cache_misses"]]))
sys.exit(status)
"""


def test_a_second_run_loads_its_steps_from_the_cache_and_matches_the_first(tmp_path: Path) -> None:
    folder = tmp_path / "xla"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("JAX_")}
    environment["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # the tiny model compiles in under a second
    tiny = ["model.init_from=null", "train.vocab_size=600", "task.max_seq_length=32", "train.batch_size=16",
            "train.steps=6", "train.log_every=1", f"train.compilation_cache={folder}",
            "model.changes={hidden_size: 32, num_attention_heads: 2, intermediate_size: 64, num_hidden_layers: 2}"]

    def run(name: str) -> tuple[int, int, list[dict[str, float]]]:
        completed = subprocess.run([sys.executable, "-c", DRIVER, f"train.output_dir={tmp_path / name}", *tiny],
                                   capture_output=True, text=True, cwd=ROOT, env=environment, timeout=600)
        assert completed.returncode == 0, completed.stderr[-3000:]
        hits, misses = json.loads(completed.stdout.strip().splitlines()[-1])
        return hits, misses, read_jsonl(tmp_path / name / "metrics" / "train.jsonl")

    first_hits, first_misses, first_metrics = run("first")
    assert first_misses >= 2  # at least the training and evaluation steps
    assert len([entry for entry in folder.iterdir() if entry.name.endswith("-cache")]) == first_misses
    second_hits, second_misses, second_metrics = run("second")
    assert (second_hits, second_misses) == (first_hits + first_misses, 0)  # every program came from the folder
    losses = [[entry["loss"] for entry in metrics] for metrics in (first_metrics, second_metrics)]
    assert len(losses[0]) == 6 and losses[0] == losses[1]


PREDICT_DRIVER = """
import json, sys
import jax.monitoring
from bertjax.runs.predict import run_predict
events = {"/jax/compilation_cache/cache_hits": 0, "/jax/compilation_cache/cache_misses": 0}
jax.monitoring.register_event_listener(
    lambda event, **kwargs: events.__setitem__(event, events[event] + 1) if event in events else None)
status = run_predict(sys.argv[1:])
print(json.dumps([events["/jax/compilation_cache/cache_hits"], events["/jax/compilation_cache/cache_misses"]]),
      file=sys.stderr)
sys.exit(status)
"""


def test_a_second_prediction_process_loads_its_programs_from_the_cache(tmp_path: Path,
                                                                       pipeline_models: dict[str, Path]) -> None:
    """predict.py --compilation-cache: texts of three bucket lengths compile three programs the first time, and the
    next process loads them all and predicts the same."""
    folder = tmp_path / "xla"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("JAX_")}
    environment["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(["fine", "a long and winding review of a film " * 3, "word " * 40]) + "\n")

    def run() -> tuple[int, int, str]:
        completed = subprocess.run([sys.executable, "-c", PREDICT_DRIVER, str(pipeline_models["classifier"]),
                                    str(texts), "--batch-size", "1", f"--compilation-cache={folder}"],
                                   capture_output=True, text=True, cwd=ROOT, env=environment, timeout=600)
        assert completed.returncode == 0, completed.stderr[-3000:]
        hits, misses = json.loads(completed.stderr.strip().splitlines()[-1])
        return hits, misses, completed.stdout

    first_hits, first_misses, first_output = run()
    assert first_misses >= 3
    second_hits, second_misses, second_output = run()
    assert (second_hits, second_misses) == (first_hits + first_misses, 0) and second_output == first_output
