"""The small HTTP vocabulary the simulated shops speak: a parsed request
in, a response out. Keeping handlers as plain functions of these makes
them testable without sockets and keeps ``http.server`` in one file."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


class BadJSON(ValueError):
    "A request body that is not the JSON the route expects"


@dataclass
class Request:
    method: str
    path: str                      # below the shop's base URL
    query: dict[str, list[str]]
    headers: dict[str, str]        # keys lower-case
    body: bytes = b''
    base_url: str = ''             # the shop's base URL, for Link headers
    extra: dict[str, Any] = field(default_factory=dict)   # parsed once

    @classmethod
    def build(cls, method: str, path: str, query_string: str,
            headers: dict[str, str], body: bytes,
            base_url: str = '') -> Request:
        return cls(method=method.upper(), path=path,
            query=parse_qs(query_string, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body, base_url=base_url)

    def param(self, name: str, default: str | None = None) -> str | None:
        "The last value of a query parameter (PHP keeps the last, too)"
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        if not self.body.strip():
            raise BadJSON("empty body")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadJSON(str(error)) from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b''
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200,
            headers: dict[str, str] | None = None) -> Response:
        return cls(status=status, body=dumps(payload), headers={
                'Content-Type': 'application/json; charset=UTF-8',
                **(headers or {})})

    @classmethod
    def html(cls, status: int, title: str,
            headers: dict[str, str] | None = None) -> Response:
        # What a host, proxy or WAF answers: not the application's JSON.
        page = (f'<html><head><title>{status} {title}</title></head>'
            f'<body><h1>{title}</h1></body></html>')
        return cls(status=status, body=page.encode(), headers={
                'Content-Type': 'text/html; charset=UTF-8',
                **(headers or {})})


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False,
        separators=(',', ':')).encode()


def seconds_text(value: float) -> str:
    "A Retry-After value: whole seconds when whole, else as given"
    return str(int(value)) if float(value).is_integer() else str(value)


def utcnow() -> dt.datetime:
    "Now, aware UTC, to the second (the marketplaces serve seconds)"
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def parse_time(value: str, naive_tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """An aware UTC datetime from ISO 8601 text; a naive time is read in
    naive_tz. Raises ValueError."""
    parsed = dt.datetime.fromisoformat(value.strip().replace('Z', '+00:00'))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_tz)
    return parsed.astimezone(dt.UTC)


def iso_z(value: dt.datetime) -> str:
    "Shopify's DateTime: 2026-01-15T10:03:40Z"
    return value.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def iso_naive(value: dt.datetime, tz: dt.tzinfo = dt.UTC) -> str:
    "WooCommerce's dates: 2026-01-15T10:03:40, no offset, in tz"
    return value.astimezone(tz).strftime('%Y-%m-%dT%H:%M:%S')
