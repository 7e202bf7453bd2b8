"""Amazon's rate limits (marketplace-apis.md §3.1): a token bucket per
operation at the published rate and burst, paced by the rate each answer
states (``x-amzn-RateLimit-Limit``). A 429 QuotaExceeded empties the
bucket and waits one token's time (no Retry-After is documented). The
order searches allow a call in minutes once their burst is spent: a scan
pauses (``ScanPaused``) rather than wait that long."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import requests

from ..base import ScanPaused
from ..transport import RateLimiter

# Amazon's usage plans: (calls a second, burst), per operation
OPERATIONS: dict[str, tuple[float, int]] = {
    'searchOrders': (0.0056, 20),
    'getOrder': (0.5, 30),
    'getOrders': (0.0167, 20),
    'getOrderItems': (0.5, 30),
    'createRestrictedDataToken': (1, 10),
    'patchListingsItem': (5, 5),
    'getListingsItem': (5, 10),
    'createFeedDocument': (0.5, 15),
    'createFeed': (0.0083, 15),
    'getFeed': (2, 15),
    'getFeedDocument': (0.0222, 10),
    'confirmShipment': (2, 10),
    'listFinancialEvents': (0.5, 30),
    }
# The order searches: too scarce to wait for inline
SEARCHES = frozenset({'searchOrders', 'getOrders'})
# An orders scan waits no longer than this for its next call: beyond, it
# pauses and the orders thread serves the other channels.
LONGEST_INLINE_WAIT = 10.0


def buckets() -> dict[str, RateLimiter]:
    "A full bucket per operation, as a new seller application has"
    return {operation: RateLimiter(rate, burst)
        for operation, (rate, burst) in OPERATIONS.items()}


def take(operation: str, bucket: RateLimiter) -> None:
    """Take the operation's token, waiting for it; an order search that
    would wait long pauses its scan instead"""
    if operation in SEARCHES:
        wait = bucket.ready_in()
        if wait > LONGEST_INLINE_WAIT:
            raise ScanPaused(_after(wait))
    bucket.acquire()


def adopt_rate(bucket: RateLimiter, response: requests.Response) -> None:
    "Pace the operation at the rate Amazon says it allows now"
    try:
        rate = float(response.headers.get('x-amzn-RateLimit-Limit', ''))
    except ValueError:
        return
    bucket.adopt(rate)


def throttle_wait(operation: str, bucket: RateLimiter
        ) -> Callable[[requests.Response], float]:
    """How long a 429 QuotaExceeded waits: no token is left, so one
    token's time at the rate Amazon states. An order search pauses
    instead of waiting minutes."""
    def wait(response: requests.Response) -> float:
        adopt_rate(bucket, response)
        bucket.drain()
        seconds = 1 / bucket.rate
        if operation in SEARCHES and seconds > LONGEST_INLINE_WAIT:
            raise ScanPaused(_after(seconds))
        return seconds
    return wait


def _after(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
