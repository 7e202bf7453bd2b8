"""After-sales on the agent's side: the channels' refunds and returns read
into ChannelReturns (normalize_returns, fetch_returns), the ERP's refunds
made on the channels once however often they are pushed (push_refund),
and the returns job between an in-memory ERP and the sandbox's shops:
refunds pushed before the pull, so that the pull finds each one bound to
its RMA; one unreadable record stopping nothing; a channel that cannot
refund acknowledged as manual."""
import datetime as dt
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from e2e_harness import FIXTURES
from test_fulfilments import KEY, SECRET, TOKEN, channel_sync

from oms_contract.models import (
    RefundAck,
    ReturnBatch,
    ReturnKind,
    ReturnStatus,
)
from sync_agent.channels import shopify, woocommerce
from sync_agent.channels.base import (
    Adapter,
    RefundItem,
    RefundUpdate,
    ReturnPage,
)
from sync_agent.channels.payload import PayloadError
from sync_agent.channels.shopify.queries import REFUND_MUTATION
from sync_agent.channels.transport import RateLimiter, Transport
from sync_agent.config import ChannelConfig
from sync_agent.erp import ErpClient, ErpError
from sync_agent.flows import ChannelSync
from sync_agent.mapping import Mapping

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def shop(sandbox):
    shop = sandbox.add_shopify('eu', token=TOKEN, restore_rate=1e6)
    shop.add_product('MUG-RED', 'Mug – red', '21.50', stock=20)
    shop.add_product('CAP', 'Cap', '12.00', stock=20)
    return shop


@pytest.fixture
def woo(sandbox):
    woo = sandbox.add_woocommerce('us', consumer_key=KEY,
        consumer_secret=SECRET)
    woo.add_product('MUG-RED', 'Mug – red', '21.50', stock=20)
    return woo


class FakeErp:
    """The ERP's after-sales routes, in memory: the refunds waiting to be
    pushed, the returns cursor, each RMA bound by the channel's id (a
    replay creates nothing twice). `calls` records the order of calls."""

    def __init__(self, *refunds):
        self.waiting = list(refunds)
        self.cursor: str | None = None
        self.rmas: dict[str, dict] = {}
        self.acks: list[RefundAck] = []
        self.batches: list[ReturnBatch] = []
        self.calls: list[str] = []

    def refunds(self, channel, limit=None):
        self.calls.append('refunds')
        return {'refunds': self.waiting[:limit], 'pending': len(self.waiting)}

    def ack_refunds(self, channel, pushed, failed):
        self.calls.append('ack_refunds')
        ack = RefundAck(pushed=pushed, failed=failed)
        self.acks.append(ack)
        for done in ack.pushed:
            # The ERP binds the channel's refund to the RMA it pushed.
            self.rmas[done.external_id] = {'rma': done.id}
        gone = {p.id for p in ack.pushed} | {
            f.id for f in ack.failed if f.manual}
        self.waiting = [r for r in self.waiting if r['id'] not in gone]
        return {'recorded': len(pushed) + len(failed),
            'pending': len(self.waiting)}

    def returns_cursor(self, channel):
        self.calls.append('returns_cursor')
        return self.cursor

    def post_returns(self, channel, returns, cursor, rejected=()):
        self.calls.append('post_returns')
        batch = ReturnBatch.model_validate(
            {'returns': [r.model_dump(mode='json') for r in returns],
                'rejected': [r.model_dump(mode='json') for r in rejected],
                'cursor': cursor})
        self.batches.append(batch)
        results = []
        for r in batch.returns:
            known = self.rmas.get(r.external_id)
            result = 'created' if known is None else 'unchanged' \
                if known.get('state') == r.status else 'updated'
            self.rmas[r.external_id] = {**(known or {}), 'state': r.status}
            results.append({'external_id': r.external_id, 'kind': r.kind,
                'result': result, 'rma': f'RMA{len(self.rmas)}',
                'state': r.status})
        if cursor:
            self.cursor = cursor
        return {'results': results, 'returns_cursor': self.cursor}

    @property
    def posted(self):
        return [r for batch in self.batches for r in batch.returns]


