"""WooCommerce's payloads read into the canonical order and returns
(marketplace-apis.md §2.2, §2.3, §2.6): pure functions, no HTTP.
"""
from __future__ import annotations

import html
import re
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

KIND = 'woocommerce'

# WooCommerce has no shipped/delivered states in core: "completed" means
# fulfilled (the agent itself completes an order when it ships), so it
# reads as shipped; the ERP completes the order some days later. A mapping
# file may read it otherwise (statuses: {completed: completed}). "failed"
# and "on-hold" still await (another) payment.
STATUSES = {
    'pending': OrderStatus.pending_payment,
    'failed': OrderStatus.pending_payment,
    'on-hold': OrderStatus.pending_payment,
    'checkout-draft': OrderStatus.pending_payment,
    'processing': OrderStatus.awaiting_shipment,
    'completed': OrderStatus.shipped,
    'cancelled': OrderStatus.cancelled,
    'trash': OrderStatus.cancelled,
    'refunded': OrderStatus.refunded,
    }


CHANNEL_STATUSES = set(STATUSES)


def channel_status(raw: dict[str, Any]) -> str:
    "The order's status in WooCommerce's words (for `statuses:` mappings)"
    return str(raw.get('status') or '')


def external_id(raw: dict[str, Any]) -> str | None:
    "The order's id, read as leniently as possible (for rejected orders)"
    return str(raw['id']) if raw.get('id') not in (None, '') else None


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


def normalize_returns(raw: dict[str, Any], channel: str | None = None,
        problems: list[Unreadable] | None = None) -> list[ChannelReturn]:
    """The refund of a refund payload (§2.6): ``GET /refunds`` serves its
    order as parent_id, the per-order list only in its `up` link. Line
    quantities and totals come negative (unconfirmed in the contract;
    served so): their size is read. Raises PayloadError naming the field
    it cannot read; or, given `problems`, notes it there and returns
    nothing."""
    return read_each([raw], lambda refund: _refund(refund, channel),
        lambda refund: ('refund', refund.get('id'), _parent_id(refund)),
        problems)


def _parent_id(refund: dict[str, Any]) -> str | None:
    "The refund's order: parent_id, else the order its `up` link names"
    if refund.get('parent_id'):
        return str(refund['parent_id'])
    for link in (refund.get('_links') or {}).get('up') or []:
        match = re.search(r'/orders/(\d+)/?$', str(link.get('href')))
        if match:
            return match.group(1)
    return None


def _refund(refund: dict[str, Any], channel: str | None) -> ChannelReturn:
    order_id = _parent_id(refund)
    if order_id is None:
        raise PayloadError("parent_id is missing")
    created = utc(refund.get('date_created_gmt'), 'date_created_gmt',
        naive_is_utc=True)
    lines = []
    for position, item in enumerate(refund.get('line_items') or []):
        field = f'line_items[{position}]'
        quantity = item.get('quantity')
        if not isinstance(quantity, int):
            raise PayloadError(
                f"{field}.quantity is not an integer: {quantity!r}")
        if not quantity:
            continue  # money back on a line, no units: the amount says it
        # The order line refunded (the refund's own line has its own id).
        refunded = next((m.get('value') for m in item.get('meta_data') or []
                if m.get('key') == '_refunded_item_id'), None)
        lines.append(ReturnLine(
                line_external_id=str(refunded) if refunded else None,
                sku=text(item.get('sku')), quantity=abs(quantity),
                amount=abs(money(item['total'], f'{field}.total'))
                if item.get('total') not in (None, '') else None))
    return ChannelReturn(
        channel=channel or KIND, kind=ReturnKind.refund,
        external_id=str(refund['id']), order_external_id=order_id,
        status=ReturnStatus.refunded, created_at=created,
        # Refunds are not edited in WooCommerce: created is their last
        # change, unless a modified date is served.
        updated_at=utc(refund['date_modified_gmt'], 'date_modified_gmt',
            naive_is_utc=True) if refund.get('date_modified_gmt')
        else created,
        amount=abs(money(refund.get('amount'), 'amount')),
        reason=text(refund.get('reason')), lines=lines, raw=refund)


