"""Metrics of a run, twice: JSON lines for scripts and plots, TensorBoard event files for browsing.

    <run_dir>/metrics/<split>.jsonl        one {"step": 100, "loss": 2.31, ...} per line, flushed as written
    <run_dir>/tensorboard/<split>/         event files with the same scalars (train and eval share the tag names)
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from bertjax.atomic import write_text_atomically
from bertjax.errors import DataError, DependencyError


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; an unfinished last line (a crash mid-write) is left out."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines):  # no newline after it: the write never finished
                break
            raise DataError(f"{path}:{number}: not a JSON object ({error.msg}); fix or delete that line") from error
    return records


class MetricsLog:
    """Appends scalar metrics per split (`train`, `eval`, ...); does nothing when `enabled` is False.

    Only the primary process should be enabled. On resume, call `truncate_after(resumed_step)` before writing so the
    entries a crashed run wrote after its last checkpoint disappear from the files and from TensorBoard.
    """

    def __init__(self, run_dir: str | Path, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._files: dict[str, IO[str]] = {}
        self._writers: dict[str, Any] = {}
        self._purge_step: int | None = None

    def path(self, split: str) -> Path:
        return self.run_dir / "metrics" / f"{split}.jsonl"

    def write(self, split: str, step: int, metrics: Mapping[str, float]) -> None:
        """Appends one line `{"step": step, name: value, ...}` and the same scalars to TensorBoard."""
        if not self.enabled:
            return
        values = {name: float(value) for name, value in metrics.items()}
        file = self._file(split)
        file.write(json.dumps({"step": int(step), **values}) + "\n")
        file.flush()
        writer = self._writer(split)
        for name, value in values.items():
            writer.add_scalar(name, value, int(step))
        writer.flush()

    def truncate_after(self, step: int) -> None:
        """Drops the entries with a step past `step` from every split, as a run resumed from `step` rewrites them."""
        if not self.enabled:
            return
        self.close()
        for path in sorted((self.run_dir / "metrics").glob("*.jsonl")):
            kept = [record for record in read_jsonl(path) if record.get("step", 0) <= step]
            write_text_atomically(path, "".join(json.dumps(record) + "\n" for record in kept))
        # Event files cannot be edited; a purge marker tells TensorBoard to hide what older files hold from here on.
        self._purge_step = step + 1

    def close(self) -> None:
        for file in self._files.values():
            file.close()
        for writer in self._writers.values():
            writer.close()
        self._files.clear()
        self._writers.clear()

    def _file(self, split: str) -> IO[str]:
        if split not in self._files:
            path = self.path(split)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._files[split] = path.open("a", encoding="utf-8")
        return self._files[split]

    def _writer(self, split: str) -> Any:
        if split not in self._writers:
            # Imported here: tensorboardX imports torch, which costs seconds that only a writing process should pay.
            try:
                from tensorboardX import SummaryWriter
            except ImportError as error:
                raise DependencyError("TensorBoard logging needs tensorboardX: pip install tensorboardX") from error
            # Event file names hold the time in whole seconds; the suffix keeps a writer opened in the same second
            # (a quick resume) from overwriting its predecessor's file, and keeps the names in opening order.
            self._writers[split] = SummaryWriter(str(self.run_dir / "tensorboard" / split),
                                                 purge_step=self._purge_step, filename_suffix=f".{time.time_ns()}")
        return self._writers[split]
