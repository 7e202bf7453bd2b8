"""What every channel kind offers the agent (DESIGN §4), and the values
that cross that line: its `Mapper` (how the marketplace's payloads read:
pure functions) and its `Adapter` (the marketplace's HTTP detail and
nothing else: no mapping, no ERP, no scheduling), registered together as
a `ChannelKind` (see sync_agent.channels)."""
from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import json
import logging
import re
import time
from collections.abc import Collection, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from oms_contract.models import ChannelReturn, Order, StockRefusal

from ..config import ChannelConfig
from .payload import Unreadable
from .transport import RateLimiter, Transport

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class OrderPage:
    "Raw orders as one marketplace call returned them"
    orders: list[dict[str, Any]]
    total: int | None = None  # the whole scan's size, when the channel says
    # Every order modified up to this time has been read (a scan by time
    # windows, at a window's end): a complete scan's cursor moves to it
    # even when the last orders changed long before.
    until: dt.datetime | None = None


# One level on a channel: (channel SKU, channel location or None where
# the channel keeps one quantity per SKU).
StockKey = tuple[str, str | None]


@dataclasses.dataclass(frozen=True)
class StockUpdate:
    "A quantity to set on the channel for one SKU (at one location)"
    sku: str
    quantity: int
    # The quantity the channel is expected to show now: the compare-and-set
    # base where the channel offers one (None: set without checking).
    previous: int | None = None
    location: str | None = None  # the channel's location (name or id)
    external_id: str | None = None
    external_variant_id: str | None = None

    @property
    def key(self) -> StockKey:
        return self.sku, self.location


@dataclasses.dataclass(frozen=True)
class StockResult:
    "What the channel said about one update"
    update: StockUpdate
    error: str | None = None  # the channel's words, when it refused
    reason: StockRefusal = StockRefusal.refused  # why, when it refused

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def stale(self) -> bool:
        "Refused because the channel shows another quantity than `previous`"
        return not self.ok and self.reason == StockRefusal.stale

    @property
    def sku(self) -> str:
        return self.update.sku

    @property
    def quantity(self) -> int:
        return self.update.quantity

    @property
    def key(self) -> StockKey:
        return self.update.key


@dataclasses.dataclass(frozen=True)
class FulfilmentItem:
    "Units of one order line shipped, in the channel's words"
    sku: str | None  # the channel's SKU
    quantity: int
    external_id: str | None = None  # the channel's id of the order line

    @property
    def name(self) -> str:
        "How messages name the line"
        return self.sku or f'line {self.external_id}'


@dataclasses.dataclass(frozen=True)
class FulfilmentUpdate:
    """A shipment to mark on the channel: the ERP's fulfilment with its
    SKUs and carrier mapped to the channel's"""
    key: str  # stable across retries: the idempotency key
    order_id: str  # the channel's id of the order
    items: tuple[FulfilmentItem, ...]
    complete: bool  # the order has nothing left to ship
    notify_customer: bool = False
    carrier: str | None = None  # the channel's carrier name
    tracking_number: str | None = None
    tracking_url: str | None = None
    order_number: str | None = None
    shipped_at: dt.datetime | None = None  # when the parcel left (UTC)


@dataclasses.dataclass(frozen=True)
class FulfilmentResult:
    """What the channel said about one fulfilment: the id of what it
    recorded, or why it refused"""
    external_id: str | None = None
    error: str | None = None
    # Found on the channel already (an earlier push whose answer or
    # acknowledgement was lost): nothing was written this time.
    already: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclasses.dataclass
class ReturnPage:
    """Raw after-sales records as one marketplace call returned them
    (what each adapter module's normalize_returns reads: a Shopify order
    with its refunds and returns, a WooCommerce refund)"""
    records: list[dict[str, Any]]
    # The newest modification time of the records, on the field the scan
    # filters by (a Shopify order's updatedAt, a WooCommerce refund's
    # date): the returns cursor moves to it even where the records hold
    # nothing to post, so that the next scan does not read them again.
    newest: dt.datetime | None = None
    total: int | None = None


# The units of one order line a refund gives back, in the channel's words:
# the same shape as a shipment's.
RefundItem = FulfilmentItem


