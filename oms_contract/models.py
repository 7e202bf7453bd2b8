"""The canonical order: what every channel adapter produces and the ERP
accepts.

Field names are fixed by DESIGN.md §3; the ERP module validates incoming
batches with these same classes, so this file is the one place the schema
lives (the OpenAPI document is generated from it and checked against it).
"""
from __future__ import annotations

import datetime as dt
import enum
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)


class OrderStatus(enum.StrEnum):
    pending_payment = 'pending_payment'
    awaiting_shipment = 'awaiting_shipment'
    partially_shipped = 'partially_shipped'
    shipped = 'shipped'
    completed = 'completed'
    cancelled = 'cancelled'
    refunded = 'refunded'


# What staff and customers read for each status, in the lifecycle's order
# (DESIGN §5): the forward path, then the side exits.
STATUS_LABELS: dict[OrderStatus, str] = {
    OrderStatus.pending_payment: "Awaiting Payment",
    OrderStatus.awaiting_shipment: "Awaiting Shipment",
    OrderStatus.partially_shipped: "Partially Shipped",
    OrderStatus.shipped: "Shipped",
    OrderStatus.completed: "Completed",
    OrderStatus.cancelled: "Cancelled",
    OrderStatus.refunded: "Refunded",
    }


def _aware_utc(value: dt.datetime) -> dt.datetime:
    # Naive times are ambiguous across marketplaces: refuse them outright.
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError("must carry a time zone (aware datetime)")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("is out of range in UTC") from None


UTCDateTime = Annotated[dt.datetime, AfterValidator(_aware_utc)]

# What the ERP stores, stated so that a value beyond it is refused by name
# (400, or held by the agent as unreadable) and never reaches the database
# as an error: integers of a 32-bit column, amounts of 15 digits and 6
# decimals, text without NUL (PostgreSQL refuses it), payloads nested
# MAX_DEPTH levels at most.
MAX_INT = 2**31 - 1
MAX_AMOUNT = Decimal(10) ** 15
MAX_DEPTH = 32
NO_NUL = r'^[^\x00]*$'
NO_CONTROL = r'^[^\x00-\x1f\x7f]*$'
ID_LENGTH = 255  # ids, numbers, codes, SKUs, e-mail addresses
TEXT_LENGTH = 10_000  # names, titles, address lines, notes, reasons
CONTROL = re.compile('[\x00-\x1f\x7f]')
# What Tryton's one-line fields (Char) refuse
LINE_BREAKS = re.compile('[\t\n\r\x0b\x0c]+')


def _no_nul(value: str) -> str:
    if '\x00' in value:
        raise ValueError("must not contain a NUL character (\\x00)")
    return value


def _no_control(value: str) -> str:
    if CONTROL.search(value):
        raise ValueError("must not contain control characters (tab, line "
            "break, NUL...)")
    return value


def _one_line(value: str) -> str:
    return LINE_BREAKS.sub(' ', value)


def _text(min_length: int, max_length: int, pattern: str = NO_NUL,
        *checks: Any) -> Any:
    """A str type of these lengths, checked by `checks` (by default: no
    NUL); the pattern states the same in the JSON schema"""
    return Annotated[str, Field(min_length=min_length or None,
            max_length=max_length, json_schema_extra={'pattern': pattern}),
        *[AfterValidator(check) for check in checks or [_no_nul]]]


