"""The stock jobs (sync_agent/jobs.py) between an in-memory ERP and the
sandbox's marketplaces: changed levels pushed per location and
acknowledged per level with their version, only what the channel
accepted; the reconciliation reads what the channel shows, reports drift
and repairs it from there, and writes nothing to a channel in step."""
import threading
import types

import pytest

from oms_contract.models import StockAck
from sync_agent.channels import shopify, woocommerce
from sync_agent.channels.transport import RateLimiter, Transport
from sync_agent.config import ChannelConfig
from sync_agent.flows import ChannelSync
from sync_agent.mapping import Mapping
from sync_agent.scheduler import JOBS, Scheduler

TOKEN = 'shpat_test'
KEY, SECRET = 'ck_test', 'cs_test'
MAPPING_FILE = 'mappings/shop.yaml'
SET_STOCK = 'inventorySetQuantities'
WOO_WRITES = ('POST /products/batch', 'POST /products/{id}/variations/batch',
    'PUT|POST|PATCH /products/{id}')


class FakeErp:
    """The ERP's stock routes, in memory: it serves the levels it is given
    (changed ones only, unless all) and keeps each acknowledgement, checked
    as the ERP checks it."""

    def __init__(self, *levels):
        self.levels = list(levels)
        self.acks: list[StockAck] = []

    def stock_levels(self, channel, all=False, limit=None):
        changed = [level for level in self.levels
            if level['quantity'] != level['previous']]
        return {'levels': self.levels if all else changed,
            'pending': len(changed)}

    def cursor(self, channel):
        return None  # an orders pull finds the shop without orders

    def ack_stock(self, channel, pushed, failed, drift=()):
        self.acks.append(StockAck(pushed=pushed, failed=failed, drift=drift))
        return {'recorded': len(pushed) + len(failed), 'pending': 0}

    @property
    def ack(self) -> StockAck:
        [ack] = self.acks
        return ack


def level(sku, quantity, previous, warehouse='WH1', version=1, **ids):
    return {'sku': sku, 'quantity': quantity, 'previous': previous,
        'warehouse': warehouse, 'version': version,
        'external_id': ids.get('external_id'),
        'external_variant_id': ids.get('external_variant_id')}


def pushed(ack):
    return {(p.sku, p.warehouse): (p.quantity, p.version)
        for p in ack.pushed}


def failed(ack):
    return {(f.sku, f.warehouse): f.error for f in ack.failed}


def refusals(ack):
    "Why each level failed, as the ERP tells staff"
    return {(f.sku, f.warehouse): f.reason for f in ack.failed}


class Spy:
    "Records the updates an adapter's push_stock is given"

    def __init__(self, adapter):
        self.pushes = []
        push = adapter.push_stock

        def recording(updates):
            self.pushes.append(list(updates))
            return push(updates)

        adapter.push_stock = recording


@pytest.fixture
def shop(sandbox):
    shop = sandbox.add_shopify('eu', token=TOKEN, restore_rate=1e6)
    shop.add_product('MUG-RED', 'Mug – red', '21.50', stock=9)
    shop.add_product('CAP', 'Cap', '12.00', stock=3)
    shop.add_location('Outlet')
    return shop


@pytest.fixture
def woo(sandbox):
    woo = sandbox.add_woocommerce('us', consumer_key=KEY,
        consumer_secret=SECRET)
    woo.add_product('MUG-RED', 'Mug – red', '21.50', stock=9)
    woo.add_product('TEE', 'Tee', '19.00')
    woo.add_product('TEE-S', 'Tee – S', '19.00', stock=4, variant_of='TEE')
    return woo


TWO_LOCATIONS = {'WH1': 'Main warehouse', 'WH2': 'Outlet'}


def channel_sync(tmp_path, marketplace, erp, warehouses=TWO_LOCATIONS):
    if marketplace.kind == 'shopify':
        module, credentials = shopify, {'token': TOKEN}
        adapter_class = shopify.ShopifyAdapter
    else:
        module, adapter_class = woocommerce, woocommerce.WooCommerceAdapter
        credentials = {'consumer_key': KEY, 'consumer_secret': SECRET}
    config = ChannelConfig(code='SHOP', kind=marketplace.kind,
        base_url=marketplace.base_url)
    adapter = adapter_class(config, credentials, state_dir=tmp_path,
        transport=Transport('SHOP', RateLimiter(0), sleep=lambda _: None))
    mapping = Mapping(warehouses=dict(warehouses), source=MAPPING_FILE)
    return ChannelSync(config, module, adapter, mapping, erp)


