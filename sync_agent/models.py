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


class OrderBatch(_Canonical):
    """What the agent posts to the ERP: orders and the cursor to store with
    them."""
    orders: list[Order]
    cursor: str | None = Field(None, description=(
            "The channel's cursor to store with these orders; null keeps "
            "the stored one."))
    rejected: list[RejectedOrder] = Field(default_factory=list, description=(
            "Orders of the channel the agent could not read; each is held "
            "in the ERP until a readable copy arrives."))


class RejectedOrder(_Canonical):
    """A channel order the agent could not read into an Order (its
    normalizer refused the payload). The ERP still records it, held with
    the reason and the raw payload, so that nothing is lost silently."""
    external_id: NonEmpty
    number: str | None = None
    reason: NonEmpty
    raw: dict[str, Any] = Field(default_factory=dict)
    updated_at: UTCDateTime | None = None
