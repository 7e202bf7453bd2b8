"""The import routes against a real trytond process on loopback, called
with the agent's own ERP client over HTTP."""
import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from e2e_harness import staff

from proteus import Model

from oms_connector.tests.tools import order_payload
from sync_agent.erp import ErpClient, ErpError

ids = itertools.count(5000)


def new_order(**kwargs):
    kwargs.setdefault('lines', [('TS-RED-M', 1, '19.50')])
    return order_payload('shop', next(ids), **kwargs)


def test_replayed_batch_creates_nothing_new(shop):
    batch = [new_order(lines=[('TS-RED-M', 1, '19.50')]),
        new_order(lines=[('NOPE', 1, '1.00')])]
    first = shop.post_orders('shop', batch, 'c-replay-1')
    again = shop.post_orders('shop', batch, 'c-replay-1')

    assert [r['result'] for r in first['results']] == ['created', 'exception']
    assert [r['result'] for r in again['results']] == [
        'unchanged', 'unchanged']
    assert ([r['sale_id'] for r in again['results']]
        == [r['sale_id'] for r in first['results']])
    # The held order stays held, and says so, on replay.
    assert again['results'][1]['exception']['kind'] == 'unknown_sku'


def test_one_bad_order_is_held_and_the_rest_imported(shop):
    good_before = new_order(lines=[('TS-RED-M', 1, '19.50')])
    bad = new_order(lines=[('TS-RED-M', 1, '19.50'), ('GHOST-9', 2, '3.00')])
    good_after = new_order(lines=[('TS-RED-M', 2, '19.50')])

    answer = shop.post_orders(
        'shop', [good_before, bad, good_after], 'c-mixed')

    results = answer['results']
    assert [r['result'] for r in results] == [
        'created', 'exception', 'created']
    assert results[1]['exception']['kind'] == 'unknown_sku'
    assert 'GHOST-9' in results[1]['exception']['reason']
    assert all(r['sale'] for r in results)  # held orders get a number too
    assert answer['cursor'] == 'c-mixed'
    assert shop.cursor('shop') == 'c-mixed'


def test_unreadable_orders_are_held_beside_the_others(shop):
    good = new_order()
    unreadable = {
        'external_id': str(next(ids)), 'number': '#broken',
        'reason': "currency: missing", 'raw': {'id': 'broken', 'total': 5},
        }

    answer = shop.post_orders('shop', [good], 'c-rejected', [unreadable])
    again = shop.post_orders('shop', [good], 'c-rejected', [unreadable])

    results = answer['results']
    assert [r['result'] for r in results] == ['created', 'exception']
    assert results[1]['external_id'] == unreadable['external_id']
    assert results[1]['exception'] == {
        'kind': 'invalid_order', 'reason': "currency: missing"}
    assert results[1]['sale']  # numbered like any order
    assert [r['result'] for r in again['results']] == [
        'unchanged', 'unchanged']
    assert shop.cursor('shop') == 'c-rejected'

    # The channel sends a readable copy: the held order goes ahead.
    readable = new_order(updated_at='2026-11-11T05:00:00+00:00')
    readable['external_id'] = unreadable['external_id']
    fixed, = shop.post_orders('shop', [readable], None)['results']
    assert (fixed['result'], fixed['state'], fixed['exception']) == (
        'updated', 'awaiting_shipment', None)
    assert fixed['sale_id'] == results[1]['sale_id']


def test_concurrent_copies_of_an_order_make_one_sale(erp):
    "Two agents (or a retry racing the original) send the same new order"
    order = new_order()

    def post(_):
        client = ErpClient(erp.url, erp.database, erp.world['shop_key'])
        return client.post_orders('shop', [order], None)['results'][0]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(post, range(4)))

    assert len({r['sale_id'] for r in results}) == 1
    assert sorted(r['result'] for r in results) == [
        'created', 'unchanged', 'unchanged', 'unchanged']


def test_status_updates_apply_once(shop):
    order = new_order(status='pending_payment',
        lines=[('TS-RED-M', 1, '19.50')])
    created, = shop.post_orders('shop', [order], None)['results']
    assert created['state'] == 'pending_payment'

    paid = dict(order, status='awaiting_shipment',
        updated_at='2026-11-11T03:00:00+00:00')
    updated, = shop.post_orders('shop', [paid], None)['results']
    late, = shop.post_orders('shop', [order], None)['results']

    assert (updated['result'], updated['state']) == (
        'updated', 'awaiting_shipment')
    # An older copy arriving late changes nothing.
    assert (late['result'], late['state']) == (
        'unchanged', 'awaiting_shipment')
    assert created['sale_id'] == updated['sale_id'] == late['sale_id']


def test_failed_transaction_leaves_cursor_and_writes_nothing(erp, shop):
    shop.post_orders('shop', [], 'c-before-failure')
    first, doomed = new_order(), new_order(number='#FAIL-ME')
    with failing_insert(erp, 'FAIL-ME'):
        with pytest.raises(ErpError) as error:
            shop.post_orders('shop', [first, doomed], 'c-after-failure')

    assert error.value.status == 500
    assert error.value.code == 'internal_error'
    assert shop.cursor('shop') == 'c-before-failure'
    # The first order of the failed batch was not kept either: sending the
    # batch again creates it.
    again = shop.post_orders('shop', [first, doomed], 'c-after-failure')
    assert [r['result'] for r in again['results']] == ['created', 'created']


