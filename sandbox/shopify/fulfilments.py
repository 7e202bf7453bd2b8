"""Fulfillment orders and fulfillments of the Shopify shop, and the GraphQL
roots serving them: ``fulfillmentCreate``."""
from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from ..web import iso_z
from .model import (
    MUTATION_COST,
    OPEN_ACTIONS,
    Call,
    gid,
    gid_number,
    invalid_variable,
    location_of,
)


class Fulfilments:
    "The shop's fulfilments (a part of ShopifyShop)"

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
                    and location_of(fo) != target
                    for item in fo['lineItems']['nodes']
                    if item['lineItem']['sku'] == sku
                    and item['remainingQuantity'] >= quantity), None)
            if source is None:
                raise ValueError(f"no open fulfillment order holds "
                    f"{quantity} × {sku} elsewhere than {location!r}")
            fo, item = source
            item['remainingQuantity'] -= quantity
            item['totalQuantity'] -= quantity
            self._restock(item, quantity, location_of(fo))
            self._restock(item, -quantity, target)
            moved = next((f for f in node['fulfillmentOrders']['nodes']
                    if f['status'] == 'OPEN' and location_of(f) == target),
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

    def m_fulfillment_create(self, call: Call) -> tuple[dict, int]:
        values = call.arg('fulfillment')
        if not isinstance(values, dict):
            raise invalid_variable('fulfillment', 'FulfillmentInput!',
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
