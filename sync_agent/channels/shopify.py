"""Shopify (Admin GraphQL API; marketplace-apis.md §1).

``normalize_order`` reads an order node as the ``orders`` and ``order``
queries return it (lineItems as ``nodes`` or ``edges``), and the legacy
REST order shape (§1.8) that older stores and webhooks still send.

``ShopifyAdapter`` holds the API detail: orders by ``updated_at`` sorted
by UPDATED_AT with cursor paging (line items beyond the first page fetched
per order), the calculated-cost throttle (THROTTLED answered with HTTP 200
or 429, waited out from ``throttleStatus``), stock set per location with
``inventorySetQuantities`` (idempotency key, ``changeFromQuantity``, 250
quantities a call, SKU → inventory item and location resolved once and
cached) and read back per location with ``inventoryItems`` (for the
reconciliation), shipments marked with ``fulfillmentCreate`` on the
order's fulfillment orders, one call per location, after reading what the
order already shows (§1.5), refunds and returns read from the orders
updated since the returns cursor (``Order.refunds``, ``Order.returns``,
§1.6) and the ERP's refunds made with ``refundCreate`` (``@idempotent``,
after looking for a refund whose note names the RMA).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import requests

from ..models import (
    Address,
    ChannelReturn,
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    ReturnKind,
    ReturnLine,
    ReturnStatus,
)
from .base import (
    Adapter,
    FulfilmentItem,
    FulfilmentResult,
    FulfilmentUpdate,
    OrderPage,
    RefundResult,
    RefundUpdate,
    ReturnPage,
    StockKey,
    StockResult,
    StockUpdate,
    chunks,
)
from .payload import (
    PayloadError,
    Unreadable,
    full_name,
    money,
    read_each,
    street,
    text,
    utc,
)
from .transport import (
    AuthError,
    ChannelError,
    GaveUp,
    Retryable,
    json_body,
)

logger = logging.getLogger(__name__)

KIND = 'shopify'

# The words mapping files may use in `statuses:` (displayFinancialStatus,
# optionally "/" displayFulfillmentStatus), plus CANCELLED.
CHANNEL_STATUSES = {
    'PENDING', 'AUTHORIZED', 'PARTIALLY_PAID', 'PAID',
    'PARTIALLY_REFUNDED', 'REFUNDED', 'VOIDED', 'EXPIRED', 'CANCELLED',
    }

PENDING = {'PENDING', 'AUTHORIZED', 'PARTIALLY_PAID'}
PAYMENT_FAILED = {'VOIDED', 'EXPIRED'}


def status(financial: str | None, fulfillment: str | None,
        cancelled: bool, closed: bool, delivered: bool = False
        ) -> OrderStatus:
    """The canonical status (§1.7). Statuses are compared upper-case, as
    GraphQL serves them (REST serves them lower-case). A fulfilled order
    is completed once closed, or once every fulfillment was delivered."""
    financial = (financial or '').upper()
    fulfillment = (fulfillment or '').upper()
    if cancelled or financial in PAYMENT_FAILED:
        return OrderStatus.cancelled
    if financial == 'REFUNDED':
        return OrderStatus.refunded
    if financial in PENDING or not financial:
        # No financial status at all (a query that did not select it)
        # must not ship anything: treat it as unpaid.
        return OrderStatus.pending_payment
    if fulfillment == 'FULFILLED':
        return (OrderStatus.completed if closed or delivered
            else OrderStatus.shipped)
    if fulfillment in {'PARTIALLY_FULFILLED', 'PARTIAL'}:
        return OrderStatus.partially_shipped
    return OrderStatus.awaiting_shipment


def channel_status(raw: dict[str, Any]) -> str:
    """The order's status in Shopify's words: FINANCIAL/FULFILLMENT, or
    CANCELLED (what mapping files' `statuses:` match)."""
    if raw.get('cancelledAt') or raw.get('cancelled_at'):
        return 'CANCELLED'
    financial = (raw.get('displayFinancialStatus')
        or raw.get('financial_status') or '')
    fulfillment = (raw.get('displayFulfillmentStatus')
        or raw.get('fulfillment_status') or 'UNFULFILLED')
    return f'{financial}/{fulfillment}'.upper()


def external_id(raw: dict[str, Any]) -> str | None:
    "The order's id, read as leniently as possible (for rejected orders)"
    value = raw.get('legacyResourceId') or raw.get('id')
    return gid_id(value) if value else None


def gid_id(value: Any) -> str:
    "The numeric id of a GraphQL global id (gid://shopify/Order/42 → 42)"
    return str(value).rsplit('/', 1)[-1]


# Fulfillments that never left (FulfillmentStatus): they count neither as
# shipped nor as delivered.
VOID_FULFILLMENTS = {'CANCELLED', 'ERROR', 'FAILURE'}


def _active_fulfillments(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in _connection(node.get('fulfillments'))
        if (f.get('status') or '').upper() not in VOID_FULFILLMENTS]


def delivered(node: dict[str, Any]) -> bool:
    """Whether the order has fulfillments and every one was delivered.
    Fulfillment.displayStatus DELIVERED is **unconfirmed** (§1.7, §9): a
    shop that never shows it keeps its orders shipped until closed."""
    fulfillments = _active_fulfillments(node)
    return bool(fulfillments) and all(
        (f.get('displayStatus') or '').upper() == 'DELIVERED'
        for f in fulfillments)


def normalize_order(raw: dict[str, Any], channel: str | None = None) -> Order:
    """The canonical order of a Shopify order payload (GraphQL node or
    REST order). Raises PayloadError naming the field it cannot read."""
    node = raw
    if 'line_items' in raw or 'financial_status' in raw:
        node = _graphql_shape(raw)
    return _normalize_graphql(node, channel, raw)


def _shop_money(value: dict | None, field: str) -> Decimal:
    "A MoneyBag's shop-currency amount (GraphQL shopMoney, REST shop_money)"
    bag = (value or {}).get('shopMoney') or (value or {}).get('shop_money')
    if not bag:
        raise PayloadError(f"{field} is missing")
    return money(bag.get('amount'), field)


def _normalize_graphql(node: dict[str, Any], channel: str | None,
        raw: dict[str, Any]) -> Order:
    "The canonical order of a GraphQL order node; raw is what was received"
    order_id = gid_id(node.get('legacyResourceId') or node['id'])
    created = utc(node.get('createdAt'), 'createdAt')
    customer = node.get('customer') or {}
    address = node.get('shippingAddress')
    name = (full_name(customer.get('firstName'), customer.get('lastName'))
        or text((address or {}).get('name')) or text(node.get('email'))
        or f"Shopify customer {order_id}")
    state = status(node.get('displayFinancialStatus'),
        node.get('displayFulfillmentStatus'),
        bool(node.get('cancelledAt')), bool(node.get('closed')),
        delivered(node))
    lines = _graphql_lines(node, order_id, _is_open(state))
    total = _shop_money(node.get('totalPriceSet'), 'totalPriceSet')
    if node.get('totalShippingPriceSet'):
        shipping = _shop_money(
            node['totalShippingPriceSet'], 'totalShippingPriceSet')
    else:
        shipping = sum((_shop_money(s.get('originalPriceSet'),
                        'shippingLines.originalPriceSet')
                for s in _connection(node.get('shippingLines'))), Decimal(0))
    return Order(
        channel=channel or KIND,
        kind=KIND,
        external_id=order_id,
        number=node.get('name') or order_id,
        status=state,
        created_at=created,
        updated_at=(utc(node['updatedAt'], 'updatedAt')
            if node.get('updatedAt') else created),
        currency=(node.get('currencyCode')
            or node['totalPriceSet']['shopMoney'].get('currencyCode') or ''),
        total=total,
        shipping_price=shipping,
        customer=Customer(
            external_id=gid_id(customer['id']) if customer.get('id') else None,
            name=name,
            email=text(node.get('email') or customer.get('email')),
            phone=text(node.get('phone') or customer.get('phone'))),
        shipping_address=_address(address, name),
        lines=lines,
        notes=text(node.get('note')),
        raw=raw)


def _connection(value: Any) -> list[dict]:
    "The items of a GraphQL connection, given as nodes or as edges"
    if isinstance(value, list):
        return value
    value = value or {}
    if 'nodes' in value:
        return value['nodes'] or []
    return [edge['node'] for edge in value.get('edges') or []]


def _is_open(state: OrderStatus) -> bool:
    # An open order lists what is still to ship (current quantities, which
    # leave out removed and refunded units); a closed one what was ordered.
    return state not in {OrderStatus.cancelled, OrderStatus.refunded}


def _graphql_lines(raw: dict[str, Any], order_id: str,
        current: bool) -> list[OrderLine]:
    items = _connection(raw.get('lineItems'))
    lines = []
    for position, item in enumerate(items):
        field = f'lineItems[{position}]'
        quantity = item.get('quantity')
        if current and item.get('currentQuantity') is not None:
            quantity = item['currentQuantity']
        if quantity == 0:
            continue
        price_set = (item.get('discountedUnitPriceSet')
            or item.get('originalUnitPriceSet'))
        if price_set:
            price = _shop_money(price_set, f'{field}.originalUnitPriceSet')
        elif len(items) == 1 and raw.get('subtotalPriceSet') and quantity:
            # The only line makes the whole subtotal.
            price = _shop_money(
                raw['subtotalPriceSet'], 'subtotalPriceSet') / quantity
        else:
            raise PayloadError(f"{field} has no unit price")
        lines.append(_order_line(
            gid_id(item['id']) if item.get('id')
            else f'{order_id}-{position + 1}',
            item.get('sku'), item.get('name') or item.get('title'),
            quantity, price, field))
    return lines


def _order_line(external_id, sku, title, quantity, price, field) -> OrderLine:
    if not isinstance(quantity, int) or quantity <= 0:
        raise PayloadError(
            f"{field}.quantity is not a positive integer: {quantity!r}")
    return OrderLine(
        external_id=str(external_id), sku=text(sku), title=title or '',
        quantity=quantity, unit_price=price)


def _address(address: dict | None, name: str) -> Address | None:
    if not address:
        return None
    return Address(
        name=text(address.get('name')) or full_name(
            address.get('firstName'), address.get('lastName')) or name,
        street=street(address.get('address1'), address.get('address2')),
        city=address.get('city') or '',
        zip=address.get('zip') or '',
        country_code=(address.get('countryCodeV2') or '').upper(),
        subdivision=text(address.get('provinceCode')),
        phone=text(address.get('phone')))


def _graphql_shape(rest: dict[str, Any]) -> dict[str, Any]:
    """A legacy REST order in the GraphQL node's shape, so that one reader
    serves both (field names in errors are then GraphQL's)."""
    def shop_money(amount):
        return {'shopMoney': {
                'amount': amount, 'currencyCode': rest.get('currency')}}

    customer = rest.get('customer') or {}
    address = rest.get('shipping_address')
    return {
        'id': str(rest['id']),
        'name': rest.get('name'),
        'createdAt': rest.get('created_at'),
        'updatedAt': rest.get('updated_at'),
        'cancelledAt': rest.get('cancelled_at'),
        'closed': bool(rest.get('closed_at')),
        'displayFinancialStatus': rest.get('financial_status'),
        'displayFulfillmentStatus': rest.get('fulfillment_status'),
        'email': rest.get('email'),
        'phone': rest.get('phone'),
        'note': rest.get('note'),
        'currencyCode': rest.get('currency'),
        'customer': {
            'id': customer.get('id'),
            'firstName': customer.get('first_name'),
            'lastName': customer.get('last_name'),
            'email': customer.get('email'),
            'phone': customer.get('phone'),
            } if customer else None,
        'shippingAddress': {
            'name': address.get('name'),
            'firstName': address.get('first_name'),
            'lastName': address.get('last_name'),
            'address1': address.get('address1'),
            'address2': address.get('address2'),
            'city': address.get('city'),
            'zip': address.get('zip'),
            'provinceCode': address.get('province_code'),
            'countryCodeV2': address.get('country_code'),
            'phone': address.get('phone'),
            } if address else None,
        'totalPriceSet': shop_money(rest.get('total_price')),
        'totalShippingPriceSet': rest.get('total_shipping_price_set'),
        'shippingLines': [
            {'originalPriceSet': shop_money(line.get('price'))}
            for line in rest.get('shipping_lines') or []],
        # REST's shipment_status ("delivered", …) is GraphQL's
        # displayStatus in lower case.
        'fulfillments': [{
                'id': str(f.get('id')), 'status': f.get('status'),
                'displayStatus': f.get('shipment_status'),
                } for f in rest.get('fulfillments') or []],
        'lineItems': {'nodes': [{
                    'id': str(item['id']),
                    'sku': item.get('sku'),
                    'name': item.get('name') or item.get('title'),
                    'quantity': item.get('quantity'),
                    'currentQuantity': item.get('current_quantity'),
                    'originalUnitPriceSet': shop_money(item.get('price')),
                    } for item in rest.get('line_items') or []]},
        }


# Shopify's ReturnStatus (§1.6) in the contract's words.
RETURN_STATUSES = {
    'REQUESTED': ReturnStatus.requested,
    'OPEN': ReturnStatus.open,
    'CLOSED': ReturnStatus.closed,
    'DECLINED': ReturnStatus.declined,
    'CANCELED': ReturnStatus.cancelled,
    }


def normalize_returns(raw: dict[str, Any], channel: str | None = None,
        problems: list[Unreadable] | None = None) -> list[ChannelReturn]:
    """The refunds and returns of an order node as the returns query
    reads it (refunds a list, returns a connection). Ids are gids, so
    that a refund and a return never share one. A refund or return that
    cannot be read raises PayloadError; or, given `problems`, is left out
    and noted there."""
    order_id = gid_id(raw.get('legacyResourceId') or raw['id'])
    order_updated = utc(raw.get('updatedAt'), 'updatedAt')
    currency = raw.get('currencyCode')
    refunds = read_each(raw.get('refunds') or [],
        lambda refund: _refund(refund, order_id, channel, currency),
        lambda refund: ('refund', refund.get('id'), order_id), problems)
    returns = read_each(_connection(raw.get('returns')),
        lambda node: _return(node, order_id, channel, order_updated),
        lambda node: ('return', node.get('id'), order_id), problems)
    return refunds + returns


def _refund(refund: dict[str, Any], order_id: str, channel: str | None,
        currency: str | None) -> ChannelReturn:
    created = utc(refund.get('createdAt'), 'refund.createdAt')
    lines = []
    for position, item in enumerate(_connection(
            refund.get('refundLineItems'))):
        field = f'refundLineItems[{position}]'
        line = item.get('lineItem') or {}
        subtotal = item.get('subtotalSet')
        lines.append(ReturnLine(
                line_external_id=gid_id(line['id']) if line.get('id')
                else None,
                sku=text(line.get('sku')),
                quantity=item.get('quantity'),
                # CANCEL: units never shipped, nothing comes back.
                restock=item.get('restockType') == 'RETURN',
                amount=abs(_shop_money(subtotal, f'{field}.subtotalSet'))
                if subtotal else None))
    _truncated(refund.get('refundLineItems'), 'refundLineItems')
    return ChannelReturn(
        channel=channel or KIND, kind=ReturnKind.refund,
        external_id=refund['id'], order_external_id=order_id,
        status=ReturnStatus.refunded, created_at=created,
        updated_at=utc(refund['updatedAt'], 'refund.updatedAt')
        if refund.get('updatedAt') else created,
        currency=currency,
        amount=abs(_shop_money(refund.get('totalRefundedSet'),
                'totalRefundedSet')),
        reason=text(refund.get('note')),
        return_external_id=(refund.get('return') or {}).get('id'),
        lines=lines, raw=refund)


def _return(node: dict[str, Any], order_id: str, channel: str | None,
        order_updated: dt.datetime) -> ChannelReturn:
    status = RETURN_STATUSES.get(str(node.get('status')).upper())
    if status is None:
        raise PayloadError(f"status {node.get('status')!r} is unknown")
    # Return.createdAt/closedAt: unconfirmed, and a return has no
    # updatedAt: the latest of its own times, else the order's.
    times = [utc(node[name], name) for name in ('createdAt', 'closedAt')
        if node.get(name)]
    lines = []
    for item in _connection(node.get('returnLineItems')):
        line = ((item.get('fulfillmentLineItem') or {}).get('lineItem')
            or item.get('lineItem') or {})
        lines.append(ReturnLine(
                line_external_id=gid_id(line['id']) if line.get('id')
                else None,
                sku=text(line.get('sku')), quantity=item.get('quantity'),
                reason=text(' '.join(filter(None, (
                                item.get('returnReason'),
                                item.get('returnReasonNote')))))))
    _truncated(node.get('returnLineItems'), 'returnLineItems')
    return ChannelReturn(
        channel=channel or KIND, kind=ReturnKind.return_,
        external_id=node['id'], order_external_id=order_id,
        status=status, created_at=times[0] if times else order_updated,
        updated_at=max(times) if times else order_updated,
        reason=text(node.get('name')), lines=lines, raw=node)


def _truncated(connection: Any, name: str) -> None:
    "A refund or return whose lines did not fit the page is not half-read"
    if isinstance(connection, dict) and (
            connection.get('pageInfo') or {}).get('hasNextPage'):
        raise PayloadError(f"{name}: more than {RETURN_LINES} lines (not "
            "read by the agent: enter it by hand)")


# The API documents the adapter sends. Arguments always travel as
# variables; only the idempotency key must be a literal (whether the
# directive takes a variable is unconfirmed, §1.4).
MONEY = 'shopMoney { amount currencyCode }'
LINE_FIELDS = f'''id sku name quantity currentQuantity variant {{ id }}
    originalUnitPriceSet {{ {MONEY} }} discountedUnitPriceSet {{ {MONEY} }}'''
ORDERS_QUERY = f'''
query OrdersSince($first: Int!, $after: String, $q: String!, $lines: Int!) {{
  orders(first: $first, after: $after, query: $q, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id legacyResourceId name createdAt updatedAt processedAt cancelledAt
      cancelReason closed closedAt test note
      displayFinancialStatus displayFulfillmentStatus email phone currencyCode
      customer {{ id firstName lastName email phone }}
      shippingAddress {{ name company address1 address2 city provinceCode zip
        countryCodeV2 phone }}
      subtotalPriceSet {{ {MONEY} }} totalShippingPriceSet {{ {MONEY} }}
      totalTaxSet {{ {MONEY} }} totalPriceSet {{ {MONEY} }}
      totalRefundedSet {{ {MONEY} }}
      shippingLines(first: 3) {{ nodes {{ title code carrierIdentifier
        originalPriceSet {{ {MONEY} }} }} }}
      fulfillments(first: 10) {{ id status displayStatus }}
      lineItems(first: $lines) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {LINE_FIELDS} }}
      }}
    }}
  }}
}}'''
LINE_ITEMS_QUERY = f'''
query OrderLineItems($id: ID!, $after: String, $first: Int!) {{
  order(id: $id) {{
    id
    lineItems(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {LINE_FIELDS} }}
    }}
  }}
}}'''
VARIANTS_QUERY = '''
query VariantsBySku($q: String!, $first: Int!) {
  productVariants(first: $first, query: $q) {
    nodes { id sku inventoryItem { id } product { id } }
  }
}'''
LOCATIONS_QUERY = '''
query Locations { locations(first: 50) { nodes { id name } } }'''
SET_STOCK_MUTATION = '''
mutation SetStock($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) @idempotent(key: "%s") {
    inventoryAdjustmentGroup { createdAt reason referenceDocumentUri
      changes { name delta } }
    userErrors { field message code }
  }
}'''

# What an order shows before a shipment is marked (§1.5): its fulfillment
# orders with what remains on each line, and the fulfillments it has, with
# their tracking and lines (Order.fulfillments, a list, is not in
# marketplace-apis.md: taken from Shopify's Order reference, unconfirmed
# there).
ORDER_FULFILMENT_QUERY = '''
query OrderFulfilment($id: ID!) {
  order(id: $id) {
    id cancelledAt
    fulfillments(first: 50) { id status trackingInfo { company number url }
      fulfillmentLineItems(first: 100) { nodes { quantity
        lineItem { id sku } } } }
    fulfillmentOrders(first: 10) { nodes {
      id status assignedLocation { location { id } }
      supportedActions { action }
      lineItems(first: 100) { nodes { id remainingQuantity totalQuantity
        lineItem { id sku } } } } }
  }
}'''
# %s: the @idempotent directive, or nothing. The directive is documented
# for the inventory and refund mutations; on fulfillmentCreate it is
# **unconfirmed** (the sandbox accepts it): a shop that refuses it is sent
# the mutation without, read-before-write still guarding against doubles.
FULFILMENT_MUTATION = '''
mutation Ship($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment)%s {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message }
  }
}'''

# Items by id, each with its quantity available at every location ($levels:
# how many locations the shop has).
READ_STOCK_QUERY = '''
query StockLevels($q: String!, $first: Int!, $levels: Int!) {
  inventoryItems(first: $first, query: $q) {
    nodes { id inventoryLevels(first: $levels) {
      pageInfo { hasNextPage }
      nodes { quantities(names: ["available"]) { name quantity }
        location { id } } } }
  }
}'''

# An order's refunds and returns, and what the pull binds them by (§1.6).
# Order.refunds is a list, Order.returns a connection; in recent versions
# returnLineItems holds ReturnLineItemType (hence the fragment). Refund
# updatedAt and return, Return createdAt/closedAt/returnReasonNote:
# unconfirmed (taken from Shopify's reference, not in the contract
# document). Nested lists are kept small: their `first` multiply the cost.
RETURNS_QUERY = f'''
query OrderReturnsSince($first: Int!, $after: String, $q: String!) {{
  orders(first: $first, after: $after, query: $q, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id legacyResourceId name updatedAt currencyCode
      refunds(first: %(refunds)d) {{ id createdAt updatedAt note
        totalRefundedSet {{ {MONEY} }} return {{ id }}
        refundLineItems(first: %(lines)d) {{ pageInfo {{ hasNextPage }}
          nodes {{ quantity restockType restocked lineItem {{ id sku }}
            subtotalSet {{ {MONEY} }} }} }} }}
      returns(first: %(returns)d) {{ nodes {{ id name status createdAt
        closedAt
        returnLineItems(first: %(lines)d) {{ pageInfo {{ hasNextPage }}
          nodes {{ quantity
            ... on ReturnLineItem {{ returnReason returnReasonNote
              fulfillmentLineItem {{ lineItem {{ id sku }} }} }} }} }} }} }}
    }}
  }}
}}'''
# What a refund push reads first: the refunds the order has (their notes
# name the RMA), its lines, and its payments to refund against.
ORDER_REFUNDS_QUERY = f'''
query OrderRefunds($id: ID!) {{
  order(id: $id) {{
    id currencyCode cancelledAt
    refunds(first: 50) {{ id note createdAt }}
    lineItems(first: 250) {{ nodes {{ id sku }} }}
    transactions(first: 50) {{ id kind status gateway
      parentTransaction {{ id }} amountSet {{ {MONEY} }} }}
  }}
}}'''
# %s: the idempotency key, a literal (whether a variable is accepted is
# unconfirmed, §1.4). Mandatory from 2026-04 for refundCreate.
REFUND_MUTATION = '''
mutation Refund($input: RefundInput!) {
  refundCreate(input: $input) @idempotent(key: %s) {
    refund { id createdAt note totalRefundedSet { shopMoney { amount } } }
    userErrors { field message }
  }
}'''
RETURN_ORDERS_PER_PAGE = 5
REFUNDS_PER_ORDER = 10
RETURNS_PER_ORDER = 5
RETURN_LINES = 10
# Payments a refund goes back to (OrderTransactionKind), and what a
# refund of them is.
PAID_KINDS = {'SALE', 'CAPTURE'}

LINES_PER_ORDER = 25  # keeps orders(first × lines) well under the budget
LINES_PER_PAGE = 250
SKUS_PER_LOOKUP = 50
QUANTITIES_PER_CALL = 250  # Shopify's input-array limit
# The most a single query may cost (1000, unconfirmed for current
# versions, §1.2): bounds how many items one stock read asks for.
MAX_QUERY_COST = 1000
STALE = 'CHANGE_FROM_QUANTITY_STALE'


def shopify_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


class CostBudget:
    """Shopify's leaky bucket as last reported (extensions.cost): the
    adapter waits before a query the bucket cannot hold yet, rather than
    spending a call on THROTTLED."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self.clock, self.sleep = clock, sleep
        self.maximum = self.available = self.restore = None
        self.seen = 0.0
        self.lock = threading.Lock()

    def note(self, cost: dict[str, Any]) -> None:
        status = cost.get('throttleStatus') or {}
        if status.get('restoreRate'):
            with self.lock:
                self.maximum = float(status['maximumAvailable'])
                self.available = float(status['currentlyAvailable'])
                self.restore = float(status['restoreRate'])
                self.seen = self.clock()

    def wait_for(self, requested: float | None) -> float:
        "Seconds until the bucket can hold `requested` points"
        with self.lock:
            if not requested or self.restore is None:
                return 0.0
            now_available = min(self.maximum, self.available
                + (self.clock() - self.seen) * self.restore)
            requested = min(requested, self.maximum)
            if now_available >= requested:
                return 0.0
            return (requested - now_available) / self.restore

    def spend(self, requested: float | None) -> None:
        wait = self.wait_for(requested)
        if wait > 0:
            logger.info("shopify: waiting %.2fs for query budget", wait)
            self.sleep(wait)


def throttle_wait(body: dict[str, Any]) -> float | None:
    """Seconds to wait after THROTTLED: the requested cost the bucket lacks,
    over its restore rate (§1.2)."""
    cost = (body.get('extensions') or {}).get('cost') or {}
    status = cost.get('throttleStatus') or {}
    try:
        missing = (float(cost['requestedQueryCost'])
            - float(status['currentlyAvailable']))
        return max(0.0, math.ceil(missing / float(status['restoreRate'])))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def is_throttled(body: dict[str, Any]) -> bool:
    return any(((e or {}).get('extensions') or {}).get('code') == 'THROTTLED'
        for e in body.get('errors') or [] if isinstance(e, dict))


class ShopifyAdapter(Adapter):
    kind = KIND
    sorted_by_update = True
    stock_by_location = True
    default_page_size = 20

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.endpoint = (f'{self.config.base_url.rstrip("/")}/admin/api/'
            f'{self.config.api_version}/graphql.json')
        self.budget = CostBudget(sleep=self.transport.sleep)
        self.requested: dict[str, float] = {}
        self.items: dict[str, str] = self.load_cache('inventory-items')
        self.locations: dict[str, str] | None = None
        # Whether fulfillmentCreate takes @idempotent (unconfirmed): until
        # the shop says otherwise.
        self.idempotent_fulfilments = True

    # -- GraphQL --------------------------------------------------------

    def graphql(self, operation: str, query: str,
            variables: dict[str, Any], attempts: int | None = None
            ) -> dict[str, Any]:
        """The `data` of a query, throttling waited out, errors raised
        (`attempts`: see Transport.call)"""
        self.budget.spend(self.requested.get(operation))
        body = self.transport.call(
            'POST', self.endpoint, self._read,
            throttle_wait=self._throttle_wait_of, attempts=attempts,
            json={'query': query, 'variables': variables},
            headers={
                'X-Shopify-Access-Token': self.credentials['token'],
                'Content-Type': 'application/json',
                })
        requested = ((body.get('extensions') or {}).get('cost') or {}).get(
            'requestedQueryCost')
        if requested:
            self.requested[operation] = float(requested)
        return body['data']

    def _read(self, response: requests.Response) -> dict[str, Any]:
        body = json_body(response)
        if not isinstance(body, dict):
            raise Retryable(f"an answer that is not an object: {body!r:.100}")
        self.budget.note((body.get('extensions') or {}).get('cost') or {})
        if is_throttled(body):
            raise Retryable("THROTTLED", wait=throttle_wait(body))
        if body.get('errors'):
            errors = body['errors']
            if not isinstance(errors, list):
                errors = [errors]  # REST-style: "Not Found", {field: […]}
            raise ChannelError("Shopify refused the query: " + '; '.join(
                    str(e.get('message', e)) if isinstance(e, dict) else str(e)
                    for e in errors))
        if not isinstance(body.get('data'), dict):
            raise Retryable(f"an answer without data: {body!r:.100}")
        if response.status_code >= 400:
            raise ChannelError(f"HTTP {response.status_code}: {body!r:.200}")
        return body

    @staticmethod
    def _throttle_wait_of(response: requests.Response) -> float | None:
        try:
            return throttle_wait(response.json())
        except ValueError:
            return None

    # -- Orders ---------------------------------------------------------

    def fetch_orders(self, since: dt.datetime | None
            ) -> Iterator[OrderPage]:
        """Pages of order nodes updated since `since`, oldest first, each
        with all its line items."""
        for nodes in self._order_pages('orders', ORDERS_QUERY, since, {
                    'first': self.page_size, 'lines': LINES_PER_ORDER}):
            for node in nodes:
                self._complete_lines(node)
            yield OrderPage(nodes)

    def _order_pages(self, operation: str, query: str,
            since: dt.datetime | None, variables: dict[str, Any]
            ) -> Iterator[list[dict[str, Any]]]:
        "The nodes of an orders query updated since `since`, page by page"
        search = f"updated_at:>='{shopify_time(since)}'" if since else ''
        after = None
        while True:
            data = self.graphql(operation, query, {
                    **variables, 'after': after, 'q': search})
            orders = data['orders']
            nodes = orders.get('nodes') or [
                e['node'] for e in orders.get('edges') or []]
            yield nodes
            page = orders.get('pageInfo') or {}
            if not page.get('hasNextPage') or not nodes:
                return
            after = page['endCursor']

    def _complete_lines(self, node: dict[str, Any]) -> None:
        "Fetch the line items beyond the first page into the node"
        lines = node.get('lineItems') or {}
        page = lines.get('pageInfo') or {}
        while page.get('hasNextPage'):
            data = self.graphql('order', LINE_ITEMS_QUERY, {
                    'id': node['id'], 'after': page['endCursor'],
                    'first': LINES_PER_PAGE})
            more = (data.get('order') or {}).get('lineItems') or {}
            lines.setdefault('nodes', []).extend(more.get('nodes') or [])
            page = more.get('pageInfo') or {}
        lines['pageInfo'] = {'hasNextPage': False}

    # -- Stock ----------------------------------------------------------

    def push_stock(self, updates: list[StockUpdate]) -> list[StockResult]:
        """Set each SKU's available quantity at its location, 250 a call,
        compare-and-set from the quantity the channel is expected to
        show."""
        results: list[StockResult] = []
        ready = []
        for update, item, location, error in self._resolve(updates):
            if error:
                results.append(StockResult(update, error))
            else:
                ready.append((update, item, location))
        for chunk in chunks(ready, QUANTITIES_PER_CALL):
            results += self._set_quantities(chunk)
        return results

    def read_stock(self, updates: list[StockUpdate]
            ) -> dict[StockKey, int | None]:
        """The available quantity of each update's SKU at its location
        (None where the item is not stocked there), items read by id a
        query, as many a query as the cost cap allows for the shop's
        locations."""
        wanted: dict[str, list[tuple[StockKey, str]]] = {}
        for update, item, location, error in self._resolve(updates):
            if not error:
                wanted.setdefault(item, []).append((update.key, location))
        if not wanted:
            return {}
        levels = max(1, len(set(self.locations.values())))
        # Each item costs itself and its levels (a rough, safe estimate).
        per_query = max(1, min(SKUS_PER_LOOKUP,
                (MAX_QUERY_COST - 1) // (1 + 2 * levels)))
        found: dict[StockKey, int | None] = {}
        for chunk in chunks(sorted(wanted), per_query):
            data = self.graphql('inventoryItems', READ_STOCK_QUERY, {
                    'q': ' OR '.join(f'id:{gid_id(i)}' for i in chunk),
                    'first': len(chunk), 'levels': levels})
            for node in _connection(data['inventoryItems']):
                levels_read = node.get('inventoryLevels') or {}
                shown = {level['location']['id']: _available(level)
                    for level in _connection(levels_read)}
                # A location added since the locations were read may hide
                # the one wanted on a next page: then it is not known.
                cut = (levels_read.get('pageInfo') or {}).get('hasNextPage')
                for key, location in wanted.get(node.get('id'), ()):
                    if location in shown or not cut:
                        found[key] = shown.get(location)
        return found

    def _resolve(self, updates: list[StockUpdate]
            ) -> Iterator[tuple[StockUpdate, str | None, str | None,
                str | None]]:
        "Each update with its inventory item and location id, or an error"
        items = self.inventory_items([u.sku for u in updates])
        for update in updates:
            location, error = self.location(update.location)
            if update.sku not in items:
                error = "no Shopify variant has this SKU"
            yield update, items.get(update.sku), location, error

    def _set_quantities(self, chunk: list[tuple[StockUpdate, str, str]]
            ) -> list[StockResult]:
        """One call for the chunk; when Shopify refuses some items (the
        mutation applies all or nothing), the refused ones are reported and
        the rest sent again under a new key."""
        results: list[StockResult] = []
        fresh_keys = 1
        while chunk:
            errors = self._set_call(chunk)
            if not errors:
                return results + [StockResult(u) for u, _, _ in chunk]
            failed: dict[int, str] = {}
            for error in errors:
                index = _quantity_index(error.get('field'))
                code = error.get('code') or ''
                message = f"{code}: {error.get('message')}"
                if index is None or index >= len(chunk):
                    if code.startswith('IDEMPOTENCY_') and fresh_keys:
                        # An earlier attempt with that key failed or is in
                        # flight: one more try under a new key.
                        fresh_keys -= 1
                        break
                    return results + [StockResult(u, message)
                        for u, _, _ in chunk]
                update = chunk[index][0]
                if code == STALE:
                    # Most likely a sale the ERP has not imported yet:
                    # setting the ERP's figure over it would offer that
                    # unit again. The level stays pending until the import
                    # (or a reconciliation, which reads first) catches up.
                    message = (f"{code}: Shopify no longer shows "
                        f"{update.previous} at this location")
                elif code == 'INVALID_INVENTORY_ITEM':
                    self._forget(update.sku)
                failed[index] = message
            results += [StockResult(chunk[i][0], message,
                    stale=message.startswith(STALE))
                for i, message in failed.items()]
            chunk = [c for i, c in enumerate(chunk) if i not in failed]
        return results

    def _set_call(self, chunk: list[tuple[StockUpdate, str, str]]
            ) -> list[dict[str, Any]]:
        "One inventorySetQuantities call; its userErrors"
        quantities = [{
                'inventoryItemId': item, 'locationId': location,
                'quantity': update.quantity,
                # Explicit null opts out of the check (2026-04 requires
                # the key either way).
                'changeFromQuantity': update.previous,
                } for update, item, location in chunk]
        key = str(uuid.uuid4())  # one per logical push: retries reuse it
        data = self.graphql('inventorySetQuantities',
            SET_STOCK_MUTATION % key, {'input': {
                    'name': 'available', 'reason': 'correction',
                    'referenceDocumentUri': f'gid://oms-sync/StockPush/{key}',
                    'quantities': quantities}})
        return (data.get('inventorySetQuantities') or {}).get(
            'userErrors') or []

    def inventory_items(self, skus: list[str]) -> dict[str, str]:
        "SKU → inventory item id, looked up once and cached across runs"
        missing = self.to_look_up(s for s in skus if s not in self.items)
        for chunk in chunks(missing, SKUS_PER_LOOKUP):
            query = ' OR '.join(f'sku:{_search_value(s)}' for s in chunk)
            data = self.graphql('productVariants', VARIANTS_QUERY, {
                    'q': query, 'first': 250})
            for variant in data['productVariants'].get('nodes') or []:
                if variant.get('sku') in chunk and variant.get(
                        'inventoryItem'):
                    self.items[variant['sku']] = variant['inventoryItem'][
                        'id']
        if missing:
            self.not_found(s for s in missing if s not in self.items)
            self.store_cache('inventory-items', self.items)
        return {s: self.items[s] for s in skus if s in self.items}

    def _forget(self, sku: str) -> None:
        if self.items.pop(sku, None):
            self.store_cache('inventory-items', self.items)

    def location(self, wanted: str | None) -> tuple[str | None, str | None]:
        "The location id for a location name or id; or why there is none"
        if self.locations is None:
            data = self.graphql('locations', LOCATIONS_QUERY, {})
            self.locations = {}
            for node in data['locations'].get('nodes') or []:
                self.locations[node['id']] = node['id']
                self.locations.setdefault(node['name'], node['id'])
        ids = set(self.locations.values())
        if wanted is None:
            if len(ids) == 1:
                return next(iter(ids)), None
            if not ids:
                return None, "the shop has no location"
            return None, (
                "the shop has several locations: map the ERP warehouse to "
                "one in the mapping file (warehouses:)")
        if wanted in self.locations:
            return self.locations[wanted], None
        return None, f"the shop has no location {wanted!r}"

    # -- Fulfilments ----------------------------------------------------

    def push_fulfilment(self, update: FulfilmentUpdate) -> FulfilmentResult:
        """Fulfil the shipment's units on the order's fulfillment orders,
        one fulfillmentCreate per location, with its tracking. Read before
        write: units already shipped under this tracking number, or with
        nothing left to fulfil, are not shipped again."""
        order_id = (update.order_id if update.order_id.startswith('gid://')
            else f'gid://shopify/Order/{update.order_id}')
        data = self.graphql(
            'orderFulfilment', ORDER_FULFILMENT_QUERY, {'id': order_id})
        order = data.get('order')
        if order is None:
            return FulfilmentResult(
                error=f"Shopify has no order {update.order_id}")
        if order.get('cancelledAt'):
            return FulfilmentResult(error=(
                    "the Shopify order is cancelled: not marked shipped"))
        plan = plan_fulfilment(update, order)
        if plan.error:
            return FulfilmentResult(error=plan.error)
        if not plan.by_location:
            return FulfilmentResult(external_id=plan.existing, already=True)
        tracking = {name: value for name, value in (
                ('company', update.carrier),
                ('number', update.tracking_number),
                ('url', update.tracking_url)) if value}
        created: list[str] = []
        for groups in plan.by_location.values():
            values: dict[str, Any] = {
                'notifyCustomer': update.notify_customer,
                'lineItemsByFulfillmentOrder': groups}
            if tracking:
                values['trackingInfo'] = tracking
            answer = self._fulfillment_create(update.key, values)
            errors = answer.get('userErrors') or []
            if errors or not answer.get('fulfillment'):
                error = "Shopify refused the fulfilment: " + ('; '.join(
                        str(e.get('message')) for e in errors)
                    or "no fulfillment in its answer")
                if created:
                    error += f" (created at other locations: " \
                        f"{', '.join(created)})"
                return FulfilmentResult(error=error)
            created.append(answer['fulfillment']['id'])
        return FulfilmentResult(external_id=','.join(created))

    # -- Refunds and returns --------------------------------------------

    def fetch_returns(self, since: dt.datetime | None
            ) -> Iterator[ReturnPage]:
        """Pages of the orders updated since `since` (a refund or a return
        bumps its order's updatedAt, §1.6), oldest first, with their
        refunds and returns only. Few orders a page: the nested lists
        multiply the query's cost."""
        query = RETURNS_QUERY % {'refunds': REFUNDS_PER_ORDER,
            'returns': RETURNS_PER_ORDER, 'lines': RETURN_LINES}
        for nodes in self._order_pages('orderReturns', query, since, {
                    'first': min(self.page_size, RETURN_ORDERS_PER_PAGE)}):
            times = [utc(n['updatedAt'], 'updatedAt') for n in nodes
                if n.get('updatedAt')]
            yield ReturnPage(nodes, max(times) if times else None)

    def push_refund(self, update: RefundUpdate) -> RefundResult:
        """Refund on the order with refundCreate: its lines (by line id,
        else SKU) not restocked (the ERP owns stock and pushes levels
        itself), the amount back to the order's payments. Read before
        write: a refund whose note names the RMA is the one made by an
        earlier push; and the idempotency key answers a call retried after
        a lost answer."""
        order_id = (update.order_id if update.order_id.startswith('gid://')
            else f'gid://shopify/Order/{update.order_id}')
        data = self.graphql(
            'orderRefunds', ORDER_REFUNDS_QUERY, {'id': order_id})
        order = data.get('order')
        if order is None:
            return RefundResult(
                error=f"Shopify has no order {update.order_id}")
        made = [r for r in order.get('refunds') or []
            if update.noted_in(r.get('note'))]
        if made:
            return RefundResult(external_id=made[-1]['id'], already=True)
        if update.currency != order.get('currencyCode'):
            # Multi-currency refunds (RefundInput.currency, presentment
            # amounts) are not handled: unconfirmed.
            return RefundResult(error=(f"the refund is in "
                    f"{update.currency}, the Shopify order in "
                    f"{order.get('currencyCode')}"))
        lines, problems = [], []
        order_lines = _connection(order.get('lineItems'))
        for item in update.items:
            matches = _line_matcher(item, order_lines)
            line = next(filter(matches, order_lines), None) if matches \
                else None
            if line is None:
                problems.append(f"the Shopify order has no line {item.name}")
                continue
            lines.append({'lineItemId': line['id'], 'quantity': item.quantity,
                'restockType': 'NO_RESTOCK'})
        transactions, error = refund_transactions(order, update.amount)
        if error:
            problems.append(error)
        if problems:
            return RefundResult(error='; '.join(problems))
        values = {'orderId': order['id'], 'note': update.note,
            'notify': update.notify_customer, 'refundLineItems': lines,
            'transactions': transactions}
        # A new key for each failed push (Shopify answers a key whose
        # attempt failed with IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED), and
        # for what is sent (a mismatch would jam it); read-before-write
        # guards the pushes between.
        digest = hashlib.sha256(json.dumps(
                values, sort_keys=True).encode()).hexdigest()[:16]
        key = f'{update.key}-{update.attempt}-{digest}'
        data = self.graphql('refundCreate',
            REFUND_MUTATION % json.dumps(key), {'input': values})
        answer = data.get('refundCreate') or {}
        errors = answer.get('userErrors') or []
        if errors or not answer.get('refund'):
            return RefundResult(error="Shopify refused the refund: " + (
                    '; '.join(str(e.get('message')) for e in errors)
                    or "no refund in its answer"))
        return RefundResult(external_id=answer['refund']['id'])

    def _fulfillment_create(self, key: str, values: dict[str, Any]
            ) -> dict[str, Any]:
        """One fulfillmentCreate; its payload. The idempotency key is the
        ERP's key with a digest of what is sent: a call retried after a
        lost answer is answered, not applied twice; a push planned anew
        from what the order shows since (read-before-write) is a new
        request, so a change on the order never jams it on a key mismatch."""
        directive = ''
        if self.idempotent_fulfilments:
            digest = hashlib.sha256(json.dumps(
                    values, sort_keys=True).encode()).hexdigest()[:16]
            directive = f' @idempotent(key: {json.dumps(f"{key}-{digest}")})'
        try:
            # Without a key, a lost answer is not sent again blindly: the
            # job's next run reads what the order shows first.
            data = self.graphql('fulfillmentCreate',
                FULFILMENT_MUTATION % directive, {'fulfillment': values},
                attempts=None if directive else 1)
        except (AuthError, GaveUp):
            raise
        except ChannelError as error:
            if not directive or 'idempotent' not in str(error).lower():
                raise
            logger.warning("%s: the shop refuses @idempotent on "
                "fulfillmentCreate (%s): sent without it", self, error)
            self.idempotent_fulfilments = False
            return self._fulfillment_create(key, values)
        return data.get('fulfillmentCreate') or {}


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
    fulfillments = _active_fulfillments(order)
    tracked = [f for f in fulfillments if update.tracking_number
        and update.tracking_number in {t.get('number')
            for t in f.get('trackingInfo') or []}]
    # [line item, units not yet claimed by an item of this update]
    shipped = [[entry.get('lineItem') or {}, entry.get('quantity') or 0]
        for f in tracked
        for entry in _connection(f.get('fulfillmentLineItems'))]
    open_items, blocked_items = [], []
    for fo in _connection(order.get('fulfillmentOrders')):
        can = {'action': 'CREATE_FULFILLMENT'} in (
            fo.get('supportedActions') or [])
        for entry in _connection(fo.get('lineItems')):
            slot = [fo, entry, entry.get('remainingQuantity') or 0]
            (open_items if can else blocked_items).append(slot)
    every_line = ([slot[1].get('lineItem') or {}
            for slot in open_items + blocked_items]
        + [line for line, _ in shipped])
    taken: dict[str, dict[str, int]] = {}  # FO id → FO line item id → units
    location_of: dict[str, str] = {}
    problems = []
    for item in update.items:
        matches = _line_matcher(item, every_line)
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
        transactions = _connection(transactions)
    refunded: dict[str, Decimal] = {}
    for t in transactions:
        parent = (t.get('parentTransaction') or {}).get('id')
        if t.get('kind') == 'REFUND' and t.get('status') == 'SUCCESS' \
                and parent:
            refunded[parent] = refunded.get(parent, Decimal(0)) + (
                _shop_money(t.get('amountSet'), 'amountSet'))
    result, wanted = [], amount
    for t in transactions:
        if t.get('kind') not in PAID_KINDS or t.get('status') != 'SUCCESS':
            continue
        left = _shop_money(t.get('amountSet'), 'amountSet') - refunded.get(
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
    entries = _connection(fulfillment.get('fulfillmentLineItems'))
    for item in items:
        matches = _line_matcher(item, lines)
        if matches is None or sum(e.get('quantity') or 0 for e in entries
                if matches(e.get('lineItem') or {})) != item.quantity:
            return False
    return sum(e.get('quantity') or 0 for e in entries) == sum(
        item.quantity for item in items)


def _line_matcher(item: FulfilmentItem, lines: list[dict[str, Any]]
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


def _available(level: dict[str, Any]) -> int | None:
    "The `available` quantity of an inventory level node"
    for quantity in level.get('quantities') or []:
        if quantity.get('name') == 'available':
            return quantity.get('quantity')
    return None


def _quantity_index(field: Any) -> int | None:
    "The quantity a userError is about: field [input, quantities, N, …]"
    if isinstance(field, list) and len(field) >= 3 and field[1] in {
            'quantities', 'setQuantities'}:
        try:
            return int(field[2])
        except (TypeError, ValueError):
            return None
    return None


def _search_value(value: str) -> str:
    "A value in Shopify's search syntax, quoted when it needs to be"
    if value and all(c.isalnum() or c in '-_.' for c in value):
        return value
    return '"' + value.replace('\\', '\\\\').replace('"', '\\"') + '"'
