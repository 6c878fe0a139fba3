"""Files and directories written all at once: a failed write never leaves a half-written one over a good one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bertjax.errors import CheckpointError


def write_text_atomically(path: str | Path, text: str) -> None:
    """Writes `text` (UTF-8) to a temporary file beside `path`, then renames it over `path`: readers see the old file
    or the new one, never part of it, and a failed write leaves the old one as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(descriptor, 0o644)  # mkstemp's 0600 would hide the file from other users
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(directory: str | Path) -> Iterator[Path]:
    """Yields a temporary sibling folder to fill; on success it replaces `directory`, on error it is deleted.

    The swap is two renames on the same file system: the old folder is moved aside, the new one moved in, then the
    old one deleted, so at every moment `directory` is either the complete old folder or the complete new one. An
    old folder is replaced only when the new one rewrites everything in it: a folder holding other files (a
    user's notes, another model's weights, the model being converted) is refused, not deleted. Nor is a folder
    that cannot be renamed replaced: the working directory (or one above it) or a mount point.
    """
    directory = Path(directory).resolve()
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory}: exists and is not a directory; choose another output path")
    unmovable = _unmovable(directory)
    if unmovable:
        raise CheckpointError(f"{directory}: is {unmovable}, which a folder written as a whole cannot replace; "
                              f"write into a new folder inside it")
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}.writing-", dir=directory.parent))
    temporary.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary shared folder
    try:
        yield temporary
        _check_replaceable(directory, temporary)
        _swap_in(temporary, directory)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _unmovable(directory: Path) -> str | None:
    """Why an existing `directory` cannot be renamed, or None."""
    if not directory.is_dir():
        return None
    if os.path.ismount(directory):
        return "a mount point"
    if Path.cwd().resolve().is_relative_to(directory):
        return "the working directory or holds it"
    return None


def _check_replaceable(directory: Path, new: Path) -> None:
    """Refuses to replace `directory` if it holds anything that `new` does not rewrite."""
    if not directory.is_dir():
        return
    kept = sorted({path.name for path in directory.iterdir()} - {path.name for path in new.iterdir()})
    if kept:
        raise CheckpointError(f"{directory}: already holds {', '.join(kept[:5])}{', ...' if len(kept) > 5 else ''}, "
                              f"which writing the model here would delete; choose a new or empty folder, or remove "
                              f"them first")


def _swap_in(temporary: Path, directory: Path) -> None:
    """Moves `temporary` to `directory`, the old `directory` aside first and deleted last; on failure the old one
    is put back."""
    previous = None
    try:
        if directory.exists():
            previous = Path(tempfile.mkdtemp(prefix=f".{directory.name}.previous-", dir=directory.parent))
            os.replace(directory, previous / directory.name)
        os.replace(temporary, directory)
    except OSError as error:
        if previous is not None and (previous / directory.name).exists():
            os.replace(previous / directory.name, directory)
        raise CheckpointError(f"{directory}: cannot move the written folder into place ({error.strerror}); nothing "
                              f"there was changed") from None
    finally:
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
