"""The fulfilment routes against a real trytond process on loopback: staff
ship an order in Tryton (over XML-RPC, where the server runs the sale's
queued processing after the commit, as in production), the agent reads
the parcel to report and acknowledges what the channel answered."""
import datetime as dt
import itertools

import jsonschema
import pytest
from e2e_harness import staff

from proteus import Model

from oms_connector.tests.tools import DHL_URL, order_payload
from oms_contract import openapi
from oms_contract.models import Fulfilment
from sync_agent.erp import ErpClient, ErpError

ids = itertools.count(8000)


@pytest.fixture(scope='module')
def tryton(erp):
    return staff(erp)


@pytest.fixture(scope='module')
def dhl(tryton):
    Carrier = Model.get('oms.carrier', config=tryton)
    carrier, = Carrier.find([('code', '=', 'DHL')])
    return carrier


def shipped_order(shop, tryton, carrier, number, quantity=2):
    """An order of TS-RED-M imported by the agent, then picked, packed and
    shipped by staff; its sale"""
    external_id = f'gid://shopify/Order/{next(ids)}'
    order = order_payload('shop', external_id, number=f'#{external_id[-4:]}',
        lines=[('TS-RED-M', quantity, '19.50')])
    result, = shop.post_orders('shop', [order], None)['results']
    Sale = Model.get('sale.sale', config=tryton)
    sale = Sale(result['sale_id'])
    shipment, = sale.shipments
    shipment.click('pick')
    shipment.click('pack')
    shipment.oms_carrier = carrier
    shipment.oms_tracking_number = number
    shipment.click('do')
    sale.reload()
    return sale


def fulfilments(shop, **params):
    return shop._call('GET', '/channels/shop/fulfilments', params=params)


def listed(shop, sale):
    "The fulfilments the agent is given for the sale's order"
    return [f for f in fulfilments(shop)['fulfilments']
        if f['order']['external_id'] == sale.oms_external_id]


def ack(client, pushed=(), failed=()):
    return client._call('POST', '/channels/shop/fulfilments/ack',
        {'pushed': list(pushed), 'failed': list(failed)})


def follows_the_document(answer, schema_name):
    jsonschema.validate(answer, {
            '$ref': f'#/components/schemas/{schema_name}',
            'components': openapi.load()['components'],
            })


def record(tryton, fulfilment_id):
    return Model.get('oms.fulfilment', config=tryton)(fulfilment_id)


def test_a_shipped_order_is_reported_once(shop, tryton, dhl):
    sale = shipped_order(shop, tryton, dhl, '1234567890')

    # The queued processing ran after the shipment's commit.
    assert sale.oms_state == 'shipped'
    follows_the_document(fulfilments(shop), 'Fulfilments')
    fulfilment, = listed(shop, sale)
    assert Fulfilment.model_validate(fulfilment).lines[0].quantity == 2
    assert fulfilment['key'].startswith('oms-fulfilment-')
    assert fulfilment['shipped_at'].endswith('Z')
    assert {k: v for k, v in fulfilment.items()
        if k not in {'id', 'key', 'shipped_at'}} == {
            'order': {
                'external_id': sale.oms_external_id,
                'number': sale.reference,
                },
            'carrier': 'DHL',
            'carrier_name': 'DHL Express',
            'tracking_number': '1234567890',
            'tracking_url': DHL_URL.replace('{number}', '1234567890'),
            'complete': True,
            'notify_customer': True,
            'lines': [{
                    'external_id': f'{sale.oms_external_id}-1',
                    'sku': 'TSHIRT',
                    'quantity': 2,
                    }],
            'attempts': 0,
            }

    answer = ack(shop, pushed=[{'id': fulfilment['id'],
                'external_id': 'gid://shopify/Fulfillment/1'}])

    follows_the_document(answer, 'FulfilmentAckAnswer')
    assert answer['recorded'] == 1
    assert listed(shop, sale) == []
    assert answer['pending'] == fulfilments(shop)['pending']
    # The agent, unsure its answer arrived, acknowledges it again.
    again = ack(shop, pushed=[{'id': fulfilment['id'], 'external_id': None}],
        failed=[])
    late_failure = ack(shop, failed=[{'id': fulfilment['id'],
                'error': "timeout"}])
    assert (again['recorded'], late_failure['recorded']) == (1, 1)
    done = record(tryton, fulfilment['id'])
    assert (done.state, done.external_id, done.error) == (
        'done', 'gid://shopify/Fulfillment/1', None)
    sale.reload()
    assert [e.reason for e in sale.oms_events if e.kind == 'fulfilment'] == [
        "DHL Express 1234567890 sent to Shopify Shop "
        "(its fulfilment gid://shopify/Fulfillment/1)."]


