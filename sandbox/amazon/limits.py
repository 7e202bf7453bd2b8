"""The SP-API's rate limits: a token bucket per operation (per selling
partner and application), with Amazon's default rate (requests a second)
and burst (marketplace-apis.md §3). Buckets run on the monotonic clock,
not the sandbox's: a test moving the sandbox's time does not refill them.
``rate_scale`` multiplies every rate, so tests and benchmarks can speed
time up without changing the bursts."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

RATES: dict[str, tuple[float, int]] = {
    'searchOrders': (0.0056, 20),
    'getOrder': (0.5, 30),
    'getOrders': (0.0167, 20),
    'getOrderV0': (0.5, 30),
    'getOrderItems': (0.5, 30),
    'createRestrictedDataToken': (1.0, 10),
    'patchListingsItem': (5.0, 5),
    'getListingsItem': (5.0, 10),
    'createFeedDocument': (0.5, 15),
    'createFeed': (0.0083, 15),
    'getFeed': (2.0, 15),
    'getFeedDocument': (0.0222, 10),
    'confirmShipment': (2.0, 10),
    'listFinancialEvents': (0.5, 30),
    }


def rate_text(rate: float) -> str:
    "x-amzn-RateLimit-Limit's value: 0.0056, 5, 2.5, 0.0000056 (no exponent)"
    return format(Decimal(f'{rate:.6g}').normalize(), 'f')


@dataclass
class Bucket:
    rate: float       # tokens a second, before rate_scale
    burst: int
    level: float
    stamp: float


class Limits:
    "The buckets of one shop"

    def __init__(self, rate_scale: float = 1.0,
            clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rate_scale = rate_scale
        now = clock()
        self.buckets = {operation: Bucket(rate, burst, float(burst), now)
            for operation, (rate, burst) in RATES.items()}

    def rate(self, operation: str) -> float:
        return self.buckets[operation].rate * self.rate_scale

    def header(self, operation: str) -> str:
        return rate_text(self.rate(operation))

    def _refill(self, bucket: Bucket) -> None:
        now = self.clock()
        bucket.level = min(float(bucket.burst), bucket.level
            + (now - bucket.stamp) * bucket.rate * self.rate_scale)
        bucket.stamp = now

    def take(self, operation: str) -> bool:
        "Whether a request of the operation may go through (and count it)"
        bucket = self.buckets.get(operation)
        if bucket is None:
            return True
        self._refill(bucket)
        if bucket.level < 1:
            return False
        bucket.level -= 1
        return True

    def set(self, rate_scale: float | None = None,
            levels: dict[str, float] | None = None) -> None:
        """Change the scale (buckets keep what they had gained so far)
        and/or set some buckets' levels (0 drains one; its burst fills it)"""
        unknown = sorted(set(levels or ()) - set(self.buckets))
        if unknown:
            raise ValueError(f"no such operations: {', '.join(unknown)}")
        if rate_scale is not None and (isinstance(rate_scale, bool)
                or not isinstance(rate_scale, int | float)
                or rate_scale <= 0):
            raise ValueError("rate_scale must be a number > 0")
        for bucket in self.buckets.values():
            self._refill(bucket)
        if rate_scale is not None:
            self.rate_scale = float(rate_scale)
        for operation, level in (levels or {}).items():
            bucket = self.buckets[operation]
            bucket.level = max(0.0, min(float(bucket.burst), float(level)))

    def status(self) -> dict[str, Any]:
        "Each operation's rate (scaled), burst and current level"
        for bucket in self.buckets.values():
            self._refill(bucket)
        return {'rate_scale': self.rate_scale, 'operations': {
                operation: {'rate': self.rate(operation),
                    'burst': bucket.burst, 'level': round(bucket.level, 3)}
                for operation, bucket in self.buckets.items()}}
