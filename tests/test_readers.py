"""CSV/TSV/JSON-lines records with their source lines, and errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bertjax.data.readers import detect_format, read_records
from bertjax.errors import DataError


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_quoted_fields_and_line_numbers(tmp_path):
    path = write(tmp_path, "data.csv", 'text,label\n"hello, world",1\n\n"two\nlines",0\nplain,1\n')
    records = read_records(path)
    assert [dict(record) for record in records] == [
        {"text": "hello, world", "label": "1"}, {"text": "two\nlines", "label": "0"}, {"text": "plain", "label": "1"}]
    assert [record.line for record in records] == [2, 4, 6]
    assert records[2].where == f"{path} line 6"


def test_tsv_has_no_quoting(tmp_path):
    path = write(tmp_path, "data.tsv", 'sentence\tlabel\n"quoted" words \t1\r\nit \'s fine\t0\n')
    records = read_records(path)
    assert [dict(record) for record in records] == [{"sentence": '"quoted" words ', "label": "1"},
                                                    {"sentence": "it 's fine", "label": "0"}]


def test_headerless_file_with_fieldnames(tmp_path):
    path = write(tmp_path, "train.tsv", "gj04\t1\t\tOur friends won't buy this.\ngj04\t0\t*\tThey drank the pub.\n")
    records = read_records(path, fieldnames=("source", "label", "original_label", "sentence"), columns=["sentence"])
    assert [(record["sentence"], record["label"], record.line) for record in records] == [
        ("Our friends won't buy this.", "1", 1), ("They drank the pub.", "0", 2)]


def test_json_lines_keep_types(tmp_path):
    path = write(tmp_path, "data.jsonl",
                 '{"tokens": ["a", "b"], "tags": ["O", "B-PER"]}\n\n{"tokens": [], "tags": []}\n')
    records = read_records(path, columns=["tokens", "tags"])
    assert records[0]["tokens"] == ["a", "b"] and [record.line for record in records] == [1, 3]


def test_format_from_extension():
    assert [detect_format(name) for name in ("a.csv", "b.TSV", "c.jsonl", "d.json")] == ["csv", "tsv", "jsonl",
                                                                                         "jsonl"]
    with pytest.raises(DataError, match=r"notes\.txt.*\.csv, \.tsv, \.jsonl"):
        detect_format("notes.txt")


@pytest.mark.parametrize("name, text, columns, where, message", [
    ("ragged.csv", "text,label\ngood,1\ntoo,many,fields\n", None, "line 3", "3 fields where the header has 2"),
    ("ragged.csv", "text,label\nfew\n", None, "line 2", "1 fields where the header has 2"),
    ("ragged.tsv", "sentence\tlabel\na\ttab\t1\n", None, "line 2", "3 fields where the header has 2"),
    ("columns.csv", "sentence,label\na,1\n", ["text"], "line 1",
     "no column 'text'; the columns are: 'sentence', 'label'"),
    ("columns.jsonl", '{"text": "a"}\n{"label": 1}\n', ["text"], "line 2",
     "no column 'text'; the columns are: 'label'. The file needs the columns 'text'"),
    ("options.csv", "sentence,label\na,1\n", {"text": "text_column", "label": "label_column"}, "line 1",
     "no column 'text'; the columns are: 'sentence', 'label'. Set text_column to the column that holds it"),
    ("bad.jsonl", '{"text": "a"}\n{"text": oops}\n', None, "line 2", "invalid JSON"),
    ("list.jsonl", '["a", "b"]\n', None, "line 1", "expected a JSON object"),
    ("twice.csv", "text,text\na,b\n", None, "line 1", "column 'text' twice"),
    ("quote.csv", 'text,label\n"a"b",1\n', None, "line 2", "malformed CSV"),
])
def test_bad_rows_name_file_and_line(tmp_path, name, text, columns, where, message):
    path = write(tmp_path, name, text)
    with pytest.raises(DataError) as error:
        read_records(path, columns=columns)
    assert f"{path} {where}" in str(error.value) and message in str(error.value)


@pytest.mark.parametrize("name, text, message", [
    ("empty.csv", "", "the file is empty"),
    ("blank.tsv", "\n\n", "the file is empty"),
    ("header_only.csv", "text,label\n", "no data rows"),
    ("empty.jsonl", "\n", "no records"),
])
def test_empty_files(tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(DataError, match=message) as error:
        read_records(path)
    assert str(path) in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file") as error:
        read_records(tmp_path / "absent.csv")
    assert str(tmp_path / "absent.csv") in str(error.value)


@pytest.mark.parametrize("name, text", [
    ("data.csv", "text,label\nfine,1\ncaf\u00e9,0\n"), ("data.tsv", "text\tlabel\nfine\t1\ncaf\u00e9\t0\n"),
    ("data.jsonl", '{"text": "fine"}\n{"text": "caf\u00e9"}\n'), ("train.conll", "fine O\n\ncaf\u00e9 O\n"),
    ("words.txt", "fine\n\ncaf\u00e9\n"), ("squad.json", '{"data": []}\n"caf\u00e9"'),
])
def test_files_that_are_not_utf8_name_the_file_and_line(tmp_path, name, text):
    """Excel's CSV export (cp1252) and its Unicode text (UTF-16): every task reader says which file, where, and
    what to do."""
    from bertjax.data.finetuning.squad import read_squad
    from bertjax.data.finetuning.token_classification import read_conll
    from bertjax.runs.families.token_classification import read_conll_words

    reader = {".conll": read_conll, ".txt": read_conll_words, ".json": read_squad}.get(Path(name).suffix, read_records)
    path = tmp_path / name
    path.write_bytes(text.encode("cp1252"))
    with pytest.raises(DataError, match=rf"{name} line [23]: byte 0xe9 at byte offset \d+ is not UTF-8"):
        reader(path)
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(DataError, match=f"{name}: the file is UTF-16.*save it as UTF-8"):
        reader(path)