def erp_refund(order, number='RMA0001', amount='10.00', lines=(),
        currency=None, reason='damaged', attempts=0):
    "An ERP refund of a sandbox order; lines: (sku, quantity[, line id])"
    if 'legacyResourceId' in order:
        external_id, name = order['legacyResourceId'], order['name']
        currency = currency or order['currencyCode']
    else:
        external_id, name = str(order['id']), order['number']
        currency = currency or order['currency']
    return {'id': int(number[3:]), 'key': f'oms-refund-{number}',
        'number': number, 'order': {'external_id': external_id,
            'number': name},
        'amount': amount, 'currency': currency, 'reason': reason,
        'lines': [{'sku': line[0], 'quantity': line[1],
                'external_id': line[2] if len(line) > 2 else None}
            for line in lines],
        'notify_customer': True, 'attempts': attempts}


# -- normalize_returns ------------------------------------------------------

def test_woocommerce_fixture_refunds_read_with_positive_quantities():
    refunds = json.loads((FIXTURES / 'woocommerce'
            / 'list_refunds_order_723.json').read_text())

    first, second = (woocommerce.normalize_returns(r, 'WOO')[0]
        for r in refunds)

    # The per-order list names the order only in its `up` link.
    assert first.order_external_id == second.order_external_id == '723'
    assert first.kind == ReturnKind.refund
    assert first.status == ReturnStatus.refunded
    assert first.external_id == '726' and first.amount == Decimal('10.00')
    assert first.lines == [] and first.reason is None
    assert first.created_at == dt.datetime(2017, 3, 21, 20, 7, 11,
        tzinfo=dt.UTC)
    [line] = second.lines
    # quantity -1 and total -9.00 in the payload; the order line refunded
    # is the one _refunded_item_id names, not the refund's own line.
    assert (line.quantity, line.amount, line.line_external_id) == (
        1, Decimal('9.00'), '311')
    assert line.sku is None and not line.restock


def test_woocommerce_refund_without_its_order_cannot_be_read():
    with pytest.raises(PayloadError, match='parent_id'):
        woocommerce.normalize_returns(
            {'id': 1, 'amount': '1.00', 'date_created_gmt': '2026-01-01'})
    problems = []
    assert woocommerce.normalize_returns(
        {'id': 1, 'amount': '1.00'}, 'WOO', problems) == []
    assert [str(p) for p in problems] == [
        "refund 1 of order ?: parent_id is missing"]
    assert problems[0].raw == {'id': 1, 'amount': '1.00'}


def money(amount):
    return {'shopMoney': {'amount': amount, 'currencyCode': 'EUR'}}


SHOPIFY_ORDER = {
    'id': 'gid://shopify/Order/450789469', 'legacyResourceId': '450789469',
    'name': '#1001', 'updatedAt': '2026-03-01T12:00:00Z',
    'currencyCode': 'EUR',
    'refunds': [{
        'id': 'gid://shopify/Refund/929361469',
        'createdAt': '2026-03-01T10:00:00-05:00',
        'updatedAt': '2026-03-01T10:05:00-05:00', 'note': 'broken handle',
        'totalRefundedSet': money('21.50'),
        'return': {'id': 'gid://shopify/Return/77'},
        'refundLineItems': {'pageInfo': {'hasNextPage': False}, 'nodes': [
            {'quantity': 1, 'restockType': 'RETURN', 'restocked': True,
                'lineItem': {'id': 'gid://shopify/LineItem/466157049',
                    'sku': 'MUG-RED'},
                'subtotalSet': money('21.50')},
            {'quantity': 2, 'restockType': 'NO_RESTOCK', 'restocked': False,
                'lineItem': {'id': 'gid://shopify/LineItem/518995019',
                    'sku': 'CAP'},
                'subtotalSet': money('0.00')}]}}],
    'returns': {'nodes': [{
        'id': 'gid://shopify/Return/77', 'name': '#1001-R1',
        'status': 'CANCELED', 'createdAt': '2026-02-27T09:00:00Z',
        'closedAt': '2026-02-28T09:00:00Z',
        'returnLineItems': {'nodes': [{'quantity': 1,
            'returnReason': 'DEFECTIVE', 'returnReasonNote': 'cracked',
            'fulfillmentLineItem': {'lineItem': {
                'id': 'gid://shopify/LineItem/466157049',
                'sku': 'MUG-RED'}}}]}}]},
    }


