"""The marketplace sandbox, driven over HTTP with plain requests, as the
agent's adapters, the demo and the benchmarks will drive it."""
import base64
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pydantic
import pytest
import requests
from e2e_harness import FIXTURES

from sandbox import generator
from sandbox.__main__ import build
from sync_agent.channels import shopify as shopify_channel
from sync_agent.channels import woocommerce as woo_channel
from sync_agent.channels.payload import PayloadError

ROOT = Path(__file__).resolve().parents[1]
TOKEN = 'shpat_test'
KEY, SECRET = 'ck_test', 'cs_test'
UTC = dt.UTC

ORDERS_SINCE = """
query OrdersSince($first: Int!, $after: String, $q: String!, $lines: Int!) {
  orders(first: $first, after: $after, query: $q, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id legacyResourceId name createdAt updatedAt cancelledAt closed
      displayFinancialStatus displayFulfillmentStatus email currencyCode
      customer { id firstName lastName }
      shippingAddress { name address1 city provinceCode zip countryCodeV2 }
      totalPriceSet { shopMoney { amount currencyCode } }
      lineItems(first: $lines) {
        pageInfo { hasNextPage endCursor }
        nodes { id sku name quantity currentQuantity variant { id }
          originalUnitPriceSet { shopMoney { amount currencyCode } } }
      }
    }
  }
}"""
ORDER_LINE_ITEMS = """
query OrderLineItems($id: ID!, $after: String, $first: Int!) {
  order(id: $id) { id lineItems(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id sku quantity } } } }"""
VARIANTS_BY_SKU = """
query VariantsBySku($q: String!, $first: Int!) {
  productVariants(first: $first, query: $q) {
    nodes { id sku inventoryItem { id } product { id } } } }"""
LOCATIONS = "query Locations { locations(first: 50) { nodes { id name } } }"
FULFILMENT_ORDERS = """
query($id: ID!) { order(id: $id) { fulfillmentOrders(first: 10) { nodes {
  id status assignedLocation { location { id } } supportedActions { action }
  lineItems(first: 100) { nodes { id remainingQuantity totalQuantity
    lineItem { sku } } } } } } }"""
SHIP = """
mutation Ship($f: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $f, message: "shipped from WH1") {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message } } }"""


def set_stock(key=None):
    directive = f' @idempotent(key: "{key}")' if key else ''
    return ("mutation SetStock($input: InventorySetQuantitiesInput!) {\n"
        f"  inventorySetQuantities(input: $input){directive} {{\n"
        "    inventoryAdjustmentGroup { createdAt reason "
        "referenceDocumentUri changes { name delta } }\n"
        "    userErrors { field message code } } }")


def stock_catalogue(shop, count=30):
    shop.add_products(generator.catalog(count, seed=3, stock=100))
    shop.add_product('MUG-RED', 'Mug – red', '21.50', stock=9)
    shop.add_product('TEE 1', 'Tee – S', '19.00', stock=4)
    shop.add_product('TEE-M', 'Tee – M', '19.00', stock=2, variant_of='TEE 1')
    return shop


def add_shopify(sandbox, name, **options):
    "A store whose cost bucket never runs dry, unless the test says so"
    return sandbox.add_shopify(name, token=TOKEN, **{
            'restore_rate': 1e6, **options})


@pytest.fixture
def shopify(sandbox):
    return stock_catalogue(add_shopify(sandbox, 'eu'))


@pytest.fixture
def woo(sandbox):
    return stock_catalogue(sandbox.add_woocommerce(
            'us', consumer_key=KEY, consumer_secret=SECRET))


def gql(shop, query, variables=None, token=TOKEN, version='2026-01'):
    return requests.post(
        f'{shop.base_url}/admin/api/{version}/graphql.json',
        json={'query': query, 'variables': variables or {}},
        headers={'X-Shopify-Access-Token': token}, timeout=10)


def wc(shop, method, path, auth=(KEY, SECRET), **kwargs):
    return requests.request(method, f'{shop.api_url}{path}', auth=auth,
        timeout=10, **kwargs)


def all_orders(shop, q='', first=20, lines=25):
    "Every node of an OrdersSince walk, and the number of pages"
    nodes, after, pages = [], None, 0
    while True:
        body = gql(shop, ORDERS_SINCE, {'first': first, 'after': after,
                'q': q, 'lines': lines}).json()
        page = body['data']['orders']
        nodes += page['nodes']
        pages += 1
        if not page['pageInfo']['hasNextPage']:
            return nodes, pages
        after = page['pageInfo']['endCursor']


def iso(value):
    return value.strftime('%Y-%m-%dT%H:%M:%SZ')


# -- auth ---------------------------------------------------------------------

def test_shopify_refuses_a_wrong_or_missing_token(shopify):
    for token in ('wrong', ''):
        answer = gql(shopify, LOCATIONS, token=token)
        assert answer.status_code == 401
        assert answer.json() == {'errors': '[API] Invalid API key or access '
            'token (unrecognized login or wrong password)'}
    assert gql(shopify, LOCATIONS, version='2025-10').status_code == 200
    assert shopify.calls['locations'] == 3


def test_woocommerce_takes_basic_auth_or_query_keys(woo):
    refused = {'code': 'woocommerce_rest_cannot_view',
        'message': 'Sorry, you cannot list resources.',
        'data': {'status': 401}}
    for auth in (None, (KEY, 'wrong'), ('wrong', SECRET)):
        answer = wc(woo, 'GET', '/orders', auth=auth)
        assert answer.status_code == 401
        assert answer.json() == refused
    assert wc(woo, 'GET', '/orders').status_code == 200
    answer = wc(woo, 'GET', '/orders', auth=None,
        params={'consumer_key': KEY, 'consumer_secret': SECRET})
    assert answer.status_code == 200


# -- Shopify orders -----------------------------------------------------------

def test_shopify_orders_page_by_updated_at_with_opaque_cursors(shopify):
    shopify.generate_orders(57, seed=1, many_lines_share=0)
    nodes, pages = all_orders(shopify, first=20)
    assert pages == 3
    keys = [(n['updatedAt'], int(n['legacyResourceId'])) for n in nodes]
    assert keys == sorted(keys) and len(set(keys)) == 57
    cursor = gql(shopify, ORDERS_SINCE, {'first': 1, 'q': '', 'lines': 1}
        ).json()['data']['orders']['pageInfo']['endCursor']
    assert set(json.loads(base64.urlsafe_b64decode(cursor))) == {
        'last_id', 'last_value'}
    node = nodes[0]
    assert node['id'] == f"gid://shopify/Order/{node['legacyResourceId']}"
    assert node['name'].startswith('#10')
    assert node['totalPriceSet']['shopMoney']['currencyCode'] == 'EUR'
    Decimal(node['totalPriceSet']['shopMoney']['amount'])


