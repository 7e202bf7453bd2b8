"""Where a scan of the channel starts and ends: the cursors the ERP keeps
(orders, returns) are read, moved and backed off by the overlap window
here, for every flow that scans."""
from __future__ import annotations

import datetime as dt
import logging

logger = logging.getLogger(__name__)


def start(stored: dt.datetime | None, overlap: float) -> dt.datetime | None:
    """Where the next scan starts: the cursor less the overlap window
    (None: from the first record, a backfill)"""
    if stored is None:
        return None
    return stored - dt.timedelta(seconds=overlap)


def later(one: dt.datetime | None, other: dt.datetime | None
        ) -> dt.datetime | None:
    "The later of two times, either maybe unknown"
    if one is None or other is None:
        return one or other
    return max(one, other)


def parse_cursor(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace('Z', '+00:00'))
    except ValueError:
        logger.warning("unreadable cursor %r: reading from the start", value)
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)

