"""The canonical order: what every channel adapter produces and the ERP
accepts.

Field names are fixed by DESIGN.md §3; the ERP module validates incoming
batches with these same classes, so this file is the one place the schema
lives (the OpenAPI document is generated from it and checked against it).
"""
from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
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
    return value.astimezone(dt.UTC)


UTCDateTime = Annotated[dt.datetime, AfterValidator(_aware_utc)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Canonical(BaseModel):
    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True)


class Customer(_Canonical):
    external_id: str | None = None
    name: NonEmpty
    email: str | None = None
    phone: str | None = None


class Address(_Canonical):
    name: str
    street: str
    city: str
    zip: str
    country_code: str
    subdivision: str | None = None
    phone: str | None = None


class OrderLine(_Canonical):
    external_id: NonEmpty
    sku: str | None = None
    title: str
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)


class Order(_Canonical):
    channel: NonEmpty
    kind: NonEmpty
    external_id: NonEmpty
    number: NonEmpty
    status: OrderStatus
    created_at: UTCDateTime
    updated_at: UTCDateTime
    currency: Annotated[str, Field(pattern=r'^[A-Z]{3}$')]
    total: Decimal
    shipping_price: Decimal = Decimal(0)
    customer: Customer
    shipping_address: Address | None = None
    lines: list[OrderLine]
    notes: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)

    @field_validator('total', 'shipping_price')
    @classmethod
    def _not_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("must not be negative")
        return value


class RejectedOrder(_Canonical):
    """A channel order the agent could not read into an Order (its
    normalizer refused the payload). The ERP still records it, held with
    the reason and the raw payload, so that nothing is lost silently."""
    external_id: NonEmpty
    number: str | None = None
    reason: NonEmpty
    raw: dict[str, Any] = Field(default_factory=dict)
    updated_at: UTCDateTime | None = None


class OrderBatch(_Canonical):
    """What the agent posts to the ERP: orders and the cursor to store with
    them."""
    orders: list[Order]
    rejected: list[RejectedOrder] = Field(default_factory=list, description=(
            "Orders of the channel the agent could not read; each is held "
            "in the ERP until a readable copy arrives."))
    cursor: str | None = Field(None, description=(
            "The channel's cursor to store with these orders; null keeps "
            "the stored one."))


# Stock: what the ERP gives the agent to push to a channel, and what the
# agent acknowledges once the channel has answered.

class StockLevel(_Canonical):
    """A listing's quantity for the channel to show: one per SKU, or one per
    SKU and warehouse where the channel keeps stock by location"""
    sku: NonEmpty
    quantity: int = Field(ge=0, description=(
            "Available to sell: max(0, floor((on hand - reserved - safety "
            "stock) x allocation)), capped by the max listed (DESIGN §7)."))
    previous: int | None = Field(description=(
            "What the channel shows as far as the ERP knows: the quantity "
            "it last accepted, less its own sales since; null if never "
            "pushed."))
    warehouse: str | None = Field(description=(
            "The code of the ERP warehouse this level counts, where the "
            "channel keeps stock by location; else the warehouse that "
            "ships the channel's orders."))
    version: int = Field(ge=0, description=(
            "Grows each time the quantity changes; acknowledge with it."))
    external_id: str | None = Field(
        description="The channel's id of the product.")
    external_variant_id: str | None = Field(
        description="The channel's id of the variant.")


class StockPushed(_Canonical):
    "A quantity the channel accepted"
    sku: NonEmpty
    warehouse: str | None = None
    quantity: int = Field(ge=0)
    previous: int | None = Field(None, description=(
            "The quantity the push expected the channel to show (its "
            "compare-and-set base; what a reconciliation read): the "
            "channel's own sales the ERP learnt of since are taken off "
            "what it accepted."))
    version: int | None = Field(None, ge=0, description=(
            "The level's version pushed; a level changed since stays "
            "pending."))


class StockFailure(_Canonical):
    "A quantity the channel refused, with its reason"
    sku: NonEmpty
    warehouse: str | None = None
    error: NonEmpty


