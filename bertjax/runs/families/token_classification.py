"""Token classification (NER): tagged words from CoNLL files, JSON lines or tfds `conll2003`, in the tag scheme
they use (IOB1, IOB2, BIOS, BIOES, BMES), scored by entities as seqeval does, beside a model that tags every word
`O`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bertjax.atomic import write_text_atomically
from bertjax.data.batching import BucketedDataset, padding_values
from bertjax.data.finetuning.tag_schemes import OUTSIDE, entity_spans, scheme_labels, tag_parts
from bertjax.data.finetuning.token_classification import (TAGGED_FIELDS, TaggedSentences,
                                                          TokenClassificationFeatures, encode_token_classification,
                                                          entity_types, jsonl_fields, load_tagged_sentences,
                                                          load_tfds_tagged_sentences, predictions_to_words,
                                                          with_scheme)
from bertjax.data.readers import Record, open_text, read_records
from bertjax.errors import ConfigError, DataError
from bertjax.metrics.ner import entity_scores
from bertjax.pipelines import PredictionModel, TokenClassificationPipeline
from bertjax.pipelines.token_classification import word_delimiter
from bertjax.runs.families.splits import evaluation_rows
from bertjax.runs.task_family import PreparedData, TaskSection, section_stride
from bertjax.tasks.finetuning import OBJECTIVES

JSON_LINES_SUFFIXES = (".jsonl", ".json")
TEXT_FIELDS = (("tokens",), ("words",), ("text",))  # of a JSON-lines file to predict on, in the order looked for


def _subset(sentences: TaggedSentences, indices: np.ndarray) -> TaggedSentences:
    return TaggedSentences([sentences.words[index] for index in indices], [sentences.tags[index] for index in indices],
                           [sentences.where[index] for index in indices])


def entity_labels(sentences: TaggedSentences, scheme: str) -> tuple[str, ...]:
    """`O`, then every prefix of `scheme` on every entity type of the (training) sentences, sorted: the model's
    id2label.

    All prefixes of a type, even when the training data lacks one (a subset without multi-word locations), so
    evaluation data with that tag can still be scored.
    """
    return scheme_labels(entity_types(sentences), scheme)


def _is_json_lines(path: str, format: str | None) -> bool:
    return format == "jsonl" if format else Path(path).suffix.lower() in JSON_LINES_SUFFIXES


def read_conll_words(path: str | Path) -> list[list[str]]:
    """The sentences of a CoNLL file to tag: a word a line in the first column (other columns ignored), a blank
    line between sentences."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    sentences, sentence = [], []
    with open_text(path) as file:
        for line in [*file, ""]:  # the trailing "" ends the last sentence
            fields = line.split()
            if fields and fields[0] != "-DOCSTART-":
                sentence.append(fields[0])
            elif sentence:
                sentences.append(sentence)
                sentence = []
    if not sentences:
        raise DataError(f"{path}: the file has no words to tag; expected a word a line, a blank line between "
                        f"sentences")
    return sentences


def read_texts_to_tag(path: str | Path) -> tuple[list[Record], str]:
    """The records of a JSON-lines file to tag and the field of their texts: the first of `TEXT_FIELDS` that the
    first record holds, in every record a list of words or a string."""
    records = read_records(path, format="jsonl")
    (field,) = jsonl_fields(records, TEXT_FIELDS, "the words or the text to tag")
    for record in records:
        value = record[field]
        if not isinstance(value, str) and not (isinstance(value, list) and all(isinstance(word, str)
                                                                                for word in value)):
            raise DataError(f"{record.where}: {field!r} must be a text or a list of words, got {value!r}")
    return records, field


def write_conll_tags(words: list[list[str]], tags: list[list[str]], path: Path) -> None:
    """CoNLL `word TAG` lines with a blank line between sentences, written atomically."""
    write_text_atomically(path, "".join("".join(f"{word} {tag}\n" for word, tag in zip(sentence_words, sentence_tags))
                                        + "\n" for sentence_words, sentence_tags in zip(words, tags)))


def tag_records(tagger: TokenClassificationPipeline, records: list[Record], field: str) -> list[dict[str, Any]]:
    """Each record with its `entities` (character spans of its text, or of its words joined by `word_delimiter`)
    and, for a list of words, their tags under the tag field that goes with `field` (`TAGGED_FIELDS`)."""
    texts = [record[field] for record in records]
    split = [index for index, text in enumerate(texts) if isinstance(text, list)]
    whole = [index for index, text in enumerate(texts) if isinstance(text, str)]
    tags_field = next(tags for words, tags in TAGGED_FIELDS if words == field)
    rows: list[dict[str, Any]] = [dict(record) for record in records]
    for index, tagged in zip(split, tagger.tagged_words([texts[index] for index in split], split=True)):
        words = texts[index]
        rows[index] |= {tags_field: tagger.tags(tagged, len(words)),
                        "entities": tagger.entities(tagged, word_delimiter(words).join(words))}
    for index, tagged in zip(whole, tagger.tagged_words([texts[index] for index in whole])):
        rows[index]["entities"] = tagger.entities(tagged, texts[index])
    return rows


def _tags_outside_entities(tags: list[str], scheme: str) -> bool:
    """Whether some tag other than `O` is in no entity of the sentence (an `I-X` after `O` in BIOS)."""
    in_entities = sum(last - first + 1 for _, first, last in entity_spans(tags, scheme))
    return in_entities < sum(tag != OUTSIDE for tag in tags)


