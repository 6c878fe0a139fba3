"""What can happen to a checkpoint's files after they were written, for the tests of restoring past it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path


def array_file(step_dir: Path) -> Path:
    """The largest file of a step's array data."""
    return max((step_dir / "state" / "ocdbt.process_0" / "d").iterdir(), key=lambda path: path.stat().st_size)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated array file": lambda step_dir: truncate(array_file(step_dir)),
    "removed metadata file": lambda step_dir: (step_dir / "state" / "_METADATA").unlink(),
    "garbage manifest": lambda step_dir: (step_dir / "state" / "manifest.ocdbt").write_bytes(b"\x00garbage"),
    "removed array folder": lambda step_dir: shutil.rmtree(step_dir / "state" / "ocdbt.process_0"),
    "removed run metadata": lambda step_dir: (step_dir / "metadata" / "metadata").unlink(),
    "removed checksums": lambda step_dir: (step_dir / "checksums" / "metadata").unlink(),
    "changed bits": lambda step_dir: flip_a_bit(array_file(step_dir)),
}
