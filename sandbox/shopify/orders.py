"""Orders: stored from drafts, their statuses, and how they are served of
the Shopify shop, and the GraphQL roots serving them: ``orders``,
``order``."""
from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from decimal import Decimal
from typing import Any

from .. import generator
from ..generator import Draft, DraftLine
from ..graphql import UNSET
from ..shop import HUGE_PRICE, HUGE_QUANTITY, deep
from ..web import iso_z, parse_time
from .model import (
    COUNTRY_NAMES,
    DEFAULT_LINES,
    FINANCIAL,
    FULFILLMENT,
    NOT_ORDER_LINES,
    OPEN_ACTIONS,
    Call,
    GraphQLError,
    Variant,
    gid,
    gid_number,
    int_arg,
    line_cursor,
    money,
    order_cursor,
    read_cursor,
    time_bounds,
)


class Orders:
    "The shop's orders (a part of ShopifyShop)"

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
        elif kind == 'nul_note':
            raw['note'] = 'gift\x00wrap'
        elif kind == 'huge_quantity':
            raw['lineItems']['nodes'][0]['quantity'] = HUGE_QUANTITY
            raw['lineItems']['nodes'][0]['currentQuantity'] = HUGE_QUANTITY
        elif kind == 'huge_price':
            for key in ('originalUnitPriceSet', 'discountedUnitPriceSet'):
                if price := raw['lineItems']['nodes'][0].get(key):
                    price['shopMoney']['amount'] = HUGE_PRICE
        elif kind == 'deep_payload':
            raw['customAttributes'] = [deep(100)]

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
                'startCursor': line_cursor(page[0]) if page else None,
                'endCursor': line_cursor(page[-1]) if page else None},
            'nodes': page}
        return served

    def q_orders(self, call: Call) -> tuple[dict[str, Any], int]:
        first = call.first()
        lines = call.lines_first()
        lower, upper, warnings = time_bounds(call.arg('query') or '')
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
                'startCursor': order_cursor(keys[0]) if keys else None,
                'endCursor': order_cursor(keys[-1]) if keys else None},
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
        first = int_arg(lines.get('first', DEFAULT_LINES), 'first')
        after = lines.get('after')
        served = self._served(node, first, None if after is UNSET else after)
        return served, 2 + len(served['lineItems']['nodes'])