# -- The stock poll -------------------------------------------------------

def test_nothing_changed_calls_no_marketplace(tmp_path, shop):
    erp = FakeErp(level('MUG-RED', 9, 9))
    sync = channel_sync(tmp_path, shop, erp)

    summary = sync.push_stock()

    assert summary == {'pushed': 0, 'failed': 0, 'pending': 0}
    assert sum(shop.calls.values()) == 0
    assert erp.acks == []


def test_a_sku_is_pushed_at_each_location_of_its_warehouses(tmp_path, shop):
    erp = FakeErp(level('MUG-RED', 7, 9, 'WH1', version=4),
        level('MUG-RED', 2, 0, 'WH2', version=1))
    sync = channel_sync(tmp_path, shop, erp)

    summary = sync.push_stock()

    assert shop.inventory('MUG-RED', 'Main warehouse') == 7
    assert shop.inventory('MUG-RED', 'Outlet') == 2
    assert shop.calls[SET_STOCK] == 1
    # Each level acknowledged by SKU and warehouse, with its version.
    assert pushed(erp.ack) == {('MUG-RED', 'WH1'): (7, 4),
        ('MUG-RED', 'WH2'): (2, 1)}
    assert summary == {'pushed': 2, 'failed': 0, 'pending': 0}


def test_only_the_levels_the_channel_accepted_are_acknowledged(
        tmp_path, shop):
    # A sale on Shopify the ERP has not imported yet: CAP shows 2, not 3.
    shop.set_inventory('CAP', 2)
    erp = FakeErp(level('MUG-RED', 5, 9, version=3),
        level('CAP', 1, 3, version=8), level('GHOST', 4, 0))
    sync = channel_sync(tmp_path, shop, erp)

    summary = sync.push_stock()

    assert pushed(erp.ack) == {('MUG-RED', 'WH1'): (5, 3)}
    errors = failed(erp.ack)
    assert errors[('GHOST', 'WH1')] == "no Shopify variant has this SKU"
    assert errors[('CAP', 'WH1')].startswith('CHANGE_FROM_QUANTITY_STALE')
    assert refusals(erp.ack) == {('GHOST', 'WH1'): 'unknown_sku',
        ('CAP', 'WH1'): 'stale'}
    # Not overwritten: the unit sold stays sold.
    assert shop.inventory('CAP', 'Main warehouse') == 2
    assert shop.inventory('MUG-RED', 'Main warehouse') == 5
    assert summary['failed'] == 2


def test_a_level_refused_as_stale_after_an_orders_pull_is_repaired(
        tmp_path, shop):
    """A channel change the orders just pulled do not explain is read and
    repaired at once, by whichever process pulled them"""
    # An order the ERP could not read took 1 cap: Shopify shows 2, not 3.
    shop.set_inventory('CAP', 2)
    erp = FakeErp(level('CAP', 1, 3, version=8))
    # Refused by a stock push alone: a sale not imported yet, maybe.
    first = channel_sync(tmp_path, shop, erp).push_stock()
    assert first['failed'] == 1 and shop.inventory('CAP') == 2
    erp.acks.clear()

    sync = channel_sync(tmp_path, shop, erp)  # another process
    sync.pull_orders()
    second = sync.push_stock()

    assert shop.inventory('CAP', 'Main warehouse') == 1
    assert pushed(erp.ack) == {('CAP', 'WH1'): (1, 8)}
    assert [(d.sku, d.expected, d.found) for d in erp.ack.drift] == [
        ('CAP', 3, 2)]
    assert (second['pushed'], second['drift']) == (1, 1)


def test_only_the_first_push_after_an_orders_pull_reads(tmp_path, shop):
    """Later pushes leave a stale level for the next pull: a sale made
    since the last one would be overwritten"""
    erp = FakeErp(level('CAP', 1, 3, version=8))
    sync = channel_sync(tmp_path, shop, erp)
    sync.pull_orders()
    assert sync.push_stock()['failed'] == 0  # in step: the turn is taken
    shop.set_inventory('CAP', 2)  # a sale on Shopify, not pulled yet
    erp.levels = [level('CAP', 0, 1, version=9)]

    summary = sync.push_stock()

    assert summary['failed'] == 1 and 'drift' not in summary
    assert shop.inventory('CAP') == 2


