"""MetricsLog: JSON lines, TensorBoard event files read back record by record, truncation on resume."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from bertjax.errors import DataError
from bertjax.train.metrics_log import MetricsLog, read_jsonl


def read_events(folder: Path) -> list[list[tuple[int, str, float | str]]]:
    """Each event file in `folder` (oldest first) as (step, tag, value) rows; session logs have tag `session_log`.

    Event files are TFRecords: length, masked CRC of the length, an `Event` protobuf, masked CRC of the protobuf.
    """
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import masked_crc32c

    files = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, rows, offset = path.read_bytes(), [], 0
        while offset < len(data):
            header = data[offset:offset + 8]
            (length,) = struct.unpack("Q", header)
            assert struct.unpack("I", data[offset + 8:offset + 12])[0] == masked_crc32c(header)
            payload = data[offset + 12:offset + 12 + length]
            assert struct.unpack("I", data[offset + 12 + length:offset + 16 + length])[0] == masked_crc32c(payload)
            offset += 16 + length
            event = Event.FromString(payload)
            if event.HasField("session_log"):
                rows.append((event.step, "session_log", event.session_log.SessionStatus.Name(event.session_log.status)))
            rows += [(event.step, value.tag, value.simple_value) for value in event.summary.value]
        files.append(rows)
    return files


def test_writes_json_lines_and_tensorboard_scalars(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path)
    log.write("train", 10, {"loss": 2.5, "learning_rate": 1e-4})
    log.write("train", 20, {"loss": 2.25, "learning_rate": 2e-4})
    log.write("eval", 20, {"loss": 2.375, "accuracy": 0.5})
    # Flushed as written: readable before close.
    assert (tmp_path / "metrics" / "train.jsonl").read_text().splitlines() == [
        '{"step": 10, "loss": 2.5, "learning_rate": 0.0001}', '{"step": 20, "loss": 2.25, "learning_rate": 0.0002}']
    assert read_jsonl(tmp_path / "metrics" / "eval.jsonl") == [{"step": 20, "loss": 2.375, "accuracy": 0.5}]
    log.close()
    (train_events,) = read_events(tmp_path / "tensorboard" / "train")
    assert [row for row in train_events if row[1] == "loss"] == [(10, "loss", 2.5), (20, "loss", 2.25)]
    learning_rates = [(step, value) for step, tag, value in train_events if tag == "learning_rate"]
    assert learning_rates == [(10, pytest.approx(1e-4)), (20, pytest.approx(2e-4))]
    (eval_events,) = read_events(tmp_path / "tensorboard" / "eval")
    assert (20, "accuracy", 0.5) in eval_events


def test_disabled_writes_nothing(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "run", enabled=False)
    log.write("train", 1, {"loss": 1.0})
    log.truncate_after(0)
    log.close()
    assert not (tmp_path / "run").exists()


def test_resume_drops_what_a_crashed_run_wrote_after_its_checkpoint(tmp_path: Path) -> None:
    crashed = MetricsLog(tmp_path)
    for step in (10, 20, 30):
        crashed.write("train", step, {"loss": 3.0 - step / 10})
    crashed.write("eval", 20, {"loss": 1.5})
    crashed.write("eval", 30, {"loss": 1.25})
    crashed.close()
    with (tmp_path / "metrics" / "train.jsonl").open("a") as file:
        file.write('{"step": 40, "lo')  # the crash cut this line short

    resumed = MetricsLog(tmp_path)
    resumed.truncate_after(20)
    assert [record["step"] for record in read_jsonl(tmp_path / "metrics" / "train.jsonl")] == [10, 20]
    assert read_jsonl(tmp_path / "metrics" / "eval.jsonl") == [{"step": 20, "loss": 1.5}]
    resumed.write("train", 30, {"loss": 0.5})
    resumed.close()
    assert [record["loss"] for record in read_jsonl(tmp_path / "metrics" / "train.jsonl")] == [2.0, 1.0, 0.5]

    first, second = read_events(tmp_path / "tensorboard" / "train")
    assert [step for step, tag, _ in first if tag == "loss"] == [10, 20, 30]
    # The new file opens with a session restart at step 21: TensorBoard hides the older events from step 21 on.
    assert second == [(21, "session_log", "START"), (30, "loss", 0.5)]


def test_a_malformed_line_inside_the_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\nnot json\n{"step": 2, "loss": 0.5}\n')
    with pytest.raises(DataError, match=f"{path}:2: not a JSON object"):
        read_jsonl(path)
    assert json.loads(path.read_text().splitlines()[0]) == {"step": 1, "loss": 1.0}
