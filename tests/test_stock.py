"""The stock routes against a real trytond process on loopback, called with
the agent's own ERP client over HTTP: what the agent is told to push, and
what the seller sees on the listings once the channel has answered.

The lamp (LAMP-01, 10 in stock) is left to these tests; the other listings
move with the import tests, so only their relative changes are checked.
"""
import pytest
import requests
from e2e_harness import staff

from proteus import Model

from oms_connector.tests.tools import order_payload
from sync_agent.erp import ErpClient, ErpError


@pytest.fixture(scope='module')
def tryton(erp):
    return staff(erp)


def listing(tryton, sku):
    Listing = Model.get('oms.listing', config=tryton)
    found, = Listing.find([('sku', '=', sku)])
    return found


def tab(tryton, domain):
    "The SKUs a tab of the listings shows"
    Listing = Model.get('oms.listing', config=tryton)
    return [found.sku for found in Listing.find(domain)]


def by_sku(answer):
    return {level['sku']: level for level in answer['levels']}


def current(shop, sku):
    return by_sku(shop.stock_levels('shop', all=True))[sku]['quantity']


def settle(shop, sku):
    "Tell the ERP the channel shows what is available now"
    quantity = current(shop, sku)
    shop.ack_stock('shop', [{'sku': sku, 'quantity': quantity}], [])
    return quantity


def test_a_level_is_pending_until_the_channel_accepts_it(shop, tryton):
    pending = shop.stock_levels('shop')
    lamp = by_sku(pending)['LAMP-01']

    assert lamp == {
        'sku': 'LAMP-01',
        'quantity': 10,
        'previous': None,  # never pushed
        'warehouse': 'WH',
        'version': 1,
        'external_id': 'gid://Product/7',
        'external_variant_id': 'gid://ProductVariant/71',
        }
    skus = [level['sku'] for level in pending['levels']]
    assert skus == sorted(skus)
    assert pending['pending'] == len(skus)
    assert listing(tryton, 'LAMP-01').push_pending is True

    answer = shop.ack_stock(
        'shop', [{'sku': 'LAMP-01', 'quantity': 10}], [])
    after = shop.stock_levels('shop')

    assert answer == {
        'acknowledged': 1, 'failed': 0, 'pending': pending['pending'] - 1}
    assert 'LAMP-01' not in by_sku(after)
    assert after['pending'] == answer['pending']
    seen = listing(tryton, 'LAMP-01')
    assert (seen.pushed_quantity, seen.available_quantity) == (10, 10)
    assert seen.pushed_at is not None
    assert seen.push_pending is False


def test_a_full_reconciliation_lists_every_level(shop):
    settle(shop, 'LAMP-01')
    pending = shop.stock_levels('shop')['pending']

    everything = shop.stock_levels('shop', all=True)
    first = shop.stock_levels('shop', all=True, limit=1)

    assert [level['sku'] for level in everything['levels']] == [
        'LAMP-01', 'MUG-01', 'TS-RED-M']
    assert by_sku(everything)['LAMP-01']['previous'] == (
        by_sku(everything)['LAMP-01']['quantity'])
    assert first['levels'] == everything['levels'][:1]
    # Limited or not, the count is of every pending level.
    assert everything['pending'] == first['pending'] == pending


def test_a_refused_push_stays_pending_with_its_error(shop, tryton):
    quantity = settle(shop, 'MUG-01')
    settle(shop, 'LAMP-01')
    shop.post_orders('shop', [order_payload(
                'shop', 'stock-refused', lines=[('LAMP-01', 1, '30.00')])],
        None)
    lamp = current(shop, 'LAMP-01')
    refusal = ("CHANGE_FROM_QUANTITY_STALE: Shopify no longer shows 5 at "
        "this location")

    answer = shop.ack_stock(
        'shop', [{'sku': 'MUG-01', 'quantity': quantity}],
        [{'sku': 'LAMP-01', 'reason': 'stale', 'error': refusal}])

    assert (answer['acknowledged'], answer['failed']) == (1, 1)
    level = by_sku(shop.stock_levels('shop'))['LAMP-01']
    assert (level['quantity'], level['previous']) == (lamp, lamp + 1)
    # Staff read a sentence; the channel's code is kept as the details.
    seen = listing(tryton, 'LAMP-01')
    assert seen.push_pending
    assert seen.push_error == ("The channel's quantity changed since the "
        "last push (a sale not imported yet?): it is set again after the "
        "next import.")
    assert seen.push_error_details == refusal
    assert 'LAMP-01' in tab(tryton, [('push_pending', '=', True)])
    assert tab(tryton, [('push_error', '!=', None)]) == ['LAMP-01']

    # An agent that gives no reason: the channel refused, see the details.
    shop.ack_stock('shop', [], [{'sku': 'LAMP-01', 'error': "locked"}])
    seen = listing(tryton, 'LAMP-01')
    assert (seen.push_error, seen.push_error_details) == (
        "The channel refused the quantity: see the details.", "locked")

    # Pushed at last: the error goes.
    shop.ack_stock('shop', [{'sku': 'LAMP-01', 'quantity': lamp}], [])
    seen = listing(tryton, 'LAMP-01')
    assert (seen.push_error, seen.push_error_details, seen.push_pending) == (
        None, None, False)
    assert 'LAMP-01' not in tab(tryton, [('push_pending', '=', True)])


