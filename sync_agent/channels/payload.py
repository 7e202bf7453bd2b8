"""Reading marketplace payloads: the small conversions every
``normalize_order`` needs (money, times, streets), so they agree."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

T = TypeVar('T')
R = TypeVar('R')


class PayloadError(ValueError):
    "A payload the normalizer cannot read; the message names the field"


# What reading a payload raises when it is not what the API documents
# (pydantic's ValidationError is a ValueError; a number too large for a
# decimal, a float or a date is an ArithmeticError).
READ_ERRORS = (PayloadError, KeyError, TypeError, ValueError,
    AttributeError, ArithmeticError)


@dataclasses.dataclass(frozen=True)
class Unreadable:
    "An item of a payload that could not be read, and why"
    kind: str
    external_id: str | None
    parent_id: str | None
    why: str
    raw: Any

    @property
    def name(self) -> str:
        return (f"{self.kind} {self.external_id or 'without an id'} of "
            f"order {self.parent_id or '?'}")

    def __str__(self) -> str:
        return f"{self.name}: {self.why}"


def read_each(items: Iterable[T], read: Callable[[T], R],
        identify: Callable[[T], tuple[str, Any, Any]],
        problems: list[Unreadable] | None) -> list[R]:
    """Each item read. One that cannot be read raises; or, given a
    problems list, is left out and noted there with what it is (kind, id,
    its parent's id, from `identify`), why, and itself, so that it stops
    none of the others and can still be kept."""
    results = []
    for item in items:
        try:
            results.append(read(item))
        except READ_ERRORS as error:
            if problems is None:
                raise
            why = f"{error.args[0]} is missing" if isinstance(
                error, KeyError) else str(error)
            kind, external_id, parent_id = identify(item)
            problems.append(Unreadable(
                    kind, str(external_id) if external_id else None,
                    str(parent_id) if parent_id else None, why,
                    item if isinstance(item, dict) else {'payload': item}))
    return results


def money(value: Any, field: str) -> Decimal:
    "A Decimal from a string or number; floats go through their text"
    if value is None or value == '':
        raise PayloadError(f"{field} is missing")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise PayloadError(f"{field} is not an amount: {value!r}") from None


def utc(value: Any, field: str, naive_is_utc: bool = False) -> dt.datetime:
    """An aware UTC datetime from ISO 8601 text. A naive time is refused
    unless the channel documents it as UTC (naive_is_utc)."""
    if not value:
        raise PayloadError(f"{field} is missing")
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace('Z', '+00:00'))
    except ValueError:
        raise PayloadError(f"{field} is not a date-time: {value!r}") from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise PayloadError(f"{field} has no time zone: {value!r}")
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def street(*parts: str | None) -> str:
    "Address lines joined, empty ones dropped"
    return '\n'.join(p.strip() for p in parts if p and p.strip())


def text(value: Any) -> str | None:
    "Stripped text, or None for missing and blank values"
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def full_name(*parts: str | None) -> str:
    return ' '.join(p.strip() for p in parts if p and p.strip())
