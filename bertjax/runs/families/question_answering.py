"""Extractive question answering (SQuAD v1.1 and v2.0): windows of long contexts with a doc stride, answers decoded
from the n-best spans over all windows, official exact match and F1 beside the empty answer's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bertjax.data.batching import BucketedDataset, padding_values
from bertjax.data.finetuning.qa_postprocess import QaPredictions, postprocess_qa_predictions
from bertjax.data.finetuning.question_answering import QuestionAnsweringFeatures, prepare_qa_features
from bertjax.data.finetuning.squad import SquadExample, gold_answers, locate_question, read_squad, read_tfds_squad
from bertjax.errors import ConfigError, DataError
from bertjax.metrics.squad import squad_metrics, write_predictions
from bertjax.pipelines import PredictionModel, QuestionAnsweringPipeline
from bertjax.runs.families.splits import evaluation_rows
from bertjax.runs.task_family import PreparedData, TaskSection
from bertjax.tasks.finetuning import OBJECTIVES

Examples = list[SquadExample]


def _by_context(examples: Examples, context_rows: np.ndarray) -> Examples:
    """The examples whose context is one of the `context_rows`-th distinct contexts (in order of appearance).

    Splits go by context, not by question, so no evaluation passage has been read in training.
    """
    contexts = list(dict.fromkeys(example.context for example in examples))
    chosen = {contexts[row] for row in context_rows}
    return [example for example in examples if example.context in chosen]


def _texts(examples: Examples) -> list[str]:
    """The questions and each distinct context once."""
    return [example.question for example in examples] + list(dict.fromkeys(example.context for example in examples))


def _check_answered(examples: Examples, section: TaskSection, file: str | None, use: str) -> None:
    """Every question to train on or score has an answer, or is marked is_impossible."""
    unlabelled = next((example for example in examples if not example.answers and not example.is_impossible), None)
    if unlabelled is not None:
        where = f"tensorflow-datasets {section.tfds!r}" if section.tfds else locate_question(file, unlabelled.id)
        raise DataError(f"{where}: question {unlabelled.id!r} has no answers and is not marked is_impossible, so "
                        f"it cannot be {use}; give it an answer (or, for SQuAD v2.0, is_impossible: true)")


class QuestionAnsweringFamily:
    """Start and end logits per token; `task.version_2` allows questions without an answer."""

    objective = OBJECTIVES["question_answering"]
    primary_metric = "f1"

    def __init__(self, section: TaskSection) -> None:
        self.section = section
        self.version_2 = section.version_2 or (section.tfds or "").endswith("v2.0")
        self._eval: Examples = []
        self._eval_features: QuestionAnsweringFeatures | None = None

    def _checked_version(self, source: str, examples: Examples) -> Examples:
        impossible = next((example for example in examples if example.is_impossible), None)
        if impossible is not None and not self.version_2:
            raise ConfigError(f"{source}: question {impossible.id!r} is marked is_impossible, a SQuAD v2.0 "
                              f"question; set task.version_2=true")
        return examples

    def _splits(self, section: TaskSection, seed: int, fold: tuple[int, int] | None = None
                ) -> tuple[Examples, Examples]:
        if section.tfds:
            def split(name: str) -> Examples:
                return self._checked_version(f"{section.tfds} split {name}",
                                  read_tfds_squad(section.tfds, name, data_dir=section.tfds_data_dir))

            train, evaluation = split(section.tfds_train_split), split(section.tfds_eval_split or "validation")
        elif not section.train_file or section.train_file == "builtin":
            raise ConfigError("task.train_file: question answering needs a SQuAD JSON file (or task.tfds=squad/v1.1 "
                              "or squad/v2.0); the built-in data is for classification")
        else:
            train = self._checked_version(section.train_file, read_squad(section.train_file))
            evaluation = self._checked_version(section.eval_file, read_squad(section.eval_file)) \
                if section.eval_file else None
        contexts = len({example.context for example in train})  # split by passage: no evaluation text is trained on
        rows = evaluation_rows(contexts, evaluation is not None, section.eval_fraction, seed, fold)
        return (train, evaluation) if rows is None else (_by_context(train, rows[0]), _by_context(train, rows[1]))

    def training_texts(self, section: TaskSection) -> list[str]:
        return _texts(self._splits(section, seed=0)[0])

    def _features(self, examples: Examples, section: TaskSection, tokenizer: Any, training: bool
                  ) -> QuestionAnsweringFeatures:
        try:
            return prepare_qa_features(examples, tokenizer, section.max_seq_length, section.doc_stride,
                                       section.max_query_length, training=training)
        except ConfigError as error:  # the window sizes: they are the task section's options
            raise ConfigError(f"task: {error}") from None

    def _dataset(self, features: QuestionAnsweringFeatures, tokenizer: Any, section: TaskSection, seed: int
                 ) -> BucketedDataset:
        return BucketedDataset(features.features, padding_values(tokenizer.pad_token_id),
                               section.bucket_lengths(), seed=seed)

    def prepare(self, section: TaskSection, tokenizer: Any, seed: int, fold: tuple[int, int] | None
                ) -> PreparedData:
        train, evaluation = self._splits(section, seed, fold)
        _check_answered(train, section, section.train_file, "trained on")
        _check_answered(evaluation, section, section.eval_file or section.train_file, "scored")
        self._eval, self._eval_features = evaluation, self._features(evaluation, section, tokenizer, training=False)
        train_features = self._features(train, section, tokenizer, training=True)
        return PreparedData(self._dataset(train_features, tokenizer, section, seed),
                            self._dataset(self._eval_features, tokenizer, section, seed), None, _texts(train))

    def _answers(self, examples: Examples, features: QuestionAnsweringFeatures,
                 outputs: dict[str, list[np.ndarray]]) -> QaPredictions:
        """outputs: `start_logits`, `end_logits`, one [tokens (padded to the bucket)] array per feature."""
        section = self.section
        return postprocess_qa_predictions(examples, features, outputs["start_logits"], outputs["end_logits"],
                                          section.n_best_size, section.max_answer_length, self.version_2,
                                          section.null_score_diff_threshold)

    def _scores(self, predictions: dict[str, str]) -> dict[str, float]:
        """Official scores in percent, without the question counts (`total`)."""
        scores = squad_metrics(gold_answers(self._eval), predictions, self.version_2)
        return {name: float(value) for name, value in scores.items() if not name.endswith("total")}

    def evaluate(self, outputs: dict[str, list[np.ndarray]]) -> dict[str, float]:
        scores = self._scores(self._answers(self._eval, self._eval_features, outputs).answers)
        baseline = self._scores({example.id: "" for example in self._eval})
        return scores | {f"baseline_{name}": value for name, value in baseline.items()}

    def report(self, outputs: dict[str, list[np.ndarray]], run_dir: Path) -> list[str]:
        """Writes the evaluation answers in the official format and their n-best candidates."""
        predictions = self._answers(self._eval, self._eval_features, outputs)
        write_predictions(run_dir / "eval_predictions.json", predictions.answers)
        (run_dir / "eval_nbest.json").write_text(json.dumps(predictions.n_best, indent=2) + "\n")
        return [f"{len(self._eval)} questions in {len(self._eval_features)} windows; answers in "
                f"{run_dir / 'eval_predictions.json'}, n-best candidates in {run_dir / 'eval_nbest.json'}"]

    def prediction_suffix(self, section: TaskSection) -> str:
        """The official prediction file is one JSON object, `{question id: answer}`."""
        return ".json"

    def predict(self, section: TaskSection, model: PredictionModel, path: Path) -> int:
        answer = QuestionAnsweringPipeline(
            model, max_seq_length=section.max_seq_length, doc_stride=section.doc_stride,
            max_query_length=section.max_query_length, max_answer_length=section.max_answer_length,
            n_best_size=section.n_best_size, handle_impossible_answer=self.version_2,
            null_score_diff_threshold=section.null_score_diff_threshold)
        answers = answer.predictions(read_squad(section.predict_file))[0].answers
        write_predictions(path, answers)
        return len(answers)
