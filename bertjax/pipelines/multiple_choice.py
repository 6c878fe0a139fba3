"""multiple-choice: which of several endings (or answers) fits a context, with a probability for each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bertjax.data.finetuning.multiple_choice import MultipleChoiceExamples, encode_multiple_choice
from bertjax.errors import ConfigError
from bertjax.pipelines.common import batch_of, check_pairs, softmax
from bertjax.pipelines.model import Pipeline, PredictionModel
from bertjax.tasks.finetuning import prediction

HEAD = "multiple_choice"


class MultipleChoicePipeline(Pipeline):
    """`choose(context, choices)` -> {"label": index of the best choice, "score": its probability, "scores": every
    choice's}; the choices of a context compete in one softmax. Pairs longer than the model are truncated."""

    task = "multiple-choice"
    head = HEAD

    def __init__(self, model: PredictionModel, batch_size: int = 32, max_seq_length: int | None = None,
                 progress: bool | None = None) -> None:
        super().__init__(model, prediction(model.module()), batch_size, max_seq_length, progress)

    def probabilities(self, contexts: Sequence[str], choices: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per context, [its choices] probabilities; contexts with as many choices run in one batch."""
        check_pairs(contexts, choices, "contexts", "lists of choices")
        empty = next((index for index, options in enumerate(choices) if not options), None)
        if empty is not None:
            raise ConfigError(f"input {empty} has no choices; give each context at least one")
        results: list[np.ndarray] = [np.empty(0)] * len(contexts)
        for count in sorted({len(options) for options in choices}):
            rows = [index for index, options in enumerate(choices) if len(options) == count]
            examples = MultipleChoiceExamples([contexts[row] for row in rows], [list(choices[row]) for row in rows],
                                              None, [f"input {row}" for row in rows])
            logits = self._run(encode_multiple_choice(examples, self.model.tokenizer, self.max_seq_length))["logits"]
            for row, values in zip(rows, logits):
                results[row] = softmax(np.asarray(values, np.float64))
        return results

    def __call__(self, context: str | Sequence[str], choices: Sequence[str] | Sequence[Sequence[str]]) -> Any:
        """One context and its list of choices, or a list of contexts and a list of choice lists."""
        single, contexts = batch_of(context)
        choice_lists = [list(choices)] if single else [list(options) for options in choices]
        results = [{"label": int(row.argmax()), "score": float(row.max()), "scores": row.tolist()}
                   for row in self.probabilities(contexts, choice_lists)]
        return results[0] if single else results
