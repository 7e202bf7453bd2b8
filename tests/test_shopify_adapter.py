"""The Shopify adapter against a mocked Admin GraphQL endpoint
(marketplace-apis.md §1): orders paged by cursor with their line items
completed, the cost throttle waited out, failures retried or refused,
stock set with inventorySetQuantities, and shipments marked with
fulfillmentCreate on the order's fulfillment orders. Waits are recorded,
never slept."""
import datetime as dt
import json
import re
from collections import defaultdict

import pytest
import responses

from sync_agent.channels import shopify
from sync_agent.channels.base import (
    FulfilmentItem,
    FulfilmentResult,
    FulfilmentUpdate,
    StockUpdate,
)
from sync_agent.channels.shopify import ShopifyAdapter
from sync_agent.channels.shopify.adapter import throttle_wait
from sync_agent.channels.shopify.queries import MAX_QUERY_COST
from sync_agent.channels.transport import (
    AuthError,
    ChannelError,
    GaveUp,
    RateLimiter,
    Transport,
)
from sync_agent.config import ChannelConfig

BASE_URL = 'https://shop.example'
ENDPOINT = f'{BASE_URL}/admin/api/2026-01/graphql.json'
TOKEN = 'shpat_test_0123456789abcdef'
LOCATION = 'gid://shopify/Location/124656943'

COST = {'requestedQueryCost': 52, 'actualQueryCost': 12, 'throttleStatus': {
        'maximumAvailable': 2000.0, 'currentlyAvailable': 1988.0,
        'restoreRate': 100.0}}
THROTTLED = {
    'errors': [{'message': 'Throttled', 'extensions': {
                'code': 'THROTTLED',
                'documentation': 'https://shopify.dev/api/usage/rate-limits'}}],
    'extensions': {'cost': {
            'requestedQueryCost': 752, 'actualQueryCost': None,
            'throttleStatus': {'maximumAvailable': 1000.0,
                'currentlyAvailable': 666, 'restoreRate': 50.0}}}}


def channel(**settings):
    return ChannelConfig(code='SHOP', kind='shopify', base_url=BASE_URL,
        **settings)


def credentials():
    return {'token': TOKEN}


def make_adapter(tmp_path, sleeps, attempts=8, **settings):
    transport = Transport('SHOP', RateLimiter(0), attempts=attempts,
        sleep=sleeps.append)
    return ShopifyAdapter(channel(**settings), credentials(),
        state_dir=tmp_path, transport=transport)


class FakeShopify:
    """One GraphQL endpoint: each request is routed on its operation name
    (OrdersSince, OrderLineItems, VariantsBySku, Locations, SetStock,
    StockLevels) to the next queued answer, else to the operation's
    handler."""

    def __init__(self, mock):
        self.requests = []
        self.queued = defaultdict(list)
        self.handlers = {
            'VariantsBySku': self.variants,
            'Locations': self.locations,
            'SetStock': self.set_stock,
            'StockLevels': self.stock_levels,
            }
        self.shop_locations = [{'id': LOCATION, 'name': 'Main warehouse'}]
        self.unknown_skus = set()
        # (SKU, location id) → available; items are stocked where listed.
        self.available = {}
        mock.add_callback(responses.POST, ENDPOINT, callback=self)

    def queue(self, operation, *answers):
        "Answers, in turn: a data dict, or (status, body) with body any"
        self.queued[operation].extend(answers)

    def __call__(self, request):
        body = json.loads(request.body)
        operation = re.search(
            r'(?:query|mutation)\s+(\w+)', body['query']).group(1)
        self.requests.append(dict(body, operation=operation,
                headers=dict(request.headers)))
        if self.queued[operation]:
            answer = self.queued[operation].pop(0)
        else:
            answer = self.handlers[operation](body['variables'])
        status, payload = answer if isinstance(answer, tuple) else (
            200, {'data': answer, 'extensions': {'cost': COST}})
        text = payload if isinstance(payload, str) else json.dumps(payload)
        return status, {'Content-Type': 'application/json'}, text

    def calls(self, operation):
        return [r for r in self.requests if r['operation'] == operation]

    @property
    def operations(self):
        return [r['operation'] for r in self.requests]

    # Default handlers: a shop where every SKU has a variant.
    def variants(self, variables):
        skus = [
            quoted.replace('\\"', '"').replace('\\\\', '\\') or plain
            for quoted, plain in re.findall(
                r'sku:(?:"((?:[^"\\]|\\.)*)"|(\S+))', variables['q'])]
        return {'productVariants': {'nodes': [{
                        'id': f'gid://shopify/ProductVariant/{sku}',
                        'sku': sku,
                        'inventoryItem': {
                            'id': f'gid://shopify/InventoryItem/{sku}'},
                        'product': {'id': 'gid://shopify/Product/1'},
                        } for sku in skus if sku not in self.unknown_skus]}}

    def locations(self, variables):
        return {'locations': {'nodes': self.shop_locations}}

    def stock_levels(self, variables):
        skus = re.findall(r'id:(\S+)', variables['q'])
        return {'inventoryItems': {'nodes': [{
                        'id': f'gid://shopify/InventoryItem/{sku}',
                        'inventoryLevels': {'nodes': [{
                                    'quantities': [{'name': 'available',
                                            'quantity': quantity}],
                                    'location': {'id': location}}
                                for (item, location), quantity
                                in self.available.items() if item == sku]},
                        } for sku in skus]}}

    def set_stock(self, variables):
        return {'inventorySetQuantities': {
                'inventoryAdjustmentGroup': {
                    'createdAt': '2026-01-15T10:05:00Z',
                    'reason': 'correction', 'changes': []},
                'userErrors': []}}


