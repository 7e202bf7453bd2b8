"""Fault knobs of one shop: the misbehaviour an adapter must survive.

Counting knobs (``throttle_next``, ``error_next``, ``malformed_next``)
fire on that many marketplace API calls and then clear; the others stay
until changed. They never apply to the ``/_sandbox/`` control API.

- ``throttle_next``: Shopify answers THROTTLED (the bucket is drained so
  that the body's cost figures ask for about ``retry_after_s`` of waiting),
  WooCommerce's host answers 429 with ``Retry-After``. The request is not
  processed.
- ``throttle_http_status``: 200 (default) or 429 for Shopify's THROTTLED.
- ``retry_after_s``: the ``Retry-After`` of 429 and 503 answers.
- ``error_next`` / ``error_status``: 500, 502 or 503 before the request
  reaches the shop (nothing is processed). 500 is the application's own
  error body, 502/503 a proxy's HTML page (503 with ``Retry-After``).
- ``slow_ms``: every answer is delayed that long (before processing).
- ``malformed_next``: the request IS processed, then its answer is cut
  short (HTTP 200, not JSON) — as when a connection drops mid-body. A
  write was therefore applied: retry it idempotently.
- ``duplicate_pages``: WooCommerce page N+1 first repeats the last items
  of page N; Shopify's next page starts again with the last node of the
  previous one. Nothing is lost, something is seen twice.
"""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

COUNTING = ('throttle_next', 'error_next', 'malformed_next')
CHOICES = {
    'throttle_http_status': (200, 429),
    'error_status': (500, 502, 503),
    }


@dataclass
class Faults:
    throttle_next: int = 0
    throttle_http_status: int = 200
    retry_after_s: float = 1.0
    error_next: int = 0
    error_status: int = 503
    slow_ms: int = 0
    malformed_next: int = 0
    duplicate_pages: bool = False
    # How often each knob fired, for tests and benchmarks to check.
    fired: Counter = field(default_factory=Counter, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock,
        repr=False, compare=False)

    def take(self, knob: str) -> bool:
        "Whether a counting knob fires on this call (and count it down)"
        with self._lock:
            left = getattr(self, knob)
            if left <= 0:
                return False
            setattr(self, knob, left - 1)
            self.fired[knob] += 1
            return True

    def set(self, **knobs: Any) -> Faults:
        """Change knobs, checked as a whole first: an unknown name or a
        wrong value changes nothing (ValueError)."""
        checked = {name: _check(name, value) for name, value in knobs.items()}
        with self._lock:
            for name, value in checked.items():
                setattr(self, name, value)
        return self

    def clear(self) -> Faults:
        return self.set(**{f.name: f.default for f in fields(self)
                if not f.name.startswith('_') and f.name != 'fired'})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
            if not f.name.startswith('_') and f.name != 'fired'} | {
            'fired': dict(self.fired)}


KNOBS = {f.name: f.type for f in fields(Faults)
    if not f.name.startswith('_') and f.name != 'fired'}


def _check(name: str, value: Any) -> Any:
    if name not in KNOBS:
        raise ValueError(f"unknown fault knob {name!r}; knobs: "
            + ', '.join(sorted(KNOBS)))
    if name == 'duplicate_pages':
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if name == 'retry_after_s':
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or value < 0:
            raise ValueError(f"{name} must be a number of seconds >= 0")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0")
    if name in CHOICES and value not in CHOICES[name]:
        raise ValueError(f"{name} must be one of {CHOICES[name]}")
    return value
