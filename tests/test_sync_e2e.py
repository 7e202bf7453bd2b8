"""End to end: a real trytond (the ERP), the sandbox marketplace with a
Shopify and a WooCommerce shop, and the agent's own command line
(`oms-sync once` in a process of its own), asserting what lands on each
side."""
import json
import signal
import time

import pytest
from e2e_harness import SECRETS, agent_runner, sandbox_shops, staff

from proteus import Model

from oms_connector.tests.tools import (
    SYNC_CATALOGUE,
    create_listing,
    create_product,
)
from sync_agent.erp import ErpClient


@pytest.fixture(scope='module')
def marketplace():
    with sandbox_shops() as sandbox:
        yield sandbox


@pytest.fixture(scope='module')
def agent(sync_erp, marketplace, tmp_path_factory):
    "Runs oms-sync with a configuration for both sandbox shops"
    return agent_runner(sync_erp, marketplace,
        tmp_path_factory.mktemp('agent'), {
            'shopify': "kind: shopify\nwarehouses:\n  WH: Main warehouse\n",
            'woo': "kind: woocommerce\n"})


@pytest.fixture
def erp_client(sync_erp):
    return ErpClient(sync_erp.url, sync_erp.database,
        sync_erp.world['agent_key'])


def ids(orders):
    "The channel ids of raw orders, as the ERP keeps them"
    return {str(o.get('legacyResourceId') or o['id']) for o in orders}


def test_orders_land_once_and_stock_reaches_both_shops(
        agent, marketplace, erp_client):
    shopify, woo = marketplace.shop('shopify'), marketplace.shop('woo')
    shopify.generate_orders(25, seed=1, status='paid', many_lines_share=0.1)
    woo.generate_orders(25, seed=2, status='paid')
    broken = shopify.create_malformed_order('missing_currency')
    unknown = woo.create_order(status='paid',
        lines=[{'sku': 'NOT-IN-ERP', 'quantity': 1, 'price': '5.00'}])
    # What no database stores (NUL on PostgreSQL, numbers beyond its
    # columns) is held by name and blocks no other order
    hostile = {ids([shop.create_malformed_order(kind)]).pop(): reason
        for shop, kind, reason in [
            (shopify, 'nul_note', 'NUL'),
            (shopify, 'huge_quantity', 'quantity'),
            (woo, 'huge_price', 'unit_price'),
            (woo, 'deep_payload', 'nests deeper')]}

    run = agent('once')
    assert run.returncode == 0, run.stderr
    assert 'woo: 28/28 orders read' in run.stderr  # a backfill's progress

    for code, shop in (('shopify', shopify), ('woo', woo)):
        summary = erp_client.summary(code, external_ids=True)
        # Each channel order is in the ERP, once.
        assert sorted(summary['external_ids']) == sorted(
            ids(shop.orders())), code
    held = {e['external_id']: e for e in
        erp_client.summary('shopify')['exceptions']
        + erp_client.summary('woo')['exceptions']}
    assert 'currency' in held[ids([broken]).pop()]['reason']
    assert 'NOT-IN-ERP' in held[ids([unknown]).pop()]['reason']
    for external_id, reason in hostile.items():
        assert reason in held[external_id]['reason']

    # Every shop shows what the ERP can sell: stock minus reservations.
    for code, shop in (('shopify', shopify), ('woo', woo)):
        levels = erp_client.stock_levels(code, all=True)['levels']
        assert {lv['sku']: lv['quantity'] for lv in levels} == {
            sku: shop.inventory(sku) for sku, *_ in SYNC_CATALOGUE}
        assert erp_client.stock_levels(code)['pending'] == 0
    assert sum(shopify.inventory_levels().values()) < 500 * len(
        SYNC_CATALOGUE)  # the orders reserved some

    # Again: nothing new anywhere, nothing pushed.
    before = {code: erp_client.summary(code)['orders']
        for code in ('shopify', 'woo')}
    shopify.reset_calls()
    woo.reset_calls()
    again = agent('once')
    assert again.returncode == 0, again.stderr
    assert {code: erp_client.summary(code)['orders']
        for code in ('shopify', 'woo')} == before
    state = json.loads(agent.state.read_text())
    assert 'created' not in state['shopify']['last_success']['orders']
    assert shopify.calls['inventorySetQuantities'] == 0
    assert not any('batch' in call for call in woo.calls)