def test_shopify_updated_at_filters(shopify):
    now = shopify.now()
    old = shopify.create_order(created_at=now - dt.timedelta(hours=5))
    edge = shopify.create_order(created_at=now - dt.timedelta(hours=2))
    new = shopify.create_order(created_at=now - dt.timedelta(minutes=5))
    mark = iso(now - dt.timedelta(hours=2))

    def ids(q):
        return {n['id'] for n in all_orders(shopify, q=q)[0]}

    assert ids(f"updated_at:>='{mark}'") == {edge['id'], new['id']}
    assert ids(f"updated_at:>'{mark}'") == {new['id']}
    assert ids(f'updated_at:>={mark}') == {edge['id'], new['id']}
    assert ids(f'updated_at:<"{mark}"') == {old['id']}
    assert ids('') == {old['id'], edge['id'], new['id']}
    # An unreadable date is dropped with a warning, as Shopify's search does.
    body = gql(shopify, ORDERS_SINCE, {'first': 5, 'q': "updated_at:>='x'",
            'lines': 5}).json()
    assert len(body['data']['orders']['nodes']) == 3
    assert body['extensions']['search'][0]['warnings']


def test_shopify_paging_is_stable_while_orders_change(shopify):
    orders = shopify.generate_orders(30, seed=2, many_lines_share=0)
    first_page = gql(shopify, ORDERS_SINCE, {'first': 10, 'q': '',
            'lines': 5}).json()['data']['orders']
    seen = [n['id'] for n in first_page['nodes']]
    # An order already served changes: it moves to the end of the walk.
    shopify.update_order(seen[0], note='address corrected')
    after = first_page['pageInfo']['endCursor']
    rest = []
    while after:
        page = gql(shopify, ORDERS_SINCE, {'first': 10, 'after': after,
                'q': '', 'lines': 5}).json()['data']['orders']
        rest += [n['id'] for n in page['nodes']]
        after = page['pageInfo']['hasNextPage'] and page['pageInfo'][
            'endCursor']
    assert set(seen + rest) == {o['id'] for o in orders}
    assert rest[-1] == seen[0]
    assert len(seen + rest) == 31


def test_shopify_line_items_page_within_orders_and_by_order(shopify):
    skus = [p['sku'] for p in generator.catalog(30, seed=3)]
    order = shopify.create_order(lines=[(sku, 1) for sku in skus],
        status='paid')
    body = gql(shopify, ORDERS_SINCE, {'first': 5, 'q': '', 'lines': 10}
        ).json()
    node = body['data']['orders']['nodes'][0]
    assert len(node['lineItems']['nodes']) == 10
    assert node['lineItems']['pageInfo']['hasNextPage'] is True
    lines = list(node['lineItems']['nodes'])
    after = node['lineItems']['pageInfo']['endCursor']
    while after:
        page = gql(shopify, ORDER_LINE_ITEMS, {'id': order['id'],
                'after': after, 'first': 8}).json()['data']['order']
        assert page['id'] == order['id']
        lines += page['lineItems']['nodes']
        info = page['lineItems']['pageInfo']
        after = info['hasNextPage'] and info['endCursor']
    assert [line['sku'] for line in lines] == skus
    assert gql(shopify, ORDER_LINE_ITEMS, {'id': 'gid://shopify/Order/1',
            'first': 5}).json()['data'] == {'order': None}


def test_shopify_cost_bucket_throttles_then_recovers(shopify):
    shopify.set_rate_limit(maximum_available=100, restore_rate=40)
    skus = [p['sku'] for p in generator.catalog(5, seed=3)]
    for _ in range(4):
        shopify.create_order(lines=skus)
    variables = {'first': 4, 'q': '', 'lines': 5}    # 4 × (5 + 3) = 32
    answers = []
    while len(answers) < 8 and not (answers and 'errors' in answers[-1]):
        answers.append(gql(shopify, ORDERS_SINCE, variables).json())
    first = answers[0]['extensions']['cost']
    assert first['requestedQueryCost'] == 32
    # What was not used is given back: 1 + 4 orders × (2 + 5 lines).
    assert first['actualQueryCost'] == 29
    assert first['throttleStatus']['maximumAvailable'] == 100.0
    throttled = next(a for a in answers if 'errors' in a)
    assert 'data' not in throttled
    assert throttled['errors'][0]['extensions']['code'] == 'THROTTLED'
    cost = throttled['extensions']['cost']
    assert cost['actualQueryCost'] is None
    status = cost['throttleStatus']
    wait = (cost['requestedQueryCost'] - status['currentlyAvailable']
        ) / status['restoreRate']
    time.sleep(wait + 0.05)
    assert 'data' in gql(shopify, ORDERS_SINCE, variables).json()
    # More than the bucket can ever hold: never retry.
    body = gql(shopify, ORDERS_SINCE, {'first': 50, 'q': '', 'lines': 25}
        ).json()
    assert body['errors'][0]['extensions']['code'] == 'MAX_COST_EXCEEDED'


def test_shopify_throttle_knob_and_429(shopify):
    shopify.set_rate_limit(maximum_available=1000, restore_rate=100)
    shopify.faults.set(throttle_next=1, retry_after_s=0.2)
    answer = gql(shopify, LOCATIONS)                 # costs 51
    assert answer.status_code == 200
    body = answer.json()
    assert body['errors'][0]['extensions']['code'] == 'THROTTLED'
    cost = body['extensions']['cost']
    # The bucket was drained so that its figures ask for retry_after_s.
    wait = (cost['requestedQueryCost'] - cost['throttleStatus'][
            'currentlyAvailable']) / cost['throttleStatus']['restoreRate']
    assert 0.15 <= wait <= 0.25
    time.sleep(wait + 0.02)
    assert 'data' in gql(shopify, LOCATIONS).json()
    shopify.faults.set(throttle_next=1, throttle_http_status=429)
    answer = gql(shopify, LOCATIONS)
    assert answer.status_code == 429
    retry_after = float(answer.headers['Retry-After'])
    assert 0.15 <= retry_after <= 0.3
    time.sleep(retry_after + 0.02)
    answer = gql(shopify, LOCATIONS)
    assert answer.status_code == 200 and 'data' in answer.json()
    assert shopify.faults.fired['throttle_next'] == 2


def test_shopify_routes_on_the_root_field_only(shopify):
    order = shopify.create_order(lines=[('MUG-RED', 1), ('TEE 1', 1)])
    # Fragments and aliases: the selection set is not read.
    body = gql(shopify, """
        fragment Lines on Order { lineItems(first: $n) { nodes { sku } } }
        query Q($n: Int!) { recent: orders(first: 5) { nodes { ...Lines } } }
        """, {'n': 1}).json()
    node = body['data']['orders']['nodes'][0]
    assert node['id'] == order['id'] and 'fulfillmentOrders' in node
    assert len(node['lineItems']['nodes']) == 1
    unknown = gql(shopify, '{ products(first: 1) { nodes { id } } }').json()
    assert unknown['errors'][0]['extensions']['code'] == 'undefinedField'
    bad = gql(shopify, ORDERS_SINCE, {'first': 5, 'q': '', 'lines': 5,
            'after': 'not-a-cursor'}).json()
    assert 'data' not in bad
    answer = requests.post(f'{shopify.base_url}/admin/api/2026-01/'
        'graphql.json', data='{', headers={'X-Shopify-Access-Token': TOKEN})
    assert answer.status_code == 400
    assert gql(shopify, '{ shop { currencyCode } }').json()['data'][
        'shop']['currencyCode'] == 'EUR'


