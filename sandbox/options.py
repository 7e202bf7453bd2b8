"""Options of a shop kind (``add_<kind>(**options)``, ``PUT
/_sandbox/shops/{name}/options``): each a check and a default, and a set
of changes checked as a whole before any is applied."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

# name: (check(name, value) -> the value kept, default)
Options = dict[str, tuple[Callable[[str, Any], Any], Any]]


def seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0")
    return float(value)


def rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or value < 0:
        raise ValueError(f"{name} must be a number >= 0 (0: no limit)")
    return float(value)


def positive(name: str, value: Any) -> float:
    if seconds(name, value) <= 0:
        raise ValueError(f"{name} must be > 0")
    return float(value)


def share(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number from 0 to 1")
    return float(value)


def skus(name: str, value: Any) -> set[str]:
    if isinstance(value, str) or not all(isinstance(v, str)
            for v in value):
        raise ValueError(f"{name} must be a list of SKUs")
    return set(value)


def integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


def natural(name: str, value: Any) -> int:
    if integer(name, value) < 0:
        raise ValueError(f"{name} must be an integer >= 0")
    return value


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def check(options: Options, values: dict[str, Any]) -> dict[str, Any]:
    """The values as kept, all checked first: an unknown name or a wrong
    value raises ValueError, so that nothing is changed"""
    unknown = sorted(set(values) - set(options))
    if unknown:
        raise ValueError(f"unknown options {', '.join(unknown)}; "
            f"options: {', '.join(options)}")
    return {name: options[name][0](name, value)
        for name, value in values.items()}


def defaults(options: Options) -> dict[str, Any]:
    return {name: default for name, (_, default) in options.items()}