@dataclasses.dataclass(frozen=True)
class RefundUpdate:
    """A refund to make on the channel: the ERP's refund with its SKUs
    mapped to the channel's"""
    key: str  # stable across retries: the idempotency key
    number: str  # the RMA's number: the refund's note carries it
    order_id: str  # the channel's id of the order
    amount: Decimal
    currency: str
    items: tuple[RefundItem, ...] = ()
    reason: str | None = None
    notify_customer: bool = False
    attempt: int = 0  # how many pushes of it failed before
    order_number: str | None = None

    @property
    def note(self) -> str:
        """What the channel shows with the refund: the RMA number first,
        so that a later push finds it (read-before-write)"""
        return f'{self.number}: {self.reason}' if self.reason else self.number

    def noted_in(self, text: str | None) -> bool:
        """Whether a note or reason the channel shows names this RMA (as
        a word: RMA1 is not in RMA10)"""
        return bool(text) and re.search(
            rf'(?<![\w-]){re.escape(self.number)}(?![\w-])',
            text) is not None


@dataclasses.dataclass(frozen=True)
class RefundResult:
    """What the channel said about one refund: the id of what it
    recorded, or why it refused (manual: it cannot take refunds at all)"""
    external_id: str | None = None
    error: str | None = None
    # Found on the channel already (an earlier push whose answer or
    # acknowledgement was lost): nothing was written this time.
    already: bool = False
    manual: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


# What an adapter may declare it does:
# - compare_and_set: a stock write carries the quantity expected now, and
#   the channel refuses it when it shows another (`StockResult.stale`);
# - refunds: push_refund makes refunds on the channel;
# - refund_reports: fetch_returns reports the refunds made on the channel;
# - returns: fetch_returns reports customers' return requests too.
CAPABILITIES = frozenset(
    {'compare_and_set', 'refunds', 'refund_reports', 'returns'})


class ScanPaused(Exception):
    """A scan of orders stops for now: the channel allows no call before
    `next_call` (its rate limit). The pages yielded so far are good; the
    adapter resumes the scan where it stopped when asked again from the
    same start, and the cursor moves only once a scan is complete."""

    def __init__(self, next_call: dt.datetime):
        super().__init__(
            f"the channel allows the next call at {next_call.isoformat()}")
        self.next_call = next_call


class NoSettings(BaseModel):
    "A kind that needs nothing beyond the base URL"
    model_config = ConfigDict(extra='forbid')


class Mapper(Protocol):
    """How one kind's payloads read: pure functions of the raw payloads
    (a kind's `mapper` module), importable and testable without HTTP"""
    # The words mapping files may use in `statuses:`
    CHANNEL_STATUSES: set[str] | frozenset[str]

    def normalize_order(self, raw: dict[str, Any],
            channel: str | None = None) -> Order: ...

    def channel_status(self, raw: dict[str, Any]) -> str: ...

    def external_id(self, raw: dict[str, Any]) -> str | None: ...

    def normalize_returns(self, raw: dict[str, Any],
            channel: str | None = None,
            problems: list[Unreadable] | None = None
            ) -> list[ChannelReturn]: ...