def test_one_lock_keeps_concurrent_clients_consistent(shopify, woo):
    def work(n):
        session = requests.Session()
        for _ in range(15):
            shopify.create_order(seed=n)
            woo.create_order(seed=n)
            assert session.get(f'{woo.api_url}/orders', auth=(KEY, SECRET),
                params={'per_page': 5}).status_code == 200
            assert 'data' in session.post(
                f'{shopify.base_url}/admin/api/2026-01/graphql.json',
                json={'query': ORDERS_SINCE, 'variables': {
                        'first': 5, 'q': '', 'lines': 5}},
                headers={'X-Shopify-Access-Token': TOKEN}).json()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert len(shopify.orders()) == len(woo.orders()) == 60
    assert len({o['name'] for o in shopify.orders()}) == 60
    assert shopify.calls['orders'] == woo.calls['GET /orders'] == 60


# -- Shopify stock ------------------------------------------------------------

def test_variants_by_sku_and_locations(shopify):
    outlet = shopify.add_location('Outlet')
    body = gql(shopify, VARIANTS_BY_SKU, {
            'q': "sku:MUG-RED OR sku:'TEE 1' OR sku:\"TEE-M\" OR sku:NONE",
            'first': 10}).json()
    nodes = {n['sku']: n for n in body['data']['productVariants']['nodes']}
    assert set(nodes) == {'MUG-RED', 'TEE 1', 'TEE-M'}
    assert nodes['TEE 1']['product'] == nodes['TEE-M']['product']
    assert nodes['MUG-RED']['inventoryItem']['id'].startswith(
        'gid://shopify/InventoryItem/')
    assert body['extensions']['cost']['requestedQueryCost'] == 11
    locations = gql(shopify, LOCATIONS).json()['data']['locations']['nodes']
    assert [loc['name'] for loc in locations] == ['Main warehouse', 'Outlet']
    assert locations[1]['id'] == outlet


STOCK_LEVELS = """
query StockLevels($q: String!, $first: Int!, $levels: Int!) {
  inventoryItems(first: $first, query: $q) { nodes { id
    inventoryLevels(first: $levels) { nodes {
      quantities(names: ["available"]) { name quantity } location { id } } }
  } } }"""


def test_inventory_items_by_id_with_their_levels(shopify):
    outlet = shopify.add_location('Outlet')
    shopify.set_inventory('TEE-M', 5, location='Outlet')
    items = {sku: shopify.product(sku)['inventory_item_id']
        for sku in ('MUG-RED', 'TEE-M')}
    ids = ' OR '.join(f"id:{i.rsplit('/', 1)[1]}" for i in items.values())

    body = gql(shopify, STOCK_LEVELS, {
            'q': ids, 'first': 10, 'levels': 2}).json()

    nodes = {n['id']: n for n in body['data']['inventoryItems']['nodes']}
    assert set(nodes) == set(items.values())
    levels = {level['location']['id']: {
            q['name']: q['quantity'] for q in level['quantities']}['available']
        for level in nodes[items['TEE-M']]['inventoryLevels']['nodes']}
    main = shopify.locations()['Main warehouse']
    assert levels == {main: 2, outlet: 5}
    # Each item costs its levels too.
    assert body['extensions']['cost']['requestedQueryCost'] == 1 + 10 * 3
    one_level = gql(shopify, STOCK_LEVELS, {
            'q': ids, 'first': 10, 'levels': 1}).json()['data']
    assert all(len(n['inventoryLevels']['nodes']) == 1
        for n in one_level['inventoryItems']['nodes'])


def stock_input(shop, *entries, name='available'):
    location = shop.locations()['Main warehouse']
    quantities = []
    for sku, quantity, *compare in entries:
        entry = {'inventoryItemId': shop.product(sku)['inventory_item_id'],
            'locationId': location, 'quantity': quantity}
        if compare:
            entry['changeFromQuantity'] = compare[0]
        quantities.append(entry)
    return {'input': {'name': name, 'reason': 'correction',
            'referenceDocumentUri': 'gid://erp-sync/SyncJob/1',
            'quantities': quantities}}


def test_set_quantities_compare_and_swap(shopify):
    key = str(uuid.uuid4())
    body = gql(shopify, set_stock(key), stock_input(
            shopify, ('MUG-RED', 11, 9), ('TEE 1', 0, None))).json()
    result = body['data']['inventorySetQuantities']
    assert result['userErrors'] == []
    group = result['inventoryAdjustmentGroup']
    assert group['reason'] == 'correction'
    assert {'name': 'available', 'delta': 2} in [
        {k: c[k] for k in ('name', 'delta')} for c in group['changes']]
    assert shopify.inventory('MUG-RED') == 11
    assert shopify.inventory('TEE 1') == 0
    assert body['extensions']['cost']['requestedQueryCost'] == 10


def test_set_quantities_is_atomic_and_reports_each_problem(shopify):
    variables = stock_input(shopify, ('MUG-RED', 5, 9), ('TEE 1', 1, 3),
        ('TEE-M', 7))
    variables['input']['quantities'].append({
        'inventoryItemId': 'gid://shopify/InventoryItem/1',
        'locationId': 'gid://shopify/Location/1', 'quantity': 1,
        'changeFromQuantity': None})
    variables['input']['quantities'].append({
        'inventoryItemId': shopify.product('MUG-RED')['inventory_item_id'],
        'locationId': 'gid://shopify/Location/1', 'quantity': 1,
        'changeFromQuantity': None})
    result = gql(shopify, set_stock(uuid.uuid4()), variables).json()[
        'data']['inventorySetQuantities']
    assert result['inventoryAdjustmentGroup'] is None
    assert [(e['code'], e['field']) for e in result['userErrors']] == [
        ('CHANGE_FROM_QUANTITY_STALE',
            ['input', 'quantities', '1', 'changeFromQuantity']),
        ('CHANGE_FROM_QUANTITY_REQUIRED',
            ['input', 'quantities', '2', 'changeFromQuantity']),
        ('INVALID_INVENTORY_ITEM',
            ['input', 'quantities', '3', 'inventoryItemId']),
        ('INVALID_LOCATION', ['input', 'quantities', '4', 'locationId'])]
    # Nothing applied, not even the valid first quantity.
    assert shopify.inventory('MUG-RED') == 9
    bad_name = stock_input(shopify, ('MUG-RED', 1, None), name='committed')
    errors = gql(shopify, set_stock(uuid.uuid4()), bad_name).json()[
        'data']['inventorySetQuantities']['userErrors']
    assert [e['code'] for e in errors] == ['INVALID_NAME']


