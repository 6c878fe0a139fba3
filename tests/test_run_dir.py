"""The run folder's lock and error log (bertjax/runs/run_dir.py): one lock per process, taken before the hosts
join; a lock left by a killed run is taken over; an error that ends a run leaves its traceback in error.log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertjax.error_report import error_line
from bertjax.errors import FolderInUseError
from bertjax.runs.run_dir import RunSection, run_folder

def test_each_process_locks_the_folder_for_itself_before_joining(tmp_path: Path) -> None:
    """Process 1 of a two-process run holds `.lock-1`: a second launch of process 1 stops, without trying to join
    the hosts (there is no coordinator at that address); process 0 takes its own lock."""
    hosts = dict(output_dir=str(tmp_path), coordinator_address="127.0.0.1:1", num_processes=2)
    with run_folder(RunSection(**hosts, process_id=1)):
        assert sorted(path.name for path in tmp_path.iterdir()) == [".lock-1"]
        with pytest.raises(FolderInUseError, match=f"run folder {tmp_path} is in use by process"):
            with run_folder(RunSection(**hosts, process_id=1)):
                pass
        with run_folder(RunSection(**hosts, process_id=0)):
            assert (tmp_path / ".lock").read_text()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """What a killed run leaves: the record of its lock, whose flock the kernel dropped
    (tests/test_folder_lock.py kills one)."""
    (tmp_path / ".lock").write_text(json.dumps({"pid": 4321, "host": "node-7", "since": "2024-05-01T10:00:00"}))
    with run_folder(RunSection(output_dir=str(tmp_path))):
        said = capsys.readouterr().out
    assert said == (f"run folder {tmp_path}: the run of process 4321 on host node-7 (since 2024-05-01T10:00:00) ended "
                    "without releasing it; going on\n")


def test_an_error_that_ends_a_run_leaves_its_traceback_in_the_error_log(tmp_path: Path) -> None:
    details = "\n".join(f"detail line {index}" for index in range(60))
    with pytest.raises(RuntimeError) as raised:
        with run_folder(RunSection(output_dir=str(tmp_path))):
            raise RuntimeError(f"the device ran out of memory\n{details}")
    log = (tmp_path / "error.log").read_text()
    assert log.startswith("=== ") and "process 0 (pid" in log and "Traceback (most recent call last)" in log
    assert details in log
    assert error_line(raised.value) == (f"RuntimeError: the device ran out of memory (unexpected: the traceback is "
                                        f"in {tmp_path / 'error.log'})")
