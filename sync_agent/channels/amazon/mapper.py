"""Amazon's payloads read into the canonical order and refunds
(marketplace-apis.md §3.2, §3.3, §3.6): pure functions, no HTTP.

``normalize_order`` reads both order APIs:
- Orders v2026-01-01: an order as ``searchOrders`` or ``getOrder`` serves
  it (camelCase, ``orderItems`` inside, a unit price per item);
- Orders v0: the ``getOrder``/``getOrders`` order (PascalCase) with its
  ``getOrderItems`` list put inline as ``OrderItems`` by the adapter (and,
  when read with a Restricted Data Token, ``ShippingAddress`` and
  ``BuyerInfo`` in full). v0's ``ItemPrice`` is the line's total: the unit
  price is that total over the quantity, exact where it divides.

``normalize_returns`` reads a Finances API refund event (``RefundEventList``
item, ShipmentEvent-shaped).
"""
from __future__ import annotations

import hashlib
import json
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
    money,
    read_each,
    street,
    text,
    utc,
)

KIND = 'amazon'

# §3.3, both APIs' words. Unfulfillable (a multi-channel FBA order Amazon
# cannot fill) is held, as an order needing a person.
STATUSES = {
    'PendingAvailability': OrderStatus.pending_payment,
    'Pending': OrderStatus.pending_payment,
    'Unshipped': OrderStatus.awaiting_shipment,
    'PartiallyShipped': OrderStatus.partially_shipped,
    'Shipped': OrderStatus.shipped,
    'InvoiceUnconfirmed': OrderStatus.shipped,
    'Canceled': OrderStatus.cancelled,
    'Unfulfillable': OrderStatus.awaiting_shipment,
    'PENDING_AVAILABILITY': OrderStatus.pending_payment,
    'PENDING': OrderStatus.pending_payment,
    'UNSHIPPED': OrderStatus.awaiting_shipment,
    'PARTIALLY_SHIPPED': OrderStatus.partially_shipped,
    'SHIPPED': OrderStatus.shipped,
    'CANCELLED': OrderStatus.cancelled,
    'UNFULFILLABLE': OrderStatus.awaiting_shipment,
    }
UNFULFILLABLE = {'Unfulfillable', 'UNFULFILLABLE'}
CHANNEL_STATUSES = frozenset(STATUSES)
# A buyer's cancellation request matters only while something is unshipped.
BEFORE_SHIPPING = {OrderStatus.pending_payment, OrderStatus.awaiting_shipment,
    OrderStatus.partially_shipped}
# A unit price beyond this precision is rounded; the ERP's line total
# (quantity × unit price, rounded to the currency) stays what was charged.
UNIT_PRICE = Decimal('0.000001')


def is_v0(raw: dict[str, Any]) -> bool:
    "Whether the payload is an Orders v0 order (else v2026-01-01)"
    return 'AmazonOrderId' in raw


def channel_status(raw: dict[str, Any]) -> str:
    "The order's status in Amazon's words (for `statuses:` mappings)"
    if is_v0(raw):
        return str(raw.get('OrderStatus') or '')
    return str((raw.get('fulfillment') or {}).get('fulfillmentStatus') or '')


def external_id(raw: dict[str, Any]) -> str | None:
    "The order's id, read as leniently as possible (for rejected orders)"
    value = raw.get('AmazonOrderId') or raw.get('orderId')
    return str(value) if value not in (None, '') else None


def fulfilled_by_amazon(raw: dict[str, Any]) -> bool:
    "Whether Amazon ships the order from its own stock (FBA / AFN)"
    if is_v0(raw):
        return raw.get('FulfillmentChannel') == 'AFN'
    return (raw.get('fulfillment') or {}).get('fulfilledBy') == 'AMAZON'


def normalize_order(raw: dict[str, Any], channel: str | None = None) -> Order:
    """The canonical order of an Amazon order payload, v2026-01-01 or v0
    (see the module's docstring); a response's wrapper (``order``,
    ``payload``) is taken off. Raises PayloadError naming the field it
    cannot read."""
    raw = unwrap(raw)
    read = _v0 if is_v0(raw) else _v2026
    return read(raw, channel or KIND)


def unwrap(raw: dict[str, Any]) -> dict[str, Any]:
    "The order of a getOrder answer, or the order itself"
    for wrapper in ('order', 'payload'):
        inner = raw.get(wrapper)
        if isinstance(inner, dict) and len(raw) == 1:
            return inner
    return raw


