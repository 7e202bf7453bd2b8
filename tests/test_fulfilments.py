"""The fulfilments job (sync_agent/jobs.py) between an in-memory ERP and the
sandbox's marketplaces: the ERP's shipments marked shipped on Shopify
(fulfillment orders, tracking, one fulfillment per location) and on
WooCommerce (a customer note, the order completed), never twice however
often they are pushed, and acknowledged one by one: what the channel
accepted, and what failed with its reason."""
import datetime as dt
import itertools
import threading
import types

import pytest
import requests
import responses

from oms_contract.models import FulfilmentAck, OrderStatus
from sync_agent.channels import shopify, woocommerce
from sync_agent.channels.shopify.mapper import gid_id
from sync_agent.channels.transport import GaveUp, RateLimiter, Transport
from sync_agent.cli import parser
from sync_agent.config import ChannelConfig, Intervals
from sync_agent.erp import ErpClient
from sync_agent.flows import ChannelSync
from sync_agent.mapping import Mapping
from sync_agent.scheduler import FIRST_JOBS, JOBS, Scheduler

TOKEN = 'shpat_test'
KEY, SECRET = 'ck_test', 'cs_test'
MAPPING_FILE = 'mappings/shop.yaml'
CARRIERS = {'DHL': 'DHL Express', 'UPS': 'UPS'}
SHIP = 'fulfillmentCreate'

ids = itertools.count(1)


class FakeErp:
    """The ERP's fulfilment routes, in memory: it lists what waits to be
    pushed; an acknowledgement (checked as the ERP checks it) takes the
    pushed ones off the list. `lose_acks` drops the connection instead,
    as when the agent's acknowledgement never reaches the ERP."""

    def __init__(self, *fulfilments):
        self.waiting = list(fulfilments)
        self.acks: list[FulfilmentAck] = []
        self.lose_acks = False

    def fulfilments(self, channel, limit=None):
        return {'fulfilments': self.waiting[:limit],
            'pending': len(self.waiting)}

    def ack_fulfilments(self, channel, pushed, failed):
        if self.lose_acks:
            raise requests.ConnectionError("the ERP went away")
        ack = FulfilmentAck(pushed=pushed, failed=failed)
        self.acks.append(ack)
        done = {p.id for p in ack.pushed}
        self.waiting = [f for f in self.waiting if f['id'] not in done]
        return {'recorded': len(pushed) + len(failed),
            'pending': len(self.waiting)}

    @property
    def ack(self) -> FulfilmentAck:
        [ack] = self.acks
        return ack


def fulfilment(order, lines, complete=True, carrier='DHL',
        tracking='JD0001', url=None, notify=False):
    """An ERP fulfilment of a sandbox order; lines: (sku, quantity) or
    (sku, quantity, the channel's line id)"""
    number = next(ids)
    if 'legacyResourceId' in order:
        external_id, name = order['id'], order['name']
    else:
        external_id, name = str(order['id']), order['number']
    return {'id': number, 'key': f'oms-fulfilment-{number:04d}',
        'order': {'external_id': external_id, 'number': name},
        'carrier': carrier, 'carrier_name': carrier and f'{carrier} Ltd',
        'tracking_number': tracking, 'tracking_url': url,
        'shipped_at': '2026-11-28T10:00:00Z', 'complete': complete,
        'notify_customer': notify,
        'lines': [{'sku': line[0], 'quantity': line[1],
                'external_id': line[2] if len(line) > 2 else None}
            for line in lines],
        'attempts': 0}


def pushed(ack):
    return {p.id: p.external_id for p in ack.pushed}


def failed(ack):
    return {f.id: f.error for f in ack.failed}


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
    woo.add_product('CAP', 'Cap', '12.00', stock=20)
    return woo


