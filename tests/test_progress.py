"""Progress: the postfix carries the loss and the throughput; a log file gets few redraws; disabled prints nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from bertjax.train import progress as progress_module
from bertjax.train.progress import Progress


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """A settable stand-in for the throughput clock: tests append the next reading."""
    readings = [100.0]
    monkeypatch.setattr(progress_module, "perf_counter", lambda: readings[-1])
    yield readings


def test_postfix_shows_loss_and_tokens_per_second(clock: list[float]) -> None:
    output = io.StringIO()
    progress = Progress(100, initial_step=10, description="pretrain", file=output)
    clock.append(102.0)  # 2 seconds for 5,000 tokens
    progress.update(20, {"loss": 2.34567, "learning_rate": 1e-4}, tokens=5000)
    assert progress.postfix == "loss=2.3457, tokens/s=2.50k"
    progress.close()
    text = output.getvalue()
    assert "pretrain" in text and "20/100" in text
    assert "loss=2.3457, tokens/s=2.50k" in text


def test_examples_per_second_when_no_tokens_are_counted(clock: list[float]) -> None:
    progress = Progress(10, file=io.StringIO())
    clock.append(100.5)
    progress.update(1, {"loss": 0.5}, examples=64)
    assert progress.postfix == "loss=0.5000, examples/s=128"
    progress.close()


def test_a_log_file_gets_a_handful_of_redraws(clock: list[float]) -> None:
    output = io.StringIO()
    progress = Progress(1000, file=output)
    for step in range(1, 1001):
        clock.append(100.0 + step)
        progress.update(step, {"loss": 1.0 / step}, tokens=128)
    progress.write("eval at step 1000: accuracy 0.9000")
    progress.close()
    text = output.getvalue()
    # The first draw, the message (with its redraw) and the final state: not one line per update.
    assert text.count("\r") <= 6, text
    assert "eval at step 1000: accuracy 0.9000\n" in text
    assert "1000/1000" in text


def test_disabled_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(10, enabled=False)
    progress.update(5, {"loss": 1.0}, tokens=100)
    progress.write("this host is not the primary")
    progress.close()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