class Adapter(abc.ABC):
    """The surface the agent's flows use. Subclasses set `kind` and
    implement fetch_orders, push_stock, read_stock and push_fulfilment;
    fetch_returns and push_refund where the channel has them (by default
    none are reported and refunds are made by hand)."""
    kind: ClassVar[str]
    # Whether orders arrive sorted by update time, so that the cursor may
    # move after each page (else only once the whole scan is done).
    sorted_by_update: ClassVar[bool] = False
    default_page_size: ClassVar[int] = 50
    # Whether the channel keeps stock per location (one level per SKU and
    # location), so that ERP warehouses must map to its locations.
    stock_by_location: ClassVar[bool] = False
    # A SKU the channel does not know is looked up again only after this
    # long: a stock push every few seconds must not scan the catalogue.
    unknown_sku_retry: ClassVar[float] = 600
    # What the channel's API can do beyond orders, stock and shipments
    # (CAPABILITIES); the conformance kit checks each one declared, and
    # that one not declared is really missing.
    capabilities: ClassVar[frozenset[str]] = frozenset()
    # What the channel configuration's `settings:` may hold for this kind
    Settings: ClassVar[type[BaseModel]] = NoSettings
    # Levels one bulk stock write sets at most
    stock_batch: ClassVar[int] = 250

    def __init__(self, config: ChannelConfig, credentials: dict[str, str],
            state_dir: Path | None = None,
            transport: Transport | None = None):
        self.config = config
        self.credentials = credentials
        self.state_dir = state_dir
        self.page_size = config.page_size or self.default_page_size
        self.settings = self.Settings.model_validate(config.settings)
        self.unknown: dict[str, float] = {}
        self.transport = transport or Transport(
            config.code,
            RateLimiter.for_account(
                config.account, config.rate_limit.per_second,
                config.rate_limit.burst),
            attempts=config.retry.attempts,
            max_wait=config.retry.max_wait,
            give_up_after=config.retry.give_up_after)

    def __repr__(self) -> str:
        # Credentials never show, even in a debugger's repr.
        return f'<{type(self).__name__} {self.config.code}>'

    @abc.abstractmethod
    def fetch_orders(self, since: dt.datetime | None
            ) -> Iterator[OrderPage]:
        raise NotImplementedError

    @abc.abstractmethod
    def push_stock(self, updates: list[StockUpdate]) -> list[StockResult]:
        "One result per update, in any order"
        raise NotImplementedError

    @abc.abstractmethod
    def read_stock(self, updates: list[StockUpdate]
            ) -> dict[StockKey, int | None]:
        """The quantity the channel shows now for each update's level (None
        where it does not count stock); levels it does not know are left
        out. Reads only: a reconciliation compares before it writes."""
        raise NotImplementedError

    @abc.abstractmethod
    def push_fulfilment(self, update: FulfilmentUpdate) -> FulfilmentResult:
        """Mark the shipment on the channel, at most once however often it
        is pushed (a push whose answer or acknowledgement was lost comes
        again): what the channel already shows is not written twice. The
        channel's refusal is a result with its reason (or a ChannelError);
        GaveUp and AuthError mean the channel itself is out of reach."""
        raise NotImplementedError

    def fetch_returns(self, since: dt.datetime | None
            ) -> Iterator[ReturnPage]:
        """Pages of raw refund and return records changed since `since`
        (None: all), for the module's normalize_returns. A channel that
        reports none yields nothing."""
        return iter(())

    def push_refund(self, update: RefundUpdate) -> RefundResult:
        """Make the refund on the channel, at most once however often it
        is pushed (a refund already showing the RMA number is not made
        again). A channel whose API cannot refund says so: staff refund by
        hand there (manual, never retried)."""
        return RefundResult(manual=True, error=(
                f"{self.kind} channels cannot take refunds from the agent: "
                "refund by hand on the channel"))

    def stock_calls(self, skus: Collection[str]) -> int:
        """The fewest calls that set these SKUs' levels, once the adapter
        knows them (the figure benchmarks and the kit hold push_stock to)"""
        return -(-len(skus) // self.stock_batch)

    def next_orders_call(self) -> dt.datetime | None:
        """When the channel allows the next orders call, where its rate
        limit makes that worth showing (`oms-sync status`); else None"""
        return None

    def to_look_up(self, skus: Iterable[str]) -> list[str]:
        "Those of the SKUs not found lately"
        now = time.monotonic()
        return sorted({s for s in skus
                if now - self.unknown.get(s, -1e18) > self.unknown_sku_retry})

    def not_found(self, skus: Iterable[str]) -> None:
        now = time.monotonic()
        self.unknown.update((s, now) for s in skus)

    @property
    def calls(self) -> int:
        return self.transport.calls

    # A small JSON cache per channel (SKU → marketplace ids): resolved once,
    # kept across runs of the agent.
    def _cache_path(self, name: str) -> Path | None:
        if self.state_dir is None:
            return None
        return self.state_dir / f'{self.config.code}.{name}.json'

    def load_cache(self, name: str) -> dict[str, Any]:
        path = self._cache_path(name)
        if path is None or not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding='utf-8'))
        except ValueError:
            logger.warning("%s: cache %s unreadable, rebuilt", self, path)
            return {}
        if data.get('base_url') != self.config.base_url:
            return {}
        return data.get('values', {})

    def store_cache(self, name: str, values: dict[str, Any]) -> None:
        path = self._cache_path(name)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix('.tmp')
        temporary.write_text(json.dumps(
                {'base_url': self.config.base_url, 'values': values}),
            encoding='utf-8')
        temporary.replace(path)


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclasses.dataclass(frozen=True)
class ChannelKind:
    "A kind of marketplace the agent can sync: its mapper and its adapter"
    name: str
    adapter: type[Adapter]
    mapper: Mapper
