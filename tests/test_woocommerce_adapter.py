"""The WooCommerce adapter against a mocked REST API v3
(marketplace-apis.md §2): consumer key/secret as Basic auth, orders paged
with X-WP-Total/X-WP-TotalPages since a GMT watermark, hosts' 429/503
waited out, stock set through the batch endpoints with per-item errors,
SKUs resolved to products and variations once, and shipments marked with
a customer note and the order completed. Waits are recorded, never
slept."""
import base64
import dataclasses
import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from sync_agent.channels.base import (
    FulfilmentItem,
    FulfilmentResult,
    FulfilmentUpdate,
    StockUpdate,
)
from sync_agent.channels.transport import (
    AuthError,
    ChannelError,
    RateLimiter,
    Transport,
)
from sync_agent.channels.woocommerce import WooCommerceAdapter
from sync_agent.config import ChannelConfig

BASE_URL = 'https://shop.example'
API = f'{BASE_URL}/wp-json/wc/v3'
KEY = 'ck_0123456789abcdef0123456789abcdef01234567'
SECRET = 'cs_76543210fedcba9876543210fedcba9876543210'


def channel(**settings):
    return ChannelConfig(code='WOO', kind='woocommerce', base_url=BASE_URL,
        **settings)


def credentials():
    return {'consumer_key': KEY, 'consumer_secret': SECRET}


def make_adapter(tmp_path, sleeps, attempts=8, **settings):
    transport = Transport('WOO', RateLimiter(0), attempts=attempts,
        sleep=sleeps.append)
    return WooCommerceAdapter(channel(**settings), credentials(),
        state_dir=tmp_path, transport=transport)


@pytest.fixture
def mock():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def sleeps():
    return []


def order(id_, modified='2026-01-15T10:02:08'):
    return {'id': id_, 'number': str(id_), 'status': 'processing',
        'currency': 'USD', 'date_created_gmt': '2026-01-15T09:58:02',
        'date_modified_gmt': modified, 'total': '29.35',
        'billing': {'first_name': 'John', 'last_name': 'Doe'},
        'line_items': [{'id': id_ * 10, 'sku': 'MUG-RED', 'quantity': 2,
                'price': 3, 'name': 'Mug &ndash; red'}]}


def pages(total, total_pages):
    return {'X-WP-Total': str(total), 'X-WP-TotalPages': str(total_pages)}


def query(call):
    return query_of(call.request)


def query_of(request):
    return {k: v[0] if len(v) == 1 else v
        for k, v in parse_qs(urlsplit(request.url).query).items()}


def path(call):
    return urlsplit(call.request.url).path.removeprefix('/wp-json/wc/v3')


def body(call):
    return json.loads(call.request.body)


def by_sku(results):
    return {r.sku: r for r in results}


# -- Orders -------------------------------------------------------------

def test_orders_are_paged_since_the_watermark_in_gmt(tmp_path, mock, sleeps):
    for page, ids in enumerate([[101, 102], [103, 104], [105]], 1):
        mock.get(f'{API}/orders', json=[order(i) for i in ids],
            headers=pages(5, 3),
            match=[matchers.query_param_matcher(
                    {'page': str(page)}, strict_match=False)])
    adapter = make_adapter(tmp_path, sleeps, page_size=2)
    since = dt.datetime(2026, 1, 15, 5, 0,
        tzinfo=dt.timezone(dt.timedelta(hours=-5)))  # 10:00 UTC

    fetched = list(adapter.fetch_orders(since))

    assert [[o['id'] for o in p.orders] for p in fetched] == [
        [101, 102], [103, 104], [105]]
    assert [p.total for p in fetched] == [5, 5, 5]
    assert [query(c)['page'] for c in mock.calls] == ['1', '2', '3']
    for call in mock.calls:
        params = query(call)
        # GMT without an offset, and said to be GMT.
        assert params['modified_after'] == '2026-01-15T10:00:00'
        assert params['dates_are_gmt'] == 'true'
        assert params['per_page'] == '2'
        assert (params['orderby'], params['order']) == ('id', 'asc')
    assert sleeps == []


def test_orders_stop_at_an_empty_page(tmp_path, mock, sleeps):
    "A shop whose count shrank while paging: an empty page ends the scan"
    mock.get(f'{API}/orders', json=[order(1)], headers=pages(3, 3),
        match=[matchers.query_param_matcher({'page': '1'},
                strict_match=False)])
    mock.get(f'{API}/orders', json=[], headers=pages(1, 1),
        match=[matchers.query_param_matcher({'page': '2'},
                strict_match=False)])
    adapter = make_adapter(tmp_path, sleeps)

    fetched = list(adapter.fetch_orders(None))

    assert [len(p.orders) for p in fetched] == [1, 0]
    assert 'modified_after' not in query(mock.calls[0])
    assert query(mock.calls[0])['per_page'] == '100'  # the API's maximum


