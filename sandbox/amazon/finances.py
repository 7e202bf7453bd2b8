"""Refunds of the Amazon shop as the Finances API v0 reports them: GET
/finances/v0/financialEvents, a refund being a ShipmentEvent-shaped
record of RefundEventList. The SP-API makes no refund: ``refund()`` plays
one made in Seller Central."""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from .. import generator
from ..web import Request, Response, iso_z
from .model import (
    MARKETPLACES,
    PageTokens,
    duration,
    int_param,
    invalid_input,
    time_param,
    upper_bound,
)

CHARGES = (('ITEM', 'Principal'), ('DISCOUNT', 'Principal'),
    ('SHIPPING', 'ShippingCharge'), ('TAX', 'Tax'))


@dataclasses.dataclass(frozen=True)
class EventsQuery:
    after: dt.datetime | None
    before: dt.datetime
    inclusive: bool          # PostedBefore given: exclusive, as Amazon
    size: int
    last: tuple[dt.datetime, int] | None = None


def _charge(kind: str, amount: Decimal, currency: str) -> dict[str, Any]:
    "A refund's charge: negative, and a JSON number (Finances' BigDecimal)"
    return {'ChargeType': kind, 'ChargeAmount': {'CurrencyCode': currency,
            'CurrencyAmount': float(-amount)}}


class Finances:
    "The shop's refunds (a part of AmazonShop)"

    def _init_finances(self) -> None:
        # (posted, sequence, order number, event), in posting order
        self._refund_events: list[tuple[dt.datetime, int, int, dict]] = []
        self._refunded: dict[int, Decimal] = {}
        self._next_adjustment = 1
        self._event_tokens = PageTokens()

    def refunds(self, order_id: int | str) -> list[dict[str, Any]]:
        "The order's refund events, oldest first"
        with self.lock:
            number = self._lookup(order_id)
            return [copy.deepcopy(event) for _, _, n, event
                in self._refund_events if n == number]

    def refund(self, order_id: int | str, amount: Decimal | str | None = None,
            lines: dict[str, int] | list | None = None,
            reason: str = '') -> dict[str, Any]:
        """A refund made in Seller Central, posted now: lines as {sku:
        quantity}; amount defaults to those lines' price (principal), or
        without lines the whole order (principal, shipping and tax). The
        event has no reason (Amazon's has none). Returns the event."""
        with self.lock:
            number = self._lookup(order_id)
            record = self._orders[number]
            total = Decimal(record['proceeds']['grandTotal']['amount'])
            currency = record['proceeds']['grandTotal']['currencyCode']
            by_sku = {item['product'].get('sellerSku'): item
                for item in record['orderItems']}
            picked = []
            for sku, quantity in (lines.items() if isinstance(lines, dict)
                    else lines or []):
                if sku not in by_sku:
                    raise ValueError(f"no item of {sku!r} in order "
                        f"{record['orderId']}")
                item = by_sku[sku]
                price = Decimal(item['product']['price']['unitPrice'][
                        'amount'])
                picked.append((item, int(quantity), {
                    'Principal': generator.cents(price * int(quantity))}))
            if amount is not None:
                amount = generator.cents(amount)
                if not picked:
                    item = record['orderItems'][0]
                    picked = [(item, item['quantityOrdered'], {})]
                self._spread(picked, amount)
            elif not picked:
                for item in record['orderItems']:
                    charges: dict[str, Decimal] = {}
                    for part in item['proceeds']['breakdowns']:
                        kind = dict(CHARGES)[part['type']]
                        charges[kind] = charges.get(kind, Decimal(0)) + \
                            Decimal(part['subtotal']['amount'])
                    picked.append((item, item['quantityOrdered'], charges))
            value = sum((sum(c.values(), Decimal(0)) for _, _, c in picked),
                Decimal(0))
            refunded = self._refunded.get(number, Decimal(0))
            if not 0 < value <= total - refunded:
                raise ValueError(f"cannot refund {value}: "
                    f"{total - refunded} is left to refund")
            self._refunded[number] = refunded + value
            now = self.now()
            adjustments = []
            for item, quantity, charges in picked:
                adjustments.append({
                    'SellerSKU': item['product'].get('sellerSku'),
                    'OrderItemId': item['orderItemId'],
                    'OrderAdjustmentItemId': str(self._next_adjustment),
                    'QuantityShipped': quantity,
                    'ItemChargeAdjustmentList': [_charge(kind, value,
                            currency) for kind, value in charges.items()
                        if value]})
                self._next_adjustment += 1
            marketplace = record['salesChannel'].get('marketplaceId')
            event = {'AmazonOrderId': record['orderId'],
                'SellerOrderId': record['orderId'],
                'MarketplaceName': MARKETPLACES.get(marketplace,
                    (marketplace,))[0],
                'PostedDate': iso_z(now),
                'ShipmentItemAdjustmentList': adjustments}
            self._refund_events.append((now, len(self._refund_events),
                    number, event))
            return copy.deepcopy(event)

    @staticmethod
    def _spread(picked: list[tuple[dict, int, dict]],
            amount: Decimal) -> None:
        "An amount as the lines' principal, in proportion, to the cent"
        weights = [charges.get('Principal', Decimal(1))
            for _, _, charges in picked]
        whole = sum(weights, Decimal(0)) or Decimal(1)
        left = amount
        for n, (_, _, charges) in enumerate(picked):
            share = left if n == len(picked) - 1 else generator.cents(
                amount * weights[n] / whole)
            charges.clear()
            charges['Principal'] = share
            left -= share

    def http_listFinancialEvents(self, request: Request) -> Response:
        """Refund events posted in [PostedAfter, PostedBefore) by posting
        time; without PostedBefore, up to now − settle_s included"""
        token = request.param('NextToken')
        now = self.now()
        if token:
            query = self._event_tokens.take(token, now, 'NextToken')
        else:
            after = time_param(request, 'PostedAfter')
            latest = now - dt.timedelta(seconds=self.settle_s)
            if after is not None and after > latest:
                raise invalid_input("PostedAfter must be at least "
                    f"{duration(self.settle_s)} before the request time"
                    if self.settle_s else
                    "PostedAfter must not be after the request time")
            given = request.param('PostedBefore') not in (None, '')
            before = upper_bound(request, 'PostedBefore', now,
                self.settle_s)
            if after is not None and given and before <= after:
                raise invalid_input("PostedBefore must be later than "
                    "PostedAfter")
            query = EventsQuery(after, before, not given,
                int_param(request, 'MaxResultsPerPage', 100, 1, 100))
        events = []
        served: list[tuple[dt.datetime, int]] = []
        more = None
        for posted, sequence, _, event in sorted(self._refund_events,
                key=lambda e: (e[0], e[1])):
            if (query.last is not None and (posted, sequence) <= query.last
                    or query.after is not None and posted < query.after
                    or posted > query.before
                    or posted == query.before and not query.inclusive):
                continue
            if len(events) == query.size:
                more = dataclasses.replace(query, last=served[-1])
                break
            events.append(copy.deepcopy(event))
            served.append((posted, sequence))
        payload: dict[str, Any] = {'FinancialEvents': {
                'ShipmentEventList': [], 'RefundEventList': events}}
        if more is not None:
            payload['NextToken'] = self._event_tokens.issue(more, now)
        return Response.json({'payload': payload})
