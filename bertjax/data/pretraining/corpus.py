"""Reading a text corpus as documents of sentences, from text in two layouts (files are read in pieces by
text_pieces; tensorflow-datasets examples by sources).

Layouts:
- `sentences` (Google's BERT format): one sentence a line, a blank line between documents.
- `paragraphs` (e.g. WikiText): one paragraph a line, blank lines between paragraphs; each line is split into
  sentences by `split_sentences`. Lines like ` = Title = ` start a new document; deeper headings
  (` = = Section = = `) are dropped. A file without title lines has one document per paragraph.
- `auto` decides per file: `paragraphs` if the file has a title line or if more than a quarter of its non-blank
  lines hold more than one sentence, else `sentences`.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from pathlib import Path

from bertjax.data.readers import read_text
from bertjax.errors import ConfigError, DataError

Documents = list[list[str]]
FORMATS = ("auto", "sentences", "paragraphs")

# A period after these words (compared lower-cased, without the period) does not end a sentence.
ABBREVIATIONS = frozenset("""
    mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep rev hon pres supt
    vs cf viz ca approx no nos fig figs vol vols pp ch sec dept est al
    inc ltd co corp bros assn univ ave blvd
    jan feb mar apr jun jul aug sep sept oct nov dec
""".split())
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(\s+)")
_HEADING = re.compile(r"(=(?: =)*) (?!= )(.+) \1")  # `= Title =` is level 1, `= = Section = =` level 2
_OPENERS = "\"'“‘„‚«‹¿¡(["


def split_sentences(text: str) -> list[str]:
    """Splits a paragraph at `.`, `!` or `?` (with any closing quotes or brackets) followed by whitespace, any
    opening quotes or brackets, and a digit or a letter that is not lower-case (upper-case in any script, or of a
    script without case); a period after an abbreviation (`Mr.`, `e.g.`, `U.S.`) or an initial (`J.`) does not
    split. Decimals (`3.14`) never split since no whitespace follows the period."""
    sentences = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        boundary = match.start(1)
        if not _starts_sentence(text, match.end()) or _is_abbreviation(text, match.start()):
            continue
        sentences.append(text[start:boundary].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]


def _starts_sentence(text: str, position: int) -> bool:
    """Whether the text from `position` can open a sentence (see `split_sentences`)."""
    while position < len(text) and text[position] in _OPENERS:
        position += 1
    if position == len(text):
        return False
    first = text[position]
    return first.isdigit() or (first.isalpha() and not first.islower())


def _is_abbreviation(text: str, punctuation_start: int) -> bool:
    """Whether the period at `punctuation_start` closes an abbreviation or initial rather than a sentence."""
    if text[punctuation_start] != "." or text.startswith("..", punctuation_start):
        return False
    word = text[:punctuation_start].rsplit(None, 1)[-1] if text[:punctuation_start].strip() else ""
    word = word.lstrip(_OPENERS)
    if not word:
        return False
    return word.lower() in ABBREVIATIONS or "." in word or (len(word) == 1 and word.isalpha())


def corpus_files(source: str | Path) -> list[Path]:
    """A file, every `*.txt` under a folder (recursively), or the files matching a glob; sorted."""
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(file for file in path.rglob("*.txt") if file.is_file())
        if not files:
            raise DataError(f"{path}: the folder holds no *.txt files; pass a text file, a folder of *.txt files or a "
                            f"glob")
        return files
    files = sorted(Path(name) for name in glob.glob(str(source), recursive=True) if Path(name).is_file())
    if not files:
        raise DataError(f"{source}: no such file or folder, and no file matches it as a glob; pass a text file, a "
                        f"folder of *.txt files or a glob such as 'corpus/*.txt'")
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
    """Documents of sentences from the text of one file in `format` (see the module docstring)."""
    if format not in FORMATS:
        raise ConfigError(f"format={format!r} is not one of {', '.join(FORMATS)}")
    lines = text_lines(text)
    if format == "auto":
        format = detect_format(lines)
    if format == "sentences":
        return _blocks(lines)
    return paragraph_documents(lines)


def read_documents(source: str | Path, format: str = "auto", shard_index: int = 0, shard_count: int = 1
                   ) -> Documents:
    """Documents (lists of sentences) from a text file, a folder of `*.txt` files or a glob, files in sorted order.

    shard_index/shard_count: one process's share: every shard_count-th file when there are enough files (so a
    process reads only its own files), else every shard_count-th document.
    """
    documents = []
    files = corpus_files(source)
    by_file = len(files) >= shard_count
    for path in files[shard_index::shard_count] if by_file else files:
        documents.extend(parse_documents(read_text(path), format))
    if not by_file:
        documents = documents[shard_index::shard_count]
    if not documents:
        names = files[0] if len(files) == 1 else f"{len(files)} files matching {source}"
        raise DataError(f"{names}: the corpus is empty (no non-blank text); pass a corpus with at least one sentence")
    return documents
