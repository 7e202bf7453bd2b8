"""What every simulated shop shares: serving a request through the fault
knobs, the order store ordered by last modification, and the Python API
the tests drive (create, generate, update orders; call counts).

Each kind (``shopify.ShopifyShop``, ``woocommerce.WooCommerceShop``)
writes orders in its own marketplace's shape and serves its own routes.
"""
from __future__ import annotations

import copy
import datetime as dt
import random
import threading
import time
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from . import generator
from .faults import Faults
from .generator import CatalogItem, Draft, DraftLine, SoldOut
from .web import Request, Response, seconds_text


class Host(Protocol):
    "What a shop needs of the sandbox serving it"
    url: str
    lock: threading.RLock

    def now(self) -> dt.datetime: ...

MALFORMED = ('missing_currency', 'missing_total', 'bad_date',
    'bad_quantity',
    # hostile: what no store should serve, and one day will
    'nul_note', 'huge_quantity', 'huge_price', 'deep_payload')
HUGE_QUANTITY = 10**15
HUGE_PRICE = '1' + '0' * 30


def deep(levels: int) -> dict[str, Any]:
    "JSON data nested `levels` deep"
    data: dict[str, Any] = {}
    for _ in range(levels - 1):
        data = {'nested': data}
    return data
SECOND = dt.timedelta(seconds=1)


