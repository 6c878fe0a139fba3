"""Run configs: typed, frozen dataclass sections read from YAML, overridden by `section.field=value` arguments.

Every value can be overridden from the command line; the effective config is saved in the run folder.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from bertjax.atomic import write_text_atomically
from bertjax.errors import CheckpointError, ConfigError, first_line

T = TypeVar("T")
YAML_NULLS = ("null", "Null", "NULL", "~")


class CommandLineValue(typing.NamedTuple):
    """A `section.field=value` override's value: the text as typed, and what YAML reads it as (`error` when YAML
    cannot read it)."""

    text: str
    parsed: Any = None
    error: str | None = None


def _coerce_command_line(value: CommandLineValue, annotation: Any, where: str) -> Any:
    """A text field takes the text as typed, so a folder named `2024` or `off` or a column named `#1 String` stays
    what it is; other fields (and a text field's `null` or another type it allows, such as a bool) take YAML's
    reading."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) \
        else (annotation,)
    if str in options:
        if isinstance(value.parsed, str):
            return value.parsed  # YAML's reading drops the quotes of a quoted value
        if value.text.strip() in YAML_NULLS and type(None) in options:
            return None
        for option in options:
            if option not in (str, type(None)) and value.error is None and value.parsed is not None:
                try:
                    return _coerce(value.parsed, option, where)
                except ConfigError:
                    pass
        return value.text
    if value.error is not None:
        raise ConfigError(f"{where}={value.text} (on the command line): cannot parse the value ({value.error})")
    try:
        return _coerce(value.parsed, annotation, where)
    except ConfigError as error:
        raise ConfigError(f"{error} (on the command line)") from None


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Checks (and lightly converts) a YAML value against a field's type annotation."""
    if isinstance(value, CommandLineValue):
        return _coerce_command_line(value, annotation, where)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping of fields, got {value!r}")
        return _build(annotation, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        (item_type, *_) = typing.get_args(annotation) or (Any,)
        return origin(_coerce(item, item_type, f"{where}[{index}]") for index, item in enumerate(value))
    if origin is dict or annotation is Any:
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        try:  # YAML 1.1 reads 5e-5 (no decimal point) as a string
            return float(value)
        except ValueError:
            pass
    if annotation in (int, float, str, bool) and not (isinstance(value, annotation) and
                                                      not (annotation is int and isinstance(value, bool))):
        raise ConfigError(f"{where} must be {annotation.__name__}, got {value!r}")
    return value


def _build(cls: type[T], values: dict[str, Any], where: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field '{unknown[0]}'; known fields: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, value in values.items():
        default = fields[name].default
        if dataclasses.is_dataclass(default) and isinstance(value, CommandLineValue) and isinstance(value.parsed, dict):
            value = value.parsed
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            # A partial section changes the fields it names and keeps the section's own defaults for the rest.
            value = {**{field.name: getattr(default, field.name) for field in dataclasses.fields(default)}, **value}
            value = {key: dataclasses.asdict(item) if dataclasses.is_dataclass(item) else item
                     for key, item in value.items()}
        kwargs[name] = _coerce(value, hints[name], f"{where}.{name}" if where else name)
    try:
        return cls(**kwargs)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}" if where else str(error)) from None


def parse_override(text: str) -> tuple[list[str], CommandLineValue]:
    """`train.batch_size=64` -> (["train", "batch_size"], the text "64" and YAML's reading of it, 64)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.field=value")
    key, raw = text.split("=", 1)
    try:
        value = CommandLineValue(raw, yaml.safe_load(raw) if raw != "" else "")
    except yaml.YAMLError as error:
        value = CommandLineValue(raw, error=_yaml_problem(error))
    return key.strip().split("."), value


def _merge(tree: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        if isinstance(tree.get(key), CommandLineValue) and isinstance(tree[key].parsed, dict):
            tree[key] = dict(tree[key].parsed)  # a section set whole earlier on the command line
        tree = tree.setdefault(key, {})
        if not isinstance(tree, dict):
            raise ConfigError(f"override {'.'.join(keys)}: {key} is not a section")
    tree[keys[-1]] = value


def _yaml_problem(error: yaml.YAMLError) -> str:
    """What YAML found wrong and where, in one line (its own message pictures the place over several lines)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or first_line(error)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def load_run_config(cls: type[T], path: str | Path | None, overrides: list[str] = ()) -> T:
    """Reads `path` (YAML; None for the defaults) into `cls`, applying `section.field=value` overrides."""
    values: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        if not Path(path).is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(error)})") from None
        if values is None:
            raise ConfigError(f"{path}: the file is empty; a run config holds sections (task:, model:, train: ...)")
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of sections")
    for override in overrides:
        _merge(values, *parse_override(override))
    try:
        return _build(cls, values, "")
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_run_config(config: Any, path: str | Path) -> None:
    """Writes the effective config as YAML (readable back with `load_run_config`), through a temporary file
    renamed over the old one: a failed write keeps the previous config whole."""
    try:
        write_text_atomically(path, yaml.safe_dump(to_dict(config), sort_keys=False))
    except OSError as error:
        raise CheckpointError(f"{path}: cannot write the run config ({error.strerror}); the previous one is kept") \
            from None
