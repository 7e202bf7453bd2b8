"""End to end with Amazon, as a seller runs it: a real trytond, the
sandbox's Amazon seller account (Selling Partner API) and the agent's own
command line. Orders the seller ships (MFN) and orders Amazon ships from
its own stock (FBA) reach the ERP once each, through a storm of 429s; only
the seller's are reserved; a stock change reaches Amazon in the fewest
calls; a parcel is confirmed once with its tracking; a refund made in
Seller Central becomes one return request."""
import pytest
from e2e_harness import SECRETS, agent_runner, amazon_shop, ship, staff

from proteus import Model

from oms_connector.tests.tools import FBA_MUG
from sandbox import Sandbox

MAPPING = "kind: amazon\ncarriers:\n  DHL: DHL\n"
# Amazon's flows run the same on either database: the SQLite leg's
pytestmark = pytest.mark.one_backend
STOCK_OPERATIONS = {'patchListingsItem', 'getListingsItem',
    'createFeedDocument', 'uploadFeedDocument', 'createFeed', 'getFeed',
    'getFeedDocument', 'downloadReport'}


@pytest.fixture(scope='module')
def marketplace():
    # Amazon's limits 50 times faster: a searchOrders token every 3.6 s
    with Sandbox(rate_scale=50) as sandbox:
        amazon_shop(sandbox)
        yield sandbox


@pytest.fixture(scope='module')
def agent(sync_erp, marketplace, tmp_path_factory):
    return agent_runner(sync_erp, marketplace,
        tmp_path_factory.mktemp('agent'), {'amazon': MAPPING},
        channels=[('amazon', 'amazon')], key='amazon_key')


def run(agent, *jobs):
    "Each job once (all of them when none is named) in one agent process"
    done = agent('once', *(f'--job={job}' for job in jobs))
    assert done.returncode == 0, done.stderr
    return done


def test_an_amazon_seller_from_order_to_refund(sync_erp, marketplace, agent):
    shop = marketplace.shop('amazon')
    tryton = staff(sync_erp)
    Sale = Model.get('sale.sale', config=tryton)
    run(agent, 'orders', 'stock')  # Amazon shows what the ERP has to sell
    assert shop.inventory('TEE-BLK-S') == 500

    shop.reset_calls()
    mine = shop.create_order(status='paid', lines=[('TEE-BLK-S', 2)])
    amazons = shop.create_fba_order(lines=[(FBA_MUG, 1)])
    shop.faults.set(throttle_next=3, retry_after_s=0.2)
    # The import wakes the stock push for what it reserved
    log = run(agent, 'orders').stderr

    assert shop.faults.fired['throttle_next'] == 3
    seller, = Sale.find([('oms_channel.code', '=', 'amazon'),
            ('oms_external_id', '=', shop.order_id(mine))])
    fba, = Sale.find([('oms_channel.code', '=', 'amazon'),
            ('oms_external_id', '=', shop.order_id(amazons))])
    assert (seller.oms_state, fba.oms_state) == ('awaiting_shipment',
        'shipped')
    assert [s.state for s in seller.shipments] == ['assigned']
    assert (fba.oms_channel_fulfils, fba.shipments) == (True, [])
    assert not fba.oms_exception
    # The T-shirts reserved: one PATCH, not a feed; the FBA mug's count
    # is Amazon's
    assert shop.inventory('TEE-BLK-S') == 498
    stock_calls = {call: n for call, n in shop.calls.items()
        if call in STOCK_OPERATIONS}
    assert stock_calls == {'patchListingsItem': 1}

    # The parcel leaves; a refund is made in Seller Central. Every job,
    # twice: the parcel confirmed once, the refund one return request,
    # the orders still one each
    ship(tryton, 'amazon', shop.order_id(mine), 'JD014600006281')
    shop.refund(shop.order_id(mine), lines={'TEE-BLK-S': 1})
    log += run(agent).stderr
    log += run(agent).stderr

    package, = shop.shipments(shop.order_id(mine))
    assert (package['carrier'], package['trackingNumber']) == (
        'DHL', 'JD014600006281')
    assert shop.calls['confirmShipment'] == 1
    Return = Model.get('oms.return', config=tryton)
    refunded, = Return.find([('channel.code', '=', 'amazon')])
    assert (refunded.source, refunded.state) == ('channel', 'refunded')
    assert [(li.product.code, li.quantity) for li in refunded.lines] == [
        ('TEE-BLK-S', 1)]
    assert len(Sale.find([('oms_channel.code', '=', 'amazon')])) == 2

    status = agent('status').stdout
    assert 'next_call=' in status  # when searchOrders allows the next
    for secret in SECRETS:
        assert secret not in log + status
    assert 'Atza|' not in log
