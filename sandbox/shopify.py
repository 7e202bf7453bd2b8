"""A Shopify store: the Admin GraphQL subset the agent uses
(marketplace-apis.md §1), on ``POST {base}/admin/api/{YYYY-MM}/graphql.json``.

Requests are routed on the operation's root field (see graphql.py) and
answered with full node shapes whatever the selection set. Served roots:
``orders``, ``order``, ``productVariants``, ``locations``, ``inventoryItems``,
``inventoryItem``, ``shop``, ``inventorySetQuantities``, ``fulfillmentCreate``
(and its deprecated twin ``fulfillmentCreateV2``), ``refundCreate``
(``@idempotent`` required, as from 2026-04). Orders carry ``refunds`` (a
list), ``returns`` (a connection) and ``transactions`` (a list: the sale,
then each refund's).

Requested query cost (the leaky bucket's unit, §1.2):

=========================  ============================================
``orders``                 first × (lineItems first + 3 + fulfillments
                           first)
``order``                  1 + lineItems first (+ 10 with fulfillmentOrders)
                           + fulfillments first
``productVariants``,       1 + first
``locations``
``inventoryItems``         1 + first, × (1 + inventoryLevels first) when
                           levels are selected
``order``-less singles     1 (``shop``, ``inventoryItem``)
mutations                  10
=========================  ============================================

lineItems first defaults to 25 when the document gives none; fulfillments
(a list on Order, with its own first) cost nothing when not selected with
a first. A request
whose cost exceeds min(1000, bucket size) can never run: MAX_COST_EXCEEDED.
The actual cost (what stays taken from the bucket) is smaller: about what
was returned.
"""
from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import itertools
import json
import math
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import generator
from .generator import Draft, DraftLine
from .graphql import UNSET, Document, arguments, scan
from .shop import Host, Shop
from .web import BadJSON, Request, Response, iso_z, parse_time

API_PATH = re.compile(r'^/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json$')
INVALID_TOKEN = ("[API] Invalid API key or access token (unrecognized "
    "login or wrong password)")
THROTTLE_DOCS = 'https://shopify.dev/api/usage/rate-limits'
MAX_QUERY_COST = 1000
MAX_PAGE = 250
MAX_INPUT = 250
DEFAULT_LINES = 25
MUTATION_COST = 10
FINANCIAL = ('PENDING', 'AUTHORIZED', 'PARTIALLY_PAID', 'PAID',
    'PARTIALLY_REFUNDED', 'REFUNDED', 'VOIDED', 'EXPIRED')
FULFILLMENT = ('UNFULFILLED', 'PARTIALLY_FULFILLED', 'FULFILLED',
    'IN_PROGRESS', 'ON_HOLD', 'SCHEDULED')
# Inventory reasons (only "correction" is confirmed, §1.4).
REASONS = ('correction', 'cycle_count_available', 'damaged',
    'movement_created', 'movement_updated', 'movement_received',
    'movement_canceled', 'other', 'promotion', 'quality_control',
    'received', 'reservation_created', 'reservation_deleted',
    'reservation_updated', 'restock', 'safety_stock', 'shrinkage')
OPEN_ACTIONS = [{'action': 'CREATE_FULFILLMENT'}, {'action': 'HOLD'},
    {'action': 'MOVE'}]
# lineItems selected inside these are not the order's own.
NOT_ORDER_LINES = ('fulfillmentOrders', 'refunds', 'returns')
COUNTRY_NAMES = {'DE': 'Germany', 'FR': 'France', 'GB': 'United Kingdom',
    'US': 'United States', 'CA': 'Canada', 'CN': 'China'}
# First ids per resource: Shopify's are large; distinct ranges make a
# wrong-resource id easy to spot.
ID_START = {
    'Order': 5550000001, 'LineItem': 13500000001, 'Customer': 7700001,
    'Product': 8100000001, 'ProductVariant': 44100000001,
    'InventoryItem': 46100000001, 'InventoryLevel': 1200000001,
    'Location': 71000001, 'FulfillmentOrder': 6100000001,
    'FulfillmentOrderLineItem': 14100000001, 'Fulfillment': 5200000001,
    'FulfillmentLineItem': 11200000001, 'Refund': 9100000001,
    'RefundLineItem': 4100000001, 'InventoryAdjustmentGroup': 3100000001,
    'ShippingLine': 4600000001, 'OrderTransaction': 6700000001,
    'Return': 2100000001, 'ReturnLineItem': 2400000001,
    }
# Shopify's ReturnStatus (§1.6).
RETURN_STATUSES = ('REQUESTED', 'OPEN', 'CLOSED', 'DECLINED', 'CANCELED')


class GraphQLError(Exception):
    "A top-level error: the answer has `errors` (and maybe null data)"

    def __init__(self, message: str, code: str, *, null_data: bool = False,
            **extensions: Any) -> None:
        super().__init__(message)
        self.error = {'message': message,
            'extensions': {'code': code, **extensions}}
        self.null_data = null_data


@dataclass
class Variant:
    id: int
    product_id: int
    inventory_item_id: int
    sku: str
    title: str
    product_title: str
    price: Decimal


def gid(kind: str, number: int) -> str:
    return f'gid://shopify/{kind}/{number}'


def gid_number(value: Any, kind: str) -> int | None:
    "The number of a gid of that kind, None if it is not one"
    match = re.fullmatch(rf'gid://shopify/{kind}/(\d+)', str(value or ''))
    return int(match.group(1)) if match else None


def money(amount: Decimal, currency: str) -> dict[str, Any]:
    bag = {'amount': str(generator.cents(amount)), 'currencyCode': currency}
    return {'shopMoney': bag, 'presentmentMoney': dict(bag)}


def cursor(**values: Any) -> str:
    "Opaque to clients, like Shopify's (base64 of a small JSON object)"
    return base64.urlsafe_b64encode(
        json.dumps(values, separators=(',', ':')).encode()).decode()


def read_cursor(text: Any) -> dict[str, Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(str(text).encode()))
        if isinstance(values, dict) and 'last_id' in values:
            return values
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    raise GraphQLError(f"Invalid cursor for current pagination: {text!r}",
        'BAD_REQUEST')


