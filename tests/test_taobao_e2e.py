"""End to end with Taobao, as a seller runs it: a real trytond, the
sandbox's Taobao shop (the TOP router, signed calls) and the agent's own
command line. Trades of every kind (paid, unpaid, closed, a 预售 step
trade, one forbidden to ship, one whose line the buyer asked to refund)
reach the ERP once each, through a call-limit ban, with the right state
and holds; stock reaches Taobao in the fewest calls; a parcel is sent
once with its waybill; a return the buyer asks for becomes one return
request with its waybill back; and no plaintext of the receiver's
encrypted data is stored or logged anywhere."""
import sqlite3
from decimal import Decimal

import pytest
from e2e_harness import SECRETS, agent_runner, ship, staff, taobao_shop

from proteus import Model

from sandbox import Sandbox

MAPPING = "kind: taobao\ncarriers:\n  DHL: SF\n"
# Taobao's flows run the same on either database: the SQLite leg's
pytestmark = pytest.mark.one_backend
STOCK_METHODS = {'taobao.skus.quantity.update',
    'taobao.item.quantity.update'}


@pytest.fixture(scope='module')
def marketplace():
    with Sandbox() as sandbox:
        taobao_shop(sandbox)
        yield sandbox


@pytest.fixture(scope='module')
def agent(sync_erp, marketplace, tmp_path_factory):
    return agent_runner(sync_erp, marketplace,
        tmp_path_factory.mktemp('agent'), {'taobao': MAPPING},
        channels=[('taobao', 'taobao')], key='taobao_key')


def run(agent, *jobs):
    "Each job once (all of them when none is named) in one agent process"
    done = agent('once', *(f'--job={job}' for job in jobs))
    assert done.returncode == 0, done.stderr
    return done


def stock_calls(shop):
    return {m: n for m, n in shop.calls.items() if m in STOCK_METHODS}


