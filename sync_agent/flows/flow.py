"""What every flow of one channel shares: its channel, mapper, adapter,
mapping and ERP, and how an item of either side that cannot be read is
named and reported."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

from pydantic import ValidationError

from oms_contract.models import MAX_DEPTH, depth, storable_payload

from ..channels.base import Adapter, Mapper
from ..config import ChannelConfig
from ..erp import ErpClient, ErpError
from ..mapping import Mapping
from .cursor import parse_cursor, start

logger = logging.getLogger(__name__)


class Flow:
    """One channel's flows share this: the channel's configuration, its
    mapper (how its payloads read) and adapter (its API), the mapping
    file, and the ERP"""

    def __init__(self, config: ChannelConfig, mapper: Mapper,
            adapter: Adapter, mapping: Mapping, erp: ErpClient):
        self.config, self.mapper = config, mapper
        self.adapter, self.mapping, self.erp = adapter, mapping, erp
        self.code = config.code
        # When the last complete orders pull of this process started
        # (monotonic; None: none yet): the stock push reads the channel
        # only right after one, when its sales are in the ERP.
        self.orders_pulled: float | None = None

    def __repr__(self) -> str:
        return f'<{type(self).__name__} {self.code}>'

    def since(self, stored: dt.datetime | None = None
            ) -> dt.datetime | None:
        """Where the next scan of orders starts: the ERP's cursor (or
        `stored`) less the overlap window (None: a backfill)"""
        if stored is None:
            stored = parse_cursor(self.erp.cursor(self.code))
        return start(stored, self.config.overlap)

    def _unreadable(self, what: str, raw: Any, error: ValidationError
            ) -> tuple[int | None, str]:
        """An item of the ERP's the agent cannot read: its id (None if it
        has none to fail it by) and why"""
        reason = (f"the agent cannot read the {what}: "
            + validation_reason(error))
        item_id = raw.get('id') if isinstance(raw, dict) else None
        logger.warning("%s: %s %s: %s", self.code, what, item_id, reason,
            extra={'channel': self.code})
        if isinstance(item_id, int) and not isinstance(item_id, bool):
            return item_id, reason
        return None, reason


def digest(raw: Any) -> str:
    """The id of a payload without one: its digest, so that a replay finds
    the same exception"""
    if depth(raw) > MAX_DEPTH:
        raw = storable_payload(raw)  # json.dumps would recurse too deep
    digest = hashlib.sha256(json.dumps(
            raw, sort_keys=True, default=str).encode()).hexdigest()
    return f'unidentified-{digest[:16]}'


def validation_reason(error: ValidationError) -> str:
    "Each problem pydantic found, with the field it is about"
    return '; '.join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
        for e in error.errors())


def no_route(error: ErpError) -> bool:
    """Whether the ERP has no such route at all (its web server's own 404
    or 405 page, not an error the module answered in JSON)"""
    return error.status in (404, 405) and error.code == 'http_error'

