"""TOP's call limits for one app: ``calls_per_second`` (a token bucket as
deep as one second of calls, at least one; 0: no limit) and, once over
it, a ban of ``ban_s`` seconds during which every call is refused with
code 7 and the seconds left ("This ban will last for N more seconds").
On the monotonic clock, as Amazon's buckets: moving the sandbox's clock
does not lift a ban."""
from __future__ import annotations

import math
import time
from collections.abc import Callable


class CallLimit:

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rate = 0.0
        self.ban_s = 1
        self.level = 0.0
        self.stamp = clock()
        self.banned_until = 0.0

    def set(self, rate: float, ban_s: int) -> None:
        "A new limit: the bucket full, no ban"
        self.rate, self.ban_s = rate, ban_s
        self.level, self.stamp = self.burst, self.clock()
        self.banned_until = 0.0

    @property
    def burst(self) -> float:
        return max(1.0, self.rate)

    def take(self) -> int | None:
        """None when a call may go through (and count it), else the whole
        seconds its ban lasts (at least 1)"""
        if self.rate <= 0:
            return None
        now = self.clock()
        if now < self.banned_until:
            return max(1, math.ceil(self.banned_until - now))
        self.level = min(self.burst,
            self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= 1:
            self.level -= 1
            return None
        self.banned_until = now + self.ban_s
        return max(1, self.ban_s)
