"""Shipments of the Amazon shop: Orders v0 confirmShipment (POST
/orders/v0/orders/{orderId}/shipmentConfirmation), one package a call,
the same packageReferenceId again editing that package, and the packages
the order then shows (v2026 ``packages``)."""
from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from ..web import Request, Response, iso_z, parse_time
from .model import SpApiError, invalid_input, json_object

REQUIRED = ('packageReferenceId', 'carrierCode', 'trackingNumber',
    'shipDate', 'orderItems')


class Shipments:
    "The shop's packages (a part of AmazonShop)"

    def shipments(self, order_id: int | str) -> list[dict[str, Any]]:
        "What the buyer is told of the order's shipments: its packages"
        with self.lock:
            return copy.deepcopy(
                self._orders[self._lookup(order_id)].get('packages') or [])

    # The control API lists an order's fulfilments under this name
    fulfilments = shipments

    def deliver(self, order_id: int | str) -> dict[str, Any]:
        """The carrier delivered the order's packages: packageStatus
        DELIVERED, the order modified. ValueError when it has none."""
        with self.lock:
            number = self._lookup(order_id)
            packages = self._orders[number].get('packages') or []
            if not packages:
                raise ValueError(f"order {order_id} has no package to "
                    "deliver")
            for package in packages:
                package['packageStatus'] = {'status': 'DELIVERED',
                    'detailedStatus': 'DELIVERED'}
            self._bump(number)
            return self._as_served(number)

    def http_confirmShipment(self, request: Request,
            order_id: str) -> Response:
        """One package of an MFN order confirmed: 204, nothing in the
        body. Checked whole before anything changes."""
        number = self._number(order_id)
        record = self._orders[number]
        body = json_object(request)
        marketplace = body.get('marketplaceId')
        if not marketplace:
            raise invalid_input("Missing required field: marketplaceId")
        if marketplace != record['salesChannel'].get('marketplaceId'):
            raise invalid_input(f"Invalid marketplaceId: {marketplace!r}")
        detail = body.get('packageDetail')
        if not isinstance(detail, dict):
            raise invalid_input("Missing required field: packageDetail")
        for name in REQUIRED:
            if detail.get(name) in (None, '', []):
                raise invalid_input(
                    f"Missing required field: packageDetail.{name}")
        try:
            shipped_at = parse_time(str(detail['shipDate']))
        except ValueError:
            # As Amazon answers a MM/DD/YYYY date (marketplace-apis §3.5)
            raise SpApiError(400, 'Invalid Input', 'Invalid Input',
                None) from None
        fulfillment = record['fulfillment']
        status = fulfillment['fulfillmentStatus']
        if fulfillment.get('fulfilledBy') == 'AMAZON':
            raise invalid_input(f"Order {record['orderId']} is fulfilled "
                "by Amazon: Amazon ships it")
        if status in ('CANCELLED', 'PENDING', 'PENDING_AVAILABILITY',
                'UNFULFILLABLE'):
            raise invalid_input(f"Order {record['orderId']} cannot be "
                f"shipped: it is {status}")
        wanted = self._package_items(record, detail['orderItems'])
        reference = str(detail['packageReferenceId'])
        packages = record['packages']
        old = next((p for p in packages
                if p['packageReferenceId'] == reference), None)
        before = Counter({i['orderItemId']: i['quantity']
                for i in (old or {}).get('packageItems', [])})
        items = {item['orderItemId']: item for item in record['orderItems']}
        for item_id, quantity in wanted.items():
            left = items[item_id]['fulfillment']['quantityUnfulfilled'] \
                + before[item_id]
            if quantity > left:
                raise invalid_input(f"orderItems: quantity {quantity} of "
                    f"orderItemId {item_id} is more than the {left} left "
                    "to ship")
        for item_id, quantity in before.items():
            self._fulfil(items[item_id], -quantity)
        for item_id, quantity in wanted.items():
            self._fulfil(items[item_id], quantity)
        now = iso_z(self.now())
        carrier = detail['carrierCode']
        if carrier == 'Other' and detail.get('carrierName'):
            carrier = detail['carrierName']
        package = {'packageReferenceId': reference,
            'createdTime': old['createdTime'] if old else now,
            'packageStatus': {'status': 'IN_TRANSIT'},
            'carrier': carrier, 'shipTime': iso_z(shipped_at),
            'trackingNumber': str(detail['trackingNumber']),
            'packageItems': [{'orderItemId': item_id, 'quantity': quantity}
                for item_id, quantity in wanted.items()]}
        if detail.get('shippingMethod'):
            package['shippingService'] = detail['shippingMethod']
        if old is None:
            packages.append(package)
        else:
            old.clear()
            old.update(package)
        done = all(i['fulfillment']['quantityUnfulfilled'] <= 0
            for i in record['orderItems'])
        self._apply_status(number, 'SHIPPED' if done
            else 'PARTIALLY_SHIPPED', self.now())
        self._bump(number)
        return Response(204)

    @staticmethod
    def _package_items(record: dict[str, Any], given: Any) -> Counter:
        "The package's quantities by orderItemId, each of the order"
        if not isinstance(given, list):
            raise invalid_input("orderItems must be a list")
        known = {item['orderItemId'] for item in record['orderItems']}
        wanted: Counter = Counter()
        for entry in given:
            item_id = str((entry or {}).get('orderItemId', '')) \
                if isinstance(entry, dict) else ''
            quantity = entry.get('quantity') if isinstance(entry, dict) \
                else None
            if item_id not in known:
                raise invalid_input(f"orderItems: {item_id or 'an entry'} "
                    f"is not an item of order {record['orderId']}")
            if isinstance(quantity, bool) or not isinstance(quantity, int) \
                    or quantity < 1:
                raise invalid_input(f"orderItems: the quantity of "
                    f"orderItemId {item_id} must be a whole number >= 1")
            wanted[item_id] += quantity
        return wanted
