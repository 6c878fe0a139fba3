"""How the scripts report an error: one short line and exit status 1, not a traceback (`--debug` raises it)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from bertjax.errors import LOGGED_NOTE, BertJaxError, first_line


def report_errors(action: Callable[[], Any], debug: bool) -> int:
    """Runs `action`: exit status 0, or 1 with the error printed as one short line (raised as it is with `debug`).

    A project error prints its message; any other error its type and the first line of its message.
    """
    try:
        action()
    except Exception as error:
        if debug:
            raise
        print(f"error: {error_line(error)}", file=sys.stderr)
        return 1
    return 0


def error_line(error: Exception) -> str:
    """The one line an error is reported with (without its `error: ` prefix): a project error's message (the run
    folder's error.log, where there is one, holds its traceback), else the error's type and first line and where
    its traceback is."""
    if isinstance(error, BertJaxError):  # one line by design; should one quote a library's lines, they are joined
        return " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    logged = next((note[len(LOGGED_NOTE):] for note in getattr(error, "__notes__", ())
                   if note.startswith(LOGGED_NOTE)), None)
    where = f"the traceback is in {logged}" if logged else "run again with --debug to see the traceback"
    return f"{type(error).__name__}: {first_line(error)} (unexpected: {where})"