class Bucket:
    """The leaky bucket of calculated query cost (§1.2): it must hold a
    query's requested cost before the query runs; the part not actually
    used is given back."""

    def __init__(self, maximum_available: float = 1000.0,
            restore_rate: float = 50.0,
            clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum_available = float(maximum_available)
        self.restore_rate = float(restore_rate)
        self.available = self.maximum_available
        self._clock = clock
        self._at = clock()

    def _restore(self) -> None:
        now = self._clock()
        self.available = min(self.maximum_available,
            self.available + (now - self._at) * self.restore_rate)
        self._at = now

    def take(self, cost: float) -> bool:
        self._restore()
        if cost > self.available:
            return False
        self.available -= cost
        return True

    def give(self, points: float) -> None:
        self._restore()
        self.available = min(self.maximum_available,
            self.available + max(0.0, points))

    def drain(self, down_to: float) -> None:
        self._restore()
        self.available = min(self.available, max(0.0, down_to))

    def set(self, maximum_available: float | None = None,
            restore_rate: float | None = None, fill: bool = True) -> None:
        if maximum_available is not None:
            if maximum_available <= 0:
                raise ValueError("maximum_available must be > 0")
            self.maximum_available = float(maximum_available)
        if restore_rate is not None:
            if restore_rate <= 0:
                raise ValueError("restore_rate must be > 0")
            self.restore_rate = float(restore_rate)
        self._restore()
        self.available = (self.maximum_available if fill
            else min(self.available, self.maximum_available))

    def status(self) -> dict[str, float]:
        self._restore()
        return {'maximumAvailable': self.maximum_available,
            # Whole points, rounded down: waiting on them is never short.
            'currentlyAvailable': float(math.floor(self.available)),
            'restoreRate': self.restore_rate}


class ShopifyShop(Shop):
    kind = 'shopify'
    default_currency = 'EUR'

    def __init__(self, sandbox: Host, name: str, token: str,
            currency: str | None = None, *,
            maximum_available: float = 1000.0, restore_rate: float = 50.0,
            location: str = 'Main warehouse') -> None:
        super().__init__(sandbox, name, currency)
        self.token = token
        self.bucket = Bucket(maximum_available, restore_rate)
        # EU shops show prices with VAT in; others add tax on top.
        self.taxes_included = self.currency in ('EUR', 'GBP')
        # Real search may match SKUs loosely (tokens, prefixes): an adapter
        # must compare `sku` exactly. True makes the sandbox do the same.
        self.sku_search_prefix = False
        self.next_number = 1001
        self._ids = {kind: itertools.count(start)
            for kind, start in ID_START.items()}
        self._locations: dict[int, str] = {}
        self._variants: dict[int, Variant] = {}
        self._by_sku: dict[str, Variant] = {}
        self._by_item: dict[int, Variant] = {}
        self._levels: dict[tuple[int, int], int] = {}
        self._customers: dict[str, int] = {}
        self._fulfillment_orders: dict[int, int] = {}
        self._fulfilments: dict[int, list[dict[str, Any]]] = {}
        self._idempotent: dict[str, tuple[str, dict[str, Any]]] = {}
        self.add_location(location)

    def _next(self, kind: str) -> int:
        return next(self._ids[kind])

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/2026-01/graphql.json"

    @property
    def credentials(self) -> dict[str, str]:
        return {'token': self.token}

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return super().describe() | {
                'token': self.token, 'graphql_url': self.graphql_url,
                'locations': [{'id': gid('Location', n), 'name': name}
                    for n, name in self._locations.items()],
                'rate_limit': self.bucket.status()}

    def set_rate_limit(self, maximum_available: float | None = None,
            restore_rate: float | None = None) -> dict[str, float]:
        "Resize the bucket (it is refilled)"
        with self.lock:
            self.bucket.set(maximum_available, restore_rate)
            return self.bucket.status()

    # -- catalogue and stock: Python API ------------------------------------

    def add_location(self, name: str) -> str:
        "A new location (stock 0 for every item); its gid"
        with self.lock:
            number = self._next('Location')
            self._locations[number] = name
            for variant in self._variants.values():
                self._levels[(variant.inventory_item_id, number)] = 0
            return gid('Location', number)

    def locations(self) -> dict[str, str]:
        "name → gid"
        with self.lock:
            return {name: gid('Location', n)
                for n, name in self._locations.items()}

    @property
    def default_location(self) -> int:
        return next(iter(self._locations))

    def add_product(self, sku: str, title: str, price: Decimal | str,
            stock: int = 0, variant_of: str | None = None) -> dict:
        """A variant with its inventory item, stocked at the first
        location. variant_of: the SKU of another variant of the same
        product."""
        with self.lock:
            if sku in self._by_sku:
                raise ValueError(f"SKU {sku!r} exists in {self.name}")
            if variant_of is not None:
                parent = self._by_sku.get(variant_of)
                if parent is None:
                    raise ValueError(f"no variant with SKU {variant_of!r}")
                product_id, product_title = (
                    parent.product_id, parent.product_title)
            else:
                product_id, product_title = self._next('Product'), title
            variant = Variant(self._next('ProductVariant'), product_id,
                self._next('InventoryItem'), sku, title, product_title,
                generator.cents(price))
            self._variants[variant.id] = variant
            self._by_sku[sku] = variant
            self._by_item[variant.inventory_item_id] = variant
            for location in self._locations:
                self._levels[(variant.inventory_item_id, location)] = 0
            self._levels[(variant.inventory_item_id,
                    self.default_location)] = int(stock)
            self._add_catalog(sku, title, variant.price, variant)
            return self._variant_ids(variant)

    def _variant_ids(self, variant: Variant) -> dict[str, Any]:
        return {'sku': variant.sku, 'title': variant.title,
            'price': str(variant.price),
            'product_id': gid('Product', variant.product_id),
            'variant_id': gid('ProductVariant', variant.id),
            'inventory_item_id': gid('InventoryItem',
                variant.inventory_item_id)}

    def product(self, sku: str) -> dict[str, Any]:
        "The ids of a SKU's variant, product and inventory item"
        with self.lock:
            return self._variant_ids(self._by_sku[sku])

    def _location_number(self, location: str | int | None) -> int | None:
        if location is None:
            return None
        if isinstance(location, int):
            return location
        number = gid_number(location, 'Location')
        if number is not None:
            return number
        for number, name in self._locations.items():
            if name == location:
                return number
        raise KeyError(f"no location {location!r}")

    def inventory(self, sku: str, location: str | int | None = None) -> int:
        """Available quantity of a SKU at a location (name or gid), or
        summed over all locations"""
        with self.lock:
            item = self._by_sku[sku].inventory_item_id
            number = self._location_number(location)
            if number is not None:
                return self._levels[(item, number)]
            return sum(self._levels[(item, n)] for n in self._locations)

    def inventory_levels(self, by_location: bool = False) -> dict[str, Any]:
        "SKU → available (summed), or SKU → {location name: available}"
        with self.lock:
            result: dict[str, Any] = {}
            for sku, variant in self._by_sku.items():
                levels = {name: self._levels[(variant.inventory_item_id, n)]
                    for n, name in self._locations.items()}
                result[sku] = levels if by_location else sum(levels.values())
            return result

    def set_inventory(self, sku: str, quantity: int,
            location: str | int | None = None) -> None:
        "Set a level directly, as a merchant editing stock would"
        with self.lock:
            number = self._location_number(location) or self.default_location
            self._levels[(self._by_sku[sku].inventory_item_id,
                    number)] = int(quantity)

    # -- orders: writing the draft -------------------------------------------

    def _id_of(self, raw: dict[str, Any]) -> int:
        return int(raw['legacyResourceId'])

    def _write_updated(self, raw: dict[str, Any],
            updated: dt.datetime) -> None:
        raw['updatedAt'] = iso_z(updated)

    def _store(self, draft: Draft, now: dt.datetime) -> int:
        number = self._next('Order')
        currency = draft.currency
        person, place = draft.customer, draft.address
        customer_id = self._customers.setdefault(
            person.email.lower(), self._next('Customer'))
        lines = [self._line_node(line, currency) for line in draft.lines]
        subtotal = draft.subtotal
        taxable = subtotal + draft.shipping_price
        if self.taxes_included:
            tax = generator.cents(taxable * draft.tax_rate
                / (1 + draft.tax_rate))
            total = taxable
        else:
            tax = generator.cents(subtotal * draft.tax_rate)
            total = taxable + tax
        address = {
            'name': f"{person.first_name} {person.last_name}",
            'firstName': person.first_name, 'lastName': person.last_name,
            'company': place.company, 'address1': place.address1,
            'address2': place.address2, 'city': place.city,
            'provinceCode': place.province, 'zip': place.zip,
            'country': COUNTRY_NAMES.get(place.country, place.country),
            'countryCodeV2': place.country, 'phone': person.phone}
        node: dict[str, Any] = {
            'id': gid('Order', number),
            'legacyResourceId': str(number),
            'name': f'#{self.next_number}',
            'createdAt': iso_z(draft.created_at),
            'updatedAt': iso_z(draft.updated_at),
            'processedAt': iso_z(draft.created_at),
            'cancelledAt': None, 'cancelReason': None,
            'closed': False, 'closedAt': None, 'test': False,
            'displayFinancialStatus': 'PAID',
            'displayFulfillmentStatus': 'UNFULFILLED',
            'email': person.email, 'phone': person.phone,
            'currencyCode': currency, 'presentmentCurrencyCode': currency,
            'taxesIncluded': self.taxes_included,
            'note': draft.note, 'tags': [],
            'discountCodes': [draft.coupon] if draft.coupon else [],
            'customer': {'id': gid('Customer', customer_id),
                'firstName': person.first_name, 'lastName': person.last_name,
                'email': person.email, 'phone': person.phone},
            'shippingAddress': address,
            'billingAddress': dict(address),
            'subtotalPriceSet': money(subtotal, currency),
            'totalDiscountsSet': money(draft.discount_total, currency),
            'totalShippingPriceSet': money(draft.shipping_price, currency),
            'totalTaxSet': money(tax, currency),
            'totalPriceSet': money(total, currency),
            'currentTotalPriceSet': money(total, currency),
            'totalRefundedSet': money(Decimal(0), currency),
            'shippingLines': {'nodes': [{
                'id': gid('ShippingLine', self._next('ShippingLine')),
                'title': draft.shipping_title, 'code': draft.shipping_code,
                'source': 'shopify', 'carrierIdentifier': None,
                'originalPriceSet': money(draft.shipping_price, currency),
                'discountedPriceSet': money(draft.shipping_price, currency),
                }]},
            'lineItems': {'nodes': lines},
            'fulfillmentOrders': {'nodes': []},
            # Order.fulfillments is a plain list (not a connection).
            'fulfillments': [],
            'refunds': [],
            'returns': {'nodes': []},
            # The payment: what refunds go back to (PENDING until paid).
            'transactions': [{
                'id': gid('OrderTransaction', self._next('OrderTransaction')),
                'kind': 'SALE', 'status': 'SUCCESS', 'gateway': 'bogus',
                'parentTransaction': None,
                'createdAt': iso_z(draft.created_at),
                'amountSet': money(total, currency)}],
            }
        self.next_number += 1
        self._orders[number] = node
        self._index_order(number, draft.updated_at)
        self._fulfilments[number] = node['fulfillments']
        self._open_fulfillment_order(number)
        self._set_status(number, draft.status, when=draft.updated_at,
            payment_method=None if draft.extra.get('status_given')
            else draft.payment_method)
        return number

    def _line_node(self, line: DraftLine, currency: str) -> dict[str, Any]:
        variant: Variant | None = line.ref
        return {
            'id': gid('LineItem', self._next('LineItem')),
            'sku': line.sku, 'name': line.title,
            'title': variant.product_title if variant else line.title,
            'variantTitle': (variant.title if variant
                and variant.title != variant.product_title else None),
            'quantity': line.quantity, 'currentQuantity': line.quantity,
            'requiresShipping': True,
            'variant': {'id': gid('ProductVariant', variant.id)}
                if variant else None,
            'product': {'id': gid('Product', variant.product_id)}
                if variant else None,
            'originalUnitPriceSet': money(line.unit_price, currency),
            'discountedUnitPriceSet': money(line.paid_unit_price, currency),
            'originalTotalSet': money(line.unit_price * line.quantity,
                currency),
            'discountedTotalSet': money(line.paid_unit_price * line.quantity,
                currency),
            }

    def _open_fulfillment_order(self, order_id: int) -> None:
        "One fulfillment order at the first location; stock taken there"
        node = self._orders[order_id]
        location = self.default_location
        number = self._next('FulfillmentOrder')
        items = []
        for line in node['lineItems']['nodes']:
            items.append({
                'id': gid('FulfillmentOrderLineItem',
                    self._next('FulfillmentOrderLineItem')),
                'remainingQuantity': line['quantity'],
                'totalQuantity': line['quantity'],
                'lineItem': {'id': line['id'], 'sku': line['sku']}})
            variant = self._variant_of_line(line)
            if variant is not None and self.decrement_stock:
                self._levels[(variant.inventory_item_id, location)] -= (
                    line['quantity'])
        node['fulfillmentOrders']['nodes'].append({
            'id': gid('FulfillmentOrder', number),
            'status': 'OPEN', 'requestStatus': 'UNSUBMITTED',
            'assignedLocation': {
                'name': self._locations[location],
                'location': {'id': gid('Location', location)}},
            'supportedActions': list(OPEN_ACTIONS),
            'lineItems': {'nodes': items}})
        self._fulfillment_orders[number] = order_id

    def _variant_of_line(self, line: dict[str, Any]) -> Variant | None:
        number = gid_number((line.get('variant') or {}).get('id'),
            'ProductVariant')
        return self._variants.get(number) if number else None

    def _set_status(self, order_id: int, status: str, *,
            when: dt.datetime | None = None,
            payment_method: str | None = None) -> None:
        """Move an order to a generic status (paid, pending, cancelled,
        fulfilled, refunded, closed) or a Shopify financial or fulfillment
        status"""
        node = self._orders[order_id]
        when = when or self.now()
        word = status.upper()
        sale = node['transactions'][0]
        if status == 'paid':
            node['displayFinancialStatus'] = 'PAID'
            sale['status'] = 'SUCCESS'
        elif status == 'pending':
            # Card payments are authorised first; transfers just wait
            # (and a pending asked for is PENDING).
            node['displayFinancialStatus'] = (
                'AUTHORIZED' if payment_method == 'card' else 'PENDING')
            sale['status'] = 'PENDING'
        elif status == 'cancelled':
            self._cancel(node, when)
        elif status in ('fulfilled', 'shipped') or word == 'FULFILLED':
            if node['displayFinancialStatus'] in ('PENDING', 'AUTHORIZED'):
                node['displayFinancialStatus'] = 'PAID'
            for fo in node['fulfillmentOrders']['nodes']:
                if fo['status'] in ('OPEN', 'IN_PROGRESS'):
                    self._fulfil(node, [(fo, None)], tracking=[],
                        notify=False, message=None, when=when)
        elif status == 'refunded' or word == 'REFUNDED':
            node['displayFinancialStatus'] = 'REFUNDED'
            node['totalRefundedSet'] = node['totalPriceSet']
        elif status == 'closed':
            node['closed'] = True
            node['closedAt'] = iso_z(when)
        elif word in FINANCIAL:
            node['displayFinancialStatus'] = word
        elif word in FULFILLMENT:
            node['displayFulfillmentStatus'] = word
        else:
            raise ValueError(f"unknown Shopify order status {status!r}")

    def _cancel(self, node: dict[str, Any], when: dt.datetime) -> None:
        if node['cancelledAt']:
            return
        node['cancelledAt'] = iso_z(when)
        node['cancelReason'] = 'CUSTOMER'
        node['closed'] = True
        node['closedAt'] = iso_z(when)
        if node['displayFinancialStatus'] in ('PENDING', 'AUTHORIZED'):
            node['displayFinancialStatus'] = 'VOIDED'
        else:
            node['displayFinancialStatus'] = 'REFUNDED'
            node['totalRefundedSet'] = node['totalPriceSet']
        for fo in node['fulfillmentOrders']['nodes']:
            if fo['status'] in ('OPEN', 'IN_PROGRESS'):
                # Cancelling restocks what had not left.
                location = gid_number(
                    fo['assignedLocation']['location']['id'], 'Location')
                for item in fo['lineItems']['nodes']:
                    self._restock(item, item['remainingQuantity'], location)
                    item['remainingQuantity'] = 0
                fo['status'] = 'CANCELLED'
                fo['supportedActions'] = []

    def _restock(self, fo_item: dict[str, Any], quantity: int,
            location: int | None) -> None:
        if not self.decrement_stock or not quantity or location is None:
            return
        variant = self._by_sku.get(fo_item['lineItem'].get('sku') or '')
        if variant is not None:
            self._levels[(variant.inventory_item_id, location)] += quantity

    def _corrupt(self, raw: dict[str, Any], kind: str) -> None:
        if kind == 'missing_currency':
            raw['currencyCode'] = None
            raw['presentmentCurrencyCode'] = None
            for key in ('totalPriceSet', 'subtotalPriceSet'):
                for bag in raw[key].values():
                    bag['currencyCode'] = None
        elif kind == 'missing_total':
            raw['totalPriceSet'] = None
        elif kind == 'bad_date':
            raw['createdAt'] = 'yesterday afternoon'
        elif kind == 'bad_quantity':
            raw['lineItems']['nodes'][0]['quantity'] = -1
            raw['lineItems']['nodes'][0]['currentQuantity'] = -1

    # -- fulfilments, refunds: Python API -------------------------------------

    def shipments(self, order_id: int | str) -> list[dict[str, Any]]:
        "What the customer is told of the order's shipments"
        return self.fulfilments(order_id)

    def fulfilments(self, order_id: int | str) -> list[dict[str, Any]]:
        "The fulfillments created on an order (fulfillmentCreate or status)"
        with self.lock:
            return copy.deepcopy(self._fulfilments[self._lookup(order_id)])

    def deliver(self, order_id: int | str) -> dict[str, Any]:
        """The carrier delivered the order's parcels: each fulfillment of
        it shows displayStatus DELIVERED (a value **unconfirmed** in the
        contract, §1.7) and the order is modified. Returns the stored
        order; ValueError when it has no fulfillment."""
        with self.lock:
            number = self._lookup(order_id)
            shipped = [f for f in self._fulfilments[number]
                if f['status'] == 'SUCCESS']
            if not shipped:
                raise ValueError(
                    f"order {order_id} has no fulfillment to deliver")
            when = iso_z(self._bump(number))
            for fulfilment in shipped:
                fulfilment.update(displayStatus='DELIVERED',
                    deliveredAt=when, updatedAt=when)
            return copy.deepcopy(self._orders[number])

    def move_to_location(self, order_id: int | str, sku: str,
            quantity: int, location: str) -> None:
        """Move units of an order line to another location (name or gid),
        as Shopify's fulfillmentOrderMove does: they leave the open
        fulfillment order holding them for one at that location (opened
        if needed), and their reservation moves with them."""
        with self.lock:
            number = self._lookup(order_id)
            node = self._orders[number]
            target = self._location_number(location)
            if target not in self._locations:
                raise KeyError(f"no location {location!r}")
            source = next(((fo, item)
                    for fo in node['fulfillmentOrders']['nodes']
                    if fo['status'] == 'OPEN'
                    and _location_of(fo) != target
                    for item in fo['lineItems']['nodes']
                    if item['lineItem']['sku'] == sku
                    and item['remainingQuantity'] >= quantity), None)
            if source is None:
                raise ValueError(f"no open fulfillment order holds "
                    f"{quantity} × {sku} elsewhere than {location!r}")
            fo, item = source
            item['remainingQuantity'] -= quantity
            item['totalQuantity'] -= quantity
            self._restock(item, quantity, _location_of(fo))
            self._restock(item, -quantity, target)
            moved = next((f for f in node['fulfillmentOrders']['nodes']
                    if f['status'] == 'OPEN' and _location_of(f) == target),
                None)
            if moved is None:
                moved = {
                    'id': gid('FulfillmentOrder',
                        self._next('FulfillmentOrder')),
                    'status': 'OPEN', 'requestStatus': 'UNSUBMITTED',
                    'assignedLocation': {
                        'name': self._locations[target],
                        'location': {'id': gid('Location', target)}},
                    'supportedActions': list(OPEN_ACTIONS),
                    'lineItems': {'nodes': []}}
                node['fulfillmentOrders']['nodes'].append(moved)
                self._fulfillment_orders[gid_number(
                        moved['id'], 'FulfillmentOrder')] = number
            moved['lineItems']['nodes'].append({
                'id': gid('FulfillmentOrderLineItem',
                    self._next('FulfillmentOrderLineItem')),
                'remainingQuantity': quantity, 'totalQuantity': quantity,
                'lineItem': dict(item['lineItem'])})
            if not any(i['remainingQuantity']
                    for i in fo['lineItems']['nodes']):
                fo['status'] = 'CLOSED'
                fo['supportedActions'] = []
            self._bump(number)

    def fulfillment_orders(self, order_id: int | str) -> list[dict]:
        with self.lock:
            node = self._orders[self._lookup(order_id)]
            return copy.deepcopy(node['fulfillmentOrders']['nodes'])

    def refunds(self, order_id: int | str) -> list[dict[str, Any]]:
        "The order's refunds, as its ``refunds`` field lists them"
        return self.order(order_id)['refunds']

    def refund(self, order_id: int | str, amount: Decimal | str | None = None,
            lines: dict[str, int] | list | None = None,
            note: str | None = None, restock: bool = False,
            return_id: str | None = None) -> dict:
        """A refund made in Shopify's admin: lines as {sku: quantity} (or
        [(sku, quantity)]), the amount defaulting to those lines' price
        (or all that is left), back to the sale; return_id: the return it
        settles. Updates financial status, current quantities,
        updatedAt."""
        with self.lock:
            number = self._lookup(order_id)
            node = self._orders[number]
            wanted = list((lines or {}).items()) if isinstance(
                lines, dict | None) else list(lines)
            picked = []
            for sku, quantity in wanted:
                line = next((li for li in node['lineItems']['nodes']
                        if li['sku'] == sku
                        and li['currentQuantity'] >= quantity), None)
                if line is None:
                    raise ValueError(f"no line of {sku!r} with {quantity} "
                        "left to refund")
                picked.append((line, quantity, restock))
            if amount is None:
                total = Decimal(node['totalPriceSet']['shopMoney']['amount'])
                refunded = Decimal(
                    node['totalRefundedSet']['shopMoney']['amount'])
                amount = sum((_unit_price(line) * quantity
                        for line, quantity, _ in picked), Decimal(0)
                    ) if picked else total - refunded
            sale = node['transactions'][0]
            transactions = [{'parentId': sale['id'], 'amount': str(amount),
                    'gateway': sale['gateway'], 'kind': 'REFUND'}]
            if return_id is not None and not any(
                    r['id'] == return_id for r in node['returns']['nodes']):
                raise KeyError(f"no return {return_id} on order {order_id}")
            return self._refund(number, picked, transactions, note,
                return_id)

    def _refund(self, number: int, picked: list[tuple[dict, int, bool]],
            transactions: list[dict[str, Any]], note: str | None,
            return_id: str | None = None) -> dict[str, Any]:
        """Record a refund: (line, quantity, restock) picked, the money
        back through REFUND transactions against the order's payments"""
        node = self._orders[number]
        currency = node['currencyCode'] or self.currency
        refund_lines = []
        for line, quantity, restock in picked:
            line['currentQuantity'] -= quantity
            self._unfulfillable(node, line['id'], quantity, restock)
            refund_lines.append({
                'id': gid('RefundLineItem', self._next('RefundLineItem')),
                'quantity': quantity,
                'restockType': 'RETURN' if restock else 'NO_RESTOCK',
                'restocked': restock,
                'lineItem': {'id': line['id'], 'sku': line['sku']},
                'subtotalSet': money(_unit_price(line) * quantity,
                    currency)})
        when = self._bump(number)
        made = []
        for values in transactions:
            made.append({
                'id': gid('OrderTransaction', self._next('OrderTransaction')),
                'kind': 'REFUND', 'status': 'SUCCESS',
                'gateway': values.get('gateway'),
                'parentTransaction': {'id': values['parentId']},
                'createdAt': iso_z(when),
                'amountSet': money(Decimal(str(values['amount'])),
                    currency)})
        amount = sum((Decimal(t['amountSet']['shopMoney']['amount'])
                for t in made), Decimal(0))
        node['transactions'].extend(made)
        refund = {
            'id': gid('Refund', self._next('Refund')),
            'createdAt': iso_z(when), 'updatedAt': iso_z(when),
            'note': note,
            'totalRefundedSet': money(amount, currency),
            'return': {'id': return_id} if return_id else None,
            'transactions': {'nodes': made},
            'refundLineItems': {'nodes': refund_lines}}
        node['refunds'].append(refund)
        total = Decimal(node['totalPriceSet']['shopMoney']['amount'])
        refunded = Decimal(
            node['totalRefundedSet']['shopMoney']['amount']) + amount
        node['totalRefundedSet'] = money(refunded, currency)
        node['currentTotalPriceSet'] = money(total - refunded, currency)
        node['displayFinancialStatus'] = (
            'REFUNDED' if refunded >= total else 'PARTIALLY_REFUNDED')
        return copy.deepcopy(refund)

    def request_return(self, order_id: int | str,
            lines: dict[str, int] | list, reason: str = 'OTHER',
            note: str | None = None) -> dict[str, Any]:
        """A customer asks to return units (lines as {sku: quantity}):
        a return REQUESTED, the order modified. Shopify only lets
        fulfilled units be returned; the sandbox does not check."""
        with self.lock:
            number = self._lookup(order_id)
            node = self._orders[number]
            wanted = list(lines.items()) if isinstance(lines, dict) \
                else list(lines)
            items = []
            for sku, quantity in wanted:
                line = next((li for li in node['lineItems']['nodes']
                        if li['sku'] == sku), None)
                if line is None:
                    raise ValueError(f"no line of {sku!r} in {order_id}")
                items.append({
                    'id': gid('ReturnLineItem', self._next('ReturnLineItem')),
                    'quantity': int(quantity), 'returnReason': reason,
                    'returnReasonNote': note,
                    'fulfillmentLineItem': {'lineItem': {
                            'id': line['id'], 'sku': line['sku']}}})
            when = iso_z(self._bump(number))
            returns = node['returns']['nodes']
            node_return = {
                'id': gid('Return', self._next('Return')),
                'name': f"{node['name']}-R{len(returns) + 1}",
                'status': 'REQUESTED', 'createdAt': when, 'closedAt': None,
                'returnLineItems': {'nodes': items}}
            returns.append(node_return)
            return copy.deepcopy(node_return)

    def set_return_status(self, return_id: str, status: str
            ) -> dict[str, Any]:
        """Move a return (approved: OPEN, received: CLOSED, DECLINED,
        CANCELED), as the merchant does; the order is modified"""
        with self.lock:
            status = status.upper()
            if status not in RETURN_STATUSES:
                raise ValueError(f"unknown return status {status!r}")
            for number, node in self._orders.items():
                for found in node['returns']['nodes']:
                    if found['id'] == return_id:
                        when = iso_z(self._bump(number))
                        found['status'] = status
                        if status in ('CLOSED', 'DECLINED', 'CANCELED'):
                            found['closedAt'] = when
                        return copy.deepcopy(found)
            raise KeyError(f"no return {return_id}")

    def _unfulfillable(self, node: dict[str, Any], line_id: str,
            quantity: int, restock: bool) -> None:
        "Refunded units leave the fulfillment orders (and maybe the shelf)"
        for fo in node['fulfillmentOrders']['nodes']:
            for item in fo['lineItems']['nodes']:
                if item['lineItem']['id'] != line_id or not quantity:
                    continue
                taken = min(quantity, item['remainingQuantity'])
                item['remainingQuantity'] -= taken
                quantity -= taken
                if restock:
                    self._restock(item, taken, gid_number(
                        fo['assignedLocation']['location']['id'],
                        'Location'))
            if fo['status'] in ('OPEN', 'IN_PROGRESS') and not any(
                    i['remainingQuantity'] for i in fo['lineItems']['nodes']):
                fo['status'] = 'CLOSED'
                fo['supportedActions'] = []

    # -- HTTP ----------------------------------------------------------------

    def operation(self, request: Request) -> str:
        request_state = _parsed(request)
        return request_state.get('root') or 'graphql'

    def authenticate(self, request: Request) -> Response | None:
        if request.headers.get('x-shopify-access-token') == self.token:
            return None
        return Response.json({'errors': INVALID_TOKEN}, 401)

    def internal_error(self) -> Response:
        return Response.json({'errors': 'Internal Server Error'}, 500)

    def dispatch(self, request: Request, operation: str) -> Response:
        if not API_PATH.match(request.path):
            return Response.json({'errors': 'Not Found'}, 404)
        if request.method != 'POST':
            return Response.json({'errors': 'Method Not Allowed'}, 405)
        state = _parsed(request)
        if 'invalid' in state:
            return Response.json({'errors': {
                        'query': 'Required parameter missing or invalid'}},
                400)
        document: Document = state['document']
        variables = state['variables']
        root = document.root
        handler = ROOTS.get(root or '')
        try:
            if handler is None:
                raise GraphQLError(
                    f"Field '{root}' doesn't exist on type 'QueryRoot'",
                    'undefinedField', typeName='QueryRoot', fieldName=root)
            call = Call(self, state['query'], document, variables)
            cost = COSTS[root](call)
            limit = min(MAX_QUERY_COST, self.bucket.maximum_available)
            if cost > limit:
                return self._max_cost(cost, limit)
            if self.faults.take('throttle_next'):
                self.bucket.drain(cost - self.bucket.restore_rate
                    * self.faults.retry_after_s)
                return self._throttled(cost)
            if not self.bucket.take(cost):
                return self._throttled(cost)
            try:
                data, actual = handler(call)
            except GraphQLError:
                self.bucket.give(cost - 1)
                raise
            self.bucket.give(cost - min(actual, cost))
            extensions: dict[str, Any] = {'cost': {
                    'requestedQueryCost': cost,
                    'actualQueryCost': min(actual, cost),
                    'throttleStatus': self.bucket.status()}}
            if call.warnings:
                extensions['search'] = [{'path': [root],
                        'query': call.arg('query'),
                        'warnings': call.warnings}]
            return Response.json({'data': {root: data},
                    'extensions': extensions})
        except GraphQLError as error:
            body: dict[str, Any] = {'errors': [error.error]}
            if error.null_data:
                body = {'data': {root: None}, **body}
            return Response.json(body)

    def _throttled(self, cost: int) -> Response:
        status = self.bucket.status()
        body = {'errors': [{'message': 'Throttled', 'extensions': {
                        'code': 'THROTTLED', 'documentation': THROTTLE_DOCS}}],
            'extensions': {'cost': {
                'requestedQueryCost': cost, 'actualQueryCost': None,
                'throttleStatus': status}}}
        http = self.faults.throttle_http_status
        headers = {}
        if http == 429:
            wait = max(0.0, (cost - status['currentlyAvailable'])
                / status['restoreRate'])
            headers['Retry-After'] = f'{math.ceil(wait * 10) / 10:g}'
        return Response.json(body, http, headers)

    def _max_cost(self, cost: int, limit: float) -> Response:
        message = (f"Query cost is {cost}, which exceeds the single query "
            f"max cost limit ({limit:g}).\n\nSee {THROTTLE_DOCS} for more "
            "information on how the cost of a query is calculated.")
        return Response.json({'errors': [{'message': message, 'extensions': {
                        'code': 'MAX_COST_EXCEEDED', 'cost': cost,
                        'maxCost': limit, 'documentation': THROTTLE_DOCS}}],
                'extensions': {'cost': {
                    'requestedQueryCost': cost, 'actualQueryCost': None,
                    'throttleStatus': self.bucket.status()}}})

    # -- query roots ---------------------------------------------------------

    def _served(self, node: dict[str, Any], first: int,
            after: Any = None) -> dict[str, Any]:
        "The node with one page of its line items"
        lines = node['lineItems']['nodes']
        start = 0
        if after is not None:
            last = read_cursor(after)['last_id']
            start = next((n + 1 for n, line in enumerate(lines)
                    if gid_number(line['id'], 'LineItem') == last), None)
            if start is None:
                raise GraphQLError(
                    f"Invalid cursor for current pagination: {after!r}",
                    'BAD_REQUEST')
        page = lines[start:start + first]
        served = dict(node)
        served['lineItems'] = {
            'pageInfo': {
                'hasNextPage': start + first < len(lines),
                'hasPreviousPage': start > 0,
                'startCursor': _line_cursor(page[0]) if page else None,
                'endCursor': _line_cursor(page[-1]) if page else None},
            'nodes': page}
        return served

    def q_orders(self, call: Call) -> tuple[dict[str, Any], int]:
        first = call.first()
        lines = call.lines_first()
        lower, upper, warnings = _time_bounds(call.arg('query') or '')
        position = 0
        if lower is not None:
            position = bisect_left(self._index, lower)
        after = call.arg('after')
        if after is not None:
            values = read_cursor(after)
            try:
                key = (parse_time(values['last_value']),
                    int(values['last_id']))
            except (KeyError, TypeError, ValueError):
                raise GraphQLError(
                    f"Invalid cursor for current pagination: {after!r}",
                    'BAD_REQUEST') from None
            # duplicate_pages: the next page starts again with this node.
            search = (bisect_left if self.faults.duplicate_pages
                else bisect_right)
            position = max(position, search(self._index, key))
            if self.faults.duplicate_pages:
                self.faults.fired['duplicate_pages'] += 1
        keys = []
        for key in self._iter_from(position, upper):
            keys.append(key)
            if len(keys) > first:
                break
        more = len(keys) > first
        keys = keys[:first]
        nodes = [self._served(self._orders[number], lines)
            for _, number in keys]
        data = {
            'pageInfo': {
                'hasNextPage': more, 'hasPreviousPage': position > 0,
                'startCursor': _order_cursor(keys[0]) if keys else None,
                'endCursor': _order_cursor(keys[-1]) if keys else None},
            'nodes': nodes}
        if warnings:
            call.warnings.extend(warnings)
        actual = 1 + sum(2 + len(n['lineItems']['nodes']) for n in nodes)
        return data, actual

    def q_order(self, call: Call) -> tuple[dict[str, Any] | None, int]:
        value = call.arg('id')
        number = gid_number(value, 'Order')
        if number is None:
            raise GraphQLError(f"Invalid global id '{value}'",
                'argumentLiteralsIncompatible')
        node = self._orders.get(number)
        if node is None:
            return None, 1
        lines = call.nested('lineItems', outside=NOT_ORDER_LINES)
        first = _int_arg(lines.get('first', DEFAULT_LINES), 'first')
        after = lines.get('after')
        served = self._served(node, first, None if after is UNSET else after)
        return served, 2 + len(served['lineItems']['nodes'])

    def q_product_variants(self, call: Call) -> tuple[dict[str, Any], int]:
        first = call.first()
        text = call.arg('query') or ''
        skus = _sku_terms(text)
        if skus is None:
            candidates = sorted(self._variants)
        elif self.sku_search_prefix:
            candidates = sorted(v.id for v in self._variants.values()
                if any(v.sku.startswith(s) for s in skus))
        else:
            candidates = sorted(self._by_sku[s].id for s in set(skus)
                if s in self._by_sku)
        after = call.arg('after')
        if after is not None:
            last = read_cursor(after)['last_id']
            candidates = candidates[bisect_right(candidates, last):]
        page = candidates[:first]
        nodes = [self._variant_node(self._variants[n]) for n in page]
        return {'pageInfo': {'hasNextPage': len(candidates) > first,
                'endCursor': cursor(last_id=page[-1]) if page else None},
            'nodes': nodes}, 1 + len(nodes)

    def _variant_node(self, variant: Variant) -> dict[str, Any]:
        item = variant.inventory_item_id
        return {
            'id': gid('ProductVariant', variant.id),
            'legacyResourceId': str(variant.id),
            'sku': variant.sku, 'title': variant.title,
            'displayName': (variant.product_title if variant.title
                == variant.product_title
                else f"{variant.product_title} - {variant.title}"),
            'price': str(variant.price),
            'inventoryQuantity': sum(self._levels[(item, n)]
                for n in self._locations),
            'inventoryItem': {'id': gid('InventoryItem', item),
                'tracked': True},
            'product': {'id': gid('Product', variant.product_id),
                'title': variant.product_title}}

    def q_locations(self, call: Call) -> tuple[dict[str, Any], int]:
        first = call.first(default=50)
        numbers = list(self._locations)
        after = call.arg('after')
        if after is not None:
            last = read_cursor(after)['last_id']
            numbers = [n for n in numbers if n > last]
        page = numbers[:first]
        return {'pageInfo': {'hasNextPage': len(numbers) > first,
                'endCursor': cursor(last_id=page[-1]) if page else None},
            'nodes': [{'id': gid('Location', n), 'name': self._locations[n],
                    'legacyResourceId': str(n), 'isActive': True}
                for n in page]}, 1 + len(page)

    def _item_node(self, variant: Variant, levels_first: int | None = None
            ) -> dict[str, Any]:
        item = variant.inventory_item_id
        levels = []
        locations = list(self._locations.items())
        for number, name in locations[:levels_first]:
            quantity = self._levels[(item, number)]
            levels.append({
                'id': (f'gid://shopify/InventoryLevel/{number}'
                    f'?inventory_item_id={item}'),
                'location': {'id': gid('Location', number), 'name': name},
                'quantities': [{'name': 'available', 'quantity': quantity},
                    {'name': 'on_hand', 'quantity': quantity}]})
        return {'id': gid('InventoryItem', item),
            'legacyResourceId': str(item), 'sku': variant.sku,
            'tracked': True,
            'variant': {'id': gid('ProductVariant', variant.id)},
            'inventoryLevels': {'nodes': levels, 'pageInfo': {
                    'hasNextPage': len(levels) < len(locations)}}}

    def q_inventory_items(self, call: Call) -> tuple[dict[str, Any], int]:
        "Items by `sku:` and `id:` terms (any of them), or all"
        first = call.first()
        text = call.arg('query') or ''
        skus = set(_sku_terms(text) or ())
        ids = {int(n) for n in ID_TERM.findall(text)}
        variants = sorted((v for v in self._variants.values()
                if not text.strip() or v.sku in skus
                or v.inventory_item_id in ids),
            key=lambda v: v.inventory_item_id)
        after = call.arg('after')
        if after is not None:
            last = read_cursor(after)['last_id']
            variants = [v for v in variants if v.inventory_item_id > last]
        page = variants[:first]
        return {'pageInfo': {'hasNextPage': len(variants) > first,
                'endCursor': cursor(last_id=page[-1].inventory_item_id)
                if page else None},
            'nodes': [self._item_node(v, call.levels_first())
                for v in page]}, 1 + len(page)

    def q_inventory_item(self, call: Call) -> tuple[dict | None, int]:
        number = gid_number(call.arg('id'), 'InventoryItem')
        if number is None:
            raise GraphQLError(f"Invalid global id '{call.arg('id')}'",
                'argumentLiteralsIncompatible')
        variant = self._by_item.get(number)
        return (self._item_node(variant, call.levels_first())
            if variant else None), 1

    def q_shop(self, call: Call) -> tuple[dict[str, Any], int]:
        return {'name': self.name, 'currencyCode': self.currency,
            'myshopifyDomain': f'{self.name}.myshopify.com',
            'ianaTimezone': 'Etc/UTC'}, 1

    # -- mutations -----------------------------------------------------------

    def _once(self, call: Call, run: Callable[[], dict[str, Any]],
            empty: dict[str, Any], required: bool) -> dict[str, Any]:
        """Run a mutation once per idempotency key: the same key with the
        same variables answers what the first call answered."""
        key = call.idempotency_key()
        if key is None:
            if required:
                raise GraphQLError(
                    "An idempotency key is required for this mutation: "
                    'add @idempotent(key: "<unique key>") to the field.',
                    'BAD_REQUEST', null_data=True)
            return run()
        fingerprint = json.dumps(call.variables, sort_keys=True)
        stored = self._idempotent.get(key)
        if stored is not None:
            if stored[0] != fingerprint:
                return {**empty, 'userErrors': [{'field': None,
                            'message': "The idempotency key was already used "
                            "with different parameters.",
                            'code': 'IDEMPOTENCY_KEY_PARAMETER_MISMATCH'}]}
            return copy.deepcopy(stored[1])
        result = run()
        self._idempotent[key] = (fingerprint, copy.deepcopy(result))
        return result

    def m_inventory_set_quantities(self, call: Call) -> tuple[dict, int]:
        values = call.arg('input')
        if not isinstance(values, dict):
            raise _invalid_variable('input', 'InventorySetQuantitiesInput!',
                "Expected value to not be null")
        quantities = values.get('quantities')
        if not isinstance(quantities, list):
            raise _invalid_variable('input', 'InventorySetQuantitiesInput!',
                "quantities (Expected value to not be null)")
        if len(quantities) > MAX_INPUT:
            raise GraphQLError(
                f"The input array size of {len(quantities)} is greater than "
                f"the maximum allowed of {MAX_INPUT}.",
                'MAX_INPUT_SIZE_EXCEEDED',
                path=['inventorySetQuantities', 'input', 'quantities'])
        for n, quantity in enumerate(quantities):
            if not isinstance(quantity, dict):
                raise _invalid_variable(
                    'input', 'InventorySetQuantitiesInput!',
                    f"quantities.{n} (Expected value to be an object)")
            for field in ('inventoryItemId', 'locationId', 'quantity'):
                if quantity.get(field) is None:
                    raise _invalid_variable(
                        'input', 'InventorySetQuantitiesInput!',
                        f"quantities.{n}.{field} (Expected value to not be "
                        "null)")
            for field in ('quantity', 'changeFromQuantity'):
                value = quantity.get(field)
                if value is not None and (isinstance(value, bool)
                        or not isinstance(value, int)):
                    raise _invalid_variable(
                        'input', 'InventorySetQuantitiesInput!',
                        f"quantities.{n}.{field} (Could not coerce value "
                        f"{json.dumps(value)} to Int)")
        empty = {'inventoryAdjustmentGroup': None}
        result = self._once(call,
            lambda: self._set_quantities(values, quantities), empty,
            required=True)
        return result, MUTATION_COST

    def _set_quantities(self, values: dict[str, Any],
            quantities: list[dict[str, Any]]) -> dict[str, Any]:
        "Check every quantity, then apply all or nothing"
        errors = []
        name = values.get('name')
        if name not in ('available', 'on_hand'):
            errors.append(_user_error(['input', 'name'],
                    f"The quantity name {name!r} is not valid: use "
                    "available or on_hand.", 'INVALID_NAME'))
        reason = values.get('reason')
        if reason not in REASONS:
            errors.append(_user_error(['input', 'reason'],
                    f"The reason {reason!r} is not valid.", 'INVALID_REASON'))
        staged: dict[tuple[int, int], int] = {}
        changes = []
        for n, quantity in enumerate(quantities):
            field = ['input', 'quantities', str(n)]
            item = gid_number(quantity['inventoryItemId'], 'InventoryItem')
            location = gid_number(quantity['locationId'], 'Location')
            if item not in self._by_item:
                errors.append(_user_error(field + ['inventoryItemId'],
                        "The specified inventory item could not be found.",
                        'INVALID_INVENTORY_ITEM'))
                continue
            if location not in self._locations:
                errors.append(_user_error(field + ['locationId'],
                        "The specified location could not be found.",
                        'INVALID_LOCATION'))
                continue
            if 'changeFromQuantity' not in quantity:
                # Mandatory from 2026-04 (§1.4); mirrored here.
                errors.append(_user_error(field + ['changeFromQuantity'],
                        "changeFromQuantity is required: pass the quantity "
                        "you expect, or null to skip the check.",
                        'CHANGE_FROM_QUANTITY_REQUIRED'))
                continue
            level = (item, location)
            current = staged.get(level, self._levels[level])
            expected = quantity['changeFromQuantity']
            if expected is not None and expected != current:
                errors.append(_user_error(field + ['changeFromQuantity'],
                        "The changeFromQuantity value does not match "
                        "persisted value.", 'CHANGE_FROM_QUANTITY_STALE'))
                continue
            staged[level] = quantity['quantity']
            delta = quantity['quantity'] - current
            for change_name in (name, 'on_hand' if name == 'available'
                    else 'available'):
                changes.append({
                    'name': change_name, 'delta': delta,
                    'quantityAfterChange': quantity['quantity'],
                    'item': {'id': gid('InventoryItem', item),
                        'sku': self._by_item[item].sku},
                    'location': {'id': gid('Location', location),
                        'name': self._locations[location]},
                    'ledgerDocumentUri': None})
        if errors:
            return {'inventoryAdjustmentGroup': None, 'userErrors': errors}
        self._levels.update(staged)
        return {'inventoryAdjustmentGroup': {
                'id': gid('InventoryAdjustmentGroup',
                    self._next('InventoryAdjustmentGroup')),
                'createdAt': iso_z(self.now()),
                'reason': reason,
                'referenceDocumentUri': values.get('referenceDocumentUri'),
                'changes': changes},
            'userErrors': []}

    def m_fulfillment_create(self, call: Call) -> tuple[dict, int]:
        values = call.arg('fulfillment')
        if not isinstance(values, dict):
            raise _invalid_variable('fulfillment', 'FulfillmentInput!',
                "Expected value to not be null")
        message = call.arg('message')
        result = self._once(call,
            lambda: self._create_fulfilment(values, message),
            {'fulfillment': None}, required=False)
        return result, MUTATION_COST

    def _create_fulfilment(self, values: dict[str, Any],
            message: Any) -> dict[str, Any]:
        def failed(field: list[str], text: str) -> dict[str, Any]:
            return {'fulfillment': None,
                'userErrors': [{'field': field, 'message': text}]}

        groups = values.get('lineItemsByFulfillmentOrder') or []
        if not groups:
            return failed(['fulfillment', 'lineItemsByFulfillmentOrder'],
                "Line items by fulfillment order can't be blank.")
        picked = []
        orders, locations = set(), set()
        for n, group in enumerate(groups):
            field = ['fulfillment', 'lineItemsByFulfillmentOrder', str(n)]
            number = gid_number(group.get('fulfillmentOrderId'),
                'FulfillmentOrder')
            order_id = self._fulfillment_orders.get(number or 0)
            if order_id is None:
                return failed(field + ['fulfillmentOrderId'],
                    "Fulfillment order does not exist.")
            fo = next(f for f in self._orders[order_id]['fulfillmentOrders'][
                    'nodes'] if f['id'] == group['fulfillmentOrderId'])
            if {'action': 'CREATE_FULFILLMENT'} not in fo['supportedActions']:
                return failed(field, "Fulfillment order "
                    f"{fo['id']} has an unfulfillable status= "
                    f"{fo['status'].lower()}.")
            orders.add(order_id)
            locations.add(fo['assignedLocation']['location']['id'])
            wanted = group.get('fulfillmentOrderLineItems')
            if wanted is None:
                picked.append((fo, None))
                continue
            items = {i['id']: i for i in fo['lineItems']['nodes']}
            chosen = []
            for m, entry in enumerate(wanted):
                item = items.get(entry.get('id'))
                quantity = entry.get('quantity')
                if item is None:
                    return failed(field + ['fulfillmentOrderLineItems',
                            str(m), 'id'],
                        "Fulfillment order line item does not exist.")
                if (not isinstance(quantity, int) or quantity < 1
                        or quantity > item['remainingQuantity']):
                    return failed(field + ['fulfillmentOrderLineItems',
                            str(m), 'quantity'],
                        "Invalid fulfillment order line item quantity "
                        "requested.")
                chosen.append((item, quantity))
            picked.append((fo, chosen))
        if len(orders) > 1 or len(locations) > 1:
            return failed(['fulfillment'], "All fulfillment orders must "
                "belong to the same order and be assigned to the same "
                "location.")
        tracking = values.get('trackingInfo') or {}
        numbers = tracking.get('numbers') or (
            [tracking['number']] if tracking.get('number') else [])
        urls = tracking.get('urls') or (
            [tracking['url']] if tracking.get('url') else [])
        if (tracking.get('number') and tracking.get('numbers')) or (
                tracking.get('url') and tracking.get('urls')):
            return failed(['fulfillment', 'trackingInfo'],
                "Use number and url, or numbers and urls, not both.")
        infos = [{'company': tracking.get('company'), 'number': number,
                'url': urls[n] if n < len(urls) else None}
            for n, number in enumerate(numbers or [None])]
        if not numbers and not tracking.get('company') and not urls:
            infos = []
        node = self._orders[orders.pop()]
        fulfilment = self._fulfil(node, picked, tracking=infos,
            notify=bool(values.get('notifyCustomer', False)),
            message=message if isinstance(message, str) else None,
            when=None)
        return {'fulfillment': fulfilment, 'userErrors': []}

    def m_refund_create(self, call: Call) -> tuple[dict, int]:
        values = call.arg('input')
        if not isinstance(values, dict) or not values.get('orderId'):
            raise _invalid_variable('input', 'RefundInput!',
                "orderId (Expected value to not be null)")
        result = self._once(call, lambda: self._create_refund(values),
            {'refund': None, 'order': None}, required=True)
        return result, MUTATION_COST

    def _create_refund(self, values: dict[str, Any]) -> dict[str, Any]:
        def failed(field: list[str], text: str) -> dict[str, Any]:
            return {'refund': None, 'order': None,
                'userErrors': [{'field': field, 'message': text}]}

        number = gid_number(values['orderId'], 'Order')
        node = self._orders.get(number or 0)
        if node is None:
            return failed(['orderId'], "Order does not exist.")
        lines = {line['id']: line for line in node['lineItems']['nodes']}
        picked = []
        for n, item in enumerate(values.get('refundLineItems') or []):
            line = lines.get(item.get('lineItemId'))
            quantity = item.get('quantity')
            field = ['refundLineItems', str(n)]
            if line is None:
                return failed(field + ['lineItemId'],
                    "Line item does not exist.")
            if not isinstance(quantity, int) or not (
                    0 < quantity <= line['currentQuantity']):
                return failed(field + ['quantity'], "Quantity cannot "
                    "refund more items than were purchased.")
            picked.append((line, quantity,
                    item.get('restockType') == 'RETURN'))
        payments = {t['id']: t for t in node['transactions']}
        refunded: dict[str, Decimal] = {}
        for t in node['transactions']:
            if t['kind'] == 'REFUND':
                parent = t['parentTransaction']['id']
                refunded[parent] = refunded.get(parent, Decimal(0)) + (
                    Decimal(t['amountSet']['shopMoney']['amount']))
        transactions = values.get('transactions') or []
        for n, t in enumerate(transactions):
            field = ['transactions', str(n)]
            parent = payments.get(t.get('parentId'))
            if t.get('kind') != 'REFUND' or parent is None or (
                    parent['kind'] not in ('SALE', 'CAPTURE')
                    or parent['status'] != 'SUCCESS'):
                return failed(field + ['parentId'], "A refund needs a "
                    "successful sale or capture as its parent.")
            amount = Decimal(str(t.get('amount')))
            left = Decimal(parent['amountSet']['shopMoney']['amount']) - (
                refunded.get(parent['id'], Decimal(0)))
            if not 0 < amount <= left:
                return failed(field + ['amount'], f"Amount {amount} is "
                    f"more than the {left} left to refund.")
            refunded[parent['id']] = refunded.get(
                parent['id'], Decimal(0)) + amount
        note = values.get('note')
        refund = self._refund(number, picked, transactions,
            note if isinstance(note, str) else None)
        return {'refund': refund, 'order': {'id': node['id']},
            'userErrors': []}

    def _fulfil(self, node: dict[str, Any], picked: list, *,
            tracking: list[dict], notify: bool, message: str | None,
            when: dt.datetime | None) -> dict[str, Any]:
        """Ship picked (fulfillment order, [(item, quantity)] or None for
        all remaining); update statuses; bump the order unless when is
        given (a status set while the order is written)"""
        lines = []
        for fo, chosen in picked:
            if chosen is None:
                chosen = [(i, i['remainingQuantity'])
                    for i in fo['lineItems']['nodes']
                    if i['remainingQuantity']]
            for item, quantity in chosen:
                item['remainingQuantity'] -= quantity
                lines.append({'id': gid('FulfillmentLineItem',
                            self._next('FulfillmentLineItem')),
                    'quantity': quantity,
                    'lineItem': dict(item['lineItem'])})
            remaining = any(i['remainingQuantity']
                for i in fo['lineItems']['nodes'])
            fo['status'] = 'IN_PROGRESS' if remaining else 'CLOSED'
            if not remaining:
                fo['supportedActions'] = []
        left = any(i['remainingQuantity']
            for fo in node['fulfillmentOrders']['nodes']
            if fo['status'] in ('OPEN', 'IN_PROGRESS')
            for i in fo['lineItems']['nodes'])
        node['displayFulfillmentStatus'] = (
            'PARTIALLY_FULFILLED' if left else 'FULFILLED')
        number = int(node['legacyResourceId'])
        if when is None:
            when = self._bump(number)
        fulfilment = {
            'id': gid('Fulfillment', self._next('Fulfillment')),
            'status': 'SUCCESS', 'displayStatus': 'FULFILLED',
            'createdAt': iso_z(when), 'updatedAt': iso_z(when),
            'deliveredAt': None,
            'trackingInfo': tracking, 'notifyCustomer': notify,
            'message': message,
            'fulfillmentLineItems': {'nodes': lines}}
        self._fulfilments[number].append(fulfilment)
        return copy.deepcopy(fulfilment)


class Call:
    "One GraphQL request: its document, variables and argument helpers"

    def __init__(self, shop: ShopifyShop, query: str, document: Document,
            variables: dict[str, Any]) -> None:
        self.shop = shop
        self.query = query
        self.document = document
        self.variables = variables
        root = document.field(document.root or '', root=True)
        self.args = arguments(root.args, variables) if root else {}
        self.warnings: list[dict[str, Any]] = []

    def arg(self, name: str, default: Any = None) -> Any:
        value = self.args.get(name, UNSET)
        return default if value is UNSET else value

    def first(self, default: int | None = None) -> int:
        value = self.arg('first', default)
        if value is None:
            raise GraphQLError("you must provide one of first or last",
                'BAD_REQUEST')
        return _int_arg(value, 'first')

    def nested(self, name: str, outside: tuple[str, ...] = ()) -> dict:
        found = self.document.field(name, outside=outside)
        return arguments(found.args, self.variables) if found else {}

    def lines_first(self) -> int:
        value = self.nested('lineItems', outside=NOT_ORDER_LINES).get(
            'first', DEFAULT_LINES)
        return _int_arg(DEFAULT_LINES if value is UNSET else value, 'first')

    def fulfillments_first(self) -> int:
        "The order's fulfillments' first; 0 when not selected with one"
        value = self.nested('fulfillments').get('first', UNSET)
        return 0 if value is UNSET else _int_arg(value, 'first')

    def levels_first(self) -> int | None:
        "inventoryLevels' first, None when levels are not selected"
        if self.document.field('inventoryLevels') is None:
            return None
        value = self.nested('inventoryLevels').get('first', UNSET)
        if value is UNSET:
            raise GraphQLError("you must provide one of first or last",
                'BAD_REQUEST')
        return _int_arg(value, 'first')

    def idempotency_key(self) -> str | None:
        found = self.document.field('@idempotent')
        if found is None:
            return None
        key = arguments(found.args, self.variables).get('key')
        return None if key is UNSET or key in (None, '') else str(key)


def _unit_price(line: dict[str, Any]) -> Decimal:
    return Decimal(line['discountedUnitPriceSet']['shopMoney']['amount'])


def _location_of(fo: dict[str, Any]) -> int | None:
    "The number of a fulfillment order's assigned location"
    return gid_number(fo['assignedLocation']['location']['id'], 'Location')


def _int_arg(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GraphQLError(f"Argument '{name}' must be an Int, got "
            f"{json.dumps(value)}", 'argumentLiteralsIncompatible')
    if not 1 <= value <= MAX_PAGE:
        raise GraphQLError(f"The '{name}' argument must be between 1 and "
            f"{MAX_PAGE}, got {value}.", 'BAD_REQUEST')
    return value


def _invalid_variable(name: str, kind: str, problem: str) -> GraphQLError:
    return GraphQLError(f"Variable ${name} of type {kind} was provided "
        f"invalid value for {problem}", 'INVALID_VARIABLE')


def _user_error(field: list[str], message: str, code: str) -> dict:
    return {'field': field, 'message': message, 'code': code}


def _order_cursor(key: tuple[dt.datetime, int]) -> str:
    return cursor(last_id=key[1], last_value=iso_z(key[0]))


def _line_cursor(line: dict[str, Any]) -> str:
    number = gid_number(line['id'], 'LineItem')
    return cursor(last_id=number, last_value=number)


SEARCH_TIME = re.compile(r'''
    (updated_at|created_at) : \s* (>=|<=|>|<|=)? \s*
    (?: '([^']*)' | "([^"]*)" | (\S+) )''', re.VERBOSE)
SKU_TERM = re.compile(r'''\bsku:(?:"([^"]*)"|'([^']*)'|(\S+))''')
ID_TERM = re.compile(r'\bid:(\d+)\b')


def _time_bounds(text: str) -> tuple[tuple | None, tuple | None, list]:
    """Index bounds (lower inclusive, upper exclusive) of the updated_at
    terms of a search query; unreadable terms are dropped with a warning,
    as Shopify's search does. created_at terms are not supported."""
    lower = upper = None
    warnings = []
    for match in SEARCH_TIME.finditer(text):
        field, op = match.group(1), match.group(2) or '='
        value = next(g for g in match.group(3, 4, 5) if g is not None)
        try:
            when = parse_time(value).replace(microsecond=0)
        except ValueError:
            warnings.append({'field': field,
                    'message': f"Invalid date: {value!r}"})
            continue
        if field != 'updated_at':
            warnings.append({'field': field,
                    'message': "not supported by the sandbox: ignored"})
            continue
        if op in ('>=', '='):
            candidate = (when,)
            lower = max(lower, candidate) if lower else candidate
        if op == '>':
            candidate = (when, math.inf)
            lower = max(lower, candidate) if lower else candidate
        if op in ('<', '<=', '='):
            candidate = (when,) if op == '<' else (when, math.inf)
            upper = min(upper, candidate) if upper else candidate
    return lower, upper, warnings


def _sku_terms(text: str) -> list[str] | None:
    "The SKUs of `sku:A OR sku:'B C'`, None when the query names none"
    if not text.strip():
        return None
    return [next(g for g in m.groups() if g is not None)
        for m in SKU_TERM.finditer(text)]


def _parsed(request: Request) -> dict[str, Any]:
    "The request's JSON body and scanned document, read once"
    cached = request.extra.get('graphql')
    if cached is not None:
        return cached
    state: dict[str, Any] = {}
    try:
        body = request.json()
        query = body.get('query') if isinstance(body, dict) else None
        variables = body.get('variables') or {}
        if not isinstance(query, str) or not isinstance(variables, dict):
            raise BadJSON('query')
        state.update(query=query, variables=variables,
            document=scan(query))
        state['root'] = state['document'].root
    except (BadJSON, AttributeError):
        state['invalid'] = True
    request.extra['graphql'] = state
    return state


ROOTS: dict[str, Callable[[Call], tuple[Any, int]]] = {
    'orders': lambda c: c.shop.q_orders(c),
    'order': lambda c: c.shop.q_order(c),
    'productVariants': lambda c: c.shop.q_product_variants(c),
    'locations': lambda c: c.shop.q_locations(c),
    'inventoryItems': lambda c: c.shop.q_inventory_items(c),
    'inventoryItem': lambda c: c.shop.q_inventory_item(c),
    'shop': lambda c: c.shop.q_shop(c),
    'inventorySetQuantities': lambda c: c.shop.m_inventory_set_quantities(c),
    'fulfillmentCreate': lambda c: c.shop.m_fulfillment_create(c),
    'fulfillmentCreateV2': lambda c: c.shop.m_fulfillment_create(c),
    'refundCreate': lambda c: c.shop.m_refund_create(c),
    }
COSTS: dict[str, Callable[[Call], int]] = {
    'orders': lambda c: c.first() * (
        c.lines_first() + 3 + c.fulfillments_first()),
    'order': lambda c: 1 + c.lines_first() + c.fulfillments_first() + (
        10 if c.document.field('fulfillmentOrders') else 0),
    'productVariants': lambda c: 1 + c.first(),
    'locations': lambda c: 1 + c.first(default=50),
    'inventoryItems': lambda c: 1 + c.first() * (
        1 + (c.levels_first() or 0)),
    'inventoryItem': lambda c: 1,
    'shop': lambda c: 1,
    'inventorySetQuantities': lambda c: MUTATION_COST,
    'fulfillmentCreate': lambda c: MUTATION_COST,
    'fulfillmentCreateV2': lambda c: MUTATION_COST,
    'refundCreate': lambda c: MUTATION_COST,
    }