@pytest.fixture
def mock():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def shop(mock):
    return FakeShopify(mock)


@pytest.fixture
def sleeps():
    return []


def order_node(number, updated='2026-01-15T10:03:40Z', lines=None,
        more_lines=None):
    lines = lines or [line(f'{number}1', 'MUG-RED')]
    return {
        'id': f'gid://shopify/Order/{number}',
        'legacyResourceId': str(number), 'name': f'#{number}',
        'createdAt': '2026-01-15T09:58:11Z', 'updatedAt': updated,
        'cancelledAt': None, 'closed': False,
        'displayFinancialStatus': 'PAID',
        'displayFulfillmentStatus': 'UNFULFILLED',
        'email': 'jane@example.com', 'currencyCode': 'EUR',
        'customer': {'id': 'gid://shopify/Customer/77',
            'firstName': 'Jane', 'lastName': 'Doe'},
        'shippingAddress': {'name': 'Jane Doe', 'address1': 'Hauptstr. 1',
            'city': 'Berlin', 'zip': '10115', 'countryCodeV2': 'DE'},
        'totalPriceSet': money('47.90'),
        'totalShippingPriceSet': money('4.90'),
        'lineItems': {
            'pageInfo': {'hasNextPage': more_lines is not None,
                'endCursor': more_lines},
            'nodes': lines},
        }


def line(id_, sku, quantity=1, price='21.50'):
    return {'id': f'gid://shopify/LineItem/{id_}', 'sku': sku,
        'name': sku, 'quantity': quantity, 'currentQuantity': quantity,
        'variant': {'id': 'gid://shopify/ProductVariant/42'},
        'originalUnitPriceSet': money(price)}


def money(amount):
    return {'shopMoney': {'amount': amount, 'currencyCode': 'EUR'}}


def orders_page(nodes, next_cursor=None):
    return {'orders': {
            'pageInfo': {'hasNextPage': next_cursor is not None,
                'endCursor': next_cursor},
            'nodes': nodes}}


def fetch_all(adapter, since=None):
    return [[shopify.external_id(o) for o in page.orders]
        for page in adapter.fetch_orders(since)]


# -- Orders -------------------------------------------------------------

def test_orders_are_paged_by_cursor_since_the_watermark_in_utc(
        tmp_path, shop, sleeps):
    shop.queue('OrdersSince',
        orders_page([order_node(1), order_node(2)], next_cursor='c-page-2'),
        orders_page([order_node(3)]))
    adapter = make_adapter(tmp_path, sleeps)
    # 11:00 in Paris in winter is 10:00 UTC.
    since = dt.datetime(2026, 1, 15, 11, 0, 0,
        tzinfo=dt.timezone(dt.timedelta(hours=1)))

    pages = fetch_all(adapter, since)

    assert pages == [['1', '2'], ['3']]
    calls = shop.calls('OrdersSince')
    assert [c['variables']['after'] for c in calls] == [None, 'c-page-2']
    for call in calls:
        assert call['variables']['q'] == (
            "updated_at:>='2026-01-15T10:00:00Z'")
        assert call['variables']['first'] == 20
        assert 'sortKey: UPDATED_AT' in call['query']
        assert call['headers']['X-Shopify-Access-Token'] == TOKEN
    assert sleeps == []


def test_page_size_comes_from_the_channel(tmp_path, shop, sleeps):
    shop.queue('OrdersSince', orders_page([]))
    adapter = make_adapter(tmp_path, sleeps, page_size=5)

    assert fetch_all(adapter) == [[]]
    assert shop.calls('OrdersSince')[0]['variables']['first'] == 5
    assert shop.calls('OrdersSince')[0]['variables']['q'] == ''