def test_a_taobao_shop_on_a_busy_day(sync_erp, marketplace, agent):
    shop = marketplace.shop('taobao')
    tryton = staff(sync_erp)
    Sale = Model.get('sale.sale', config=tryton)

    log = run(agent, 'orders', 'stock').stderr
    # Six listings: the T-shirt's two SKUs in one call, the four items
    # without SKUs one call each
    assert {sku: shop.inventory(sku) for sku in ('TEE-BLK-S', 'MUG-STONE')
        } == {'TEE-BLK-S': 500, 'MUG-STONE': 500}
    assert stock_calls(shop) == {'taobao.skus.quantity.update': 1,
        'taobao.item.quantity.update': 4}

    paid = shop.create_order(status='paid', lines=[('TEE-BLK-S', 2)])
    unpaid = shop.create_order(status='pending', lines=[('MUG-STONE', 1)])
    closed = shop.create_order(status='pending', lines=[('TEE-BLK-M', 1)])
    shop.close(closed['tid'])
    step = shop.create_order(step=True, lines=[('KETTLE-1L', 1)])
    forbidden = shop.create_order(status='paid', lines=[('LAMP-DESK', 1)])
    shop.forbid_consign(forbidden['tid'])
    refunding = shop.create_order(status='paid', lines=[('TOWEL-SET', 1)])
    shop.open_refund(refunding['tid'], 'TOWEL-SET', Decimal('32.00'),
        reason='不想要了')
    trades = [paid, unpaid, closed, step, forbidden, refunding]
    shop.reset_calls()
    shop.faults.set(throttle_next=2, retry_after_s=1)
    log += run(agent, 'orders').stderr
    log += run(agent, 'orders').stderr  # the overlap read again: no copy

    assert shop.faults.fired['throttle_next'] == 2
    sales = {s.oms_external_id: s for s in Sale.find(
            [('oms_channel.code', '=', 'taobao')])}
    assert set(sales) == {t['tid_str'] for t in trades}

    def state(trade):
        sale = sales[trade['tid_str']]
        return sale.oms_state, sale.oms_exception_kind
    assert state(paid) == ('awaiting_shipment', None)
    assert state(unpaid) == ('pending_payment', None)
    assert state(closed) == ('cancelled', None)
    assert state(step) == ('pending_payment', None)  # deposit only
    assert state(forbidden) == ('awaiting_shipment', 'channel_hold')
    assert state(refunding) == ('awaiting_shipment', 'channel_hold')
    assert 'PAID_FORBID_CONSIGN' in sales[forbidden['tid_str']] \
        .oms_exception_reason
    assert 'WAIT_SELLER_AGREE' in sales[refunding['tid_str']] \
        .oms_exception_reason
    # Only the paid trade reserved: its SKU's new count, one call
    assert [s.state for s in sales[paid['tid_str']].shipments] == [
        'assigned']
    assert shop.inventory('TEE-BLK-S') == 498
    assert stock_calls(shop) == {'taobao.skus.quantity.update': 1}
    # The receiver as staff see it: masked, in Zhejiang or wherever the
    # buyer lives, with the OAID the waybill is printed by
    address = sales[paid['tid_str']].shipment_address
    assert (address.party_name, address.oms_oaid) == ('***', paid['oaid'])
    assert address.subdivision and address.subdivision.code.startswith(
        'CN-')
    assert address.country.code == 'CN'

    # The balance of the pre-sale is paid: the kettle is reserved
    shop.pay_final(step['tid'])
    log += run(agent, 'orders').stderr
    kettle, = Sale.find([('oms_external_id', '=', step['tid_str'])])
    assert kettle.oms_state == 'awaiting_shipment'
    assert [s.state for s in kettle.shipments] == ['assigned']

    # The parcel leaves with SF; every job twice: sent once
    ship(tryton, 'taobao', paid['tid_str'], 'SF1234567890123')
    shipment, = sales[paid['tid_str']].shipments
    shipment.reload()
    assert shipment.oms_oaid == paid['oaid']
    log += run(agent).stderr
    log += run(agent).stderr
    sent, = shop.shipments(paid['tid'])
    assert (sent['out_sid'], sent['company_code']) == (
        'SF1234567890123', 'SF')
    assert shop.calls['taobao.logistics.offline.send'] == 1

    # The buyer sends one T-shirt back (退货退款): one return request,
    # with the waybill of the goods on their way
    refund, = shop.request_return(paid['tid'], {'TEE-BLK-S': 1})
    shop.return_goods(refund['refund_id'], 'YT7788990011', '圆通速递')
    log += run(agent, 'returns').stderr
    log += run(agent, 'returns').stderr
    Return = Model.get('oms.return', config=tryton)
    requested, = Return.find([('channel.code', '=', 'taobao')])
    assert (requested.return_goods, requested.return_tracking_number,
        requested.return_carrier) == (True, 'YT7788990011', '圆通速递')
    assert [(li.product.code, li.quantity) for li in requested.lines] == [
        ('TEE-BLK-S', 1)]
    assert len(Sale.find([('oms_channel.code', '=', 'taobao')])) == 6

    # No plaintext of a receiver anywhere: not in the database, not in the
    # agent's state, not in any log
    # TOP encrypts names, mobiles and streets; provinces, cities,
    # districts, towns and postcodes are served in clear
    plaintexts = {shop.receiver(trade['tid'])[name] for trade in trades
        for name in ('name', 'mobile', 'address')}
    assert len(plaintexts) >= 3 * 3 and all(plaintexts)
    database = sync_erp.directory / f'{sync_erp.database}.sqlite'
    with sqlite3.connect(database) as connection:
        dump = '\n'.join(connection.iterdump())
    stored = [dump, agent.state.read_text(encoding='utf-8')] + [
        path.read_text(encoding='utf-8', errors='replace')
        for path in agent.state.parent.rglob('*') if path.is_file()]
    logged = [log, (sync_erp.directory / 'trytond.log').read_text(
            encoding='utf-8', errors='replace')]
    for text in stored + logged:
        for plain in plaintexts:
            assert plain not in text
    assert paid['oaid'] in dump  # what is kept instead
    for secret in SECRETS:
        assert secret not in log
