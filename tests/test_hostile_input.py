"""Hostile input against a real trytond (the PostgreSQL leg runs it
there too): every route answers what it cannot take with a 4xx and the
API's JSON error, never a 500 or an HTML page, and stores nothing of it."""
import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from oms_connector.tests.tools import order_payload

ids = itertools.count(9000)
NUL = '\x00'


@pytest.fixture
def api(erp):
    "POST/GET under the shop's /oms/v1/ with its key: api(method, path)"
    base = f'{erp.url}/{erp.database}/oms/v1'
    key = erp.world['shop_key']

    def call(method, path, body=None, data=None, headers=None, auth=True,
            **params):
        headers = dict(headers or {})
        if auth:
            headers['Authorization'] = f'Bearer {key}'
        if data is not None:
            headers['Content-Type'] = 'application/json'
        return requests.request(method, base + path, json=body, data=data,
            params=params, headers=headers, timeout=30)
    return call


def assert_refused(response, status=400):
    assert response.status_code == status, response.text[:300]
    assert response.headers['Content-Type'].startswith('application/json')
    return response.json()['error']


def order(**changes):
    "A readable order, then each change: a dotted path and its value"
    payload = order_payload('shop', next(ids),
        lines=[('TS-RED-M', 1, '19.50')])
    for path, value in changes.items():
        *parents, name = path.split('.')
        target = payload
        for part in parents:
            target = target[int(part) if part.isdigit() else part]
        target[name] = value
    return payload


@pytest.mark.parametrize(('path', 'value', 'named'), [
        ('shipping_address.city', f'Lon{NUL}don', 'city'),
        ('lines.0.external_id', f'L{NUL}1', 'external_id'),
        ('notes', f'gift{NUL}wrap', 'notes'),
        ('lines.0.quantity', 10**15, 'quantity'),
        ('lines.0.unit_price', '1' + '0' * 30, 'unit_price'),
        ('total', 'NaN', 'total'),
        ('created_at', '0001-01-01T00:00:00+01:00', 'created_at'),
        ])
def test_an_order_the_database_cannot_store_is_refused_by_name(
        api, shop, path, value, named):
    bad = order(**{path: value})
    before = shop.summary('shop')['orders']

    error = assert_refused(api('POST', '/channels/shop/orders',
            {'orders': [bad], 'cursor': 'c-hostile'}))

    assert error['code'] == 'invalid_request'
    [problem] = error['details']['errors']
    assert problem['location'].endswith(named)
    assert shop.summary('shop')['orders'] == before


@pytest.mark.parametrize('levels', [5_000, 100_000])
def test_a_body_nested_too_deep_is_refused(api, levels):
    body = '[' * levels + ']' * levels
    error = assert_refused(api('POST', '/channels/shop/orders', data=body))
    assert error['code'] == 'too_deep'


def test_a_payload_nested_too_deep_is_refused_by_name(api):
    raw = {}
    for _ in range(34):  # deeper than 32, within the body's 40
        raw = {'nested': raw}
    error = assert_refused(api('POST', '/channels/shop/orders',
            {'orders': [order(raw=raw)]}))
    assert error['details']['errors'][0]['location'] == 'orders.0.raw'


@pytest.mark.parametrize('ack', [
        {'pushed': [{'sku': f'TS{NUL}RED', 'quantity': 1}]},
        {'pushed': [{'sku': 'TS-RED-M', 'quantity': 10**30}]},
        {'failed': [{'sku': 'TS-RED-M', 'error': f'no{NUL}'}]},
        ])
def test_a_stock_ack_beyond_bounds_is_refused(api, ack):
    assert assert_refused(api('POST', '/channels/shop/stock/ack', ack))[
        'code'] == 'invalid_request'


@pytest.mark.parametrize('route', ['fulfilments', 'refunds', 'stock'])
def test_a_limit_beyond_bounds_is_refused(api, route):
    for limit in (2**63, -1):
        assert assert_refused(api('GET', f'/channels/shop/{route}',
                limit=limit))['code'] == 'invalid_request'
    assert api('GET', f'/channels/shop/{route}', limit=10_000).ok


def test_a_channel_code_with_nul_is_an_unknown_channel(api):
    error = assert_refused(api('GET', '/channels/sh%00op/cursor'), 404)
    assert error['code'] == 'unknown_channel'


@pytest.mark.parametrize('body', [
        {'token': f'{"a" * 20}{NUL}'},
        {'number': f'#1{NUL}', 'email': 'ada@example.com'},
        {'token': 'a' * 20, 'message': f'hi{NUL}'},
        ])
def test_the_public_lookup_refuses_nul_without_a_key(api, body):
    path = '/lookup/messages' if 'message' in body else '/lookup'
    error = assert_refused(api('POST', path, body, auth=False))
    assert error['code'] == 'invalid_request'


def test_unknown_paths_and_methods_answer_json(api, erp):
    assert assert_refused(api('GET', '/nothing/here'), 404)[
        'code'] == 'not_found'
    response = api('DELETE', '/channels/shop/orders')
    assert assert_refused(response, 405)['code'] == 'method_not_allowed'
    assert response.headers['Allow'] == 'POST'
    unknown = requests.get(f'{erp.url}/no-such-db/oms/v1/channels',
        timeout=30)
    assert assert_refused(unknown, 404)['code'] == 'not_found'


def test_basic_auth_with_the_key_is_served_and_never_rate_limited(api, erp):
    "The key as a Basic password works as a Bearer, however often"
    base = f'{erp.url}/{erp.database}/oms/v1'
    basic = ('agent', erp.world['shop_key'])
    for _ in range(15):
        response = requests.get(f'{base}/channels', auth=basic, timeout=30)
        assert response.status_code == 200, response.text[:200]
    wrong = requests.get(f'{base}/channels', auth=('agent', 'nope'),
        timeout=30)
    assert assert_refused(wrong, 401)['code'] == 'unauthorized'
    assert requests.get(f'{base}/openapi.json', auth=basic, timeout=30).ok


def test_the_lookup_limit_holds_under_concurrent_requests(erp):
    "80 lookups from 16 threads: no more answers than the limit (30)"
    client = f'198.51.100.{uuid.uuid4().int % 250 + 1}, {uuid.uuid4()}'
    url = f'{erp.url}/{erp.database}/oms/v1/lookup'

    def lookup(n):
        return requests.post(url, json={'number': f'#{n}',
                'email': 'nobody@example.com'},
            headers={'X-Forwarded-For': client}, timeout=60).status_code
    with ThreadPoolExecutor(16) as threads:
        statuses = list(threads.map(lookup, range(80)))

    answered = [s for s in statuses if s != 429]
    assert set(answered) <= {404}, statuses
    # Never more than the limit; on PostgreSQL a burst may count an
    # attempt still in flight, and answer one or two less.
    assert 25 <= len(answered) <= 30, statuses


def test_line_breaks_in_a_name_become_spaces_and_in_an_id_are_refused(
        api, shop):
    "Tryton's one-line fields refuse tabs and line breaks"
    tabbed = order(**{'customer.name': 'Ada\tLove\nlace',
            'shipping_address.city': 'Lon\r\ndon'})
    [result] = shop.post_orders('shop', [tabbed], None)['results']
    assert result['result'] == 'created', result

    refused = api('POST', '/channels/shop/returns', {'returns': [],
            'rejected': [{'kind': 'refund', 'external_id': 'R\t1',
                    'reason': 'unreadable'}]})
    [problem] = assert_refused(refused)['details']['errors']
    assert problem['location'] == 'rejected.0.external_id'