def test_line_items_beyond_the_first_page_are_fetched(
        tmp_path, shop, sleeps):
    first_lines = [line(n, f'SKU-{n}') for n in range(1, 26)]
    shop.queue('OrdersSince', orders_page([
                order_node(7, lines=first_lines, more_lines='l-25'),
                order_node(8)]))
    shop.queue('OrderLineItems',
        {'order': {'id': 'gid://shopify/Order/7', 'lineItems': {
                    'pageInfo': {'hasNextPage': True, 'endCursor': 'l-275'},
                    'nodes': [line(n, f'SKU-{n}') for n in range(26, 276)]}}},
        {'order': {'id': 'gid://shopify/Order/7', 'lineItems': {
                    'pageInfo': {'hasNextPage': False, 'endCursor': 'l-280'},
                    'nodes': [line(n, f'SKU-{n}') for n in range(276, 281)]}}})
    adapter = make_adapter(tmp_path, sleeps)

    [page] = list(adapter.fetch_orders(None))

    calls = shop.calls('OrderLineItems')
    assert [c['variables']['after'] for c in calls] == ['l-25', 'l-275']
    assert {c['variables']['id'] for c in calls} == {
        'gid://shopify/Order/7'}
    big, small = page.orders
    assert big['lineItems']['pageInfo'] == {'hasNextPage': False}
    order = shopify.normalize_order(big, 'SHOP')
    assert [ln.sku for ln in order.lines] == [
        f'SKU-{n}' for n in range(1, 281)]
    assert len(small['lineItems']['nodes']) == 1  # no extra call for it
    assert shop.operations == [
        'OrdersSince', 'OrderLineItems', 'OrderLineItems']


def test_throttle_wait_is_the_missing_cost_over_the_restore_rate():
    # ceil((752 - 666) / 50) = 2 s
    assert throttle_wait(THROTTLED) == 2
    assert throttle_wait({'errors': []}) is None


@pytest.mark.parametrize('status', [200, 429])
def test_throttled_queries_are_waited_out_and_nothing_is_lost(
        tmp_path, shop, sleeps, status):
    shop.queue('OrdersSince',
        orders_page([order_node(1)], next_cursor='c-2'),
        (status, THROTTLED),
        orders_page([order_node(2)], next_cursor='c-3'),
        orders_page([order_node(3)]))
    adapter = make_adapter(tmp_path, sleeps)

    pages = fetch_all(adapter)

    assert pages == [['1'], ['2'], ['3']]
    assert [c['variables']['after'] for c in shop.calls('OrdersSince')] == [
        None, 'c-2', 'c-2', 'c-3']
    assert sleeps == [pytest.approx(2.05)]


def test_a_query_the_bucket_cannot_hold_waits_before_it_is_sent(
        tmp_path, shop, sleeps):
    "Rather than spend a call on THROTTLED, wait for the budget"
    low = {'requestedQueryCost': 500, 'actualQueryCost': 100,
        'throttleStatus': {'maximumAvailable': 1000.0,
            'currentlyAvailable': 100.0, 'restoreRate': 100.0}}
    shop.queue('OrdersSince',
        (200, {'data': orders_page([order_node(1)], next_cursor='c-2'),
                'extensions': {'cost': low}}),
        orders_page([order_node(2)]))
    adapter = make_adapter(tmp_path, sleeps)

    assert fetch_all(adapter) == [['1'], ['2']]
    assert sleeps == [pytest.approx(4, abs=0.05)]  # (500 - 100) / 100


def test_a_burst_of_server_errors_is_retried(tmp_path, shop, sleeps):
    shop.queue('OrdersSince', (502, 'Bad Gateway'), (503, ''),
        (504, '<html>timeout</html>'), orders_page([order_node(1)]))
    adapter = make_adapter(tmp_path, sleeps)

    assert fetch_all(adapter) == [['1']]
    assert len(shop.calls('OrdersSince')) == 4
    assert len(sleeps) == 3
    assert all(0 <= s <= 60 for s in sleeps)


def test_gives_up_loudly_after_the_attempt_bound(
        tmp_path, shop, sleeps, caplog):
    shop.queue('OrdersSince', *[(503, 'Service Unavailable')] * 10)
    adapter = make_adapter(tmp_path, sleeps, attempts=4)

    with pytest.raises(GaveUp, match='HTTP 503'):
        fetch_all(adapter)

    assert len(shop.calls('OrdersSince')) == 4
    assert len(sleeps) == 3
    assert [r.levelname for r in caplog.records
        if 'gave up' in r.getMessage()] == ['ERROR']


def test_throttled_without_end_gives_up_too(tmp_path, shop, sleeps):
    shop.queue('OrdersSince', *[(200, THROTTLED)] * 3)
    adapter = make_adapter(tmp_path, sleeps, attempts=3)

    with pytest.raises(GaveUp, match='THROTTLED'):
        fetch_all(adapter)
    assert sleeps == [pytest.approx(2.05)] * 2


