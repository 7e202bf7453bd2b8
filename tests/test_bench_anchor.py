"""bench.anchor's fake Shopify: the sandbox's orders translated to what
Tryton's web_shop_shopify selects, and served as its queries ask. No
virtualenv is installed here; the end-to-end run (minutes: it builds the
anchor's virtualenv and databases) only with OMS_BENCH_ANCHOR=1."""
import os
from decimal import Decimal

import pytest

from bench import anchor
from bench.anchor_shopify import FakeError, FakeShopify, parse, search

# web_shop_shopify 8.0's fetch query (web.QUERY_ORDERS with
# Sale.shopify_fields()), as the module writes it
ORDERS_QUERY = '''query GetOrders {
    orders(first: 20, query: "%s", sortKey: ID) {
nodes {
id
customer { id displayName email phone locale }
presentmentCurrencyCode
shippingAddress { name company address1 address2 city zip countryCodeV2
  provinceCode phone }
billingAddress { name company address1 address2 city zip countryCodeV2
  provinceCode phone }
name note processedAt createdAt phone
refunds {
  id
  refundLineItems(first: 10) { nodes { lineItem { id } restockType quantity }
    pageInfo { hasNextPage endCursor } }
  totalRefundedSet { presentmentMoney { amount } }
}
lineItems(first: 100) {
  nodes { id quantity variant { id } variantTitle
    discountAllocations { allocatedAmountSet { presentmentMoney { amount } } }
    originalUnitPriceSet { presentmentMoney { amount } } }
  pageInfo { hasNextPage endCursor }
}
shippingLines(first: 10) {
  nodes { title currentDiscountedPriceSet { presentmentMoney { amount } } }
  pageInfo { hasNextPage endCursor }
}
fulfillmentOrders(first: 10) {
  nodes { id assignedLocation { location { id } }
    deliveryMethod { methodType }
    lineItems(first: 100) {
      nodes { lineItem { id } totalQuantity remainingQuantity }
      pageInfo { hasNextPage endCursor } }
    status }
  pageInfo { hasNextPage endCursor }
}
paymentTerms { paymentTermsType }
transactions { id kind amountSet { presentmentMoney { amount currencyCode } }
  parentTransaction { id } gateway status }
totalPriceSet { presentmentMoney { amount } }
currentTotalPriceSet { presentmentMoney { amount } }
totalRefundedSet { presentmentMoney { amount } }
statusPageUrl
}
    }
}'''


@pytest.fixture(scope='module')
def world():
    with anchor.shop_orders(45, skus=30) as data:
        yield data


@pytest.fixture
def fake(world):
    return FakeShopify(anchor.SHOP, anchor.TOKEN, world['orders'],
        world['locations'])


def amount(bag):
    return Decimal(bag['presentmentMoney']['amount'])


def test_same_orders_as_bench_sync(world):
    "The seed, count and catalogue bench.sync draws its Shopify orders with"
    assert len(world['orders']) == 45
    skus = {sku for sku, _, _ in anchor.sync.catalogue(30)}
    assert {p['sku'] for p in world['products']} == skus
    with anchor.shop_orders(45, skus=30) as again:
        assert [o['name'] for o in again['orders']] == [
            o['name'] for o in world['orders']]
        assert again['products'] == world['products']


