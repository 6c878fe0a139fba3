"""SQuAD v1.1 and v2.0 question answering examples, from the official JSON files or tensorflow-datasets, checked
so that every answer text is where its `answer_start` says."""

from __future__ import annotations

import dataclasses
import json
import json.decoder
import json.scanner
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bertjax.data.finetuning.classification import load_tfds_split
from bertjax.data.readers import read_text
from bertjax.errors import DataError

JsonPath = tuple[str | int, ...]  # keys and list indices from the document root to a value


@dataclasses.dataclass(frozen=True)
class SquadAnswer:
    text: str
    answer_start: int  # character offset of `text` in the context


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """One question on one context; `answers` is empty for a v2.0 impossible question or unlabelled data."""

    id: str
    title: str
    context: str
    question: str
    answers: tuple[SquadAnswer, ...]
    is_impossible: bool = False


def gold_answers(examples: Sequence[SquadExample]) -> dict[str, list[str]]:
    """Question id -> its answer texts (empty for a no-answer question), as `squad_metrics` expects."""
    return {example.id: [answer.text for answer in example.answers] for example in examples}


def _answer_problem(context: str, answers: Sequence[SquadAnswer], is_impossible: bool
                    ) -> tuple[int | None, str] | None:
    """(the index of the answer at fault, None for the question as a whole; why) when the answers do not fit."""
    if is_impossible and answers:
        return None, "is marked is_impossible but has answers; empty its answers or set is_impossible to false"
    for index, answer in enumerate(answers):
        found = context[answer.answer_start:answer.answer_start + len(answer.text)]
        if found != answer.text or answer.answer_start < 0:
            return index, (f"answer {index} {answer.text!r} is not at answer_start {answer.answer_start} (the "
                           f"context there reads {found!r}); fix answer_start or the answer text")
    return None


