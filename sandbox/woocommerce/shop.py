"""The WooCommerce shop: its parts put together, authentication and the
REST routing."""
from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from ..shop import Host, Shop
from ..web import (
    BadJSON,
    Request,
    Response,
    iso_naive,
    seconds_text,
)
from .catalog import Catalog
from .model import API, TRACKING_API, Product, WooError, route_of
from .notes import Notes
from .orders import Orders
from .refunds import Refunds


class WooCommerceShop(Catalog, Orders, Notes, Refunds, Shop):
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

    def operation(self, request: Request) -> str:
        route = route_of(request)
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
        route = route_of(request)
        if route is None or (route[1].startswith(TRACKING_API)
                and not self.shipment_tracking):
            return Response.json({'code': 'rest_no_route',
                    'message': 'No route was found matching the URL and '
                    'request method.', 'data': {'status': 404}}, 404)
        handler, _, ids = route
        try:
            return getattr(self, handler)(request, *ids)
        except WooError as error:
            return Response.json(error.body, error.status)
        except BadJSON:
            return Response.json({'code': 'rest_invalid_json',
                    'message': 'Invalid JSON body passed.',
                    'data': {'status': 400}}, 400)