class TokenClassificationFamily:
    """One label per word, on its first sub-token; the labels are `O` and the scheme's prefixes on the training data's
    types."""

    objective = OBJECTIVES["token_classification"]
    primary_metric = "f1"

    def __init__(self, section: TaskSection) -> None:
        self._labels: tuple[str, ...] = ()
        self._scheme = "iob2"
        self._eval: TaggedSentences | None = None
        self._eval_encoded: TokenClassificationFeatures | None = None

    def _splits(self, section: TaskSection, seed: int, fold: tuple[int, int] | None = None
                ) -> tuple[TaggedSentences, TaggedSentences, str]:
        """The training and evaluation sentences and their tag scheme (`with_scheme`)."""
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
        parts = [part for part in (train, evaluation) if part is not None]
        scheme, (train, *given) = with_scheme(section.tag_scheme, *parts)
        rows = evaluation_rows(len(train), bool(given), section.eval_fraction, seed, fold)
        if rows is None:
            return train, given[0], scheme
        return _subset(train, rows[0]), _subset(train, rows[1]), scheme

    def training_texts(self, section: TaskSection) -> list[str]:
        train, _, _ = self._splits(section, seed=0)
        return [" ".join(words) for words in train.words]

    def _dataset(self, encoded: TokenClassificationFeatures, section: TaskSection, tokenizer: Any, seed: int
                 ) -> BucketedDataset:
        return BucketedDataset(encoded.features, padding_values(tokenizer.pad_token_id, token_labels=True),
                               section.bucket_lengths(), seed=seed)

    def prepare(self, section: TaskSection, tokenizer: Any, seed: int, fold: tuple[int, int] | None
                ) -> PreparedData:
        train, evaluation, self._scheme = self._splits(section, seed, fold)
        self._labels = entity_labels(train, self._scheme)
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
        return predictions_to_words([np.argmax(sentence, axis=-1) for sentence in logits], encoded, self._labels,
                                    self._scheme)

    def _entity_types(self) -> list[str]:
        return sorted({tag_parts(label)[1] for label in self._labels} - {""})

    def _scores(self, predicted: list[list[str]]) -> dict[str, dict[str, float]]:
        return entity_scores(self._eval.tags, predicted, self._scheme)

    def _flat_scores(self, scores: dict[str, dict[str, float]]) -> dict[str, float]:
        """Overall precision, recall, F1 and each entity type's F1 (0 for a type neither true nor predicted)."""
        flat = {name: scores["overall"][name] for name in ("precision", "recall", "f1")}
        for entity_type in self._entity_types():
            flat[f"{entity_type}_f1"] = scores.get(entity_type, {}).get("f1", 0.0)
        return flat

    def evaluate(self, outputs: dict[str, list[np.ndarray]]) -> dict[str, float]:
        predicted = self._predicted_tags(outputs["logits"], self._eval_encoded)
        scores = self._flat_scores(self._scores(predicted))
        # Tagging every word O finds no entity: its scores are 0, reported so the table reads the same everywhere.
        baseline = self._scores([[OUTSIDE] * len(tags) for tags in self._eval.tags])["overall"]
        return scores | {f"baseline_{name}": baseline[name] for name in ("precision", "recall", "f1")}

    def report(self, outputs: dict[str, list[np.ndarray]], run_dir: Path) -> list[str]:
        """Writes entity_report.json (scores per entity type and overall) and returns them as a table."""
        scores = self._scores(self._predicted_tags(outputs["logits"], self._eval_encoded))
        (run_dir / "entity_report.json").write_text(json.dumps(scores, indent=2) + "\n")
        lines = [f"{'entity':>12} {'support':>8} {'precision':>9} {'recall':>7} {'f1':>6}"]
        for name, row in [*((name, row) for name, row in scores.items() if name != "overall"),
                          ("overall", scores["overall"])]:
            lines.append(f"{name:>12} {row['support']:>8} {row['precision']:>9.3f} {row['recall']:>7.3f} "
                         f"{row['f1']:>6.3f}")
        if self._eval_encoded.truncated_words:
            lines.append(f"{self._eval_encoded.truncated_words} words beyond task.max_seq_length were tagged O")
        stray = [where for tags, where in zip(self._eval.tags, self._eval.where)
                 if _tags_outside_entities(tags, self._scheme)]
        if stray:
            lines.append(f"{len(stray)} evaluation sentences have tags in no entity that {self._scheme.upper()} "
                         f"allows (the first: {stray[0]}); as in seqeval's strict mode, they are no entity")
        return lines

    def prediction_suffix(self, section: TaskSection) -> str:
        """JSON lines for a JSON-lines input, CoNLL `word TAG` lines otherwise."""
        return ".jsonl" if _is_json_lines(section.predict_file, section.format) else ".txt"

    def predict(self, section: TaskSection, model: PredictionModel, path: Path) -> int:
        """CoNLL in, CoNLL `word TAG` lines out; JSON lines in, each record with its tags and entities out
        (`tag_records`)."""
        tagger = TokenClassificationPipeline(model, max_seq_length=section.max_seq_length, stride=section.stride,
                                             truncation=section.truncation)
        if not _is_json_lines(section.predict_file, section.format):
            sentences = read_conll_words(section.predict_file)
            write_conll_tags(sentences, tagger.word_tags(sentences), path)
            return len(sentences)
        rows = tag_records(tagger, *read_texts_to_tag(section.predict_file))
        write_text_atomically(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        return len(rows)
