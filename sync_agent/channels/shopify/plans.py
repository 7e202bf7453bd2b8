"""What to write on a Shopify order for a shipment or a refund, planned
from what the order shows (marketplace-apis.md §1.5, §1.6): pure
functions, no HTTP.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..base import FulfilmentItem, FulfilmentUpdate
from .mapper import active_fulfillments, connection_nodes, gid_id, shop_amount
from .queries import PAID_KINDS


@dataclasses.dataclass
class FulfilmentPlan:
    """What to send for a shipment: per location, the fulfillment orders'
    line items and quantities (FulfillmentOrderLineItemsInput); or why
    nothing can be sent; or nothing, with the fulfillment already showing
    it (when there is one)"""
    by_location: dict[str, list[dict[str, Any]]] = dataclasses.field(
        default_factory=dict)
    existing: str | None = None
    error: str | None = None


def plan_fulfilment(update: FulfilmentUpdate, order: dict[str, Any]
        ) -> FulfilmentPlan:
    """Which fulfillment-order line items ship the update's units. An item
    matches an order line by its id, else (no line has that id: an edited
    order) by SKU. Units are taken, in turn, from a fulfillment of the
    order with this tracking number (shipped by an earlier push), then from
    what remains on fulfillment orders Shopify lets fulfil, split across
    them as needed. Units with nothing left anywhere were shipped some
    other way: not shipped again. Units waiting on a fulfillment order
    that cannot be fulfilled now (on hold …) fail the whole shipment, as
    does an item the order does not have."""
    fulfillments = active_fulfillments(order)
    tracked = [f for f in fulfillments if update.tracking_number
        and update.tracking_number in {t.get('number')
            for t in f.get('trackingInfo') or []}]
    # [line item, units not yet claimed by an item of this update]
    shipped = [[entry.get('lineItem') or {}, entry.get('quantity') or 0]
        for f in tracked
        for entry in connection_nodes(f.get('fulfillmentLineItems'))]
    open_items, blocked_items = [], []
    for fo in connection_nodes(order.get('fulfillmentOrders')):
        can = {'action': 'CREATE_FULFILLMENT'} in (
            fo.get('supportedActions') or [])
        for entry in connection_nodes(fo.get('lineItems')):
            slot = [fo, entry, entry.get('remainingQuantity') or 0]
            (open_items if can else blocked_items).append(slot)
    every_line = ([slot[1].get('lineItem') or {}
            for slot in open_items + blocked_items]
        + [line for line, _ in shipped])
    taken: dict[str, dict[str, int]] = {}  # FO id → FO line item id → units
    location_of: dict[str, str] = {}
    problems = []
    for item in update.items:
        matches = line_matcher(item, every_line)
        if matches is None:
            problems.append(f"the Shopify order has no line {item.name}")
            continue
        wanted = item.quantity
        for claim in shipped:
            if wanted and claim[1] and matches(claim[0]):
                units = min(wanted, claim[1])
                claim[1] -= units
                wanted -= units
        for slot in open_items:
            fo, entry, remaining = slot
            if wanted and remaining and matches(entry.get('lineItem') or {}):
                units = min(wanted, remaining)
                slot[2] -= units
                wanted -= units
                lines = taken.setdefault(fo['id'], {})
                lines[entry['id']] = lines.get(entry['id'], 0) + units
                location_of[fo['id']] = (
                    fo.get('assignedLocation') or {}).get(
                        'location', {}).get('id', '')
        waiting = {slot[0].get('status') for slot in blocked_items
            if slot[2] and matches(slot[1].get('lineItem') or {})}
        if wanted and waiting:
            problems.append(f"{wanted} × {item.name} wait on a fulfillment "
                f"order Shopify does not let fulfil now "
                f"({', '.join(sorted(map(str, waiting)))})")
    if problems:
        return FulfilmentPlan(error='; '.join(problems))
    plan = FulfilmentPlan()
    for fo_id, lines in taken.items():
        plan.by_location.setdefault(location_of[fo_id], []).append({
                'fulfillmentOrderId': fo_id,
                'fulfillmentOrderLineItems': [{'id': id_, 'quantity': units}
                    for id_, units in lines.items()]})
    if not plan.by_location:
        # The fulfillment that shows the shipment: by its tracking number,
        # else the latest carrying exactly its units (else none is named).
        shown = tracked or [f for f in fulfillments
            if _carries_exactly(f, update.items, every_line)]
        plan.existing = shown[-1]['id'] if shown else None
    return plan


def refund_transactions(order: dict[str, Any], amount: Decimal
        ) -> tuple[list[dict[str, Any]], str | None]:
    """The REFUND transactions (OrderTransactionInput) that give `amount`
    back: against the order's successful sales and captures, each for what
    is left of it after its refunds, oldest first; or why there are none.
    Shopify's own suggestion (Order.suggestedRefund) is not asked for: it
    needs the lines, and the ERP decides the amount."""
    transactions = order.get('transactions') or []
    if isinstance(transactions, dict):
        transactions = connection_nodes(transactions)
    refunded: dict[str, Decimal] = {}
    for t in transactions:
        parent = (t.get('parentTransaction') or {}).get('id')
        if t.get('kind') == 'REFUND' and t.get('status') == 'SUCCESS' \
                and parent:
            refunded[parent] = refunded.get(parent, Decimal(0)) + (
                shop_amount(t.get('amountSet'), 'amountSet'))
    result, wanted = [], amount
    for t in transactions:
        if t.get('kind') not in PAID_KINDS or t.get('status') != 'SUCCESS':
            continue
        left = shop_amount(t.get('amountSet'), 'amountSet') - refunded.get(
            t['id'], Decimal(0))
        part = min(wanted, left)
        if part <= 0:
            continue
        result.append({'orderId': order['id'], 'parentId': t['id'],
                'gateway': t.get('gateway'), 'kind': 'REFUND',
                'amount': str(part)})
        wanted -= part
        if not wanted:
            return result, None
    return [], (f"the Shopify order has {amount - wanted} left to refund "
        f"of its payments, not {amount}")


def _carries_exactly(fulfillment: dict[str, Any],
        items: tuple[FulfilmentItem, ...], lines: list[dict[str, Any]]
        ) -> bool:
    "Whether a fulfillment ships the items' units and nothing else"
    entries = connection_nodes(fulfillment.get('fulfillmentLineItems'))
    for item in items:
        matches = line_matcher(item, lines)
        if matches is None or sum(e.get('quantity') or 0 for e in entries
                if matches(e.get('lineItem') or {})) != item.quantity:
            return False
    return sum(e.get('quantity') or 0 for e in entries) == sum(
        item.quantity for item in items)


def line_matcher(item: FulfilmentItem, lines: list[dict[str, Any]]
        ) -> Callable[[dict[str, Any]], bool] | None:
    """A test of whether an order line (a LineItem: id, sku) is the item's:
    by line id when one of the lines has it, else by SKU; None when no
    line is the item's."""
    if item.external_id:
        wanted = gid_id(item.external_id)

        def by_id(line: dict[str, Any]) -> bool:
            return bool(line.get('id')) and gid_id(line['id']) == wanted
        if any(by_id(line) for line in lines):
            return by_id
    if item.sku:
        def by_sku(line: dict[str, Any]) -> bool:
            return line.get('sku') == item.sku
        if any(by_sku(line) for line in lines):
            return by_sku
    return None


def available_quantity(level: dict[str, Any]) -> int | None:
    "The `available` quantity of an inventory level node"
    for quantity in level.get('quantities') or []:
        if quantity.get('name') == 'available':
            return quantity.get('quantity')
    return None


def quantity_index(field: Any) -> int | None:
    "The quantity a userError is about: field [input, quantities, N, …]"
    if isinstance(field, list) and len(field) >= 3 and field[1] in {
            'quantities', 'setQuantities'}:
        try:
            return int(field[2])
        except (TypeError, ValueError):
            return None
    return None


def search_value(value: str) -> str:
    "A value in Shopify's search syntax, quoted when it needs to be"
    if value and all(c.isalnum() or c in '-_.' for c in value):
        return value
    return '"' + value.replace('\\', '\\\\').replace('"', '\\"') + '"'
