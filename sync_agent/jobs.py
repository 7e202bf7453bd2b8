"""The agent's jobs for one channel: pull orders into the ERP, push the
ERP's stock levels to the channel and reconcile them with what the channel
shows, mark the ERP's shipments shipped on the channel, make the ERP's
refunds on the channel and pull the channel's refunds and returns into the
ERP's RMAs. Each job is one call the scheduler (or
`oms-sync once`) makes; it reads what it needs from the ERP, talks to the
channel through its adapter, and writes back to the ERP only what the
channel accepted."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, TypeVar

from pydantic import ValidationError

from .channels.base import (
    Adapter,
    FulfilmentItem,
    FulfilmentResult,
    FulfilmentUpdate,
    RefundItem,
    RefundResult,
    RefundUpdate,
    StockKey,
    StockResult,
    StockUpdate,
)
from .channels.payload import READ_ERRORS, PayloadError, Unreadable
from .channels.transport import AuthError, ChannelError, GaveUp
from .config import ChannelConfig
from .erp import ErpClient, ErpError
from .mapping import Mapping, MappingError
from .models import (
    ChannelReturn,
    Fulfilment,
    FulfilmentFailure,
    FulfilmentPushed,
    Order,
    Refund,
    RefundFailure,
    RefundPushed,
    RejectedReturn,
    StockDrift,
    StockFailure,
    StockPushed,
)

logger = logging.getLogger(__name__)

ERP_BATCH = 250  # orders an ERP call, when the channel pages are small
# Fulfilments a run: each costs the channel a few calls, and the run holds
# the stock thread meanwhile; a backlog drains over the next runs.
FULFILMENTS_PER_RUN = 50
# Refunds a run: each is a read and a write on the channel.
REFUNDS_PER_RUN = 50

R = TypeVar('R')


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
        # Levels the channel refused as stale, since when (monotonic)
        self.stale_since: dict[StockKey, float] = {}
        # Long enough for the channel's orders to have been pulled twice
        self.stale_grace = max(30.0, 2.0 * config.intervals.orders)

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
            reason = _validation_reason(error)
        elif isinstance(error, KeyError):
            reason = f"{error.args[0]} is missing"
        else:
            reason = str(error)
        external_id = None
        if isinstance(raw, dict):
            external_id = self.module.external_id(raw)
        if not external_id:
            external_id = _digest(raw)
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

    def push_stock(self) -> dict[str, Any]:
        """Push the levels the ERP says changed and acknowledge to the ERP
        only what the channel accepted. Nothing to push: no call to the
        channel.

        A level the channel refuses as stale (it shows another quantity
        than the ERP expected) is left alone: most likely a sale the ERP
        has not imported yet. Still stale after `stale_grace` seconds, the
        import did not explain it (an order the ERP could not read, a hand
        edit): the level is read and repaired as a reconciliation would."""
        answer = self.erp.stock_levels(self.code)
        if not answer['levels']:
            self.stale_since.clear()
            return {'pushed': 0, 'failed': 0, 'pending': answer['pending']}
        levels, failed = self._channel_levels(answer['levels'])
        results = self.adapter.push_stock(
            [level.update for level in levels.values()])
        now = time.monotonic()
        stale = {r.key for r in results if r.stale}
        self.stale_since = {key: self.stale_since.get(key, now)
            for key in stale}
        overdue = {key: levels[key] for key in stale
            if now - self.stale_since[key] >= self.stale_grace}
        drift: list[StockDrift] = []
        if overdue:
            repaired, drift, _ = self._repair(overdue)
            results = [r for r in results if r.key not in overdue] + repaired
            for key in overdue:
                del self.stale_since[key]
        summary = self._acknowledge(levels, results, failed, drift)
        return {**summary, 'drift': len(drift)} if drift else summary

    def reconcile(self) -> dict[str, Any]:
        """Read what the channel really shows for every level: report as
        drift those it shows otherwise than the ERP expected, push those
        that differ from the ERP's quantity (compare-and-set from the
        quantity read) and acknowledge. A channel in step is only read."""
        answer = self.erp.stock_levels(self.code, all=True)
        if not answer['levels']:
            return {'pushed': 0, 'failed': 0, 'drift': 0,
                'pending': answer['pending']}
        levels, failed = self._channel_levels(answer['levels'])
        results, drift, in_step = self._repair(levels)
        summary = self._acknowledge(levels, results, failed, drift)
        return {**summary, 'pushed': summary['pushed'] - in_step,
            'in_step': in_step, 'drift': len(drift)}

    def _repair(self, levels: dict[StockKey, ChannelLevel]
            ) -> tuple[list[StockResult], list[StockDrift], int]:
        """Read what the channel shows for the levels; note as drift those
        it shows otherwise than the ERP expected; push those that differ
        from the ERP's quantity, compare-and-set from what was read.
        Returns the results (those in step as accepted), the drift and
        how many were in step."""
        shown = self.adapter.read_stock(
            [level.update for level in levels.values()])
        drift: list[StockDrift] = []
        in_step: list[StockResult] = []
        to_push: list[StockUpdate] = []
        for key, level in levels.items():
            if key not in shown:
                # Unknown to the channel: the push reports why.
                to_push.append(level.update)
                continue
            found = shown[key]
            expected = level.erp_level.get('previous')
            if expected is not None and found != expected:
                drift.append(StockDrift(sku=level.sku,
                        warehouse=level.warehouse, expected=expected,
                        found=found))
                logger.warning(
                    "%s: stock of %s drifted: the channel shows %s where "
                    "the ERP expected %s", self.code, level.name, found,
                    expected, extra={'channel': self.code})
            if found == level.update.quantity:
                in_step.append(StockResult(dataclasses.replace(
                            level.update, previous=found)))
            else:
                to_push.append(dataclasses.replace(
                        level.update, previous=found))
        results = self.adapter.push_stock(to_push) if to_push else []
        return results + in_step, drift, len(in_step)

    def _channel_levels(self, erp_levels: list[dict[str, Any]]
            ) -> tuple[dict[StockKey, ChannelLevel], list[StockFailure]]:
        """The ERP's levels by the channel level each sets, with its
        update; those that cannot reach the channel fail with the reason
        (only they: the others go on)."""
        levels: dict[StockKey, ChannelLevel] = {}
        failed: list[StockFailure] = []
        for erp_level in erp_levels:
            location, error = self._location(erp_level.get('warehouse'))
            level = ChannelLevel(erp_level, StockUpdate(
                    sku=self.mapping.channel_sku(erp_level['sku']),
                    quantity=erp_level['quantity'],
                    previous=erp_level.get('previous'), location=location,
                    external_id=erp_level.get('external_id'),
                    external_variant_id=erp_level.get(
                        'external_variant_id')))
            other = levels.get(level.update.key)
            if error is None and other is not None:
                error = (f"the channel's {level.update.sku}"
                    + (f" at {location}" if location else '')
                    + f" is already set from {other.name}")
            if error:
                failed.append(level.failure(error))
            else:
                levels[level.update.key] = level
        return levels, failed

    def _location(self, warehouse: str | None
            ) -> tuple[str | None, str | None]:
        """The channel location of an ERP warehouse, or why there is none.
        Without `warehouses:` in the mapping, the adapter picks the shop's
        only location."""
        if not self.adapter.stock_by_location or warehouse is None:
            return None, None
        location = self.mapping.location(warehouse)
        if location is None and self.mapping.warehouses:
            return None, (
                f"warehouse {warehouse!r} has no channel location in "
                f"{self.mapping.source or 'the mapping file'} (warehouses:)")
        return location, None

    def _acknowledge(self, levels: dict[StockKey, ChannelLevel],
            results: list[StockResult], failed: list[StockFailure],
            drift: Sequence[StockDrift] = ()) -> dict[str, Any]:
        "Tell the ERP what the channel accepted and refused (and drift)"
        pushed: list[StockPushed] = []
        failed = list(failed)
        for result in results:
            level = levels[result.key]
            if result.ok:
                pushed.append(level.pushed(result.update))
            else:
                failed.append(level.failure(result.error))
        for failure in failed:
            logger.warning(
                "%s: stock of %s refused: %s", self.code,
                _level_name(failure.sku, failure.warehouse), failure.error,
                extra={'channel': self.code})
        ack = self.erp.ack_stock(self.code, pushed, failed, list(drift))
        return {'pushed': len(pushed), 'failed': len(failed),
            'pending': ack['pending']}


    # -- Fulfilments ----------------------------------------------------

    def push_fulfilments(self) -> dict[str, Any]:
        """Mark the ERP's pending shipments shipped on the channel and
        acknowledge each: pushed with the channel's id, or failed with the
        reason (the ERP lists a failed one again after a back-off). One
        fulfilment's failure (an unmapped carrier, the channel's refusal)
        stops no other. A channel out of reach (retries exhausted,
        credentials refused) ends the run: what was done is acknowledged,
        the rest waits for the next run, and the job fails."""
        answer = self.erp.fulfilments(self.code, limit=FULFILMENTS_PER_RUN)
        pushed: list[FulfilmentPushed] = []
        failed: list[FulfilmentFailure] = []
        already = 0
        out_of_reach: ChannelError | None = None
        for raw in answer['fulfilments']:
            try:
                fulfilment = Fulfilment.model_validate(raw)
            except ValidationError as error:
                fulfilment_id, reason = self._unreadable(
                    'fulfilment', raw, error)
                if fulfilment_id is not None:
                    failed.append(FulfilmentFailure(
                            id=fulfilment_id, error=reason))
                continue
            result, out_of_reach = self._to_channel(
                f'fulfilment {fulfilment.id}',
                lambda error: FulfilmentResult(error=error),
                self._push_fulfilment, fulfilment)
            if result.ok:
                pushed.append(FulfilmentPushed(
                        id=fulfilment.id, external_id=result.external_id))
                already += result.already
            else:
                failed.append(FulfilmentFailure(
                        id=fulfilment.id, error=result.error))
                logger.warning(
                    "%s: fulfilment %s of order %s refused: %s", self.code,
                    fulfilment.id, fulfilment.order.number
                    or fulfilment.order.external_id, result.error,
                    extra={'channel': self.code})
            if out_of_reach is not None:
                break
        if not pushed and not failed:
            return {'pushed': 0, 'failed': 0, 'pending': answer['pending']}
        ack = self.erp.ack_fulfilments(self.code, pushed, failed)
        if out_of_reach is not None:
            raise out_of_reach
        summary = {'pushed': len(pushed), 'failed': len(failed),
            'pending': ack['pending']}
        return {**summary, 'already': already} if already else summary

    def _to_channel(self, what: str, failure: Callable[[str], R],
            write: Callable[..., R], *args: Any
            ) -> tuple[R, ChannelError | None]:
        """One write to the channel, whatever goes wrong made a failed
        result (one item's failure stops no other). A channel out of reach
        (retries exhausted, credentials refused) is returned as well: the
        run acknowledges what was done, then ends."""
        try:
            return write(*args), None
        except (GaveUp, AuthError) as error:
            return failure(str(error)), error
        except (MappingError, ChannelError) as error:
            return failure(str(error)), None
        except Exception as error:  # noqa: BLE001 - the others go on
            logger.exception("%s: %s: unexpected error", self.code, what,
                extra={'channel': self.code})
            return failure(f"unexpected error in the agent: {error!r}"), None

    def _push_fulfilment(self, fulfilment: Fulfilment) -> FulfilmentResult:
        return self.adapter.push_fulfilment(
            self._fulfilment_update(fulfilment))

    def _fulfilment_update(self, fulfilment: Fulfilment) -> FulfilmentUpdate:
        """The shipment in the channel's words: SKUs and carrier mapped
        (MappingError naming the file for a carrier it does not map)"""
        carrier = (self.mapping.carrier(fulfilment.carrier)
            if fulfilment.carrier else fulfilment.carrier_name)
        return FulfilmentUpdate(
            key=fulfilment.key,
            order_id=fulfilment.order.external_id,
            order_number=fulfilment.order.number,
            items=tuple(FulfilmentItem(
                    sku=self.mapping.channel_sku(line.sku)
                    if line.sku else None,
                    quantity=line.quantity, external_id=line.external_id)
                for line in fulfilment.lines),
            complete=fulfilment.complete,
            notify_customer=fulfilment.notify_customer,
            carrier=carrier,
            tracking_number=fulfilment.tracking_number,
            tracking_url=fulfilment.tracking_url)

    def _unreadable(self, what: str, raw: Any, error: ValidationError
            ) -> tuple[int | None, str]:
        """An item of the ERP's the agent cannot read: its id (None if it
        has none to fail it by) and why"""
        reason = (f"the agent cannot read the {what}: "
            + _validation_reason(error))
        item_id = raw.get('id') if isinstance(raw, dict) else None
        logger.warning("%s: %s %s: %s", self.code, what, item_id, reason,
            extra={'channel': self.code})
        if isinstance(item_id, int) and not isinstance(item_id, bool):
            return item_id, reason
        return None, reason

    # -- Refunds and returns --------------------------------------------

    def sync_returns(self) -> dict[str, Any]:
        """Make the ERP's refunds on the channel, then pull the channel's
        refunds and returns into the ERP. In this order on purpose: the
        pull then finds each refund just made already bound to its RMA
        (acknowledged with the channel's id), not a new one."""
        try:
            summary = self.push_refunds()
        except ErpError as error:
            if not _no_route(error):
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
        pushed: list[RefundPushed] = []
        failed: list[RefundFailure] = []
        already = 0
        out_of_reach: ChannelError | None = None
        for raw in answer['refunds']:
            try:
                refund = Refund.model_validate(raw)
            except ValidationError as error:
                refund_id, reason = self._unreadable('refund', raw, error)
                if refund_id is not None:
                    failed.append(RefundFailure(id=refund_id, error=reason))
                continue
            result, out_of_reach = self._to_channel(
                f'refund {refund.number}',
                lambda error: RefundResult(error=error),
                self._push_refund, refund)
            if result.ok:
                pushed.append(RefundPushed(
                        id=refund.id, external_id=result.external_id))
                already += result.already
            else:
                failed.append(RefundFailure(id=refund.id,
                        error=result.error, manual=result.manual))
                logger.warning(
                    "%s: refund %s of order %s refused: %s", self.code,
                    refund.number, refund.order.number
                    or refund.order.external_id, result.error,
                    extra={'channel': self.code})
            if out_of_reach is not None:
                break
        if not pushed and not failed:
            return {'refunds_pushed': 0, 'refunds_failed': 0,
                'refunds_pending': answer['pending']}
        ack = self.erp.ack_refunds(self.code, pushed, failed)
        if out_of_reach is not None:
            raise out_of_reach
        summary = {'refunds_pushed': len(pushed),
            'refunds_failed': len(failed), 'refunds_pending': ack['pending']}
        return {**summary, 'refunds_already': already} if already \
            else summary

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
        stored = _parse_cursor(self.erp.returns_cursor(self.code))
        since = self.since(stored) if stored else None
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
                    newest = _later(newest, channel_return.updated_at)
                for item in rejected:
                    waiting.setdefault(item.external_id, item)
            read += len(page.records)
            newest = _later(newest, page.newest)
            if len(waiting) >= ERP_BATCH:
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
            returns = self.module.normalize_returns(
                raw, self.code, problems)
        except READ_ERRORS as error:
            # The record itself (an order node) is unreadable: nothing in
            # it says what its refunds are; a later change brings it back.
            name = (self.module.external_id(raw) if isinstance(raw, dict)
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
            rejected.append(RejectedReturn(
                    kind=problem.kind,
                    external_id=problem.external_id or _digest(problem.raw),
                    order_external_id=problem.parent_id,
                    reason=f"The channel's {problem.kind} cannot be read: "
                    f"{problem.why}",
                    raw=problem.raw))
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


@dataclasses.dataclass(frozen=True)
class ChannelLevel:
    "An ERP stock level and the channel update that sets it"
    erp_level: dict[str, Any]
    update: StockUpdate

    @property
    def sku(self) -> str:
        return self.erp_level['sku']

    @property
    def warehouse(self) -> str | None:
        return self.erp_level.get('warehouse')

    @property
    def name(self) -> str:
        return _level_name(self.sku, self.warehouse)

    def pushed(self, sent: StockUpdate) -> StockPushed:
        "The acknowledgement of the update sent (its compare-and-set base)"
        return StockPushed(sku=self.sku, warehouse=self.warehouse,
            quantity=sent.quantity, previous=sent.previous,
            version=self.erp_level.get('version'))

    def failure(self, error: str) -> StockFailure:
        return StockFailure(sku=self.sku, warehouse=self.warehouse,
            error=error)


def _level_name(sku: str, warehouse: str | None) -> str:
    "SKU@WAREHOUSE, as logs and messages name an ERP level"
    return f'{sku}@{warehouse}' if warehouse else sku


def _digest(raw: Any) -> str:
    """The id of a payload without one: its digest, so that a replay finds
    the same exception"""
    digest = hashlib.sha256(json.dumps(
            raw, sort_keys=True, default=str).encode()).hexdigest()
    return f'unidentified-{digest[:16]}'


def _validation_reason(error: ValidationError) -> str:
    "Each problem pydantic found, with the field it is about"
    return '; '.join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
        for e in error.errors())


def _no_route(error: ErpError) -> bool:
    """Whether the ERP has no such route at all (its web server's own 404
    or 405 page, not an error the module answered in JSON)"""
    return error.status in (404, 405) and error.code == 'http_error'


def _later(one: dt.datetime | None, other: dt.datetime | None
        ) -> dt.datetime | None:
    "The later of two times, either maybe unknown"
    if one is None or other is None:
        return one or other
    return max(one, other)


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