def channel_sync(tmp_path, marketplace, erp, skus=None):
    if marketplace.kind == 'shopify':
        module, credentials = shopify, {'token': TOKEN}
        adapter_class = shopify.ShopifyAdapter
    else:
        module, adapter_class = woocommerce, woocommerce.WooCommerceAdapter
        credentials = {'consumer_key': KEY, 'consumer_secret': SECRET}
    config = ChannelConfig(code='SHOP', kind=marketplace.kind,
        base_url=marketplace.base_url, retry={'attempts': 3})
    adapter = adapter_class(config, credentials, state_dir=tmp_path,
        transport=Transport('SHOP', RateLimiter(0), attempts=3,
            sleep=lambda _: None))
    mapping = Mapping(carriers=dict(CARRIERS), skus=skus or {},
        source=MAPPING_FILE)
    return ChannelSync(config, module, adapter, mapping, erp)


def shipped_units(fulfillment):
    "SKU → units of a sandbox Shopify fulfillment"
    units = {}
    for line in fulfillment['fulfillmentLineItems']['nodes']:
        sku = line['lineItem']['sku']
        units[sku] = units.get(sku, 0) + line['quantity']
    return units


def remaining(shop, order):
    "SKU → units left to fulfil on the order's open fulfillment orders"
    left = {}
    for fo in shop.fulfillment_orders(order['id']):
        for item in fo['lineItems']['nodes']:
            sku = item['lineItem']['sku']
            left[sku] = left.get(sku, 0) + item['remainingQuantity']
    return left


def read_order(sync, order):
    "The order as the agent reads it from the channel now"
    for page in sync.adapter.fetch_orders(None):
        for raw in page.orders:
            if str(raw['id']) == str(order['id']):
                return sync.translate(raw).order
    raise AssertionError(f"order {order['id']} not served")


# -- Shopify ----------------------------------------------------------------

def test_shopify_partial_then_complete_shipment(tmp_path, shop):
    order = shop.create_order(status='paid',
        lines=[('MUG-RED', 3), ('CAP', 1)])
    first = fulfilment(order, [('MUG-RED', 2)], complete=False,
        tracking='JD0001', url='https://dhl.example/JD0001', notify=True)
    erp = FakeErp(first)
    sync = channel_sync(tmp_path, shop, erp)

    summary = sync.push_fulfilments()

    [parcel] = shop.fulfilments(order['id'])
    assert shipped_units(parcel) == {'MUG-RED': 2}
    # The merchant and the buyer see the carrier, number and link.
    assert parcel['trackingInfo'] == [{'company': 'DHL Express',
            'number': 'JD0001', 'url': 'https://dhl.example/JD0001'}]
    assert parcel['notifyCustomer'] is True
    assert remaining(shop, order) == {'MUG-RED': 1, 'CAP': 1}
    assert read_order(sync, order).status == OrderStatus.partially_shipped
    assert pushed(erp.ack) == {first['id']: parcel['id']}
    assert summary == {'pushed': 1, 'failed': 0, 'pending': 0}

    second = fulfilment(order, [('MUG-RED', 1), ('CAP', 1)], carrier='UPS',
        tracking='1Z999', notify=False)
    erp.waiting.append(second)
    erp.acks.clear()
    sync.push_fulfilments()

    parcels = shop.fulfilments(order['id'])
    assert [shipped_units(p) for p in parcels] == [
        {'MUG-RED': 2}, {'MUG-RED': 1, 'CAP': 1}]
    # No link given: none sent; the buyer is not e-mailed this time.
    assert parcels[1]['trackingInfo'] == [
        {'company': 'UPS', 'number': '1Z999', 'url': None}]
    assert parcels[1]['notifyCustomer'] is False
    assert remaining(shop, order) == {'MUG-RED': 0, 'CAP': 0}
    assert read_order(sync, order).status == OrderStatus.shipped
    assert pushed(erp.ack) == {second['id']: parcels[1]['id']}


