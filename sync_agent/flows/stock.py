"""The stock flow: the levels the ERP says changed pushed to the channel
(compare-and-set where it has it), acknowledged to the ERP as accepted or
refused, and the reconciliation that reads what the channel shows."""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from oms_contract.models import (
    TEXT_LENGTH,
    StockDrift,
    StockFailure,
    StockPushed,
    StockRefusal,
    shown_quantity,
    storable,
)

from ..channels.base import StockKey, StockResult, StockUpdate
from .flow import Flow

logger = logging.getLogger(__name__)


class StockFlow(Flow):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The orders pull (Flow.orders_pulled) a stock push last relied on
        self.read_after: float | None = None

    def push_stock(self) -> dict[str, Any]:
        """Push the levels the ERP says changed and acknowledge to the ERP
        only what the channel accepted. Nothing to push: no call to the
        channel.

        Where the channel compares and sets, a level is written only from
        a base: what the ERP expects the channel to show (`previous`), or
        what the channel is read to show. Reading is safe only once the
        channel's sales are in the ERP, else a sale not imported yet would
        be offered again: so the first push after a complete orders pull
        (`once` pulls first) reads and sets the levels never pushed, and
        repairs those the channel refuses as stale, which the pull no
        longer explains (an order the ERP could not read, a hand edit, an
        acknowledgement lost). Other pushes leave both for that one: a
        refused level stays pending in the ERP, so no state is kept here
        and a restarted agent repairs it all the same."""
        after_pull = self._after_pull()
        answer = self.erp.stock_levels(self.code)
        if not answer['levels']:
            return {'pushed': 0, 'failed': 0, 'pending': answer['pending']}
        levels, failed = self._channel_levels(answer['levels'])
        unread: dict[StockKey, ChannelLevel] = {}
        if 'compare_and_set' in self.adapter.capabilities:
            unread = {key: level for key, level in levels.items()
                if level.update.previous is None}
        updates = [level.update for key, level in levels.items()
            if key not in unread]
        results = self.adapter.push_stock(updates) if updates else []
        drift: list[StockDrift] = []
        waiting = 0
        if after_pull:
            unread |= {r.key: levels[r.key] for r in results if r.stale}
            if unread:
                read, drift, _ = self._repair(unread)
                results = [r for r in results if r.key not in unread] + read
        elif unread:
            waiting = len(unread)
            logger.info(
                "%s: %d stock level(s) never pushed wait for the next "
                "orders pull to be read", self.code, waiting,
                extra={'channel': self.code})
        if results or failed:
            summary = self._acknowledge(levels, results, failed, drift)
        else:  # every level waits: nothing to tell the ERP
            summary = {'pushed': 0, 'failed': 0,
                'pending': answer['pending']}
        if drift:
            summary['drift'] = len(drift)
        if waiting:
            summary['waiting'] = waiting
        return summary

    def _after_pull(self) -> bool:
        """Whether this push is the first since a complete orders pull of
        this process (and takes that turn): the channel's sales made
        before it are in the ERP. A later push would overwrite the sales
        made since."""
        pulled = self.orders_pulled
        if pulled is None or pulled == self.read_after:
            return False
        self.read_after = pulled
        return True

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
                        found=shown_quantity(found)))
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
            reason = StockRefusal.no_location
            level = ChannelLevel(erp_level, StockUpdate(
                    sku=self.mapping.channel_sku(erp_level['sku']),
                    quantity=erp_level['quantity'],
                    previous=erp_level.get('previous'), location=location,
                    external_id=erp_level.get('external_id'),
                    external_variant_id=erp_level.get(
                        'external_variant_id')))
            other = levels.get(level.update.key)
            if level.update.sku in self.mapping.fulfilled_by_channel:
                error = (f"the channel fulfils {level.update.sku} from its "
                    f"own stock ({self.mapping.source}: "
                    "fulfilled_by_channel): its quantity is the channel's")
                reason = StockRefusal.refused
            elif error is None and other is not None:
                error = (f"the channel's {level.update.sku}"
                    + (f" at {location}" if location else '')
                    + f" is already set from {other.name}")
                reason = StockRefusal.duplicate
            if error:
                failed.append(level.failure(error, reason))
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
                failed.append(level.failure(result.error, result.reason))
        for failure in failed:
            logger.warning(
                "%s: stock of %s refused: %s", self.code,
                level_name(failure.sku, failure.warehouse), failure.error,
                extra={'channel': self.code})
        ack = self.erp.ack_stock(self.code, pushed, failed, list(drift))
        return {'pushed': len(pushed), 'failed': len(failed),
            'pending': ack['pending']}


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
        return level_name(self.sku, self.warehouse)

    def pushed(self, sent: StockUpdate) -> StockPushed:
        "The acknowledgement of the update sent (its compare-and-set base)"
        return StockPushed(sku=self.sku, warehouse=self.warehouse,
            quantity=sent.quantity, previous=shown_quantity(sent.previous),
            version=self.erp_level.get('version'))

    def failure(self, error: str, reason: StockRefusal) -> StockFailure:
        return StockFailure(sku=self.sku, warehouse=self.warehouse,
            reason=reason, error=storable(error, TEXT_LENGTH))


def level_name(sku: str, warehouse: str | None) -> str:
    "SKU@WAREHOUSE, as logs and messages name an ERP level"
    return f'{sku}@{warehouse}' if warehouse else sku