def test_missing_and_wrong_keys_are_refused(erp):
    url = f'{erp.url}/{erp.database}/oms/v1/channels/shop/cursor'
    missing = requests.get(url, timeout=10)
    wrong = requests.get(
        url, headers={'Authorization': 'Bearer not-a-key'}, timeout=10)
    assert (missing.status_code, missing.json()['error']['code']) == (
        401, 'unauthorized')
    assert (wrong.status_code, wrong.json()['error']['code']) == (
        401, 'unauthorized')


def test_key_is_limited_to_its_channels(erp, shop):
    other = ErpClient(erp.url, erp.database, erp.world['other_key'])
    with pytest.raises(ErpError) as forbidden:
        other.post_orders('shop', [new_order()], 'stolen')
    with pytest.raises(ErpError) as unknown:
        shop.cursor('no-such-channel')

    assert (forbidden.value.status, forbidden.value.code) == (
        403, 'channel_forbidden')
    assert (unknown.value.status, unknown.value.code) == (
        404, 'unknown_channel')
    assert [c['code'] for c in shop.channels()] == ['shop']
    assert shop.cursor('shop') != 'stolen'


def test_bad_json_and_bad_schema_answer_400(erp, shop):
    url = f"{erp.url}/{erp.database}/oms/v1/channels/shop/orders"
    headers = {'Authorization': f"Bearer {erp.world['shop_key']}"}
    not_json = requests.post(url, data='{"orders": [', headers=headers,
        timeout=10)
    bad = new_order()
    bad['lines'][0]['quantity'] = 0
    del bad['customer']
    bad_schema = requests.post(url, json={'orders': [bad], 'cursor': 'x'},
        headers=headers, timeout=10)

    assert not_json.status_code == 400
    assert not_json.json()['error']['code'] == 'invalid_json'
    assert bad_schema.status_code == 400
    error = bad_schema.json()['error']
    assert error['code'] == 'invalid_request'
    locations = {e['location'] for e in error['details']['errors']}
    assert locations == {'orders.0.lines.0.quantity', 'orders.0.customer'}
    assert shop.cursor('shop') != 'x'


class failing_insert:
    """A database trigger refusing sales whose reference is `reference`: a
    failure the ERP cannot foresee (like a full disk) in the middle of a
    batch."""

    def __init__(self, erp, reference):
        self.erp, self.reference = erp, reference

    def _execute(self, *statements):
        if server_is_postgresql(self.erp):
            import psycopg
            with psycopg.connect(
                    self.erp.uri.rstrip('/') + '/' + self.erp.database,
                    autocommit=True) as connection:
                for statement in statements:
                    connection.execute(statement)
        else:
            import sqlite3
            connection = sqlite3.connect(
                self.erp.directory / f'{self.erp.database}.sqlite')
            with connection:
                for statement in statements:
                    connection.execute(statement)
            connection.close()

    def __enter__(self):
        if server_is_postgresql(self.erp):
            self._execute(
                "CREATE OR REPLACE FUNCTION oms_test_refuse() RETURNS trigger"
                " AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$"
                " LANGUAGE plpgsql",
                "CREATE TRIGGER oms_test_refuse BEFORE INSERT ON sale_sale"
                " FOR EACH ROW WHEN (NEW.reference = '#"
                f"{self.reference}') EXECUTE FUNCTION oms_test_refuse()")
        else:
            self._execute(
                "CREATE TRIGGER oms_test_refuse BEFORE INSERT ON sale_sale"
                f" WHEN NEW.reference = '#{self.reference}'"
                " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
        return self

    def __exit__(self, *exc):
        self._execute('DROP TRIGGER IF EXISTS oms_test_refuse'
            + (' ON sale_sale' if server_is_postgresql(self.erp) else ''))


def server_is_postgresql(erp):
    return erp.uri.startswith('postgresql')


def test_an_order_the_channel_ships_itself_reserves_nothing(erp, shop):
    "Amazon FBA: recorded for reporting and the customer, nothing shipped"
    order = new_order(status='shipped', fulfilled_by_channel=True,
        lines=[('MUG-01', 5, '8.00')])  # more mugs than the ERP has
    created, = shop.post_orders('shop', [order], None)['results']

    assert (created['result'], created['state'], created['exception']) == (
        'created', 'shipped', None)
    Sale = Model.get('sale.sale', config=staff(erp))
    sale = Sale(created['sale_id'])
    assert (sale.state, sale.shipment_method, sale.oms_channel_fulfils) == (
        'processing', 'manual', True)
    assert sale.shipments == [] and all(
        not line.moves for line in sale.lines)


def test_the_channels_hold_holds_the_order_until_lifted(erp, shop):
    "A buyer's cancellation request on Amazon: not shipped meanwhile"
    order = new_order(hold_reason="The buyer asked to cancel (MUG: changed "
        "mind): do not ship", lines=[('TS-RED-M', 1, '19.50')])
    held, = shop.post_orders('shop', [order], None)['results']
    assert held['exception']['kind'] == 'channel_hold'
    assert 'changed mind' in held['exception']['reason']

    lifted = dict(order, hold_reason=None,
        updated_at='2026-11-11T04:00:00+00:00')
    released, = shop.post_orders('shop', [lifted], None)['results']
    assert (released['result'], released['exception']) == ('updated', None)
    Sale = Model.get('sale.sale', config=staff(erp))
    assert [s.state for s in Sale(released['sale_id']).shipments] == [
        'assigned']