def test_shopify_units_are_taken_per_location_one_fulfillment_each(
        tmp_path, shop):
    shop.add_location('Outlet')
    order = shop.create_order(status='paid',
        lines=[('MUG-RED', 3), ('CAP', 2)])
    # The merchant ships 2 mugs and a cap from the outlet.
    shop.move_to_location(order['id'], 'MUG-RED', 2, 'Outlet')
    shop.move_to_location(order['id'], 'CAP', 1, 'Outlet')
    mug_line = order['lineItems']['nodes'][0]['id']
    erp = FakeErp(fulfilment(order,
            [('MUG-RED', 3, gid_id(mug_line)), ('CAP', 2)]))
    sync = channel_sync(tmp_path, shop, erp)

    sync.push_fulfilments()

    parcels = shop.fulfilments(order['id'])
    assert sorted(shipped_units(p).items() for p in parcels) == sorted([
            {'MUG-RED': 1, 'CAP': 1}.items(),
            {'MUG-RED': 2, 'CAP': 1}.items()])
    assert remaining(shop, order) == {'MUG-RED': 0, 'CAP': 0}
    [(fulfilment_id, external_id)] = pushed(erp.ack).items()
    assert external_id.split(',') == [p['id'] for p in parcels]


@pytest.mark.parametrize('tracking', ['JD0001', None])
def test_shopify_retry_after_a_lost_acknowledgement_ships_nothing_twice(
        tmp_path, shop, tracking):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 3)])
    # A partial shipment (recognised by its tracking number), then the
    # rest (nothing left to fulfil).
    partial = fulfilment(order, [('MUG-RED', 1)], complete=False,
        tracking=tracking)
    rest = fulfilment(order, [('MUG-RED', 2)], tracking=None)
    erp = FakeErp(partial, rest)
    sync = channel_sync(tmp_path, shop, erp)
    erp.lose_acks = True
    with pytest.raises(requests.ConnectionError):
        sync.push_fulfilments()
    created = shop.fulfilments(order['id'])
    erp.lose_acks = False
    shop.reset_calls()

    summary = sync.push_fulfilments()

    # Read, nothing written: the partial one by its tracking number (or,
    # without one, because nothing is left to ship), the rest because
    # nothing is left to ship. Each is named by the fulfillment showing
    # it.
    assert len(created) == 2
    assert shop.fulfilments(order['id']) == created
    assert shop.calls[SHIP] == 0
    assert pushed(erp.ack) == {partial['id']: created[0]['id'],
        rest['id']: created[1]['id']}
    assert summary == {'pushed': 2, 'failed': 0, 'pending': 0, 'already': 2}


def test_shopify_partial_without_tracking_is_guarded_by_the_key(
        tmp_path, shop):
    "The key answers a retry that the read cannot tell from a new shipment"
    order = shop.create_order(status='paid', lines=[('MUG-RED', 3)])
    partial = fulfilment(order, [('MUG-RED', 1)], complete=False,
        tracking=None)
    erp = FakeErp(partial)
    sync = channel_sync(tmp_path, shop, erp)
    erp.lose_acks = True
    with pytest.raises(requests.ConnectionError):
        sync.push_fulfilments()
    [created] = shop.fulfilments(order['id'])
    erp.lose_acks = False

    sync.push_fulfilments()

    # The same units on the same fulfillment order: the same request,
    # answered by Shopify from its first time.
    assert shop.calls[SHIP] == 2
    assert shop.fulfilments(order['id']) == [created]
    assert remaining(shop, order) == {'MUG-RED': 2}
    assert pushed(erp.ack) == {partial['id']: created['id']}


def test_shopify_answer_lost_in_transit_is_not_applied_twice(
        tmp_path, shop):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 2)])
    erp = FakeErp(fulfilment(order, [('MUG-RED', 2)]))
    sync = channel_sync(tmp_path, shop, erp)
    graphql = sync.adapter.graphql

    def cut_the_mutations_answer(operation, *args, **kwargs):
        if operation == SHIP:
            shop.faults.set(malformed_next=1)  # applied, answer cut
        return graphql(operation, *args, **kwargs)
    sync.adapter.graphql = cut_the_mutations_answer

    sync.push_fulfilments()

    assert shop.faults.fired['malformed_next'] == 1
    assert shop.calls[SHIP] == 2
    [parcel] = shop.fulfilments(order['id'])
    assert pushed(erp.ack) == {erp.acks[0].pushed[0].id: parcel['id']}


def test_shopify_delivered_order_reads_completed(tmp_path, shop):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 1)])
    sync = channel_sync(tmp_path, shop, FakeErp(
            fulfilment(order, [('MUG-RED', 1)])))
    sync.push_fulfilments()
    assert read_order(sync, order).status == OrderStatus.shipped

    shop.deliver(order['id'])

    assert read_order(sync, order).status == OrderStatus.completed