def test_a_throttle_storm_and_5xx_bursts_lose_nothing(
        agent, marketplace, erp_client):
    shopify, woo = marketplace.shop('shopify'), marketplace.shop('woo')
    shopify.generate_orders(30, seed=3, status='paid', spread_hours=0)
    woo.generate_orders(30, seed=4, status='paid', spread_hours=0)
    shopify.faults.set(throttle_next=3, throttle_http_status=429,
        error_next=3, error_status=502, malformed_next=1)
    woo.faults.set(throttle_next=2, retry_after_s=0.2, error_next=3,
        error_status=503, duplicate_pages=True)

    run = agent('once')
    woo.faults.clear()
    assert run.returncode == 0, run.stderr
    assert shopify.faults.fired['throttle_next'] == 3
    assert woo.faults.fired['error_next'] == 3

    for code, shop in (('shopify', shopify), ('woo', woo)):
        summary = erp_client.summary(code, external_ids=True)
        assert sorted(summary['external_ids']) == sorted(
            ids(shop.orders())), code


def test_the_reconciliation_repairs_what_a_shop_changed_behind_its_back(
        agent, marketplace, erp_client, sync_erp):
    shopify, woo = marketplace.shop('shopify'), marketplace.shop('woo')
    assert agent('once').returncode == 0  # every shop in step
    level = {lv['sku']: lv for lv in erp_client.stock_levels(
            'shopify', all=True)['levels']}['KETTLE-1L']
    # A merchant typed a number into the Shopify admin; Woo is untouched.
    shopify.set_inventory('KETTLE-1L', level['quantity'] + 40)
    shopify.reset_calls()
    woo.reset_calls()

    run = agent('once', '--job', 'reconcile')

    assert run.returncode == 0, run.stderr
    assert 'drifted' in run.stderr
    assert shopify.inventory('KETTLE-1L') == level['quantity']
    assert shopify.calls['inventorySetQuantities'] == 1
    assert not any('batch' in call for call in woo.calls)  # only read
    tryton = staff(sync_erp)
    Alert = Model.get('oms.stock.alert', config=tryton)
    alert, = Alert.find([('kind', '=', 'drift')])
    assert (alert.listing.sku, alert.channel.code, alert.state) == (
        'KETTLE-1L', 'shopify', 'open')
    assert (alert.quantity, alert.expected) == (
        level['quantity'] + 40, level['quantity'])


def test_status_shows_each_channel(agent):
    run = agent('status')
    assert run.returncode == 0, run.stderr
    assert 'shopify (shopify' in run.stdout and 'woo (woocommerce' in (
        run.stdout)
    assert 'pending stock pushes: 0' in run.stdout
    assert 'last orders:' in run.stdout
    # The agent's secrets never reach its output or its logs.
    for secret in SECRETS:
        assert secret not in run.stdout + run.stderr


def test_status_fails_while_a_channel_is_not_set_up_and_not_after(agent):
    broken = agent('status', unset=['OMS_SHOPIFY_TOKEN'])
    assert broken.returncode == 1, broken.stdout
    assert 'NOT SET UP' in broken.stdout and 'OMS_SHOPIFY_TOKEN' in (
        broken.stdout)

    fixed = agent('status')
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert 'NOT SET UP' not in fixed.stdout
    # The setup error is history now, said so
    errors = [line for line in fixed.stdout.splitlines()
        if 'last error' in line and 'setup' in line]
    assert all('(since succeeded)' in line for line in errors), errors


def test_a_dry_run_shows_what_an_order_would_become(
        agent, marketplace, erp_client, tmp_path):
    woo = marketplace.shop('woo')
    order = woo.create_order(status='paid', lines=[('MUG-STONE', 2)])
    woo_orders_before = erp_client.summary('woo')['orders']
    raw = tmp_path / 'order.json'
    raw.write_text(json.dumps(order))

    run = agent('dry-run', 'woo', '--file', str(raw))

    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    assert shown['external_id'] == str(order['id'])
    assert [line['sku'] for line in shown['lines']] == ['MUG-STONE']
    assert shown['erp']['result'] == 'created', shown['erp']
    assert erp_client.summary('woo')['orders'] == woo_orders_before
    assert ("dry run: 1 order(s): 1 would be created, 0 updated, 0 "
        "unchanged, 0 held (0 unreadable); nothing was written") in run.stderr


