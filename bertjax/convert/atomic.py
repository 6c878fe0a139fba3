"""Directories written all at once: a failed write never leaves a half-written folder over a good one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bertjax.errors import CheckpointError


@contextlib.contextmanager
def atomic_directory(directory: str | Path) -> Iterator[Path]:
    """Yields a temporary sibling folder to fill; on success it replaces `directory`, on error it is deleted.

    The swap is two renames on the same file system: the old folder is moved aside, the new one moved in, then the
    old one deleted, so at every moment `directory` is either the complete old folder or the complete new one.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory}: exists and is not a directory; choose another output path")
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}.writing-", dir=directory.parent))
    temporary.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary shared folder
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    previous = None
    if directory.exists():
        previous = Path(tempfile.mkdtemp(prefix=f".{directory.name}.previous-", dir=directory.parent))
        os.replace(directory, previous / directory.name)
    os.replace(temporary, directory)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
