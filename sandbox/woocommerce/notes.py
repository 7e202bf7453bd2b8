"""Order notes and shipment-tracking items (how a shipment is told) of the
WooCommerce shop, and the REST routes serving them: /orders/{id}/notes,
the extension's /orders/{id}/shipment-trackings."""
from __future__ import annotations

import copy
import hashlib
from typing import Any

from ..web import (
    Request,
    Response,
    iso_naive,
)
from .model import TRACKING_LINKS, WooError, json_object


class Notes:
    "The shop's notes (a part of WooCommerceShop)"

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

    def http_list_notes(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        kind = request.param('type') or 'any'
        notes = [n for n in reversed(self._notes[raw['id']])
            if kind == 'any' or n['customer_note'] == (kind == 'customer')]
        return Response.json(notes)

    def http_add_note(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        values = json_object(request.json())
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

    def http_list_trackings(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        return Response.json(copy.deepcopy(self._trackings[raw['id']]))

    def http_add_tracking(self, request: Request, order_id: str) -> Response:
        raw = self._order(order_id)
        values = json_object(request.json())
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
