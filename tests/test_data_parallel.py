"""Data parallelism: steps over 8 devices, or over 2 processes of 2 devices, equal the single-device steps."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROGRAM = Path(__file__).parent / "programs" / "data_parallel_step.py"
# One worker runs the tests that compare with the single-device steps, which it then computes once.
SINGLE_DEVICE_GROUP = pytest.mark.xdist_group("data_parallel_single_device")


def _environment(devices: int, **extra: str) -> dict[str, str]:
    return {**os.environ, "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", **extra}


def _run(output: Path, devices: int, steps: int = 2, accumulation: int = 1, dropout: float = 0.1
         ) -> dict[str, np.ndarray]:
    subprocess.run([sys.executable, str(PROGRAM), str(output), str(steps), str(accumulation), str(dropout)],
                   env=_environment(devices), check=True, timeout=300)
    return dict(np.load(output))


def _assert_same(first: dict[str, np.ndarray], second: dict[str, np.ndarray], tolerance: float) -> None:
    np.testing.assert_allclose(first["losses"], second["losses"], rtol=tolerance, atol=tolerance)
    assert set(first) == set(second)
    for key in first:
        if key not in ("losses", "devices"):
            np.testing.assert_allclose(first[key], second[key], rtol=0, atol=tolerance, err_msg=key)


@pytest.fixture(scope="module")
def single_device(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    return _run(tmp_path_factory.mktemp("one") / "one.npz", devices=1)


@SINGLE_DEVICE_GROUP
def test_eight_devices_match_one(single_device: dict[str, np.ndarray], tmp_path: Path) -> None:
    eight = _run(tmp_path / "eight.npz", devices=8)
    assert int(eight["devices"]) == 8 and int(single_device["devices"]) == 1
    # Float32 all-reduce sums in another order than the single-device reduction: ~1e-7 relative differences.
    _assert_same(eight, single_device, tolerance=5e-6)


@SINGLE_DEVICE_GROUP
def test_two_processes_of_two_devices_match_one_device(single_device: dict[str, np.ndarray], tmp_path: Path
                                                       ) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output = tmp_path / "two_processes.npz"
    processes = [
        subprocess.Popen([sys.executable, str(PROGRAM), str(output), "2"],
                         env=_environment(2, BERTJAX_COORDINATOR=f"127.0.0.1:{port}", BERTJAX_NUM_PROCESSES="2",
                                          BERTJAX_PROCESS_ID=str(index)))
        for index in range(2)
    ]
    assert [process.wait(timeout=300) for process in processes] == [0, 0]
    two_processes = dict(np.load(output))
    assert int(two_processes["devices"]) == 4
    _assert_same(two_processes, single_device, tolerance=5e-6)  # the all-reduce's order: as for eight devices


def test_gradient_accumulation_matches_the_full_batch(tmp_path: Path) -> None:
    # Rows have 1 to 4 MLM predictions, so micro-batches hold different numbers of them: each micro-batch's loss is
    # divided by the full batch's count, not its own. Dropout is off because micro-batches draw their own masks.
    whole = _run(tmp_path / "whole.npz", devices=1, dropout=0.0)
    accumulated = _run(tmp_path / "accumulated.npz", devices=2, accumulation=4, dropout=0.0)
    _assert_same(accumulated, whole, tolerance=5e-6)
