"""The Shopify adapter: all of the Admin GraphQL API's HTTP detail
(marketplace-apis.md §1).

Orders by ``updated_at`` sorted by UPDATED_AT with cursor paging (line
items beyond the first page fetched per order), the calculated-cost
throttle (THROTTLED answered with HTTP 200 or 429, waited out from
``throttleStatus``), stock set per location with
``inventorySetQuantities`` (idempotency key, ``changeFromQuantity``, 250
quantities a call, SKU → inventory item and location resolved once and
cached) and read back per location with ``inventoryItems`` (for the
reconciliation), shipments marked with ``fulfillmentCreate`` on the
order's fulfillment orders, one call per location, after reading what the
order already shows (§1.5), refunds and returns read from the orders
updated since the returns cursor (``Order.refunds``, ``Order.returns``,
§1.6) and the ERP's refunds made with ``refundCreate`` (``@idempotent``,
after looking for a refund whose note names the RMA).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import requests

from oms_contract.models import StockRefusal

from ..base import (
    Adapter,
    FulfilmentResult,
    FulfilmentUpdate,
    OrderPage,
    RefundResult,
    RefundUpdate,
    ReturnPage,
    StockKey,
    StockResult,
    StockUpdate,
    chunks,
)
from ..payload import utc
from ..transport import AuthError, ChannelError, GaveUp, Retryable, json_body
from .mapper import KIND, connection_nodes, gid_id
from .plans import (
    available_quantity,
    line_matcher,
    plan_fulfilment,
    quantity_index,
    refund_transactions,
    search_value,
)
from .queries import (
    FULFILMENT_MUTATION,
    LINE_ITEMS_QUERY,
    LINES_PER_ORDER,
    LINES_PER_PAGE,
    LOCATIONS_QUERY,
    MAX_QUERY_COST,
    ORDER_FULFILMENT_QUERY,
    ORDER_REFUNDS_QUERY,
    ORDERS_QUERY,
    QUANTITIES_PER_CALL,
    READ_STOCK_QUERY,
    REFUND_MUTATION,
    REFUNDS_PER_ORDER,
    RETURN_LINES,
    RETURN_ORDERS_PER_PAGE,
    RETURNS_PER_ORDER,
    RETURNS_QUERY,
    SET_STOCK_MUTATION,
    SKUS_PER_LOOKUP,
    STALE,
    VARIANTS_QUERY,
)

logger = logging.getLogger(__name__)


def shopify_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


class CostBudget:
    """Shopify's leaky bucket as last reported (extensions.cost): the
    adapter waits before a query the bucket cannot hold yet, rather than
    spending a call on THROTTLED."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self.clock, self.sleep = clock, sleep
        self.maximum = self.available = self.restore = None
        self.seen = 0.0
        self.lock = threading.Lock()

    def note(self, cost: dict[str, Any]) -> None:
        status = cost.get('throttleStatus') or {}
        if status.get('restoreRate'):
            with self.lock:
                self.maximum = float(status['maximumAvailable'])
                self.available = float(status['currentlyAvailable'])
                self.restore = float(status['restoreRate'])
                self.seen = self.clock()

    def wait_for(self, requested: float | None) -> float:
        "Seconds until the bucket can hold `requested` points"
        with self.lock:
            if not requested or self.restore is None:
                return 0.0
            now_available = min(self.maximum, self.available
                + (self.clock() - self.seen) * self.restore)
            requested = min(requested, self.maximum)
            if now_available >= requested:
                return 0.0
            return (requested - now_available) / self.restore

    def spend(self, requested: float | None) -> None:
        wait = self.wait_for(requested)
        if wait > 0:
            logger.info("shopify: waiting %.2fs for query budget", wait)
            self.sleep(wait)


def throttle_wait(body: dict[str, Any]) -> float | None:
    """Seconds to wait after THROTTLED: the requested cost the bucket lacks,
    over its restore rate (§1.2)."""
    cost = (body.get('extensions') or {}).get('cost') or {}
    status = cost.get('throttleStatus') or {}
    try:
        missing = (float(cost['requestedQueryCost'])
            - float(status['currentlyAvailable']))
        return max(0.0, math.ceil(missing / float(status['restoreRate'])))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def is_throttled(body: dict[str, Any]) -> bool:
    return any(((e or {}).get('extensions') or {}).get('code') == 'THROTTLED'
        for e in body.get('errors') or [] if isinstance(e, dict))


