"""Orders: stored from drafts, their statuses and stock, and how they are
listed and changed of the WooCommerce shop, and the REST routes serving
them: GET/PUT /orders, /orders/batch."""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import html
import math
from bisect import bisect_right
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .. import generator
from ..generator import Draft, DraftLine
from ..shop import HUGE_PRICE, HUGE_QUANTITY, deep
from ..web import (
    Request,
    Response,
    iso_naive,
    parse_time,
)
from .model import (
    MAX_PER_PAGE,
    PAYMENT,
    STATUSES,
    STOCK_TAKEN,
    Product,
    WooError,
    batch_body,
    int_param,
    int_value,
    invalid_id,
    invalid_param,
    json_object,
    list_param,
    not_here,
    number,
    selected_fields,
    url,
)


class Orders:
    "The shop's orders (a part of WooCommerceShop)"

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
        elif kind == 'nul_note':
            raw['customer_note'] = 'gift\x00wrap'
        elif kind == 'huge_quantity':
            raw['line_items'][0]['quantity'] = HUGE_QUANTITY
        elif kind == 'huge_price':
            raw['line_items'][0]['price'] = HUGE_PRICE
            raw['line_items'][0]['total'] = HUGE_PRICE
        elif kind == 'deep_payload':
            raw['meta_data'] = [{'id': 1, 'key': 'deep', 'value': deep(100)}]

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
        per_page = int_param(request, 'per_page', 10)
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise invalid_param('per_page', 'per_page must be between 1 '
                f'({per_page} given) and {MAX_PER_PAGE}.')
        page = int_param(request, 'page', 1)
        if page < 1:
            raise invalid_param('page', 'page must be greater than or '
                'equal to 1')
        offset = request.param('offset')
        return page, per_page, (int_param(request, 'offset', 0)
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
        body = [selected_fields(serialize(i), request.param('_fields'))
            for i in ids[start:end]]
        links = []
        if page > 1 and offset is None:
            links.append(f'<{url(request, min(page - 1, pages) or 1)}>; '
                'rel="prev"')
        if page < pages and offset is None:
            links.append(f'<{url(request, page + 1)}>; rel="next"')
        headers = {'X-WP-Total': str(total), 'X-WP-TotalPages': str(pages)}
        if links:
            headers['Link'] = ', '.join(links)
        return Response.json(body, 200, headers)

    def http_list_orders(self, request: Request) -> Response:
        page, per_page, offset = self._paging(request)
        statuses = list_param(request, 'status') or ['any']
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
        include = [int(i) for i in list_param(request, 'include')
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
        return Response.json(selected_fields(
            self._order_json(self._order(order_id)['id']),
            request.param('_fields')))

    def http_update_order(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        self._update_order(raw, json_object(request.json()))
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
        values = batch_body(request)
        result: dict[str, list] = {'create': [], 'update': [], 'delete': []}
        for _ in values.get('create', []):
            result['create'].append({'id': 0, 'error': not_here('create')})
        for item in values.get('update', []):
            raw = self._orders.get(int_value(item.get('id')))
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
            result['delete'].append({'id': item, 'error': not_here(
                        'delete')})
        return Response.json(result)