def test_the_fetch_query_reads_every_field_it_selects(world, fake):
    answer = fake.answer(ORDERS_QUERY % '-status:cancelled', {})
    page = answer['data']['orders']['nodes']
    assert len(page) == 20
    variants = {p['variant'] for p in world['products']}
    for node, order in zip(page, world['orders'], strict=False):
        assert node['id'] == order['id']
        assert set(node) == {'id', 'customer', 'presentmentCurrencyCode',
            'shippingAddress', 'billingAddress', 'name', 'note',
            'processedAt', 'createdAt', 'phone', 'refunds', 'lineItems',
            'shippingLines', 'fulfillmentOrders', 'paymentTerms',
            'transactions', 'totalPriceSet', 'currentTotalPriceSet',
            'totalRefundedSet', 'statusPageUrl'}
        assert node['customer']['displayName']
        lines = node['lineItems']['nodes']
        assert lines and not node['lineItems']['pageInfo']['hasNextPage']
        for line in lines:
            assert int(line['variant']['id'].rsplit('/', 1)[1]) in variants
        # What the anchor's sale adds up to: lines less their discounts,
        # shipping, and the tax it adjusts to the order's total
        paid = sum(amount(li['originalUnitPriceSet']) * li['quantity']
            - sum(amount(d['allocatedAmountSet'])
                for d in li['discountAllocations']) for li in lines)
        shipping = sum(amount(s['currentDiscountedPriceSet'])
            for s in node['shippingLines']['nodes'])
        sandbox_lines = order['lineItems']['nodes']
        assert [li['quantity'] for li in lines] == [
            li['quantity'] for li in sandbox_lines]
        assert paid + shipping <= amount(node['totalPriceSet'])
        sale, = node['transactions']
        assert (sale['kind'], sale['status']) == ('SALE', 'SUCCESS')
        assert amount(sale['amountSet']) == amount(node['totalPriceSet'])
        assert sale['amountSet']['presentmentMoney']['currencyCode'] == 'EUR'
        fo, = node['fulfillmentOrders']['nodes']
        assert fo['assignedLocation']['location']['id'] == (
            f"gid://shopify/Location/{world['location']}")
        assert {i['lineItem']['id'] for i in fo['lineItems']['nodes']} == {
            li['id'] for li in lines}
        assert node['paymentTerms'] is None and node['refunds'] == []


def test_discounts_become_one_allocation_per_line(world):
    discounted = [(line, order) for order in world['orders']
        for line in order['lineItems']['nodes']
        if line['discountAllocations']]
    for line, _ in discounted:
        allocation, = line['discountAllocations']
        assert amount(allocation['allocatedAmountSet']) > 0


def test_the_import_pages_by_id(world, fake):
    "``id:>last`` as the cron writes it after each page, to the end"
    seen, last = [], None
    while True:
        query = '-status:cancelled' + (f' AND id:>{last}' if last else '')
        page = fake.answer(ORDERS_QUERY % query, {})['data']['orders']
        if not page['nodes']:
            break
        seen += [n['id'] for n in page['nodes']]
        last = page['nodes'][-1]['id'].rsplit('/', 1)[1]
    assert seen == [o['id'] for o in world['orders']]
    assert fake.calls['orders'] == 4


def test_orders_by_id_and_closed(world, fake):
    ids = [o['legacyResourceId'] for o in world['orders'][:3]]
    found = search(fake.orders, ' OR '.join(f'id:{i}' for i in ids))
    assert [o['legacyResourceId'] for o in found] == ids
    answer = fake.answer('query GetOrderClosed($id: ID!) {\n'
        '    order(id: $id) {\n        closed\n    }\n}',
        {'id': world['orders'][0]['id']})
    assert answer == {'data': {'order': {'closed': False}}}


def test_what_the_fake_does_not_serve_fails_loudly(fake):
    with pytest.raises(FakeError):
        fake.answer('{ orders(first: 5) { nodes { id noSuchField } } }', {})
    with pytest.raises(FakeError):
        fake.answer('{ products(first: 5) { nodes { id } } }', {})
    with pytest.raises(FakeError):
        search(fake.orders, 'status:open')


def test_parse_reads_arguments_and_variables():
    root, = parse('query Q($id: ID!, $cursor: String) { order(id: $id) '
        '{ lineItems(first: 100, after: $cursor) { nodes { id } } } }',
        {'id': 'gid://shopify/Order/1', 'cursor': None})
    assert (root.name, root.args) == ('order',
        {'id': 'gid://shopify/Order/1'})
    lines, = root.fields
    assert lines.args == {'first': 100, 'after': None}


@pytest.mark.skipif(not os.environ.get('OMS_BENCH_ANCHOR'),
    reason="installs the anchor's virtualenv and builds its database "
    "(minutes): set OMS_BENCH_ANCHOR=1")
def test_a_round_end_to_end():
    result = anchor.compare(10, 1, 'sqlite://', 10)
    row, = result['rounds']
    assert row['anchor_orders_per_s'] > 0 and row['project_orders_per_s'] > 0