# Ids, numbers, codes: no control character at all
Code = _text(0, ID_LENGTH, NO_CONTROL, _no_control)
NonEmpty = _text(1, ID_LENGTH, NO_CONTROL, _no_control)
# Names, cities: one line (tabs and line breaks become spaces)
Line = _text(0, TEXT_LENGTH, NO_NUL, _one_line, _no_nul)
NonEmptyLine = _text(1, TEXT_LENGTH, NO_NUL, _one_line, _no_nul)
# Notes, reasons, streets: any text but NUL
Text = _text(0, TEXT_LENGTH)
NonEmptyText = _text(1, TEXT_LENGTH)
Quantity = Annotated[int, Field(gt=0, le=MAX_INT)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
# What a channel shows may be below 0 (it oversold)
Shown = Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
RecordId = Annotated[int, Field(ge=1, le=MAX_INT)]
Amount = Annotated[Decimal, Field(ge=0, lt=MAX_AMOUNT, decimal_places=6)]
Currency = Annotated[str, Field(pattern=r'^[A-Z]{3}$')]


def depth(value: Any) -> int:
    """How deep JSON data nests (a scalar: 0), without recursing: level by
    level, as a request body's every value is read"""
    deepest, layer = 0, [value]
    while True:
        containers = [v for v in layer if isinstance(v, (dict, list))]
        if not containers:
            return deepest
        deepest += 1
        layer = [child for v in containers
            for child in (v.values() if isinstance(v, dict) else v)]


def _not_too_deep(value: dict[str, Any]) -> dict[str, Any]:
    if depth(value) > MAX_DEPTH:
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
    return value


Payload = Annotated[
    dict[str, Any], AfterValidator(_not_too_deep), Field(
        description=(f"The channel's own payload, kept as it came; nested "
            f"{MAX_DEPTH} levels deep at most."),
        json_schema_extra={'x-max-depth': MAX_DEPTH})]


class _Canonical(BaseModel):
    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True)


class Customer(_Canonical):
    external_id: Code | None = None
    name: NonEmptyLine
    email: Code | None = None
    phone: Code | None = None


class ProtectedReceiver(_Canonical):
    """The receiver's data a channel serves only encrypted (Taobao): its
    ciphertexts as served, never decrypted by the agent, and the channel's
    id of the receiver. The address's name, street and phone then hold
    masked values, for people to read."""
    oaid: Code | None = Field(None, description=(
            "The channel's id of the receiver (Taobao's OAID): what its "
            "own services print waybills and decrypt by."))
    # Ciphertexts are one line (TOP's formats are): a line break in one
    # is read as a space, as in a name
    name: Line | None = None
    street: Line | None = None
    phone: Line | None = None


class Address(_Canonical):
    name: Line
    street: Text
    city: Line
    zip: Code
    country_code: Code
    subdivision: Code | None = None
    phone: Code | None = None
    # Beyond DESIGN §3's fields (added, never renamed):
    protected: ProtectedReceiver | None = Field(None, description=(
            "Set where the channel serves the receiver encrypted: name, "
            "street and phone are then masked, and the ciphertexts are "
            "here."))


class OrderLine(_Canonical):
    external_id: NonEmpty
    sku: Code | None = None
    title: Text
    quantity: Quantity
    unit_price: Amount


class Order(_Canonical):
    channel: NonEmpty
    kind: NonEmpty
    external_id: NonEmpty
    number: NonEmpty
    status: OrderStatus
    created_at: UTCDateTime
    updated_at: UTCDateTime
    currency: Currency
    total: Amount
    shipping_price: Amount = Decimal(0)
    customer: Customer
    shipping_address: Address | None = None
    lines: list[OrderLine]
    notes: Text | None = None
    raw: Payload = Field(default_factory=dict)
    # Beyond DESIGN §3's fields (added, never renamed):
    fulfilled_by_channel: bool = Field(False, description=(
            "The marketplace itself ships the order from its own stock "
            "(Amazon FBA): the ERP records the sale but reserves and ships "
            "nothing."))
    hold_reason: Text | None = Field(None, description=(
            "Why the channel asks that the order not be shipped yet (a "
            "buyer's cancellation request, a refund under way); the ERP "
            "holds the order until a copy without it arrives."))


class RejectedOrder(_Canonical):
    """A channel order the agent could not read into an Order (its
    normalizer refused the payload). The ERP still records it, held with
    the reason and the raw payload, so that nothing is lost silently."""
    external_id: NonEmpty
    number: Code | None = None
    reason: NonEmptyText
    raw: Payload = Field(default_factory=dict)
    updated_at: UTCDateTime | None = None

    @classmethod
    def storable(cls, external_id: Any, number: Any, reason: str,
            raw: Any) -> RejectedOrder:
        """The rejection of an unreadable payload, made fit to store
        whatever the payload holds (see `storable`)"""
        return cls(external_id=storable(external_id, ID_LENGTH, code=True),
            number=storable(number, ID_LENGTH, code=True) or None,
            reason=storable(reason, TEXT_LENGTH),
            raw=storable_payload(raw))