def test_set_quantities_idempotency(shopify):
    key = str(uuid.uuid4())
    variables = stock_input(shopify, ('MUG-RED', 12, 9))
    first = gql(shopify, set_stock(key), variables).json()['data']
    shopify.set_inventory('MUG-RED', 3)          # a sale in between
    again = gql(shopify, set_stock(key), variables).json()['data']
    assert again == first                        # the stored answer ...
    assert shopify.inventory('MUG-RED') == 3     # ... and nothing re-applied
    other = stock_input(shopify, ('MUG-RED', 13, 3))
    result = gql(shopify, set_stock(key), other).json()['data'][
        'inventorySetQuantities']
    assert result['inventoryAdjustmentGroup'] is None
    assert result['userErrors'][0]['code'] == (
        'IDEMPOTENCY_KEY_PARAMETER_MISMATCH')
    missing = gql(shopify, set_stock(), variables).json()
    assert missing['data'] == {'inventorySetQuantities': None}
    assert '@idempotent' in missing['errors'][0]['message']
    assert shopify.inventory('MUG-RED') == 3


def test_set_quantities_refuses_more_than_250(shopify):
    variables = stock_input(shopify, *[('MUG-RED', n, None)
            for n in range(251)])
    body = gql(shopify, set_stock(uuid.uuid4()), variables).json()
    assert 'data' not in body
    assert body['errors'][0]['extensions']['code'] == (
        'MAX_INPUT_SIZE_EXCEEDED')
    assert shopify.inventory('MUG-RED') == 9


def test_a_cut_answer_was_applied_and_the_retry_is_safe(shopify):
    key = str(uuid.uuid4())
    variables = stock_input(shopify, ('MUG-RED', 20, 9))
    shopify.faults.set(malformed_next=1)
    answer = gql(shopify, set_stock(key), variables)
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()
    assert shopify.inventory('MUG-RED') == 20
    retry = gql(shopify, set_stock(key), variables).json()
    assert retry['data']['inventorySetQuantities']['userErrors'] == []
    assert shopify.inventory('MUG-RED') == 20


# -- Shopify fulfilments ------------------------------------------------------

def test_fulfilment_partial_then_complete(shopify):
    order = shopify.create_order(status='paid',
        lines=[('MUG-RED', 3), ('TEE-M', 1)])
    assert shopify.inventory('MUG-RED') == 6      # taken at order time
    fos = gql(shopify, FULFILMENT_ORDERS, {'id': order['id']}).json()[
        'data']['order']['fulfillmentOrders']['nodes']
    assert len(fos) == 1 and fos[0]['status'] == 'OPEN'
    assert {'action': 'CREATE_FULFILLMENT'} in fos[0]['supportedActions']
    items = {i['lineItem']['sku']: i for i in fos[0]['lineItems']['nodes']}
    ship = {'f': {'notifyCustomer': True,
            'trackingInfo': {'company': 'DHL Express', 'number': '123'},
            'lineItemsByFulfillmentOrder': [{
                'fulfillmentOrderId': fos[0]['id'],
                'fulfillmentOrderLineItems': [
                    {'id': items['MUG-RED']['id'], 'quantity': 2}]}]}}
    result = gql(shopify, SHIP, ship).json()['data']['fulfillmentCreate']
    assert result['userErrors'] == []
    assert result['fulfillment']['trackingInfo'][0]['number'] == '123'
    node = shopify.order(order['id'])
    assert node['displayFulfillmentStatus'] == 'PARTIALLY_FULFILLED'
    assert node['updatedAt'] > order['updatedAt']
    too_many = gql(shopify, SHIP, ship).json()['data']['fulfillmentCreate']
    assert too_many['fulfillment'] is None
    assert 'quantity' in too_many['userErrors'][0]['message']
    rest = {'f': {'lineItemsByFulfillmentOrder': [
                {'fulfillmentOrderId': fos[0]['id']}]}}
    assert gql(shopify, SHIP, rest).json()['data']['fulfillmentCreate'][
        'userErrors'] == []
    node = shopify.order(order['id'])
    assert node['displayFulfillmentStatus'] == 'FULFILLED'
    assert node['fulfillmentOrders']['nodes'][0]['status'] == 'CLOSED'
    shipped = shopify.fulfilments(order['id'])
    assert [sum(li['quantity'] for li in f['fulfillmentLineItems']['nodes'])
        for f in shipped] == [2, 2]
    assert shipped[0]['notifyCustomer'] is True
    assert shopify_channel.normalize_order(node).status == 'shipped'


ORDER_FULFILLMENTS = """
query OrdersSince($first: Int!, $q: String!) {
  orders(first: $first, query: $q, sortKey: UPDATED_AT) {
    nodes { id updatedAt displayFulfillmentStatus
      fulfillments(first: 10) { id status displayStatus createdAt
        trackingInfo { company number url } } } } }"""


def test_orders_show_their_fulfillments_and_deliveries(shopify):
    order = shopify.create_order(status='paid', lines=[('MUG-RED', 1)])
    [fo] = shopify.fulfillment_orders(order['id'])
    gql(shopify, SHIP, {'f': {'trackingInfo': {'company': 'DHL Express',
                    'number': '123', 'url': 'https://dhl.example/123'},
                'lineItemsByFulfillmentOrder': [
                    {'fulfillmentOrderId': fo['id']}]}})

    answer = gql(shopify, ORDER_FULFILLMENTS, {'first': 5, 'q': ''}).json()
    [node] = answer['data']['orders']['nodes']
    [shipped] = node['fulfillments']
    assert shipped['status'] == 'SUCCESS'
    assert shipped['displayStatus'] == 'FULFILLED'
    assert shipped['trackingInfo'] == [{'company': 'DHL Express',
            'number': '123', 'url': 'https://dhl.example/123'}]
    # Each order costs its fulfillments' first too.
    assert answer['extensions']['cost']['requestedQueryCost'] == 5 * (
        25 + 3 + 10)

    delivered = shopify.deliver(order['id'])

    [shipped] = delivered['fulfillments']
    assert shipped['displayStatus'] == 'DELIVERED'
    assert shipped['deliveredAt'] == delivered['updatedAt']
    assert delivered['updatedAt'] > node['updatedAt']
    assert shopify_channel.normalize_order(delivered).status == 'completed'
    unshipped = shopify.create_order(status='paid', lines=[('MUG-RED', 1)])
    with pytest.raises(ValueError, match='no fulfillment to deliver'):
        shopify.deliver(unshipped['id'])


