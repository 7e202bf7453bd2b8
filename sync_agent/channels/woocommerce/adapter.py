"""The WooCommerce adapter: all of the REST API v3's HTTP detail
(``/wp-json/wc/v3``; marketplace-apis.md §2).

Consumer key/secret (HTTP Basic over HTTPS), orders by ``modified_after``
in GMT with page headers, stock set in the products and variations batch
endpoints, 100 items a call, with per-item errors, and read back 100 ids a
call (``include``) for the reconciliation. One quantity per SKU:
WooCommerce core has no locations. A shipment is an order note with its
tracking, visible to the customer, and the order completed when nothing
is left to ship (§2.4), each written only when the order does not show it
yet. Refunds are read from ``GET /refunds`` (all orders' refunds, by
creation date; per order on a shop without that route) and made with
``POST /orders/{id}/refunds`` after looking for one whose reason names the
RMA (§2.6). WooCommerce core has no returns.
"""
from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

import requests

from oms_contract.models import StockRefusal

from ..base import (
    Adapter,
    FulfilmentResult,
    FulfilmentUpdate,
    OrderPage,
    RefundItem,
    RefundResult,
    RefundUpdate,
    ReturnPage,
    StockKey,
    StockResult,
    StockUpdate,
    chunks,
)
from ..payload import PayloadError, money, utc
from ..transport import ChannelError, GaveUp, json_body
from .mapper import KIND

logger = logging.getLogger(__name__)
T = TypeVar('T')


# Orders that are not shipped from: completing one would revive it.
NOT_SHIPPABLE = {'cancelled', 'refunded', 'failed', 'trash'}


def shipment_note(update: FulfilmentUpdate,
        line_items: list[dict[str, Any]]) -> str:
    """The customer's note of a shipment: carrier, tracking number and
    link; a partial shipment lists what it carries (line names as the
    order shows them). The same shipment always reads the same, so that
    the note is recognised when pushed again."""
    note = 'Shipped'
    if update.carrier:
        note += f' via {update.carrier}'
    tracking = ' '.join(filter(None,
            (update.tracking_number, update.tracking_url)))
    if tracking:
        note += f', tracking {tracking}'
    if not update.complete:
        names: dict[str, str] = {}
        for line in line_items:
            name = html.unescape(line.get('name') or '')
            if name:
                names.setdefault(f"id:{line.get('id')}", name)
                if line.get('sku'):
                    names.setdefault(f"sku:{line['sku']}", name)
        note += ': ' + ', '.join(f"{item.quantity} × " + (
                names.get(f'id:{item.external_id}')
                or names.get(f'sku:{item.sku}') or item.name)
            for item in update.items)
    return note


def _same_note(shown: Any, note: str) -> bool:
    "Whether a note WordPress stored (escaped, maybe wrapped) is this one"
    text = html.unescape(re.sub(r'<[^>]*>', '', str(shown or '')))
    return ' '.join(text.split()) == ' '.join(note.split())


class Answer(NamedTuple):
    "A successful answer: its JSON body and its headers (paging)"
    body: Any
    headers: Mapping[str, str]


ITEMS_PER_BATCH = 100  # woocommerce_rest_batch_items_limit's default


def woo_time(value: dt.datetime) -> str:
    "GMT without an offset, as dates_are_gmt=true expects"
    return value.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%S')


