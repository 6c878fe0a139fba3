"""The project's exceptions: each message names the file, line or field at fault and says what to do."""


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
