"""GLUE task presets: where the texts and labels are (GLUE TSV files and tensorflow-datasets), the splits, the
metrics."""

from __future__ import annotations

import dataclasses

from bertjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class GlueTask:
    """One GLUE task.

    labels: the label values as written in the GLUE TSV files, in id order (the order of tfds's ClassLabel, so
      TSV and tfds give the same ids); None for the regression task STS-B.
    tsv_fieldnames: column names of the header-less train/dev TSV files (CoLA's), None where the files have a header.
    metrics: names of `bertjax.metrics.classification` metrics, reported per evaluation split.
    """

    name: str
    tsv_text_column: str
    tsv_text_pair_column: str | None
    tsv_label_column: str
    tfds_text_column: str
    tfds_text_pair_column: str | None
    labels: tuple[str, ...] | None
    metrics: tuple[str, ...]
    eval_splits: tuple[str, ...] = ("validation",)
    test_splits: tuple[str, ...] = ("test",)
    tsv_fieldnames: tuple[str, ...] | None = None

    @property
    def regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        """Outputs of the classifier: 1 for regression."""
        return 1 if self.labels is None else len(self.labels)

    @property
    def tfds_name(self) -> str:
        return f"glue/{self.name}"


_BINARY = ("0", "1")
_ENTAILMENT = ("entailment", "not_entailment")

GLUE_TASKS: dict[str, GlueTask] = {task.name: task for task in (
    GlueTask("cola", "sentence", None, "label", "sentence", None, _BINARY, ("matthews",),
             tsv_fieldnames=("source", "label", "original_label", "sentence")),
    GlueTask("sst2", "sentence", None, "label", "sentence", None, _BINARY, ("accuracy",)),
    GlueTask("mrpc", "#1 String", "#2 String", "Quality", "sentence1", "sentence2", _BINARY, ("f1", "accuracy")),
    GlueTask("qqp", "question1", "question2", "is_duplicate", "question1", "question2", _BINARY,
             ("f1", "accuracy")),
    GlueTask("stsb", "sentence1", "sentence2", "score", "sentence1", "sentence2", None, ("pearson", "spearman")),
    GlueTask("mnli", "sentence1", "sentence2", "gold_label", "premise", "hypothesis",
             ("entailment", "neutral", "contradiction"), ("accuracy",),
             eval_splits=("validation_matched", "validation_mismatched"),
             test_splits=("test_matched", "test_mismatched")),
    GlueTask("qnli", "question", "sentence", "label", "question", "sentence", _ENTAILMENT, ("accuracy",)),
    GlueTask("rte", "sentence1", "sentence2", "label", "sentence1", "sentence2", _ENTAILMENT, ("accuracy",)),
    GlueTask("wnli", "sentence1", "sentence2", "label", "sentence1", "sentence2", _BINARY, ("accuracy",)),
)}


def glue_task(name: str) -> GlueTask:
    """The preset for `name` (`sst2` or `glue/sst2`)."""
    key = name.removeprefix("glue/").lower()
    if key not in GLUE_TASKS:
        raise ConfigError(f"unknown GLUE task {name!r}; the tasks are: {', '.join(GLUE_TASKS)}")
    return GLUE_TASKS[key]