def test_refused_token_fails_at_once(tmp_path, shop, sleeps):
    shop.queue('OrdersSince', (401, {'errors': (
                '[API] Invalid API key or access token (unrecognized '
                'login or wrong password)')}))
    adapter = make_adapter(tmp_path, sleeps)

    with pytest.raises(AuthError, match='HTTP 401'):
        fetch_all(adapter)

    assert len(shop.requests) == 1
    assert sleeps == []


def test_a_garbled_body_is_retried(tmp_path, shop, sleeps):
    shop.queue('OrdersSince', (200, '<html><body>502 proxy'),
        (200, '{"data": {"orders": '), orders_page([order_node(1)]))
    adapter = make_adapter(tmp_path, sleeps)

    assert fetch_all(adapter) == [['1']]
    assert len(sleeps) == 2


def test_a_refused_query_is_not_retried(tmp_path, shop, sleeps):
    shop.queue('OrdersSince', (200, {'errors': [{
                    'message': "Field 'bogus' doesn't exist on type 'Order'",
                    'extensions': {'code': 'undefinedField'}}]}))
    adapter = make_adapter(tmp_path, sleeps)

    with pytest.raises(ChannelError, match="Field 'bogus' doesn't exist"):
        fetch_all(adapter)
    assert len(shop.requests) == 1
    assert sleeps == []


def test_an_unknown_api_version_is_refused_readably(tmp_path, mock, sleeps):
    "Shopify answers REST-style errors (a string) outside GraphQL"
    mock.post(f'{BASE_URL}/admin/api/2019-01/graphql.json', status=404,
        json={'errors': 'Not Found'})
    adapter = make_adapter(tmp_path, sleeps, api_version='2019-01')

    with pytest.raises(ChannelError) as refused:
        fetch_all(adapter)

    assert str(refused.value) == "Shopify refused the query: Not Found"
    assert sleeps == []


# -- Stock --------------------------------------------------------------

def quantities(call):
    return call['variables']['input']['quantities']


def idempotency_key(call):
    match = re.search(r'@idempotent\(key: "([0-9a-f-]{36})"\)',
        call['query'])
    assert match, call['query']
    return match.group(1)


def by_sku(results):
    return {r.sku: r for r in results}


def test_stock_is_set_250_quantities_a_call(tmp_path, shop, sleeps):
    updates = [StockUpdate(f'SKU-{n:03}', n % 7,
            previous=n % 5 if n % 2 else None) for n in range(300)]
    adapter = make_adapter(tmp_path, sleeps)

    results = adapter.push_stock(updates)

    assert len(results) == 300 and all(r.ok for r in results)
    calls = shop.calls('SetStock')
    assert [len(quantities(c)) for c in calls] == [250, 50]
    keys = [idempotency_key(c) for c in calls]
    assert len(set(keys)) == 2  # one key per logical push
    sent = [q for c in calls for q in quantities(c)]
    for update, quantity in zip(updates, sent, strict=True):
        assert quantity == {
            'inventoryItemId': f'gid://shopify/InventoryItem/{update.sku}',
            'locationId': LOCATION, 'quantity': update.quantity,
            # Always present (2026-04 requires it): previous or null.
            'changeFromQuantity': update.previous}
    for call in calls:
        assert call['variables']['input']['name'] == 'available'
        assert call['variables']['input']['reason'] == 'correction'
    # SKUs resolved 50 a lookup, the location once.
    assert len(shop.calls('VariantsBySku')) == 6
    assert len(shop.calls('Locations')) == 1


def test_a_retried_push_keeps_its_idempotency_key(tmp_path, shop, sleeps):
    shop.queue('SetStock', (503, 'Service Unavailable'))
    adapter = make_adapter(tmp_path, sleeps)

    results = adapter.push_stock([StockUpdate('MUG-RED', 4, previous=3)])

    assert [r.ok for r in results] == [True]
    first, again = shop.calls('SetStock')
    assert idempotency_key(first) == idempotency_key(again)
    assert first['variables'] == again['variables']


def stale_at(index):
    return {'inventorySetQuantities': {'inventoryAdjustmentGroup': None,
            'userErrors': [{
                'field': ['input', 'quantities', str(index),
                    'changeFromQuantity'],
                'message': 'The changeFromQuantity value does not match '
                'persisted value.',
                'code': 'CHANGE_FROM_QUANTITY_STALE'}]}}