class _Malformed(Exception):
    """A problem at a place in a JSON document; turned into a DataError with the file and line."""

    def __init__(self, path: JsonPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


_KIND_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object"}


def _field(container: Any, key: str, kind: type, path: JsonPath, question_id: str | None = None) -> Any:
    about = f"question {question_id!r}: " if question_id is not None else ""
    if not isinstance(container, dict):
        raise _Malformed(path, f"{about}expected a JSON object, found {type(container).__name__}")
    if key not in container:
        raise _Malformed(path, f"{about}missing field {key!r}; every SQuAD entry at this level needs it")
    value = container[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Malformed((*path, key), f"{about}field {key!r} must be {_KIND_NAMES[kind]}, found {value!r:.80}")
    return value


def _answers(qa: dict[str, Any], path: JsonPath, question_id: str) -> tuple[SquadAnswer, ...]:
    """The question's answers; none where it has no `answers` field (questions to predict answers for)."""
    if "answers" not in qa:
        return ()
    answers = []
    for index, answer in enumerate(_field(qa, "answers", list, path, question_id)):
        answer_path = (*path, "answers", index)
        answers.append(SquadAnswer(_field(answer, "text", str, answer_path, question_id),
                                   _field(answer, "answer_start", int, answer_path, question_id)))
    return tuple(answers)


def _examples_from_document(document: Any) -> Iterator[SquadExample]:
    seen: set[str] = set()
    for article_index, article in enumerate(_field(document, "data", list, ())):
        article_path: JsonPath = ("data", article_index)
        title = article.get("title", "") if isinstance(article, dict) else ""
        for paragraph_index, paragraph in enumerate(_field(article, "paragraphs", list, article_path)):
            paragraph_path = (*article_path, "paragraphs", paragraph_index)
            context = _field(paragraph, "context", str, paragraph_path)
            for qa_index, qa in enumerate(_field(paragraph, "qas", list, paragraph_path)):
                qa_path = (*paragraph_path, "qas", qa_index)
                question_id = _field(qa, "id", str, qa_path)
                if question_id in seen:
                    raise _Malformed(qa_path, f"question id {question_id!r} appears twice; ids must be unique")
                seen.add(question_id)
                question = _field(qa, "question", str, qa_path, question_id)
                answers = _answers(qa, qa_path, question_id)
                is_impossible = _field(qa, "is_impossible", bool, qa_path, question_id) if "is_impossible" in qa \
                    else False
                problem = _answer_problem(context, answers, is_impossible)
                if problem is not None:
                    index, message = problem
                    raise _Malformed(qa_path if index is None else (*qa_path, "answers", index),
                                     f"question {question_id!r}: {message}")
                yield SquadExample(question_id, title, context, question, answers, is_impossible)


class _PositionedDict(dict):
    """A JSON object that remembers the offset of its opening brace in the document text."""

    offset = 0


def _parse_with_offsets(text: str) -> Any:
    """json.loads, but every object is a `_PositionedDict` (the pure-Python scanner: slow, for error reports)."""
    decoder = json.JSONDecoder()

    def parse_object(state: tuple[str, int], *args: Any) -> tuple[_PositionedDict, int]:
        members, end = json.decoder.JSONObject(state, *args)
        positioned = _PositionedDict(members)
        positioned.offset = state[1] - 1
        return positioned, end

    decoder.parse_object = parse_object  # type: ignore[assignment]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    return decoder.decode(text)


def _line_and_column(text: str, path: JsonPath) -> tuple[int, int]:
    """1-based line and column of the innermost JSON object on `path` (official files are one long line)."""
    node, offset = _parse_with_offsets(text), 0
    for key in path:
        if isinstance(node, _PositionedDict):
            offset = node.offset
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    if isinstance(node, _PositionedDict):
        offset = node.offset
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def read_squad(path: str | Path) -> list[SquadExample]:
    """Reads a SQuAD v1.1 or v2.0 JSON file (`data[].paragraphs[].context/qas[]`) in file order."""
    path = Path(path)
    try:
        text = read_text(path)
    except OSError as error:
        raise DataError(f"{path}: cannot read the SQuAD file ({error.strerror}); check the path") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path} line {error.lineno} column {error.colno}: invalid JSON ({error.msg})") from None
    try:
        examples = list(_examples_from_document(document))
    except _Malformed as problem:
        line, column = _line_and_column(text, problem.path)
        raise DataError(f"{path} line {line} column {column}: {problem.message}") from None
    if not examples:
        raise DataError(f"{path}: the file has no questions; check that it is a SQuAD file")
    return examples


def locate_question(path: str | Path, question_id: str) -> str:
    """`FILE line L column C` of the question `question_id` in a SQuAD file that `read_squad` read, for messages
    about it."""
    text = read_text(Path(path))
    for article_index, article in enumerate(json.loads(text)["data"]):
        for paragraph_index, paragraph in enumerate(article["paragraphs"]):
            for qa_index, qa in enumerate(paragraph["qas"]):
                if qa["id"] == question_id:
                    line, column = _line_and_column(text, ("data", article_index, "paragraphs", paragraph_index,
                                                           "qas", qa_index))
                    return f"{path} line {line} column {column}"
    return str(path)


def _example_from_record(record: dict[str, Any], where: str) -> SquadExample:
    answers = tuple(SquadAnswer(text, int(start))
                    for text, start in zip(record["answers"]["text"], record["answers"]["answer_start"]))
    example = SquadExample(record["id"], record.get("title", ""), record["context"], record["question"], answers,
                           bool(record.get("is_impossible", False)))
    problem = _answer_problem(example.context, example.answers, example.is_impossible)
    if problem is not None:
        raise DataError(f"{where}: question {example.id!r}: {problem[1]}")
    return example


def read_tfds_squad(name: str = "squad/v1.1", split: str = "validation", data_dir: str | None = None
                    ) -> list[SquadExample]:
    """Reads a tfds SQuAD split (`squad/v1.1` or `squad/v2.0`, `train` or `validation`) in tfds order."""
    records = load_tfds_split(name, split, ("id", "context", "question", "answers"), data_dir)
    return [_example_from_record(record, f"tensorflow-datasets {name!r} split {split!r}") for record in records]
