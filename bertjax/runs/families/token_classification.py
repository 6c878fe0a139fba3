"""Token classification (NER): IOB2-tagged words from CoNLL files, JSON lines or tfds `conll2003`, scored by
entities as seqeval does, beside a model that tags every word `O`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bertjax.atomic import write_text_atomically
from bertjax.data.batching import BucketedDataset, bucket_lengths, padding_values
from bertjax.data.readers import open_text, read_records
from bertjax.data.finetuning.token_classification import (OUTSIDE, TaggedSentences, TokenClassificationFeatures,
                                               encode_token_classification, label_list, load_tagged_sentences,
                                               load_tfds_tagged_sentences, predictions_to_words)
from bertjax.errors import ConfigError, DataError
from bertjax.metrics.ner import entity_scores
from bertjax.pipelines import PredictionModel, TokenClassificationPipeline
from bertjax.runs.families.splits import evaluation_rows
from bertjax.runs.task_family import PreparedData, TaskSection, section_stride
from bertjax.tasks.finetuning import OBJECTIVES

JSON_LINES_SUFFIXES = (".jsonl", ".json")


def _subset(sentences: TaggedSentences, indices: np.ndarray) -> TaggedSentences:
    return TaggedSentences([sentences.words[index] for index in indices], [sentences.tags[index] for index in indices],
                           [sentences.where[index] for index in indices])


def entity_labels(sentences: TaggedSentences) -> tuple[str, ...]:
    """`O`, then B- and I- of every entity type of the (training) sentences, sorted: the model's id2label.

    Both prefixes of a type, even when the training data lacks one (a subset without multi-word locations), so
    evaluation data with that tag can still be scored.
    """
    types = {tag.partition("-")[2] for tag in label_list(sentences) if tag != OUTSIDE}
    return (OUTSIDE, *sorted(f"{prefix}-{entity_type}" for entity_type in types for prefix in ("B", "I")))


def _is_json_lines(path: str, format: str | None) -> bool:
    return format == "jsonl" if format else Path(path).suffix.lower() in JSON_LINES_SUFFIXES


def read_words(path: str | Path, format: str | None = None) -> TaggedSentences:
    """The words of a file to tag, every tag `O`: CoNLL (a word a line in the first column, other columns ignored,
    a blank line between sentences) or JSON lines with a `tokens` list."""
    path = Path(path)
    if _is_json_lines(str(path), format):
        records = read_records(path, format="jsonl", columns=("tokens",))
        bad = next((record for record in records if not isinstance(record["tokens"], list)
                    or not all(isinstance(word, str) for word in record["tokens"])), None)
        if bad is not None:
            raise DataError(f"{bad.where}: 'tokens' must be a list of strings")
        words, where = [record["tokens"] for record in records], [record.where for record in records]
    else:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        words, where, sentence = [], [], []
        with open_text(path) as file:
            for number, line in enumerate([*file, ""], start=1):  # the trailing "" ends the last sentence
                fields = line.split()
                if fields and fields[0] != "-DOCSTART-":
                    if not sentence:
                        where.append(f"{path} line {number}")
                    sentence.append(fields[0])
                elif sentence:
                    words.append(sentence)
                    sentence = []
    if not any(words):
        raise DataError(f"{path}: the file has no words to tag; expected a word a line, a blank line between "
                        f"sentences (or JSON lines with a 'tokens' list)")
    return TaggedSentences(words, [[OUTSIDE] * len(sentence) for sentence in words], where)


def write_tagged(words: list[list[str]], tags: list[list[str]], path: Path) -> None:
    """JSON lines `{"tokens": [...], "tags": [...]}` when `path` ends in .jsonl, else CoNLL `word TAG` lines with a
    blank line between sentences; written atomically."""
    if path.suffix == ".jsonl":
        lines = [json.dumps({"tokens": sentence_words, "tags": sentence_tags}) + "\n"
                 for sentence_words, sentence_tags in zip(words, tags)]
    else:
        lines = ["".join(f"{word} {tag}\n" for word, tag in zip(sentence_words, sentence_tags)) + "\n"
                 for sentence_words, sentence_tags in zip(words, tags)]
    write_text_atomically(path, "".join(lines))


class TokenClassificationFamily:
    """One label per word, on its first sub-token; the labels are `O` and B-/I- of the training data's types."""

    objective = OBJECTIVES["token_classification"]
    primary_metric = "f1"

    def __init__(self, section: TaskSection) -> None:
        self._labels: tuple[str, ...] = ()
        self._eval: TaggedSentences | None = None
        self._eval_encoded: TokenClassificationFeatures | None = None

    def _splits(self, section: TaskSection, seed: int, fold: tuple[int, int] | None = None
                ) -> tuple[TaggedSentences, TaggedSentences]:
        if section.tfds:
            def split(name: str) -> TaggedSentences:
                return load_tfds_tagged_sentences(section.tfds, name, data_dir=section.tfds_data_dir)

            # tfds's CoNLL builders (conll2003, conll2002) name their evaluation split `dev`.
            train, evaluation = split(section.tfds_train_split), split(section.tfds_eval_split or "dev")
        elif not section.train_file or section.train_file == "builtin":
            raise ConfigError("task.train_file: token classification needs a CoNLL or JSON-lines file of tagged "
                              "words (or task.tfds=conll2003); the built-in data is for classification")
        else:
            train = load_tagged_sentences(section.train_file, section.format, section.tag_column, section.tag_scheme)
            evaluation = load_tagged_sentences(section.eval_file, section.format, section.tag_column,
                                               section.tag_scheme) if section.eval_file else None
        rows = evaluation_rows(len(train), evaluation is not None, section.eval_fraction, seed, fold)
        return (train, evaluation) if rows is None else (_subset(train, rows[0]), _subset(train, rows[1]))

    def training_texts(self, section: TaskSection) -> list[str]:
        train, _ = self._splits(section, seed=0)
        return [" ".join(words) for words in train.words]

    def _dataset(self, encoded: TokenClassificationFeatures, section: TaskSection, tokenizer: Any, seed: int
                 ) -> BucketedDataset:
        return BucketedDataset(encoded.features, padding_values(tokenizer.pad_token_id, token_labels=True),
                               bucket_lengths(section.max_seq_length), seed=seed)

    def prepare(self, section: TaskSection, tokenizer: Any, seed: int, fold: tuple[int, int] | None
                ) -> PreparedData:
        train, evaluation = self._splits(section, seed, fold)
        self._labels = entity_labels(train)
        self._eval = evaluation
        train_encoded = encode_token_classification(train, tokenizer, section.max_seq_length, self._labels)
        self._eval_encoded = encode_token_classification(evaluation, tokenizer, section.max_seq_length, self._labels,
                                                         section_stride(section, tokenizer))
        return PreparedData(self._dataset(train_encoded, section, tokenizer, seed),
                            self._dataset(self._eval_encoded, section, tokenizer, seed), self._labels,
                            [" ".join(words) for words in train.words])

    def _predicted_tags(self, logits: list[np.ndarray], encoded: TokenClassificationFeatures) -> list[list[str]]:
        """logits: per row (a sentence or a window of one) [tokens (padded), labels] -> per sentence one tag per
        word."""
        return predictions_to_words([np.argmax(sentence, axis=-1) for sentence in logits], encoded, self._labels)

    def _entity_types(self) -> list[str]:
        return sorted({label.partition("-")[2] for label in self._labels if label != OUTSIDE})

    def _flat_scores(self, scores: dict[str, dict[str, float]]) -> dict[str, float]:
        """Overall precision, recall, F1 and each entity type's F1 (0 for a type neither true nor predicted)."""
        flat = {name: scores["overall"][name] for name in ("precision", "recall", "f1")}
        for entity_type in self._entity_types():
            flat[f"{entity_type}_f1"] = scores.get(entity_type, {}).get("f1", 0.0)
        return flat

    def evaluate(self, outputs: dict[str, list[np.ndarray]]) -> dict[str, float]:
        predicted = self._predicted_tags(outputs["logits"], self._eval_encoded)
        scores = self._flat_scores(entity_scores(self._eval.tags, predicted))
        # Tagging every word O finds no entity: its scores are 0, reported so the table reads the same everywhere.
        baseline = entity_scores(self._eval.tags, [[OUTSIDE] * len(tags) for tags in self._eval.tags])["overall"]
        return scores | {f"baseline_{name}": baseline[name] for name in ("precision", "recall", "f1")}

    def report(self, outputs: dict[str, list[np.ndarray]], run_dir: Path) -> list[str]:
        """Writes entity_report.json (scores per entity type and overall) and returns them as a table."""
        scores = entity_scores(self._eval.tags, self._predicted_tags(outputs["logits"], self._eval_encoded))
        (run_dir / "entity_report.json").write_text(json.dumps(scores, indent=2) + "\n")
        lines = [f"{'entity':>12} {'support':>8} {'precision':>9} {'recall':>7} {'f1':>6}"]
        for name, row in [*((name, row) for name, row in scores.items() if name != "overall"),
                          ("overall", scores["overall"])]:
            lines.append(f"{name:>12} {row['support']:>8} {row['precision']:>9.3f} {row['recall']:>7.3f} "
                         f"{row['f1']:>6.3f}")
        if self._eval_encoded.truncated_words:
            lines.append(f"{self._eval_encoded.truncated_words} words beyond task.max_seq_length were tagged O")
        return lines

    def prediction_suffix(self, section: TaskSection) -> str:
        """JSON lines for a JSON-lines input, CoNLL `word TAG` lines otherwise."""
        return ".jsonl" if _is_json_lines(section.predict_file, section.format) else ".txt"

    def predict(self, section: TaskSection, model: PredictionModel, path: Path) -> int:
        sentences = read_words(section.predict_file, section.format)
        tagger = TokenClassificationPipeline(model, max_seq_length=section.max_seq_length, stride=section.stride,
                                             truncation=section.truncation)
        write_tagged(sentences.words, tagger.word_tags(sentences.words), path)
        return len(sentences)
