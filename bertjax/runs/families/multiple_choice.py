"""Multiple choice (SWAG-style): a context and `task.num_choices` endings per CSV or JSON-lines row; accuracy
beside always choosing the ending position most often right in training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bertjax.data.batching import BucketedDataset, padding_values
from bertjax.data.finetuning.multiple_choice import (MultipleChoiceExamples, encode_multiple_choice, load_multiple_choice_examples,
                                          multiple_choice_accuracy)
from bertjax.errors import ConfigError, DataError
from bertjax.pipelines import MultipleChoicePipeline, PredictionModel
from bertjax.runs.families.classification import write_rows
from bertjax.runs.families.splits import evaluation_rows
from bertjax.runs.task_family import PreparedData, TaskSection
from bertjax.tasks.finetuning import OBJECTIVES


def _subset(examples: MultipleChoiceExamples, indices: np.ndarray) -> MultipleChoiceExamples:
    return MultipleChoiceExamples([examples.contexts[index] for index in indices],
                                  [examples.choices[index] for index in indices],
                                  None if examples.labels is None else examples.labels[indices],
                                  [examples.where[index] for index in indices])


def _texts(examples: MultipleChoiceExamples) -> list[str]:
    return examples.contexts + [choice for choices in examples.choices for choice in choices]


class MultipleChoiceFamily:
    """One score per (context, ending) pair; the endings of an example compete in one softmax.

    Columns are SWAG's: `sent1` (context), `sent2` (start of the endings), `ending0`.. and `task.label_column`.
    """

    objective = OBJECTIVES["multiple_choice"]
    primary_metric = "accuracy"

    def __init__(self, section: TaskSection) -> None:
        self.section = section
        self._train_labels: np.ndarray | None = None
        self._eval: MultipleChoiceExamples | None = None

    def _load(self, path: str) -> MultipleChoiceExamples:
        return load_multiple_choice_examples(path, num_choices=self.section.num_choices,
                                             label_column=self.section.label_column, format=self.section.format)

    def _splits(self, section: TaskSection, seed: int, fold: tuple[int, int] | None = None
                ) -> tuple[MultipleChoiceExamples, MultipleChoiceExamples]:
        if section.tfds:
            raise ConfigError(f"task.tfds={section.tfds!r}: multiple choice reads SWAG-style CSV or JSON-lines files; "
                              f"set task.train_file instead")
        if not section.train_file or section.train_file == "builtin":
            raise ConfigError("task.train_file: multiple choice needs a SWAG-style CSV or JSON-lines file (sent1, "
                              "sent2, ending0.., label); the built-in data is for classification")
        train = self._load(section.train_file)
        evaluation = self._load(section.eval_file) if section.eval_file else None
        rows = evaluation_rows(len(train), evaluation is not None, section.eval_fraction, seed, fold)
        return (train, evaluation) if rows is None else (_subset(train, rows[0]), _subset(train, rows[1]))

    def training_texts(self, section: TaskSection) -> list[str]:
        return _texts(self._splits(section, seed=0)[0])

    def _dataset(self, examples: MultipleChoiceExamples, tokenizer: Any, seed: int) -> BucketedDataset:
        return BucketedDataset(encode_multiple_choice(examples, tokenizer, self.section.max_seq_length),
                               padding_values(tokenizer.pad_token_id), self.section.bucket_lengths(),
                               seed=seed)

    def prepare(self, section: TaskSection, tokenizer: Any, seed: int, fold: tuple[int, int] | None
                ) -> PreparedData:
        train, evaluation = self._splits(section, seed, fold)
        for examples in (train, evaluation):
            if examples.labels is None:
                raise DataError(f"{examples.where[0]}: no {section.label_column!r} column; "
                                f"training and evaluation rows need the index of the right ending")
        self._train_labels, self._eval = train.labels, evaluation
        return PreparedData(self._dataset(train, tokenizer, seed), self._dataset(evaluation, tokenizer, seed), None,
                            _texts(train))

    def evaluate(self, outputs: dict[str, list[np.ndarray]]) -> dict[str, float]:
        logits = np.stack(outputs["logits"])  # [examples, choices]
        most_frequent = int(np.bincount(self._train_labels).argmax())
        return {"accuracy": multiple_choice_accuracy(logits, self._eval.labels),
                "baseline_accuracy": float(np.mean(self._eval.labels == most_frequent))}

    def report(self, outputs: dict[str, list[np.ndarray]], run_dir: Path) -> list[str]:
        """How often each ending position is chosen and right: a model stuck on one position shows here."""
        chosen = np.stack(outputs["logits"]).argmax(-1)
        choices = self.section.num_choices
        chosen_counts = np.bincount(chosen, minlength=choices)
        right_counts = np.bincount(self._eval.labels, minlength=choices)
        return [f"{'ending':>12} {'chosen':>8} {'right':>8}",
                *(f"{index:>12} {chosen_counts[index]:>8} {right_counts[index]:>8}" for index in range(choices))]

    def predict(self, section: TaskSection, model: PredictionModel, path: Path) -> int:
        examples = self._load(section.predict_file)
        choose = MultipleChoicePipeline(model, max_seq_length=section.max_seq_length)
        probabilities = choose.probabilities(examples.contexts, examples.choices)
        rows = [{"context": context, "label": int(row.argmax()),
                 **{f"probability_{index}": float(value) for index, value in enumerate(row)}}
                for context, row in zip(examples.contexts, probabilities)]
        write_rows(rows, path)
        return len(rows)
