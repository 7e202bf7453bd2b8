"""The fulfilments flow: the ERP's shipments marked shipped on the channel
(SKUs and carrier mapped), each at most once, through the ERP's outbox
(see outbox.py)."""
from __future__ import annotations

from typing import Any

from oms_contract.models import Fulfilment, FulfilmentFailure, FulfilmentPushed

from ..channels.base import FulfilmentItem, FulfilmentResult, FulfilmentUpdate
from .outbox import Outbox, OutboxFlow

# Fulfilments a run: each costs the channel a few calls, and the run holds
# the stock thread meanwhile; a backlog drains over the next runs.
FULFILMENTS_PER_RUN = 50

FULFILMENTS = Outbox(
    what='fulfilment', item=Fulfilment, result=FulfilmentResult,
    pushed=lambda fulfilment, result: FulfilmentPushed(
        id=fulfilment.id, external_id=result.external_id),
    failed=lambda id, error, result: FulfilmentFailure(id=id, error=error),
    name=lambda fulfilment: fulfilment.id)


class FulfilmentFlow(OutboxFlow):

    def push_fulfilments(self) -> dict[str, Any]:
        """Mark the ERP's pending shipments shipped on the channel and
        acknowledge each: pushed with the channel's id, or failed with the
        reason (the ERP lists a failed one again after a back-off). One
        fulfilment's failure (an unmapped carrier, the channel's refusal)
        stops no other. A channel out of reach (retries exhausted,
        credentials refused) ends the run: what was done is acknowledged,
        the rest waits for the next run, and the job fails."""
        answer = self.erp.fulfilments(self.code, limit=FULFILMENTS_PER_RUN)
        drained, ack = self.drain(FULFILMENTS, answer['fulfilments'],
            self._push_fulfilment, self.erp.ack_fulfilments)
        if ack is None:
            return {'pushed': 0, 'failed': 0, 'pending': answer['pending']}
        summary = {'pushed': len(drained.pushed),
            'failed': len(drained.failed), 'pending': ack['pending']}
        return {**summary, 'already': drained.already} if drained.already \
            else summary

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
            tracking_url=fulfilment.tracking_url,
            shipped_at=fulfilment.shipped_at)