def test_a_stale_quantity_fails_alone_and_is_not_overwritten(
        tmp_path, shop, sleeps):
    # Shopify shows another quantity than expected: most likely a sale the
    # ERP has not imported yet; setting over it would sell that unit twice.
    shop.queue('SetStock', stale_at(1))
    adapter = make_adapter(tmp_path, sleeps)
    updates = [StockUpdate('A', 5, previous=4), StockUpdate('B', 6,
            previous=9), StockUpdate('C', 7, previous=None)]

    results = adapter.push_stock(updates)

    assert {r.sku: (r.quantity, r.error) for r in results} == {
        'A': (5, None), 'C': (7, None), 'B': (6,
            'CHANGE_FROM_QUANTITY_STALE: Shopify no longer shows 9 at this '
            'location')}
    assert [r.reason for r in results if not r.ok] == ['stale']
    first, second = shop.calls('SetStock')
    assert [q['changeFromQuantity'] for q in quantities(first)] == [
        4, 9, None]
    # The others are sent again, still compare-and-set, under a new key.
    assert [(q['quantity'], q['changeFromQuantity'])
        for q in quantities(second)] == [(5, 4), (7, None)]
    assert idempotency_key(first) != idempotency_key(second)


def test_an_invalid_inventory_item_fails_alone(tmp_path, shop, sleeps):
    shop.queue('SetStock', {'inventorySetQuantities': {
                'inventoryAdjustmentGroup': None, 'userErrors': [{
                        'field': ['input', 'quantities', '1',
                            'inventoryItemId'],
                        'message': 'The specified inventory item could not '
                        'be found.',
                        'code': 'INVALID_INVENTORY_ITEM'}]}})
    adapter = make_adapter(tmp_path, sleeps)
    updates = [StockUpdate('A', 1, previous=0), StockUpdate('B', 2),
        StockUpdate('C', 3)]

    results = by_sku(adapter.push_stock(updates))

    assert results['B'].error.startswith('INVALID_INVENTORY_ITEM')
    assert results['B'].reason == 'unknown_sku'
    assert results['A'].ok and results['C'].ok
    second = shop.calls('SetStock')[1]
    assert [q['inventoryItemId'] for q in quantities(second)] == [
        'gid://shopify/InventoryItem/A', 'gid://shopify/InventoryItem/C']
    # Its inventory item is looked up again next time (it may have moved).
    adapter.push_stock([StockUpdate('B', 2)])
    assert 'B' in shop.calls('VariantsBySku')[-1]['variables']['q']


def test_a_sku_without_variant_is_reported_not_sent(tmp_path, shop, sleeps):
    shop.unknown_skus = {'GHOST'}
    adapter = make_adapter(tmp_path, sleeps)

    results = by_sku(adapter.push_stock(
            [StockUpdate('MUG-RED', 3), StockUpdate('GHOST', 9)]))

    assert results['MUG-RED'].ok
    assert (results['GHOST'].error, results['GHOST'].reason) == (
        "no Shopify variant has this SKU", 'unknown_sku')
    [call] = shop.calls('SetStock')
    assert [q['inventoryItemId'] for q in quantities(call)] == [
        'gid://shopify/InventoryItem/MUG-RED']


def test_a_push_where_nothing_is_known_sends_no_mutation(
        tmp_path, shop, sleeps):
    shop.unknown_skus = {'GHOST'}
    adapter = make_adapter(tmp_path, sleeps)

    [result] = adapter.push_stock([StockUpdate('GHOST', 9)])

    assert not result.ok
    assert shop.calls('SetStock') == []


def test_inventory_items_and_locations_are_resolved_once(
        tmp_path, shop, sleeps):
    updates = [StockUpdate('MUG-RED', 3), StockUpdate('TEE "XL"/black', 1)]
    adapter = make_adapter(tmp_path, sleeps)

    adapter.push_stock(updates)
    adapter.push_stock(updates)

    assert shop.operations == [
        'VariantsBySku', 'Locations', 'SetStock', 'SetStock']
    # A SKU with spaces or quotes is searched quoted.
    assert shop.calls('VariantsBySku')[0]['variables']['q'] == (
        'sku:MUG-RED OR sku:"TEE \\"XL\\"/black"')
    cache = tmp_path / 'SHOP.inventory-items.json'
    assert json.loads(cache.read_text())['values'] == {
        'MUG-RED': 'gid://shopify/InventoryItem/MUG-RED',
        'TEE "XL"/black': 'gid://shopify/InventoryItem/TEE "XL"/black'}

    # The next run of the agent reuses the cached inventory items.
    restarted = make_adapter(tmp_path, sleeps)
    restarted.push_stock([StockUpdate('MUG-RED', 2)])
    assert shop.operations[4:] == ['Locations', 'SetStock']


def test_a_cache_of_another_shop_is_not_used(tmp_path, shop, sleeps):
    (tmp_path / 'SHOP.inventory-items.json').write_text(json.dumps({
                'base_url': 'https://old-shop.example',
                'values': {'MUG-RED': 'gid://shopify/InventoryItem/1'}}))
    adapter = make_adapter(tmp_path, sleeps)

    adapter.push_stock([StockUpdate('MUG-RED', 2)])

    assert shop.operations == ['VariantsBySku', 'Locations', 'SetStock']


