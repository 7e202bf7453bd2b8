"""Shopify's payloads read into the canonical order and returns
(marketplace-apis.md §1.3, §1.6, §1.8): pure functions, no HTTP.

``normalize_order`` reads an order node as the ``orders`` and ``order``
queries return it (lineItems as ``nodes`` or ``edges``), and the legacy
REST order shape (§1.8) that older stores and webhooks still send.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from oms_contract.models import (
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

from ..payload import (
    PayloadError,
    Unreadable,
    full_name,
    money,
    read_each,
    street,
    text,
    utc,
)
from .queries import RETURN_LINES

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


def active_fulfillments(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in connection_nodes(node.get('fulfillments'))
        if (f.get('status') or '').upper() not in VOID_FULFILLMENTS]


def delivered(node: dict[str, Any]) -> bool:
    """Whether the order has fulfillments and every one was delivered.
    Fulfillment.displayStatus DELIVERED is **unconfirmed** (§1.7, §9): a
    shop that never shows it keeps its orders shipped until closed."""
    fulfillments = active_fulfillments(node)
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


def shop_amount(value: dict | None, field: str) -> Decimal:
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
    total = shop_amount(node.get('totalPriceSet'), 'totalPriceSet')
    if node.get('totalShippingPriceSet'):
        shipping = shop_amount(
            node['totalShippingPriceSet'], 'totalShippingPriceSet')
    else:
        shipping = sum((shop_amount(s.get('originalPriceSet'),
                        'shippingLines.originalPriceSet')
                for s in connection_nodes(node.get('shippingLines'))),
        Decimal(0))
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


def connection_nodes(value: Any) -> list[dict]:
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
    items = connection_nodes(raw.get('lineItems'))
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
            price = shop_amount(price_set, f'{field}.originalUnitPriceSet')
        elif len(items) == 1 and raw.get('subtotalPriceSet') and quantity:
            # The only line makes the whole subtotal.
            price = shop_amount(
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
    returns = read_each(connection_nodes(raw.get('returns')),
        lambda node: _return(node, order_id, channel, order_updated),
        lambda node: ('return', node.get('id'), order_id), problems)
    return refunds + returns


def _refund(refund: dict[str, Any], order_id: str, channel: str | None,
        currency: str | None) -> ChannelReturn:
    created = utc(refund.get('createdAt'), 'refund.createdAt')
    lines = []
    for position, item in enumerate(connection_nodes(
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
                amount=abs(shop_amount(subtotal, f'{field}.subtotalSet'))
                if subtotal else None))
    _truncated(refund.get('refundLineItems'), 'refundLineItems')
    return ChannelReturn(
        channel=channel or KIND, kind=ReturnKind.refund,
        external_id=refund['id'], order_external_id=order_id,
        status=ReturnStatus.refunded, created_at=created,
        updated_at=utc(refund['updatedAt'], 'refund.updatedAt')
        if refund.get('updatedAt') else created,
        currency=currency,
        amount=abs(shop_amount(refund.get('totalRefundedSet'),
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
    for item in connection_nodes(node.get('returnLineItems')):
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

