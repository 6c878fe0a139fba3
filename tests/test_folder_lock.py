"""Folder locks: one holder at a time, released however the holder ends (SIGKILL included), the holder named to
whoever finds it taken; on a file system without flock, the record of pid and host decides."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bertjax.errors import FolderInUseError
from bertjax.folder_lock import Holder, folder_lock

HOLD = """
import sys, time
from bertjax.folder_lock import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_taker_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    with folder_lock(tmp_path, purpose="run folder", advice="wait") as previous:
        assert previous is None
        with pytest.raises(FolderInUseError) as raised:
            with folder_lock(tmp_path, wait=False, purpose="run folder", advice="wait"):
                pass
        with folder_lock(tmp_path, name=".other-lock", wait=False):  # another lock file of the folder is free
            pass
    recorded = f"process {os.getpid()} on host {socket.gethostname()} (since "
    assert str(raised.value).startswith(f"run folder {tmp_path} is in use by {recorded}")
    assert str(raised.value).endswith("); wait")


def test_released_however_the_block_ends(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with folder_lock(tmp_path):
            raise ValueError("the holder failed")
    with folder_lock(tmp_path, wait=False) as previous:
        assert previous is None  # released properly: no stale record
    assert (tmp_path / ".lock").read_text() == ""


def test_a_waiting_taker_gets_the_lock_when_the_holder_releases_it(tmp_path: Path) -> None:
    held, order = threading.Event(), []

    def hold() -> None:
        with folder_lock(tmp_path):
            held.set()
            time.sleep(0.5)
            order.append("released")

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    with folder_lock(tmp_path):
        order.append("taken")
    holder.join()
    assert order == ["released", "taken"]


def test_a_lock_left_by_a_killed_process_is_taken_over_and_its_holder_named(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "held\n"
        with pytest.raises(FolderInUseError, match=f"in use by process {process.pid} on host"):
            with folder_lock(tmp_path, wait=False):
                pass
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == process.pid  # the record outlives its holder
    with folder_lock(tmp_path, wait=False) as previous:
        assert (previous.pid, previous.host) == (process.pid, socket.gethostname())
    assert (tmp_path / ".lock").read_text() == ""


def _ended_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("recorded, held", [
    ("a live process of this host", True),
    ("an ended process of this host", False),
    ("a process of another host", True),
    ("this very process (a restarted container)", False),
])
def test_without_flock_the_record_decides_by_pid_and_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          recorded: str, held: bool) -> None:
    def no_flock(*args: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    holder = {"a live process of this host": Holder(os.getppid(), socket.gethostname(), "then"),
              "an ended process of this host": Holder(_ended_pid(), socket.gethostname(), "then"),
              "a process of another host": Holder(os.getpid(), "elsewhere", "then"),
              "this very process (a restarted container)": Holder(os.getpid(), socket.gethostname(), "then")}[recorded]
    (tmp_path / ".lock").write_text(json.dumps(holder.__dict__))
    if held:
        with pytest.raises(FolderInUseError, match=f"in use by process {holder.pid} on host {holder.host}") as raised:
            with folder_lock(tmp_path, wait=False):
                pass
        # A process of another host cannot be checked from here: the message says how to free the lock.
        assert (f"delete {tmp_path / '.lock'} if it has ended" in str(raised.value)) == (holder.host == "elsewhere")
    else:
        with folder_lock(tmp_path, wait=False) as previous:
            assert previous == holder
            assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
