"""Reading text files: UTF-8 checked with the line at fault, and task files (CSV, TSV, JSON lines) into records
that remember the line they came from."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bertjax.errors import ConfigError, DataError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


class Record(dict):
    """One row, column name -> value, that knows the file and the 1-based line it starts on."""

    def __init__(self, values: dict[str, Any], path: Path, line: int) -> None:
        super().__init__(values)
        self.path = path
        self.line = line

    @property
    def where(self) -> str:
        """`file line N`, for error messages."""
        return f"{self.path} line {self.line}"


def read_text(path: Path) -> str:
    """The UTF-8 text of `path`, a byte-order mark dropped; a binary, UTF-16 or otherwise non-UTF-8 file raises
    DataError naming the line and byte."""
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(f"{path}: the file is UTF-16 (it starts with UTF-16's byte-order mark); save it as UTF-8")
    null = data.find(b"\0")
    if null >= 0:
        line = data.count(b"\n", 0, null) + 1
        raise DataError(f"{path} line {line}: binary data (a NUL byte at byte offset {null}); the file must be "
                        f"UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(f"{path} line {line}: byte {data[error.start]:#04x} at byte offset {error.start} is not "
                        f"UTF-8; the file must be UTF-8 text (convert it, e.g. with iconv)") from None


def open_text(path: Path, newline: str | None = None) -> io.StringIO:
    """`read_text` as a file to iterate over, its lines split as `open(path, newline=newline)` splits them."""
    return io.StringIO(read_text(path), newline=newline)


def detect_format(path: str | Path) -> str:
    """csv, tsv or jsonl, from the file extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: cannot tell the format from the extension {suffix!r}; name the file .csv, .tsv, "
                        f".jsonl or .json, or pass the format (csv, tsv or jsonl)")
    return FORMATS[suffix]


Columns = Sequence[str] | Mapping[str, str]


def read_records(path: str | Path, format: str | None = None, columns: Columns | None = None,
                 fieldnames: Sequence[str] | None = None) -> list[Record]:
    """Reads every row of a CSV, TSV or JSON-lines file.

    format: csv (the csv module's quoting), tsv (tab-separated, no quoting, as GLUE's files) or jsonl (one JSON
      object a line); None: from the extension (.csv, .tsv, .jsonl/.json).
    columns: columns every record must have; as a mapping, each to the option that named it (`{"sentence":
      "text_column"}`), which the error for a missing column then tells the user to set.
    fieldnames: column names of a CSV/TSV file without a header row (its first line is then data).
    Blank lines are skipped. CSV/TSV values are strings; JSON values keep their JSON types.
    """
    path = Path(path)
    format = format or detect_format(path)
    if format not in ("csv", "tsv", "jsonl"):
        raise ConfigError(f"unknown format {format!r} for {path}; use csv, tsv or jsonl")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if format == "jsonl":
        records = _read_json_lines(path, columns or ())
    else:
        records = _read_delimited(path, "," if format == "csv" else "\t", format == "csv", columns or (), fieldnames)
    if not records:
        raise DataError(f"{path}: the file has no {'records' if format == 'jsonl' else 'data rows'}; "
                        f"check that it is the right file")
    return records


def _rows(path: Path, delimiter: str, quoted: bool) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of each non-blank row."""
    with open_text(path, newline="") as file:
        if not quoted:
            for number, line in enumerate(file, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield number, line.split(delimiter)
            return
        reader = csv.reader(file, delimiter=delimiter, strict=True)
        line_after_previous = 1
        try:
            for fields in reader:
                # A quoted field may span lines: the row starts right after the previous row's last line.
                if any(field.strip() for field in fields):
                    yield line_after_previous, fields
                line_after_previous = reader.line_num + 1
        except csv.Error as error:
            raise DataError(f"{path} line {reader.line_num}: malformed CSV ({error}); check the quotes") from None


def _read_delimited(path: Path, delimiter: str, quoted: bool, columns: Columns,
                    fieldnames: Sequence[str] | None) -> list[Record]:
    rows = _rows(path, delimiter, quoted)
    if fieldnames is None:
        header = next(rows, None)
        if header is None:
            raise DataError(f"{path}: the file is empty; it needs a header row naming the columns, then data rows")
        header_line, names = header[0], [name.strip() for name in header[1]]
    else:
        header_line, names = 0, list(fieldnames)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"{path} line {header_line}: the header names column {duplicates[0]!r} twice")
    _check_columns(names, columns, f"{path} line {header_line}" if header_line else str(path))
    records = []
    for line, fields in rows:
        if len(fields) != len(names):
            hint = " (a text containing a tab?)" if delimiter == "\t" else " (an unquoted comma in a text?)"
            raise DataError(f"{path} line {line}: {len(fields)} fields where the header has {len(names)} "
                            f"({', '.join(names)}){hint}")
        records.append(Record(dict(zip(names, fields)), path, line))
    return records


def json_record(line: str, where: str) -> dict[str, Any]:
    """One line of a JSON-lines file as its record; DataError naming `where` (`file line N`) where the line is not
    a JSON object."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataError(f"{where}: invalid JSON ({error.msg} at column {error.colno}); the file must hold one JSON "
                        f"object a line") from None
    if not isinstance(value, dict):
        raise DataError(f"{where}: expected a JSON object ({{...}}), got {type(value).__name__}; the file must hold "
                        f"one JSON object a line")
    return value


def _read_json_lines(path: Path, columns: Columns) -> list[Record]:
    records = []
    with open_text(path) as file:
        for line, text in enumerate(file, start=1):
            if not text.strip():
                continue
            value = json_record(text, f"{path} line {line}")
            _check_columns(list(value), columns, f"{path} line {line}")
            records.append(Record(value, path, line))
    return records


def _check_columns(names: list[str], required: Columns, where: str) -> None:
    missing = next((column for column in required if column not in names), None)
    if missing is None:
        return
    option = required.get(missing) if isinstance(required, Mapping) else None
    fix = (f"Set {option} to the column that holds it (task.{option}=NAME on the fine-tuning command line)"
           if option else "The file needs the columns " + ", ".join(map(repr, required)))
    raise DataError(f"{where}: no column {missing!r}; the columns are: {', '.join(map(repr, names))}. {fix}")
