"""A WooCommerce shop: the REST API v3 subset the agent uses
(marketplace-apis.md §2) under ``{base}/wp-json/wc/v3``, plus the
Shipment Tracking extension's route (``{base}/wp-json/wc-shipment-
tracking/v3/orders/{id}/shipment-trackings``) when ``shipment_tracking``.

WordPress behaviours kept on purpose: page/per_page paging with
``X-WP-Total``, ``X-WP-TotalPages`` and ``Link`` (rows may shift between
pages); ``modified_after``/``modified_before`` are exclusive and read in the
site's time zone unless ``dates_are_gmt=true``; dates are served without an
offset (``*_gmt`` in UTC, the others in the site's zone, UTC-5 by
default); ``line_items[].price`` is a JSON number; line names are
HTML-escaped; ``stock_quantity`` is ignored (and cleared) unless the product
manages stock; batches over 100 items are refused with 413.
"""
from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import html
import math
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from . import generator
from .generator import Draft, DraftLine
from .shop import Host, Shop
from .web import (
    BadJSON,
    Request,
    Response,
    iso_naive,
    parse_time,
    seconds_text,
    utcnow,
)

API = '/wp-json/wc/v3'
TRACKING_API = '/wp-json/wc-shipment-tracking/v3'
BATCH_LIMIT = 100
MAX_PER_PAGE = 100
STATUSES = ('pending', 'processing', 'on-hold', 'completed', 'cancelled',
    'refunded', 'failed', 'trash', 'checkout-draft')
# Statuses whose orders have taken their goods off the shelf (WooCommerce
# reduces stock on payment or on-hold, gives it back on cancel).
STOCK_TAKEN = ('processing', 'on-hold', 'completed')
PAYMENT = {
    'card': ('stripe', 'Credit Card (Stripe)'),
    'paypal': ('ppcp-gateway', 'PayPal'),
    'bank_transfer': ('bacs', 'Direct bank transfer'),
    }
TRACKING_LINKS = {
    'USPS': 'https://tools.usps.com/go/TrackConfirmAction?tLabels={}',
    'UPS': 'https://www.ups.com/track?tracknum={}',
    'FedEx': 'https://www.fedex.com/fedextrack/?trknbr={}',
    'DHL': 'https://www.dhl.com/en/express/tracking.html?AWB={}',
    }