def _status(word: Any) -> OrderStatus:
    status = STATUSES.get(word) if isinstance(word, str) else None
    if status is None:
        raise PayloadError(f"status {word!r} is unknown")
    return status


def _hold_reason(word: str, status: OrderStatus,
        requests: list[tuple[str, str | None]]) -> str | None:
    """Why the order must not ship yet: Amazon cannot fill it, or buyers
    asked to cancel lines still to ship ((line, reason) pairs)"""
    if word in UNFULFILLABLE:
        return ("Amazon reports the order unfulfillable: it cannot ship it "
            "from its fulfilment centres")
    if status not in BEFORE_SHIPPING or not requests:
        return None
    asked = '; '.join(f"{line}: {reason}" if reason else line
        for line, reason in requests)
    return f"The buyer asked to cancel ({asked}): do not ship"


# -- Orders v2026-01-01 ------------------------------------------------------

def _v2026(raw: dict[str, Any], channel: str) -> Order:
    order_id = raw['orderId']
    fulfillment = raw.get('fulfillment') or {}
    word = fulfillment.get('fulfillmentStatus')
    status = _status(word)
    packages = raw.get('packages') or []
    if status == OrderStatus.shipped and packages and all(
            ((p.get('packageStatus') or {}).get('status') == 'DELIVERED')
            for p in packages):
        status = OrderStatus.completed  # §3.3: every parcel delivered
    proceeds = raw.get('proceeds') or {}
    grand = proceeds.get('grandTotal') or {}
    buyer = raw.get('buyer') or {}
    recipient = (raw.get('recipient') or {}).get('deliveryAddress')
    items = raw.get('orderItems')
    if not isinstance(items, list):
        raise PayloadError("orderItems is missing")
    lines, requests = [], []
    for position, item in enumerate(items):
        line = _v2026_line(item, position)
        lines.append(line)
        request = item.get('cancellation') or {}
        if request.get('cancellationRequest') and not request.get(
                'cancellationExecution'):
            requests.append((line.sku or line.title, text(
                        request['cancellationRequest'].get('cancelReason'))))
    created = utc(raw.get('createdTime'), 'createdTime')
    return Order(
        channel=channel, kind=KIND, external_id=order_id, number=order_id,
        status=status, created_at=created,
        updated_at=utc(raw['lastUpdatedTime'], 'lastUpdatedTime')
        if raw.get('lastUpdatedTime') else created,
        currency=_currency(grand, 'proceeds.grandTotal'),
        total=money(grand.get('amount'), 'proceeds.grandTotal.amount'),
        shipping_price=_breakdown(proceeds, 'SHIPPING'),
        customer=Customer(
            name=text(buyer.get('buyerName'))
            or text((recipient or {}).get('name'))
            or f"Amazon customer {order_id}",
            email=text(buyer.get('buyerEmail')),
            phone=text((recipient or {}).get('phone'))),
        shipping_address=_v2026_address(recipient),
        lines=lines,
        raw=raw,
        fulfilled_by_channel=fulfillment.get('fulfilledBy') == 'AMAZON',
        hold_reason=_hold_reason(word, status, requests))


def _v2026_line(item: dict[str, Any], position: int) -> OrderLine:
    field = f'orderItems[{position}]'
    product = item.get('product') or {}
    price = ((product.get('price') or {}).get('unitPrice') or {})
    quantity = _quantity(item.get('quantityOrdered'),
        f'{field}.quantityOrdered')
    unit = money(price.get('amount'),
        f'{field}.product.price.unitPrice.amount')
    # A promotion on the item: its DISCOUNT proceeds (negative) come off
    discount = _breakdown(item.get('proceeds') or {}, 'DISCOUNT')
    return OrderLine(
        external_id=item['orderItemId'],
        sku=text(product.get('sellerSku')),
        title=text(product.get('title')) or text(product.get('asin')) or '',
        quantity=quantity,
        unit_price=_unit_price(unit * quantity - abs(discount), quantity))


def _v2026_address(address: dict[str, Any] | None) -> Address | None:
    "None for orders Amazon serves no address for yet (pending ones)"
    if not address or not (address.get('addressLine1')
            or address.get('city')):
        return None
    return Address(
        name=text(address.get('name')) or text(address.get('companyName'))
        or '',
        street=street(address.get('addressLine1'),
            address.get('addressLine2'), address.get('addressLine3')),
        city=text(address.get('city')) or '',
        zip=text(address.get('postalCode')) or '',
        country_code=(text(address.get('countryCode')) or '').upper(),
        subdivision=text(address.get('stateOrRegion')),
        phone=text(address.get('phone')))