def test_a_level_never_pushed_is_read_after_the_orders_pull(
        tmp_path, shop):
    """Without a compare-and-set base, a level is set from what Shopify is
    read to show, and only once the orders are in"""
    shop.set_inventory('CAP', 2)  # Shopify's own count, sales included
    erp = FakeErp(level('CAP', 1, None, version=1))
    sync = channel_sync(tmp_path, shop, erp)
    spy = Spy(sync.adapter)

    waiting = sync.push_stock()  # no pull yet: left alone
    sync.pull_orders()
    summary = sync.push_stock()

    assert waiting == {'pushed': 0, 'failed': 0, 'pending': 1,
        'waiting': 1}
    [[update]] = spy.pushes
    assert (update.quantity, update.previous) == (1, 2)
    assert shop.inventory('CAP') == 1
    [ack] = erp.acks
    assert [(p.sku, p.quantity, p.previous) for p in ack.pushed] == [
        ('CAP', 1, 2)]
    assert ack.drift == []  # nothing was expected
    assert summary == {'pushed': 1, 'failed': 0, 'pending': 0}


def test_an_unmapped_warehouse_fails_only_its_levels(tmp_path, shop):
    erp = FakeErp(level('MUG-RED', 5, 9, 'WH1'),
        level('MUG-RED', 1, 0, 'WH3'), level('CAP', 2, 3, 'WH3'))
    sync = channel_sync(tmp_path, shop, erp, {'WH1': 'Main warehouse'})

    sync.push_stock()

    assert set(pushed(erp.ack)) == {('MUG-RED', 'WH1')}
    assert failed(erp.ack) == dict.fromkeys(
        [('MUG-RED', 'WH3'), ('CAP', 'WH3')],
        f"warehouse 'WH3' has no channel location in {MAPPING_FILE} "
        "(warehouses:)")
    assert set(refusals(erp.ack).values()) == {'no_location'}
    assert shop.inventory('MUG-RED', 'Main warehouse') == 5
    assert shop.inventory('CAP', 'Main warehouse') == 3


def test_two_warehouses_on_one_location_do_not_overwrite_each_other(
        tmp_path, shop):
    erp = FakeErp(level('MUG-RED', 5, 9, 'WH1'),
        level('MUG-RED', 1, 9, 'WH2'))
    sync = channel_sync(tmp_path, shop, erp,
        {'WH1': 'Main warehouse', 'WH2': 'Main warehouse'})

    sync.push_stock()

    assert set(pushed(erp.ack)) == {('MUG-RED', 'WH1')}
    assert failed(erp.ack) == {('MUG-RED', 'WH2'): (
            "the channel's MUG-RED at Main warehouse is already set from "
            "MUG-RED@WH1")}
    assert refusals(erp.ack) == {('MUG-RED', 'WH2'): 'duplicate'}


def test_woocommerce_gets_one_level_a_sku_whatever_its_warehouse(
        tmp_path, woo):
    # WooCommerce sets without comparing: a level never pushed goes too.
    erp = FakeErp(level('MUG-RED', 6, 9, 'WH1', version=2),
        level('TEE-S', 1, None, 'WH1', version=5))
    sync = channel_sync(tmp_path, woo, erp, {'WH1': 'default'})

    sync.push_stock()

    assert (woo.inventory('MUG-RED'), woo.inventory('TEE-S')) == (6, 1)
    assert pushed(erp.ack) == {('MUG-RED', 'WH1'): (6, 2),
        ('TEE-S', 'WH1'): (1, 5)}


# -- The reconciliation ---------------------------------------------------

def test_reconciliation_reports_drift_and_repairs_it_from_what_is_shown(
        tmp_path, shop, caplog):
    # The merchant edited MUG-RED at the outlet by hand; CAP is in step.
    shop.set_inventory('MUG-RED', 2, location='Outlet')
    erp = FakeErp(level('MUG-RED', 9, 9, 'WH1', version=1),
        level('MUG-RED', 6, 6, 'WH2', version=7),
        level('CAP', 3, 3, 'WH1', version=2))
    sync = channel_sync(tmp_path, shop, erp)
    spy = Spy(sync.adapter)

    summary = sync.reconcile()

    assert [(d.sku, d.warehouse, d.expected, d.found)
        for d in erp.ack.drift] == [('MUG-RED', 'WH2', 6, 2)]
    assert 'MUG-RED@WH2 drifted: the channel shows 2 where the ERP ' \
        'expected 6' in caplog.text
    # Only the drifted level is written, compare-and-set from what the
    # channel showed.
    [[update]] = spy.pushes
    assert (update.sku, update.location, update.quantity,
        update.previous) == ('MUG-RED', 'Outlet', 6, 2)
    assert shop.inventory('MUG-RED', 'Outlet') == 6
    assert shop.calls[SET_STOCK] == 1
    # Every level now shown as the ERP wants it is acknowledged.
    assert pushed(erp.ack) == {('MUG-RED', 'WH1'): (9, 1),
        ('MUG-RED', 'WH2'): (6, 7), ('CAP', 'WH1'): (3, 2)}
    assert summary == {'pushed': 1, 'in_step': 2, 'failed': 0,
        'drift': 1, 'pending': 0}