def test_shopify_cancelled_order_is_not_marked_shipped(tmp_path, shop):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 1)])
    shop.update_order(order['id'], status='cancelled')
    erp = FakeErp(fulfilment(order, [('MUG-RED', 1)]))
    sync = channel_sync(tmp_path, shop, erp)

    summary = sync.push_fulfilments()

    assert shop.fulfilments(order['id']) == []
    assert list(failed(erp.ack).values()) == [
        "the Shopify order is cancelled: not marked shipped"]
    assert summary['failed'] == 1


# -- WooCommerce ------------------------------------------------------------

def customer_notes(woo, order):
    return [n['note'] for n in woo.notes(order['id']) if n['customer_note']]


def test_woocommerce_complete_shipment_completes_with_one_note(
        tmp_path, woo):
    order = woo.create_order(status='paid', lines=[('MUG-RED', 2)])
    erp = FakeErp(fulfilment(order, [('MUG-RED', 2)], tracking='JD0001',
            url='https://dhl.example/JD0001'))
    sync = channel_sync(tmp_path, woo, erp)

    summary = sync.push_fulfilments()

    assert woo.order(order['id'])['status'] == 'completed'
    assert customer_notes(woo, order) == [
        "Shipped via DHL Express, tracking JD0001 "
        "https://dhl.example/JD0001"]
    [note] = woo.notes(order['id'])
    assert pushed(erp.ack) == {erp.acks[0].pushed[0].id: f"note {note['id']}"}
    assert summary == {'pushed': 1, 'failed': 0, 'pending': 0}
    # What the agent reads back: shipped (the ERP completes it later).
    assert read_order(sync, order).status == OrderStatus.shipped


def test_woocommerce_partial_shipment_is_a_note_listing_its_items(
        tmp_path, woo):
    order = woo.create_order(status='paid',
        lines=[('MUG-RED', 2), ('CAP', 1)])
    cap_line = str(order['line_items'][1]['id'])
    erp = FakeErp(fulfilment(order,
            [('MUG-RED', 1), ('CAP', 1, cap_line)], complete=False,
            carrier='UPS', tracking='1Z999'))
    sync = channel_sync(tmp_path, woo, erp)

    sync.push_fulfilments()

    assert woo.order(order['id'])['status'] == 'processing'
    assert customer_notes(woo, order) == [
        "Shipped via UPS, tracking 1Z999: 1 × Mug – red, 1 × Cap"]
    assert len(erp.ack.pushed) == 1


def test_woocommerce_retry_after_a_lost_acknowledgement_adds_nothing(
        tmp_path, woo):
    order = woo.create_order(status='paid', lines=[('MUG-RED', 2)])
    erp = FakeErp(fulfilment(order, [('MUG-RED', 2)]))
    sync = channel_sync(tmp_path, woo, erp)
    erp.lose_acks = True
    with pytest.raises(requests.ConnectionError):
        sync.push_fulfilments()
    erp.lose_acks = False
    woo.reset_calls()

    summary = sync.push_fulfilments()

    assert len(woo.notes(order['id'])) == 1
    assert woo.order(order['id'])['status'] == 'completed'
    assert [op for op in woo.calls if not op.startswith('GET')] == []
    assert summary['already'] == 1 and summary['pushed'] == 1


def test_woocommerce_note_whose_answer_was_lost_is_not_added_twice(
        tmp_path, woo):
    order = woo.create_order(status='paid', lines=[('MUG-RED', 2)])
    erp = FakeErp(fulfilment(order, [('MUG-RED', 2)]))
    sync = channel_sync(tmp_path, woo, erp)
    request = sync.adapter.request

    def cut_the_notes_answer(method, path, **kwargs):
        if method == 'POST' and path.endswith('/notes'):
            woo.faults.set(malformed_next=1)  # added, answer cut
        return request(method, path, **kwargs)
    sync.adapter.request = cut_the_notes_answer

    sync.push_fulfilments()

    assert woo.faults.fired['malformed_next'] == 1
    assert len(woo.notes(order['id'])) == 1
    assert woo.order(order['id'])['status'] == 'completed'
    assert len(erp.ack.pushed) == 1


