"""Locks on folders, so that one process at a time prepares a data folder or trains in a run folder.

A lock is `fcntl.flock` on a file in the folder; the file also records the holder (pid, host, since when) for the
messages of those who find it taken. The kernel drops a flock when its holder exits in any way, SIGKILL included, so
a lock file left by a killed process never blocks: the next process takes the lock and learns from the file that its
last holder ended without releasing it. On a file system that refuses flock (some network file systems do), the
record alone decides, by pid and host: a lock recorded by a process that still runs on this host, or by a process
of another host (which cannot be checked from here), is held; one recorded by a process of this host that has ended
is stale and taken over. Without flock, two processes starting in the same instant may both take it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bertjax.errors import FolderInUseError

NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)  # a file system without flock says one of these
POLL_SECONDS = 1.0  # how often a waiting process looks again where there is no flock


@dataclasses.dataclass(frozen=True)
class Holder:
    """The process that holds (or last held) a lock."""

    pid: int
    host: str
    since: str  # ISO time, to the second

    @classmethod
    def this_process(cls) -> Holder:
        return cls(os.getpid(), socket.gethostname(), datetime.datetime.now().isoformat(timespec="seconds"))

    def describe(self) -> str:
        return f"process {self.pid} on host {self.host} (since {self.since})"

    def may_run(self) -> bool:
        """False only for a process of this host that has ended; one of another host cannot be checked."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process
            return True
        return True


def _read_holder(file: IO[str]) -> Holder | None:
    """The holder recorded in the lock file; None for an empty (released) or unreadable record."""
    file.seek(0)
    try:
        return Holder(**json.loads(file.read()))
    except (ValueError, TypeError):
        return None


def _record(file: IO[str], holder: Holder | None) -> None:
    file.seek(0)
    file.truncate()
    if holder is not None:
        file.write(json.dumps(dataclasses.asdict(holder)))
    file.flush()


def _flock(file: IO[str], wait: bool) -> bool | None:
    """Takes the flock (waiting for it with `wait`): True when taken, False when held elsewhere, None where the file
    system has no flock."""
    try:
        fcntl.flock(file, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno in NO_FLOCK:
            return None
        raise
    return True


def _holder_by_record(file: IO[str], wait: bool) -> Holder | None:
    """Without flock: the recorded holder while it may still run (after waiting for it to end with `wait`). A record
    of this very process is stale too: a process restarted in a container often gets the pid it had before."""
    while True:
        holder = _read_holder(file)
        if holder is None or not holder.may_run() or holder.pid == os.getpid() and holder.host == socket.gethostname():
            return None
        if not wait:
            return holder
        time.sleep(POLL_SECONDS)


def _in_use(path: Path, holder: Holder | None, without_flock: bool, purpose: str, advice: str) -> FolderInUseError:
    who = holder.describe() if holder else "another process"
    if without_flock and holder and holder.host != socket.gethostname():
        who += f" (of another host: on this file system without flock, delete {path} if it has ended)"
    return FolderInUseError(f"{purpose} {path.parent} is in use by {who}; {advice}")


@contextlib.contextmanager
def folder_lock(folder: str | Path, name: str = ".lock", wait: bool = True, purpose: str = "folder",
                advice: str = "wait for it to end") -> Iterator[Holder | None]:
    """Holds the lock file `folder/name` while the block runs, released however the block ends.

    Yields the holder recorded by a process that ended without releasing the lock (a killed one), else None.
    wait: wait for the holder to end; otherwise raise FolderInUseError at once, naming the folder and the holder
    (`purpose` and `advice` word the message: "<purpose> <folder> is in use by <holder>; <advice>").
    """
    path = Path(folder) / name
    with open(path, "a+", encoding="utf-8") as file:
        taken = _flock(file, wait)
        holder = _holder_by_record(file, wait) if taken is None else _read_holder(file) if taken is False else None
        if taken is False or holder is not None:
            raise _in_use(path, holder, taken is None, purpose, advice)
        previous = _read_holder(file)
        _record(file, Holder.this_process())
        try:
            yield previous
        finally:
            _record(file, None)
            if taken:
                fcntl.flock(file, fcntl.LOCK_UN)
