"""The agent's jobs for one channel: pull orders into the ERP and push the
ERP's stock levels to the channel. Each job is one call the scheduler (or
`oms-sync once`) makes; it reads what it needs from the ERP, talks to the
channel through its adapter, and writes back to the ERP only what the
channel accepted."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from .channels.base import Adapter, StockUpdate
from .channels.payload import PayloadError
from .config import ChannelConfig
from .erp import ErpClient
from .mapping import Mapping
from .models import Order

logger = logging.getLogger(__name__)

ERP_BATCH = 250  # orders an ERP call, when the channel pages are small


@dataclasses.dataclass
class Translation:
    "What one raw channel order becomes for the ERP"
    order: Order | None = None
    rejected: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[str, str]:
        if self.order is not None:
            return self.order.external_id, self.order.updated_at.isoformat()
        return self.rejected['external_id'], 'rejected'


class ChannelSync:
    def __init__(self, config: ChannelConfig, module: ModuleType,
            adapter: Adapter, mapping: Mapping, erp: ErpClient):
        self.config, self.module = config, module
        self.adapter, self.mapping, self.erp = adapter, mapping, erp
        self.code = config.code
        # Told how far a scan is: (orders read, orders in all) per page.
        self.progress: Callable[[int, int | None], None] | None = None

    def __repr__(self) -> str:
        return f'<ChannelSync {self.code}>'

    # -- Orders ---------------------------------------------------------

    def translate(self, raw: dict[str, Any]) -> Translation:
        """The canonical, mapped order of a raw payload; or, when it cannot
        be read, the rejection the ERP holds as an exception."""
        try:
            order = self.module.normalize_order(raw, self.code)
            order = self.mapping.apply(
                order, self.module.channel_status(raw))
        except (PayloadError, ValidationError, KeyError, TypeError,
                ValueError, AttributeError) as error:
            return Translation(rejected=self._rejection(raw, error))
        return Translation(order=order)

    def _rejection(self, raw: Any, error: Exception) -> dict[str, Any]:
        if isinstance(error, ValidationError):
            reason = '; '.join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in error.errors())
        elif isinstance(error, KeyError):
            reason = f"{error.args[0]} is missing"
        else:
            reason = str(error)
        external_id = None
        if isinstance(raw, dict):
            external_id = self.module.external_id(raw)
        if not external_id:
            # No id to bind it by: the payload's digest, so that a replay
            # finds the same exception.
            digest = hashlib.sha256(json.dumps(
                    raw, sort_keys=True, default=str).encode()).hexdigest()
            external_id = f'unidentified-{digest[:16]}'
        number = raw.get('name') or raw.get('number') if isinstance(
            raw, dict) else None
        logger.warning(
            "%s: order %s cannot be read, sent to the exception queue: %s",
            self.code, external_id, reason,
            extra={'channel': self.code, 'order': external_id})
        return {
            'external_id': external_id,
            'number': str(number) if number else None,
            'reason': f"The channel's order cannot be read: {reason}",
            'raw': raw if isinstance(raw, dict) else {'payload': raw},
            }

    def since(self, stored: dt.datetime | None = None
            ) -> dt.datetime | None:
        """Where the next scan starts: the ERP's cursor less the overlap
        window (None: from the first order, a backfill)"""
        if stored is None:
            stored = _parse_cursor(self.erp.cursor(self.code))
        if stored is None:
            return None
        return stored - dt.timedelta(seconds=self.config.overlap)

    def pull_orders(self) -> dict[str, Any]:
        """Import the orders changed since the ERP's cursor (less the
        overlap window), posting them with the new cursor. Returns the
        counts of each result."""
        stored = _parse_cursor(self.erp.cursor(self.code))
        since = self.since(stored) if stored else None
        progress = self.progress
        newest = stored
        counts: dict[str, int] = {}
        seen: set[tuple[str, str]] = set()
        waiting: list[Translation] = []
        read = 0
        for page in self.adapter.fetch_orders(since):
            for raw in page.orders:
                translation = self.translate(raw)
                if translation.key in seen:
                    continue  # a page repeated as rows shifted
                seen.add(translation.key)
                waiting.append(translation)
                if translation.order is not None and (
                        newest is None
                        or translation.order.updated_at > newest):
                    newest = translation.order.updated_at
            read += len(page.orders)
            if progress:
                progress(read, page.total)
            if len(waiting) >= ERP_BATCH:
                # Sorted by update time, everything up to `newest` is in
                # hand and the cursor may move; else only at the end.
                self._post(waiting, newest
                    if self.adapter.sorted_by_update else None, counts)
                waiting = []
        if waiting or newest != stored:
            self._post(waiting, newest, counts)
        return {'read': read, **counts,
            'cursor': newest.isoformat() if newest else None}

    def _post(self, translations: list[Translation],
            cursor: dt.datetime | None, counts: dict[str, int]) -> None:
        if not translations and cursor is None:
            return
        answer = self.erp.post_orders(
            self.code,
            [t.order for t in translations if t.order is not None],
            cursor.isoformat() if cursor else None,
            rejected=[t.rejected for t in translations
                if t.rejected is not None])
        for result in answer['results']:
            counts[result['result']] = counts.get(result['result'], 0) + 1

    # -- Stock ----------------------------------------------------------

    def push_stock(self, full: bool = False) -> dict[str, Any]:
        """Push the levels the ERP says changed (every level when `full`)
        and acknowledge to the ERP only what the channel accepted. Nothing
        to push: no call to the channel."""
        answer = self.erp.stock_levels(self.code, all=full)
        levels = answer['levels']
        if not levels:
            return {'pushed': 0, 'failed': 0, 'pending': answer['pending']}
        updates, erp_skus = [], {}
        for level in levels:
            sku = self.mapping.channel_sku(level['sku'])
            erp_skus[sku] = level['sku']
            updates.append(StockUpdate(
                    sku=sku, quantity=level['quantity'],
                    previous=level.get('previous'),
                    location=self.mapping.location(level.get('warehouse')),
                    external_id=level.get('external_id'),
                    external_variant_id=level.get('external_variant_id')))
        results = self.adapter.push_stock(updates)
        pushed = [{'sku': erp_skus[r.sku], 'quantity': r.quantity}
            for r in results if r.ok]
        failed = [{'sku': erp_skus[r.sku], 'error': r.error}
            for r in results if not r.ok]
        for failure in failed:
            logger.warning(
                "%s: stock of %s refused: %s", self.code, failure['sku'],
                failure['error'], extra={'channel': self.code})
        ack = self.erp.ack_stock(self.code, pushed, failed)
        return {'pushed': len(pushed), 'failed': len(failed),
            'pending': ack['pending']}


def _parse_cursor(value: str | None) -> dt.datetime | None:
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