def test_several_locations_need_a_mapped_location(tmp_path, shop, sleeps):
    shop.shop_locations = [
        {'id': 'gid://shopify/Location/1', 'name': 'Main warehouse'},
        {'id': 'gid://shopify/Location/2', 'name': 'Shop floor'}]
    adapter = make_adapter(tmp_path, sleeps)

    results = by_sku(adapter.push_stock([
                StockUpdate('UNMAPPED', 1),
                StockUpdate('BY-NAME', 2, location='Shop floor'),
                StockUpdate('BY-ID', 3, location='gid://shopify/Location/1'),
                StockUpdate('NOWHERE', 4, location='Attic')]))

    assert 'several locations' in results['UNMAPPED'].error
    assert 'warehouses:' in results['UNMAPPED'].error
    assert results['NOWHERE'].error == "the shop has no location 'Attic'"
    assert {results[s].reason for s in ('UNMAPPED', 'NOWHERE')} == {
        'no_location'}
    assert results['BY-NAME'].ok and results['BY-ID'].ok
    [call] = shop.calls('SetStock')
    assert [(q['inventoryItemId'].rsplit('/', 1)[1], q['locationId'])
        for q in quantities(call)] == [
        ('BY-NAME', 'gid://shopify/Location/2'),
        ('BY-ID', 'gid://shopify/Location/1')]


def test_one_sku_is_set_at_each_of_its_locations(tmp_path, shop, sleeps):
    shop.shop_locations = [
        {'id': 'gid://shopify/Location/1', 'name': 'Main warehouse'},
        {'id': 'gid://shopify/Location/2', 'name': 'Shop floor'}]
    adapter = make_adapter(tmp_path, sleeps)

    results = adapter.push_stock([
            StockUpdate('MUG-RED', 7, previous=5, location='Main warehouse'),
            StockUpdate('MUG-RED', 2, previous=None, location='Shop floor')])

    # Each result names its level: the SKU and the location asked for.
    assert {r.key: r.ok for r in results} == {
        ('MUG-RED', 'Main warehouse'): True, ('MUG-RED', 'Shop floor'): True}
    [call] = shop.calls('SetStock')
    assert [(q['locationId'], q['quantity'], q['changeFromQuantity'])
        for q in quantities(call)] == [
        ('gid://shopify/Location/1', 7, 5),
        ('gid://shopify/Location/2', 2, None)]


def test_stock_is_read_per_location_by_inventory_item(tmp_path, shop, sleeps):
    shop.shop_locations = [
        {'id': 'gid://shopify/Location/1', 'name': 'Main warehouse'},
        {'id': 'gid://shopify/Location/2', 'name': 'Shop floor'}]
    shop.available = {('MUG-RED', 'gid://shopify/Location/1'): 4,
        ('MUG-RED', 'gid://shopify/Location/2'): 0,
        ('CAP', 'gid://shopify/Location/1'): 9}
    shop.unknown_skus = {'GHOST'}
    adapter = make_adapter(tmp_path, sleeps)

    found = adapter.read_stock([
            StockUpdate('MUG-RED', 3, location='Main warehouse'),
            StockUpdate('MUG-RED', 1, location='gid://shopify/Location/2'),
            StockUpdate('CAP', 1, location='Shop floor'),
            StockUpdate('GHOST', 1, location='Main warehouse')])

    assert found == {
        ('MUG-RED', 'Main warehouse'): 4,
        ('MUG-RED', 'gid://shopify/Location/2'): 0,
        # Not stocked there: Shopify counts nothing.
        ('CAP', 'Shop floor'): None}
    # One query for both items, every location's level in it; no write.
    [read] = shop.calls('StockLevels')
    assert read['variables'] == {
        'q': 'id:CAP OR id:MUG-RED', 'first': 2, 'levels': 2}
    assert 'quantities(names: ["available"])' in read['query']
    assert shop.calls('SetStock') == []


def test_a_stock_read_stays_under_the_query_cost_cap(tmp_path, shop, sleeps):
    shop.shop_locations = [
        {'id': f'gid://shopify/Location/{n}', 'name': f'Store {n}'}
        for n in range(1, 51)]
    adapter = make_adapter(tmp_path, sleeps)
    updates = [StockUpdate(f'SKU-{n:02}', 1, location='Store 1')
        for n in range(30)]

    adapter.read_stock(updates)

    reads = shop.calls('StockLevels')
    assert [r['variables']['first'] for r in reads] == [9, 9, 9, 3]
    for read in reads:
        first, levels = read['variables']['first'], read['variables']['levels']
        assert 1 + first * (1 + 2 * levels) <= MAX_QUERY_COST