class WooCommerceAdapter(Adapter):
    kind = KIND
    # A stock write carries no expected quantity (§2.5): no
    # compare-and-set. Core has refunds but no returns (§2.6).
    capabilities = frozenset({'refunds', 'refund_reports'})
    stock_batch = ITEMS_PER_BATCH
    # Sorted by id, the stable order while rows change (§2.2): the cursor
    # moves only when a scan is complete.
    sorted_by_update = False
    default_page_size = 100

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.api = f'{self.config.base_url.rstrip("/")}/wp-json/wc/v3'
        self.page_size = min(self.page_size, 100)
        self.targets: dict[str, list] = self.load_cache('products')

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        "The answer to one call (kwargs: Transport.call's and requests')"
        return self.transport.call(
            method, self.api + path, self._read,
            auth=(self.credentials['consumer_key'],
                self.credentials['consumer_secret']), **kwargs)

    @staticmethod
    def _read(response: requests.Response) -> Answer:
        if response.ok:
            # Parsed once, here: a garbled 200 is worth another try.
            return Answer(json_body(response), response.headers)
        try:
            error = response.json()
            message = f"{error.get('code')}: {error.get('message')}"
        except (ValueError, AttributeError):
            message = response.text[:200]
        raise ChannelError(f"HTTP {response.status_code} {message}")

    # -- Orders ---------------------------------------------------------

    def fetch_orders(self, since: dt.datetime | None
            ) -> Iterator[OrderPage]:
        params: dict[str, Any] = {
            'dates_are_gmt': 'true', 'per_page': self.page_size,
            'orderby': 'id', 'order': 'asc', 'status': 'any'}
        if since:
            params['modified_after'] = woo_time(since)
        for response in self._pages('/orders', params):
            yield OrderPage(response.body,
                _int(response.headers.get('X-WP-Total')))

    def _pages(self, path: str, params: dict[str, Any]
            ) -> Iterator[Answer]:
        """Each page of a listing (page/per_page), until the last one the
        headers announce or an empty one"""
        page = 1
        while True:
            response = self.request(
                'GET', path, params={**params, 'page': page})
            if not isinstance(response.body, list):
                raise ChannelError(f"{path} page {page} is not a list")
            yield response
            pages = _int(response.headers.get('X-WP-TotalPages'))
            if not response.body or pages is None or page >= pages:
                return
            page += 1

    # -- Stock ----------------------------------------------------------

    def push_stock(self, updates: list[StockUpdate]) -> list[StockResult]:
        """Set stock_quantity of products and variations in batches of
        100; an item the shop refuses fails alone."""
        results: list[StockResult] = []
        by_collection, unknown = self._by_collection(updates)
        results += [StockResult(update,
                "no WooCommerce product or variation has this SKU",
                StockRefusal.unknown_sku)
            for update in unknown]
        for collection, items in by_collection.items():
            for chunk in chunks(items, ITEMS_PER_BATCH):
                results += self._batch(f'{collection}/batch', chunk)
        return results

    def read_stock(self, updates: list[StockUpdate]
            ) -> dict[StockKey, int | None]:
        """Each known SKU's stock_quantity (None when the product does not
        manage stock), 100 products or variations of one parent a call."""
        by_collection, _ = self._by_collection(updates)
        found: dict[StockKey, int | None] = {}
        for collection, items in by_collection.items():
            for chunk in chunks(items, ITEMS_PER_BATCH):
                wanted = {int(id_): update for update, id_ in chunk}
                response = self.request('GET', collection, params={
                        'include': ','.join(map(str, sorted(wanted))),
                        'per_page': ITEMS_PER_BATCH,
                        '_fields': 'id,manage_stock,stock_quantity'})
                for item in response.body or []:
                    update = wanted.get(int(item.get('id', 0)))
                    if update is not None:
                        found[update.key] = (item.get('stock_quantity')
                            if item.get('manage_stock', True) else None)
        return found

    def _by_collection(self, updates: list[StockUpdate]
            ) -> tuple[dict[str, list[tuple[StockUpdate, int]]],
                list[StockUpdate]]:
        """The updates by the collection holding their SKU (products, or a
        parent's variations) with its id there; and those of unknown SKUs"""
        targets = self.targets_for(updates)
        by_collection: dict[str, list[tuple[StockUpdate, int]]] = (
            defaultdict(list))
        unknown = []
        for update in updates:
            target = targets.get(update.sku)
            if target is None:
                unknown.append(update)
            elif target[0] == 'variation':
                by_collection[f'/products/{target[1]}/variations'].append(
                    (update, target[2]))
            else:
                by_collection['/products'].append((update, target[1]))
        return by_collection, unknown

    def _batch(self, endpoint: str, chunk: list[tuple[StockUpdate, int]]
            ) -> list[StockResult]:
        response = self.request('POST', endpoint, json={'update': [
                    {'id': id_, 'manage_stock': True,
                        'stock_quantity': update.quantity}
                    for update, id_ in chunk]})
        answered = {}
        for item in response.body.get('update') or []:
            if isinstance(item, dict) and 'id' in item:
                answered[int(item['id'])] = item
        results = []
        for update, id_ in chunk:
            item = answered.get(int(id_))
            if item is None:
                error = "the shop's answer does not mention it"
            elif item.get('error'):
                error = (f"{item['error'].get('code')}: "
                    f"{item['error'].get('message')}")
                self._forget(update.sku)
            elif item.get('stock_quantity') not in (None, update.quantity):
                error = (f"the shop kept {item['stock_quantity']} instead "
                    f"of {update.quantity}")
            else:
                error = None
            results.append(StockResult(update, error))
        return results

    def targets_for(self, updates: list[StockUpdate]) -> dict[str, list]:
        """SKU → ['product', id] or ['variation', parent id, id]: from the
        ERP's listing ids, else looked up once and cached across runs."""
        targets = {}
        for update in updates:
            if update.external_variant_id and update.external_id:
                targets[update.sku] = ['variation',
                    int(update.external_id), int(update.external_variant_id)]
            elif update.external_id:
                targets[update.sku] = ['product', int(update.external_id)]
        missing = self.to_look_up(u.sku for u in updates
            if u.sku not in targets and u.sku not in self.targets)
        if missing:
            self._look_up(missing)
            self.not_found(s for s in missing if s not in self.targets)
            self.store_cache('products', self.targets)
        for update in updates:
            if update.sku not in targets and update.sku in self.targets:
                targets[update.sku] = self.targets[update.sku]
        return targets

    def _look_up(self, skus: list[str]) -> None:
        wanted = set(skus)
        # Several SKUs a call (comma-separated `sku`; unconfirmed on old
        # WooCommerce, where it then matches nothing and the scan below
        # finds them).
        for chunk in chunks(skus, 100):
            response = self.request('GET', '/products', params={
                    'sku': ','.join(chunk), 'per_page': 100})
            for product in response.body:
                self._remember(product, wanted)
        if not wanted - set(self.targets):
            return
        # Variation SKUs: /products?sku= may not return them (unconfirmed),
        # so walk the variable products' variations.
        for product in self._all('/products', {'type': 'variable'}):
            for variation in self._all(
                    f"/products/{product['id']}/variations", {}):
                variation.setdefault('parent_id', product['id'])
                self._remember(variation, wanted)
            if not wanted - set(self.targets):
                return

    def _remember(self, item: dict[str, Any], wanted: set[str]) -> None:
        sku = item.get('sku')
        if sku not in wanted:
            return
        if item.get('type') == 'variation' or item.get('parent_id'):
            self.targets[sku] = [
                'variation', int(item['parent_id']), int(item['id'])]
        else:
            self.targets[sku] = ['product', int(item['id'])]

    def _all(self, path: str, params: dict[str, Any]
            ) -> Iterator[dict[str, Any]]:
        for response in self._pages(path, {**params, 'per_page': 100}):
            yield from response.body

    def _forget(self, sku: str) -> None:
        if self.targets.pop(sku, None):
            self.store_cache('products', self.targets)

    # -- Fulfilments ----------------------------------------------------

    def push_fulfilment(self, update: FulfilmentUpdate) -> FulfilmentResult:
        """The shipment's note for the customer (not added again when the
        order has it), then, when nothing is left to ship, the order
        completed (unless it is already): WooCommerce e-mails both."""
        if not update.order_id.isdigit():
            return FulfilmentResult(error=(
                    f"{update.order_id!r} is not a WooCommerce order id"))
        path = f'/orders/{update.order_id}'
        order = self.request('GET', path, params={
                '_fields': 'id,status,line_items'}).body
        status = order.get('status')
        if status in NOT_SHIPPABLE:
            return FulfilmentResult(error=(
                    f"the WooCommerce order is {status}: not marked "
                    "shipped"))
        note = shipment_note(update, order.get('line_items') or [])
        note_id, added = self._customer_note(path, note)
        completed = False
        if update.complete and status != 'completed':
            self.request('PUT', path, json={'status': 'completed'})
            completed = True
        return FulfilmentResult(external_id=f'note {note_id}',
            already=not (added or completed))

    def _customer_note(self, path: str, note: str) -> tuple[int, bool]:
        """The id of the order's customer note with this text, added if
        the order has none; and whether it was added."""
        def shown() -> int | None:
            notes = self.request('GET', f'{path}/notes',
                params={'type': 'customer'}).body
            return next((n['id'] for n in notes or []
                    if _same_note(n.get('note'), note)), None)
        return self._write_once('the note', shown,
            lambda: self.request('POST', f'{path}/notes', attempts=1,
                json={'note': note, 'customer_note': True}).body['id'])

    def _write_once(self, what: str, find: Callable[[], T | None],
            create: Callable[[], T]) -> tuple[T, bool]:
        """What `find` reads on the shop, else what `create` writes; and
        whether it was written. WooCommerce takes no idempotency key: a
        write whose answer is lost is not sent again before reading
        again."""
        lost = GaveUp(f"{self.config.code}: {what} was never sent")
        for _ in range(self.transport.attempts):
            found = find()
            if found is not None:
                return found, False
            try:
                return create(), True
            except GaveUp as error:
                lost = error
        raise lost

    # -- Refunds --------------------------------------------------------

    def fetch_returns(self, since: dt.datetime | None
            ) -> Iterator[ReturnPage]:
        """Pages of the shop's refunds created since `since` (refunds are
        not edited), oldest first, from ``GET /refunds``. A shop without
        that route (older WooCommerce: which versions serve it is
        unconfirmed) is read per order instead: the orders modified since,
        those with refunds listed with ``GET /orders/{id}/refunds``."""
        params: dict[str, Any] = {'dates_are_gmt': 'true',
            'per_page': self.page_size, 'orderby': 'date', 'order': 'asc'}
        if since:
            # `after` filters on the creation date (with dates_are_gmt on
            # this route: unconfirmed).
            params['after'] = woo_time(since)
        try:
            for response in self._pages('/refunds', params):
                yield ReturnPage(response.body,
                    _newest(response.body, 'date_created_gmt'),
                    _int(response.headers.get('X-WP-Total')))
        except ChannelError as error:
            if 'rest_no_route' not in str(error):
                raise
            logger.info("%s: the shop has no /refunds route: refunds read "
                "per order", self, extra={'channel': self.config.code})
            yield from self._refunds_per_order(since)

    def _refunds_per_order(self, since: dt.datetime | None
            ) -> Iterator[ReturnPage]:
        for page in self.fetch_orders(since):
            refunds = []
            for order in page.orders:
                if order.get('refunds'):
                    listed = self.request(
                        'GET', f"/orders/{order['id']}/refunds").body
                    refunds += [{**r, 'parent_id': order['id']}
                        for r in listed or []]
            yield ReturnPage(refunds,
                _newest(page.orders, 'date_modified_gmt'))

    def push_refund(self, update: RefundUpdate) -> RefundResult:
        """Refund the order (``api_refund``: the payment gateway gives the
        money back), its lines not restocked (the ERP owns stock and
        pushes levels itself), the reason starting with the RMA number; not
        made again when the order has a refund whose reason names it."""
        if not update.order_id.isdigit():
            return RefundResult(error=(
                    f"{update.order_id!r} is not a WooCommerce order id"))
        path = f'/orders/{update.order_id}'
        order = self.request('GET', path, params={
                '_fields': 'id,currency,line_items'}).body

        if update.currency != order.get('currency'):
            return RefundResult(error=(f"the refund is in "
                    f"{update.currency}, the WooCommerce order in "
                    f"{order.get('currency')}"))
        lines, problems = [], []
        for item in update.items:
            line = _order_line(item, order.get('line_items') or [])
            if line is None:
                problems.append(
                    f"the WooCommerce order has no line {item.name}")
                continue
            # Each line's share as WooCommerce's own screen proposes it;
            # `amount` wins over the lines' totals (§2.6).
            unit = money(line.get('total'), 'line_items.total') / (
                line.get('quantity') or 1)
            lines.append({'id': str(line['id']), 'quantity': item.quantity,
                'refund_total': str((unit * item.quantity).quantize(
                            Decimal('0.01')))})
        if problems:
            return RefundResult(error='; '.join(problems))
        def made() -> int | None:
            refunds = self.request('GET', f'{path}/refunds').body
            return next((r['id'] for r in refunds or []
                    if update.noted_in(r.get('reason'))), None)
        body = {'amount': str(update.amount), 'reason': update.note,
            'api_refund': True, 'api_restock': False, 'line_items': lines}
        refund_id, created = self._write_once('the refund', made,
            lambda: self.request('POST', f'{path}/refunds', attempts=1,
                json=body).body['id'])
        return RefundResult(external_id=str(refund_id), already=not created)


def _order_line(item: RefundItem, lines: list[dict[str, Any]]
        ) -> dict[str, Any] | None:
    "The order line of an item: by its id, else by SKU"
    by_id = [line for line in lines if item.external_id
        and str(line.get('id')) == str(item.external_id)]
    by_sku = [line for line in lines
        if item.sku and line.get('sku') == item.sku]
    return (by_id or by_sku or [None])[0]


def _newest(records: list[Any], field: str) -> dt.datetime | None:
    """The latest of a page's records' times (GMT); an unreadable one is
    left to normalize_returns to report"""
    times = []
    for record in records:
        try:
            times.append(utc(record[field], field, naive_is_utc=True))
        except (PayloadError, KeyError, TypeError):
            continue
    return max(times) if times else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
