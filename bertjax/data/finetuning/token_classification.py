"""Token classification (NER) examples: tagged sentences from CoNLL files, JSON lines (word and tag lists, or CLUENER's
character spans) or tfds, in the tag scheme they use; their sub-token features; sub-token predictions back to words."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bertjax.data.finetuning.classification import load_tfds_split, tfds_label_names
from bertjax.data.finetuning.tag_schemes import (OUTSIDE, PREFIXES, SCHEMES, detect_scheme, fill_untagged,
                                                 iob1_to_iob2, tag_error, tag_parts)
from bertjax.data.readers import Record, open_text, read_records
from bertjax.errors import ConfigError, DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORED_LABEL = -100  # labels the loss skips: special tokens and the non-first sub-tokens of a word
# JSON-lines fields of a sentence's words and their tags, in the order they are looked for.
TAGGED_FIELDS = (("tokens", "tags"), ("tokens", "ner_tags"), ("words", "labels"), ("text", "label"))


@dataclasses.dataclass(frozen=True)
class TaggedSentences:
    """Words and their tags, one list per sentence; `where` locates each sentence for error messages."""

    words: list[list[str]]
    tags: list[list[str]]
    where: list[str]

    def __len__(self) -> int:
        return len(self.words)


@dataclasses.dataclass(frozen=True)
class TokenClassificationFeatures:
    """Unpadded sub-token features for `BucketedDataset` and what maps predictions back to words.

    features: `input_ids`, `token_type_ids`, `attention_mask`, `labels` ([tokens] int32 each; labels -100 except on
      a word's first sub-token).
    word_ids: [tokens] int32 per sentence, the word each token belongs to, -1 for special tokens.
    truncated_words: words cut off by max_seq_length over all sentences; they are predicted `O`.
    """

    features: dict[str, list[np.ndarray]]
    word_ids: list[np.ndarray]
    num_words: list[int]
    truncated_words: int


def _check_tags(tags: Sequence[str], where: Sequence[str], scheme: str | None) -> None:
    """Every tag is `O` or a prefix of `scheme` (of any scheme when None) and a type; the error names the line."""
    for tag, location in zip(tags, where):
        error = tag_error(tag, scheme)
        if error:
            raise DataError(f"{location}: {error}")


def read_conll(path: str | Path, tag_column: int = -1, tag_scheme: str | None = None) -> TaggedSentences:
    """Reads `word ... TAG` lines (whitespace-separated; the tag in column `tag_column`, the last by default), a
    blank line between sentences, `-DOCSTART-` lines skipped. tag_scheme: the scheme every tag must be of (None:
    any scheme's tags)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    words: list[list[str]] = []
    tags: list[list[str]] = []
    where: list[str] = []
    sentence: list[tuple[str, str, str]] = []  # (word, tag, location)

    def finish() -> None:
        if sentence:
            _check_tags([tag for _, tag, _ in sentence], [location for _, _, location in sentence], tag_scheme)
            words.append([word for word, _, _ in sentence])
            tags.append([tag for _, tag, _ in sentence])
            where.append(sentence[0][2])
            sentence.clear()

    with open_text(path) as file:
        for number, line in enumerate(file, start=1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                finish()
                continue
            if len(fields) < 2 or not -len(fields) <= tag_column < len(fields):
                raise DataError(f"{path} line {number}: {line.strip()!r} has no tag column (column {tag_column}); "
                                f"each token line is `word TAG`, a blank line between sentences")
            sentence.append((fields[0], fields[tag_column], f"{path} line {number}"))
    finish()
    if not words:
        raise DataError(f"{path}: the file has no tagged sentences; expected `word TAG` lines")
    return TaggedSentences(words, tags, where)


def _span_tags(record: Record, text: str, spans: Any) -> list[str]:
    """The IOB2 tags of `text`'s characters from CLUENER's `{type: {entity text: [[first, last], ...]}}`."""
    tags = [OUTSIDE] * len(text)
    if not isinstance(spans, dict):
        raise DataError(f"{record.where}: 'label' must be a list of tags or CLUENER's {{type: {{entity: [[first, "
                        f"last], ...]}}}}, got {type(spans).__name__}")
    for entity_type, entities in spans.items():
        if not isinstance(entities, dict):
            raise DataError(f"{record.where}: the {entity_type} entities must be {{entity text: [[first, last], "
                            f"...]}}, got {entities!r}")
        for entity, places in entities.items():
            if not isinstance(places, list) or not all(isinstance(place, list) and len(place) == 2 and
                                                       all(isinstance(end, int) for end in place) for place in places):
                raise DataError(f"{record.where}: the {entity_type} entity {entity!r} needs a list of [first, last] "
                                f"character offsets, got {places!r}")
            for first, last in places:
                if not 0 <= first <= last < len(text) or text[first:last + 1] != entity:
                    raise DataError(f"{record.where}: the {entity_type} entity {entity!r} at [{first}, {last}] is "
                                    f"not the text there ({text[first:last + 1]!r}); CLUENER's offsets are the "
                                    f"first and the last character, both included, counted from 0")
                if any(tag != OUTSIDE for tag in tags[first:last + 1]):
                    raise DataError(f"{record.where}: the {entity_type} entity {entity!r} at [{first}, {last}] "
                                    f"overlaps another entity; one tag a character cannot hold both")
                tags[first:last + 1] = [f"B-{entity_type}"] + [f"I-{entity_type}"] * (last - first)
    return tags


def jsonl_fields(records: list[Record], pairs: Sequence[tuple[str, ...]], what: str) -> tuple[str, ...]:
    """The first of `pairs` (field names) that the first record holds; every record must hold it too."""
    first = records[0]
    fields = next((pair for pair in pairs if all(name in first for name in pair)), None)
    if fields is None:
        raise DataError(f"{first.where}: no fields holding {what}; bertjax reads "
                        f"{', '.join('/'.join(pair) for pair in pairs)} (the record has: "
                        f"{', '.join(map(repr, first)) or 'no fields'})")
    for record in records:
        missing = next((name for name in fields if name not in record), None)
        if missing:
            raise DataError(f"{record.where}: no field {missing!r}; every record needs the fields "
                            f"{'/'.join(fields)}, as {first.where} has them")
    return fields


def read_tagged_jsonl(path: str | Path, tag_scheme: str | None = None) -> TaggedSentences:
    """Reads one JSON object a line: a list of words and a list of their tags under one of `TAGGED_FIELDS`
    (recognised from the first record), or CLUENER's text string and `{type: {entity: [[first, last], ...]}}`
    character spans under text/label (each character a word, IOB2 tags). tag_scheme as `read_conll`'s."""
    records = read_records(path, format="jsonl")
    words_key, tags_key = jsonl_fields(records, TAGGED_FIELDS, "words and their tags")
    words, tags = [], []
    for record in records:
        record_words, record_tags = record[words_key], record[tags_key]
        if isinstance(record_words, str):
            record_tags = _span_tags(record, record_words, record_tags)
            record_words = list(record_words)
        elif not (isinstance(record_words, list) and isinstance(record_tags, list)
                  and all(isinstance(item, str) for item in record_words + record_tags)):
            numbers = isinstance(record_tags, list) and any(isinstance(tag, int) for tag in record_tags)
            raise DataError(f"{record.where}: {words_key!r} and {tags_key!r} must be lists of strings" +
                            (" (the tags are numbers: write their names, B-PER, I-PER, ..., or read the data set "
                             "through task.tfds)" if numbers else ""))
        if len(record_words) != len(record_tags):
            raise DataError(f"{record.where}: {len(record_words)} words but {len(record_tags)} tags")
        _check_tags(record_tags, [record.where] * len(record_tags), tag_scheme)
        words.append(record_words)
        tags.append(record_tags)
    return TaggedSentences(words, tags, [record.where for record in records])


def load_tagged_sentences(path: str | Path, format: str | None = None, tag_column: int = -1,
                          tag_scheme: str = "auto") -> TaggedSentences:
    """CoNLL (`format="conll"`) or JSON lines (`"jsonl"`); None: JSON lines for .jsonl/.json, else CoNLL.
    tag_scheme: one of `SCHEMES` that every tag must be of, or `auto` (any scheme's tags); the tags come back as
    they are in the file (`with_scheme` settles the scheme of the files read together)."""
    format = format or ("jsonl" if Path(path).suffix.lower() in (".jsonl", ".json") else "conll")
    if format not in ("conll", "jsonl"):
        raise ConfigError(f"unknown token classification format {format!r} for {path}; use conll or jsonl")
    scheme = _requested_scheme(tag_scheme)
    if format == "jsonl":
        return read_tagged_jsonl(path, scheme)
    return read_conll(path, tag_column, scheme)


def _requested_scheme(tag_scheme: str) -> str | None:
    if tag_scheme != "auto" and tag_scheme not in SCHEMES:
        raise ConfigError(f"task.tag_scheme is {tag_scheme!r}; choose auto or one of {', '.join(SCHEMES)}")
    return None if tag_scheme == "auto" else tag_scheme


def with_scheme(tag_scheme: str, *parts: TaggedSentences) -> tuple[str, list[TaggedSentences]]:
    """The scheme of sentences read together (training and evaluation data) and the sentences in it.

    tag_scheme: one of `SCHEMES`, or `auto`: detected from the tags of all parts (an evaluation file may lack a
    prefix that the training file has). IOB1 and IOB2 tags come back as IOB2 (the same entities), and the scheme
    as `iob2`. A tag that is not of the scheme raises DataError naming its sentence and word.
    """
    scheme = _requested_scheme(tag_scheme) or detect_scheme(tag for part in parts for tags in part.tags
                                                            for tag in tags)
    for part in parts:
        for words, tags, location in zip(part.words, part.tags, part.where):
            for index, tag in enumerate(tags):
                error = tag_error(tag, scheme)
                if error:
                    found = " (the scheme their prefixes show)" if tag_scheme == "auto" else ""
                    raise DataError(f"{location}, word {index + 1} ({words[index]!r}): {error}; the tags of the "
                                    f"training and evaluation data must all be of one scheme{found}")
    if PREFIXES[scheme] != "BI":
        return scheme, list(parts)
    return "iob2", [dataclasses.replace(part, tags=[iob1_to_iob2(tags) for tags in part.tags]) for part in parts]


def load_tfds_tagged_sentences(name: str = "conll2003", split: str = "train", tokens_feature: str = "tokens",
                               tags_feature: str = "ner", data_dir: str | None = None) -> TaggedSentences:
    """Reads a tfds split whose tags are class-label ids, named by the builder's ClassLabel names."""
    records = load_tfds_split(name, split, (tokens_feature, tags_feature), data_dir)
    names = tfds_label_names(name, tags_feature, data_dir)
    if names is None:
        raise ConfigError(f"the feature {tags_feature!r} of {name!r} is not a class label; name the tag feature")
    words, tags, where = [], [], []
    for index, record in enumerate(records):
        location = f"{name} split {split} example {index}"
        sentence_tags = [names[tag] for tag in record[tags_feature]]
        _check_tags(sentence_tags, [location] * len(sentence_tags), None)
        words.append(record[tokens_feature])
        tags.append(sentence_tags)
        where.append(location)
    return TaggedSentences(words, tags, where)


def entity_types(sentences: TaggedSentences) -> set[str]:
    """The entity types that the sentences' tags name."""
    return {tag_parts(tag)[1] for tags in sentences.tags for tag in tags} - {""}


def _first_subtokens(word_ids: np.ndarray) -> Iterator[tuple[int, int]]:
    """(position, word) of the first sub-token of each word; word_ids [tokens], -1 for special tokens."""
    previous = -1
    for position, word in enumerate(word_ids.tolist()):
        if word >= 0 and word != previous:
            yield position, word
        previous = word


def encode_token_classification(sentences: TaggedSentences, tokenizer: PreTrainedTokenizerBase,
                                max_seq_length: int, label_names: Sequence[str]) -> TokenClassificationFeatures:
    """Tokenizes the words of each sentence; a word's tag id goes on its first sub-token."""
    ids = {label: index for index, label in enumerate(label_names)}
    encoding = tokenizer(sentences.words, is_split_into_words=True, truncation=True, max_length=max_seq_length,
                         return_token_type_ids=True, return_attention_mask=True)
    features: dict[str, Any] = {key: [np.asarray(values, np.int32) for values in encoding[key]]
                                for key in ("input_ids", "token_type_ids", "attention_mask")}
    features["labels"], word_ids, truncated = [], [], 0
    for index, (tags, location) in enumerate(zip(sentences.tags, sentences.where)):
        unknown = sorted(set(tags) - set(ids))
        if unknown:
            raise DataError(f"{location}: tag {unknown[0]!r} is not in the label list {list(label_names)} of the "
                            f"training data")
        sentence_word_ids = np.asarray([-1 if word is None else word for word in encoding.word_ids(index)], np.int32)
        labels = np.full(len(sentence_word_ids), IGNORED_LABEL, np.int32)
        for position, word in _first_subtokens(sentence_word_ids):
            labels[position] = ids[tags[word]]
        features["labels"].append(labels)
        word_ids.append(sentence_word_ids)
        truncated += len(tags) - (int(sentence_word_ids.max()) + 1)
    return TokenClassificationFeatures(features, word_ids, [len(tags) for tags in sentences.tags], truncated)


def predictions_to_words(predictions: Sequence[np.ndarray], encoded: TokenClassificationFeatures,
                         label_names: Sequence[str], scheme: str) -> list[list[str]]:
    """Per-sentence label ids on sub-tokens ([tokens] or longer, padding ignored) -> one tag per word.

    A word takes its first sub-token's label; a word without a token (whitespace, or cut off by truncation)
    continues the entity around it, else is `O` (`tag_schemes.fill_untagged`, in `scheme`).
    """
    sentences = []
    for token_labels, word_ids, num_words in zip(predictions, encoded.word_ids, encoded.num_words):
        tags: list[str | None] = [None] * num_words
        for position, word in _first_subtokens(word_ids):
            tags[word] = label_names[int(token_labels[position])]
        sentences.append(fill_untagged(tags, scheme))
    return sentences