def test_page_size_never_exceeds_100(tmp_path, sleeps):
    assert make_adapter(tmp_path, sleeps, page_size=250).page_size == 100


def test_credentials_travel_as_basic_auth(tmp_path, mock, sleeps):
    mock.get(f'{API}/orders', json=[], headers=pages(0, 0))
    adapter = make_adapter(tmp_path, sleeps)

    list(adapter.fetch_orders(None))

    [call] = mock.calls
    expected = base64.b64encode(f'{KEY}:{SECRET}'.encode()).decode()
    assert call.request.headers['Authorization'] == f'Basic {expected}'
    # Never in the URL, where proxies and logs would keep them.
    assert KEY not in call.request.url and SECRET not in call.request.url


def test_refused_keys_fail_at_once(tmp_path, mock, sleeps):
    mock.get(f'{API}/orders', status=401, json={
            'code': 'woocommerce_rest_cannot_view',
            'message': 'Sorry, you cannot list resources.',
            'data': {'status': 401}})
    adapter = make_adapter(tmp_path, sleeps)

    with pytest.raises(AuthError, match='HTTP 401'):
        list(adapter.fetch_orders(None))

    assert len(mock.calls) == 1
    assert sleeps == []


def test_a_host_asking_to_retry_after_3s_is_waited_for(
        tmp_path, mock, sleeps):
    mock.get(f'{API}/orders', status=429, headers={'Retry-After': '3'},
        body='Too Many Requests')
    mock.get(f'{API}/orders', json=[order(1)], headers=pages(1, 1))
    adapter = make_adapter(tmp_path, sleeps)

    [page] = adapter.fetch_orders(None)

    assert [o['id'] for o in page.orders] == [1]
    assert sleeps == [pytest.approx(3.05)]


def test_an_unavailable_host_is_retried(tmp_path, mock, sleeps):
    mock.get(f'{API}/orders', status=503, body='<html>maintenance</html>')
    mock.get(f'{API}/orders', status=503, body='<html>maintenance</html>')
    mock.get(f'{API}/orders', json=[order(1)], headers=pages(1, 1))
    adapter = make_adapter(tmp_path, sleeps)

    [page] = adapter.fetch_orders(None)

    assert len(page.orders) == 1
    assert len(mock.calls) == 3
    assert len(sleeps) == 2


def test_a_client_error_is_refused_with_the_shops_words(
        tmp_path, mock, sleeps):
    mock.get(f'{API}/orders', status=400, json={
            'code': 'rest_invalid_param',
            'message': 'Invalid parameter(s): modified_after',
            'data': {'status': 400}})
    adapter = make_adapter(tmp_path, sleeps)

    with pytest.raises(ChannelError,
            match='HTTP 400 rest_invalid_param: Invalid parameter'):
        list(adapter.fetch_orders(None))
    assert len(mock.calls) == 1


# -- Stock --------------------------------------------------------------

def echo_batch(request):
    "The batch endpoint's answer: each updated object as sent"
    updates = json.loads(request.body)['update']
    return 200, {}, json.dumps({'create': [], 'delete': [], 'update': [
                dict(item, sku=f'SKU-{item["id"]}') for item in updates]})


def test_simple_products_are_set_100_a_batch(tmp_path, mock, sleeps):
    mock.add_callback(responses.POST, f'{API}/products/batch',
        callback=echo_batch)
    updates = [StockUpdate(f'SKU-{n}', n % 9, external_id=str(1000 + n))
        for n in range(150)]
    adapter = make_adapter(tmp_path, sleeps)

    results = adapter.push_stock(updates)

    assert len(results) == 150 and all(r.ok for r in results)
    assert [len(body(c)['update']) for c in mock.calls] == [100, 50]
    sent = [item for c in mock.calls for item in body(c)['update']]
    assert sent[0] == {'id': 1000, 'manage_stock': True,
        'stock_quantity': 0}
    assert [item['id'] for item in sent] == list(range(1000, 1150))
    assert [item['stock_quantity'] for item in sent] == [
        u.quantity for u in updates]