def test_shopify_refunds_and_returns_of_an_order():
    refund, returned = shopify.normalize_returns(SHOPIFY_ORDER, 'EU')

    assert refund.kind == ReturnKind.refund
    assert refund.external_id == 'gid://shopify/Refund/929361469'
    assert refund.order_external_id == '450789469'
    assert refund.amount == Decimal('21.50') and refund.currency == 'EUR'
    assert refund.updated_at == dt.datetime(2026, 3, 1, 15, 5, tzinfo=dt.UTC)
    assert refund.return_external_id == 'gid://shopify/Return/77'
    assert [(line.sku, line.quantity, line.restock, line.line_external_id)
        for line in refund.lines] == [('MUG-RED', 1, True, '466157049'),
            ('CAP', 2, False, '518995019')]
    assert returned.kind == ReturnKind.return_
    assert returned.status == ReturnStatus.cancelled
    assert returned.amount is None and returned.reason == '#1001-R1'
    assert returned.updated_at == dt.datetime(2026, 2, 28, 9, tzinfo=dt.UTC)
    assert returned.lines[0].reason == 'DEFECTIVE cracked'


def test_shopify_unreadable_refund_is_left_out_alone():
    order = json.loads(json.dumps(SHOPIFY_ORDER))
    order['refunds'][0]['totalRefundedSet'] = None
    order['returns']['nodes'][0]['status'] = 'SHIPPED_BACK'
    with pytest.raises(PayloadError):
        shopify.normalize_returns(order)
    problems = []
    order['returns']['nodes'].append(SHOPIFY_ORDER['returns']['nodes'][0])

    [readable] = shopify.normalize_returns(order, 'EU', problems)

    assert readable.status == ReturnStatus.cancelled
    assert [str(p) for p in problems] == [
        "refund gid://shopify/Refund/929361469 of order 450789469: "
        "totalRefundedSet is missing",
        "return gid://shopify/Return/77 of order 450789469: "
        "status 'SHIPPED_BACK' is unknown"]


# -- Adapters against mocked APIs ---------------------------------------------

SHOP_URL = 'https://shop.example'
GRAPHQL = f'{SHOP_URL}/admin/api/2026-01/graphql.json'
WOO_URL = 'https://woo.example'
WOO_API = f'{WOO_URL}/wp-json/wc/v3'


def adapter(tmp_path, kind):
    config = ChannelConfig(code='SHOP', kind=kind,
        base_url=SHOP_URL if kind == 'shopify' else WOO_URL)
    transport = Transport('SHOP', RateLimiter(0), attempts=2,
        sleep=lambda _: None)
    if kind == 'shopify':
        return shopify.ShopifyAdapter(config, {'token': TOKEN}, tmp_path,
            transport)
    return woocommerce.WooCommerceAdapter(config, {
            'consumer_key': 'ck', 'consumer_secret': 'cs'}, tmp_path,
        transport)


def graphql_answer(root, data):
    return {'data': {root: data}}


def sent(call):
    return json.loads(call.request.body)


def update(order_id='450789469', number='RMA0007', attempt=0, **values):
    return RefundUpdate(key=f'oms-refund-{number}', number=number,
        order_id=order_id, amount=Decimal('21.50'), currency='EUR',
        items=(RefundItem(sku='MUG-RED', quantity=1),), reason='damaged',
        notify_customer=True, attempt=attempt, **values)


ORDER_TO_REFUND = {
    'id': 'gid://shopify/Order/450789469', 'currencyCode': 'EUR',
    'cancelledAt': None, 'refunds': [],
    'lineItems': {'nodes': [
        {'id': 'gid://shopify/LineItem/1', 'sku': 'MUG-RED'}]},
    'transactions': [{'id': 'gid://shopify/OrderTransaction/5',
        'kind': 'SALE', 'status': 'SUCCESS', 'gateway': 'shopify_payments',
        'parentTransaction': None, 'amountSet': money('50.00')}]}


def test_shopify_fetch_returns_pages_orders_updated_since(tmp_path):
    node = dict(SHOPIFY_ORDER)
    later = dict(SHOPIFY_ORDER, updatedAt='2026-03-01T13:00:00Z')
    with responses.RequestsMock() as mock:
        mock.post(GRAPHQL, json=graphql_answer('orders', {
                'pageInfo': {'hasNextPage': True, 'endCursor': 'c1'},
                'nodes': [node]}))
        mock.post(GRAPHQL, json=graphql_answer('orders', {
                'pageInfo': {'hasNextPage': False, 'endCursor': 'c2'},
                'nodes': [later]}))

        pages = list(adapter(tmp_path, 'shopify').fetch_returns(T0))
        first, second = (sent(c) for c in mock.calls)

    assert [page.newest for page in pages] == [
        T0, T0 + dt.timedelta(hours=1)]
    assert first['variables'] == {'first': 5, 'after': None,
        'q': "updated_at:>='2026-03-01T12:00:00Z'"}
    assert second['variables']['after'] == 'c1'
    assert 'refundLineItems(first: 10)' in first['query']
    assert 'returns(first: 5)' in first['query']


