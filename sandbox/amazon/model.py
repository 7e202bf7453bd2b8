"""What the Amazon shop's parts share: the SP-API's vocabularies (statuses,
fulfilment channels, marketplaces), its error bodies, its routes and
their operation names, money in both versions' shapes, request
parameters, and the server-side paging tokens."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..web import BadJSON, Request, parse_time

# marketplaceId: (name served in salesChannel / SalesChannel, domain of
# the anonymised buyer e-mails)
MARKETPLACES = {
    'ATVPDKIKX0DER': ('Amazon.com', 'marketplace.amazon.com'),
    'A2EUQ1WTGCTBG2': ('Amazon.ca', 'marketplace.amazon.ca'),
    'A1F83G8C2ARO7P': ('Amazon.co.uk', 'marketplace.amazon.co.uk'),
    'A1PA6795UKMFR9': ('Amazon.de', 'marketplace.amazon.de'),
    'A13V1IB3VIYZZH': ('Amazon.fr', 'marketplace.amazon.fr'),
    }

# Orders 2026-01-01 fulfillmentStatus → Orders v0 OrderStatus
V0_STATUSES = {
    'PENDING_AVAILABILITY': 'PendingAvailability', 'PENDING': 'Pending',
    'UNSHIPPED': 'Unshipped', 'PARTIALLY_SHIPPED': 'PartiallyShipped',
    'SHIPPED': 'Shipped', 'CANCELLED': 'Canceled',
    'UNFULFILLABLE': 'Unfulfillable',
    }
STATUSES = tuple(V0_STATUSES)
# v0 only: shipped, the invoice not yet confirmed (2026 says SHIPPED)
INVOICE_UNCONFIRMED = 'InvoiceUnconfirmed'
# The generator's words
GENERIC = {'paid': 'UNSHIPPED', 'pending': 'PENDING',
    'cancelled': 'CANCELLED', 'fulfilled': 'SHIPPED', 'shipped': 'SHIPPED'}
# Orders without a delivery address yet (v2026 recipient, v0 ShippingAddress)
NO_ADDRESS = ('PENDING', 'PENDING_AVAILABILITY')
# v0 serves ShippingAddress only in these (marketplace-apis.md §3.2a)
V0_ADDRESS = ('Unshipped', 'PartiallyShipped', 'Shipped', INVOICE_UNCONFIRMED)
# fulfilledBy (2026) → FulfillmentChannel (v0)
CHANNELS = {'MERCHANT': 'MFN', 'AMAZON': 'AFN'}
SERVICE_LEVEL = 'STANDARD'

LWA_PATH = '/auth/o2/token'
UPLOADS = '/_uploads/'

# (operation, method, path): the operation names calls are counted and
# rate-limited under; '{}' is one path segment.
ROUTES: list[tuple[str, str, str]] = [
    ('createRestrictedDataToken', 'POST',
        '/tokens/2021-03-01/restrictedDataToken'),
    ('searchOrders', 'GET', '/orders/2026-01-01/orders'),
    ('getOrder', 'GET', '/orders/2026-01-01/orders/{}'),
    ('getOrders', 'GET', '/orders/v0/orders'),
    ('getOrderV0', 'GET', '/orders/v0/orders/{}'),
    ('getOrderItems', 'GET', '/orders/v0/orders/{}/orderItems'),
    ('confirmShipment', 'POST', '/orders/v0/orders/{}/shipmentConfirmation'),
    ('getListingsItem', 'GET', '/listings/2021-08-01/items/{}/{}'),
    ('patchListingsItem', 'PATCH', '/listings/2021-08-01/items/{}/{}'),
    ('createFeedDocument', 'POST', '/feeds/2021-06-30/documents'),
    ('getFeedDocument', 'GET', '/feeds/2021-06-30/documents/{}'),
    ('createFeed', 'POST', '/feeds/2021-06-30/feeds'),
    ('getFeed', 'GET', '/feeds/2021-06-30/feeds/{}'),
    ('listFinancialEvents', 'GET', '/finances/v0/financialEvents'),
    # Not SP-API: LWA's host, and the pre-signed S3 URLs of documents
    ('token', 'POST', LWA_PATH),
    ('uploadFeedDocument', 'PUT', UPLOADS + '{}'),
    ('downloadReport', 'GET', UPLOADS + '{}'),
    ]
# Routes outside the SP-API: no access token, no rate limit, no fault knob
OFF_API = ('token', 'uploadFeedDocument', 'downloadReport')
_COMPILED = [(operation, method, re.compile(
            '^' + re.escape(path).replace(re.escape('{}'), '([^/]+)')
            + '/?$'))
    for operation, method, path in ROUTES]


def route_of(request: Request) -> tuple[str, tuple[str, ...]] | None:
    "(operation, path arguments) of a request, None when no route is"
    for operation, method, pattern in _COMPILED:
        match = pattern.match(request.path)
        if match and request.method == method:
            return operation, match.groups()
    return None


class SpApiError(Exception):
    "An error answer in the SP-API's shape"

    def __init__(self, status: int, code: str, message: str,
            details: str | None = '') -> None:
        super().__init__(message)
        self.status = status
        self.body = errors(code, message, details)


def errors(code: str, message: str, details: str | None = ''
        ) -> dict[str, Any]:
    "The SP-API's error body (details None: left out, as some are)"
    error = {'code': code, 'message': message, 'details': details}
    if details is None:
        del error['details']
    return {'errors': [error]}


def request_id() -> str:
    "x-amzn-RequestId"
    return str(uuid.uuid4())


def invalid_input(message: str) -> SpApiError:
    return SpApiError(400, 'InvalidInput', message)


def not_found(message: str) -> SpApiError:
    return SpApiError(404, 'NotFound', message)


def amazon_order_id(number: int) -> str:
    "114-0000042-5829431: Amazon's 3-7-7 digits, derived from the number"
    check = (number * 7919 + 1234567) % 10**7
    return f'114-{number:07d}-{check:07d}'


def asin(seller_id: str, sku: str) -> str:
    "A stable ASIN for a SKU: B0 and 8 capitals or digits"
    digest = hashlib.sha1(f'{seller_id}/{sku}'.encode()).hexdigest()
    return 'B0' + format(int(digest[:12], 16), 'X')[-8:].rjust(8, '0')


def money(amount: Decimal, currency: str) -> dict[str, str]:
    "Money of Orders 2026-01-01 (and Listings): a decimal string"
    return {'amount': str(amount), 'currencyCode': currency}


def v0_money(value: dict[str, Any] | None, currency: str = '',
        ) -> dict[str, str]:
    """Orders v0 Money from a 2026 one (keys missing from it stay
    missing: a corrupted order is served as corrupted)"""
    value = value or {}
    result = {}
    if 'currencyCode' in value or currency:
        result['CurrencyCode'] = value.get('currencyCode', currency)
    if 'amount' in value:
        result['Amount'] = value['amount']
    return result


def json_object(request: Request) -> dict[str, Any]:
    "The request's JSON object body (BadJSON otherwise)"
    value = request.json()
    if not isinstance(value, dict):
        raise BadJSON('not an object')
    return value


def csv_param(request: Request, name: str) -> list[str]:
    "A comma-separated list (or the parameter repeated)"
    return [v.strip() for value in request.query.get(name, [])
        for v in value.split(',') if v.strip()]


def time_param(request: Request, name: str) -> dt.datetime | None:
    value = request.param(name)
    if value in (None, ''):
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise invalid_input(f"{name} is not a valid ISO 8601 date-time: "
            f"{value!r}") from None


def int_param(request: Request, name: str, default: int, low: int,
        high: int) -> int:
    value = request.param(name)
    if value in (None, ''):
        return default
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise invalid_input(f"{name} must be between {low} and {high}")
    return number


def duration(seconds: float) -> str:
    "2 minutes, 1 minute, 30 seconds"
    if seconds and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"


def upper_bound(request: Request, name: str, now: dt.datetime,
        settle_s: float) -> dt.datetime:
    """A `…Before` parameter: at most now − settle_s (Amazon's 2 minutes
    with settle_s=120), that when not given"""
    latest = now - dt.timedelta(seconds=settle_s)
    value = time_param(request, name)
    if value is None:
        return latest
    if value > latest:
        raise invalid_input(f"{name} must be at least {duration(settle_s)} "
            "before the request time" if settle_s
            else f"{name} must not be after the request time")
    return value


@dataclass
class Issued:
    "A paging token's remembered query"
    state: Any
    issued: dt.datetime


class PageTokens:
    """Opaque paging tokens remembering their query server-side, valid
    `ttl` (24 h, as searchOrders' paginationToken)"""

    def __init__(self, ttl: dt.timedelta = dt.timedelta(hours=24)) -> None:
        self.ttl = ttl
        self._tokens: dict[str, Issued] = {}

    def issue(self, state: Any, now: dt.datetime) -> str:
        for token in [t for t, i in self._tokens.items()
                if now - i.issued > self.ttl]:
            del self._tokens[token]
        token = secrets.token_urlsafe(24)
        self._tokens[token] = Issued(state, now)
        return token

    def take(self, token: str, now: dt.datetime, name: str) -> Any:
        issued = self._tokens.get(token)
        if issued is None or now - issued.issued > self.ttl:
            raise invalid_input(f"Invalid {name}: it is unknown or has "
                "expired")
        return issued.state
