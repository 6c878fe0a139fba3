"""The data sets shipped inside the package: where they are, their format and their size."""

from __future__ import annotations

import collections
import csv
import fnmatch
import io
import tomllib
from importlib import resources
from pathlib import Path

import pytest

RESOURCES = resources.files("bertjax") / "resources"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
SHIPPED_FILES = ("corpus.txt", "sentiment.csv", "README.md")


@pytest.fixture(scope="module")
def corpus_bytes() -> bytes:
    return (RESOURCES / "corpus.txt").read_bytes()


@pytest.fixture(scope="module")
def documents(corpus_bytes: bytes) -> list[list[str]]:
    """The corpus as documents (split on blank lines), each a list of sentence lines."""
    text = corpus_bytes.decode("utf-8")
    return [block.split("\n") for block in text.strip("\n").split("\n\n")]


@pytest.fixture(scope="module")
def sentiment_rows() -> tuple[list[str] | None, list[dict[str, str]]]:
    text = (RESOURCES / "sentiment.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return reader.fieldnames, list(reader)


@pytest.mark.parametrize("name", SHIPPED_FILES)
def test_file_is_found_through_the_package(name: str) -> None:
    assert (RESOURCES / name).is_file()


@pytest.mark.parametrize("name", SHIPPED_FILES)
def test_file_is_declared_as_package_data(name: str) -> None:
    # Without a matching package-data pattern the file is missing from wheels and the scripts' defaults break.
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["bertjax"]
    assert any(fnmatch.fnmatch(f"resources/{name}", pattern) for pattern in patterns)


def test_corpus_is_large_enough(corpus_bytes: bytes, documents: list[list[str]]) -> None:
    size, document_count = len(corpus_bytes), len(documents)
    assert size >= 150_000
    assert document_count >= 150


def test_corpus_every_line_is_utf8(corpus_bytes: bytes) -> None:
    for line_number, line in enumerate(corpus_bytes.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            pytest.fail(f"corpus.txt line {line_number} is not UTF-8: {error}")


def test_corpus_documents_are_blank_line_separated_sentences(documents: list[list[str]]) -> None:
    for index, sentences in enumerate(documents):
        # A single sentence cannot give a next-sentence pair; empty or padded lines mean a broken separator.
        assert len(sentences) >= 2, f"document {index} has {len(sentences)} sentence(s)"
        for sentence in sentences:
            assert sentence and sentence == sentence.strip(), f"document {index} has line {sentence!r}"
            assert sentence[-1] in ".!?\"'", f"document {index} line does not end a sentence: {sentence!r}"


def test_corpus_has_no_repeated_sentences(documents: list[list[str]]) -> None:
    counts = collections.Counter(
        sentence for sentences in documents for sentence in sentences if len(sentence.split()) > 5
    )
    repeated = [sentence for sentence, count in counts.items() if count > 1]
    assert repeated == []


def test_sentiment_header_is_text_and_label(sentiment_rows) -> None:
    fieldnames, _ = sentiment_rows
    assert fieldnames == ["text", "label"]


def test_sentiment_rows_are_labelled_zero_or_one(sentiment_rows) -> None:
    _, rows = sentiment_rows
    assert len(rows) >= 600
    assert {row["label"] for row in rows} == {"0", "1"}
    assert all(row["text"].strip() for row in rows)


def test_sentiment_classes_are_balanced(sentiment_rows) -> None:
    _, rows = sentiment_rows
    positive_fraction = sum(row["label"] == "1" for row in rows) / len(rows)
    assert 0.4 <= positive_fraction <= 0.6


def test_sentiment_is_shuffled(sentiment_rows) -> None:
    _, rows = sentiment_rows
    labels = [row["label"] for row in rows]
    label_changes = sum(first != second for first, second in zip(labels, labels[1:]))
    # A class-sorted file changes label once; a shuffled balanced one about every other row.
    assert label_changes > len(rows) // 4


def test_sentiment_texts_are_unique(sentiment_rows) -> None:
    _, rows = sentiment_rows
    counts = collections.Counter(row["text"] for row in rows)
    assert [text for text, count in counts.items() if count > 1] == []