def test_shopify_push_refund_sends_an_idempotency_key(tmp_path):
    with responses.RequestsMock() as mock:
        mock.post(GRAPHQL, json=graphql_answer('order', ORDER_TO_REFUND))
        mock.post(GRAPHQL, json=graphql_answer('refundCreate', {
                'refund': {'id': 'gid://shopify/Refund/9'},
                'userErrors': []}))

        result = adapter(tmp_path, 'shopify').push_refund(update())
        created = sent(mock.calls[1])

    assert result.external_id == 'gid://shopify/Refund/9'
    assert not result.already
    assert '@idempotent(key: "oms-refund-RMA0007-0-' in created['query']
    assert created['variables']['input'] == {
        'orderId': 'gid://shopify/Order/450789469',
        'note': 'RMA0007: damaged', 'notify': True,
        'refundLineItems': [{'lineItemId': 'gid://shopify/LineItem/1',
                'quantity': 1, 'restockType': 'NO_RESTOCK'}],
        'transactions': [{'orderId': 'gid://shopify/Order/450789469',
                'parentId': 'gid://shopify/OrderTransaction/5',
                'gateway': 'shopify_payments', 'kind': 'REFUND',
                'amount': '21.50'}]}


def test_shopify_refund_already_made_is_not_made_again(tmp_path):
    made = dict(ORDER_TO_REFUND, refunds=[
        {'id': 'gid://shopify/Refund/8', 'note': 'RMA00070: other'},
        {'id': 'gid://shopify/Refund/9', 'note': 'RMA0007: damaged'}])
    with responses.RequestsMock() as mock:
        mock.post(GRAPHQL, json=graphql_answer('order', made))

        result = adapter(tmp_path, 'shopify').push_refund(update())

        assert len(mock.calls) == 1  # read, nothing written
    assert (result.external_id, result.already) == (
        'gid://shopify/Refund/9', True)


def test_shopify_refund_more_than_was_paid_is_refused_unsent(tmp_path):
    with responses.RequestsMock() as mock:
        mock.post(GRAPHQL, json=graphql_answer('order', ORDER_TO_REFUND))
        result = adapter(tmp_path, 'shopify').push_refund(
            RefundUpdate(key='k', number='RMA9', order_id='450789469',
                amount=Decimal('80'), currency='EUR',
                items=(RefundItem(sku='TEE', quantity=1),)))
    assert result.error == ("the Shopify order has no line TEE; the Shopify "
        "order has 50.00 left to refund of its payments, not 80")


def test_woocommerce_fetch_returns_pages_refunds_since(tmp_path):
    refunds = json.loads((FIXTURES / 'woocommerce'
            / 'list_refunds_order_723.json').read_text())
    with responses.RequestsMock() as mock:
        mock.get(f'{WOO_API}/refunds', json=refunds[:1],
            headers={'X-WP-Total': '2', 'X-WP-TotalPages': '2'})
        mock.get(f'{WOO_API}/refunds', json=refunds[1:],
            headers={'X-WP-Total': '2', 'X-WP-TotalPages': '2'})

        pages = list(adapter(tmp_path, 'woocommerce').fetch_returns(T0))
        queries = [parse_qs(urlsplit(c.request.url).query)
            for c in mock.calls]

    assert [len(p.records) for p in pages] == [1, 1]
    assert pages[0].newest == dt.datetime(2017, 3, 21, 20, 7, 11,
        tzinfo=dt.UTC)
    assert queries[0]['after'] == ['2026-03-01T12:00:00']
    assert queries[0]['dates_are_gmt'] == ['true']
    assert queries[0]['orderby'] == ['date'] and queries[0]['order'] == [
        'asc']
    assert [q['page'] for q in queries] == [['1'], ['2']]