class OrderBatch(_Canonical):
    """What the agent posts to the ERP: orders and the cursor to store with
    them."""
    orders: list[Order]
    rejected: list[RejectedOrder] = Field(default_factory=list, description=(
            "Orders of the channel the agent could not read; each is held "
            "in the ERP until a readable copy arrives."))
    cursor: Code | None = Field(None, description=(
            "The channel's cursor to store with these orders; null keeps "
            "the stored one."))


# Stock: what the ERP gives the agent to push to a channel, and what the
# agent acknowledges once the channel has answered.

class StockLevel(_Canonical):
    """A listing's quantity for the channel to show: one per SKU, or one per
    SKU and warehouse where the channel keeps stock by location"""
    sku: NonEmpty
    quantity: Count = Field(description=(
            "Available to sell: max(0, floor((on hand - reserved - safety "
            "stock) x allocation)), capped by the max listed (DESIGN §7)."))
    previous: Shown | None = Field(description=(
            "What the channel shows as far as the ERP knows: the quantity "
            "it last accepted, less its own sales since; null if never "
            "pushed."))
    warehouse: Code | None = Field(description=(
            "The code of the ERP warehouse this level counts, where the "
            "channel keeps stock by location; else the warehouse that "
            "ships the channel's orders."))
    version: Count = Field(description=(
            "Grows each time the quantity changes; acknowledge with it."))
    external_id: Code | None = Field(
        description="The channel's id of the product.")
    external_variant_id: Code | None = Field(
        description="The channel's id of the variant.")


class StockPushed(_Canonical):
    "A quantity the channel accepted"
    sku: NonEmpty
    warehouse: Code | None = None
    quantity: Count
    previous: Shown | None = Field(None, description=(
            "The quantity the push expected the channel to show (its "
            "compare-and-set base; what a reconciliation read): the "
            "channel's own sales the ERP learnt of since are taken off "
            "what it accepted."))
    version: Count | None = Field(None, description=(
            "The level's version pushed; a level changed since stays "
            "pending."))


class StockRefusal(enum.StrEnum):
    "Why a channel refused a quantity, as the ERP puts it to staff"
    # It shows another quantity than the push expected (compare-and-set):
    # most likely a sale not imported yet.
    stale = 'stale'
    unknown_sku = 'unknown_sku'  # none of its products has the SKU
    no_location = 'no_location'  # none of its locations is the warehouse's
    duplicate = 'duplicate'  # another ERP level sets the same SKU there
    refused = 'refused'  # anything else: the error says why


class StockFailure(_Canonical):
    "A quantity the channel refused, with its reason"
    sku: NonEmpty
    warehouse: Code | None = None
    reason: StockRefusal = Field(StockRefusal.refused, description=(
            "Why, which the ERP tells staff in their words: the channel "
            "shows another quantity than `previous` (stale), has no "
            "product with the SKU, no location for the warehouse, the "
            "level is set by another (duplicate), or anything else "
            "(refused)."))
    error: NonEmptyText = Field(description=(
            "What the channel answered, its codes included: kept as the "
            "details."))


class StockDrift(_Canonical):
    """A level a reconciliation found the channel showing otherwise than
    the ERP expected (after a push the channel had accepted)"""
    sku: NonEmpty
    warehouse: Code | None = None
    expected: Shown | None = Field(description=(
            "What the ERP expected the channel to show (the level's "
            "previous)."))
    found: Shown | None = Field(description=(
            "What the channel showed; null if it does not track it."))


def _each_level_once(items: list[Any]) -> list[Any]:
    seen, twice = set(), set()
    for item in items:
        key = (item.sku, item.warehouse)
        (twice if key in seen else seen).add(key)
    if twice:
        raise ValueError("lists SKU(s) more than once: " + ', '.join(
                sorted(sku + (f'@{w}' if w else '') for sku, w in twice)))
    return items


class StockAck(_Canonical):
    """What the agent acknowledges after pushing stock to a channel: the
    quantities it accepted, the SKUs it refused, and what a reconciliation
    found drifted."""
    pushed: Annotated[
        list[StockPushed], AfterValidator(_each_level_once)] = Field(
            default_factory=list)
    failed: Annotated[
        list[StockFailure], AfterValidator(_each_level_once)] = Field(
            default_factory=list)
    drift: Annotated[
        list[StockDrift], AfterValidator(_each_level_once)] = Field(
            default_factory=list, description=(
            "Levels a reconciliation found the channel showing otherwise "
            "than the ERP expected; each raises a drift alert."))


