"""question-answering: the answer to a question in a context, with its character span and score; long contexts go
through the windows and n-best decoding of fine-tuning, and a SQuAD v2.0 model may answer nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bertjax.data.finetuning.qa_postprocess import QaPredictions, postprocess_qa_predictions
from bertjax.data.finetuning.question_answering import CLS_INDEX, QuestionAnsweringFeatures, prepare_qa_features
from bertjax.data.finetuning.squad import SquadExample
from bertjax.pipelines.common import batch_of, check_pairs, softmax
from bertjax.pipelines.model import Pipeline, PredictionModel
from bertjax.tasks.finetuning import prediction

HEAD = "question_answering"
DEFAULT_MAX_SEQ_LENGTH = 384  # SQuAD's usual window, as Hugging Face's question answering used


class QuestionAnsweringPipeline(Pipeline):
    """`answer(question, context, top_k=1)` -> {"answer", "start", "end", "score"}.

    The answer is the best span by start + end logit over all windows (as fine-tuning decodes SQuAD); its score is
    the probability of its start times that of its end, each a softmax over its window's context tokens and [CLS].
    handle_impossible_answer: a SQuAD v2.0 model answers "" (start = end = 0) when the no-answer score beats the
    best span's by more than `null_score_diff_threshold`; its score is then the lowest no-answer probability of the
    windows.
    """

    task = "question-answering"
    head = HEAD

    def __init__(self, model: PredictionModel, batch_size: int = 32, max_seq_length: int | None = None,
                 doc_stride: int | None = None, max_query_length: int = 64, max_answer_length: int = 15,
                 n_best_size: int = 20, handle_impossible_answer: bool = False,
                 null_score_diff_threshold: float = 0.0, progress: bool | None = None) -> None:
        super().__init__(model, prediction(model.module()), batch_size,
                         max_seq_length or min(DEFAULT_MAX_SEQ_LENGTH, model.max_length), progress)
        context_tokens = self.max_seq_length - max_query_length - 3
        self.doc_stride = min(128, context_tokens // 2) if doc_stride is None else doc_stride
        self.max_query_length, self.max_answer_length, self.n_best_size = (max_query_length, max_answer_length,
                                                                           n_best_size)
        self.handle_impossible_answer = handle_impossible_answer
        self.null_score_diff_threshold = null_score_diff_threshold

    def predictions(self, examples: Sequence[SquadExample]) -> tuple[QaPredictions, list[np.ndarray],
                                                                     list[np.ndarray], QuestionAnsweringFeatures]:
        """The decoded answers of `examples`, with every window's start and end logits and the windows."""
        features = prepare_qa_features(examples, self.model.tokenizer, self.max_seq_length, self.doc_stride,
                                       self.max_query_length, training=False)
        outputs = self._run(features.features)
        decoded = postprocess_qa_predictions(examples, features, outputs["start_logits"], outputs["end_logits"],
                                             self.n_best_size, self.max_answer_length,
                                             self.handle_impossible_answer, self.null_score_diff_threshold)
        return decoded, outputs["start_logits"], outputs["end_logits"], features

    def __call__(self, question: str | Sequence[str], context: str | Sequence[str], top_k: int = 1) -> Any:
        """One question: its answer (top_k=1) or its top_k answers, best first; lists: one result each."""
        single, questions = batch_of(question)
        contexts = batch_of(context)[1]
        check_pairs(questions, contexts, "questions", "contexts")
        examples = [SquadExample(str(index), "", text, asked, ()) for index, (asked, text) in
                    enumerate(zip(questions, contexts))]
        if not examples:
            return []
        decoded, starts, ends, features = self.predictions(examples)
        results = []
        for example in examples:
            entries = [entry for entry in decoded.n_best[example.id] if entry["text"] or self.handle_impossible_answer]
            # The decoded answer first: no answer, or the best span (no answer may score above it by less than
            # the threshold).
            no_answer = decoded.answers[example.id] == "" and self.handle_impossible_answer
            entries.sort(key=lambda entry: (entry["text"] != "") == no_answer)
            answers = [self._answer(entry, starts, ends, features) for entry in entries[:top_k]] or [
                {"answer": "", "start": 0, "end": 0, "score": 0.0}]
            results.append(answers[0] if top_k == 1 else answers)
        return results[0] if single else results

    def _answer(self, entry: dict[str, Any], starts: list[np.ndarray], ends: list[np.ndarray],
                features: QuestionAnsweringFeatures) -> dict[str, Any]:
        """An n-best entry with the probability of its start and end in its window."""
        feature = entry["feature"]
        allowed = np.asarray([index == CLS_INDEX or offsets is not None
                              for index, offsets in enumerate(features.offset_mapping[feature])])
        start_probabilities, end_probabilities = (
            softmax(np.where(allowed, np.asarray(logits[feature][:len(allowed)], np.float64), -np.inf))
            for logits in (starts, ends))
        score = start_probabilities[entry["start_token"]] * end_probabilities[entry["end_token"]]
        return {"answer": entry["text"], "start": entry["start"], "end": entry["end"], "score": float(score)}