def test_a_level_beyond_the_levels_read_is_not_taken_for_unstocked(
        tmp_path, shop, sleeps):
    # A location opened since the adapter read the shop's locations.
    shop.queue('StockLevels', {'inventoryItems': {'nodes': [{
                    'id': 'gid://shopify/InventoryItem/MUG-RED',
                    'inventoryLevels': {'pageInfo': {'hasNextPage': True},
                        'nodes': [{'location': {'id': 'gid://shopify/'
                                    'Location/9'}, 'quantities': [{
                                        'name': 'available',
                                        'quantity': 1}]}]}}]}})
    adapter = make_adapter(tmp_path, sleeps)

    found = adapter.read_stock([StockUpdate('MUG-RED', 3)])

    assert found == {}


# -- Fulfilments --------------------------------------------------------

OUTLET = 'gid://shopify/Location/2'


def fo(number, location, items, actions=('CREATE_FULFILLMENT',),
        status='OPEN'):
    "A fulfillment order; items: (FO line item, line item, sku, remaining)"
    return {'id': f'gid://shopify/FulfillmentOrder/{number}',
        'status': status,
        'assignedLocation': {'location': {'id': location}},
        'supportedActions': [{'action': a} for a in actions],
        'lineItems': {'nodes': [{
                    'id': f'gid://shopify/FulfillmentOrderLineItem/{item}',
                    'remainingQuantity': left, 'totalQuantity': left,
                    'lineItem': {'id': f'gid://shopify/LineItem/{line}',
                        'sku': sku}}
                for item, line, sku, left in items]}}


def order_fulfilment(fulfillment_orders, fulfillments=()):
    return {'order': {'id': 'gid://shopify/Order/5001', 'cancelledAt': None,
            'fulfillments': list(fulfillments),
            'fulfillmentOrders': {'nodes': list(fulfillment_orders)}}}


def created(number):
    return {'fulfillmentCreate': {'fulfillment': {
                'id': f'gid://shopify/Fulfillment/{number}',
                'status': 'SUCCESS', 'trackingInfo': []},
            'userErrors': []}}


def shipment(*items, tracking='JD0001', url=None, carrier='DHL Express',
        notify=True, complete=True):
    return FulfilmentUpdate(key='oms-fulfilment-3f2a', order_id='5001',
        items=tuple(FulfilmentItem(*item) for item in items),
        complete=complete, notify_customer=notify, carrier=carrier,
        tracking_number=tracking, tracking_url=url)


def test_units_are_split_across_fulfillment_orders_one_call_a_location(
        tmp_path, shop, sleeps):
    shop.queue('OrderFulfilment', order_fulfilment([
                fo(61, LOCATION, [(71, 901, 'MUG-RED', 1)]),
                # On hold: never picked, though it holds mugs too.
                fo(62, LOCATION, [(72, 901, 'MUG-RED', 5)],
                    actions=(), status='ON_HOLD'),
                fo(63, LOCATION, [(73, 901, 'MUG-RED', 4)]),
                fo(64, OUTLET, [(74, 902, 'CAP', 1)])]))
    shop.queue('Ship', created(81), created(82))
    adapter = make_adapter(tmp_path, sleeps)

    result = adapter.push_fulfilment(shipment(
            ('MUG-RED', 3, '901'), ('CAP', 1, None)))

    assert result.ok and not result.already
    assert result.external_id == ('gid://shopify/Fulfillment/81,'
        'gid://shopify/Fulfillment/82')
    main, outlet = (c['variables']['fulfillment']
        for c in shop.calls('Ship'))
    # One call a location, every fulfillment order of it in the call.
    assert main['lineItemsByFulfillmentOrder'] == [
        {'fulfillmentOrderId': 'gid://shopify/FulfillmentOrder/61',
            'fulfillmentOrderLineItems': [
                {'id': 'gid://shopify/FulfillmentOrderLineItem/71',
                    'quantity': 1}]},
        {'fulfillmentOrderId': 'gid://shopify/FulfillmentOrder/63',
            'fulfillmentOrderLineItems': [
                {'id': 'gid://shopify/FulfillmentOrderLineItem/73',
                    'quantity': 2}]}]
    assert outlet['lineItemsByFulfillmentOrder'] == [
        {'fulfillmentOrderId': 'gid://shopify/FulfillmentOrder/64',
            'fulfillmentOrderLineItems': [
                {'id': 'gid://shopify/FulfillmentOrderLineItem/74',
                    'quantity': 1}]}]
    # No link: none sent.
    assert main['trackingInfo'] == {'company': 'DHL Express',
        'number': 'JD0001'}
    assert main['notifyCustomer'] is True
    keys = [re.search(r'@idempotent\(key: "([^"]+)"\)', c['query'])[1]
        for c in shop.calls('Ship')]
    assert all(k.startswith('oms-fulfilment-3f2a-') for k in keys)
    assert len(set(keys)) == 2