def test_the_service_imports_and_lowers_stock_within_seconds(
        agent, marketplace, erp_client):
    """`oms-sync run`: an order placed on Shopify reaches the ERP at the
    next poll, and WooCommerce shows the lower quantity right after, not
    at its next stock interval; SIGTERM stops it cleanly."""
    shopify, woo = marketplace.shop('shopify'), marketplace.shop('woo')
    before = woo.inventory('LAMP-DESK')
    process = agent.start('run')
    try:
        order = shopify.create_order(status='paid', lines=[('LAMP-DESK', 3)])
        deadline = time.monotonic() + 60
        while woo.inventory('LAMP-DESK') != before - 3:
            assert time.monotonic() < deadline, "stock never reached woo"
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.2)
        assert ids([order]) <= set(
            erp_client.summary('shopify', external_ids=True)['external_ids'])
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err


@pytest.fixture(scope='module')
def candle(sync_erp, marketplace):
    """A product listed on Shopify from now on: the shop already sells it
    (20 units counted there as in the ERP), the ERP never pushed it"""
    tryton = staff(sync_erp)
    product = create_product("Soy Candle", 'CANDLE-SOY', '9.00',
        quantity=20, config=tryton)
    Channel = Model.get('oms.channel', config=tryton)
    channel, = Channel.find([('code', '=', 'shopify')])
    create_listing(channel, product, 'CANDLE-SOY', config=tryton)
    marketplace.shop('shopify').add_product(
        'CANDLE-SOY', "Soy Candle", '9.00', stock=20)
    return product


def shopify_level(erp_client, sku):
    return {lv['sku']: lv for lv in erp_client.stock_levels(
            'shopify', all=True)['levels']}[sku]


def test_sales_before_the_first_push_are_never_given_back(
        agent, marketplace, erp_client, candle):
    """A level never pushed is read before it is set, and only once the
    orders are in: Shopify's sales the ERP had not imported yet are not
    offered again, whatever ran before (here a stock push alone)"""
    shopify = marketplace.shop('shopify')
    shopify.create_order(status='paid', lines=[('CANDLE-SOY', 3)])
    assert shopify.inventory('CANDLE-SOY') == 17

    runs = [agent('once', '--job', 'stock'), agent('once'), agent('once')]

    assert [run.returncode for run in runs] == [0, 0, 0], runs[-1].stderr
    level = shopify_level(erp_client, 'CANDLE-SOY')
    assert level['quantity'] == 17  # the 3 sold are reserved
    assert shopify.inventory('CANDLE-SOY') == level['previous'] == 17
    assert erp_client.stock_levels('shopify')['pending'] == 0


def test_a_level_refused_as_stale_is_repaired_by_the_next_run(
        agent, marketplace, erp_client, sync_erp, candle):
    """Refused as stale by one process, the level is read and repaired by
    the next plain `once`, nothing of it kept in memory"""
    shopify = marketplace.shop('shopify')
    assert agent('once').returncode == 0
    # Shopify shows 30 candles (a hand edit), then the ERP lists 10 at most.
    shopify.set_inventory('CANDLE-SOY', 30)
    Listing = Model.get('oms.listing', config=staff(sync_erp))
    listing, = Listing.find([('sku', '=', 'CANDLE-SOY')])
    listing.max_listed = 10
    listing.save()
    refused = agent('once', '--job', 'stock')
    assert 'CHANGE_FROM_QUANTITY_STALE' in refused.stderr
    assert shopify.inventory('CANDLE-SOY') == 30  # not overwritten

    run = agent('once')

    assert run.returncode == 0, run.stderr
    level = shopify_level(erp_client, 'CANDLE-SOY')
    assert shopify.inventory('CANDLE-SOY') == level['quantity'] == (
        level['previous']) == 10
    assert erp_client.stock_levels('shopify')['pending'] == 0
    assert 'drifted' in run.stderr
