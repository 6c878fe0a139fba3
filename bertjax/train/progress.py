"""The training progress bar: step, ETA, the latest loss and the throughput, on the primary process only."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from time import perf_counter
from typing import TextIO

from tqdm import tqdm

# A terminal redraws one line in place; a CI log appends every redraw, so it gets one only every half minute.
TERMINAL_REFRESH_SECONDS = 0.5
LOG_REFRESH_SECONDS = 30.0


class Progress:
    """A tqdm bar over optimizer steps whose postfix shows `loss=...` and `tokens/s=...` (or `examples/s=...`).

    enabled=False (non-primary processes) prints nothing at all, `write` included.
    """

    def __init__(self, total_steps: int, initial_step: int = 0, description: str = "train", enabled: bool = True,
                 file: TextIO | None = None) -> None:
        self.enabled = enabled
        self._file = file if file is not None else sys.stderr
        interactive = getattr(self._file, "isatty", lambda: False)()
        self._bar = tqdm(total=total_steps, initial=initial_step, desc=description, unit="step",
                         disable=not enabled, file=self._file, dynamic_ncols=interactive,
                         mininterval=TERMINAL_REFRESH_SECONDS if interactive else LOG_REFRESH_SECONDS)
        self._last_time = perf_counter()

    @property
    def postfix(self) -> str:
        """The text after the bar: latest loss and throughput."""
        return self._bar.postfix or ""

    def update(self, step: int, metrics: Mapping[str, float], tokens: int = 0, examples: int = 0) -> None:
        """Moves the bar to `step`.

        tokens, examples: how many were processed since the previous update; the throughput shown is tokens/s if
        tokens were given, else examples/s.
        """
        now = perf_counter()
        elapsed = max(now - self._last_time, 1e-9)
        self._last_time = now
        parts = [f"loss={metrics['loss']:.4f}"] if "loss" in metrics else []
        for name, count in (("tokens", tokens), ("examples", examples)):
            if count:
                parts.append(f"{name}/s={tqdm.format_sizeof(count / elapsed)}")
                break
        self._bar.set_postfix_str(", ".join(parts), refresh=False)
        self._bar.update(step - self._bar.n)

    def write(self, message: str) -> None:
        """Prints a line above the bar (nothing when disabled)."""
        if self.enabled:
            tqdm.write(message, file=self._file)

    def close(self) -> None:
        self._bar.close()