def test_woocommerce_push_refund_reads_before_writing(tmp_path):
    order = {'id': 723, 'currency': 'EUR', 'line_items': [
        {'id': 315, 'sku': 'MUG-RED', 'quantity': 2, 'total': '43.00'}]}
    with responses.RequestsMock() as mock:
        mock.get(f'{WOO_API}/orders/723', json=order)
        mock.get(f'{WOO_API}/orders/723/refunds', json=[])
        mock.post(f'{WOO_API}/orders/723/refunds', json={'id': 730},
            status=201)

        result = adapter(tmp_path, 'woocommerce').push_refund(
            update(order_id='723'))
        body = sent(mock.calls[2])

    assert (result.external_id, result.already) == ('730', False)
    assert body == {'amount': '21.50', 'reason': 'RMA0007: damaged',
        'api_refund': True, 'api_restock': False, 'line_items': [
            {'id': '315', 'quantity': 1, 'refund_total': '21.50'}]}

    with responses.RequestsMock() as mock:
        mock.get(f'{WOO_API}/orders/723', json=order)
        mock.get(f'{WOO_API}/orders/723/refunds', json=[
            {'id': 730, 'reason': 'RMA0007: damaged'}])
        result = adapter(tmp_path, 'woocommerce').push_refund(
            update(order_id='723'))
        assert [c.request.method for c in mock.calls] == ['GET', 'GET']
    assert (result.external_id, result.already) == ('730', True)


# -- The returns job against the sandbox's shops ------------------------------

def test_shopify_refund_is_pushed_before_the_pull_which_binds_it(
        tmp_path, shop):
    order = shop.create_order(status='paid',
        lines=[('MUG-RED', 2), ('CAP', 1)])
    refund = erp_refund(order, amount='21.50', lines=[('MUG-RED', 1)])
    erp = FakeErp(refund)
    sync = channel_sync(tmp_path, shop, erp)

    summary = sync.sync_returns()

    assert erp.calls == ['refunds', 'ack_refunds', 'returns_cursor',
        'post_returns']
    [made] = shop.order(order['id'])['refunds']
    assert made['note'] == 'RMA0001: damaged'
    assert made['totalRefundedSet']['shopMoney']['amount'] == '21.50'
    assert made['refundLineItems']['nodes'][0]['restockType'] == \
        'NO_RESTOCK'
    node = shop.order(order['id'])
    assert node['displayFinancialStatus'] == 'PARTIALLY_REFUNDED'
    [ack] = erp.acks
    assert [(p.id, p.external_id) for p in ack.pushed] == [(1, made['id'])]
    # The pull finds it as the refund the ERP already bound to RMA 1.
    [pulled] = erp.posted
    assert pulled.external_id == made['id'] and erp.rmas[made['id']][
        'rma'] == 1
    assert summary['refunds_pushed'] == 1 and summary['updated'] == 1
    assert 'created' not in summary
    assert erp.cursor == node['updatedAt'].replace('Z', '+00:00')

    # Pushed again (its acknowledgement lost): read, not refunded twice.
    erp.waiting.append(refund)
    shop.reset_calls()
    sync.push_refunds()
    assert shop.calls['refundCreate'] == 0
    assert len(shop.order(order['id'])['refunds']) == 1
    assert erp.acks[-1].pushed[0].external_id == made['id']


def test_a_refund_pulled_twice_is_posted_with_the_same_id(tmp_path, woo):
    order = woo.create_order(status='paid', lines=[('MUG-RED', 2)])
    made = woo.refund(order['id'], lines={'MUG-RED': 1}, reason='broken')
    erp = FakeErp()
    sync = channel_sync(tmp_path, woo, erp, skus={'MUG-RED': 'MUG-R'})

    sync.sync_returns()
    erp.cursor = None  # read from the start again
    sync.sync_returns()

    first, second = erp.posted
    assert first.external_id == second.external_id == str(made['id'])
    assert first.order_external_id == str(order['id'])
    # The channel's SKU is mapped to the ERP's, as an order's.
    assert [(line.sku, line.quantity) for line in first.lines] == [
        ('MUG-R', 1)]
    assert len(erp.rmas) == 1


