"""JAX's persistent compilation cache for runs: a later run of the same model and shapes loads its compiled steps
from disk instead of compiling them again."""

from __future__ import annotations

import os
from pathlib import Path

import jax

from bertjax.errors import ConfigError

AUTO = "auto"
OFF = "off"
MAX_CACHE_BYTES = 4 * 2**30  # least recently used programs are deleted beyond this


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/bertjax/xla`, else `~/.cache/bertjax/xla`."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bertjax" / "xla"


def use_compilation_cache(setting: str | bool, field: str = "train.compilation_cache") -> Path | None:
    """Points JAX's persistent compilation cache at the folder `setting` names and returns it; None: no cache.

    `auto` (or true): `default_cache_dir()` on accelerators and no cache on CPU, where XLA rejects cached programs on
    some processors and logs an error for each one (jax-ml/jax#38445). `off` (or false, which is how YAML reads an
    unquoted off): no cache. Anything else is the folder. A folder already set for JAX (`JAX_COMPILATION_CACHE_DIR`,
    or an earlier call) is kept whatever `setting` says. field: the option's name in errors.
    """
    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return Path(configured)
    automatic = setting is True or setting == AUTO
    if setting is False or setting == OFF or (automatic and jax.default_backend() == "cpu"):
        return None
    folder = default_cache_dir() if automatic else Path(str(setting))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{field}: cannot create the folder {folder}: {error.strerror}") from None
    if jax.config.jax_compilation_cache_max_size == -1:  # JAX's default: unbounded
        jax.config.update("jax_compilation_cache_max_size", MAX_CACHE_BYTES)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    return folder
