"""Predicting with a model folder from the command line: the run behind `scripts/predict.py`.

Inputs are texts one a line, or CSV/TSV/JSON-lines records with the task's columns; each prediction is written as a
JSON line: the input's fields and the pipeline's result.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertjax.atomic import write_text_atomically
from bertjax.data.readers import FORMATS, Record, read_records, read_text
from bertjax.errors import DataError
from bertjax.pipelines import PIPELINES, pipeline, task_of_folder
from bertjax.error_report import report_errors
from bertjax.train.host_allocator import reuse_freed_host_memory

Row = dict[str, Any]


def _column(records: Sequence[Record], name: str, option: str) -> list[Any]:
    missing = next((record for record in records if name not in record), None)
    if missing is not None:
        raise DataError(f"{missing.where}: no column {name!r}; the columns are: {', '.join(map(repr, missing))}. "
                        f"Name the column with {option}")
    return [record[name] for record in records]


def read_inputs(source: str, format: str | None) -> list[Record]:
    """Records from a file or `-` (standard input): CSV/TSV/JSON lines by extension or `format`, else one text
    (`text`) a non-blank line."""
    if source == "-":
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "stdin"
            copy.write_bytes(sys.stdin.buffer.read())
            return read_inputs(str(copy), format or "text")
    path = Path(source)
    format = format or FORMATS.get(path.suffix.lower(), "text")
    if format != "text":
        return read_records(path, format=format)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    records = [Record({"text": line.strip()}, path, number)
               for number, line in enumerate(read_text(path).splitlines(), start=1) if line.strip()]
    if not records:
        raise DataError(f"{path}: no text to predict on; give one text a line")
    return records


def _json_ready(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _text_column(records: Sequence[Record], task: str, chosen: str | None) -> str:
    """`--text-column`, else `text`; for token classification the first of text, tokens and words (lists of
    words, as tagged JSON lines hold them) that the first record has."""
    if chosen:
        return chosen
    names = ("text", "tokens", "words") if task == "token-classification" else ("text",)
    return next((name for name in names if records and name in records[0]), "text")


def _predictions(task: str, predict: Any, records: list[Record], arguments: argparse.Namespace) -> list[Row]:
    """Each record's result, as the fields to add to it."""
    if task == "question-answering":
        results = predict(_column(records, arguments.question_column, "--question-column"),
                          _column(records, arguments.context_column, "--context-column"), top_k=arguments.top_k or 1)
        return [result if isinstance(result, dict) else {"answers": result} for result in results]
    if task == "multiple-choice":
        return predict(_column(records, arguments.context_column, "--context-column"),
                       _column(records, arguments.choices_column, "--choices-column"))
    texts = _column(records, _text_column(records, task, arguments.text_column), "--text-column")
    if task == "text-classification":
        pairs = None if arguments.text_pair_column is None else \
            _column(records, arguments.text_pair_column, "--text-pair-column")
        results = predict(texts, text_pair=pairs, top_k=arguments.top_k or 1)
        return [result if isinstance(result, dict) else {"labels": result} for result in results]
    if task == "token-classification":
        split = bool(texts) and isinstance(texts[0], list)
        return [{"entities": entities} for entities in predict(texts, is_split_into_words=split)]
    if task == "fill-mask":
        return [{"fills": fills} for fills in predict(texts, top_k=arguments.top_k or 5)]
    return [{"embedding": _json_ready(embedding)} for embedding in predict(texts)]


def _arguments(argv: list[str] | None, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="a bertjax or Hugging Face BERT folder (e.g. runs/finetune/best)")
    parser.add_argument("input", nargs="?", default="-", help="texts one a line, or .csv/.tsv/.jsonl records; "
                                                              "- (the default) reads standard input")
    parser.add_argument("--task", choices=sorted(PIPELINES), help="default: the task of the folder's head")
    parser.add_argument("--output", "-o", help="the JSON-lines file to write (default: standard output)")
    parser.add_argument("--format", choices=("text", "csv", "tsv", "jsonl"), help="default: by extension")
    parser.add_argument("--top-k", type=int, help="labels, answers or tokens per input")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, help="default: the model's")
    parser.add_argument("--text-column", help="default: text (token-classification: text, tokens or words)")
    parser.add_argument("--text-pair-column", help="text-classification of pairs")
    parser.add_argument("--question-column", default="question")
    parser.add_argument("--context-column", default="context")
    parser.add_argument("--choices-column", default="choices", help="multiple-choice: a list of choices")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser.parse_args(argv)


def run_predict(argv: list[str] | None = None, description: str = "") -> int:
    """Parses the command line, predicts, writes JSON lines; project errors are one line and exit status 1."""
    reuse_freed_host_memory()  # before JAX starts, as in the other scripts
    arguments = _arguments(argv, description)
    return report_errors(lambda: _predict(arguments), arguments.debug)


def _predict(arguments: argparse.Namespace) -> None:
    records = read_inputs(arguments.input, arguments.format)
    task = arguments.task or task_of_folder(arguments.model_dir)
    predict = pipeline(task, arguments.model_dir, batch_size=arguments.batch_size,
                       max_seq_length=arguments.max_seq_length)
    rows = [dict(record) | result for record, result in zip(records, _predictions(task, predict, records, arguments))]
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if arguments.output:
        write_text_atomically(Path(arguments.output), text)
        print(f"wrote {len(rows)} {task} predictions to {arguments.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