def test_reserving_lowers_the_level_and_cancelling_raises_it(shop):
    before = settle(shop, 'LAMP-01')
    order = order_payload('shop', 'stock-reserve',
        lines=[('LAMP-01', 2, '30.00')])

    reserved, = shop.post_orders('shop', [order], None)['results']
    lowered = by_sku(shop.stock_levels('shop')).get('LAMP-01')
    shop.ack_stock('shop', [{'sku': 'LAMP-01', 'quantity': before - 2}], [])
    cancelled = dict(order, status='cancelled',
        updated_at='2026-11-11T05:00:00+00:00')
    shop.post_orders('shop', [cancelled], None)
    raised = by_sku(shop.stock_levels('shop')).get('LAMP-01')

    assert reserved['state'] == 'awaiting_shipment'
    assert reserved['exception'] is None
    assert (lowered['quantity'], lowered['previous']) == (
        before - 2, before)
    assert (raised['quantity'], raised['previous']) == (before, before - 2)


def test_stock_routes_refuse_what_they_cannot_do(erp, shop):
    other = ErpClient(erp.url, erp.database, erp.world['other_key'])
    url = f'{erp.url}/{erp.database}/oms/v1/channels/shop/stock'
    headers = {'Authorization': f"Bearer {erp.world['shop_key']}"}
    before = shop.stock_levels('shop', all=True)

    with pytest.raises(ErpError) as forbidden:
        other.stock_levels('shop')
    with pytest.raises(ErpError) as forbidden_ack:
        other.ack_stock('shop', [{'sku': 'LAMP-01', 'quantity': 0}], [])
    with pytest.raises(ErpError) as unknown_channel:
        shop.stock_levels('no-such-channel')
    with pytest.raises(ErpError) as unknown_sku:
        shop.ack_stock('shop', [
                {'sku': 'LAMP-01', 'quantity': 0},
                {'sku': 'GHOST-1', 'quantity': 3}],
            [{'sku': 'GHOST-2', 'error': "no such item"}])
    with pytest.raises(ErpError) as twice:
        shop.ack_stock('shop', [{'sku': 'LAMP-01', 'quantity': 0}],
            [{'sku': 'LAMP-01', 'error': "refused"}])
    bad_query = requests.get(
        url, params={'all': 'maybe', 'limit': -1}, headers=headers,
        timeout=10)

    assert (forbidden.value.status, forbidden.value.code) == (
        403, 'channel_forbidden')
    assert forbidden_ack.value.status == 403
    assert (unknown_channel.value.status, unknown_channel.value.code) == (
        404, 'unknown_channel')
    assert (unknown_sku.value.status, unknown_sku.value.code) == (
        400, 'unknown_sku')
    assert unknown_sku.value.details['skus'] == ['GHOST-1', 'GHOST-2']
    assert 'GHOST-1, GHOST-2' in unknown_sku.value.message
    assert (twice.value.status, twice.value.code) == (400, 'invalid_request')
    assert bad_query.status_code == 400
    assert {e['location'] for e in bad_query.json()['error']['details'][
            'errors']} == {'all', 'limit'}
    # Nothing was recorded, not even the known SKU's quantity.
    assert shop.stock_levels('shop', all=True) == before


def test_drift_found_by_a_reconciliation_raises_an_alert(shop, tryton):
    quantity = settle(shop, 'MUG-01')
    # The channel was found showing 5 more than it had accepted.
    answer = shop.ack_stock('shop', [], [], drift=[{
                'sku': 'MUG-01', 'warehouse': 'WH',
                'expected': quantity, 'found': quantity + 5}])

    level = by_sku(shop.stock_levels('shop'))['MUG-01']
    assert level['previous'] == quantity + 5  # pending: to be repaired
    assert answer['pending'] >= 1
    Alert = Model.get('oms.stock.alert', config=tryton)
    alert, = Alert.find([('kind', '=', 'drift'), ('state', '=', 'open')])
    assert (alert.quantity, alert.expected, alert.safety_stock) == (
        quantity + 5, quantity, None)
    assert alert.listing.sku == 'MUG-01'