def test_a_refused_fulfilment_backs_off_then_comes_back(shop, tryton, dhl):
    sale = shipped_order(shop, tryton, dhl, '555')
    fulfilment, = listed(shop, sale)
    error = ("carrier 'DHL' has no channel carrier in mappings/shop.yaml "
        "(carriers:)")

    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ack(shop, failed=[{'id': fulfilment['id'], 'error': error}])

    assert listed(shop, sale) == []
    failed = record(tryton, fulfilment['id'])
    assert (failed.state, failed.attempts, failed.error) == (
        'failed', 1, error)
    wait = failed.next_attempt - before
    assert dt.timedelta(seconds=50) < wait < dt.timedelta(seconds=70)

    # The minute has passed: it is listed again, as tried once.
    Fulfilment = Model.get('oms.fulfilment', config=tryton)
    Fulfilment.write([failed.id], {
            'next_attempt': failed.next_attempt - dt.timedelta(minutes=1)},
        tryton.context)
    again, = listed(shop, sale)
    assert (again['id'], again['attempts']) == (fulfilment['id'], 1)

    ack(shop, failed=[{'id': fulfilment['id'], 'error': error}])
    failed.reload()
    assert failed.attempts == 2
    assert failed.next_attempt - before > dt.timedelta(seconds=110)
    assert listed(shop, sale) == []

    # Staff fixed the mapping and retry at once.
    failed.click('retry')
    retried, = listed(shop, sale)
    assert retried['attempts'] == 2
    ack(shop, pushed=[{'id': fulfilment['id']}])
    assert record(tryton, fulfilment['id']).state == 'done'


def test_acknowledgements_name_what_they_cannot_record(
        erp, shop, tryton, dhl):
    sale = shipped_order(shop, tryton, dhl, '777', quantity=1)
    other = shipped_order(shop, tryton, dhl, '778', quantity=1)
    mine, = listed(shop, sale)

    with pytest.raises(ErpError) as unknown:
        ack(shop, pushed=[{'id': mine['id']}, {'id': 99999999}])
    with pytest.raises(ErpError) as both:
        ack(shop, pushed=[{'id': mine['id']}],
            failed=[{'id': mine['id'], 'error': "no"}])
    with pytest.raises(ErpError) as twice:
        ack(shop, pushed=[{'id': mine['id']}, {'id': mine['id']}])
    stranger = ErpClient(erp.url, erp.database, erp.world['other_key'])
    with pytest.raises(ErpError) as forbidden:
        ack(stranger, pushed=[{'id': mine['id']}])

    assert (unknown.value.status, unknown.value.code) == (
        400, 'unknown_fulfilment')
    assert '99999999' in unknown.value.message
    assert unknown.value.details['ids'] == [99999999]
    assert (both.value.status, both.value.code) == (400, 'invalid_request')
    assert (twice.value.status, twice.value.code) == (400, 'invalid_request')
    assert (forbidden.value.status, forbidden.value.code) == (
        403, 'channel_forbidden')
    # Nothing of the refused acknowledgements was recorded.
    assert record(tryton, mine['id']).state == 'waiting'

    # Oldest first; a limit still counts them all.
    first = fulfilments(shop, limit=1)
    everything = fulfilments(shop)
    assert len(first['fulfilments']) == 1
    assert first['pending'] == everything['pending'] >= 2
    ordered = [f['id'] for f in everything['fulfilments']]
    assert ordered == sorted(ordered)
    assert first['fulfilments'][0]['id'] == ordered[0]
    ack(shop, pushed=[{'id': f['id']} for f in everything['fulfilments']])
    assert fulfilments(shop) == {'fulfilments': [], 'pending': 0}
    assert listed(shop, other) == []