class Shop:
    "One marketplace account, served under /shops/{name}"
    kind: ClassVar[str]
    default_currency: ClassVar[str]

    def __init__(self, sandbox: Host, name: str,
            currency: str | None = None) -> None:
        self.sandbox = sandbox
        self.name = name
        self.currency = currency or self.default_currency
        # One lock for the whole sandbox: simple, and plenty for loopback.
        self.lock: threading.RLock = sandbox.lock
        self.calls: Counter[str] = Counter()
        self.faults = Faults()
        self.many_lines_share = 0.02
        # Marketplaces take ordered goods off the shelf as orders arrive.
        self.decrement_stock = True
        self._catalog: list[CatalogItem] = []
        # Whether orders may take more than the shop shows in stock
        # (tests of oversold orders keep it on); off, the checkout
        # refuses the sale, as "continue selling when out of stock" off.
        self.sells_out_of_stock = True
        self._catalog_by_sku: dict[str, CatalogItem] = {}
        self._orders: dict[int, dict[str, Any]] = {}
        self._updated: dict[int, dt.datetime] = {}
        # (last modified, id), sorted: pages and time filters are bisects,
        # so a request costs O(page), not O(all orders).
        self._index: list[tuple[dt.datetime, int]] = []

    # -- identity ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self.sandbox.url}/shops/{self.name}"

    @property
    def credentials(self) -> dict[str, str]:
        "What the agent's adapter authenticates with (its CREDENTIALS)"
        raise NotImplementedError

    @property
    def settings(self) -> dict[str, Any]:
        """What the agent's channel configuration needs beyond the
        credentials (Amazon's seller and marketplaces); none by default"""
        return {}

    def now(self) -> dt.datetime:
        return self.sandbox.now()

    def describe(self) -> dict[str, Any]:
        "What the control API lists about this shop"
        with self.lock:
            return {'name': self.name, 'kind': self.kind,
                'base_url': self.base_url, 'currency': self.currency,
                'orders': len(self._orders),
                'products': len(self._catalog)}

    # -- serving -----------------------------------------------------------

    def handle(self, request: Request) -> Response:
        "Answer one marketplace API request, through the fault knobs"
        operation = self.operation(request)
        with self.lock:
            self.calls[operation] += 1
        if self.faults.slow_ms:
            time.sleep(self.faults.slow_ms / 1000)
        if self.faults.take('error_next'):
            return self.error_response(self.faults.error_status)
        denied = self.authenticate(request)
        if denied is not None:
            return denied
        with self.lock:
            response = self.dispatch(request, operation)
        if self.faults.take('malformed_next'):
            # Processed, then the connection dropped mid-body.
            cut = max(1, len(response.body) // 2)
            response = Response(200, response.body[:cut] or b'{"da',
                {'Content-Type': response.headers.get(
                        'Content-Type', 'application/json')})
        return response

    def operation(self, request: Request) -> str:
        "The name calls are counted under"
        raise NotImplementedError

    def authenticate(self, request: Request) -> Response | None:
        "None when the credentials are right, else the 401 answer"
        raise NotImplementedError

    def dispatch(self, request: Request, operation: str) -> Response:
        raise NotImplementedError

    def error_response(self, status: int) -> Response:
        "A failure before the request reached the shop's application"
        if status == 503:
            return Response.html(503, 'Service Unavailable', {
                    'Retry-After': seconds_text(self.faults.retry_after_s)})
        if status == 502:
            return Response.html(502, 'Bad Gateway')
        return self.internal_error()

    def internal_error(self) -> Response:
        raise NotImplementedError

    # -- the order store ---------------------------------------------------

    def _index_order(self, order_id: int, updated: dt.datetime) -> None:
        "Record (or move) an order at its new last-modified time"
        old = self._updated.get(order_id)
        if old is not None:
            del self._index[bisect_left(self._index, (old, order_id))]
        self._updated[order_id] = updated
        insort(self._index, (updated, order_id))

    def _bump(self, order_id: int) -> dt.datetime:
        """Mark an order modified now. Each change moves its time by at
        least a second, so (id, modified time) tells every version apart
        even at the marketplaces' one-second precision."""
        updated = max(self.now(), self._updated[order_id] + SECOND)
        self._index_order(order_id, updated)
        self._write_updated(self._orders[order_id], updated)
        return updated

    def _write_updated(self, raw: dict[str, Any],
            updated: dt.datetime) -> None:
        raise NotImplementedError

    def _iter_from(self, position: int,
            stop: tuple | None = None) -> Iterator[tuple[dt.datetime, int]]:
        "Index entries from a position, while below stop (no copying)"
        index = self._index
        for i in range(position, len(index)):
            if stop is not None and index[i] >= stop:
                return
            yield index[i]

    # -- products ----------------------------------------------------------

    def _add_catalog(self, sku: str | None, title: str, price: Decimal,
            ref: Any) -> None:
        item = CatalogItem(sku or '', title, Decimal(price), ref)
        if sku:
            old = self._catalog_by_sku.get(sku)
            if old is not None:
                self._catalog.remove(old)
            self._catalog_by_sku[sku] = item
        self._catalog.append(item)

    def _remove_catalog(self, sku: str) -> None:
        item = self._catalog_by_sku.pop(sku, None)
        if item is not None:
            self._catalog.remove(item)

    def add_products(self, products: list[dict[str, Any]]) -> list[dict]:
        "add_product for each dict, in one go"
        with self.lock:
            return [self.add_product(**p) for p in products]

    def add_product(self, sku: str, title: str, price: Decimal | str,
            stock: int = 0, variant_of: str | None = None) -> dict:
        raise NotImplementedError

    # -- orders: Python API ------------------------------------------------

    def create_order(self, *, status: str | None = None,
            lines: list | None = None, customer: dict | None = None,
            address: dict | None = None, country: str | None = None,
            currency: str | None = None,
            created_at: dt.datetime | None = None,
            updated_at: dt.datetime | None = None,
            shipping_price: Decimal | str | None = None,
            note: str | None = None, guest: bool | None = None,
            seed: int | None = None,
            raw: dict[str, Any] | None = None) -> dict[str, Any]:
        """One order, drawn like generated ones and then overridden: lines
        as SKUs, (sku, quantity) or {sku, quantity, price, title} (a SKU
        the shop does not sell needs a price); customer/address dicts
        override fields of the drawn ones; raw is merged last into the
        marketplace's own payload. Returns the stored order. A shop that
        does not sell out of stock refuses lines beyond it (SoldOut)."""
        with self.lock:
            rng = random.Random(seed)
            now = self.now()
            draft = generator.draft(
                rng, self._catalog, currency or self.currency, now,
                status=status, spread_hours=0, many_lines_share=0,
                country=country,
                lines=None if lines is None else self._lines(lines),
                stock=self._stock_left())
            if status is not None:
                # A status asked for is taken in the marketplace's own
                # words first ('pending' stays pending, not on-hold).
                draft.extra['status_given'] = True
            if created_at is not None:
                draft.created_at = draft.updated_at = _second(created_at)
            if updated_at is not None:
                draft.updated_at = max(draft.created_at, _second(updated_at))
            for key, value in (customer or {}).items():
                _override(draft.customer, key, value)
            for key, value in (address or {}).items():
                _override(draft.address, key, value)
            if shipping_price is not None:
                draft.shipping_price = generator.cents(shipping_price)
            if note is not None:
                draft.note = note
            if guest is not None:
                draft.guest = guest
            order_id = self._store(draft, now)
            if raw:
                _merge(self._orders[order_id], raw)
            return self._as_served(order_id)

    def generate_orders(self, n: int, seed: int | None = None,
            status: str | None = None, spread_hours: float = 6.0,
            many_lines_share: float | None = None) -> list[dict[str, Any]]:
        """n orders from the catalogue, created over the last
        spread_hours (0: now), numbered in creation order. The same seed
        draws the same orders. Returns the stored orders."""
        with self.lock:
            rng = random.Random(seed)
            now = self.now()
            share = (self.many_lines_share if many_lines_share is None
                else many_lines_share)
            stock = self._stock_left()
            drafts = []
            for _ in range(n):
                try:
                    drafts.append(generator.draft(rng, self._catalog,
                            self.currency, now, status=status,
                            spread_hours=spread_hours,
                            many_lines_share=share, stock=stock))
                except SoldOut:
                    break  # nothing left to sell: no more orders
            drafts.sort(key=lambda d: d.created_at)
            ids = [self._store(d, now) for d in drafts]
            return [self._as_served(i) for i in ids]

    def create_malformed_order(self, kind: str = 'missing_total',
            **overrides: Any) -> dict[str, Any]:
        """An order its normalizer must refuse (kind: one of MALFORMED),
        served like any other."""
        if kind not in MALFORMED:
            raise ValueError(f"kind must be one of {MALFORMED}")
        with self.lock:
            order = self.create_order(**overrides)
            order_id = self._id_of(order)
            self._corrupt(self._orders[order_id], kind)
            return self._as_served(order_id)

    def update_order(self, order_id: int | str, status: str | None = None,
            **fields: Any) -> dict[str, Any]:
        """Change an order as the merchant or customer would: status (the
        generator's words or the marketplace's own), and top-level fields
        of its payload. Bumps its modified time. Returns it."""
        with self.lock:
            number = self._lookup(order_id)
            raw = self._orders[number]
            unknown = sorted(set(fields) - set(raw))
            if unknown:
                raise ValueError(f"no such fields: {', '.join(unknown)}")
            if status is not None:
                self._set_status(number, status)
            raw.update(fields)
            self._bump(number)
            return self._as_served(number)

    def order(self, order_id: int | str) -> dict[str, Any]:
        "The stored order as the marketplace would serve it in full"
        with self.lock:
            return self._as_served(self._lookup(order_id))

    def orders(self) -> list[dict[str, Any]]:
        "Every stored order, oldest id first"
        with self.lock:
            return [self._as_served(i) for i in sorted(self._orders)]

    def _as_served(self, order_id: int) -> dict[str, Any]:
        """What the Python API hands back of a stored order: a copy of it
        as the marketplace serves it (the payload as stored, unless a kind
        serves less of it)"""
        return copy.deepcopy(self._orders[order_id])

    def order_ids(self) -> list[int]:
        with self.lock:
            return sorted(self._orders)

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    def _stock_left(self) -> dict[str, int] | None:
        """What a shop that does not sell out of stock has left to sell, by
        SKU (products not tracking stock left out); None when it sells
        whatever it shows"""
        if self.sells_out_of_stock:
            return None
        left = {}
        for item in self._catalog:
            quantity = self.available(item)
            if item.sku and quantity is not None:
                left[item.sku] = quantity
        return left

    # -- per kind ----------------------------------------------------------

    def available(self, item: CatalogItem) -> int | None:
        """The units of a catalogue item an order may take, where orders
        take them; None when the item does not track its stock"""
        raise NotImplementedError

    def _store(self, draft: Draft, now: dt.datetime) -> int:
        "Write a draft as this marketplace's order; its id"
        raise NotImplementedError

    def _set_status(self, order_id: int, status: str) -> None:
        raise NotImplementedError

    def _corrupt(self, raw: dict[str, Any], kind: str) -> None:
        raise NotImplementedError

    def _id_of(self, raw: dict[str, Any]) -> int:
        raise NotImplementedError

    def _lookup(self, order_id: int | str) -> int:
        "The stored id of an id as tests give it; KeyError if unknown"
        number = int(str(order_id).rsplit('/', 1)[-1])
        if number not in self._orders:
            raise KeyError(f"{self.name}: no order {order_id}")
        return number

    def _lines(self, lines: list) -> list[DraftLine]:
        result = []
        for line in lines:
            if isinstance(line, str):
                line = {'sku': line}
            elif isinstance(line, tuple | list):
                line = {'sku': line[0], 'quantity': line[1]}
            item = self._catalog_by_sku.get(line.get('sku') or '')
            price = line.get('price')
            if item is None and price is None:
                raise ValueError(f"SKU {line.get('sku')!r} is not sold by "
                    f"{self.name}: give the line a price")
            result.append(DraftLine(
                    sku=line.get('sku'),
                    title=line.get('title') or (item.title if item
                        else str(line.get('sku') or 'Custom item')),
                    quantity=int(line.get('quantity', 1)),
                    unit_price=generator.cents(
                        price if price is not None else item.price),
                    ref=item.ref if item else None))
        return result


def _override(target: Any, key: str, value: Any) -> None:
    if not hasattr(target, key):
        raise ValueError(f"{type(target).__name__} has no field {key!r}")
    setattr(target, key, value)


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    "Deep merge of dicts; other values replace"
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _second(value: dt.datetime) -> dt.datetime:
    "Aware UTC, to the second; a naive time is taken as UTC"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0)
