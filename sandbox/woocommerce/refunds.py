"""Refunds of the WooCommerce shop, and the REST routes serving them:
/orders/{id}/refunds, /refunds."""
from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from .. import generator
from ..web import (
    Request,
    Response,
    iso_naive,
    parse_time,
)
from .model import (
    WooError,
    integer_or_none,
    invalid_param,
    json_object,
    number,
)


class Refunds:
    "The shop's refunds (a part of WooCommerceShop)"

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

    def http_list_refunds(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        return Response.json(copy.deepcopy(self._refunds[raw['id']]))

    def http_add_refund(self, request: Request, order_id: str) -> Response:
        """POST /orders/{id}/refunds: amount (wins over the lines'
        totals), reason, api_refund (recorded as refunded_payment: no
        gateway here), api_restock, line_items [{id, quantity,
        refund_total}]"""
        raw = self._order(order_id)
        values = json_object(request.json())
        lines = {str(line['id']): line for line in raw['line_items']}
        picked = []
        for item in values.get('line_items') or []:
            line = lines.get(str(item.get('id')))
            quantity = integer_or_none(item.get('quantity')) or 0
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