def test_an_order_moved_in_part_ships_from_two_locations(shopify):
    outlet = shopify.add_location('Outlet')
    shopify.set_inventory('MUG-RED', 5, location='Outlet')
    order = shopify.create_order(status='paid', lines=[('MUG-RED', 3)])
    before = shopify.inventory('MUG-RED', 'Main warehouse')

    shopify.move_to_location(order['id'], 'MUG-RED', 2, 'Outlet')

    main, moved = shopify.fulfillment_orders(order['id'])
    assert moved['assignedLocation']['location']['id'] == outlet
    assert [i['remainingQuantity'] for i in main['lineItems']['nodes']] == [1]
    assert [i['remainingQuantity'] for i in moved['lineItems']['nodes']] == [
        2]
    # The reservation moved with the units.
    assert shopify.inventory('MUG-RED', 'Main warehouse') == before + 2
    assert shopify.inventory('MUG-RED', 'Outlet') == 3
    both = {'f': {'lineItemsByFulfillmentOrder': [
                {'fulfillmentOrderId': main['id']},
                {'fulfillmentOrderId': moved['id']}]}}
    refused = gql(shopify, SHIP, both).json()['data']['fulfillmentCreate']
    assert 'same location' in refused['userErrors'][0]['message']
    for fo in (main, moved):
        one = {'f': {'lineItemsByFulfillmentOrder': [
                    {'fulfillmentOrderId': fo['id']}]}}
        assert gql(shopify, SHIP, one).json()['data']['fulfillmentCreate'][
            'userErrors'] == []
    assert shopify.order(order['id'])['displayFulfillmentStatus'] == (
        'FULFILLED')
    with pytest.raises(ValueError, match='no open fulfillment order'):
        shopify.move_to_location(order['id'], 'MUG-RED', 1, 'Outlet')


def test_fulfilment_create_takes_an_idempotency_key(shopify):
    order = shopify.create_order(status='paid', lines=[('MUG-RED', 2)])
    [fo] = shopify.fulfillment_orders(order['id'])
    item = fo['lineItems']['nodes'][0]['id']
    keyed = SHIP.replace('message: "shipped from WH1")',
        'message: "shipped from WH1") @idempotent(key: "ship-1")')
    one = {'f': {'lineItemsByFulfillmentOrder': [{
                'fulfillmentOrderId': fo['id'],
                'fulfillmentOrderLineItems': [{'id': item, 'quantity': 1}]}]}}

    first = gql(shopify, keyed, one).json()['data']['fulfillmentCreate']
    again = gql(shopify, keyed, one).json()['data']['fulfillmentCreate']

    assert again == first
    assert len(shopify.fulfilments(order['id'])) == 1


def test_refund_and_cancel_move_statuses(shopify):
    order = shopify.create_order(status='paid', lines=[('MUG-RED', 2),
            ('TEE 1', 1)])
    shopify.refund(order['id'], lines={'MUG-RED': 1}, restock=True)
    node = shopify.order(order['id'])
    assert node['displayFinancialStatus'] == 'PARTIALLY_REFUNDED'
    assert node['lineItems']['nodes'][0]['currentQuantity'] == 1
    assert node['refunds'][0]['refundLineItems']['nodes'][0]['quantity'] == 1
    assert shopify.inventory('MUG-RED') == 8
    shopify.update_order(order['id'], status='cancelled')
    node = shopify.order(order['id'])
    assert node['cancelledAt'] and node['closed']
    assert shopify.inventory('MUG-RED') == 9
    assert shopify_channel.normalize_order(node).status == 'cancelled'


# -- WooCommerce orders -------------------------------------------------------

def test_woocommerce_orders_page_with_wordpress_headers(woo):
    woo.generate_orders(23, seed=5, status='paid')
    seen, page, links = [], 1, []
    while True:
        answer = wc(woo, 'GET', '/orders', params={'per_page': 10,
                'page': page, 'orderby': 'id', 'order': 'asc'})
        assert answer.headers['X-WP-Total'] == '23'
        assert answer.headers['X-WP-TotalPages'] == '3'
        links.append(answer.headers.get('Link', ''))
        seen += [o['id'] for o in answer.json()]
        if page >= int(answer.headers['X-WP-TotalPages']):
            break
        page += 1
    assert seen == sorted(seen) and len(set(seen)) == 23
    assert 'rel="next"' in links[0] and 'rel="prev"' not in links[0]
    assert 'rel="prev"' in links[1] and 'rel="next"' in links[1]
    assert 'rel="next"' not in links[2]
    next_url = links[0].split(';')[0].strip('<>')
    assert len(requests.get(next_url, auth=(KEY, SECRET)).json()) == 10
    beyond = wc(woo, 'GET', '/orders', params={'page': 9, 'per_page': 10})
    assert beyond.json() == []
    too_big = wc(woo, 'GET', '/orders', params={'per_page': 101})
    assert too_big.status_code == 400
    assert too_big.json()['code'] == 'rest_invalid_param'