class StockDrift(_Canonical):
    """A level a reconciliation found the channel showing otherwise than
    the ERP expected (after a push the channel had accepted)"""
    sku: NonEmpty
    warehouse: str | None = None
    expected: int | None = Field(description=(
            "What the ERP expected the channel to show (the level's "
            "previous)."))
    found: int | None = Field(description=(
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
    number: str | None = None


class FulfilmentLine(_FromErp):
    "What one shipment carries of one order line"
    external_id: str | None = Field(None, description=(
            "The channel's id of the order line; null for a line the ERP "
            "added."))
    sku: str | None = Field(None, description="The ERP SKU (product code).")
    quantity: int = Field(gt=0)


class Fulfilment(_FromErp):
    "A shipment the ERP has sent, to be marked shipped on the channel"
    id: int = Field(description="The ERP's id of the fulfilment.")
    key: NonEmpty = Field(description=(
            "Stable and unique: the idempotency key of every push of it."))
    order: OrderRef
    carrier: str | None = Field(None, description=(
            "The ERP carrier code, mapped to the channel's carrier name by "
            "the mapping file (carriers:)."))
    carrier_name: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: UTCDateTime
    complete: bool = Field(description=(
            "Whether the order has nothing left to ship after this one."))
    notify_customer: bool = Field(False, description=(
            "Whether the marketplace should e-mail the buyer (a channel "
            "setting)."))
    lines: Annotated[list[FulfilmentLine], Field(min_length=1)]
    attempts: int = Field(0, ge=0)


class FulfilmentPushed(_Canonical):
    "A fulfilment the channel accepted (or already had)"
    id: int
    external_id: str | None = Field(None, description=(
            "The channel's id of what it recorded (Shopify fulfillment "
            "gid, WooCommerce 'note <id>')."))


class FulfilmentFailure(_Canonical):
    "A fulfilment the channel refused, or the agent could not send"
    id: int
    error: NonEmpty


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
    line_external_id: str | None = Field(None, description=(
            "The channel's id of the order line."))
    sku: str | None = None
    quantity: int = Field(gt=0)
    reason: str | None = Field(None, description=(
            "The channel's reason for this line, as it names it."))
    restock: bool = Field(False, description=(
            "Whether the goods come back to stock (Shopify restockType "
            "RETURN); false for a refund of money alone."))
    amount: Decimal | None = Field(None, ge=0, description=(
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
    currency: Annotated[str, Field(pattern=r'^[A-Z]{3}$')] | None = None
    amount: Decimal | None = Field(None, ge=0, description=(
            "The money refunded in all (a refund); null for a return."))
    reason: str | None = Field(None, description=(
            "The channel's reason or note."))
    return_external_id: str | None = Field(None, description=(
            "For a refund: the channel's id of the return it settles."))
    lines: list[ReturnLine] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict)


class RejectedReturn(_Canonical):
    """A channel refund or return the agent could not read into a
    ChannelReturn. The ERP still keeps it, as a return request needing
    attention with the reason and the raw payload, so that nothing is lost
    silently; a readable copy pulled later takes its place."""
    kind: ReturnKind
    external_id: NonEmpty
    order_external_id: str | None = None
    reason: NonEmpty
    raw: dict[str, Any] = Field(default_factory=dict)


class ReturnBatch(_Canonical):
    "What the agent posts to the ERP: refunds and returns, and the cursor"
    returns: list[ChannelReturn]
    rejected: list[RejectedReturn] = Field(default_factory=list, description=(
            "Refunds and returns the agent could not read; each is kept "
            "in the ERP, flagged, until a readable copy arrives."))
    cursor: str | None = Field(None, description=(
            "The channel's returns cursor to store with them; null keeps "
            "the stored one."))


class RefundLine(_FromErp):
    "What a refund gives back of one order line"
    external_id: str | None = Field(None, description=(
            "The channel's id of the order line."))
    sku: str | None = None
    quantity: int = Field(gt=0)


class Refund(_FromErp):
    "A refund issued in the ERP, to be made on the channel"
    id: int = Field(description="The ERP's id of the RMA.")
    key: NonEmpty = Field(description=(
            "Stable and unique: the idempotency key of every push of it."))
    number: NonEmpty = Field(description="The RMA's number.")
    order: OrderRef
    amount: Decimal = Field(gt=0)
    currency: Annotated[str, Field(pattern=r'^[A-Z]{3}$')]
    reason: str | None = None
    lines: list[RefundLine] = Field(default_factory=list, description=(
            "The order lines refunded; empty for an amount alone."))
    notify_customer: bool = False
    attempts: int = Field(0, ge=0)


class RefundPushed(_Canonical):
    "A refund the channel made (or already had)"
    id: int
    external_id: str | None = Field(None, description=(
            "The channel's id of the refund it recorded."))


class RefundFailure(_Canonical):
    "A refund the channel refused, or cannot take"
    id: int
    error: NonEmpty
    manual: bool = Field(False, description=(
            "The channel cannot take refunds through its API: staff must "
            "refund by hand there (no retry)."))


class RefundAck(_Canonical):
    """What the agent acknowledges after pushing refunds to a channel"""
    pushed: Annotated[list[RefundPushed],
        AfterValidator(_each_id_once)] = Field(default_factory=list)
    failed: Annotated[list[RefundFailure],
        AfterValidator(_each_id_once)] = Field(default_factory=list)


# Leases: several agents share the channels (DESIGN §9). Before a job runs
# for a channel, its agent takes the (channel, job) lease in the ERP's
# database; another agent finding it held skips that job until it expires.

# The jobs a lease may be taken for: the agent's own (sync_agent.scheduler).
LEASE_JOBS = ('orders', 'stock', 'reconcile', 'fulfilments', 'returns')
LEASE_TTL_MIN, LEASE_TTL_MAX = 5, 600


class LeaseRequest(_Canonical):
    "What an agent sends to take or renew a lease"
    holder: Annotated[str, Field(
            min_length=1, max_length=200, pattern=r'^[\x21-\x7e]+$',
            description=(
                "Who takes it: the agent's id, unique per process (host, "
                "process id and a random part), printable, no spaces."))]
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