def test_variations_are_set_through_their_parent(tmp_path, mock, sleeps):
    for endpoint in ['/products/batch', '/products/22/variations/batch',
            '/products/23/variations/batch']:
        mock.add_callback(responses.POST, API + endpoint,
            callback=echo_batch)
    adapter = make_adapter(tmp_path, sleeps)

    results = adapter.push_stock([
            StockUpdate('TEE-S', 1, external_id='22',
                external_variant_id='733'),
            StockUpdate('MUG', 5, external_id='93'),
            StockUpdate('TEE-M', 2, external_id='22',
                external_variant_id='734'),
            StockUpdate('CAP-S', 3, external_id='23',
                external_variant_id='801')])

    assert all(r.ok for r in results)
    sent = {path(c): [(i['id'], i['stock_quantity'])
            for i in body(c)['update']] for c in mock.calls}
    assert sent == {
        '/products/22/variations/batch': [(733, 1), (734, 2)],
        '/products/batch': [(93, 5)],
        '/products/23/variations/batch': [(801, 3)]}


def test_an_item_the_shop_refuses_fails_alone(tmp_path, mock, sleeps):
    mock.post(f'{API}/products/batch', json={'create': [], 'delete': [],
            'update': [
                {'id': 93, 'sku': 'MUG', 'stock_quantity': 5},
                {'id': 999, 'error': {
                        'code': 'woocommerce_rest_product_invalid_id',
                        'message': 'Invalid ID.', 'data': {'status': 400}}},
                {'id': 94, 'sku': 'CAP', 'stock_quantity': 0}]})
    adapter = make_adapter(tmp_path, sleeps)

    results = by_sku(adapter.push_stock([
                StockUpdate('MUG', 5, external_id='93'),
                StockUpdate('GONE', 1, external_id='999'),
                StockUpdate('CAP', 0, external_id='94')]))

    assert results['GONE'].error == (
        'woocommerce_rest_product_invalid_id: Invalid ID.')
    assert results['MUG'].ok and results['CAP'].ok
    assert len(mock.calls) == 1


def test_an_item_the_answer_leaves_out_or_keeps_is_failed(
        tmp_path, mock, sleeps):
    mock.post(f'{API}/products/batch', json={'update': [
                {'id': 93, 'stock_quantity': 4}]})
    adapter = make_adapter(tmp_path, sleeps)

    results = by_sku(adapter.push_stock([
                StockUpdate('MUG', 5, external_id='93'),
                StockUpdate('CAP', 0, external_id='94')]))

    assert results['MUG'].error == "the shop kept 4 instead of 5"
    assert results['CAP'].error == "the shop's answer does not mention it"


def test_listing_ids_from_the_erp_need_no_lookup(tmp_path, mock, sleeps):
    mock.add_callback(responses.POST, f'{API}/products/batch',
        callback=echo_batch)
    mock.add_callback(responses.POST, f'{API}/products/22/variations/batch',
        callback=echo_batch)
    adapter = make_adapter(tmp_path, sleeps)

    results = adapter.push_stock([
            StockUpdate('MUG', 5, external_id='93'),
            StockUpdate('TEE-S', 1, external_id='22',
                external_variant_id='733')])

    assert all(r.ok for r in results)
    assert [c.request.method for c in mock.calls] == ['POST', 'POST']