def test_a_shipment_without_tracking_sends_none(tmp_path, shop, sleeps):
    shop.queue('OrderFulfilment', order_fulfilment([
                fo(61, LOCATION, [(71, 901, 'MUG-RED', 1)])]))
    shop.queue('Ship', created(81))
    adapter = make_adapter(tmp_path, sleeps)

    adapter.push_fulfilment(shipment(('MUG-RED', 1), tracking=None,
            carrier=None, notify=False))

    [call] = shop.calls('Ship')
    assert 'trackingInfo' not in call['variables']['fulfillment']
    assert call['variables']['fulfillment']['notifyCustomer'] is False


def test_what_shopify_shows_already_is_not_shipped_again(
        tmp_path, shop, sleeps):
    tracked = {'id': 'gid://shopify/Fulfillment/80', 'status': 'SUCCESS',
        'trackingInfo': [{'company': 'DHL Express', 'number': 'JD0001',
                'url': None}],
        'fulfillmentLineItems': {'nodes': [{'quantity': 1,
                    'lineItem': {'id': 'gid://shopify/LineItem/901',
                        'sku': 'MUG-RED'}}]}}
    adapter = make_adapter(tmp_path, sleeps)
    # Shipped under this tracking number, though mugs are left to ship;
    # then nothing left at all, and no tracking number to tell.
    shop.queue('OrderFulfilment',
        order_fulfilment([fo(61, LOCATION, [(71, 901, 'MUG-RED', 2)])],
            [tracked]),
        order_fulfilment([fo(61, LOCATION, [(71, 901, 'MUG-RED', 0)])],
            [dict(tracked, trackingInfo=[])]))

    by_tracking = adapter.push_fulfilment(shipment(('MUG-RED', 1, '901')))
    nothing_left = adapter.push_fulfilment(
        shipment(('MUG-RED', 1, '901'), tracking=None))

    assert shop.calls('Ship') == []
    assert by_tracking == FulfilmentResult(
        external_id='gid://shopify/Fulfillment/80', already=True)
    assert nothing_left == by_tracking


def test_userErrors_are_a_failure_in_shopifys_words(tmp_path, shop, sleeps):
    shop.queue('OrderFulfilment', order_fulfilment([
                fo(61, LOCATION, [(71, 901, 'MUG-RED', 1)])]))
    shop.queue('Ship', {'fulfillmentCreate': {'fulfillment': None,
                'userErrors': [{'field': ['fulfillment'],
                        'message': 'Fulfillment order 61 is on hold.'}]}})
    adapter = make_adapter(tmp_path, sleeps)

    result = adapter.push_fulfilment(shipment(('MUG-RED', 1)))

    assert result == FulfilmentResult(error=(
            "Shopify refused the fulfilment: Fulfillment order 61 is on "
            "hold."))


def test_units_on_hold_fail_the_shipment_before_any_write(
        tmp_path, shop, sleeps):
    shop.queue('OrderFulfilment', order_fulfilment([
                fo(61, LOCATION, [(71, 901, 'MUG-RED', 1)]),
                fo(62, LOCATION, [(72, 902, 'CAP', 2)], actions=(),
                    status='ON_HOLD')]))
    adapter = make_adapter(tmp_path, sleeps)

    result = adapter.push_fulfilment(shipment(('MUG-RED', 1), ('CAP', 2)))

    assert result.error == ("2 × CAP wait on a fulfillment order Shopify "
        "does not let fulfil now (ON_HOLD)")
    assert shop.calls('Ship') == []


def test_an_unknown_order_is_a_failure(tmp_path, shop, sleeps):
    shop.queue('OrderFulfilment', {'order': None})
    adapter = make_adapter(tmp_path, sleeps)

    result = adapter.push_fulfilment(shipment(('MUG-RED', 1)))

    assert result.error == "Shopify has no order 5001"
    assert shop.calls('OrderFulfilment')[0]['variables'] == {
        'id': 'gid://shopify/Order/5001'}


def test_a_shop_refusing_the_idempotency_directive_is_sent_none(
        tmp_path, shop, sleeps):
    "@idempotent on fulfillmentCreate is unconfirmed: it must not jam"
    shop.queue('OrderFulfilment', *[order_fulfilment([
                    fo(61, LOCATION, [(71, 901, 'MUG-RED', 2)])])] * 2)
    shop.queue('Ship', (200, {'errors': [{
                    'message': "Directive 'idempotent' is not allowed on "
                    "field 'fulfillmentCreate'"}]}),
        created(81), created(82))
    adapter = make_adapter(tmp_path, sleeps)

    first = adapter.push_fulfilment(shipment(('MUG-RED', 1)))
    second = adapter.push_fulfilment(shipment(('MUG-RED', 1)))

    refused, *sent = shop.calls('Ship')
    assert '@idempotent' in refused['query']
    assert [c['query'].count('@idempotent') for c in sent] == [0, 0]
    assert (first.external_id, second.external_id) == (
        'gid://shopify/Fulfillment/81', 'gid://shopify/Fulfillment/82')