def _breakdown(proceeds: dict[str, Any], kind: str) -> Decimal:
    """A proceeds' subtotal of one type (SHIPPING, DISCOUNT …), an order's
    or an item's; 0 when absent"""
    for position, part in enumerate(proceeds.get('breakdowns') or []):
        if part.get('type') == kind:
            return money((part.get('subtotal') or {}).get('amount'),
                f'proceeds.breakdowns[{position}].subtotal.amount')
    return Decimal(0)


# -- Orders v0 ---------------------------------------------------------------

def _v0(raw: dict[str, Any], channel: str) -> Order:
    order_id = raw['AmazonOrderId']
    word = raw.get('OrderStatus')
    status = _status(word)
    items = raw.get('OrderItems')
    if not isinstance(items, list):
        raise PayloadError("OrderItems is missing: the order's items "
            "(getOrderItems) were not read with it")
    lines, requests = [], []
    shipping = Decimal(0)
    for position, item in enumerate(items):
        line = _v0_line(item, position)
        lines.append(line)
        shipping += _v0_amount(item, 'ShippingPrice', position)
        shipping -= _v0_amount(item, 'ShippingDiscount', position)
        cancel = item.get('BuyerRequestedCancel') or {}
        if str(cancel.get('IsBuyerRequestedCancel')).lower() == 'true':
            requests.append((line.sku or line.title,
                    text(cancel.get('BuyerCancelReason'))))
    total = raw.get('OrderTotal')
    if total is None and status == OrderStatus.pending_payment:
        # Amazon serves no total until the order is paid: what its items
        # come to (prices, tax, shipping, less promotions).
        amount = sum((_v0_due(item, position)
                for position, item in enumerate(items)), Decimal(0))
        currency = next((_currency(item['ItemPrice'], 'ItemPrice')
                for item in items if item.get('ItemPrice')), None)
        if currency is None:
            raise PayloadError("OrderTotal is missing")
    else:
        total = total or {}
        amount = money(total.get('Amount'), 'OrderTotal.Amount')
        currency = _currency(total, 'OrderTotal', 'CurrencyCode')
    buyer = raw.get('BuyerInfo') or {}
    address = raw.get('ShippingAddress') or {}
    created = utc(raw.get('PurchaseDate'), 'PurchaseDate')
    return Order(
        channel=channel, kind=KIND, external_id=order_id,
        number=text(raw.get('SellerOrderId')) or order_id,
        status=status, created_at=created,
        updated_at=utc(raw['LastUpdateDate'], 'LastUpdateDate')
        if raw.get('LastUpdateDate') else created,
        currency=currency, total=amount, shipping_price=max(shipping, 0),
        customer=Customer(
            name=text(buyer.get('BuyerName')) or text(address.get('Name'))
            or f"Amazon customer {order_id}",
            email=text(buyer.get('BuyerEmail')),
            phone=text(address.get('Phone'))),
        shipping_address=_v0_address(address),
        lines=lines,
        raw=raw,
        fulfilled_by_channel=raw.get('FulfillmentChannel') == 'AFN',
        hold_reason=_hold_reason(word, status, requests))


def _v0_line(item: dict[str, Any], position: int) -> OrderLine:
    field = f'OrderItems[{position}]'
    quantity = _quantity(item.get('QuantityOrdered'),
        f'{field}.QuantityOrdered')
    # ItemPrice is the line's total (§3.2a): no unit price is served.
    line_total = (_v0_amount(item, 'ItemPrice', position, required=True)
        - _v0_amount(item, 'PromotionDiscount', position))
    return OrderLine(
        external_id=item['OrderItemId'],
        sku=text(item.get('SellerSKU')),
        title=text(item.get('Title')) or text(item.get('ASIN')) or '',
        quantity=quantity, unit_price=_unit_price(line_total, quantity))


def _unit_price(line_total: Decimal, quantity: int) -> Decimal:
    """A line's total over its quantity: exact where it divides, else to
    six places (the ERP's line total, rounded to the currency, is then
    the total charged)"""
    unit = max(line_total, Decimal(0)) / quantity
    return unit if unit == unit.quantize(UNIT_PRICE) else unit.quantize(
        UNIT_PRICE)