# Fulfilments: what the ERP gives the agent to push to a channel (a
# shipment of an order, with its tracking), and what the agent
# acknowledges once the channel has answered.

class _FromErp(_Canonical):
    # Read by the agent from the ERP: fields a newer ERP adds within v1
    # are ignored, so that an agent one release behind still ships.
    model_config = ConfigDict(extra='ignore', str_strip_whitespace=True)


class OrderRef(_FromErp):
    "The channel order a fulfilment ships"
    external_id: NonEmpty = Field(description=(
            "The channel's id of the order, as the order was imported."))
    number: Code | None = None


class FulfilmentLine(_FromErp):
    "What one shipment carries of one order line"
    external_id: Code | None = Field(None, description=(
            "The channel's id of the order line; null for a line the ERP "
            "added."))
    sku: Code | None = Field(None, description="The ERP SKU (product code).")
    quantity: Quantity


class Fulfilment(_FromErp):
    "A shipment the ERP has sent, to be marked shipped on the channel"
    id: RecordId = Field(description="The ERP's id of the fulfilment.")
    key: NonEmpty = Field(description=(
            "Stable and unique: the idempotency key of every push of it."))
    order: OrderRef
    carrier: Code | None = Field(None, description=(
            "The ERP carrier code, mapped to the channel's carrier name by "
            "the mapping file (carriers:)."))
    carrier_name: Line | None = None
    tracking_number: Code | None = None
    tracking_url: Text | None = None
    shipped_at: UTCDateTime
    complete: bool = Field(description=(
            "Whether the order has nothing left to ship after this one."))
    notify_customer: bool = Field(False, description=(
            "Whether the marketplace should e-mail the buyer (a channel "
            "setting)."))
    lines: Annotated[list[FulfilmentLine], Field(min_length=1)]
    attempts: Count = 0


class FulfilmentPushed(_Canonical):
    "A fulfilment the channel accepted (or already had)"
    id: RecordId
    external_id: Code | None = Field(None, description=(
            "The channel's id of what it recorded (Shopify fulfillment "
            "gid, WooCommerce 'note <id>')."))


class FulfilmentFailure(_Canonical):
    "A fulfilment the channel refused, or the agent could not send"
    id: RecordId
    error: NonEmptyText


def _each_id_once(items: list[Any]) -> list[Any]:
    ids = [item.id for item in items]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError("lists id(s) more than once: "
            + ', '.join(map(str, twice)))
    return items


class FulfilmentAck(_Canonical):
    """What the agent acknowledges after pushing fulfilments to a channel:
    those it accepted and those it refused, with the reason."""
    pushed: Annotated[list[FulfilmentPushed],
        AfterValidator(_each_id_once)] = Field(default_factory=list)
    failed: Annotated[list[FulfilmentFailure],
        AfterValidator(_each_id_once)] = Field(default_factory=list)


# After-sales: what the channels report of refunds and returns (pulled by
# the agent into RMAs), and the refunds issued in the ERP for the agent to
# push to the channel.

class ReturnKind(enum.StrEnum):
    refund = 'refund'  # money given back (with or without goods)
    return_ = 'return'  # goods coming back (with or without money)


class ReturnStatus(enum.StrEnum):
    requested = 'requested'  # the customer asked; the merchant decides
    open = 'open'  # approved: goods on their way back
    closed = 'closed'  # done in the channel (goods back, or settled)
    declined = 'declined'  # the merchant refused it
    cancelled = 'cancelled'  # withdrawn
    refunded = 'refunded'  # a refund: the money is back with the customer


class ReturnLine(_Canonical):
    "What a refund or return covers of one order line"
    line_external_id: Code | None = Field(None, description=(
            "The channel's id of the order line."))
    sku: Code | None = None
    quantity: Quantity
    reason: Text | None = Field(None, description=(
            "The channel's reason for this line, as it names it."))
    restock: bool = Field(False, description=(
            "Whether the goods come back to stock (Shopify restockType "
            "RETURN); false for a refund of money alone."))
    amount: Amount | None = Field(None, description=(
            "The money refunded for this line, if the channel says."))