def test_woocommerce_erp_refund_made_then_pulled(tmp_path, woo):
    order = woo.create_order(status='paid', lines=[('MUG-RED', 1)])
    erp = FakeErp(erp_refund(order, amount=order['total'],
            lines=[('MUG-RED', 1, str(order['line_items'][0]['id']))]))
    sync = channel_sync(tmp_path, woo, erp)

    sync.sync_returns()

    [made] = woo.refunds(order['id'])
    assert made['reason'] == 'RMA0001: damaged'
    assert made['refunded_payment'] is True
    assert woo.order(order['id'])['status'] == 'refunded'
    [pulled] = erp.posted
    assert pulled.external_id == str(made['id']) == \
        erp.acks[0].pushed[0].external_id
    assert pulled.amount == Decimal(order['total'])


def test_shopify_customer_return_is_pulled_and_followed(tmp_path, shop):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 2)])
    asked = shop.request_return(order['id'], {'MUG-RED': 1},
        reason='DEFECTIVE')
    erp = FakeErp()
    sync = channel_sync(tmp_path, shop, erp)

    sync.sync_returns()
    shop.set_return_status(asked['id'], 'OPEN')
    shop.refund(order['id'], lines={'MUG-RED': 1}, restock=True,
        note='returned', return_id=asked['id'])
    summary = sync.sync_returns()

    requested, *later = erp.posted
    [refunded] = [r for r in later if r.kind == ReturnKind.refund]
    [opened] = [r for r in later if r.kind == ReturnKind.return_]
    assert requested.external_id == opened.external_id == asked['id']
    assert (requested.status, opened.status) == (
        ReturnStatus.requested, ReturnStatus.open)
    assert refunded.return_external_id == asked['id']
    assert refunded.lines[0].restock is True
    assert summary['updated'] == 1 and summary['created'] == 1


def test_an_unreadable_record_stops_no_other(tmp_path, shop, caplog):
    bad = shop.create_order(status='paid', lines=[('MUG-RED', 1)])
    good = shop.create_order(status='paid', lines=[('CAP', 1)])
    shop.refund(bad['id'], lines={'MUG-RED': 1})
    shop.refund(good['id'], lines={'CAP': 1})
    with shop.lock:  # the shop serves a refund the agent cannot read
        shop._orders[int(bad['legacyResourceId'])]['refunds'][0][
            'createdAt'] = 'yesterday'
    erp = FakeErp()
    sync = channel_sync(tmp_path, shop, erp)

    summary = sync.sync_returns()

    [posted] = erp.posted
    assert posted.order_external_id == good['legacyResourceId']
    # The unreadable refund goes to the ERP to keep, flagged, with its
    # payload and why
    [kept] = [r for batch in erp.batches for r in batch.rejected]
    assert (kept.kind, kept.order_external_id) == (
        ReturnKind.refund, bad['legacyResourceId'])
    assert kept.external_id.startswith('gid://shopify/Refund/')
    assert "refund.createdAt is not a date-time" in kept.reason
    assert kept.raw['createdAt'] == 'yesterday'
    assert 'skipped' not in summary
    assert f"of order {bad['legacyResourceId']} cannot be read" \
        in caplog.text
    # The cursor moved past both.
    assert erp.cursor == shop.order(good['id'])['updatedAt'].replace(
        'Z', '+00:00')


class Marketplace(Adapter):
    """A channel whose API cannot refund and reports no refunds (the
    Adapter's defaults); it is not asked for orders, stock or shipments"""
    kind = 'marketplace'

    def fetch_orders(self, since):
        raise AssertionError("not asked")

    push_stock = read_stock = push_fulfilment = fetch_orders


def test_a_channel_that_cannot_refund_acks_it_manual(tmp_path):
    config = ChannelConfig(code='MP', kind='shopify',
        base_url='https://mp.example')
    erp = FakeErp(erp_refund({'id': 5, 'number': '5', 'currency': 'EUR'}))
    sync = ChannelSync(config, shopify, Marketplace(config, {}, tmp_path),
        Mapping(), erp)

    summary = sync.sync_returns()

    [failure] = erp.acks[0].failed
    assert failure.manual and failure.id == 1
    assert 'refund by hand' in failure.error
    assert erp.waiting == [] and erp.batches == []
    assert summary['refunds_failed'] == 1 and summary['read'] == 0


