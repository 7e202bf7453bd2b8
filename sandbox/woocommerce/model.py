"""What the WooCommerce shop's parts share: the API's limits and
vocabularies, its error bodies, its routes, and request parameters."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from ..web import (
    BadJSON,
    Request,
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


def int_value(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def integer_or_none(value: Any) -> int | None:
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


def int_param(request: Request, name: str, default: int) -> int:
    value = request.param(name)
    if value in (None, ''):
        return default
    parsed = integer_or_none(value)
    if parsed is None:
        raise invalid_param(name, f'{name} is not of type integer.')
    return parsed


def list_param(request: Request, name: str) -> list[str]:
    "A comma list or repeated name[] parameters"
    values = request.query.get(name, []) + request.query.get(f'{name}[]', [])
    return [v.strip() for value in values for v in value.split(',')
        if v.strip()]


def selected_fields(payload: dict[str, Any], wanted: str | None
        ) -> dict[str, Any]:
    "WordPress's selected_fields filter (top-level fields only)"
    if not wanted:
        return payload
    keep = {f.strip().split('.')[0] for f in wanted.split(',')}
    return {k: v for k, v in payload.items() if k in keep}


def url(request: Request, page: int) -> str:
    query = {k: v[-1] for k, v in request.query.items()}
    query['page'] = str(page)
    return f"{request.base_url}{request.path}?{urlencode(query)}"


def json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadJSON('not an object')
    return value


def batch_body(request: Request) -> dict[str, list]:
    values = json_object(request.json())
    lists = {key: values.get(key) or [] for key in ('create', 'update',
            'delete')}
    if not all(isinstance(v, list) for v in lists.values()):
        raise invalid_param('update', 'update is not of type array.')
    if sum(len(v) for v in lists.values()) > BATCH_LIMIT:
        raise WooError(413, 'woocommerce_rest_request_entity_too_large',
            f'Unable to accept more than {BATCH_LIMIT} items for this '
            'request.')
    return lists


def not_here(action: str) -> dict[str, Any]:
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


def route_of(request: Request) -> tuple[str, str, tuple[str, ...]] | None:
    """(handler, the route as counted in calls, ids): routes of wc/v3
    are counted as '/orders/{id}', the extension's with their prefix"""
    for handler, methods, prefix, template, pattern in COMPILED:
        match = pattern.match(request.path)
        if match and request.method in methods:
            name = template if prefix == API else f'{prefix}{template}'
            return handler, name, match.groups()
    return None
