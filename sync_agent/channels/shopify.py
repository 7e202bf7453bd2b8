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
        bool(node.get('cancelledAt')), bool(node.get('closed')))
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
        'lineItems': {'nodes': [{
                    'id': str(item['id']),
                    'sku': item.get('sku'),
                    'name': item.get('name') or item.get('title'),
                    'quantity': item.get('quantity'),
                    'currentQuantity': item.get('current_quantity'),
                    'originalUnitPriceSet': shop_money(item.get('price')),
                    } for item in rest.get('line_items') or []]},
        }