class ShopifyAdapter(Adapter):
    kind = KIND
    sorted_by_update = True
    stock_by_location = True
    capabilities = frozenset(
        {'compare_and_set', 'refunds', 'refund_reports', 'returns'})
    stock_batch = QUANTITIES_PER_CALL
    default_page_size = 20

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.endpoint = (f'{self.config.base_url.rstrip("/")}/admin/api/'
            f'{self.config.api_version}/graphql.json')
        self.budget = CostBudget(sleep=self.transport.sleep)
        self.requested: dict[str, float] = {}
        self.items: dict[str, str] = self.load_cache('inventory-items')
        self.locations: dict[str, str] | None = None
        # Whether fulfillmentCreate takes @idempotent (unconfirmed): until
        # the shop says otherwise.
        self.idempotent_fulfilments = True

    # -- GraphQL --------------------------------------------------------

    def graphql(self, operation: str, query: str,
            variables: dict[str, Any], attempts: int | None = None
            ) -> dict[str, Any]:
        """The `data` of a query, throttling waited out, errors raised
        (`attempts`: see Transport.call)"""
        self.budget.spend(self.requested.get(operation))
        body = self.transport.call(
            'POST', self.endpoint, self._read,
            throttle_wait=self._throttle_wait_of, attempts=attempts,
            json={'query': query, 'variables': variables},
            headers={
                'X-Shopify-Access-Token': self.credentials['token'],
                'Content-Type': 'application/json',
                })
        requested = ((body.get('extensions') or {}).get('cost') or {}).get(
            'requestedQueryCost')
        if requested:
            self.requested[operation] = float(requested)
        return body['data']

    def _read(self, response: requests.Response) -> dict[str, Any]:
        body = json_body(response)
        if not isinstance(body, dict):
            raise Retryable(f"an answer that is not an object: {body!r:.100}")
        self.budget.note((body.get('extensions') or {}).get('cost') or {})
        if is_throttled(body):
            raise Retryable("THROTTLED", wait=throttle_wait(body))
        if body.get('errors'):
            errors = body['errors']
            if not isinstance(errors, list):
                errors = [errors]  # REST-style: "Not Found", {field: […]}
            raise ChannelError("Shopify refused the query: " + '; '.join(
                    str(e.get('message', e)) if isinstance(e, dict) else str(e)
                    for e in errors))
        if not isinstance(body.get('data'), dict):
            raise Retryable(f"an answer without data: {body!r:.100}")
        if response.status_code >= 400:
            raise ChannelError(f"HTTP {response.status_code}: {body!r:.200}")
        return body

    @staticmethod
    def _throttle_wait_of(response: requests.Response) -> float | None:
        try:
            return throttle_wait(response.json())
        except ValueError:
            return None

    # -- Orders ---------------------------------------------------------

    def fetch_orders(self, since: dt.datetime | None
            ) -> Iterator[OrderPage]:
        """Pages of order nodes updated since `since`, oldest first, each
        with all its line items."""
        for nodes in self._order_pages('orders', ORDERS_QUERY, since, {
                    'first': self.page_size, 'lines': LINES_PER_ORDER}):
            for node in nodes:
                self._complete_lines(node)
            yield OrderPage(nodes)

    def _order_pages(self, operation: str, query: str,
            since: dt.datetime | None, variables: dict[str, Any]
            ) -> Iterator[list[dict[str, Any]]]:
        "The nodes of an orders query updated since `since`, page by page"
        search = f"updated_at:>='{shopify_time(since)}'" if since else ''
        after = None
        while True:
            data = self.graphql(operation, query, {
                    **variables, 'after': after, 'q': search})
            orders = data['orders']
            nodes = orders.get('nodes') or [
                e['node'] for e in orders.get('edges') or []]
            yield nodes
            page = orders.get('pageInfo') or {}
            if not page.get('hasNextPage') or not nodes:
                return
            after = page['endCursor']

    def _complete_lines(self, node: dict[str, Any]) -> None:
        "Fetch the line items beyond the first page into the node"
        lines = node.get('lineItems') or {}
        page = lines.get('pageInfo') or {}
        while page.get('hasNextPage'):
            data = self.graphql('order', LINE_ITEMS_QUERY, {
                    'id': node['id'], 'after': page['endCursor'],
                    'first': LINES_PER_PAGE})
            more = (data.get('order') or {}).get('lineItems') or {}
            lines.setdefault('nodes', []).extend(more.get('nodes') or [])
            page = more.get('pageInfo') or {}
        lines['pageInfo'] = {'hasNextPage': False}

    # -- Stock ----------------------------------------------------------

    def push_stock(self, updates: list[StockUpdate]) -> list[StockResult]:
        """Set each SKU's available quantity at its location, 250 a call,
        compare-and-set from the quantity the channel is expected to
        show."""
        results: list[StockResult] = []
        ready = []
        for update, item, location, refused in self._resolve(updates):
            if refused:
                results.append(refused)
            else:
                ready.append((update, item, location))
        for chunk in chunks(ready, QUANTITIES_PER_CALL):
            results += self._set_quantities(chunk)
        return results

    def read_stock(self, updates: list[StockUpdate]
            ) -> dict[StockKey, int | None]:
        """The available quantity of each update's SKU at its location
        (None where the item is not stocked there), items read by id a
        query, as many a query as the cost cap allows for the shop's
        locations."""
        wanted: dict[str, list[tuple[StockKey, str]]] = {}
        for update, item, location, refused in self._resolve(updates):
            if not refused:
                wanted.setdefault(item, []).append((update.key, location))
        if not wanted:
            return {}
        levels = max(1, len(set(self.locations.values())))
        # Each item costs itself and its levels (a rough, safe estimate).
        per_query = max(1, min(SKUS_PER_LOOKUP,
                (MAX_QUERY_COST - 1) // (1 + 2 * levels)))
        found: dict[StockKey, int | None] = {}
        for chunk in chunks(sorted(wanted), per_query):
            data = self.graphql('inventoryItems', READ_STOCK_QUERY, {
                    'q': ' OR '.join(f'id:{gid_id(i)}' for i in chunk),
                    'first': len(chunk), 'levels': levels})
            for node in connection_nodes(data['inventoryItems']):
                levels_read = node.get('inventoryLevels') or {}
                shown = {level['location']['id']: available_quantity(level)
                    for level in connection_nodes(levels_read)}
                # A location added since the locations were read may hide
                # the one wanted on a next page: then it is not known.
                cut = (levels_read.get('pageInfo') or {}).get('hasNextPage')
                for key, location in wanted.get(node.get('id'), ()):
                    if location in shown or not cut:
                        found[key] = shown.get(location)
        return found

    def _resolve(self, updates: list[StockUpdate]
            ) -> Iterator[tuple[StockUpdate, str | None, str | None,
                StockResult | None]]:
        """Each update with its inventory item and location id, or the
        refusal of an update that cannot be sent"""
        items = self.inventory_items([u.sku for u in updates])
        for update in updates:
            location, error = self.location(update.location)
            refused = None
            if update.sku not in items:
                refused = StockResult(update,
                    "no Shopify variant has this SKU",
                    StockRefusal.unknown_sku)
            elif error:
                refused = StockResult(update, error, StockRefusal.no_location)
            yield update, items.get(update.sku), location, refused

    def _set_quantities(self, chunk: list[tuple[StockUpdate, str, str]]
            ) -> list[StockResult]:
        """One call for the chunk; when Shopify refuses some items (the
        mutation applies all or nothing), the refused ones are reported and
        the rest sent again under a new key."""
        results: list[StockResult] = []
        fresh_keys = 1
        while chunk:
            errors = self._set_call(chunk)
            if not errors:
                return results + [StockResult(u) for u, _, _ in chunk]
            failed: dict[int, tuple[str, StockRefusal]] = {}
            for error in errors:
                index = quantity_index(error.get('field'))
                code = error.get('code') or ''
                message = f"{code}: {error.get('message')}"
                reason = StockRefusal.refused
                if index is None or index >= len(chunk):
                    if code.startswith('IDEMPOTENCY_') and fresh_keys:
                        # An earlier attempt with that key failed or is in
                        # flight: one more try under a new key.
                        fresh_keys -= 1
                        break
                    return results + [StockResult(u, message)
                        for u, _, _ in chunk]
                update = chunk[index][0]
                if code == STALE:
                    # Most likely a sale the ERP has not imported yet:
                    # setting the ERP's figure over it would offer that
                    # unit again. The level stays pending until the import
                    # (or a reconciliation, which reads first) catches up.
                    message = (f"{code}: Shopify no longer shows "
                        f"{update.previous} at this location")
                    reason = StockRefusal.stale
                elif code == 'INVALID_INVENTORY_ITEM':
                    self._forget(update.sku)
                    reason = StockRefusal.unknown_sku
                failed[index] = message, reason
            results += [StockResult(chunk[i][0], message, reason)
                for i, (message, reason) in failed.items()]
            chunk = [c for i, c in enumerate(chunk) if i not in failed]
        return results

    def _set_call(self, chunk: list[tuple[StockUpdate, str, str]]
            ) -> list[dict[str, Any]]:
        "One inventorySetQuantities call; its userErrors"
        quantities = [{
                'inventoryItemId': item, 'locationId': location,
                'quantity': update.quantity,
                # Explicit null opts out of the check (2026-04 requires
                # the key either way).
                'changeFromQuantity': update.previous,
                } for update, item, location in chunk]
        key = str(uuid.uuid4())  # one per logical push: retries reuse it
        data = self.graphql('inventorySetQuantities',
            SET_STOCK_MUTATION % key, {'input': {
                    'name': 'available', 'reason': 'correction',
                    'referenceDocumentUri': f'gid://oms-sync/StockPush/{key}',
                    'quantities': quantities}})
        return (data.get('inventorySetQuantities') or {}).get(
            'userErrors') or []

    def inventory_items(self, skus: list[str]) -> dict[str, str]:
        "SKU → inventory item id, looked up once and cached across runs"
        missing = self.to_look_up(s for s in skus if s not in self.items)
        for chunk in chunks(missing, SKUS_PER_LOOKUP):
            query = ' OR '.join(f'sku:{search_value(s)}' for s in chunk)
            data = self.graphql('productVariants', VARIANTS_QUERY, {
                    'q': query, 'first': 250})
            for variant in data['productVariants'].get('nodes') or []:
                if variant.get('sku') in chunk and variant.get(
                        'inventoryItem'):
                    self.items[variant['sku']] = variant['inventoryItem'][
                        'id']
        if missing:
            self.not_found(s for s in missing if s not in self.items)
            self.store_cache('inventory-items', self.items)
        return {s: self.items[s] for s in skus if s in self.items}

    def _forget(self, sku: str) -> None:
        if self.items.pop(sku, None):
            self.store_cache('inventory-items', self.items)

    def location(self, wanted: str | None) -> tuple[str | None, str | None]:
        "The location id for a location name or id; or why there is none"
        if self.locations is None:
            data = self.graphql('locations', LOCATIONS_QUERY, {})
            self.locations = {}
            for node in data['locations'].get('nodes') or []:
                self.locations[node['id']] = node['id']
                self.locations.setdefault(node['name'], node['id'])
        ids = set(self.locations.values())
        if wanted is None:
            if len(ids) == 1:
                return next(iter(ids)), None
            if not ids:
                return None, "the shop has no location"
            return None, (
                "the shop has several locations: map the ERP warehouse to "
                "one in the mapping file (warehouses:)")
        if wanted in self.locations:
            return self.locations[wanted], None
        return None, f"the shop has no location {wanted!r}"

    # -- Fulfilments ----------------------------------------------------

    def push_fulfilment(self, update: FulfilmentUpdate) -> FulfilmentResult:
        """Fulfil the shipment's units on the order's fulfillment orders,
        one fulfillmentCreate per location, with its tracking. Read before
        write: units already shipped under this tracking number, or with
        nothing left to fulfil, are not shipped again."""
        order_id = (update.order_id if update.order_id.startswith('gid://')
            else f'gid://shopify/Order/{update.order_id}')
        data = self.graphql(
            'orderFulfilment', ORDER_FULFILMENT_QUERY, {'id': order_id})
        order = data.get('order')
        if order is None:
            return FulfilmentResult(
                error=f"Shopify has no order {update.order_id}")
        if order.get('cancelledAt'):
            return FulfilmentResult(error=(
                    "the Shopify order is cancelled: not marked shipped"))
        plan = plan_fulfilment(update, order)
        if plan.error:
            return FulfilmentResult(error=plan.error)
        if not plan.by_location:
            return FulfilmentResult(external_id=plan.existing, already=True)
        tracking = {name: value for name, value in (
                ('company', update.carrier),
                ('number', update.tracking_number),
                ('url', update.tracking_url)) if value}
        created: list[str] = []
        for groups in plan.by_location.values():
            values: dict[str, Any] = {
                'notifyCustomer': update.notify_customer,
                'lineItemsByFulfillmentOrder': groups}
            if tracking:
                values['trackingInfo'] = tracking
            answer = self._fulfillment_create(update.key, values)
            errors = answer.get('userErrors') or []
            if errors or not answer.get('fulfillment'):
                error = "Shopify refused the fulfilment: " + ('; '.join(
                        str(e.get('message')) for e in errors)
                    or "no fulfillment in its answer")
                if created:
                    error += f" (created at other locations: " \
                        f"{', '.join(created)})"
                return FulfilmentResult(error=error)
            created.append(answer['fulfillment']['id'])
        return FulfilmentResult(external_id=','.join(created))

    # -- Refunds and returns --------------------------------------------

    def fetch_returns(self, since: dt.datetime | None
            ) -> Iterator[ReturnPage]:
        """Pages of the orders updated since `since` (a refund or a return
        bumps its order's updatedAt, §1.6), oldest first, with their
        refunds and returns only. Few orders a page: the nested lists
        multiply the query's cost."""
        query = RETURNS_QUERY % {'refunds': REFUNDS_PER_ORDER,
            'returns': RETURNS_PER_ORDER, 'lines': RETURN_LINES}
        for nodes in self._order_pages('orderReturns', query, since, {
                    'first': min(self.page_size, RETURN_ORDERS_PER_PAGE)}):
            times = [utc(n['updatedAt'], 'updatedAt') for n in nodes
                if n.get('updatedAt')]
            yield ReturnPage(nodes, max(times) if times else None)

    def push_refund(self, update: RefundUpdate) -> RefundResult:
        """Refund on the order with refundCreate: its lines (by line id,
        else SKU) not restocked (the ERP owns stock and pushes levels
        itself), the amount back to the order's payments. Read before
        write: a refund whose note names the RMA is the one made by an
        earlier push; and the idempotency key answers a call retried after
        a lost answer."""
        order_id = (update.order_id if update.order_id.startswith('gid://')
            else f'gid://shopify/Order/{update.order_id}')
        data = self.graphql(
            'orderRefunds', ORDER_REFUNDS_QUERY, {'id': order_id})
        order = data.get('order')
        if order is None:
            return RefundResult(
                error=f"Shopify has no order {update.order_id}")
        made = [r for r in order.get('refunds') or []
            if update.noted_in(r.get('note'))]
        if made:
            return RefundResult(external_id=made[-1]['id'], already=True)
        if update.currency != order.get('currencyCode'):
            # Multi-currency refunds (RefundInput.currency, presentment
            # amounts) are not handled: unconfirmed.
            return RefundResult(error=(f"the refund is in "
                    f"{update.currency}, the Shopify order in "
                    f"{order.get('currencyCode')}"))
        lines, problems = [], []
        order_lines = connection_nodes(order.get('lineItems'))
        for item in update.items:
            matches = line_matcher(item, order_lines)
            line = next(filter(matches, order_lines), None) if matches \
                else None
            if line is None:
                problems.append(f"the Shopify order has no line {item.name}")
                continue
            lines.append({'lineItemId': line['id'], 'quantity': item.quantity,
                'restockType': 'NO_RESTOCK'})
        transactions, error = refund_transactions(order, update.amount)
        if error:
            problems.append(error)
        if problems:
            return RefundResult(error='; '.join(problems))
        values = {'orderId': order['id'], 'note': update.note,
            'notify': update.notify_customer, 'refundLineItems': lines,
            'transactions': transactions}
        # A new key for each failed push (Shopify answers a key whose
        # attempt failed with IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED), and
        # for what is sent (a mismatch would jam it); read-before-write
        # guards the pushes between.
        digest = hashlib.sha256(json.dumps(
                values, sort_keys=True).encode()).hexdigest()[:16]
        key = f'{update.key}-{update.attempt}-{digest}'
        data = self.graphql('refundCreate',
            REFUND_MUTATION % json.dumps(key), {'input': values})
        answer = data.get('refundCreate') or {}
        errors = answer.get('userErrors') or []
        if errors or not answer.get('refund'):
            return RefundResult(error="Shopify refused the refund: " + (
                    '; '.join(str(e.get('message')) for e in errors)
                    or "no refund in its answer"))
        return RefundResult(external_id=answer['refund']['id'])

    def _fulfillment_create(self, key: str, values: dict[str, Any]
            ) -> dict[str, Any]:
        """One fulfillmentCreate; its payload. The idempotency key is the
        ERP's key with a digest of what is sent: a call retried after a
        lost answer is answered, not applied twice; a push planned anew
        from what the order shows since (read-before-write) is a new
        request, so a change on the order never jams it on a key mismatch."""
        directive = ''
        if self.idempotent_fulfilments:
            digest = hashlib.sha256(json.dumps(
                    values, sort_keys=True).encode()).hexdigest()[:16]
            directive = f' @idempotent(key: {json.dumps(f"{key}-{digest}")})'
        try:
            # Without a key, a lost answer is not sent again blindly: the
            # job's next run reads what the order shows first.
            data = self.graphql('fulfillmentCreate',
                FULFILMENT_MUTATION % directive, {'fulfillment': values},
                attempts=None if directive else 1)
        except (AuthError, GaveUp):
            raise
        except ChannelError as error:
            if not directive or 'idempotent' not in str(error).lower():
                raise
            logger.warning("%s: the shop refuses @idempotent on "
                "fulfillmentCreate (%s): sent without it", self, error)
            self.idempotent_fulfilments = False
            return self._fulfillment_create(key, values)
        return data.get('fulfillmentCreate') or {}