def test_woocommerce_order_shape_and_filters(woo):
    now = woo.now()
    old = woo.create_order(status='paid', created_at=now - dt.timedelta(
            hours=3))
    new = woo.create_order(status='pending', created_at=now - dt.timedelta(
            minutes=1), lines=[('MUG-RED', 2)])
    mark = (now - dt.timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%S')
    answer = wc(woo, 'GET', '/orders', params={'modified_after': mark,
            'dates_are_gmt': 'true', 'per_page': 100})
    assert [o['id'] for o in answer.json()] == [new['id']]
    assert answer.json()[0]['date_modified_gmt'] == new['date_modified_gmt']
    # Without dates_are_gmt the bound is site time (UTC-5): 5 hours later.
    local = wc(woo, 'GET', '/orders', params={'modified_after': mark})
    assert local.json() == []
    # Exclusive, as WordPress's date queries.
    exact = wc(woo, 'GET', '/orders', params={'dates_are_gmt': 'true',
            'modified_after': old['date_modified_gmt']})
    assert old['id'] not in [o['id'] for o in exact.json()]
    by_status = wc(woo, 'GET', '/orders', params={
            'status': 'processing,completed'}).json()
    assert [o['id'] for o in by_status] == [old['id']]
    order = wc(woo, 'GET', f"/orders/{new['id']}").json()
    line = order['line_items'][0]
    assert isinstance(line['price'], int | float) and line['sku'] == 'MUG-RED'
    assert line['name'] == 'Mug &ndash; red'
    assert isinstance(order['total'], str) and Decimal(order['total'])
    assert order['billing']['email']
    assert 'T' in order['date_created_gmt'] and '+' not in order[
        'date_created_gmt']
    assert wc(woo, 'GET', '/orders/99999').json()['code'] == (
        'woocommerce_rest_shop_order_invalid_id')
    # _fields keeps only the fields asked for, in lists and single orders
    assert wc(woo, 'GET', '/orders', params={'_fields': 'id,status'}).json(
        )[0].keys() == {'id', 'status'}
    assert wc(woo, 'GET', f"/orders/{new['id']}", params={
            '_fields': 'id'}).json() == {'id': new['id']}


def test_woocommerce_status_update_notes_and_batch(woo):
    order = woo.create_order(status='paid', lines=[('MUG-RED', 1)])
    assert woo.inventory('MUG-RED') == 8
    answer = wc(woo, 'PUT', f"/orders/{order['id']}",
        json={'status': 'completed'})
    assert answer.status_code == 200
    assert answer.json()['status'] == 'completed'
    assert answer.json()['date_modified_gmt'] > order['date_modified_gmt']
    assert answer.json()['date_completed_gmt']
    note = wc(woo, 'POST', f"/orders/{order['id']}/notes", json={
            'note': 'Shipped via UPS, tracking 1Z999', 'customer_note': True})
    assert note.status_code == 201
    assert note.json()['customer_note'] is True
    assert woo.notes(order['id'])[0]['note'].startswith('Shipped via UPS')
    assert wc(woo, 'GET', f"/orders/{order['id']}/notes").json()[0][
        'id'] == note.json()['id']
    assert wc(woo, 'POST', f"/orders/{order['id']}/notes",
        json={}).status_code == 400
    batch = wc(woo, 'POST', '/orders/batch', json={'update': [
                {'id': order['id'], 'status': 'cancelled'},
                {'id': 999999, 'status': 'completed'}]}).json()
    assert batch['update'][0]['status'] == 'cancelled'
    assert batch['update'][1]['error']['code'] == (
        'woocommerce_rest_shop_order_invalid_id')
    assert woo.inventory('MUG-RED') == 9        # cancelling gave it back
    tracking = requests.post(f"{woo.base_url}/wp-json/wc-shipment-tracking/"
        f"v3/orders/{order['id']}/shipment-trackings", auth=(KEY, SECRET),
        json={'tracking_provider': 'USPS', 'tracking_number': '9400'})
    assert tracking.status_code == 201
    assert woo.fulfilments(order['id'])[0]['tracking_link'].endswith('9400')


def test_woocommerce_refunds(woo):
    order = woo.create_order(status='paid', lines=[('MUG-RED', 2)])
    woo.refund(order['id'], lines={'MUG-RED': 1}, reason='broken')
    stored = woo.order(order['id'])
    assert stored['status'] == 'processing'
    assert Decimal(stored['refunds'][0]['total']) < 0
    refunds = wc(woo, 'GET', f"/orders/{order['id']}/refunds").json()
    assert refunds[0]['line_items'][0]['quantity'] == -1
    woo.refund(order['id'])
    assert woo.order(order['id'])['status'] == 'refunded'
    assert woo_channel.normalize_order(woo.order(order['id'])).status == (
        'refunded')


# -- WooCommerce products -----------------------------------------------------

def test_woocommerce_products_by_sku_and_variations(woo):
    found = wc(woo, 'GET', '/products', params={'sku': 'MUG-RED,TEE 1'})
    products = {p['sku']: p for p in found.json()}
    assert set(products) == {'MUG-RED', 'TEE 1'}
    assert products['TEE 1']['type'] == 'variable'
    assert products['MUG-RED']['stock_quantity'] == 9
    assert found.headers['X-WP-Total'] == '2'
    # Variations are found through their product (§2.5, unconfirmed).
    assert wc(woo, 'GET', '/products', params={'sku': 'TEE-M'}).json() == []
    parent = products['TEE 1']['id']
    variations = wc(woo, 'GET', f'/products/{parent}/variations').json()
    assert [v['sku'] for v in variations] == ['TEE-M']
    assert variations[0]['parent_id'] == parent
    variation = variations[0]['id']
    answer = wc(woo, 'PUT', f'/products/{parent}/variations/{variation}',
        json={'stock_quantity': 12, 'manage_stock': True})
    assert answer.json()['stock_quantity'] == 12
    assert woo.inventory('TEE-M') == 12
    other = wc(woo, 'GET', f'/products/{parent}/variations',
        params={'include': '1,2'}).json()
    assert other == []
    assert [v['id'] for v in wc(woo, 'GET', f'/products/{parent}/variations',
            params={'include': str(variation)}).json()] == [variation]


def test_woocommerce_stock_batch_with_per_item_errors(woo):
    mug = wc(woo, 'GET', '/products', params={'sku': 'MUG-RED'}).json()[0]
    answer = wc(woo, 'POST', '/products/batch', json={'update': [
                {'id': mug['id'], 'stock_quantity': 7, 'manage_stock': True},
                {'id': 999, 'stock_quantity': 0},
                {'id': mug['id'], 'stock_quantity': 'lots'}]})
    assert answer.status_code == 200
    body = answer.json()
    assert body['create'] == [] and body['delete'] == []
    assert body['update'][0]['stock_quantity'] == 7
    assert body['update'][0]['stock_status'] == 'instock'
    assert body['update'][1] == {'id': 999, 'error': {
            'code': 'woocommerce_rest_product_invalid_id',
            'message': 'Invalid ID.', 'data': {'status': 400}}}
    assert body['update'][2]['error']['code'] == 'rest_invalid_param'
    assert woo.inventory('MUG-RED') == 7
    # stock_quantity without managing stock is dropped, as in WooCommerce.
    dropped = wc(woo, 'PUT', f"/products/{mug['id']}", json={
            'manage_stock': False, 'stock_quantity': 3}).json()
    assert dropped['stock_quantity'] is None
    too_many = wc(woo, 'POST', '/products/batch', json={'update': [
                {'id': mug['id'], 'stock_quantity': 1}] * 101})
    assert too_many.status_code == 413
    assert too_many.json()['code'] == (
        'woocommerce_rest_request_entity_too_large')
    parent = wc(woo, 'GET', '/products', params={'sku': 'TEE 1'}).json()[0]
    variations = wc(woo, 'POST', f"/products/{parent['id']}/variations/batch",
        json={'update': [{'id': parent['variations'][0],
                    'stock_quantity': 5}, {'id': mug['id'],
                    'stock_quantity': 5}]}).json()['update']
    assert variations[0]['stock_quantity'] == 5
    assert variations[1]['error']['code'] == (
        'woocommerce_rest_product_variation_invalid_id')
    assert woo.calls['POST /products/batch'] == 2
    assert woo.calls['POST /products/{id}/variations/batch'] == 1


# -- fault knobs --------------------------------------------------------------

def test_woocommerce_host_throttle_and_errors(woo):
    woo.faults.set(throttle_next=1, retry_after_s=0.5)
    answer = wc(woo, 'GET', '/orders')
    assert answer.status_code == 429
    assert answer.headers['Retry-After'] == '0.5'
    for status in (500, 502, 503):
        woo.faults.set(error_next=1, error_status=status)
        assert wc(woo, 'GET', '/orders').status_code == status
    assert wc(woo, 'GET', '/orders').status_code == 200
    woo.faults.set(malformed_next=1)
    with pytest.raises(ValueError):
        wc(woo, 'GET', '/orders').json()
    woo.faults.set(slow_ms=150)
    started = time.monotonic()
    assert wc(woo, 'GET', '/orders').status_code == 200
    assert time.monotonic() - started >= 0.15
    assert woo.faults.as_dict()['fired'] == {'throttle_next': 1,
        'error_next': 3, 'malformed_next': 1}


def test_shopify_errors_before_the_shop(shopify):
    shopify.faults.set(error_next=2, error_status=502)
    assert gql(shopify, LOCATIONS).status_code == 502
    assert gql(shopify, LOCATIONS).status_code == 502
    assert gql(shopify, LOCATIONS).status_code == 200
    shopify.faults.set(error_next=1, error_status=500)
    assert gql(shopify, LOCATIONS).json() == {
        'errors': 'Internal Server Error'}


def test_duplicate_pages(shopify, woo):
    shopify.generate_orders(10, seed=6, many_lines_share=0)
    shopify.faults.set(duplicate_pages=True)
    nodes, _ = all_orders(shopify, first=4)
    ids = [n['id'] for n in nodes]
    assert len(set(ids)) == 10 and len(ids) > 10
    woo.generate_orders(10, seed=6)
    woo.faults.set(duplicate_pages=True)
    first = wc(woo, 'GET', '/orders', params={'per_page': 4, 'page': 1,
            'orderby': 'id', 'order': 'asc'}).json()
    second = wc(woo, 'GET', '/orders', params={'per_page': 4, 'page': 2,
            'orderby': 'id', 'order': 'asc'}).json()
    assert [o['id'] for o in second[:2]] == [o['id'] for o in first[-2:]]


# -- the generator ------------------------------------------------------------

def test_generated_orders_are_read_by_the_normalizers(sandbox):
    shopify = stock_catalogue(add_shopify(sandbox, 'gen-s'), 80)
    woo = stock_catalogue(sandbox.add_woocommerce(
            'gen-w', consumer_key=KEY, consumer_secret=SECRET), 80)
    shopify.generate_orders(300, seed=7, many_lines_share=0.05)
    woo.generate_orders(300, seed=7, many_lines_share=0.05)
    countries, statuses, long_orders = set(), set(), 0
    for node in shopify.orders():
        order = shopify_channel.normalize_order(node)
        assert order.currency == 'EUR'
        assert len(order.lines) == len(node['lineItems']['nodes'])
        assert order.total == Decimal(
            node['totalPriceSet']['shopMoney']['amount'])
        countries.add(order.shipping_address.country_code)
        statuses.add(order.status)
        long_orders += len(order.lines) > 25
        if order.shipping_address.country_code in ('US', 'CN'):
            assert order.shipping_address.subdivision
    assert {'DE', 'US', 'FR', 'CN', 'GB'} <= countries
    assert {'awaiting_shipment', 'pending_payment', 'cancelled',
        'shipped'} <= statuses
    assert long_orders >= 5
    for raw in woo.orders():
        order = woo_channel.normalize_order(raw)
        assert order.currency == 'USD'
        assert order.created_at.tzinfo is not None
        subtotal = sum(line.unit_price * line.quantity
            for line in order.lines)
        assert order.total == (subtotal + order.shipping_price
            + Decimal(raw['total_tax']))
    # What the API serves reads the same as what is stored.
    nodes, _ = all_orders(shopify, first=30, lines=30)
    assert len(nodes) == 300
    short = next(n for n in nodes
        if not n['lineItems']['pageInfo']['hasNextPage'])
    assert shopify_channel.normalize_order(short).lines == (
        shopify_channel.normalize_order(shopify.order(short['id'])).lines)




@pytest.mark.skipif(not FIXTURES.exists(), reason="no marketplace fixtures")
def test_generated_orders_have_the_published_shape(shopify, woo):
    "Every field of the marketplaces' own examples is there, same types"
    published = json.loads((FIXTURES / 'woocommerce'
            / 'retrieve_order_727.json').read_text())
    ours = woo.create_order(status='paid',
        lines=[('MUG-RED', 2), ('TEE-M', 1)])
    assert set(published) <= set(ours)
    for key in ('billing', 'shipping'):
        assert set(published[key]) <= set(ours[key])
    for key in ('line_items', 'shipping_lines'):
        assert set(published[key][0]) <= set(ours[key][0])
    for key, value in published.items():
        if value is not None and key not in ('_links', 'meta_data'):
            assert type(ours[key]) is type(value), key
    assert ours['line_items'][1]['variation_id'] > 0
    node = json.loads((FIXTURES / 'shopify' / 'gql_2025-07_query_orders_'
            'specific_order_details.json').read_text())['orders']['edges'][
        0]['node']
    shopify.create_order(lines=[('MUG-RED', 2)])
    served = gql(shopify, ORDERS_SINCE, {'first': 1, 'q': '', 'lines': 5}
        ).json()['data']['orders']['nodes'][0]
    assert set(node) - {'lineItems'} <= set(served)
    assert set(node['lineItems']['edges'][0]['node']) - {'variant'} <= set(
        served['lineItems']['nodes'][0])
    for key in ('totalPriceSet', 'subtotalPriceSet'):
        assert set(served[key]['shopMoney']) == {'amount', 'currencyCode'}


def test_generator_is_deterministic(sandbox):
    one = stock_catalogue(add_shopify(sandbox, 'one'))
    two = stock_catalogue(add_shopify(sandbox, 'two'))

    def content(orders):
        return [(o['email'], o['shippingAddress']['countryCodeV2'],
                o['displayFinancialStatus'], [(li['sku'], li['quantity'])
                    for li in o['lineItems']['nodes']])
            for o in orders]

    assert content(one.generate_orders(40, seed=11)) == content(
        two.generate_orders(40, seed=11))
    assert content(one.generate_orders(5, seed=12)) != content(
        two.generate_orders(5, seed=13))


def _ordered(order):
    "SKU → quantity of a shop's order, as the shop keeps it"
    lines = order.get('line_items') or order['lineItems']['nodes']
    taken = {}
    for line in lines:
        taken[line['sku']] = taken.get(line['sku'], 0) + line['quantity']
    return taken


@pytest.mark.parametrize('kind', ['shopify', 'woocommerce'])
def test_a_shop_not_selling_out_of_stock_never_goes_below_zero(
        sandbox, kind):
    """Its checkout offers what is left and no more of it: orders (even
    many-line ones) take what is left, then stop; an order asked for
    beyond the stock is refused"""
    add = (add_shopify if kind == 'shopify'
        else lambda s, n: s.add_woocommerce(n))
    shop = add(sandbox, f'scarce-{kind}')
    shop.sells_out_of_stock = False
    stock = {'MUG': 7, 'TEE': 3, 'GONE': 0}
    for sku, quantity in stock.items():
        shop.add_product(sku, sku.title(), '10.00', stock=quantity)
    orders = shop.generate_orders(40, seed=5, status='paid',
        many_lines_share=0.5)
    orders += shop.generate_orders(5, seed=6, status='paid')
    taken = {}
    for order in orders:
        for sku, quantity in _ordered(order).items():
            taken[sku] = taken.get(sku, 0) + quantity
    assert taken == {'MUG': 7, 'TEE': 3}
    assert {sku: shop.inventory(sku) for sku in stock} == {
        'MUG': 0, 'TEE': 0, 'GONE': 0}
    with pytest.raises(generator.SoldOut):
        shop.create_order()
    shop.set_inventory('TEE', 2)
    with pytest.raises(generator.SoldOut, match=r'TEE \(2 left\)'):
        shop.create_order(lines=[('TEE', 3)])
    assert _ordered(shop.create_order(status='paid', lines=[('TEE', 2)])) == {
        'TEE': 2}
    assert shop.inventory('TEE') == 0


@pytest.mark.parametrize('kind', ['missing_currency', 'missing_total',
        'bad_date', 'bad_quantity'])
def test_malformed_orders_are_refused(sandbox, kind):
    shopify = stock_catalogue(add_shopify(sandbox, 'bad-s'))
    woo = stock_catalogue(sandbox.add_woocommerce('bad-w'))
    for shop, channel in ((shopify, shopify_channel), (woo, woo_channel)):
        raw = shop.create_malformed_order(kind)
        with pytest.raises((PayloadError, pydantic.ValidationError)):
            channel.normalize_order(raw)
    # ... and they are served with the others, for the exception queue.
    nodes, _ = all_orders(shopify)
    assert len(nodes) == 1


def test_create_order_overrides(shopify):
    order = shopify.create_order(status='pending', country='CN',
        lines=[('MUG-RED', 2), {'sku': 'GHOST', 'price': '5.00'}],
        customer={'email': 'li.na@example.com'}, note='gift')
    assert order['displayFinancialStatus'] in ('PENDING', 'AUTHORIZED')
    assert order['shippingAddress']['countryCodeV2'] == 'CN'
    assert order['email'] == 'li.na@example.com'
    ghost = order['lineItems']['nodes'][1]
    assert ghost['sku'] == 'GHOST' and ghost['variant'] is None
    normalized = shopify_channel.normalize_order(order)
    assert normalized.status == 'pending_payment'
    assert [line.quantity for line in normalized.lines] == [2, 1]
    with pytest.raises(ValueError):
        shopify.create_order(lines=['NOT-SOLD'])


# -- control API --------------------------------------------------------------

def test_control_api(sandbox):
    control = f'{sandbox.url}/_sandbox'
    made = requests.post(f'{control}/shops', json={'kind': 'woocommerce',
            'name': 'ctl', 'consumer_key': KEY, 'consumer_secret': SECRET})
    assert made.status_code == 201
    assert made.json()['base_url'] == f'{sandbox.url}/shops/ctl'
    requests.post(f'{control}/shops', json={'kind': 'shopify',
            'name': 'ctl-s', 'token': TOKEN})
    shops = requests.get(f'{control}/shops').json()['shops']
    assert [(s['name'], s['kind']) for s in shops] == [
        ('ctl', 'woocommerce'), ('ctl-s', 'shopify')]
    added = requests.post(f'{control}/shops/ctl/products', json=[
            {'sku': 'A', 'title': 'A thing', 'price': '3.50', 'stock': 4}])
    assert added.status_code == 201
    requests.post(f'{control}/shops/ctl/products', json={'generate': 20})
    generated = requests.post(f'{control}/shops/ctl/orders/generate',
        json={'count': 5, 'seed': 1, 'status': 'paid'})
    assert len(generated.json()['created']) == 5
    one = requests.post(f'{control}/shops/ctl/orders', json={
            'lines': [['A', 2]], 'status': 'pending',
            'created_at': '2026-01-15T10:00:00Z'}).json()
    assert one['date_created_gmt'] == '2026-01-15T10:00:00'
    stock = requests.get(f'{control}/shops/ctl/inventory').json()['A']
    changed = requests.post(f"{control}/shops/ctl/orders/{one['id']}",
        json={'status': 'processing'}).json()
    assert changed['status'] == 'processing'      # paid: goods taken
    assert requests.get(f'{control}/shops/ctl/inventory').json()[
        'A'] == stock - 2
    faults = requests.post(f'{control}/shops/ctl/faults',
        json={'error_next': 1, 'error_status': 503}).json()
    assert faults['error_next'] == 1
    assert requests.post(f'{control}/shops/ctl/faults',
        json={'nonsense': 1}).status_code == 400
    # Faults never touch the control API ...
    assert requests.get(f'{control}/shops/ctl/faults').json()[
        'error_next'] == 1
    # ... only the marketplace's.
    assert requests.get(f'{sandbox.url}/shops/ctl/wp-json/wc/v3/orders',
        auth=(KEY, SECRET)).status_code == 503
    calls = requests.get(f'{control}/shops/ctl/calls').json()
    assert calls == {'GET /orders': 1}
    requests.post(f'{control}/shops/ctl/calls/reset')
    assert requests.get(f'{control}/shops/ctl/calls').json() == {}
    assert requests.post(f"{control}/shops/ctl/orders/{one['id']}/deliver"
        ).status_code == 404                      # WooCommerce: no such
    requests.post(f'{control}/shops/ctl-s/products', json=[
            {'sku': 'B', 'title': 'B thing', 'price': '2.00', 'stock': 3}])
    shipped = requests.post(f'{control}/shops/ctl-s/orders', json={
            'lines': [['B', 1]], 'status': 'fulfilled'}).json()
    delivered = requests.post(
        f"{control}/shops/ctl-s/orders/{shipped['legacyResourceId']}"
        "/deliver").json()
    assert delivered['fulfillments'][0]['displayStatus'] == 'DELIVERED'
    limit = requests.post(f'{control}/shops/ctl-s/rate-limit',
        json={'maximum_available': 200, 'restore_rate': 20}).json()
    assert limit['maximumAvailable'] == 200.0
    assert requests.get(f'{control}/shops/nope/calls').status_code == 404


def test_config_file_builds_shops(sandbox):
    generating = build(sandbox, {'shops': [
            {'kind': 'shopify', 'name': 'cfg', 'token': 't',
                'locations': ['Outlet'],
                'rate_limit': {'maximum_available': 500, 'restore_rate': 25},
                'products': {'generate': 40, 'seed': 1},
                'orders': {'count': 12, 'seed': 3},
                'generate': {'every_s': 5, 'count': 2}},
            {'kind': 'woocommerce', 'name': 'cfg-w', 'consumer_key': 'k',
                'consumer_secret': 's', 'products': [
                    {'sku': 'X', 'title': 'X', 'price': '1.00'}]}]})
    shop = sandbox.shop('cfg')
    assert len(shop.orders()) == 12
    assert list(shop.locations()) == ['Main warehouse', 'Outlet']
    assert shop.bucket.maximum_available == 500
    assert generating == [(shop, 5.0, 2)]
    with pytest.raises(ValueError):
        build(sandbox, {'shops': [{'kind': 'shopify', 'name': 'x',
                        'colour': 'red'}]})


def as_from_a_terminal():
    """Ctrl-C as a shell leaves it to a command it starts: handled, not
    blocked (a test runner's worker may ignore or block it, and a child
    inherits both)"""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_command_line_serves_until_interrupted(tmp_path):
    config = tmp_path / 'sandbox.yaml'
    config.write_text("shops:\n  - {kind: woocommerce, name: cli, "
        "consumer_key: k, consumer_secret: s,\n"
        "     products: {generate: 5}, orders: {count: 3, seed: 1}}\n")
    process = subprocess.Popen([sys.executable, '-m', 'sandbox', '--port',
            '0', '--config', str(config)], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, env={**os.environ, 'PYTHONUNBUFFERED': '1'},
        preexec_fn=as_from_a_terminal)
    try:
        first = process.stdout.readline()
        url = first.split()[2]
        shops = requests.get(f'{url}/_sandbox/shops', timeout=5).json()
        assert shops['shops'][0]['orders'] == 3
        assert process.stdout.readline().split()[1] == 'cli'
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