def _v0_amount(item: dict[str, Any], name: str, position: int,
        required: bool = False) -> Decimal:
    value = item.get(name)
    if value is None and not required:
        return Decimal(0)
    return money((value or {}).get('Amount'),
        f'OrderItems[{position}].{name}.Amount')


def _v0_due(item: dict[str, Any], position: int) -> Decimal:
    "What one item of a pending order comes to"
    due = sum((_v0_amount(item, name, position) for name in (
                'ItemPrice', 'ItemTax', 'ShippingPrice', 'ShippingTax')),
        Decimal(0))
    return due - sum((_v0_amount(item, name, position) for name in (
                'PromotionDiscount', 'ShippingDiscount')), Decimal(0))


def _v0_address(address: dict[str, Any]) -> Address | None:
    """The shipping address; None where Amazon serves none (pending
    orders) or only the city and postcode (read without an RDT), which
    cannot be shipped to"""
    if not address.get('AddressLine1'):
        return None
    return Address(
        name=text(address.get('Name')) or '',
        street=street(address.get('AddressLine1'),
            address.get('AddressLine2'), address.get('AddressLine3')),
        city=text(address.get('City')) or '',
        zip=text(address.get('PostalCode')) or '',
        country_code=(text(address.get('CountryCode')) or '').upper(),
        subdivision=text(address.get('StateOrRegion')),
        phone=text(address.get('Phone')))


# -- shared ------------------------------------------------------------------

def _quantity(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PayloadError(
            f"{field} is not a positive integer: {value!r}")
    return value


def _currency(value: dict[str, Any], field: str,
        name: str = 'currencyCode') -> str:
    code = value.get(name)
    if not isinstance(code, str) or not code:
        raise PayloadError(f"{field}.{name} is missing")
    return code


# -- Refunds (Finances API) -------------------------------------------------

def normalize_returns(raw: dict[str, Any], channel: str | None = None,
        problems: list[Unreadable] | None = None) -> list[ChannelReturn]:
    """The refund of a Finances API refund event (§3.6). Amounts are JSON
    numbers there, negative for money given back: their size is read
    (through their text, never a float's digits). Raises PayloadError
    naming the field it cannot read; or, given `problems`, notes it there
    and returns nothing."""
    return read_each([raw], lambda event: _refund(event, channel),
        lambda event: ('refund', refund_id(event),
            event.get('AmazonOrderId')), problems)


def refund_id(event: dict[str, Any]) -> str:
    """A refund event's id. Finances events carry none: the order, the
    posting time and the adjusted items' ids name it, the same however
    often it is read."""
    items = sorted(str(item.get('OrderAdjustmentItemId') or '')
        for item in event.get('ShipmentItemAdjustmentList') or [])
    key = json.dumps([event.get('AmazonOrderId'), event.get('PostedDate'),
            items])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{event.get('AmazonOrderId')}-refund-{digest}"


def _refund(event: dict[str, Any], channel: str | None) -> ChannelReturn:
    order_id = text(event.get('AmazonOrderId'))
    if order_id is None:
        raise PayloadError("AmazonOrderId is missing")
    posted = utc(event.get('PostedDate'), 'PostedDate')
    lines, amount, currency = [], Decimal(0), None
    for position, item in enumerate(
            event.get('ShipmentItemAdjustmentList') or []):
        field = f'ShipmentItemAdjustmentList[{position}]'
        line_amount = Decimal(0)
        for number, charge in enumerate(
                item.get('ItemChargeAdjustmentList') or []):
            value = charge.get('ChargeAmount') or {}
            line_amount += money(value.get('CurrencyAmount'),
                f'{field}.ItemChargeAdjustmentList[{number}]'
                '.ChargeAmount.CurrencyAmount')
            currency = currency or text(value.get('CurrencyCode'))
        amount += line_amount
        quantity = item.get('QuantityShipped')
        lines.append(ReturnLine(
                line_external_id=text(item.get('OrderItemId')),
                sku=text(item.get('SellerSKU')),
                quantity=_quantity(quantity, f'{field}.QuantityShipped'),
                amount=abs(line_amount)))
    return ChannelReturn(
        channel=channel or KIND, kind=ReturnKind.refund,
        external_id=refund_id(event), order_external_id=order_id,
        status=ReturnStatus.refunded, created_at=posted, updated_at=posted,
        currency=currency, amount=abs(amount), lines=lines, raw=event)
