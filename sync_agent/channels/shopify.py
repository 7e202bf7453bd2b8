"""Shopify (Admin GraphQL API; marketplace-apis.md §1).

So far: ``normalize_order``, reading an order node as the ``orders`` and
``order`` queries return it (lineItems as ``nodes`` or ``edges``), and the
legacy REST order shape (§1.8) that older stores and webhooks still send.
The adapter (cost throttling, paging, inventory) comes with the agent issue.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..models import Address, Customer, Order, OrderLine, OrderStatus
from .payload import PayloadError, full_name, money, street, text, utc

KIND = 'shopify'

PENDING = {'PENDING', 'AUTHORIZED', 'PARTIALLY_PAID'}
PAYMENT_FAILED = {'VOIDED', 'EXPIRED'}


def status(financial: str | None, fulfillment: str | None,
        cancelled: bool, closed: bool) -> OrderStatus:
    """The canonical status (§1.7). Statuses are compared upper-case, as
    GraphQL serves them (REST serves them lower-case)."""
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
        return OrderStatus.completed if closed else OrderStatus.shipped
    if fulfillment in {'PARTIALLY_FULFILLED', 'PARTIAL'}:
        return OrderStatus.partially_shipped
    return OrderStatus.awaiting_shipment


def gid_id(value: Any) -> str:
    "The numeric id of a GraphQL global id (gid://shopify/Order/42 → 42)"
    return str(value).rsplit('/', 1)[-1]


def normalize_order(raw: dict[str, Any], channel: str | None = None) -> Order:
    """The canonical order of a Shopify order payload (GraphQL node or
    REST order). Raises PayloadError naming the field it cannot read."""
    if 'line_items' in raw or 'financial_status' in raw:
        return _normalize_rest(raw, channel)
    return _normalize_graphql(raw, channel)


def _shop_money(value: dict | None, field: str) -> Decimal:
    "A MoneyBag's shop-currency amount (GraphQL shopMoney, REST shop_money)"
    bag = (value or {}).get('shopMoney') or (value or {}).get('shop_money')
    if not bag:
        raise PayloadError(f"{field} is missing")
    return money(bag.get('amount'), field)


def _normalize_graphql(raw: dict[str, Any], channel: str | None) -> Order:
    order_id = gid_id(raw.get('legacyResourceId') or raw['id'])
    created = utc(raw.get('createdAt'), 'createdAt')
    customer = raw.get('customer') or {}
    address = raw.get('shippingAddress')
    name = (full_name(customer.get('firstName'), customer.get('lastName'))
        or text((address or {}).get('name')) or text(raw.get('email'))
        or f"Shopify customer {order_id}")
    state = status(raw.get('displayFinancialStatus'),
        raw.get('displayFulfillmentStatus'),
        bool(raw.get('cancelledAt')), bool(raw.get('closed')))
    lines = _graphql_lines(raw, order_id, _is_open(state))
    total = _shop_money(raw.get('totalPriceSet'), 'totalPriceSet')
    if raw.get('totalShippingPriceSet'):
        shipping = _shop_money(
            raw['totalShippingPriceSet'], 'totalShippingPriceSet')
    else:
        shipping = sum((_shop_money(s.get('originalPriceSet'),
                        'shippingLines.originalPriceSet')
                for s in _connection(raw.get('shippingLines'))), Decimal(0))
    return Order(
        channel=channel or KIND,
        kind=KIND,
        external_id=order_id,
        number=raw.get('name') or order_id,
        status=state,
        created_at=created,
        updated_at=(utc(raw['updatedAt'], 'updatedAt')
            if raw.get('updatedAt') else created),
        currency=(raw.get('currencyCode')
            or raw['totalPriceSet']['shopMoney'].get('currencyCode') or ''),
        total=total,
        shipping_price=shipping,
        customer=Customer(
            external_id=gid_id(customer['id']) if customer.get('id') else None,
            name=name,
            email=text(raw.get('email') or customer.get('email')),
            phone=text(raw.get('phone') or customer.get('phone'))),
        shipping_address=_address(address, name, 'countryCodeV2',
            'provinceCode', 'address1', 'address2'),
        lines=lines,
        notes=text(raw.get('note')),
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


def _address(address: dict | None, name: str, country: str,
        province: str, line1: str, line2: str) -> Address | None:
    if not address:
        return None
    return Address(
        name=text(address.get('name')) or full_name(
            address.get('first_name') or address.get('firstName'),
            address.get('last_name') or address.get('lastName')) or name,
        street=street(address.get(line1), address.get(line2)),
        city=address.get('city') or '',
        zip=address.get('zip') or '',
        country_code=(address.get(country) or '').upper(),
        subdivision=text(address.get(province)),
        phone=text(address.get('phone')))


def _normalize_rest(raw: dict[str, Any], channel: str | None) -> Order:
    order_id = str(raw['id'])
    created = utc(raw.get('created_at'), 'created_at')
    customer = raw.get('customer') or {}
    address = raw.get('shipping_address')
    name = (full_name(customer.get('first_name'), customer.get('last_name'))
        or text((address or {}).get('name')) or text(raw.get('email'))
        or f"Shopify customer {order_id}")
    if raw.get('total_shipping_price_set'):
        shipping = _shop_money(
            raw['total_shipping_price_set'], 'total_shipping_price_set')
    else:
        shipping = sum((money(s.get('price'), 'shipping_lines.price')
                for s in raw.get('shipping_lines') or []), Decimal(0))
    state = status(raw.get('financial_status'), raw.get('fulfillment_status'),
        bool(raw.get('cancelled_at')), bool(raw.get('closed_at')))
    lines = []
    for position, item in enumerate(raw.get('line_items') or []):
        quantity = item.get('quantity')
        if _is_open(state) and item.get('current_quantity') is not None:
            quantity = item['current_quantity']
        if quantity == 0:
            continue
        field = f'line_items[{position}]'
        lines.append(_order_line(
            item['id'], item.get('sku'), item.get('name') or item.get(
                'title'), quantity, money(item.get('price'),
                f'{field}.price'), field))
    return Order(
        channel=channel or KIND,
        kind=KIND,
        external_id=order_id,
        number=raw.get('name') or order_id,
        status=state,
        created_at=created,
        updated_at=(utc(raw['updated_at'], 'updated_at')
            if raw.get('updated_at') else created),
        currency=raw.get('currency') or '',
        total=money(raw.get('total_price'), 'total_price'),
        shipping_price=shipping,
        customer=Customer(
            external_id=str(customer['id']) if customer.get('id') else None,
            name=name,
            email=text(raw.get('email') or customer.get('email')),
            phone=text(raw.get('phone') or customer.get('phone'))),
        shipping_address=_address(address, name, 'country_code',
            'province_code', 'address1', 'address2'),
        lines=lines,
        notes=text(raw.get('note')),
        raw=raw)
