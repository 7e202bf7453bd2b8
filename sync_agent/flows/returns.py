"""The returns flow: the ERP's refunds made on the channel, each at most
once, through the ERP's outbox (see outbox.py); then the channel's refunds
and returns changed since the ERP's returns cursor pulled into the ERP's
RMAs, one that cannot be read posted as rejected for the ERP to hold."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from oms_contract.models import (
    ChannelReturn,
    Refund,
    RefundFailure,
    RefundPushed,
    RejectedReturn,
)

from ..channels.base import RefundItem, RefundResult, RefundUpdate
from ..channels.payload import READ_ERRORS, Unreadable
from ..erp import ErpError
from .cursor import later, parse_cursor, start
from .flow import digest, no_route
from .orders import ERP_BATCH
from .outbox import Outbox, OutboxFlow

logger = logging.getLogger(__name__)

# Refunds a run: each is a read and a write on the channel.
REFUNDS_PER_RUN = 50

REFUNDS = Outbox(
    what='refund', item=Refund, result=RefundResult,
    pushed=lambda refund, result: RefundPushed(
        id=refund.id, external_id=result.external_id),
    failed=lambda id, error, result: RefundFailure(
        id=id, error=error, manual=bool(result and result.manual)),
    name=lambda refund: refund.number)


class ReturnFlow(OutboxFlow):

    def sync_returns(self) -> dict[str, Any]:
        """Make the ERP's refunds on the channel, then pull the channel's
        refunds and returns into the ERP. In this order on purpose: the
        pull then finds each refund just made already bound to its RMA
        (acknowledged with the channel's id), not a new one."""
        try:
            summary = self.push_refunds()
        except ErpError as error:
            if not no_route(error):
                raise
            # An ERP module older than after-sales: nothing to do until it
            # is upgraded, and no reason to fail every run meanwhile.
            logger.warning("%s: the ERP has no after-sales routes (%s): "
                "refunds and returns are not synced", self.code, error,
                extra={'channel': self.code})
            return {'erp_without_returns': 1}
        return {**summary, **self.pull_returns()}

    def push_refunds(self) -> dict[str, Any]:
        """Make the ERP's pending refunds on the channel and acknowledge
        each: pushed with the channel's refund id, or failed with the
        reason (manual where the channel cannot take refunds: staff refund
        by hand there). One refund's failure stops no other; a channel out
        of reach ends the run once what was done is acknowledged."""
        answer = self.erp.refunds(self.code, limit=REFUNDS_PER_RUN)
        drained, ack = self.drain(REFUNDS, answer['refunds'],
            self._push_refund, self.erp.ack_refunds)
        if ack is None:
            return {'refunds_pushed': 0, 'refunds_failed': 0,
                'refunds_pending': answer['pending']}
        summary = {'refunds_pushed': len(drained.pushed),
            'refunds_failed': len(drained.failed),
            'refunds_pending': ack['pending']}
        return {**summary, 'refunds_already': drained.already} \
            if drained.already else summary

    def _push_refund(self, refund: Refund) -> RefundResult:
        return self.adapter.push_refund(self._refund_update(refund))

    def _refund_update(self, refund: Refund) -> RefundUpdate:
        "The refund in the channel's words: SKUs mapped"
        return RefundUpdate(
            key=refund.key, number=refund.number,
            order_id=refund.order.external_id,
            order_number=refund.order.number,
            amount=refund.amount, currency=refund.currency,
            items=tuple(RefundItem(
                    sku=self.mapping.channel_sku(line.sku)
                    if line.sku else None,
                    quantity=line.quantity, external_id=line.external_id)
                for line in refund.lines),
            reason=refund.reason, notify_customer=refund.notify_customer,
            attempt=refund.attempts)

    def pull_returns(self) -> dict[str, Any]:
        """Post the channel's refunds and returns changed since the ERP's
        returns cursor (less the overlap window), SKUs mapped, with the new
        cursor. A refund or return that cannot be read is posted as
        rejected, for the ERP to keep flagged with its payload; it stops
        none of the others nor the cursor."""
        stored = parse_cursor(self.erp.returns_cursor(self.code))
        since = start(stored, self.config.overlap)
        newest = stored
        counts: dict[str, int] = {}
        waiting: dict[str, ChannelReturn | RejectedReturn] = {}
        read = skipped = 0
        for page in self.adapter.fetch_returns(since):
            for raw in page.records:
                returns, rejected, unread = self._read_returns(raw)
                skipped += unread
                for channel_return in returns:
                    shown = waiting.get(channel_return.external_id)
                    # A page repeated as rows shifted: the latest wins.
                    if not isinstance(shown, ChannelReturn) or (
                            shown.updated_at <= channel_return.updated_at):
                        waiting[channel_return.external_id] = channel_return
                    newest = later(newest, channel_return.updated_at)
                for item in rejected:
                    waiting.setdefault(item.external_id, item)
            read += len(page.records)
            newest = later(newest, page.newest)
            if len(waiting) >= (self.config.erp_batch or ERP_BATCH):
                self._post_returns(list(waiting.values()), newest
                    if self.adapter.sorted_by_update else None, counts)
                waiting = {}
        if waiting or newest != stored:
            self._post_returns(list(waiting.values()), newest, counts)
        summary = {'read': read, **counts,
            'cursor': newest.isoformat() if newest else None}
        return {**summary, 'skipped': skipped} if skipped else summary

    def _read_returns(self, raw: Any) -> tuple[
            list[ChannelReturn], list[RejectedReturn], int]:
        """A raw record's refunds and returns, normalized and mapped; those
        that could not be read, as the ERP keeps them; and how many records
        could not be read at all (each logged with its name)"""
        problems: list[Unreadable] = []
        try:
            returns = self.mapper.normalize_returns(
                raw, self.code, problems)
        except READ_ERRORS as error:
            # The record itself (an order node) is unreadable: nothing in
            # it says what its refunds are; a later change brings it back.
            name = (self.mapper.external_id(raw) if isinstance(raw, dict)
                else None) or 'without an id'
            logger.warning(
                "%s: record %s cannot be read, its refunds and returns "
                "skipped: %s", self.code, name, error,
                extra={'channel': self.code})
            return [], [], 1
        rejected = []
        for problem in problems:
            logger.warning(
                "%s: %s cannot be read, sent to the ERP to keep on hold: %s",
                self.code, problem.name, problem.why,
                extra={'channel': self.code})
            rejected.append(RejectedReturn.storable(problem.kind,
                    problem.external_id or digest(problem.raw),
                    problem.parent_id,
                    f"The channel's {problem.kind} cannot be read: "
                    f"{problem.why}", problem.raw))
        return ([self.mapping.apply_return(r) for r in returns], rejected,
            0)

    def _post_returns(self, items: list[ChannelReturn | RejectedReturn],
            cursor: dt.datetime | None, counts: dict[str, int]) -> None:
        if not items and cursor is None:
            return
        answer = self.erp.post_returns(
            self.code,
            [i for i in items if isinstance(i, ChannelReturn)],
            cursor.isoformat() if cursor else None,
            rejected=[i for i in items if isinstance(i, RejectedReturn)])
        for result in answer['results']:
            counts[result['result']] = counts.get(result['result'], 0) + 1