# -- Failures ---------------------------------------------------------------

def test_an_unmapped_carrier_fails_only_its_fulfilment(tmp_path, shop, woo):
    for marketplace in (shop, woo):
        first = marketplace.create_order(status='paid',
            lines=[('MUG-RED', 1)])
        second = marketplace.create_order(status='paid', lines=[('CAP', 1)])
        unmapped = fulfilment(first, [('MUG-RED', 1)], carrier='XYZ')
        mapped = fulfilment(second, [('CAP', 1)], carrier='UPS')
        erp = FakeErp(unmapped, mapped)
        sync = channel_sync(tmp_path / marketplace.name, marketplace, erp)

        summary = sync.push_fulfilments()

        assert failed(erp.ack) == {unmapped['id']: (
                f"carrier 'XYZ' has no channel carrier in {MAPPING_FILE} "
                "(carriers:)")}
        assert set(pushed(erp.ack)) == {mapped['id']}
        assert summary == {'pushed': 1, 'failed': 1, 'pending': 1}
        # Nothing of the unmapped one reached the channel.
        if marketplace.kind == 'shopify':
            assert marketplace.fulfilments(first['id']) == []
        else:
            assert marketplace.notes(first['id']) == []
            assert marketplace.order(first['id'])['status'] == 'processing'


def test_skus_and_carrier_are_mapped_for_the_channel(tmp_path, shop):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 1)])
    # The ERP calls the mug MUG-R; the shop MUG-RED.
    erp = FakeErp(fulfilment(order, [('MUG-R', 1)], carrier='DHL'))
    sync = channel_sync(tmp_path, shop, erp, skus={'MUG-RED': 'MUG-R'})

    sync.push_fulfilments()

    [parcel] = shop.fulfilments(order['id'])
    assert shipped_units(parcel) == {'MUG-RED': 1}
    assert parcel['trackingInfo'][0]['company'] == 'DHL Express'


def test_a_line_the_order_does_not_have_fails_and_ships_nothing(
        tmp_path, shop):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 1)])
    erp = FakeErp(fulfilment(order, [('MUG-RED', 1), ('TEE', 1)]))
    sync = channel_sync(tmp_path, shop, erp)

    sync.push_fulfilments()

    assert list(failed(erp.ack).values()) == [
        "the Shopify order has no line TEE"]
    assert shop.fulfilments(order['id']) == []


def test_a_channel_that_stays_down_ends_the_run_with_what_was_done(
        tmp_path, shop):
    orders = [shop.create_order(status='paid', lines=[('MUG-RED', 1)])
        for _ in range(3)]
    first, second, third = (fulfilment(o, [('MUG-RED', 1)]) for o in orders)
    erp = FakeErp(first, second, third)
    sync = channel_sync(tmp_path, shop, erp)
    graphql = sync.adapter.graphql
    calls = []

    def down_after_the_first(operation, *args, **kwargs):
        calls.append(operation)
        if len(calls) == 3:  # the second fulfilment's read
            shop.faults.set(error_next=100, error_status=503,
                retry_after_s=0)
        return graphql(operation, *args, **kwargs)
    sync.adapter.graphql = down_after_the_first

    with pytest.raises(GaveUp):
        sync.push_fulfilments()

    # The first is acknowledged pushed, the second failed with the
    # channel's answer; the third waits for the next run, untried.
    [ack] = erp.acks
    assert set(pushed(ack)) == {first['id']}
    assert 'HTTP 503' in failed(ack)[second['id']]
    assert [f['id'] for f in erp.waiting] == [second['id'], third['id']]


def test_a_passing_server_error_is_retried_and_goes_through(tmp_path, woo):
    order = woo.create_order(status='paid', lines=[('MUG-RED', 1)])
    erp = FakeErp(fulfilment(order, [('MUG-RED', 1)]))
    sync = channel_sync(tmp_path, woo, erp)
    woo.faults.set(error_next=1, error_status=500)

    summary = sync.push_fulfilments()

    assert summary['pushed'] == 1
    assert len(woo.notes(order['id'])) == 1


