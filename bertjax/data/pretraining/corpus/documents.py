"""Reading a corpus as documents of sentences: its formats, its files, and text in each layout (files are read in
bounded pieces by text_pieces, parquet_pieces and compressed; tensorflow-datasets examples by sources).

Formats (`data.format`):
- `sentences` (Google's BERT format): one sentence a line, a blank line between documents.
- `paragraphs` (e.g. WikiText): one paragraph a line, blank lines between paragraphs. Lines like ` = Title = `
  start a new document; deeper headings (` = = Section = = `) are dropped. A file without title lines has one
  document per paragraph.
- `documents`: one document a line (a review, an article, a post).
- `jsonl`: JSON lines, one document a record, its text in a field (`text` unless `text_field` says another).
- `parquet`: one document a row, its text in a column (`text` unless `text_field` says another); read by row group.
- `tsv`: tab-separated values under a header row, without quoting (as GLUE's and CLUE's files), one document a
  row, its text in a column (`text` unless `text_field` says another).
- `auto` decides per file: `.jsonl` and `.json` files are JSON lines, `.parquet` files parquet, `.tsv` files TSV;
  any other file is text in `paragraphs` if it has a title line or if more than a quarter of its non-blank lines
  hold more than one sentence, else in `sentences`.
JSON lines and `documents` files may be compressed (`.gz`, `.zst`): they are decompressed as they are read.
Every line of a document's text (a paragraph, a record's or a row's text) is split into sentences by
`split_sentences`.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from bertjax.data.pretraining.corpus.sentences import split_sentences
from bertjax.data.readers import json_record, read_text
from bertjax.errors import ConfigError, DataError

Documents = list[list[str]]
FORMATS = ("auto", "sentences", "paragraphs", "documents", "jsonl", "parquet", "tsv")
TEXT_FORMATS = ("auto", "sentences", "paragraphs", "documents")  # `auto` here: a text file's layout, detected
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
_JSON_LINES = (".jsonl", ".json")
# The files a folder of each format's corpus holds.
FOLDER_FILES = {
    "sentences": (".txt",), "paragraphs": (".txt",), "documents": (".txt", ".txt.gz", ".txt.zst"),
    "jsonl": tuple(name + compression for name in _JSON_LINES for compression in ("", *COMPRESSIONS)),
    "parquet": (".parquet",), "tsv": (".tsv",),
}
# Not plain `.json` nor `.tsv`: folders of data often hold such files of metadata or labels (a glob may name them).
FOLDER_FILES["auto"] = (".txt", *(name for name in FOLDER_FILES["jsonl"] if name != ".json"), ".parquet")
_HEADING = re.compile(r"(=(?: =)*) (?!= )(.+) \1")  # `= Title =` is level 1, `= = Section = =` level 2


def check_format(format: str) -> None:
    if format not in FORMATS:
        raise ConfigError(f"format={format!r} is not one of {', '.join(FORMATS)}")


def compression_of(path: str | Path) -> str | None:
    """gzip or zstd from the file's extension (`.gz`, `.zst`); None for a file read as it is."""
    return COMPRESSIONS.get(Path(path).suffix.lower())


def file_format(path: str | Path, format: str) -> str:
    """The format a corpus file is read in: `format`, or for `auto` the one its extension names (`auto` for text,
    whose layout is decided from its text)."""
    check_format(format)
    if format != "auto":
        return format
    name = Path(path).name.lower()
    if compression_of(name):
        name = name.rsplit(".", 1)[0]
    if name.endswith((".parquet", ".tsv")):
        return name.rsplit(".", 1)[1]
    return "jsonl" if name.endswith(_JSON_LINES) else "auto"


def corpus_files(source: str | Path, format: str = "auto") -> list[Path]:
    """A file, the files under a folder (recursively) whose extensions `format` reads (see FOLDER_FILES), or the
    files matching a glob; sorted."""
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        extensions = FOLDER_FILES[format]
        files = sorted(file for file in path.rglob("*") if file.name.lower().endswith(extensions) and file.is_file())
        if not files:
            raise DataError(f"{path}: the folder holds no {', '.join('*' + extension for extension in extensions)} "
                            f"files (those format={format} reads); pass a corpus file, a folder of them or a glob")
        return files
    files = sorted(Path(name) for name in glob.glob(str(source), recursive=True) if Path(name).is_file())
    if not files:
        raise DataError(f"{source}: no such file or folder, and no file matches it as a glob; pass a corpus file, a "
                        f"folder of them or a glob such as 'corpus/*.txt'")
    return files


def _blocks(lines: Iterable[str]) -> list[list[str]]:
    """Runs of non-blank lines (stripped) between blank lines."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        line = line.strip()
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


def heading_level(line: str) -> int:
    match = _HEADING.fullmatch(line.strip())
    return match.group(1).count("=") if match else 0


def detect_format(lines: list[str]) -> str:
    """`paragraphs` or `sentences` by the heuristic of the module docstring."""
    non_blank = [line for line in lines if line.strip()]
    if any(heading_level(line) == 1 for line in non_blank):
        return "paragraphs"
    multi_sentence = sum(len(split_sentences(line)) > 1 for line in non_blank)
    return "paragraphs" if multi_sentence * 4 > len(non_blank) else "sentences"


def line_documents(lines: Iterable[str]) -> Documents:
    """One document per non-blank line, split into sentences (the `documents` format)."""
    return [sentences for line in lines if (sentences := split_sentences(line))]


def text_sentences(text: str) -> list[str]:
    """The sentences of a document's text: each of its lines split into sentences."""
    return [sentence for line in text_lines(text) for sentence in split_sentences(line)]


