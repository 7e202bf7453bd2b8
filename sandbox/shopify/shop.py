"""The Shopify shop: its parts put together, authentication, the
GraphQL endpoint's routing and its cost throttle."""
from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Callable
from typing import Any

from ..graphql import Document
from ..shop import Host, Shop
from ..web import Request, Response
from .catalog import Catalog
from .fulfilments import Fulfilments
from .model import (
    API_PATH,
    COSTS,
    ID_START,
    INVALID_TOKEN,
    MAX_QUERY_COST,
    ROOTS,
    THROTTLE_DOCS,
    Bucket,
    Call,
    GraphQLError,
    Variant,
    gid,
    parsed,
)
from .orders import Orders
from .refunds import Refunds


class ShopifyShop(Catalog, Orders, Fulfilments, Refunds, Shop):
    kind = 'shopify'
    default_currency = 'EUR'

    def __init__(self, sandbox: Host, name: str, token: str,
            currency: str | None = None, *,
            maximum_available: float = 1000.0, restore_rate: float = 50.0,
            location: str = 'Main warehouse') -> None:
        super().__init__(sandbox, name, currency)
        self.token = token
        self.bucket = Bucket(maximum_available, restore_rate)
        # EU shops show prices with VAT in; others add tax on top.
        self.taxes_included = self.currency in ('EUR', 'GBP')
        # Real search may match SKUs loosely (tokens, prefixes): an adapter
        # must compare `sku` exactly. True makes the sandbox do the same.
        self.sku_search_prefix = False
        self.next_number = 1001
        self._ids = {kind: itertools.count(start)
            for kind, start in ID_START.items()}
        self._locations: dict[int, str] = {}
        self._variants: dict[int, Variant] = {}
        self._by_sku: dict[str, Variant] = {}
        self._by_item: dict[int, Variant] = {}
        self._levels: dict[tuple[int, int], int] = {}
        self._customers: dict[str, int] = {}
        self._fulfillment_orders: dict[int, int] = {}
        self._fulfilments: dict[int, list[dict[str, Any]]] = {}
        self._idempotent: dict[str, tuple[str, dict[str, Any]]] = {}
        self.add_location(location)

    def _next(self, kind: str) -> int:
        return next(self._ids[kind])

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/2026-01/graphql.json"

    @property
    def credentials(self) -> dict[str, str]:
        return {'token': self.token}

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return super().describe() | {
                'token': self.token, 'graphql_url': self.graphql_url,
                'locations': [{'id': gid('Location', n), 'name': name}
                    for n, name in self._locations.items()],
                'rate_limit': self.bucket.status()}

    def rate_limit(self) -> dict[str, float]:
        "The cost bucket's throttleStatus"
        with self.lock:
            return self.bucket.status()

    def set_rate_limit(self, maximum_available: float | None = None,
            restore_rate: float | None = None) -> dict[str, float]:
        "Resize the bucket (it is refilled)"
        with self.lock:
            self.bucket.set(maximum_available, restore_rate)
            return self.bucket.status()

    def operation(self, request: Request) -> str:
        request_state = parsed(request)
        return request_state.get('root') or 'graphql'

    def authenticate(self, request: Request) -> Response | None:
        if request.headers.get('x-shopify-access-token') == self.token:
            return None
        return Response.json({'errors': INVALID_TOKEN}, 401)

    def internal_error(self) -> Response:
        return Response.json({'errors': 'Internal Server Error'}, 500)

    def dispatch(self, request: Request, operation: str) -> Response:
        if not API_PATH.match(request.path):
            return Response.json({'errors': 'Not Found'}, 404)
        if request.method != 'POST':
            return Response.json({'errors': 'Method Not Allowed'}, 405)
        state = parsed(request)
        if 'invalid' in state:
            return Response.json({'errors': {
                        'query': 'Required parameter missing or invalid'}},
                400)
        document: Document = state['document']
        variables = state['variables']
        root = document.root
        handler = ROOTS.get(root or '')
        try:
            if handler is None:
                raise GraphQLError(
                    f"Field '{root}' doesn't exist on type 'QueryRoot'",
                    'undefinedField', typeName='QueryRoot', fieldName=root)
            call = Call(self, state['query'], document, variables)
            cost = COSTS[root](call)
            limit = min(MAX_QUERY_COST, self.bucket.maximum_available)
            if cost > limit:
                return self._max_cost(cost, limit)
            if self.faults.take('throttle_next'):
                self.bucket.drain(cost - self.bucket.restore_rate
                    * self.faults.retry_after_s)
                return self._throttled(cost)
            if not self.bucket.take(cost):
                return self._throttled(cost)
            try:
                data, actual = handler(call)
            except GraphQLError:
                self.bucket.give(cost - 1)
                raise
            self.bucket.give(cost - min(actual, cost))
            extensions: dict[str, Any] = {'cost': {
                    'requestedQueryCost': cost,
                    'actualQueryCost': min(actual, cost),
                    'throttleStatus': self.bucket.status()}}
            if call.warnings:
                extensions['search'] = [{'path': [root],
                        'query': call.arg('query'),
                        'warnings': call.warnings}]
            return Response.json({'data': {root: data},
                    'extensions': extensions})
        except GraphQLError as error:
            body: dict[str, Any] = {'errors': [error.error]}
            if error.null_data:
                body = {'data': {root: None}, **body}
            return Response.json(body)

    def _throttled(self, cost: int) -> Response:
        status = self.bucket.status()
        body = {'errors': [{'message': 'Throttled', 'extensions': {
                        'code': 'THROTTLED', 'documentation': THROTTLE_DOCS}}],
            'extensions': {'cost': {
                'requestedQueryCost': cost, 'actualQueryCost': None,
                'throttleStatus': status}}}
        http = self.faults.throttle_http_status
        headers = {}
        if http == 429:
            wait = max(0.0, (cost - status['currentlyAvailable'])
                / status['restoreRate'])
            headers['Retry-After'] = f'{math.ceil(wait * 10) / 10:g}'
        return Response.json(body, http, headers)

    def _max_cost(self, cost: int, limit: float) -> Response:
        message = (f"Query cost is {cost}, which exceeds the single query "
            f"max cost limit ({limit:g}).\n\nSee {THROTTLE_DOCS} for more "
            "information on how the cost of a query is calculated.")
        return Response.json({'errors': [{'message': message, 'extensions': {
                        'code': 'MAX_COST_EXCEEDED', 'cost': cost,
                        'maxCost': limit, 'documentation': THROTTLE_DOCS}}],
                'extensions': {'cost': {
                    'requestedQueryCost': cost, 'actualQueryCost': None,
                    'throttleStatus': self.bucket.status()}}})

    def q_shop(self, call: Call) -> tuple[dict[str, Any], int]:
        return {'name': self.name, 'currencyCode': self.currency,
            'myshopifyDomain': f'{self.name}.myshopify.com',
            'ianaTimezone': 'Etc/UTC'}, 1

    def _once(self, call: Call, run: Callable[[], dict[str, Any]],
            empty: dict[str, Any], required: bool) -> dict[str, Any]:
        """Run a mutation once per idempotency key: the same key with the
        same variables answers what the first call answered."""
        key = call.idempotency_key()
        if key is None:
            if required:
                raise GraphQLError(
                    "An idempotency key is required for this mutation: "
                    'add @idempotent(key: "<unique key>") to the field.',
                    'BAD_REQUEST', null_data=True)
            return run()
        fingerprint = json.dumps(call.variables, sort_keys=True)
        stored = self._idempotent.get(key)
        if stored is not None:
            if stored[0] != fingerprint:
                return {**empty, 'userErrors': [{'field': None,
                            'message': "The idempotency key was already used "
                            "with different parameters.",
                            'code': 'IDEMPOTENCY_KEY_PARAMETER_MISMATCH'}]}
            return copy.deepcopy(stored[1])
        result = run()
        self._idempotent[key] = (fingerprint, copy.deepcopy(result))
        return result
