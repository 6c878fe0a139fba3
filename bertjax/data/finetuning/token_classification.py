"""Token classification (NER) examples: IOB2-tagged sentences from CoNLL files, JSON lines or tfds, their
sub-token features, and mapping sub-token predictions back to words."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bertjax.data.finetuning.classification import load_tfds_split, tfds_label_names
from bertjax.data.readers import open_text, read_records
from bertjax.data.windows import Windows, tokenize_windows
from bertjax.errors import ConfigError, DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORED_LABEL = -100  # labels the loss skips: special tokens and the non-first sub-tokens of a word
OUTSIDE = "O"


@dataclasses.dataclass(frozen=True)
class TaggedSentences:
    """Words and their IOB2 tags, one list per sentence; `where` locates each sentence for error messages."""

    words: list[list[str]]
    tags: list[list[str]]
    where: list[str]

    def __len__(self) -> int:
        return len(self.words)


@dataclasses.dataclass(frozen=True)
class TokenClassificationFeatures:
    """Unpadded sub-token features for `BucketedDataset`, a row per sentence or per window of one, and what maps
    predictions back to words.

    features: `input_ids`, `token_type_ids`, `attention_mask`, `labels` ([tokens] int32 each; labels -100 except on
      a word's first sub-token, in the window its prediction is read from).
    windows: the rows of each sentence (`bertjax.data.windows`).
    word_ids: [tokens] int32 per sentence, the word of each of its sub-tokens (special tokens left out).
    truncated_words: words cut off by max_seq_length over all sentences; they are predicted `O`.
    """

    features: dict[str, list[np.ndarray]]
    windows: Windows
    word_ids: list[np.ndarray]
    num_words: list[int]
    truncated_words: int


TAG_SCHEMES = ("iob2", "iob1")


def iob2_error(tag: str, previous: str) -> str | None:
    """Why `tag` cannot follow `previous` in IOB2 (`O`, `B-X`, `I-X` after `B-X` or `I-X`), or None."""
    if tag == OUTSIDE:
        return None
    prefix, _, entity = tag.partition("-")
    if prefix not in ("B", "I") or not entity:
        return f"tag {tag!r} is not IOB2 (O, B-TYPE or I-TYPE)"
    if prefix == "I" and previous not in (f"B-{entity}", f"I-{entity}"):
        return (f"tag {tag!r} follows {previous!r}; in IOB2 an entity starts with B-{entity} (for IOB1 files, as "
                f"the original CoNLL-2003 release, set task.tag_scheme=iob1)")
    return None


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 tags (an entity starts with I-, and with B- only right after an entity of its type) as IOB2."""
    converted, previous_entity = [], None
    for tag in tags:
        prefix, _, entity = tag.partition("-")
        if prefix == "I" and entity != previous_entity:
            tag = f"B-{entity}"
        converted.append(tag)
        previous_entity = entity if tag != OUTSIDE else None
    return converted


def _tags_as_iob2(tags: list[str], tag_scheme: str) -> list[str]:
    return iob1_to_iob2(tags) if tag_scheme == "iob1" else tags


def _check_tags(tags: Sequence[str], where: Sequence[str]) -> None:
    previous = OUTSIDE
    for tag, location in zip(tags, where):
        error = iob2_error(tag, previous)
        if error:
            raise DataError(f"{location}: {error}")
        previous = tag


def read_conll(path: str | Path, tag_column: int = -1, tag_scheme: str = "iob2") -> TaggedSentences:
    """Reads `word ... TAG` lines (whitespace-separated; the tag in column `tag_column`, the last by default), a
    blank line between sentences, `-DOCSTART-` lines skipped. tag_scheme: `iob2`, or `iob1` (converted to IOB2)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    words: list[list[str]] = []
    tags: list[list[str]] = []
    where: list[str] = []
    sentence: list[tuple[str, str, str]] = []  # (word, tag, location)

    def finish() -> None:
        if sentence:
            sentence_tags = _tags_as_iob2([tag for _, tag, _ in sentence], tag_scheme)
            _check_tags(sentence_tags, [location for _, _, location in sentence])
            words.append([word for word, _, _ in sentence])
            tags.append(sentence_tags)
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


def read_tagged_jsonl(path: str | Path, tokens_key: str = "tokens", tags_key: str = "tags",
                      tag_scheme: str = "iob2") -> TaggedSentences:
    """Reads one JSON object a line holding a list of words and a list of their tags (`tag_scheme` as
    `read_conll`'s)."""
    records = read_records(path, format="jsonl", columns=(tokens_key, tags_key))
    tags_of_records = []
    for record in records:
        words, tags = record[tokens_key], record[tags_key]
        if not (isinstance(words, list) and isinstance(tags, list) and
                all(isinstance(item, str) for item in words + tags)):
            raise DataError(f"{record.where}: {tokens_key!r} and {tags_key!r} must be lists of strings")
        if len(words) != len(tags):
            raise DataError(f"{record.where}: {len(words)} tokens but {len(tags)} tags")
        tags = _tags_as_iob2(tags, tag_scheme)
        _check_tags(tags, [record.where] * len(tags))
        tags_of_records.append(tags)
    return TaggedSentences([record[tokens_key] for record in records], tags_of_records,
                           [record.where for record in records])


def load_tagged_sentences(path: str | Path, format: str | None = None, tag_column: int = -1,
                          tag_scheme: str = "iob2") -> TaggedSentences:
    """CoNLL (`format="conll"`) or JSON lines (`"jsonl"`); None: JSON lines for .jsonl/.json, else CoNLL.
    tag_scheme: `iob2`, or `iob1` (converted to IOB2)."""
    format = format or ("jsonl" if Path(path).suffix.lower() in (".jsonl", ".json") else "conll")
    if format not in ("conll", "jsonl"):
        raise ConfigError(f"unknown token classification format {format!r} for {path}; use conll or jsonl")
    if tag_scheme not in TAG_SCHEMES:
        raise ConfigError(f"task.tag_scheme is {tag_scheme!r}; choose one of {', '.join(TAG_SCHEMES)}")
    if format == "jsonl":
        return read_tagged_jsonl(path, tag_scheme=tag_scheme)
    return read_conll(path, tag_column, tag_scheme)


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
        _check_tags(sentence_tags, [location] * len(sentence_tags))
        words.append(record[tokens_feature])
        tags.append(sentence_tags)
        where.append(location)
    return TaggedSentences(words, tags, where)


def label_list(sentences: TaggedSentences) -> tuple[str, ...]:
    """`O` first, then the other tags of the (training) sentences sorted: the model's id2label."""
    return (OUTSIDE, *sorted({tag for tags in sentences.tags for tag in tags} - {OUTSIDE}))


def _first_subtokens(word_ids: np.ndarray) -> Iterator[tuple[int, int]]:
    """(position, word) of the first sub-token of each word; word_ids [tokens], -1 for special tokens."""
    previous = -1
    for position, word in enumerate(word_ids.tolist()):
        if word >= 0 and word != previous:
            yield position, word
        previous = word


def encode_token_classification(sentences: TaggedSentences, tokenizer: PreTrainedTokenizerBase,
                                max_seq_length: int, label_names: Sequence[str], stride: int | None = None
                                ) -> TokenClassificationFeatures:
    """Tokenizes the words of each sentence, cut to `max_seq_length`, or with a `stride` in windows of it
    (`bertjax.data.windows`); a word's tag id goes on its first sub-token, in the window where that token has the
    most context."""
    ids = {label: index for index, label in enumerate(label_names)}
    windows = tokenize_windows(tokenizer, sentences.words, max_seq_length, stride, is_split_into_words=True)
    window_word_ids = [windows.encoding.word_ids(row) for row in range(len(windows))]
    labels = [np.full(len(row_ids), IGNORED_LABEL, np.int32) for row_ids in windows.features["input_ids"]]
    word_ids, truncated = [], 0
    for index, (tags, location) in enumerate(zip(sentences.tags, sentences.where)):
        unknown = sorted(set(tags) - set(ids))
        if unknown:
            raise DataError(f"{location}: tag {unknown[0]!r} is not in the label list {list(label_names)} of the "
                            f"training data")
        sentence_word_ids = np.asarray(windows.stitch(window_word_ids, index), np.int32)  # [tokens]
        rows, positions = windows.max_context(index)
        for token, word in _first_subtokens(sentence_word_ids):
            labels[rows[token]][positions[token]] = ids[tags[word]]
        word_ids.append(sentence_word_ids)
        truncated += len(tags) - (int(np.max(sentence_word_ids, initial=-1)) + 1)
    return TokenClassificationFeatures({**windows.features, "labels": labels}, windows, word_ids,
                                       [len(tags) for tags in sentences.tags], truncated)


def predictions_to_words(predictions: Sequence[np.ndarray], encoded: TokenClassificationFeatures,
                         label_names: Sequence[str]) -> list[list[str]]:
    """Label ids on the sub-tokens of each row ([tokens] or longer, padding ignored) -> one tag per word.

    A word takes its first sub-token's label, from the window where that token has the most context; words without
    a token (cut off by truncation) are `O`.
    """
    sentences = []
    for sentence, (word_ids, num_words) in enumerate(zip(encoded.word_ids, encoded.num_words)):
        token_labels = encoded.windows.stitch(predictions, sentence)
        tags = [OUTSIDE] * num_words
        for position, word in _first_subtokens(word_ids):
            tags[word] = label_names[int(token_labels[position])]
        sentences.append(tags)
    return sentences