def test_skus_are_looked_up_once_with_a_variation_fallback(
        tmp_path, mock, sleeps):
    # /products?sku=a,b finds the simple product only ...
    mock.get(f'{API}/products', json=[
            {'id': 93, 'sku': 'MUG', 'type': 'simple', 'parent_id': 0}],
        match=[matchers.query_param_matcher(
                {'sku': 'GHOST,MUG,TEE-S', 'per_page': '100'})])
    # ... so the variable products' variations are walked for the rest.
    mock.get(f'{API}/products', json=[
            {'id': 22, 'sku': 'TEE', 'type': 'variable'}],
        headers=pages(2, 2), match=[matchers.query_param_matcher(
                {'type': 'variable', 'per_page': '100', 'page': '1'})])
    mock.get(f'{API}/products', json=[
            {'id': 23, 'sku': 'CAP', 'type': 'variable'}],
        headers=pages(2, 2), match=[matchers.query_param_matcher(
                {'type': 'variable', 'per_page': '100', 'page': '2'})])
    mock.get(f'{API}/products/22/variations', json=[
            {'id': 733, 'sku': 'TEE-S'}, {'id': 734, 'sku': 'TEE-M'}],
        headers=pages(2, 1))
    mock.get(f'{API}/products/23/variations', json=[
            {'id': 801, 'sku': 'CAP-S'}], headers=pages(1, 1))
    mock.add_callback(responses.POST, f'{API}/products/batch',
        callback=echo_batch)
    mock.add_callback(responses.POST, f'{API}/products/22/variations/batch',
        callback=echo_batch)
    adapter = make_adapter(tmp_path, sleeps)
    updates = [StockUpdate('TEE-S', 1), StockUpdate('MUG', 5),
        StockUpdate('GHOST', 2)]

    results = by_sku(adapter.push_stock(updates))

    assert results['MUG'].ok and results['TEE-S'].ok
    assert results['GHOST'].error == (
        "no WooCommerce product or variation has this SKU")
    assert results['GHOST'].reason == 'unknown_sku'
    batches = {path(c): [i['id'] for i in body(c)['update']]
        for c in mock.calls if c.request.method == 'POST'}
    assert batches == {'/products/batch': [93],
        '/products/22/variations/batch': [733]}
    lookups = [c for c in mock.calls if c.request.method == 'GET']
    assert len(lookups) == 5
    cache = json.loads((tmp_path / 'WOO.products.json').read_text())
    assert cache['values'] == {'MUG': ['product', 93],
        'TEE-S': ['variation', 22, 733]}

    # An unknown SKU is not searched for again at every push (a push runs
    # every few seconds; the catalogue walk would run with it).
    calls_before = len(mock.calls)
    second = by_sku(adapter.push_stock([StockUpdate('GHOST', 3)]))
    assert second['GHOST'].error and len(mock.calls) == calls_before

    # Found SKUs are not looked up again, by this adapter or the next run.
    restarted = make_adapter(tmp_path, sleeps)
    calls_before = len(mock.calls)
    restarted.push_stock([StockUpdate('TEE-S', 0), StockUpdate('MUG', 1)])
    assert [c.request.method for c in mock.calls[calls_before:]] == [
        'POST', 'POST']


def test_a_variation_found_by_sku_is_set_through_its_parent(
        tmp_path, mock, sleeps):
    "Recent WooCommerce returns variations from /products?sku="
    mock.get(f'{API}/products', json=[{'id': 733, 'sku': 'TEE-S',
                'type': 'variation', 'parent_id': 22}])
    mock.add_callback(responses.POST, f'{API}/products/22/variations/batch',
        callback=echo_batch)
    adapter = make_adapter(tmp_path, sleeps)

    [result] = adapter.push_stock([StockUpdate('TEE-S', 4)])

    assert result.ok
    assert len(mock.calls) == 2  # no walk of the variable products
    assert path(mock.calls[1]) == '/products/22/variations/batch'


def test_a_refused_item_is_looked_up_again_next_time(tmp_path, mock, sleeps):
    (tmp_path / 'WOO.products.json').write_text(json.dumps({
                'base_url': BASE_URL,
                'values': {'MUG': ['product', 93]}}))
    mock.post(f'{API}/products/batch', json={'update': [{'id': 93, 'error': {
                        'code': 'woocommerce_rest_product_invalid_id',
                        'message': 'Invalid ID.'}}]})
    adapter = make_adapter(tmp_path, sleeps)

    [result] = adapter.push_stock([StockUpdate('MUG', 5)])

    assert not result.ok
    assert len(mock.calls) == 1  # the cached id was used
    cache = json.loads((tmp_path / 'WOO.products.json').read_text())
    assert cache['values'] == {}


def test_stock_is_read_100_ids_a_call_products_and_variations_apart(
        tmp_path, mock, sleeps):
    def listed(request):
        ids = [int(i) for i in query_of(request)['include'].split(',')]
        # 95 does not manage stock: WooCommerce has no quantity for it.
        return 200, {}, json.dumps([{'id': i, 'manage_stock': i != 95,
                    'stock_quantity': None if i == 95 else i % 7}
                for i in ids])

    mock.add_callback(responses.GET, f'{API}/products', callback=listed)
    mock.add_callback(responses.GET, f'{API}/products/22/variations',
        callback=listed)
    updates = [StockUpdate(f'SKU-{n}', 1, external_id=str(n))
        for n in range(1, 121)]
    updates += [StockUpdate('TEE-S', 1, external_id='22',
            external_variant_id='733')]
    adapter = make_adapter(tmp_path, sleeps)

    found = adapter.read_stock(updates)

    assert found[('SKU-13', None)] == 6
    assert found[('SKU-95', None)] is None
    assert found[('TEE-S', None)] == 733 % 7
    assert len(found) == 121
    reads = [(path(c), len(query(c)['include'].split(',')),
            query(c)['per_page']) for c in mock.calls]
    assert reads == [('/products', 100, '100'), ('/products', 20, '100'),
        ('/products/22/variations', 1, '100')]
    assert all(c.request.method == 'GET' for c in mock.calls)