def test_an_unreadable_fulfilment_fails_alone(tmp_path, woo):
    order = woo.create_order(status='paid', lines=[('MUG-RED', 1)])
    good = fulfilment(order, [('MUG-RED', 1)])
    bad = dict(fulfilment(order, [('CAP', 1)]), lines=[])
    erp = FakeErp(bad, good)
    sync = channel_sync(tmp_path, woo, erp)

    sync.push_fulfilments()

    assert set(pushed(erp.ack)) == {good['id']}
    assert failed(erp.ack)[bad['id']].startswith(
        "the agent cannot read the fulfilment: lines:")


def test_nothing_to_ship_calls_no_marketplace(tmp_path, shop):
    erp = FakeErp()
    sync = channel_sync(tmp_path, shop, erp)

    assert sync.push_fulfilments() == {
        'pushed': 0, 'failed': 0, 'pending': 0}
    assert sum(shop.calls.values()) == 0
    assert erp.acks == []


# -- The ERP client, the scheduler, the command line ------------------------

def test_erp_client_reads_and_acknowledges_fulfilments():
    erp = ErpClient('http://erp.example', 'oms', 'key-123')
    base = 'http://erp.example/oms/oms/v1/channels/SHOP/fulfilments'
    with responses.RequestsMock() as mock:
        mock.get(base, json={'fulfilments': [], 'pending': 3},
            match=[responses.matchers.query_param_matcher({'limit': '0'})])
        mock.post(base + '/ack', json={'recorded': 2, 'pending': 1},
            match=[responses.matchers.json_params_matcher({
                        'pushed': [{'id': 12, 'external_id': 'note 281'}],
                        'failed': [{'id': 13, 'error': 'no carrier'}]})])

        assert erp.fulfilments('SHOP', limit=0)['pending'] == 3
        answer = erp.ack_fulfilments('SHOP',
            [{'id': 12, 'external_id': 'note 281'}],
            [{'id': 13, 'error': 'no carrier'}])
        sent = mock.calls[0].request

    assert answer == {'recorded': 2, 'pending': 1}
    assert sent.headers['Authorization'] == 'Bearer key-123'


def test_fulfilments_run_in_the_stock_thread_every_30_seconds():
    assert Intervals().fulfilments == 30
    ran = threading.Event()

    class Recording:
        code, progress = 'shop', None
        config = types.SimpleNamespace(intervals=types.SimpleNamespace(
                orders=3600, stock=3600, reconcile=3600, fulfilments=0.05,
                returns=3600))

        def push_fulfilments(self):
            ran.set()
            return {'pushed': 1, 'failed': 0, 'pending': 0}

    agent = types.SimpleNamespace(channels={'shop': Recording()},
        state=types.SimpleNamespace(
            succeeded=lambda *args: None, failed=lambda *args: None))
    scheduler = Scheduler(agent)
    assert 'fulfilments' in [job.job_func.args[1]
        for job in scheduler.stock_loop.schedule.jobs]
    scheduler.stock_loop.start()
    try:
        assert ran.wait(5)
    finally:
        scheduler.stop()
        scheduler.stock_loop.join(5)
    assert JOBS['fulfilments'](Recording())['pushed'] == 1


def test_run_starts_with_fulfilments_and_once_runs_them_on_demand():
    assert parser().parse_args(['once', '--job', 'fulfilments']).job == [
        'fulfilments']
    assert FIRST_JOBS[:3] == ['orders', 'stock', 'fulfilments']


def test_shipped_at_must_carry_a_time_zone(tmp_path, woo):
    order = woo.create_order(status='paid', lines=[('MUG-RED', 1)])
    naive = dict(fulfilment(order, [('MUG-RED', 1)]),
        shipped_at=dt.datetime(2026, 11, 28, 10).isoformat())
    erp = FakeErp(naive)
    sync = channel_sync(tmp_path, woo, erp)

    sync.push_fulfilments()

    assert 'shipped_at' in failed(erp.ack)[naive['id']]
    assert woo.notes(order['id']) == []
