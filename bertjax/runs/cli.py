"""What every script shares: `--config FILE`, `section.field=value` overrides, shorthand flags, `--debug`, and
errors printed for people (one line, exit status 1) instead of tracebacks."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

from bertjax.error_report import report_errors
from bertjax.run_config import load_run_config
from bertjax.train.host_allocator import reuse_freed_host_memory

T = TypeVar("T")


def run_script(config_class: type[T], run: Callable[[T], Any], description: str,
               shorthands: dict[str, tuple[str, str]] | None = None, argv: list[str] | None = None) -> int:
    """Parses the command line into `config_class`, calls `run`, and turns project errors into exit status 1.

    shorthands: flag -> (config key, help), e.g. {"--tfds": ("data.tfds", "...")}: `--tfds x` means `data.tfds=x`.
    """
    reuse_freed_host_memory()  # before JAX starts: its CPU steps then reuse their scratch memory
    # The description is a script's docstring: its example commands keep their own lines.
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="a YAML run config from configs/ (default: the built-in small run)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR from its latest checkpoint, with its saved config")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    for flag, (key, help_text) in (shorthands or {}).items():
        parser.add_argument(flag, dest=key, metavar="VALUE", help=f"{help_text} (same as {key}=VALUE)")
    parser.add_argument("overrides", nargs="*", metavar="section.field=value",
                        help="override any config value, e.g. train.steps=100 model.preset=bert-mini")
    arguments = parser.parse_intermixed_args(argv)  # overrides before, between and after the flags
    overrides = [f"{key}={getattr(arguments, key)}" for key, _ in (shorthands or {}).values()
                 if getattr(arguments, key) is not None]
    config_file = arguments.config
    if arguments.resume:
        config_file = config_file or f"{arguments.resume}/config.yaml"
        overrides.append(f"train.output_dir={arguments.resume}")
    return report_errors(lambda: run(load_run_config(config_class, config_file, overrides + arguments.overrides)),
                         arguments.debug)