def joined_pieces(pieces: list[str]) -> str:
    """The text of a record that holds it split, as token-classification sets publish theirs: characters (every
    piece one character, as Chinese NER sets) joined as they are, words joined with spaces."""
    return "".join(pieces) if all(len(piece) == 1 for piece in pieces) else " ".join(pieces)


def json_documents(text: str, text_field: str, where: Callable[[int], str]) -> Documents:
    """One document per JSON-lines record (its `text_field`, text or a list of its pieces: `joined_pieces`, split
    into sentences); a record whose field is null or blank gives none. where(i): `file line N` of the text's i-th
    line, for the errors: a line that is not a JSON object, a record without the field, or a field that is not
    text."""
    documents = []
    for index, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        record = json_record(line, where(index))
        if text_field not in record:
            raise DataError(f"{where(index)}: the record has no field {text_field!r} (its fields: "
                            f"{', '.join(map(repr, record)) or 'none'}); set data.text_field to the one that holds "
                            f"the text")
        value = record[text_field]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            value = joined_pieces(value)
        if value is not None and not isinstance(value, str):
            raise DataError(f"{where(index)}: field {text_field!r} holds a JSON {type(value).__name__}, not text (nor "
                            f"a list of strings); set data.text_field to the field that holds the text")
        if value and (sentences := text_sentences(value)):
            documents.append(sentences)
    return documents


def tsv_column(header: list[str], text_field: str, path: str) -> int:
    """Where the column `text_field` is in a TSV file's header; DataError naming the file when it has none."""
    if text_field not in header:
        raise DataError(f"{path} line 1: the header has no column {text_field!r} (its columns: "
                        f"{', '.join(map(repr, header))}); set data.text_field to the one that holds the text")
    return header.index(text_field)


def tsv_documents(text: str, header: list[str], column: int, where: Callable[[int], str], skip_first: bool
                  ) -> Documents:
    """One document per row of tab-separated values (its field `column`, split into sentences) under the file's
    `header`; skip_first: the text starts with the header row. where(i): `file line N` of the text's i-th line, for
    a row whose fields do not match the header."""
    documents = []
    for index, line in enumerate(text.split("\n")):
        if (skip_first and index == 0) or not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != len(header):
            raise DataError(f"{where(index)}: {len(fields)} fields where the header has {len(header)} "
                            f"({', '.join(header)}); a text containing a tab?")
        if sentences := split_sentences(fields[column]):
            documents.append(sentences)
    return documents


def paragraph_documents(lines: Iterable[str]) -> Documents:
    """Documents of sentences from paragraph lines: title lines delimit documents when present, else blank lines."""
    lines = list(lines)
    if not any(heading_level(line) == 1 for line in lines):
        return [[sentence for line in block for sentence in split_sentences(line)] for block in _blocks(lines)]
    documents: Documents = [[]]
    for line in lines:
        level = heading_level(line)
        if level == 1 and documents[-1]:
            documents.append([])
        elif level == 0:
            documents[-1].extend(split_sentences(line))
    return [document for document in documents if document]


def text_lines(text: str) -> list[str]:
    """The lines of `text`, ended by \\n, \\r\\n or \\r only: a form feed or a Unicode line separator (which
    `str.splitlines` splits on) stays in its line."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_documents(text: str, format: str = "auto") -> Documents:
    """Documents of sentences from the text of one file in a text format (see the module docstring)."""
    if format not in TEXT_FORMATS:
        raise ConfigError(f"format={format!r} is not one of the text formats {', '.join(TEXT_FORMATS)}")
    lines = text_lines(text)
    if format == "auto":
        format = detect_format(lines)
    if format == "documents":
        return line_documents(lines)
    if format == "sentences":
        return _blocks(lines)
    return paragraph_documents(lines)


def read_documents(source: str | Path, format: str = "auto", shard_index: int = 0, shard_count: int = 1
                   ) -> Documents:
    """Documents (lists of sentences) from a text file, a folder of `*.txt` files or a glob, files in sorted order,
    each read whole (corpora of any size and format are prepared in pieces; see prepare).

    shard_index/shard_count: one process's share: every shard_count-th file when there are enough files (so a
    process reads only its own files), else every shard_count-th document.
    """
    documents = []
    files = corpus_files(source, "sentences")  # a folder's *.txt files
    by_file = len(files) >= shard_count
    for path in files[shard_index::shard_count] if by_file else files:
        if file_format(path, format) not in TEXT_FORMATS or compression_of(path):
            raise ConfigError(f"{path}: read_documents reads plain text files; prepare a corpus of JSON lines, "
                              f"parquet or compressed files with prepare.prepare_corpus")
        documents.extend(parse_documents(read_text(path), file_format(path, format)))
    if not by_file:
        documents = documents[shard_index::shard_count]
    if not documents:
        names = files[0] if len(files) == 1 else f"{len(files)} files matching {source}"
        raise DataError(f"{names}: the corpus is empty (no non-blank text); pass a corpus with at least one sentence")
    return documents
