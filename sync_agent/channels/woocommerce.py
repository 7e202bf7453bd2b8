"""WooCommerce (REST API v3, ``/wp-json/wc/v3``).

So far: ``normalize_order``, reading an order as ``GET /orders`` returns it
(marketplace-apis.md §2.2, §2.3). The adapter (paging, batch stock
updates, auth) comes with the agent issue.
"""
from __future__ import annotations

import html
from typing import Any

from ..models import Address, Customer, Order, OrderLine, OrderStatus
from .payload import PayloadError, full_name, money, street, text, utc

KIND = 'woocommerce'

# WooCommerce has no shipped/delivered states in core: "completed" is the
# end of its road. "failed" and "on-hold" still await (another) payment.
STATUSES = {
    'pending': OrderStatus.pending_payment,
    'failed': OrderStatus.pending_payment,
    'on-hold': OrderStatus.pending_payment,
    'checkout-draft': OrderStatus.pending_payment,
    'processing': OrderStatus.awaiting_shipment,
    'completed': OrderStatus.completed,
    'cancelled': OrderStatus.cancelled,
    'trash': OrderStatus.cancelled,
    'refunded': OrderStatus.refunded,
    }


def normalize_order(raw: dict[str, Any], channel: str | None = None) -> Order:
    """The canonical order of a WooCommerce order payload. `channel` is the
    channel's code (the kind when not given). Raises PayloadError naming
    the field it cannot read."""
    status = STATUSES.get(raw.get('status'))
    if status is None:
        raise PayloadError(f"status {raw.get('status')!r} is unknown")
    # The *_gmt fields are UTC without an offset (dates_are_gmt).
    created = utc(raw.get('date_created_gmt'), 'date_created_gmt',
        naive_is_utc=True)
    modified = (utc(raw['date_modified_gmt'], 'date_modified_gmt',
            naive_is_utc=True)
        if raw.get('date_modified_gmt') else created)
    billing = raw.get('billing') or {}
    return Order(
        channel=channel or KIND,
        kind=KIND,
        external_id=str(raw['id']),
        number=str(raw.get('number') or raw['id']),
        status=status,
        created_at=created,
        updated_at=modified,
        currency=raw.get('currency') or '',
        total=money(raw.get('total'), 'total'),
        shipping_price=money(raw.get('shipping_total') or 0,
            'shipping_total'),
        customer=Customer(
            # Guests have customer_id 0: no id to bind them by.
            external_id=str(raw['customer_id'])
            if raw.get('customer_id') else None,
            name=full_name(billing.get('first_name'),
                billing.get('last_name'))
            or text(billing.get('company')) or text(billing.get('email'))
            or f"WooCommerce customer {raw['id']}",
            email=text(billing.get('email')),
            phone=text(billing.get('phone'))),
        shipping_address=_address(raw),
        lines=[_line(item, n) for n, item in enumerate(
                raw.get('line_items') or [], 1)],
        notes=text(raw.get('customer_note')),
        raw=raw)


def _address(raw: dict[str, Any]) -> Address | None:
    "The shipping address, else the billing one; None when neither is set"
    for kind in ('shipping', 'billing'):
        address = raw.get(kind) or {}
        if address.get('address_1') or address.get('city'):
            return Address(
                name=full_name(address.get('first_name'),
                    address.get('last_name'))
                or text(address.get('company')) or '',
                street=street(address.get('address_1'),
                    address.get('address_2')),
                city=address.get('city') or '',
                zip=address.get('postcode') or '',
                country_code=(address.get('country') or '').upper(),
                subdivision=text(address.get('state')),
                phone=text(address.get('phone')))
    return None


def _line(item: dict[str, Any], position: int) -> OrderLine:
    quantity = item.get('quantity')
    if not isinstance(quantity, int) or quantity <= 0:
        raise PayloadError(
            f"line_items[{position - 1}].quantity is not a positive "
            f"integer: {quantity!r}")
    # `price` is documented as a string but served as a number; it is the
    # line total after discounts over the quantity.
    price = item.get('price')
    if price is None:
        price = money(item.get('total'), f'line_items[{position - 1}].total'
            ) / quantity
    return OrderLine(
        external_id=str(item['id']),
        sku=text(item.get('sku')),
        # WooCommerce serves product names HTML-escaped ("&ndash;").
        title=html.unescape(item.get('name') or ''),
        quantity=quantity,
        unit_price=money(price, f'line_items[{position - 1}].price'))
