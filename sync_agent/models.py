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


# Fulfilments: what the ERP gives the agent to push to a channel once a
# customer shipment is done, and what the agent acknowledges once the
# channel has answered.

class FulfilmentOrder(_Canonical):
    "The channel order a fulfilment belongs to"
    external_id: NonEmpty = Field(description="The channel's order id.")
    number: str | None = Field(description=(
            "The channel's order number (the sale's reference)."))


class FulfilmentLine(_Canonical):
    "What the parcel carried of one order line"
    external_id: str | None = Field(description=(
            "The channel's id of the order line; null for a line keyed in "
            "the ERP."))
    sku: str | None = Field(description="The product's code in the ERP.")
    quantity: int = Field(gt=0, description=(
            "Whole units shipped in this parcel, in the line's unit; a kit "
            "counts once all its components have shipped."))


class Fulfilment(_Canonical):
    """A parcel of a channel order to report to the channel: one per
    customer shipment and order"""
    id: int
    key: NonEmpty = Field(description=(
            "Stable and unique: the channel's idempotency key for this "
            "fulfilment."))
    order: FulfilmentOrder
    carrier: str | None = Field(description=(
            "The ERP carrier's code (mapped to the channel's carrier by "
            "the mapping file's carriers:); null when unknown."))
    carrier_name: str | None
    tracking_number: str | None
    tracking_url: str | None
    shipped_at: UTCDateTime
    complete: bool = Field(description=(
            "Nothing of the order was left to ship after this parcel."))
    notify_customer: bool = Field(description=(
            "Ask the channel to tell the buyer (Shopify's notifyCustomer)."))
    lines: list[FulfilmentLine]
    attempts: int = Field(ge=0, description=(
            "How many pushes of it the channel refused so far."))


class FulfilmentPushed(_Canonical):
    "A fulfilment the channel accepted"
    id: int
    external_id: str | None = Field(None, description=(
            "The channel's id of the fulfilment it created."))


class FulfilmentFailure(_Canonical):
    "A fulfilment the channel refused, with its reason"
    id: int
    error: NonEmpty


def _each_fulfilment_once(items: list[Any]) -> list[Any]:
    seen, twice = set(), set()
    for item in items:
        (twice if item.id in seen else seen).add(item.id)
    if twice:
        raise ValueError("lists fulfilment(s) more than once: " + ', '.join(
                map(str, sorted(twice))))
    return items


class FulfilmentAck(_Canonical):
    """What the agent acknowledges after pushing fulfilments to a channel:
    those it accepted and those it refused (retried later)"""
    pushed: Annotated[
        list[FulfilmentPushed], AfterValidator(_each_fulfilment_once)] = Field(
            default_factory=list)
    failed: Annotated[
        list[FulfilmentFailure], AfterValidator(_each_fulfilment_once)
        ] = Field(default_factory=list)
