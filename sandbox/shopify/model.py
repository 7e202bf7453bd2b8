"""What the Shopify shop's parts share: limits and vocabularies of the
API, gids and cursors, the cost bucket, a GraphQL call's arguments."""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .. import generator
from ..graphql import UNSET, Document, arguments, scan
from ..web import BadJSON, Request, iso_z, parse_time

API_PATH = re.compile(r'^/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json$')


INVALID_TOKEN = ("[API] Invalid API key or access token (unrecognized "
    "login or wrong password)")


THROTTLE_DOCS = 'https://shopify.dev/api/usage/rate-limits'


MAX_QUERY_COST = 1000


MAX_PAGE = 250


MAX_INPUT = 250


DEFAULT_LINES = 25


MUTATION_COST = 10


FINANCIAL = ('PENDING', 'AUTHORIZED', 'PARTIALLY_PAID', 'PAID',
    'PARTIALLY_REFUNDED', 'REFUNDED', 'VOIDED', 'EXPIRED')


FULFILLMENT = ('UNFULFILLED', 'PARTIALLY_FULFILLED', 'FULFILLED',
    'IN_PROGRESS', 'ON_HOLD', 'SCHEDULED')


# Inventory reasons (only "correction" is confirmed, §1.4).
REASONS = ('correction', 'cycle_count_available', 'damaged',
    'movement_created', 'movement_updated', 'movement_received',
    'movement_canceled', 'other', 'promotion', 'quality_control',
    'received', 'reservation_created', 'reservation_deleted',
    'reservation_updated', 'restock', 'safety_stock', 'shrinkage')


OPEN_ACTIONS = [{'action': 'CREATE_FULFILLMENT'}, {'action': 'HOLD'},
    {'action': 'MOVE'}]


# lineItems selected inside these are not the order's own.
NOT_ORDER_LINES = ('fulfillmentOrders', 'refunds', 'returns')


COUNTRY_NAMES = {'DE': 'Germany', 'FR': 'France', 'GB': 'United Kingdom',
    'US': 'United States', 'CA': 'Canada', 'CN': 'China'}


# First ids per resource: Shopify's are large; distinct ranges make a
# wrong-resource id easy to spot.
ID_START = {
    'Order': 5550000001, 'LineItem': 13500000001, 'Customer': 7700001,
    'Product': 8100000001, 'ProductVariant': 44100000001,
    'InventoryItem': 46100000001, 'InventoryLevel': 1200000001,
    'Location': 71000001, 'FulfillmentOrder': 6100000001,
    'FulfillmentOrderLineItem': 14100000001, 'Fulfillment': 5200000001,
    'FulfillmentLineItem': 11200000001, 'Refund': 9100000001,
    'RefundLineItem': 4100000001, 'InventoryAdjustmentGroup': 3100000001,
    'ShippingLine': 4600000001, 'OrderTransaction': 6700000001,
    'Return': 2100000001, 'ReturnLineItem': 2400000001,
    }


# Shopify's ReturnStatus (§1.6).
RETURN_STATUSES = ('REQUESTED', 'OPEN', 'CLOSED', 'DECLINED', 'CANCELED')


class GraphQLError(Exception):
    "A top-level error: the answer has `errors` (and maybe null data)"

    def __init__(self, message: str, code: str, *, null_data: bool = False,
            **extensions: Any) -> None:
        super().__init__(message)
        self.error = {'message': message,
            'extensions': {'code': code, **extensions}}
        self.null_data = null_data


@dataclass
class Variant:
    id: int
    product_id: int
    inventory_item_id: int
    sku: str
    title: str
    product_title: str
    price: Decimal


def gid(kind: str, number: int) -> str:
    return f'gid://shopify/{kind}/{number}'


def gid_number(value: Any, kind: str) -> int | None:
    "The number of a gid of that kind, None if it is not one"
    match = re.fullmatch(rf'gid://shopify/{kind}/(\d+)', str(value or ''))
    return int(match.group(1)) if match else None


def money(amount: Decimal, currency: str) -> dict[str, Any]:
    bag = {'amount': str(generator.cents(amount)), 'currencyCode': currency}
    return {'shopMoney': bag, 'presentmentMoney': dict(bag)}


def cursor(**values: Any) -> str:
    "Opaque to clients, like Shopify's (base64 of a small JSON object)"
    return base64.urlsafe_b64encode(
        json.dumps(values, separators=(',', ':')).encode()).decode()


def read_cursor(text: Any) -> dict[str, Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(str(text).encode()))
        if isinstance(values, dict) and 'last_id' in values:
            return values
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    raise GraphQLError(f"Invalid cursor for current pagination: {text!r}",
        'BAD_REQUEST')