class ChannelReturn(_Canonical):
    """A refund or a return as the channel reports it: the ERP keeps one
    RMA per channel refund or return, bound by its id, however often it is
    pulled."""
    channel: NonEmpty
    kind: ReturnKind
    external_id: NonEmpty = Field(description=(
            "The channel's id of the refund or return."))
    order_external_id: NonEmpty = Field(description=(
            "The channel's id of the order, as the order was imported."))
    status: ReturnStatus
    created_at: UTCDateTime
    updated_at: UTCDateTime
    currency: Currency | None = None
    amount: Amount | None = Field(None, description=(
            "The money refunded in all (a refund); null for a return."))
    reason: Text | None = Field(None, description=(
            "The channel's reason or note."))
    return_external_id: Code | None = Field(None, description=(
            "For a refund: the channel's id of the return it settles."))
    lines: list[ReturnLine] = Field(default_factory=list)
    # Beyond DESIGN §3's fields (added, never renamed):
    return_carrier: Line | None = Field(None, description=(
            "For a return: the carrier the customer sent the goods back "
            "with, as the channel names it."))
    return_tracking_number: Code | None = Field(None, description=(
            "For a return: the waybill of the goods coming back."))
    raw: Payload = Field(default_factory=dict)


class RejectedReturn(_Canonical):
    """A channel refund or return the agent could not read into a
    ChannelReturn. The ERP still keeps it, as a return request needing
    attention with the reason and the raw payload, so that nothing is lost
    silently; a readable copy pulled later takes its place."""
    kind: ReturnKind
    external_id: NonEmpty
    order_external_id: Code | None = None
    reason: NonEmptyText
    raw: Payload = Field(default_factory=dict)

    @classmethod
    def storable(cls, kind: ReturnKind, external_id: Any,
            order_external_id: Any, reason: str, raw: Any
            ) -> RejectedReturn:
        """The rejection of an unreadable payload, made fit to store
        whatever the payload holds (see `storable`)"""
        return cls(kind=kind,
            external_id=storable(external_id, ID_LENGTH, code=True),
            order_external_id=storable(
                order_external_id, ID_LENGTH, code=True) or None,
            reason=storable(reason, TEXT_LENGTH),
            raw=storable_payload(raw))


class ReturnBatch(_Canonical):
    "What the agent posts to the ERP: refunds and returns, and the cursor"
    returns: list[ChannelReturn]
    rejected: list[RejectedReturn] = Field(default_factory=list, description=(
            "Refunds and returns the agent could not read; each is kept "
            "in the ERP, flagged, until a readable copy arrives."))
    cursor: Code | None = Field(None, description=(
            "The channel's returns cursor to store with them; null keeps "
            "the stored one."))


class RefundLine(_FromErp):
    "What a refund gives back of one order line"
    external_id: Code | None = Field(None, description=(
            "The channel's id of the order line."))
    sku: Code | None = None
    quantity: Quantity


class Refund(_FromErp):
    "A refund issued in the ERP, to be made on the channel"
    id: RecordId = Field(description="The ERP's id of the RMA.")
    key: NonEmpty = Field(description=(
            "Stable and unique: the idempotency key of every push of it."))
    number: NonEmpty = Field(description="The RMA's number.")
    order: OrderRef
    amount: Annotated[Amount, Field(gt=0)]
    currency: Currency
    reason: Text | None = None
    lines: list[RefundLine] = Field(default_factory=list, description=(
            "The order lines refunded; empty for an amount alone."))
    notify_customer: bool = False
    attempts: Count = 0


class RefundPushed(_Canonical):
    "A refund the channel made (or already had)"
    id: RecordId
    external_id: Code | None = Field(None, description=(
            "The channel's id of the refund it recorded."))


class RefundFailure(_Canonical):
    "A refund the channel refused, or cannot take"
    id: RecordId
    error: NonEmptyText
    manual: bool = Field(False, description=(
            "The channel cannot take refunds through its API: staff must "
            "refund by hand there (no retry)."))


class RefundAck(_Canonical):
    """What the agent acknowledges after pushing refunds to a channel"""
    pushed: Annotated[list[RefundPushed],
        AfterValidator(_each_id_once)] = Field(default_factory=list)
    failed: Annotated[list[RefundFailure],
        AfterValidator(_each_id_once)] = Field(default_factory=list)


def shown_quantity(quantity: int | None) -> int | None:
    """A quantity a channel shows, within the bounds the ERP keeps (an
    absurd one is kept as the nearest bound)"""
    if quantity is None:
        return None
    return max(-MAX_INT, min(MAX_INT, quantity))