def test_cursor_less_the_overlap_is_where_the_pull_starts(tmp_path):
    seen = []

    class Recording(Marketplace):
        def fetch_returns(self, since):
            seen.append(since)
            yield ReturnPage([], T0 + dt.timedelta(minutes=1))

    config = ChannelConfig(code='MP', kind='shopify',
        base_url='https://mp.example', overlap=120)
    erp = FakeErp()
    erp.cursor = T0.isoformat()
    sync = ChannelSync(config, shopify, Recording(config, {}, tmp_path),
        Mapping(), erp)

    assert sync.pull_returns()['cursor'] == (
        T0 + dt.timedelta(minutes=1)).isoformat()
    assert seen == [T0 - dt.timedelta(seconds=120)]
    # Nothing to post: the batch only moves the cursor.
    assert erp.batches[0].returns == []


def test_erp_client_after_sales_routes():
    erp = ErpClient('http://erp.example', 'oms', 'key-123')
    base = 'http://erp.example/oms/oms/v1/channels/SHOP'
    with responses.RequestsMock() as mock:
        mock.get(base + '/cursor', json={'cursor': None,
                'returns_cursor': '2026-03-01T12:00:00+00:00'})
        mock.post(base + '/returns', json={'results': [],
                'returns_cursor': 'x'}, match=[
                responses.matchers.json_params_matcher(
                    {'returns': [], 'rejected': [], 'cursor': 'x'})])
        mock.get(base + '/refunds', json={'refunds': [], 'pending': 2},
            match=[responses.matchers.query_param_matcher({'limit': '0'})])
        mock.post(base + '/refunds/ack', json={'recorded': 2, 'pending': 0},
            match=[responses.matchers.json_params_matcher({
                        'pushed': [{'id': 1, 'external_id': '730'}],
                        'failed': [{'id': 2, 'error': 'no', 'manual': True}]
                        })])

        assert erp.returns_cursor('SHOP') == '2026-03-01T12:00:00+00:00'
        assert erp.post_returns('SHOP', [], 'x')['returns_cursor'] == 'x'
        assert erp.refunds('SHOP', limit=0)['pending'] == 2
        assert erp.ack_refunds('SHOP', [{'id': 1, 'external_id': '730'}],
            [{'id': 2, 'error': 'no', 'manual': True}])['recorded'] == 2


def test_sandbox_refund_create_is_idempotent_per_key(shop):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 2)])
    [line] = order['lineItems']['nodes']
    sale = shop.order(order['id'])['transactions'][0]

    def refund_create(key, amount):
        document = (REFUND_MUTATION % json.dumps(key)) if key \
            else REFUND_MUTATION.replace(
                ' @idempotent(key: %s)', '')
        return graphql_call(shop, document, {'input': {
                    'orderId': order['id'], 'note': 'RMA1',
                    'refundLineItems': [{'lineItemId': line['id'],
                            'quantity': 1, 'restockType': 'NO_RESTOCK'}],
                    'transactions': [{'orderId': order['id'],
                            'parentId': sale['id'], 'gateway': 'bogus',
                            'kind': 'REFUND', 'amount': amount}]}})

    first = refund_create('k-1', '21.50')
    again = refund_create('k-1', '21.50')
    other = refund_create('k-1', '10.00')
    keyless = refund_create(None, '10.00')

    assert first['data']['refundCreate'] == again['data']['refundCreate']
    assert other['data']['refundCreate']['userErrors'][0]['code'] == (
        'IDEMPOTENCY_KEY_PARAMETER_MISMATCH')
    assert 'idempotency key is required' in keyless['errors'][0]['message']
    node = shop.order(order['id'])
    assert len(node['refunds']) == 1
    assert node['displayFinancialStatus'] == 'PARTIALLY_REFUNDED'


def graphql_call(shop, query, variables):
    "One GraphQL call to the sandbox shop, over HTTP"
    return requests.post(shop.graphql_url, json={
            'query': query, 'variables': variables},
        headers={'X-Shopify-Access-Token': TOKEN}, timeout=10).json()


def test_an_erp_without_after_sales_leaves_the_job_idle(tmp_path, woo):
    class OlderErp(FakeErp):
        def refunds(self, channel, limit=None):
            raise ErpError(405, 'http_error', 'Method Not Allowed')

    erp = OlderErp()
    sync = channel_sync(tmp_path, woo, erp)
    assert sync.sync_returns() == {'erp_without_returns': 1}
    assert erp.batches == []

    class RefusingErp(FakeErp):
        def refunds(self, channel, limit=None):
            raise ErpError(404, 'unknown_channel', 'No channel SHOP')

    with pytest.raises(ErpError):
        channel_sync(tmp_path, woo, RefusingErp()).sync_returns()
