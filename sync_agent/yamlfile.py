"""YAML files that IT admins edit, read so that every problem names its file
and line: duplicate keys (which plain YAML loading silently lets win) and
each pydantic validation error, located on the node it is about.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar('M', bound=BaseModel)


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f'{self.file}:{self.line}' if self.line else self.file
        return f'{where}: {self.message}'


def yaml_problem(file: str, text: str, error: yaml.YAMLError) -> Problem:
    """What YAML refused, on the line to fix: a key without its ':' is only
    found on the next line, as a value that goes on there"""
    mark = getattr(error, 'problem_mark', None)
    line = mark.line + 1 if mark else None
    problem = getattr(error, 'problem', None) or str(error)
    if line and problem == 'mapping values are not allowed here':
        before = [(n, text) for n, text in enumerate(
                text.splitlines()[:line - 1], 1)
            if text.strip() and not text.strip().startswith('#')]
        if before and ':' not in before[-1][1]:
            return Problem(file, before[-1][0],
                f"not valid YAML: {before[-1][1].strip()!r} needs a ':' "
                "after its key")
    return Problem(file, line, f"not valid YAML: {problem}")


def read_yaml(path: Path, model: type[M], partial: bool = False
        ) -> tuple[M | None, list[Problem]]:
    """The file validated as `model`, or None and every problem found.
    With `partial`, the value is built from what is valid even when there
    are problems, so that further checks can run on the rest."""
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as error:
        return None, [Problem(str(path), None,
                f"cannot read it: {error.strerror}")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        return None, [yaml_problem(str(path), text, error)]
    problems = duplicate_keys(node, str(path))
    data = yaml.safe_load(text) if node is not None else None
    if data is None:
        data = {}
    try:
        value = model.model_validate(data)
    except ValidationError as error:
        problems += [
            Problem(str(path), line_of(node, e['loc']), _message(e))
            for e in error.errors()]
        value = _valid_part(model, data, error) if partial else None
        return value, problems
    return (value if partial or not problems else None), problems


def _valid_part(model: type[M], data: Any, error: ValidationError
        ) -> M | None:
    "The model of the data less every entry an error is about"
    for _ in range(5):
        for e in error.errors():
            _drop(data, e['loc'])
        try:
            return model.model_validate(data)
        except ValidationError as again:
            error = again
    return None


def _drop(data: Any, loc: tuple) -> None:
    for part in loc[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(data, dict):
        data.pop(loc[-1] if loc else None, None)


def duplicate_keys(node: yaml.Node | None, file: str) -> list[Problem]:
    problems = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if key.value in seen:
                problems.append(Problem(file, line, (
                            f"{key.value!r} is given twice (first on line "
                            f"{seen[key.value]}); only one may stay")))
            else:
                seen[key.value] = line
            problems += duplicate_keys(value, file)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems += duplicate_keys(item, file)
    return problems


def line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    "The line of the deepest node on the error's path that exists"
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    node = value
                    # A key's own line reads better than its value's.
                    line = key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _message(error: dict) -> str:
    where = '.'.join(str(p) for p in error['loc'])
    message = error['msg']
    if error['type'] == 'extra_forbidden':
        message = "is not a setting this file knows"
    return f"{where}: {message}" if where else message