def test_reconciling_a_channel_in_step_writes_nothing(tmp_path, shop, woo):
    for marketplace, levels in [
            (shop, [level('MUG-RED', 9, 9), level('CAP', 3, None)]),
            (woo, [level('MUG-RED', 9, 9), level('TEE-S', 4, 4)])]:
        erp = FakeErp(*levels)
        sync = channel_sync(tmp_path / marketplace.name, marketplace, erp)
        marketplace.reset_calls()

        summary = sync.reconcile()

        writes = [op for op in marketplace.calls
            if op == SET_STOCK or op in WOO_WRITES]
        assert writes == [], marketplace.kind
        assert erp.ack.drift == []
        assert len(erp.ack.pushed) == 2
        assert (summary['pushed'], summary['in_step']) == (0, 2)


def test_woocommerce_reconciliation_sets_what_drifted_or_is_unmanaged(
        tmp_path, woo):
    woo.set_inventory('TEE-S', 1)  # a hand edit
    woo.add_product('SOCK', 'Sock', '5.00')
    erp = FakeErp(level('MUG-RED', 9, 9), level('TEE-S', 4, 4),
        level('SOCK', 3, None))
    sync = channel_sync(tmp_path, woo, erp)
    # WooCommerce does not count SOCK: it has no quantity to compare.
    sync.adapter.request('PUT', f"/products/{woo.product('SOCK')['id']}",
        json={'manage_stock': False})

    summary = sync.reconcile()

    assert [(d.sku, d.expected, d.found) for d in erp.ack.drift] == [
        ('TEE-S', 4, 1)]
    assert (woo.inventory('TEE-S'), woo.inventory('SOCK')) == (4, 3)
    assert (summary['pushed'], summary['in_step'], summary['drift']) == (
        2, 1, 1)


def test_the_scheduled_reconcile_job_pulls_orders_then_reconciles():
    "Sales the channel made are imported first, so they read as no drift"
    calls = []

    class Recording:
        code = 'shop'

        def pull_orders(self):
            calls.append('pull_orders')
            raise ConnectionError("the ERP is away")  # it goes on

        def reconcile(self):
            calls.append('reconcile')
            return {}

        def push_stock(self, *args, **kwargs):
            calls.append('push_stock')
            return {}

    JOBS['reconcile'](Recording())

    assert calls == ['pull_orders', 'reconcile']


def test_an_import_on_one_channel_wakes_every_channels_stock_push():
    "The orders thread's import wakes the stock thread for every channel"
    pushed = {'a': threading.Event(), 'b': threading.Event()}

    class Recording:
        def __init__(self, code, orders_every):
            self.code, self.progress = code, None
            intervals = types.SimpleNamespace(orders=orders_every,
                stock=3600, reconcile=3600, fulfilments=3600,
                returns=3600)
            self.config = types.SimpleNamespace(intervals=intervals)
            self.sold = code == 'a'

        def pull_orders(self):
            created, self.sold = int(self.sold), False
            return {'created': created}

        def push_stock(self):
            pushed[self.code].set()
            return {'pushed': 1}

    agent = types.SimpleNamespace(
        channels={'a': Recording('a', 0.1), 'b': Recording('b', 3600)},
        state=types.SimpleNamespace(
            succeeded=lambda *args: None, failed=lambda *args: None))
    scheduler = Scheduler(agent)
    for loop in scheduler.loops:
        loop.start()
    try:
        # 'b' pulls orders and pushes stock hourly: only the wake moves it.
        assert pushed['b'].wait(5)
        assert pushed['a'].wait(5)
    finally:
        scheduler.stop()
        for loop in scheduler.loops:
            loop.join(5)
    assert not any(loop.is_alive() for loop in scheduler.loops)