class WooError(Exception):
    "An error answer in WordPress's shape"

    def __init__(self, status: int, code: str, message: str,
            **data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {'code': code, 'message': message,
            'data': {'status': status, **data}}


def invalid_id(kind: str = 'shop_order', status: int = 404) -> WooError:
    return WooError(status, f'woocommerce_rest_{kind}_invalid_id',
        'Invalid ID.')


def invalid_param(name: str, problem: str) -> WooError:
    return WooError(400, 'rest_invalid_param',
        f'Invalid parameter(s): {name}', params={name: problem},
        details={})


def number(value: Decimal) -> int | float:
    "A JSON number, as WooCommerce serves line prices: 3, 12.5"
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class Product:
    id: int
    name: str
    sku: str
    price: Decimal
    manage_stock: bool = True
    stock_quantity: int | None = 0
    type: str = 'simple'
    variations: list[int] = field(default_factory=list)
    created: dt.datetime = field(default_factory=utcnow)
    modified: dt.datetime = field(default_factory=utcnow)
    parent_id: int = 0          # a variation's product


class WooCommerceShop(Shop):
    kind = 'woocommerce'
    default_currency = 'USD'

    def __init__(self, sandbox: Host, name: str, consumer_key: str,
            consumer_secret: str, currency: str | None = None, *,
            utc_offset_hours: float = -5) -> None:
        super().__init__(sandbox, name, currency)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.site_tz = dt.timezone(dt.timedelta(hours=utc_offset_hours))
        self.prices_include_tax = False
        self.shipment_tracking = True
        # Whether /products?sku= also finds variations (unconfirmed, §2.5).
        self.sku_lookup_includes_variations = False
        # Posts (orders, products, variations, refunds) share one id space.
        self._next_post = 100
        self._next_item = 300
        self._next_note = 200
        self._next_customer = 2
        self._products: dict[int, Product] = {}
        self._variations: dict[int, Product] = {}
        self._product_skus: dict[str, int] = {}
        self._variation_skus: dict[str, int] = {}
        self._customers: dict[str, int] = {}
        self._notes: dict[int, list[dict[str, Any]]] = {}
        self._refunds: dict[int, list[dict[str, Any]]] = {}
        self._trackings: dict[int, list[dict[str, Any]]] = {}
        self._stock_taken: set[int] = set()

    def _post_id(self) -> int:
        self._next_post += 1
        return self._next_post

    def _item_id(self) -> int:
        self._next_item += 1
        return self._next_item

    @property
    def api_url(self) -> str:
        return f"{self.base_url}{API}"

    @property
    def credentials(self) -> dict[str, str]:
        return {'consumer_key': self.consumer_key,
            'consumer_secret': self.consumer_secret}

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return super().describe() | {
                'consumer_key': self.consumer_key,
                'consumer_secret': self.consumer_secret,
                'api_url': self.api_url}

    def _local(self, when: dt.datetime) -> str:
        return iso_naive(when, self.site_tz)

    # -- catalogue and stock: Python API --------------------------------------

    def add_product(self, sku: str, title: str, price: Decimal | str,
            stock: int = 0, variant_of: str | None = None) -> dict:
        """A simple product managing its stock, or (variant_of: the SKU of
        a product) a variation of that product, which becomes variable"""
        with self.lock:
            if sku and (sku in self._product_skus
                    or self._variation_by_sku(sku)):
                raise ValueError(f"SKU {sku!r} exists in {self.name}")
            now = self.now()
            record = Product(self._post_id(), title, sku,
                generator.cents(price), True, int(stock),
                created=now, modified=now)
            if variant_of is None:
                self._products[record.id] = record
                if sku:
                    self._product_skus[sku] = record.id
            else:
                parent_id = self._product_skus.get(variant_of)
                if parent_id is None:
                    raise ValueError(f"no product with SKU {variant_of!r}")
                parent = self._products[parent_id]
                if parent.type == 'simple':
                    # Variable products sell their variations, not
                    # themselves; stock moves to the variations.
                    parent.type = 'variable'
                    parent.manage_stock = False
                    parent.stock_quantity = None
                    self._remove_catalog(parent.sku)
                record.type = 'variation'
                record.parent_id = parent_id
                parent.variations.append(record.id)
                self._variations[record.id] = record
                if sku:
                    self._variation_skus[sku] = record.id
            self._add_catalog(sku, title, record.price, record)
            return {'sku': sku, 'title': title, 'price': str(record.price),
                'product_id': record.parent_id or record.id,
                'variation_id': record.id if record.parent_id else 0}

    def _variation_by_sku(self, sku: str) -> Product | None:
        number = self._variation_skus.get(sku)
        return self._variations[number] if number is not None else None

    def _stocked(self, sku: str) -> Product:
        if sku in self._product_skus:
            return self._products[self._product_skus[sku]]
        variation = self._variation_by_sku(sku)
        if variation is None:
            raise KeyError(f"{self.name}: no SKU {sku!r}")
        return variation

    def inventory(self, sku: str) -> int | None:
        "stock_quantity of the SKU's product or variation (None: unmanaged)"
        with self.lock:
            return self._stocked(sku).stock_quantity

    def inventory_levels(self) -> dict[str, int | None]:
        with self.lock:
            levels = {p.sku: p.stock_quantity for p in self._products.values()
                if p.type == 'simple' and p.sku}
            levels.update((v.sku, v.stock_quantity)
                for v in self._variations.values() if v.sku)
            return levels

    def set_inventory(self, sku: str, quantity: int) -> None:
        with self.lock:
            record = self._stocked(sku)
            record.manage_stock = True
            record.stock_quantity = int(quantity)
            record.modified = self.now()

    def product(self, sku: str) -> dict[str, Any]:
        "The product (or variation) JSON of a SKU"
        with self.lock:
            record = self._stocked(sku)
            return (self._variation_json(record) if record.parent_id
                else self._product_json(record))

    # -- orders: writing the draft --------------------------------------------

    def _id_of(self, raw: dict[str, Any]) -> int:
        return int(raw['id'])

    def _write_updated(self, raw: dict[str, Any],
            updated: dt.datetime) -> None:
        raw['date_modified'] = self._local(updated)
        raw['date_modified_gmt'] = iso_naive(updated)

    def _status_word(self, status: str, payment: str | None) -> str:
        """WooCommerce's status for a generic or WooCommerce word;
        payment None: a status asked for, read as WooCommerce's first"""
        if payment is None and status in STATUSES:
            return status
        generic = {'paid': 'processing', 'fulfilled': 'completed',
            'shipped': 'completed', 'cancelled': 'cancelled',
            'refunded': 'refunded',
            # Bank transfers wait on-hold until the merchant sees the money.
            'pending': 'on-hold' if payment == 'bank_transfer'
                else 'pending'}
        if status in generic:
            return generic[status]
        if status in STATUSES:
            return status
        raise ValueError(f"unknown WooCommerce order status {status!r}")

    def _store(self, draft: Draft, now: dt.datetime) -> int:
        order_id = self._post_id()
        person, place = draft.customer, draft.address
        status = self._status_word(draft.status, None
            if draft.extra.get('status_given') else draft.payment_method)
        rate = draft.tax_rate
        tax_rate_id = 70 + sorted(generator.COUNTRIES).index(place.country)
        lines = [self._line_json(line, rate, tax_rate_id)
            for line in draft.lines]
        cart_tax = sum((Decimal(line['total_tax']) for line in lines),
            Decimal(0))
        items_total = sum((Decimal(line['total']) for line in lines),
            Decimal(0))
        total = items_total + draft.shipping_price + cart_tax
        method_id, method_title = PAYMENT.get(draft.payment_method,
            PAYMENT['card'])
        customer_id = 0 if draft.guest else self._customers.setdefault(
            person.email.lower(), self._customer_id())
        paid = status in ('processing', 'completed', 'refunded')
        address = {
            'first_name': person.first_name, 'last_name': person.last_name,
            'company': place.company or '', 'address_1': place.address1,
            'address_2': place.address2 or '', 'city': place.city,
            'state': place.province or '', 'postcode': place.zip,
            'country': place.country}
        raw: dict[str, Any] = {
            'id': order_id, 'parent_id': 0, 'number': str(order_id),
            'order_key': 'wc_order_' + hashlib.sha1(
                f'{self.name}/{order_id}'.encode()).hexdigest()[:13],
            'created_via': 'checkout', 'version': '9.4.0',
            'status': status, 'currency': draft.currency,
            'date_created': self._local(draft.created_at),
            'date_created_gmt': iso_naive(draft.created_at),
            'date_modified': self._local(draft.updated_at),
            'date_modified_gmt': iso_naive(draft.updated_at),
            'discount_total': str(generator.cents(draft.discount_total)),
            'discount_tax': '0.00',
            'shipping_total': str(draft.shipping_price),
            'shipping_tax': '0.00',
            'cart_tax': str(generator.cents(cart_tax)),
            'total': str(generator.cents(total)),
            'total_tax': str(generator.cents(cart_tax)),
            'prices_include_tax': self.prices_include_tax,
            'customer_id': customer_id,
            'customer_ip_address': '', 'customer_user_agent': '',
            'customer_note': draft.note or '',
            'billing': {**address, 'email': person.email,
                'phone': person.phone or ''},
            'shipping': {**address, 'phone': person.phone or ''},
            'payment_method': method_id,
            'payment_method_title': method_title,
            'transaction_id': f'txn_{order_id}' if paid else '',
            'date_paid': self._local(draft.created_at) if paid else None,
            'date_paid_gmt': iso_naive(draft.created_at) if paid else None,
            'date_completed': (self._local(draft.updated_at)
                if status == 'completed' else None),
            'date_completed_gmt': (iso_naive(draft.updated_at)
                if status == 'completed' else None),
            'cart_hash': '', 'meta_data': [],
            'line_items': lines,
            'tax_lines': [{
                'id': self._item_id(),
                'rate_code': f'{place.country}-'
                    f'{place.province or ""}-TAX-1'.replace('--', '-'),
                'rate_id': tax_rate_id, 'label': 'Tax', 'compound': False,
                'tax_total': str(generator.cents(cart_tax)),
                'shipping_tax_total': '0.00',
                'rate_percent': float(rate * 100), 'meta_data': []}]
                if rate else [],
            'shipping_lines': [{
                'id': self._item_id(), 'method_title': draft.shipping_title,
                'method_id': 'flat_rate', 'instance_id': '1',
                'total': str(draft.shipping_price), 'total_tax': '0.00',
                'taxes': [], 'meta_data': []}],
            'fee_lines': [],
            'coupon_lines': [{
                'id': self._item_id(), 'code': draft.coupon.lower(),
                'discount': str(generator.cents(draft.discount_total)),
                'discount_tax': '0.00', 'meta_data': []}]
                if draft.coupon else [],
            'refunds': [],
            'set_paid': False,
            '_links': self._order_links(order_id),
            }
        self._orders[order_id] = raw
        self._index_order(order_id, draft.updated_at)
        self._notes[order_id] = []
        self._refunds[order_id] = []
        self._trackings[order_id] = []
        self._sync_stock(order_id)
        return order_id

    def _customer_id(self) -> int:
        self._next_customer += 1
        return self._next_customer

    def _order_links(self, order_id: int) -> dict[str, Any]:
        return {'self': [{'href': f'{self.api_url}/orders/{order_id}'}],
            'collection': [{'href': f'{self.api_url}/orders'}]}

    def _line_json(self, line: DraftLine, rate: Decimal,
            rate_id: int) -> dict[str, Any]:
        record: Product | None = line.ref
        subtotal = generator.cents(line.unit_price * line.quantity)
        total = generator.cents(line.paid_unit_price * line.quantity)
        tax = generator.cents(total * rate)
        subtotal_tax = generator.cents(subtotal * rate)
        return {
            'id': self._item_id(),
            # WordPress serves names HTML-escaped ("Mug &ndash; red").
            'name': html.escape(line.title, quote=False).replace(
                '–', '&ndash;'),
            'product_id': (record.parent_id or record.id) if record else 0,
            'variation_id': record.id if record and record.parent_id else 0,
            'quantity': line.quantity, 'tax_class': '',
            'subtotal': str(subtotal), 'subtotal_tax': str(subtotal_tax),
            'total': str(total), 'total_tax': str(tax),
            'taxes': [{'id': rate_id, 'total': str(tax),
                    'subtotal': str(subtotal_tax)}] if rate else [],
            'meta_data': [], 'sku': line.sku or '',
            'price': number(line.paid_unit_price),
            }

    def _sync_stock(self, order_id: int) -> None:
        """Take an order's goods off the shelf when its status does, and
        put them back when it no longer does (as WooCommerce core)"""
        if not self.decrement_stock:
            return
        raw = self._orders[order_id]
        taken = order_id in self._stock_taken
        wanted = raw['status'] in STOCK_TAKEN
        if taken == wanted:
            return
        sign = -1 if wanted else 1
        for line in raw['line_items']:
            record = (self._variations.get(line['variation_id'])
                or self._products.get(line['product_id']))
            if record is not None and record.manage_stock \
                    and record.stock_quantity is not None:
                record.stock_quantity += sign * line['quantity']
                record.modified = self.now()
        if wanted:
            self._stock_taken.add(order_id)
        else:
            self._stock_taken.discard(order_id)

    def _set_status(self, order_id: int, status: str) -> None:
        raw = self._orders[order_id]
        word = self._status_word(status, None)
        self._apply_status(raw, word, self.now())

    def _apply_status(self, raw: dict[str, Any], word: str,
            when: dt.datetime) -> None:
        raw['status'] = word
        if word in ('processing', 'completed') and not raw['date_paid_gmt']:
            raw['date_paid'] = self._local(when)
            raw['date_paid_gmt'] = iso_naive(when)
            raw['transaction_id'] = raw['transaction_id'] or (
                f"txn_{raw['id']}")
        if word == 'completed':
            raw['date_completed'] = self._local(when)
            raw['date_completed_gmt'] = iso_naive(when)
        self._sync_stock(raw['id'])

    def _corrupt(self, raw: dict[str, Any], kind: str) -> None:
        if kind == 'missing_currency':
            raw['currency'] = ''
        elif kind == 'missing_total':
            raw['total'] = None
        elif kind == 'bad_date':
            raw['date_created_gmt'] = '22/03/2017 19:28'
            raw['date_created'] = '22/03/2017 14:28'
        elif kind == 'bad_quantity':
            raw['line_items'][0]['quantity'] = 'two'

    # -- notes, refunds, trackings: Python API --------------------------------

    def notes(self, order_id: int | str) -> list[dict[str, Any]]:
        "The order's notes, oldest first"
        with self.lock:
            return copy.deepcopy(self._notes[self._lookup(order_id)])

    def shipments(self, order_id: int | str) -> list[dict[str, Any]]:
        """What the customer is told of the order's shipments: the notes
        to the customer (core's way) and shipment-tracking items"""
        return [note for note in self.notes(order_id)
            if note.get('customer_note')] + self.fulfilments(order_id)

    def fulfilments(self, order_id: int | str) -> list[dict[str, Any]]:
        "Shipment-tracking items posted on the order"
        with self.lock:
            return copy.deepcopy(self._trackings[self._lookup(order_id)])

    def refunds(self, order_id: int | str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self._refunds[self._lookup(order_id)])

    def refund(self, order_id: int | str, amount: Decimal | str | None = None,
            lines: dict[str, int] | list | None = None, reason: str = '',
            restock: bool = False) -> dict[str, Any]:
        """A refund made in the shop's admin: lines as {sku: quantity};
        the amount defaults to those lines with their tax (or all that is
        left). A full refund makes the order `refunded`."""
        with self.lock:
            order_id = self._lookup(order_id)
            raw = self._orders[order_id]
            wanted = list((lines or {}).items()) if isinstance(
                lines, dict | None) else list(lines)
            picked = []
            for sku, quantity in wanted:
                line = next((li for li in raw['line_items']
                        if li['sku'] == sku), None)
                if line is None:
                    raise ValueError(f"no line of {sku!r} in order {order_id}")
                picked.append((line, quantity, None))
            try:
                return self._refund(
                    order_id, picked, amount, reason, restock)
            except WooError as error:
                raise ValueError(str(error)) from None

    def _refund(self, order_id: int, picked: list[tuple[dict, int, Any]],
            amount: Decimal | str | None, reason: str, restock: bool,
            api_refund: bool = False) -> dict[str, Any]:
        """Record a refund of (order line, quantity, line total or None
        for its price with tax); raises WooError when the amount is more
        than is left to refund"""
        raw = self._orders[order_id]
        refund_lines = []
        value = Decimal(0)
        for line, quantity, line_total in picked:
            price = Decimal(str(line['price']))
            tax = generator.cents(Decimal(line['total_tax'])
                / line['quantity'] * quantity)
            total = (generator.cents(Decimal(str(line_total)))
                if line_total is not None
                else generator.cents(price * quantity))
            value += total + (tax if line_total is None else 0)
            refund_lines.append({
                'id': self._item_id(), 'name': line['name'],
                'product_id': line['product_id'],
                'variation_id': line['variation_id'],
                'quantity': -quantity, 'tax_class': '',
                'subtotal': str(-total), 'subtotal_tax': str(-tax),
                'total': str(-total), 'total_tax': str(-tax), 'taxes': [],
                'meta_data': [{'id': self._item_id(),
                        'key': '_refunded_item_id',
                        'value': str(line['id'])}],
                'sku': line['sku'], 'price': -number(price)})
            if restock:
                record = (self._variations.get(line['variation_id'])
                    or self._products.get(line['product_id']))
                if record is not None and record.manage_stock:
                    record.stock_quantity = (
                        record.stock_quantity or 0) + quantity
        total = Decimal(raw['total'])
        refunded = sum((Decimal(r['amount'])
                for r in self._refunds[order_id]), Decimal(0))
        if amount is None:
            amount = value if picked else total - refunded
        amount = generator.cents(amount)
        if not 0 < amount <= total - refunded:
            # Status 400 here; WooCommerce wraps wc_create_refund's
            # errors in this code (its HTTP status: unconfirmed).
            raise WooError(400,
                'woocommerce_rest_cannot_create_order_refund',
                'Invalid refund amount.')
        refund_id = self._post_id()
        when = self._bump(order_id)
        refund = {
            'id': refund_id, 'date_created': self._local(when),
            'date_created_gmt': iso_naive(when),
            'amount': str(amount), 'reason': reason,
            'refunded_by': 1, 'refunded_payment': bool(api_refund),
            'meta_data': [], 'line_items': refund_lines,
            'shipping_lines': [], 'tax_lines': [], 'fee_lines': [],
            '_links': {
                'self': [{'href': f'{self.api_url}/orders/{order_id}'
                        f'/refunds/{refund_id}'}],
                'up': [{'href': f'{self.api_url}/orders/{order_id}'}]}}
        self._refunds[order_id].insert(0, refund)
        raw['refunds'].insert(0, {'id': refund_id, 'reason': reason,
                'total': str(-amount)})
        if refunded + amount >= total:
            self._apply_status(raw, 'refunded', when)
        return copy.deepcopy(refund)

    # -- HTTP -----------------------------------------------------------------

    def operation(self, request: Request) -> str:
        route = _route(request)
        if route is None:
            return f'{request.method} {request.path}'
        return f'{request.method} {route[1]}'

    def authenticate(self, request: Request) -> Response | None:
        key = request.param('consumer_key')
        secret = request.param('consumer_secret')
        header = request.headers.get('authorization', '')
        if header.lower().startswith('basic '):
            try:
                key, _, secret = base64.b64decode(
                    header[6:].strip()).decode().partition(':')
            except (binascii.Error, UnicodeDecodeError):
                key = secret = None
        if key == self.consumer_key and secret == self.consumer_secret:
            return None
        return Response.json({'code': 'woocommerce_rest_cannot_view',
                'message': 'Sorry, you cannot list resources.',
                'data': {'status': 401}}, 401)

    def internal_error(self) -> Response:
        return Response.json({'code': 'internal_server_error',
                'message': '<p>There has been a critical error on this '
                'website.</p>', 'data': {'status': 500},
                'additional_errors': []}, 500)

    def dispatch(self, request: Request, operation: str) -> Response:
        if self.faults.take('throttle_next'):
            return Response.html(429, 'Too Many Requests', {
                    'Retry-After': seconds_text(self.faults.retry_after_s)})
        route = _route(request)
        if route is None or (route[1].startswith(TRACKING_API)
                and not self.shipment_tracking):
            return Response.json({'code': 'rest_no_route',
                    'message': 'No route was found matching the URL and '
                    'request method.', 'data': {'status': 404}}, 404)
        handler, _, ids = route
        try:
            return HANDLERS[handler](self, request, *ids)
        except WooError as error:
            return Response.json(error.body, error.status)
        except BadJSON:
            return Response.json({'code': 'rest_invalid_json',
                    'message': 'Invalid JSON body passed.',
                    'data': {'status': 400}}, 400)

    # -- orders ---------------------------------------------------------------

    def _date_param(self, request: Request, name: str) -> tuple | None:
        value = request.param(name)
        if not value:
            return None
        gmt = (request.param('dates_are_gmt') or '').lower() in (
            '1', 'true')
        try:
            return (parse_time(value, dt.UTC if gmt else self.site_tz)
                .replace(microsecond=0),)
        except ValueError:
            raise invalid_param(name, f'{name} is not a valid date.'
                ) from None

    def _paging(self, request: Request) -> tuple[int, int, int | None]:
        per_page = _int_param(request, 'per_page', 10)
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise invalid_param('per_page', 'per_page must be between 1 '
                f'({per_page} given) and {MAX_PER_PAGE}.')
        page = _int_param(request, 'page', 1)
        if page < 1:
            raise invalid_param('page', 'page must be greater than or '
                'equal to 1')
        offset = request.param('offset')
        return page, per_page, (_int_param(request, 'offset', 0)
            if offset not in (None, '') else None)

    def _page(self, request: Request, ids: list[int],
            serialize: Callable[[int], dict[str, Any]], page: int,
            per_page: int, offset: int | None) -> Response:
        "One page of ids with WordPress's paging headers"
        total = len(ids)
        pages = math.ceil(total / per_page)
        start = (page - 1) * per_page if offset is None else offset
        end = start + per_page
        if self.faults.duplicate_pages and start > 0:
            # Rows moved down while the client paged: the last items of
            # the previous page come again first.
            start -= min(2, per_page)
            self.faults.fired['duplicate_pages'] += 1
        body = [_fields(serialize(i), request.param('_fields'))
            for i in ids[start:end]]
        links = []
        if page > 1 and offset is None:
            links.append(f'<{_url(request, min(page - 1, pages) or 1)}>; '
                'rel="prev"')
        if page < pages and offset is None:
            links.append(f'<{_url(request, page + 1)}>; rel="next"')
        headers = {'X-WP-Total': str(total), 'X-WP-TotalPages': str(pages)}
        if links:
            headers['Link'] = ', '.join(links)
        return Response.json(body, 200, headers)

    def http_list_orders(self, request: Request) -> Response:
        page, per_page, offset = self._paging(request)
        statuses = _list_param(request, 'status') or ['any']
        for status in statuses:
            if status != 'any' and status not in STATUSES:
                raise invalid_param('status', 'status[0] is not one of '
                    + ', '.join(('any',) + STATUSES) + '.')
        orderby = request.param('orderby') or 'date'
        if orderby not in ('date', 'id', 'include', 'title', 'slug',
                'modified'):
            raise invalid_param('orderby', 'orderby is not one of date, '
                'id, include, title, slug, modified.')
        order = (request.param('order') or 'desc').lower()
        if order not in ('asc', 'desc'):
            raise invalid_param('order', 'order is not one of asc, desc.')
        after = self._date_param(request, 'modified_after')
        before = self._date_param(request, 'modified_before')
        created_after = self._date_param(request, 'after')
        created_before = self._date_param(request, 'before')
        include = [int(i) for i in _list_param(request, 'include')
            if i.isdigit()]
        customer = request.param('customer')
        # Exclusive bounds, as WordPress's date queries.
        if after is not None:
            start = bisect_right(self._index, (after[0], math.inf))
        else:
            start = 0
        matches = []
        for updated, order_id in self._iter_from(start, before):
            raw = self._orders[order_id]
            status = raw['status']
            if 'any' in statuses:
                if status == 'trash':
                    continue
            elif status not in statuses:
                continue
            if include and order_id not in include:
                continue
            if customer not in (None, '') and str(
                    raw['customer_id']) != customer:
                continue
            if created_after or created_before:
                try:
                    created = parse_time(raw['date_created_gmt'])
                except ValueError:      # a malformed order: no date
                    continue
                if created_after and not created > created_after[0]:
                    continue
                if created_before and not created < created_before[0]:
                    continue
            matches.append((updated, order_id))
        if orderby == 'modified':
            ordered = [i for _, i in matches]
        elif orderby == 'include' and include:
            ordered = sorted((i for _, i in matches), key=include.index)
        elif orderby in ('id', 'title', 'slug'):
            ordered = sorted(i for _, i in matches)
        else:
            ordered = sorted((i for _, i in matches), key=lambda i: (
                    self._orders[i]['date_created_gmt'], i))
        if order == 'desc' and orderby != 'include':
            ordered.reverse()
        return self._page(request, ordered, self._order_json, page,
            per_page, offset)

    def _order_json(self, order_id: int) -> dict[str, Any]:
        return copy.deepcopy(self._orders[order_id])

    def _order(self, order_id: str) -> dict[str, Any]:
        raw = self._orders.get(int(order_id))
        if raw is None:
            raise invalid_id()
        return raw

    def http_get_order(self, request: Request, order_id: str) -> Response:
        return Response.json(_fields(self._order_json(
                    self._order(order_id)['id']), request.param('_fields')))

    def http_update_order(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        self._update_order(raw, _object(request.json()))
        return Response.json(self._order_json(raw['id']))

    def _update_order(self, raw: dict[str, Any],
            values: dict[str, Any]) -> None:
        status = values.get('status')
        if status is not None and status not in STATUSES:
            raise invalid_param('status', 'status is not one of '
                + ', '.join(STATUSES) + '.')
        now = self.now()
        for key in ('billing', 'shipping'):
            if isinstance(values.get(key), dict):
                raw[key].update(values[key])
        for key in ('customer_note', 'transaction_id', 'meta_data'):
            if key in values:
                raw[key] = values[key]
        if values.get('set_paid') and raw['status'] in ('pending',
                'on-hold', 'failed'):
            status = status or 'processing'
        if status is not None and status != raw['status']:
            self._apply_status(raw, status, now)
        self._bump(raw['id'])

    def http_batch_orders(self, request: Request) -> Response:
        values = _batch(request)
        result: dict[str, list] = {'create': [], 'update': [], 'delete': []}
        for _ in values.get('create', []):
            result['create'].append({'id': 0, 'error': _not_here('create')})
        for item in values.get('update', []):
            raw = self._orders.get(_int(item.get('id')))
            if raw is None:
                result['update'].append({'id': item.get('id'),
                        'error': invalid_id(status=400).body})
                continue
            try:
                self._update_order(raw, item)
            except WooError as error:
                result['update'].append({'id': raw['id'],
                        'error': error.body})
                continue
            result['update'].append(self._order_json(raw['id']))
        for item in values.get('delete', []):
            result['delete'].append({'id': item, 'error': _not_here(
                        'delete')})
        return Response.json(result)

    def http_list_notes(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        kind = request.param('type') or 'any'
        notes = [n for n in reversed(self._notes[raw['id']])
            if kind == 'any' or n['customer_note'] == (kind == 'customer')]
        return Response.json(notes)

    def http_add_note(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        values = _object(request.json())
        text = values.get('note')
        if not isinstance(text, str) or not text.strip():
            raise WooError(400, 'rest_missing_callback_param',
                'Missing parameter(s): note', params=['note'])
        self._next_note += 1
        now = self.now()
        note = {'id': self._next_note,
            'author': 'admin' if values.get('added_by_user') else 'system',
            'date_created': self._local(now),
            'date_created_gmt': iso_naive(now),
            'note': text, 'customer_note': bool(values.get('customer_note')),
            '_links': {'up': [{'href': f"{self.api_url}/orders/{raw['id']}"}]}}
        self._notes[raw['id']].append(note)
        return Response.json(note, 201)

    def http_list_refunds(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        return Response.json(copy.deepcopy(self._refunds[raw['id']]))

    def http_add_refund(self, request: Request, order_id: str) -> Response:
        """POST /orders/{id}/refunds: amount (wins over the lines'
        totals), reason, api_refund (recorded as refunded_payment: no
        gateway here), api_restock, line_items [{id, quantity,
        refund_total}]"""
        raw = self._order(order_id)
        values = _object(request.json())
        lines = {str(line['id']): line for line in raw['line_items']}
        picked = []
        for item in values.get('line_items') or []:
            line = lines.get(str(item.get('id')))
            quantity = _integer(item.get('quantity')) or 0
            if line is None or quantity < 0:
                raise invalid_param('line_items', 'line_items is invalid.')
            picked.append((line, quantity, item.get('refund_total')))
        amount = values.get('amount')
        refund = self._refund(raw['id'], picked,
            Decimal(str(amount)) if amount not in (None, '') else None,
            str(values.get('reason') or ''),
            bool(values.get('api_restock', True)),
            api_refund=bool(values.get('api_refund', True)))
        return Response.json(refund, 201)

    def http_list_all_refunds(self, request: Request) -> Response:
        """GET /refunds: every order's refunds with parent_id, `after` /
        `before` exclusive on the creation date, by date (or id)"""
        page, per_page, offset = self._paging(request)
        after = self._date_param(request, 'after')
        before = self._date_param(request, 'before')
        orderby = request.param('orderby') or 'date'
        if orderby not in ('date', 'id'):
            raise invalid_param('orderby', 'orderby is not one of date, id.')
        order = (request.param('order') or 'desc').lower()
        found: dict[int, dict[str, Any]] = {}
        for order_id, refunds in self._refunds.items():
            for refund in refunds:
                created = parse_time(refund['date_created_gmt'])
                if (after and not created > after[0]) or (
                        before and not created < before[0]):
                    continue
                found[refund['id']] = {**refund, 'parent_id': order_id}
        ordered = sorted(found, key=lambda i: (
                (found[i]['date_created_gmt'], i) if orderby == 'date'
                else (i,)), reverse=order == 'desc')
        return self._page(request, ordered,
            lambda i: copy.deepcopy(found[i]), page, per_page, offset)

    def http_list_trackings(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        return Response.json(copy.deepcopy(self._trackings[raw['id']]))

    def http_add_tracking(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        values = _object(request.json())
        tracking_number = values.get('tracking_number')
        if not tracking_number:
            raise WooError(400, 'rest_missing_callback_param',
                'Missing parameter(s): tracking_number',
                params=['tracking_number'])
        provider = values.get('tracking_provider') or ''
        custom = values.get('custom_tracking_provider') or ''
        link = values.get('custom_tracking_link') or ''
        if provider in TRACKING_LINKS:
            link = TRACKING_LINKS[provider].format(tracking_number)
        tracking = {
            'tracking_id': hashlib.md5(f"{raw['id']}/{tracking_number}/"
                f"{len(self._trackings[raw['id']])}".encode()).hexdigest(),
            'tracking_provider': provider or custom,
            'tracking_link': link,
            'tracking_number': str(tracking_number),
            'date_shipped': values.get('date_shipped')
                or self.now().date().isoformat()}
        self._trackings[raw['id']].append(tracking)
        self._bump(raw['id'])
        return Response.json(tracking, 201)

    # -- products -------------------------------------------------------------

    def _stock_status(self, record: Product) -> str:
        if record.type == 'variable':
            return ('instock' if any((self._variations[v].stock_quantity
                        or 0) > 0 or not self._variations[v].manage_stock
                    for v in record.variations) else 'outofstock')
        if not record.manage_stock:
            return 'instock'
        return 'instock' if (record.stock_quantity or 0) > 0 \
            else 'outofstock'

    def _dates(self, record: Product) -> dict[str, str]:
        return {'date_created': self._local(record.created),
            'date_created_gmt': iso_naive(record.created),
            'date_modified': self._local(record.modified),
            'date_modified_gmt': iso_naive(record.modified)}

    def _product_json(self, record: Product) -> dict[str, Any]:
        price = record.price
        if record.type == 'variable' and record.variations:
            price = min(self._variations[v].price for v in record.variations)
        slug = re.sub(r'[^a-z0-9]+', '-', record.name.lower()).strip('-')
        return {
            'id': record.id, 'name': record.name, 'slug': slug,
            'permalink': f'{self.base_url}/product/{slug}/',
            **self._dates(record),
            'type': record.type, 'status': 'publish', 'featured': False,
            'catalog_visibility': 'visible', 'description': '',
            'short_description': '', 'sku': record.sku,
            'price': str(price), 'regular_price': str(price)
                if record.type == 'simple' else '',
            'sale_price': '', 'on_sale': False, 'purchasable': True,
            'virtual': False, 'downloadable': False,
            'tax_status': 'taxable', 'tax_class': '',
            'manage_stock': record.manage_stock,
            'stock_quantity': record.stock_quantity,
            'stock_status': self._stock_status(record),
            'backorders': 'no', 'backorders_allowed': False,
            'backordered': False, 'low_stock_amount': None,
            'parent_id': 0, 'categories': [], 'attributes': [],
            'variations': list(record.variations), 'meta_data': [],
            '_links': {
                'self': [{'href': f'{self.api_url}/products/{record.id}'}],
                'collection': [{'href': f'{self.api_url}/products'}]}}

    def _variation_json(self, record: Product) -> dict[str, Any]:
        return {
            'id': record.id, **self._dates(record),
            'description': '', 'name': record.name,
            'permalink': f'{self.base_url}/?p={record.id}',
            'type': 'variation', 'sku': record.sku,
            'price': str(record.price), 'regular_price': str(record.price),
            'sale_price': '', 'on_sale': False, 'status': 'publish',
            'purchasable': True, 'virtual': False, 'downloadable': False,
            'tax_status': 'taxable', 'tax_class': '',
            'manage_stock': record.manage_stock,
            'stock_quantity': record.stock_quantity,
            'stock_status': self._stock_status(record),
            'backorders': 'no', 'backorders_allowed': False,
            'backordered': False, 'parent_id': record.parent_id,
            'attributes': [{'id': 0, 'name': 'Option',
                    'option': record.name}],
            'meta_data': [],
            '_links': {
                'self': [{'href': f'{self.api_url}/products/'
                        f'{record.parent_id}/variations/{record.id}'}],
                'up': [{'href': f'{self.api_url}/products/'
                        f'{record.parent_id}'}]}}

    def _any_json(self, record_id: int) -> dict[str, Any]:
        if record_id in self._variations:
            return self._variation_json(self._variations[record_id])
        return self._product_json(self._products[record_id])

    def http_list_products(self, request: Request) -> Response:
        page, per_page, offset = self._paging(request)
        skus = _list_param(request, 'sku')
        kind = request.param('type')
        include = {int(i) for i in _list_param(request, 'include')
            if i.isdigit()}
        if skus:
            ids = [self._product_skus[s] for s in dict.fromkeys(skus)
                if s in self._product_skus]
            if self.sku_lookup_includes_variations:
                ids += [self._variation_skus[s] for s in dict.fromkeys(skus)
                    if s in self._variation_skus]
        else:
            ids = list(self._products)
        ids = [i for i in ids if (not kind or (i in self._products
                    and self._products[i].type == kind))
            and (not include or i in include)]
        orderby = request.param('orderby') or 'date'
        def created(record_id: int) -> tuple[dt.datetime, int]:
            record = (self._products.get(record_id)
                or self._variations[record_id])
            return record.created, record_id

        ids.sort(reverse=(request.param('order') or 'desc') == 'desc',
            key=(lambda i: i) if orderby == 'id' else created)
        return self._page(request, ids, self._any_json, page, per_page,
            offset)

    def _product(self, product_id: str) -> Product:
        record = self._products.get(int(product_id))
        if record is None:
            raise invalid_id('product')
        return record

    def http_get_product(self, request: Request, product_id: str) -> Response:
        return Response.json(self._product_json(self._product(product_id)))

    def http_update_product(self, request: Request,
            product_id: str) -> Response:
        record = self._product(product_id)
        self._update_stocked(record, _object(request.json()))
        return Response.json(self._product_json(record))

    def _update_stocked(self, record: Product,
            values: dict[str, Any]) -> None:
        """Apply a product or variation update; checked first, so a bad
        value changes nothing"""
        manage = values.get('manage_stock', record.manage_stock)
        if isinstance(manage, str) and manage in ('true', 'false'):
            manage = manage == 'true'
        if not isinstance(manage, bool):
            raise invalid_param('manage_stock',
                'manage_stock is not of type boolean.')
        quantity = values.get('stock_quantity', record.stock_quantity)
        if 'stock_quantity' in values and values['stock_quantity'] is not None:
            quantity = _integer(values['stock_quantity'])
            if quantity is None:
                raise invalid_param('stock_quantity',
                    'stock_quantity is not of type integer.')
        sku = values.get('sku', record.sku)
        if sku != record.sku and sku and (sku in self._product_skus
                or self._variation_by_sku(sku)):
            raise WooError(400, 'product_invalid_sku',
                'Invalid or duplicated SKU.', resource_id=record.id,
                unique_sku=sku)
        price = values.get('regular_price')
        if price not in (None, ''):
            try:
                price = generator.cents(Decimal(str(price)))
            except ArithmeticError:
                raise invalid_param('regular_price',
                    'regular_price is not of type string.') from None
        if record.type == 'variable':
            # Stock of a variable product lives on its variations.
            manage = bool(values.get('manage_stock', record.manage_stock))
        record.manage_stock = manage
        # WooCommerce drops stock_quantity unless stock is managed.
        record.stock_quantity = quantity if manage else None
        if sku != record.sku:
            skus = (self._variation_skus if record.parent_id
                else self._product_skus)
            skus.pop(record.sku, None)
            if sku:
                skus[sku] = record.id
            self._remove_catalog(record.sku)
            record.sku = sku
            self._add_catalog(sku, record.name, record.price, record)
        if price not in (None, ''):
            record.price = price
        if isinstance(values.get('name'), str):
            record.name = values['name']
        record.modified = self.now()

    def http_batch_products(self, request: Request) -> Response:
        values = _batch(request)
        result: dict[str, list] = {'create': [], 'update': [], 'delete': []}
        for item in values.get('create', []):
            try:
                created = self.add_product(
                    sku=str(item.get('sku') or ''),
                    title=str(item.get('name') or 'Product'),
                    price=str(item.get('regular_price') or '0'),
                    stock=_integer(item.get('stock_quantity') or 0) or 0)
                result['create'].append(self._product_json(
                        self._products[created['product_id']]))
            except ValueError as error:
                result['create'].append({'id': 0, 'error': WooError(400,
                            'product_invalid_sku', str(error)).body})
        for item in values.get('update', []):
            record = self._products.get(_int(item.get('id')))
            if record is None:
                result['update'].append({'id': item.get('id'),
                        'error': invalid_id('product', 400).body})
                continue
            result['update'].append(self._batch_update(record, item,
                    self._product_json))
        for item in values.get('delete', []):
            result['delete'].append({'id': item,
                    'error': _not_here('delete')})
        return Response.json(result)

    def _batch_update(self, record: Product, item: dict[str, Any],
            serialize: Callable[[Product], dict]) -> dict[str, Any]:
        try:
            self._update_stocked(record, item)
        except WooError as error:
            return {'id': record.id, 'error': error.body}
        return serialize(record)

    def http_list_variations(self, request: Request,
            product_id: str) -> Response:
        record = self._product(product_id)
        page, per_page, offset = self._paging(request)
        skus = _list_param(request, 'sku')
        include = {int(i) for i in _list_param(request, 'include')
            if i.isdigit()}
        ids = [v for v in record.variations
            if (not skus or self._variations[v].sku in skus)
            and (not include or v in include)]
        ids.sort(reverse=(request.param('order') or 'desc') == 'desc')
        return self._page(request, ids, self._any_json, page, per_page,
            offset)

    def _variation(self, product_id: str, variation_id: str) -> Product:
        parent = self._product(product_id)
        record = self._variations.get(int(variation_id))
        if record is None or record.parent_id != parent.id:
            raise invalid_id('product_variation')
        return record

    def http_get_variation(self, request: Request, product_id: str,
            variation_id: str) -> Response:
        return Response.json(self._variation_json(
                self._variation(product_id, variation_id)))

    def http_update_variation(self, request: Request, product_id: str,
            variation_id: str) -> Response:
        record = self._variation(product_id, variation_id)
        self._update_stocked(record, _object(request.json()))
        return Response.json(self._variation_json(record))

    def http_batch_variations(self, request: Request,
            product_id: str) -> Response:
        parent = self._product(product_id)
        values = _batch(request)
        result: dict[str, list] = {'create': [], 'update': [], 'delete': []}
        for _ in values.get('create', []):
            result['create'].append({'id': 0, 'error': _not_here('create')})
        for item in values.get('update', []):
            record = self._variations.get(_int(item.get('id')))
            if record is None or record.parent_id != parent.id:
                result['update'].append({'id': item.get('id'),
                        'error': invalid_id('product_variation', 400).body})
                continue
            result['update'].append(self._batch_update(record, item,
                    self._variation_json))
        for item in values.get('delete', []):
            result['delete'].append({'id': item,
                    'error': _not_here('delete')})
        return Response.json(result)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _integer(value: Any) -> int | None:
    "An integer as WordPress's schema accepts one (7 or '7'), else None"
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r'-?\d+', value.strip()):
        return int(value)
    return None


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.param(name)
    if value in (None, ''):
        return default
    parsed = _integer(value)
    if parsed is None:
        raise invalid_param(name, f'{name} is not of type integer.')
    return parsed


def _list_param(request: Request, name: str) -> list[str]:
    "A comma list or repeated name[] parameters"
    values = request.query.get(name, []) + request.query.get(f'{name}[]', [])
    return [v.strip() for value in values for v in value.split(',')
        if v.strip()]


def _fields(payload: dict[str, Any], wanted: str | None) -> dict[str, Any]:
    "WordPress's _fields filter (top-level fields only)"
    if not wanted:
        return payload
    keep = {f.strip().split('.')[0] for f in wanted.split(',')}
    return {k: v for k, v in payload.items() if k in keep}


def _url(request: Request, page: int) -> str:
    query = {k: v[-1] for k, v in request.query.items()}
    query['page'] = str(page)
    return f"{request.base_url}{request.path}?{urlencode(query)}"


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadJSON('not an object')
    return value


def _batch(request: Request) -> dict[str, list]:
    values = _object(request.json())
    lists = {key: values.get(key) or [] for key in ('create', 'update',
            'delete')}
    if not all(isinstance(v, list) for v in lists.values()):
        raise invalid_param('update', 'update is not of type array.')
    if sum(len(v) for v in lists.values()) > BATCH_LIMIT:
        raise WooError(413, 'woocommerce_rest_request_entity_too_large',
            f'Unable to accept more than {BATCH_LIMIT} items for this '
            'request.')
    return lists


def _not_here(action: str) -> dict[str, Any]:
    return WooError(501, f'sandbox_cannot_{action}',
        f"The sandbox does not {action} these in a batch.").body


# (handler name, route pattern, method(s)): the first match wins.
ROUTES: list[tuple[str, str, str, str]] = [
    ('http_list_orders', 'GET', API, '/orders'),
    ('http_batch_orders', 'POST', API, '/orders/batch'),
    ('http_get_order', 'GET', API, '/orders/{id}'),
    ('http_update_order', 'PUT|POST|PATCH', API, '/orders/{id}'),
    ('http_list_notes', 'GET', API, '/orders/{id}/notes'),
    ('http_add_note', 'POST', API, '/orders/{id}/notes'),
    ('http_list_refunds', 'GET', API, '/orders/{id}/refunds'),
    ('http_add_refund', 'POST', API, '/orders/{id}/refunds'),
    ('http_list_all_refunds', 'GET', API, '/refunds'),
    ('http_list_products', 'GET', API, '/products'),
    ('http_batch_products', 'POST', API, '/products/batch'),
    ('http_get_product', 'GET', API, '/products/{id}'),
    ('http_update_product', 'PUT|POST|PATCH', API, '/products/{id}'),
    ('http_list_variations', 'GET', API, '/products/{id}/variations'),
    ('http_batch_variations', 'POST', API, '/products/{id}/variations/batch'),
    ('http_get_variation', 'GET', API, '/products/{id}/variations/{id}'),
    ('http_update_variation', 'PUT|POST|PATCH', API,
        '/products/{id}/variations/{id}'),
    ('http_list_trackings', 'GET', TRACKING_API,
        '/orders/{id}/shipment-trackings'),
    ('http_add_tracking', 'POST', TRACKING_API,
        '/orders/{id}/shipment-trackings'),
    ]
COMPILED = [(handler, methods.split('|'), prefix, template,
        re.compile('^' + re.escape(prefix)
            + re.escape(template).replace(re.escape('{id}'), r'(\d+)')
            + '/?$'))
    for handler, methods, prefix, template in ROUTES]
HANDLERS: dict[str, Callable[..., Response]] = {
    handler: getattr(WooCommerceShop, handler) for handler, *_ in ROUTES}


def _route(request: Request) -> tuple[str, str, tuple[str, ...]] | None:
    """(handler, the route as counted in calls, ids): routes of wc/v3
    are counted as '/orders/{id}', the extension's with their prefix"""
    for handler, methods, prefix, template, pattern in COMPILED:
        match = pattern.match(request.path)
        if match and request.method in methods:
            name = template if prefix == API else f'{prefix}{template}'
            return handler, name, match.groups()
    return None
