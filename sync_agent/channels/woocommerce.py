"""WooCommerce (REST API v3, ``/wp-json/wc/v3``; marketplace-apis.md §2).

``normalize_order`` reads an order as ``GET /orders`` returns it (§2.2,
§2.3). ``WooCommerceAdapter`` holds the API detail: consumer key/secret
(HTTP Basic over HTTPS), orders by ``modified_after`` in GMT with page
headers, stock set in the products and variations batch endpoints, 100
items a call, with per-item errors, and read back 100 ids a call
(``include``) for the reconciliation. One quantity per SKU: WooCommerce
core has no locations. A shipment is an order note with its tracking,
visible to the customer, and the order completed when nothing is left to
ship (§2.4), each written only when the order does not show it yet.
"""
from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import requests

from ..models import Address, Customer, Order, OrderLine, OrderStatus
from .base import (
    Adapter,
    FulfilmentResult,
    FulfilmentUpdate,
    OrderPage,
    StockKey,
    StockResult,
    StockUpdate,
    chunks,
)
from .payload import PayloadError, full_name, money, street, text, utc
from .transport import ChannelError, GaveUp, json_body

logger = logging.getLogger(__name__)

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
        page = 1
        while True:
            response = self.request(
                'GET', '/orders', params={**params, 'page': page})
            orders = response.body
            if not isinstance(orders, list):
                raise ChannelError(f"orders page {page} is not a list")
            total = _int(response.headers.get('X-WP-Total'))
            pages = _int(response.headers.get('X-WP-TotalPages'))
            yield OrderPage(orders, total)
            if not orders or pages is None or page >= pages:
                return
            page += 1

    # -- Stock ----------------------------------------------------------

    def push_stock(self, updates: list[StockUpdate]) -> list[StockResult]:
        """Set stock_quantity of products and variations in batches of
        100; an item the shop refuses fails alone."""
        results: list[StockResult] = []
        by_collection, unknown = self._by_collection(updates)
        results += [StockResult(update,
                "no WooCommerce product or variation has this SKU")
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
        page = 1
        while True:
            response = self.request('GET', path, params={
                    **params, 'per_page': 100, 'page': page})
            items = response.body
            yield from items
            pages = _int(response.headers.get('X-WP-TotalPages'))
            if not items or pages is None or page >= pages:
                return
            page += 1

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
        the order has none; and whether it was added. WooCommerce takes no
        idempotency key: a post whose answer is lost is not sent again
        before the notes are read again."""
        lost = GaveUp(f"{self.config.code}: the note was never sent")
        for _ in range(self.transport.attempts):
            notes = self.request('GET', f'{path}/notes',
                params={'type': 'customer'}).body
            for shown in notes or []:
                if _same_note(shown.get('note'), note):
                    return shown['id'], False
            try:
                return self.request('POST', f'{path}/notes', attempts=1,
                    json={'note': note, 'customer_note': True}
                    ).body['id'], True
            except GaveUp as error:
                lost = error
        raise lost


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
