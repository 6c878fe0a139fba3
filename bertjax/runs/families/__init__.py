"""Fine-tuning task families, by `task.type`."""

from bertjax.runs.families.classification import ClassificationFamily

FAMILIES = {
    "classification": ClassificationFamily,
    "regression": ClassificationFamily,
}

__all__ = ["FAMILIES"]