def storable(value: Any, length: int, code: bool = False) -> str:
    """Text fit for any field of `length`: without NUL (PostgreSQL refuses
    it), with no control character at all for a `code` (an id, a number),
    cut to the length; '' for None"""
    text = '' if value is None else str(value).replace('\x00', '')
    if code:
        text = CONTROL.sub(' ', text).strip()
    # Lone surrogates (JSON's "\ud800") are no text to store either
    text = text.encode('utf-8', 'replace').decode('utf-8')
    return text if len(text) <= length else text[:length - 1] + '…'


def storable_payload(raw: Any) -> dict[str, Any]:
    """A payload fit to keep: as it is when it is an object nested
    MAX_DEPTH levels at most (JSON text escapes any NUL in it); else
    wrapped, or cut to its top level's plain values"""
    if not isinstance(raw, dict):
        raw = {'payload': raw}
    if depth(raw) <= MAX_DEPTH:
        return raw
    kept = {key: value for key, value in raw.items()
        if not isinstance(value, (dict, list))}
    return {**kept, 'unstorable': (f"the payload nests deeper than "
            f"{MAX_DEPTH} levels: only its top level's plain values are "
            "kept")}


# The customer's order-status lookup: public routes, no key.

MAX_MESSAGE = 2000  # a customer's message or return description


class LookupRequest(_Canonical):
    "Order number and e-mail address, or the token from an e-mail"
    model_config = ConfigDict(extra='forbid', json_schema_extra={'anyOf': [
                {'required': ['token']}, {'required': ['number', 'email']}]})
    number: _text(0, 64, NO_CONTROL, _no_control) | None = None
    email: _text(0, 254, NO_CONTROL, _no_control) | None = None
    token: _text(0, 128, NO_CONTROL, _no_control) | None = None

    @model_validator(mode='after')
    def _credentials(self) -> LookupRequest:
        if not self.token and not (self.number and self.email):
            raise ValueError("give the order number and e-mail address, "
                "or the token from the order's e-mails")
        return self


class MessageRequest(LookupRequest):
    "A customer's question about the order found"
    message: _text(1, MAX_MESSAGE)


class ReturnLineRequest(_Canonical):
    "How many of an order line (by its position on the page) come back"
    line: Quantity
    quantity: Quantity


class ReturnRequest(LookupRequest):
    "The customer's return request: what comes back, why, and what for"
    lines: list[ReturnLineRequest] = Field(min_length=1)
    reason: _text(0, 64, NO_CONTROL, _no_control) | None = None
    resolution: Literal['refund', 'exchange'] = 'refund'
    description: _text(0, MAX_MESSAGE) | None = None


# Leases: several agents share the channels (DESIGN §9). Before a job runs
# for a channel, its agent takes the (channel, job) lease in the ERP's
# database; another agent finding it held skips that job until it expires.

# The jobs a lease may be taken for: the agent's own (sync_agent.scheduler).
LEASE_JOBS = ('orders', 'stock', 'reconcile', 'fulfilments', 'returns')
LEASE_TTL_MIN, LEASE_TTL_MAX = 5, 600


Holder = Annotated[str, Field(
        min_length=1, max_length=200, pattern=r'^[\x21-\x7e]+$',
        description=(
            "Who takes it: the agent's id, unique per process (host, "
            "process id and a random part), printable, no spaces."))]


class LeaseRequest(_Canonical):
    "What an agent sends to take or renew a lease"
    holder: Holder
    ttl: Annotated[int, Field(ge=LEASE_TTL_MIN, le=LEASE_TTL_MAX,
            description=(
                "Seconds the lease lasts unless renewed (taken again by "
                "the same holder)."))] = 60


class Lease(_FromErp):
    "A lease the ERP granted (or, listed, one held or last held)"
    channel: str
    job: str
    holder: str | None = None
    granted: bool = Field(True, description=(
            "True when the lease is the caller's now; listed leases: "
            "whether it is held (not expired)."))
    acquired_at: dt.datetime | None = Field(None, description=(
            "When its holder first took it (UTC)."))
    expires_at: dt.datetime | None = Field(None, description=(
            "When it lapses unless renewed (UTC)."))
    ttl: int | None = None
    renewals: int = Field(0, ge=0, description=(
            "How many times its holder renewed it since taking it."))
