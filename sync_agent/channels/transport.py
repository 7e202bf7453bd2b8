"""How every adapter talks HTTP to its marketplace: a rate limiter per
channel account, retries with tenacity (exponential backoff with jitter,
or exactly the wait the marketplace asked for), and errors that say what
went wrong. The adapters decide what a response means; this module only
knows HTTP.
"""
from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

logger = logging.getLogger(__name__)

T = TypeVar('T')


class ChannelError(Exception):
    "The marketplace refused a call, or could not be reached in time"


class AuthError(ChannelError):
    "The marketplace refused the credentials (401/403): retrying won't help"


class Retryable(ChannelError):
    """A failure worth trying again: throttled, a 5xx, a dropped
    connection, a garbled body. `wait` is the seconds the marketplace asked
    for (Retry-After, throttle maths), when it said."""

    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait


class GaveUp(ChannelError):
    "Retries ran out: the last failure is the cause"


class RateLimiter:
    """A token bucket: at most `rate` calls a second on average, `burst` at
    once. Shared by every adapter of one channel account (a marketplace
    counts calls per account, not per job)."""

    _shared: dict[str, RateLimiter] = {}
    _shared_lock = threading.Lock()

    def __init__(self, rate: float, burst: int = 1,
            clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep):
        self.rate, self.burst = rate, max(1, burst)
        self.tokens = float(self.burst)
        self.clock, self.sleep = clock, sleep
        self.updated = clock()
        self.lock = threading.Lock()

    @classmethod
    def for_account(cls, account: str, rate: float, burst: int = 1
            ) -> RateLimiter:
        with cls._shared_lock:
            limiter = cls._shared.get(account)
            if limiter is None:
                limiter = cls._shared[account] = cls(rate, burst)
            return limiter

    def ready_in(self) -> float:
        "Seconds until a call's token is there (0: now), taking none"
        if self.rate <= 0:
            return 0.0
        with self.lock:
            tokens = self._refilled(self.clock())
        return max(0.0, (1 - tokens) / self.rate)

    def _refilled(self, now: float) -> float:
        "The tokens there are at `now` (under the lock)"
        return min(self.burst, self.tokens + (now - self.updated) * self.rate)

    def adopt(self, rate: float) -> None:
        """The rate the marketplace says it allows now (a header): later
        calls are paced by it"""
        if rate > 0:
            with self.lock:
                self.rate = rate

    def drain(self) -> None:
        "The marketplace refused a call for its quota: no token is left"
        with self.lock:
            self.tokens, self.updated = 0.0, self.clock()

    def acquire(self) -> float:
        "Take one call's token, sleeping until there is one; returns waited"
        if self.rate <= 0:
            return 0.0
        with self.lock:
            now = self.clock()
            self.tokens = self._refilled(now)
            self.updated = now
            self.tokens -= 1
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait:
            self.sleep(wait)
        return wait


def retry_after(response: requests.Response) -> float | None:
    "Retry-After in seconds, given as seconds or as an HTTP date"
    value = response.headers.get('Retry-After')
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Transport:
    """One channel account's HTTP: `call` sends a request through the rate
    limiter and retries it until `read` accepts the response or the bound
    is reached (then GaveUp, logged as an error)."""

    def __init__(self, channel: str, limiter: RateLimiter,
            session: requests.Session | None = None,
            attempts: int = 8, max_wait: float = 60,
            give_up_after: float = 600, timeout: float = 30,
            sleep: Callable[[float], None] = time.sleep):
        self.channel = channel
        self.limiter = limiter
        self.session = session or requests.Session()
        self.attempts, self.max_wait = attempts, max_wait
        self.give_up_after, self.timeout = give_up_after, timeout
        self.sleep = sleep
        self.calls = 0

    def __repr__(self) -> str:
        return f'<Transport {self.channel}>'

    def call(self, method: str, url: str,
            read: Callable[[requests.Response], T],
            throttle_wait: Callable[[requests.Response], float | None]
            | None = None, attempts: int | None = None,
            **kwargs: Any) -> T:
        """Send the request until `read` accepts the response. On a 429
        without Retry-After, `throttle_wait` reads the wait from the body
        (Shopify's cost maths). `attempts` bounds the tries of one call: 1
        for a write the marketplace cannot make idempotent, whose caller
        reads what happened before sending it again."""
        retrying = Retrying(
            retry=retry_if_exception_type(Retryable),
            stop=(stop_after_attempt(attempts or self.attempts)
                | stop_after_delay(self.give_up_after)),
            wait=self._wait, sleep=self.sleep,
            before_sleep=self._log_retry, reraise=True)
        try:
            return retrying(
                self._send, method, url, read, throttle_wait, **kwargs)
        except Retryable as error:
            # A caller that bounded the attempts handles the failure.
            logger.log(logging.ERROR if attempts is None else logging.WARNING,
                "%s: gave up on %s %s after %d attempts: %s", self.channel,
                method, _path(url),
                retrying.statistics.get('attempt_number', self.attempts),
                error, extra={'channel': self.channel})
            raise GaveUp(
                f"{self.channel}: gave up on {method} {_path(url)}: "
                f"{error}") from error

    def _send(self, method: str, url: str,
            read: Callable[[requests.Response], T],
            throttle_wait: Callable[[requests.Response], float | None]
            | None, **kwargs: Any) -> T:
        self.limiter.acquire()
        self.calls += 1
        kwargs.setdefault('timeout', self.timeout)
        try:
            response = self.session.request(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise Retryable(f"{type(error).__name__}: {error}") from error
        status = response.status_code
        if status == 429 or status >= 500:
            wait = retry_after(response)
            if wait is None and status == 429 and throttle_wait:
                wait = throttle_wait(response)
            raise Retryable(
                f"HTTP {status}: {response.text[:200]}", wait=wait)
        if status in {401, 403}:
            raise AuthError(
                f"{self.channel}: HTTP {status}, the marketplace refused "
                f"the credentials: {response.text[:200]}")
        return read(response)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = getattr(error, 'wait', None)
        if asked is not None:
            # The marketplace said how long; a little more is harmless.
            # Longer than the whole bound: the stop condition gives up.
            return min(self.give_up_after, asked + 0.05)
        return wait_random_exponential(multiplier=0.25, max=self.max_wait)(
            state)

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s: attempt %d failed (%s), retrying in %.2fs", self.channel,
            state.attempt_number, error,
            state.next_action.sleep if state.next_action else 0,
            extra={'channel': self.channel})


def json_body(response: requests.Response) -> Any:
    """The response's JSON; a garbled success (proxies, truncated answers)
    is worth another try, an error page (wrong URL) is not."""
    try:
        return response.json()
    except ValueError:
        if not response.ok:
            raise ChannelError(
                f"HTTP {response.status_code}: {response.text[:100]!r}"
                ) from None
        raise Retryable(
            f"HTTP {response.status_code} with a body that is not JSON: "
            f"{response.text[:100]!r}") from None


def _path(url: str) -> str:
    # Query strings may carry credentials (WooCommerce): never log them.
    return url.split('?', 1)[0]
