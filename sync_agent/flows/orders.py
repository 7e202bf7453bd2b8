"""The orders flow: the channel's orders changed since the ERP's cursor
(less the overlap window) read, mapped and posted to the ERP with the new
cursor; an order that cannot be read is posted as rejected, for the ERP
to hold with its reason and payload, stopping none of the others."""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from oms_contract.models import Order, RejectedOrder, storable_payload

from ..channels.base import ScanPaused
from ..channels.payload import READ_ERRORS
from .cursor import later, parse_cursor, start
from .flow import Flow, digest, validation_reason

logger = logging.getLogger(__name__)


ERP_BATCH = 250  # orders an ERP call, when the channel pages are small
# Orders the ERP answered for, remembered by (id, modification time): the
# overlap of every scan reads them again, and they are not posted again.
# A peak hour's worth: older ones are simply posted again.
ANSWERED_KEPT = 50_000


@dataclasses.dataclass
class Translation:
    "What one raw channel order becomes for the ERP"
    order: Order | None = None
    rejected: RejectedOrder | None = None

    @property
    def key(self) -> tuple[str, str]:
        if self.order is not None:
            return self.order.external_id, self.order.updated_at.isoformat()
        return self.rejected.external_id, 'rejected'


class OrderFlow(Flow):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Told how far a scan is: (orders read, orders in all) per page.
        self.progress: Callable[[int, int | None], None] | None = None
        self.answered: OrderedDict[tuple[str, str], None] = OrderedDict()

    def translate(self, raw: dict[str, Any]) -> Translation:
        """The canonical, mapped order of a raw payload; or, when it cannot
        be read, the rejection the ERP holds as an exception."""
        try:
            order = self.mapper.normalize_order(raw, self.code)
            order = self.mapping.apply(
                order, self.mapper.channel_status(raw))
        except READ_ERRORS as error:
            return Translation(rejected=self._rejection(raw, error))
        return Translation(order=order)

    def _rejection(self, raw: Any, error: Exception) -> RejectedOrder:
        if isinstance(error, ValidationError):
            reason = validation_reason(error)
        elif isinstance(error, KeyError):
            reason = f"{error.args[0]} is missing"
        else:
            reason = str(error)
        raw = storable_payload(raw)
        try:
            external_id = self.mapper.external_id(raw)
        except READ_ERRORS:
            external_id = None
        if not external_id:
            external_id = digest(raw)
        number = raw.get('name') or raw.get('number')
        logger.warning(
            "%s: order %s cannot be read, sent to the exception queue: %s",
            self.code, external_id, reason,
            extra={'channel': self.code, 'order': external_id})
        # Whatever the payload holds (NUL, depth), the ERP must be able to
        # keep it: one unreadable order never refuses its batch.
        return RejectedOrder.storable(external_id, number,
            f"The channel's order cannot be read: {reason}", raw)

    def pull_orders(self) -> dict[str, Any]:
        """Import the orders changed since the ERP's cursor (less the
        overlap window), posting them with the new cursor. Returns the
        counts of each result."""
        started = time.monotonic()
        stored = parse_cursor(self.erp.cursor(self.code))
        since = start(stored, self.config.overlap)
        progress = self.progress
        newest = stored
        covered: dt.datetime | None = None
        counts: dict[str, int] = {}
        seen: set[tuple[str, str]] = set()
        waiting: list[Translation] = []
        read = 0
        try:
            for page in self.adapter.fetch_orders(since):
                for raw in page.orders:
                    translation = self.translate(raw)
                    if translation.key in seen:
                        continue  # a page repeated as rows shifted
                    seen.add(translation.key)
                    if translation.order is not None and (
                            newest is None
                            or translation.order.updated_at > newest):
                        newest = translation.order.updated_at
                    if translation.key not in self.answered:
                        waiting.append(translation)
                    # else as the ERP has it: read again in the overlap
                read += len(page.orders)
                # A window read to its end: the cursor may reach it, once
                # the scan is complete, even with no order changed there
                covered = later(covered, page.until)
                if progress:
                    progress(read, page.total)
                if len(waiting) >= (self.config.erp_batch or ERP_BATCH):
                    # Sorted by update time, everything up to `newest` is
                    # in hand and the cursor may move; else only at the
                    # end.
                    self._post(waiting, newest
                        if self.adapter.sorted_by_update else None, counts)
                    waiting = []
        except ScanPaused as pause:
            # The channel's rate limit: what was read goes in, and the
            # cursor waits for the end of the scan, which resumes there.
            self._post(waiting, newest
                if self.adapter.sorted_by_update else None, counts)
            logger.info("%s: orders scan paused by the channel's rate "
                "limit until %s", self.code, pause.next_call.isoformat(),
                extra={'channel': self.code})
            return {'read': read, **counts, 'paused': True,
                'next_call': _second(pause.next_call)}
        newest = later(newest, covered)
        if waiting or newest != stored:
            self._post(waiting, newest, counts)
        self.orders_pulled = started
        summary = {'read': read, **counts,
            'cursor': newest.isoformat() if newest else None}
        next_call = self.adapter.next_orders_call()
        if next_call is not None:
            summary['next_call'] = _second(next_call)
        return summary

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
        keys = {t.key[0]: t.key for t in translations}
        for result in answer['results']:
            counts[result['result']] = counts.get(result['result'], 0) + 1
            key = keys.get(result.get('external_id'))
            if key is not None:
                self.answered[key] = None
        while len(self.answered) > ANSWERED_KEPT:
            self.answered.popitem(last=False)


def _second(value: dt.datetime) -> str:
    "A time as the job's summary shows it: UTC, to the second"
    return value.astimezone(dt.UTC).isoformat(timespec='seconds')