# -- Fulfilments --------------------------------------------------------

ORDER_727 = {'id': 727, 'status': 'processing', 'line_items': [
        {'id': 315, 'sku': 'MUG-RED', 'name': 'Mug &ndash; red',
            'quantity': 2},
        {'id': 316, 'sku': None, 'name': 'Gift wrap', 'quantity': 1}]}


def shipment(*items, complete=True, url='https://dhl.example/?n=JD1&l=en'):
    return FulfilmentUpdate(key='oms-fulfilment-1', order_id='727',
        items=tuple(FulfilmentItem(*item) for item in items),
        complete=complete, carrier='DHL', tracking_number='JD1',
        tracking_url=url)


def test_a_complete_shipment_is_a_customer_note_and_completed(
        tmp_path, mock, sleeps):
    mock.get(f'{API}/orders/727', json=ORDER_727)
    mock.get(f'{API}/orders/727/notes', json=[{'id': 280,
                'note': 'Order status changed.', 'customer_note': False}])
    mock.post(f'{API}/orders/727/notes', status=201, json={'id': 281})
    mock.put(f'{API}/orders/727', json=dict(ORDER_727, status='completed'))
    adapter = make_adapter(tmp_path, sleeps)

    result = adapter.push_fulfilment(shipment(('MUG-RED', 2)))

    assert result == FulfilmentResult(external_id='note 281')
    assert [(c.request.method, path(c)) for c in mock.calls] == [
        ('GET', '/orders/727'), ('GET', '/orders/727/notes'),
        ('POST', '/orders/727/notes'), ('PUT', '/orders/727')]
    assert query(mock.calls[1]) == {'type': 'customer'}
    assert body(mock.calls[2]) == {'customer_note': True, 'note':
        'Shipped via DHL, tracking JD1 https://dhl.example/?n=JD1&l=en'}
    assert body(mock.calls[3]) == {'status': 'completed'}


def test_a_partial_shipment_names_its_items_and_keeps_the_status(
        tmp_path, mock, sleeps):
    mock.get(f'{API}/orders/727', json=ORDER_727)
    mock.get(f'{API}/orders/727/notes', json=[])
    mock.post(f'{API}/orders/727/notes', status=201, json={'id': 282})
    adapter = make_adapter(tmp_path, sleeps)

    result = adapter.push_fulfilment(shipment(
            ('MUG-RED', 1), (None, 1, '316'), complete=False, url=None))

    assert result.external_id == 'note 282'
    assert body(mock.calls[2])['note'] == (
        "Shipped via DHL, tracking JD1: 1 × Mug – red, 1 × Gift wrap")
    assert len(mock.calls) == 3  # no status change


def test_a_shipment_the_order_shows_already_writes_nothing(
        tmp_path, mock, sleeps):
    mock.get(f'{API}/orders/727', json=dict(ORDER_727, status='completed'))
    # As WordPress stored it: the ampersand escaped.
    mock.get(f'{API}/orders/727/notes', json=[{'id': 281, 'note':
                'Shipped via DHL, tracking JD1 '
                'https://dhl.example/?n=JD1&amp;l=en',
                'customer_note': True}])
    adapter = make_adapter(tmp_path, sleeps)

    result = adapter.push_fulfilment(shipment(('MUG-RED', 2)))

    assert result == FulfilmentResult(external_id='note 281', already=True)
    assert [c.request.method for c in mock.calls] == ['GET', 'GET']


@pytest.mark.parametrize('status', ['cancelled', 'refunded', 'trash'])
def test_a_closed_order_is_not_marked_shipped(
        tmp_path, mock, sleeps, status):
    mock.get(f'{API}/orders/727', json=dict(ORDER_727, status=status))
    adapter = make_adapter(tmp_path, sleeps)

    result = adapter.push_fulfilment(shipment(('MUG-RED', 2)))

    assert result.error == (
        f"the WooCommerce order is {status}: not marked shipped")
    assert len(mock.calls) == 1


def test_an_order_id_that_is_not_woocommerces_is_refused_unsent(
        tmp_path, mock, sleeps):
    adapter = make_adapter(tmp_path, sleeps)

    result = adapter.push_fulfilment(dataclasses.replace(
            shipment(('MUG-RED', 2)), order_id='../products/1'))

    assert result.error == (
        "'../products/1' is not a WooCommerce order id")
    assert len(mock.calls) == 0