class Bucket:
    """The leaky bucket of calculated query cost (§1.2): it must hold a
    query's requested cost before the query runs; the part not actually
    used is given back."""

    def __init__(self, maximum_available: float = 1000.0,
            restore_rate: float = 50.0,
            clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum_available = float(maximum_available)
        self.restore_rate = float(restore_rate)
        self.available = self.maximum_available
        self._clock = clock
        self._at = clock()

    def _restore(self) -> None:
        now = self._clock()
        self.available = min(self.maximum_available,
            self.available + (now - self._at) * self.restore_rate)
        self._at = now

    def take(self, cost: float) -> bool:
        self._restore()
        if cost > self.available:
            return False
        self.available -= cost
        return True

    def give(self, points: float) -> None:
        self._restore()
        self.available = min(self.maximum_available,
            self.available + max(0.0, points))

    def drain(self, down_to: float) -> None:
        self._restore()
        self.available = min(self.available, max(0.0, down_to))

    def set(self, maximum_available: float | None = None,
            restore_rate: float | None = None, fill: bool = True) -> None:
        if maximum_available is not None:
            if maximum_available <= 0:
                raise ValueError("maximum_available must be > 0")
            self.maximum_available = float(maximum_available)
        if restore_rate is not None:
            if restore_rate <= 0:
                raise ValueError("restore_rate must be > 0")
            self.restore_rate = float(restore_rate)
        self._restore()
        self.available = (self.maximum_available if fill
            else min(self.available, self.maximum_available))

    def status(self) -> dict[str, float]:
        self._restore()
        return {'maximumAvailable': self.maximum_available,
            # Whole points, rounded down: waiting on them is never short.
            'currentlyAvailable': float(math.floor(self.available)),
            'restoreRate': self.restore_rate}


class Call:
    "One GraphQL request: its document, variables and argument helpers"

    def __init__(self, shop: Any, query: str, document: Document,
            variables: dict[str, Any]) -> None:
        self.shop = shop
        self.query = query
        self.document = document
        self.variables = variables
        root = document.field(document.root or '', root=True)
        self.args = arguments(root.args, variables) if root else {}
        self.warnings: list[dict[str, Any]] = []

    def arg(self, name: str, default: Any = None) -> Any:
        value = self.args.get(name, UNSET)
        return default if value is UNSET else value

    def first(self, default: int | None = None) -> int:
        value = self.arg('first', default)
        if value is None:
            raise GraphQLError("you must provide one of first or last",
                'BAD_REQUEST')
        return int_arg(value, 'first')

    def nested(self, name: str, outside: tuple[str, ...] = ()) -> dict:
        found = self.document.field(name, outside=outside)
        return arguments(found.args, self.variables) if found else {}

    def lines_first(self) -> int:
        value = self.nested('lineItems', outside=NOT_ORDER_LINES).get(
            'first', DEFAULT_LINES)
        return int_arg(DEFAULT_LINES if value is UNSET else value, 'first')

    def fulfillments_first(self) -> int:
        "The order's fulfillments' first; 0 when not selected with one"
        value = self.nested('fulfillments').get('first', UNSET)
        return 0 if value is UNSET else int_arg(value, 'first')

    def levels_first(self) -> int | None:
        "inventoryLevels' first, None when levels are not selected"
        if self.document.field('inventoryLevels') is None:
            return None
        value = self.nested('inventoryLevels').get('first', UNSET)
        if value is UNSET:
            raise GraphQLError("you must provide one of first or last",
                'BAD_REQUEST')
        return int_arg(value, 'first')

    def idempotency_key(self) -> str | None:
        found = self.document.field('@idempotent')
        if found is None:
            return None
        key = arguments(found.args, self.variables).get('key')
        return None if key is UNSET or key in (None, '') else str(key)


def line_unit_price(line: dict[str, Any]) -> Decimal:
    return Decimal(line['discountedUnitPriceSet']['shopMoney']['amount'])


def location_of(fo: dict[str, Any]) -> int | None:
    "The number of a fulfillment order's assigned location"
    return gid_number(fo['assignedLocation']['location']['id'], 'Location')


def int_arg(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GraphQLError(f"Argument '{name}' must be an Int, got "
            f"{json.dumps(value)}", 'argumentLiteralsIncompatible')
    if not 1 <= value <= MAX_PAGE:
        raise GraphQLError(f"The '{name}' argument must be between 1 and "
            f"{MAX_PAGE}, got {value}.", 'BAD_REQUEST')
    return value


def invalid_variable(name: str, kind: str, problem: str) -> GraphQLError:
    return GraphQLError(f"Variable ${name} of type {kind} was provided "
        f"invalid value for {problem}", 'INVALID_VARIABLE')


def user_error(field: list[str], message: str, code: str) -> dict:
    return {'field': field, 'message': message, 'code': code}


def order_cursor(key: tuple[dt.datetime, int]) -> str:
    return cursor(last_id=key[1], last_value=iso_z(key[0]))


def line_cursor(line: dict[str, Any]) -> str:
    number = gid_number(line['id'], 'LineItem')
    return cursor(last_id=number, last_value=number)


SEARCH_TIME = re.compile(r'''
    (updated_at|created_at) : \s* (>=|<=|>|<|=)? \s*
    (?: '([^']*)' | "([^"]*)" | (\S+) )''', re.VERBOSE)


SKU_TERM = re.compile(r'''\bsku:(?:"([^"]*)"|'([^']*)'|(\S+))''')


ID_TERM = re.compile(r'\bid:(\d+)\b')


def time_bounds(text: str) -> tuple[tuple | None, tuple | None, list]:
    """Index bounds (lower inclusive, upper exclusive) of the updated_at
    terms of a search query; unreadable terms are dropped with a warning,
    as Shopify's search does. created_at terms are not supported."""
    lower = upper = None
    warnings = []
    for match in SEARCH_TIME.finditer(text):
        field, op = match.group(1), match.group(2) or '='
        value = next(g for g in match.group(3, 4, 5) if g is not None)
        try:
            when = parse_time(value).replace(microsecond=0)
        except ValueError:
            warnings.append({'field': field,
                    'message': f"Invalid date: {value!r}"})
            continue
        if field != 'updated_at':
            warnings.append({'field': field,
                    'message': "not supported by the sandbox: ignored"})
            continue
        if op in ('>=', '='):
            candidate = (when,)
            lower = max(lower, candidate) if lower else candidate
        if op == '>':
            candidate = (when, math.inf)
            lower = max(lower, candidate) if lower else candidate
        if op in ('<', '<=', '='):
            candidate = (when,) if op == '<' else (when, math.inf)
            upper = min(upper, candidate) if upper else candidate
    return lower, upper, warnings


def sku_terms(text: str) -> list[str] | None:
    "The SKUs of `sku:A OR sku:'B C'`, None when the query names none"
    if not text.strip():
        return None
    return [next(g for g in m.groups() if g is not None)
        for m in SKU_TERM.finditer(text)]


def parsed(request: Request) -> dict[str, Any]:
    "The request's JSON body and scanned document, read once"
    cached = request.extra.get('graphql')
    if cached is not None:
        return cached
    state: dict[str, Any] = {}
    try:
        body = request.json()
        query = body.get('query') if isinstance(body, dict) else None
        variables = body.get('variables') or {}
        if not isinstance(query, str) or not isinstance(variables, dict):
            raise BadJSON('query')
        state.update(query=query, variables=variables,
            document=scan(query))
        state['root'] = state['document'].root
    except (BadJSON, AttributeError):
        state['invalid'] = True
    request.extra['graphql'] = state
    return state


ROOTS: dict[str, Callable[[Call], tuple[Any, int]]] = {
    'orders': lambda c: c.shop.q_orders(c),
    'order': lambda c: c.shop.q_order(c),
    'productVariants': lambda c: c.shop.q_product_variants(c),
    'locations': lambda c: c.shop.q_locations(c),
    'inventoryItems': lambda c: c.shop.q_inventory_items(c),
    'inventoryItem': lambda c: c.shop.q_inventory_item(c),
    'shop': lambda c: c.shop.q_shop(c),
    'inventorySetQuantities': lambda c: c.shop.m_inventory_set_quantities(c),
    'fulfillmentCreate': lambda c: c.shop.m_fulfillment_create(c),
    'fulfillmentCreateV2': lambda c: c.shop.m_fulfillment_create(c),
    'refundCreate': lambda c: c.shop.m_refund_create(c),
    }


COSTS: dict[str, Callable[[Call], int]] = {
    'orders': lambda c: c.first() * (
        c.lines_first() + 3 + c.fulfillments_first()),
    'order': lambda c: 1 + c.lines_first() + c.fulfillments_first() + (
        10 if c.document.field('fulfillmentOrders') else 0),
    'productVariants': lambda c: 1 + c.first(),
    'locations': lambda c: 1 + c.first(default=50),
    'inventoryItems': lambda c: 1 + c.first() * (
        1 + (c.levels_first() or 0)),
    'inventoryItem': lambda c: 1,
    'shop': lambda c: 1,
    'inventorySetQuantities': lambda c: MUTATION_COST,
    'fulfillmentCreate': lambda c: MUTATION_COST,
    'fulfillmentCreateV2': lambda c: MUTATION_COST,
    'refundCreate': lambda c: MUTATION_COST,
    }
