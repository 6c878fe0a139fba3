"""The project's exceptions: each message names the file, line or field at fault and says what to do."""

LOGGED_NOTE = "full error: "  # the start of the note on an exception that names the log holding its traceback


class BertJaxError(Exception):
    """Base class of every error bertjax raises on purpose."""


class ConfigError(BertJaxError):
    """A configuration value is missing, malformed or cannot be honoured."""


class CheckpointError(BertJaxError):
    """A checkpoint is missing, corrupt or does not fit the model."""


class DataError(BertJaxError):
    """An input file or data set is missing, empty or malformed."""


class DependencyError(BertJaxError):
    """An optional dependency needed for the requested feature is not installed."""


class FolderInUseError(BertJaxError):
    """Another process holds the folder (a run folder, a data folder being prepared)."""


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception of `error`'s chain (as its traceback shows it): often the one that says what went
    wrong, where the outer ones say what was being done."""
    while True:
        inner = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if inner is None:
            return error
        error = inner


def first_line(error: BaseException | str, limit: int = 120) -> str:
    """What a one-line message quotes of a library's error: the first line of its message (its type's name when it
    has none), cut to `limit` characters. TensorStore's errors, for one, run on for lines with their whole spec."""
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."
