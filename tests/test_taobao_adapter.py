"""What the Taobao adapter does beyond the conformance kit, against the
sandbox's Taobao shop: signing, TOP's error codes by meaning, 30-minute
windows read from the last page back, a quiet shop's cursor, stock in the
fewest calls per item, split shipments sent once, and the hook that does
not decrypt."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from test_channel_kit import MemoryErp, erp_item

from sync_agent.channels import KINDS
from sync_agent.channels.base import StockUpdate
from sync_agent.channels.taobao.router import ban_seconds, sign
from sync_agent.channels.transport import (
    AuthError,
    ChannelError,
    RateLimiter,
    Transport,
)
from sync_agent.config import ChannelConfig
from sync_agent.flows import ChannelSync
from sync_agent.mapping import Mapping

TAOBAO = KINDS['taobao']
# One item of 45 SKUs (three calls of twenty at most) and three without
COLOURS = [f'CUP-{n:02}' for n in range(45)]
SINGLES = ['LAMP', 'KETTLE', 'TOWEL']


@pytest.fixture
def shop(sandbox):
    shop = sandbox.add_taobao('tb')
    for sku in COLOURS + SINGLES:
        shop.add_product(sku, f'Item {sku}', '10.00', stock=20)
    return shop


def taobao(shop, tmp_path, sleeps=None, erp=None, **settings):
    config = ChannelConfig(code='TB', kind='taobao',
        base_url=shop.base_url, settings={**shop.settings, **settings},
        page_size=5, overlap=120, retry={'attempts': 4, 'max_wait': 1})
    adapter = TAOBAO.adapter(config, shop.credentials, state_dir=tmp_path,
        transport=Transport('TB', RateLimiter(0), attempts=4,
            sleep=(sleeps.append if sleeps is not None else lambda s: None)))
    # The ERP's carriers by Taobao's company codes
    mapping = Mapping(carriers={'SF': 'SF', 'ZTO': 'ZTO'})
    return ChannelSync(config, TAOBAO.mapper, adapter, mapping,
        erp or MemoryErp())


def test_signatures_are_tops():
    "TOP's documented construction, by hand (md5 wraps in the secret)"
    import hashlib
    import hmac
    params = {'method': 'taobao.trade.fullinfo.get', 'v': '2.0',
        'app_key': '12345678', 'fields': 'tid', 'empty': '', 'sign': 'x'}
    joined = 'app_key12345678fieldstidmethodtaobao.trade.fullinfo.getv2.0'

    assert sign(params, 'sec', 'md5') == hashlib.md5(
        f'sec{joined}sec'.encode()).hexdigest().upper()
    assert sign(params, 'sec', 'hmac') == hmac.new(
        b'sec', joined.encode(), 'md5').hexdigest().upper()
    assert sign(params, 'sec', 'hmac-sha256') == hmac.new(
        b'sec', joined.encode(), 'sha256').hexdigest().upper()


@pytest.mark.parametrize('method', ['md5', 'hmac', 'hmac-sha256'])
def test_the_shop_takes_each_sign_method(shop, tmp_path, method):
    shop.generate_orders(2, seed=1, status='paid', spread_hours=0)
    sync = taobao(shop, tmp_path, sign_method=method)

    assert sync.pull_orders()['created'] == 2


def test_a_wrong_secret_fails_at_once_as_refused_credentials(shop,
        tmp_path):
    config = ChannelConfig(code='TB', kind='taobao', base_url=shop.base_url)
    adapter = TAOBAO.adapter(config,
        {**shop.credentials, 'app_secret': 'not-the-secret'},
        transport=Transport('TB', RateLimiter(0), attempts=4))

    with pytest.raises(AuthError, match='code 25'):
        list(adapter.fetch_orders(None))
    assert adapter.calls == 1


def test_a_call_limit_ban_is_waited_out_as_long_as_top_says(shop,
        tmp_path):
    sleeps = []
    sync = taobao(shop, tmp_path, sleeps)
    shop.generate_orders(3, seed=2, status='paid', spread_hours=0)
    shop.faults.set(throttle_next=1, retry_after_s=3)

    assert sync.pull_orders()['created'] == 3
    assert sleeps and 3 <= sleeps[0] < 3.5
    assert ban_seconds("This ban will last for 17 more seconds") == 17


def test_a_clock_off_beijing_time_is_named(shop, tmp_path):
    sync = taobao(shop, tmp_path)
    sync.adapter.router.clock = lambda: dt.datetime.now(dt.UTC) \
        + dt.timedelta(minutes=15)

    with pytest.raises(ChannelError, match='clock'):
        sync.adapter.router.call('taobao.trade.fullinfo.get', tid='1',
            fields='tid')


def test_a_wrong_call_fails_at_once_with_tops_words(shop, tmp_path):
    sync = taobao(shop, tmp_path)

    with pytest.raises(ChannelError, match='isv.trade-not-exist'):
        sync.adapter.router.call('taobao.trade.fullinfo.get',
            tid='3000000000000000001', fields='tid')
    assert sync.adapter.calls == 1


def test_windows_of_30_minutes_read_from_their_last_page(shop, tmp_path):
    """A backfill of 3 hours is six windows; the window of 12 trades, in
    pages of 5, is read page 1 (its size), 3, 2, then 1 again. The newest
    trade, modified after page 1 was first read, leaves the window and
    shifts the rest towards page 1: read there, none skipped; it arrives
    itself with the next scan."""
    made = shop.generate_orders(12, seed=3, status='paid', spread_hours=0)
    sync = taobao(shop, tmp_path, backfill_days=3 / 24)
    pages, moved = [], []
    call = sync.adapter.router.call

    def watched(method, **arguments):
        answer = call(method, **arguments)
        if method == 'taobao.trades.sold.increment.get':
            pages.append((arguments['start_modified'],
                arguments['page_no']))
            if answer.get('total_results') == 12 and not moved:
                moved.append(shop.update_order(made[-1]['tid'],
                        buyer_message='请尽快发货'))
        return answer
    sync.adapter.router.call = watched

    first = sync.pull_orders()
    scanned, pages[:] = list(pages), []
    time.sleep(1.1)  # to the second the trade was modified in
    second = sync.pull_orders()

    starts = sorted({start for start, _ in scanned})
    assert len(starts) == 6
    assert all(b - a == dt.timedelta(minutes=30)
        for a, b in zip(starts, starts[1:], strict=False))
    assert [n for start, n in scanned if start == starts[-1]] == [
        1, 3, 2, 1]
    assert first['created'] == 11 and second['created'] == 1
    assert set(sync.erp.orders) == {t['tid_str'] for t in made}
    moved_order = sync.erp.orders[made[-1]['tid_str']]
    assert moved_order.notes == '请尽快发货'


def test_trades_placed_during_a_scan_push_none_out_of_it(shop, tmp_path):
    """Buyers keep paying while a window is read: a trade placed then is
    left for the next scan (the window ended at a second that was over),
    so it cannot push the rows read last onto pages read already"""
    made = shop.generate_orders(12, seed=4, status='paid', spread_hours=0)
    sync = taobao(shop, tmp_path)
    call = sync.adapter.router.call
    placed = []

    def busy(method, **arguments):
        answer = call(method, **arguments)
        if method == 'taobao.trades.sold.increment.get' and not placed:
            placed.extend(shop.create_order(status='paid',
                    lines=[('LAMP', 1)]) for _ in range(3))
        return answer
    sync.adapter.router.call = busy

    first = sync.pull_orders()
    second = sync.pull_orders()

    assert first['created'] == 12 and second['created'] == 3
    assert set(sync.erp.orders) == {t['tid_str'] for t in made + placed}


def test_a_quiet_shop_moves_its_cursor_to_the_end_of_its_scan(shop,
        tmp_path):
    sync = taobao(shop, tmp_path, backfill_days=1 / 24)

    summary = sync.pull_orders()

    cursor = dt.datetime.fromisoformat(summary['cursor'])
    assert dt.datetime.now(dt.UTC) - cursor < dt.timedelta(seconds=30)


def test_stock_takes_a_call_per_twenty_skus_of_an_item(shop, tmp_path):
    sync = taobao(shop, tmp_path)
    adapter = sync.adapter
    updates = [StockUpdate(sku, 7) for sku in COLOURS + SINGLES] + [
        StockUpdate('NO-SUCH-SKU', 1)]
    adapter.push_stock(updates[:1])  # the SKUs looked up, then kept
    before = dict(shop.calls)

    results = {r.sku: r for r in adapter.push_stock(updates)}

    made = {m: shop.calls[m] - before.get(m, 0) for m in shop.calls
        if shop.calls[m] != before.get(m, 0)}
    assert made == {'taobao.items.custom.get': 2,  # 47 codes: 40 + 7
        'taobao.skus.quantity.update': 3, 'taobao.item.quantity.update': 3}
    assert adapter.stock_calls(COLOURS + SINGLES) == 6
    assert results['NO-SUCH-SKU'].reason == 'unknown_sku'
    assert all(results[s].ok and shop.inventory(s) == 7
        for s in COLOURS + SINGLES)
    assert adapter.read_stock([StockUpdate('CUP-07', 0),
            StockUpdate('NO-SUCH-SKU', 0)]) == {('CUP-07', None): 7}


def test_a_split_shipment_is_sent_once_per_line(shop, tmp_path):
    erp = MemoryErp()
    sync = taobao(shop, tmp_path, erp=erp)
    trade = shop.create_order(status='paid',
        lines=[('CUP-01', 1), ('LAMP', 1)])
    order = TAOBAO.mapper.normalize_order(shop.order(trade['tid']), 'TB')
    cup, lamp = order.lines
    parcel = erp_item(1, order, carrier='SF', carrier_name='SF',
        tracking_number='SF100', shipped_at='2026-11-11T02:00:00Z',
        complete=False)
    parcel['lines'] = parcel['lines'][:1]
    erp.outbox['fulfilments'] = [parcel]
    erp.lose_acks = 1

    first = sync.push_fulfilments()
    second = sync.push_fulfilments()  # acknowledgement lost: read, not sent
    assert (first['pushed'], second.get('already')) == (1, 1), (first,
        second)
    assert shop.order(trade['tid'])['status'] == 'SELLER_CONSIGNED_PART'
    erp.outbox['fulfilments'] = [erp_item(2, order, carrier='ZTO',
            carrier_name='ZTO', tracking_number='ZTO200',
            shipped_at='2026-11-11T03:00:00Z', complete=True)]
    sync.push_fulfilments()

    assert [(s['out_sid'], s['company_code'], s['oids'])
        for s in shop.shipments(trade['tid'])] == [
            ('SF100', 'SF', [int(cup.external_id)]),
            ('ZTO200', 'ZTO', [int(lamp.external_id)])]
    assert shop.calls['taobao.logistics.offline.send'] == 2
    assert shop.order(trade['tid'])['status'] == 'WAIT_BUYER_CONFIRM_GOODS'


def test_a_trade_taobao_forbids_to_ship_is_refused_with_the_reason(shop,
        tmp_path):
    erp = MemoryErp()
    sync = taobao(shop, tmp_path, erp=erp)
    trade = shop.create_order(status='paid', lines=[('LAMP', 1)])
    shop.forbid_consign(trade['tid'])
    order = TAOBAO.mapper.normalize_order(shop.order(trade['tid']), 'TB')
    erp.outbox['fulfilments'] = [erp_item(1, order, carrier='SF',
            tracking_number='SF300', shipped_at='2026-11-11T02:00:00Z',
            complete=True)]

    summary = sync.push_fulfilments()

    assert summary.get('failed') == 1 and not shop.shipments(trade['tid'])
    assert shop.calls['taobao.logistics.offline.send'] == 0


def test_the_decryption_hook_decrypts_nothing(shop, tmp_path):
    adapter = taobao(shop, tmp_path).adapter

    with pytest.raises(NotImplementedError, match='OAID'):
        adapter.decrypt_receiver('oaid', {'name': '~a~b~1~~'})
