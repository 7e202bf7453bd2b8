"""The sandbox's Taobao seller, driven over HTTP with plain requests as a
TOP adapter would drive it (marketplace-apis.md §5)."""
import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

import pytest
import requests

from sandbox.__main__ import build, describe
from sandbox.shop import MALFORMED
from sandbox.taobao.signing import sign

CST = dt.timezone(dt.timedelta(hours=8))
ALL_FIELDS = ('tid,tid_str,status,type,created,modified,pay_time,end_time,'
    'consign_time,payment,total_fee,post_fee,discount_fee,adjust_fee,'
    'buyer_nick,buyer_open_uid,buyer_message,receiver_name,receiver_mobile,'
    'receiver_address,receiver_state,receiver_city,receiver_district,'
    'receiver_town,receiver_zip,receiver_country,oaid,step_trade_status,'
    'step_paid_fee,orders')
REFUND_FIELDS = ('refund_id,tid,oid,title,num,total_fee,refund_fee,status,'
    'created,modified,good_status,has_good_return,reason,desc,company_name,'
    'sid,order_status,refund_phase,outer_id')


@pytest.fixture
def shop(sandbox):
    shop = sandbox.add_taobao('tb')
    shop.add_product('MUG-RED', '红色马克杯', '97.50', stock=40)
    shop.add_product('MUG-BLUE', '蓝色马克杯', '90.00', stock=40)
    shop.add_product('TEE', 'T恤', '20.00', stock=40)
    return shop


def when(shop, seconds=0.0):
    "The sandbox's time, shifted, as TOP writes it (GMT+8)"
    return (shop.now() + dt.timedelta(seconds=seconds)).astimezone(
        CST).strftime('%Y-%m-%d %H:%M:%S')


def top(shop, method, sign_method='md5', get=False, secret=None,
        **params):
    """A TOP call signed as the adapter signs it; a parameter given None
    is left out, a sign given is sent as is"""
    values = {'method': method, 'app_key': shop.app_key,
        'session': shop.session, 'timestamp': when(shop), 'format': 'json',
        'v': '2.0', 'sign_method': sign_method, **params}
    values = {k: str(v) for k, v in values.items() if v is not None}
    if 'sign' not in params:
        values['sign'] = sign(values, secret or shop.app_secret, sign_method)
    url = f'{shop.base_url}/router/rest'
    answer = requests.get(url, params=values) if get else requests.post(
        url, data=values)
    assert answer.status_code == 200, answer.text
    assert answer.headers['Content-Type'].startswith('application/json')
    return answer


def error(answer):
    return answer.json()['error_response']


def trades(shop, start=-6 * 3600, end=3600, **params):
    "increment.get over [now + start, now + end] (seconds)"
    return top(shop, 'taobao.trades.sold.increment.get',
        fields=params.pop('fields', ALL_FIELDS),
        start_modified=when(shop, start), end_modified=when(shop, end),
        **params)


def fullinfo(shop, tid, fields=ALL_FIELDS):
    return top(shop, 'taobao.trade.fullinfo.get', tid=tid, fields=fields)


# -- signing and the router ------------------------------------------------

def test_signatures_match_ones_computed_by_hand():
    params = {'method': 'taobao.trade.fullinfo.get', 'app_key': '12345678',
        'timestamp': '2026-01-15 18:00:00', 'v': '2.0', 'format': 'json',
        'fields': 'tid,收货人', 'empty': '', 'sign': 'ignored'}
    text = ('app_key12345678fieldstid,收货人formatjsonmethod'
        'taobao.trade.fullinfo.gettimestamp2026-01-15 18:00:00v2.0')
    secret = 'sandbox-secret'
    key, data = secret.encode(), text.encode('utf-8')
    assert sign(params, secret) == sign(params, secret, 'md5') == \
        hashlib.md5(key + data + key).hexdigest().upper()
    assert sign(params, secret, 'hmac') == hmac.new(key, data,
        hashlib.md5).hexdigest().upper()
    assert sign(params, secret, 'hmac-sha256') == hmac.new(key, data,
        hashlib.sha256).hexdigest().upper()
    # Known values, not only the same formula twice
    assert sign({'a': '1', 'b': ''}, 's') == \
        '585B98956D9738EDEC5CBD8443F7A228'
    assert sign({'a': '1'}, 's', 'hmac') == \
        '7725A196CAE62DAADC4ED7C684035376'
    assert sign({'a': '1'}, 's', 'hmac-sha256') == (
        'F28CE911BCA3AA1AE3FC1E869317763E0D7BFC085113560A52A2E9014E2A5D24')


def test_every_sign_method_and_get_are_accepted(shop):
    shop.create_order(status='paid', lines=[('MUG-RED', 1)])
    for method in ('md5', 'hmac', 'hmac-sha256'):
        body = trades(shop, sign_method=method).json()
        assert body['trades_sold_increment_get_response'][
            'total_results'] == 1, method
    by_get = top(shop, 'taobao.trades.sold.increment.get', get=True,
        fields='tid', start_modified=when(shop, -60),
        end_modified=when(shop, 60)).json()
    response = by_get['trades_sold_increment_get_response']
    assert len(response['request_id']) == 13
    assert shop.calls['taobao.trades.sold.increment.get'] == 4


def test_the_router_refuses_in_tops_order(shop):
    method = 'taobao.trades.sold.increment.get'
    cases = [
        (dict(method=None), 40, 'isv.missing-parameter:method'),
        (dict(method='taobao.nothing.get'), 22, None),
        (dict(app_key='999', sign='0'), 29, None),
        (dict(app_key=None), 28, None),
        (dict(timestamp=None), 40, 'isv.missing-parameter:timestamp'),
        (dict(timestamp=when(shop, -11 * 60)), 31, None),
        (dict(timestamp=when(shop, 11 * 60)), 31, None),
        (dict(timestamp='2026-01-15T18:00:00'), 31, None),
        (dict(v='1.0'), 41, 'isv.invalid-parameter:v'),
        (dict(format='xml'), 21, None),
        (dict(sign_method='md6', sign='0'), 41,
            'isv.invalid-parameter:sign_method'),
        (dict(sign=None), 40, 'isv.missing-parameter:sign'),
        (dict(sign='0' * 32, session='wrong'), 25, None),
        (dict(session=None), 26, None),
        (dict(session='wrong'), 27, None),
        (dict(fields=None), 40, 'isv.missing-parameter:fields'),
        ]
    for params, code, sub_code in cases:
        params = {'fields': 'tid', 'start_modified': when(shop, -60),
            'end_modified': when(shop, 60), **params}
        answer = error(top(shop, params.pop('method', method), **params))
        assert answer['code'] == code, (params, answer)
        assert answer.get('sub_code') == sub_code, (params, answer)
        assert len(answer['request_id']) == 13
    # Signed with another secret: the signature is wrong
    assert error(trades(shop, secret='other'))['code'] == 25
    # Nine minutes off is within the skew
    assert 'error_response' not in top(shop, method, fields='tid',
        timestamp=when(shop, -9 * 60), start_modified=when(shop, -60),
        end_modified=when(shop, 60)).json()


def test_an_unknown_path_is_not_the_router(shop):
    assert requests.post(f'{shop.base_url}/rest').status_code == 404


# -- trades ----------------------------------------------------------------

def test_sold_trades_come_newest_first_by_page(shop):
    made = shop.generate_orders(12, seed=1, spread_hours=2)
    expected = sorted(made, key=lambda t: (t['modified'], t['tid']),
        reverse=True)
    body = trades(shop, page_size=5).json()[
        'trades_sold_increment_get_response']
    assert body['total_results'] == 12 and 'has_next' not in body
    seen = []
    for page_no in (1, 2, 3):
        page = trades(shop, page_size=5, page_no=page_no,
            use_has_next='true').json()['trades_sold_increment_get_response']
        assert 'total_results' not in page
        assert page['has_next'] == (page_no < 3)
        seen += page['trades']['trade']
    assert [t['tid'] for t in seen] == [t['tid'] for t in expected]
    # A trade modified during the scan moves to page 1
    oldest = expected[-1]
    shop.update_order(oldest['tid'], adjust_fee='-1.00')
    first = trades(shop, page_size=5).json()[
        'trades_sold_increment_get_response']['trades']['trade']
    moved = shop.order(oldest['tid'])['modified']
    assert oldest['tid'] in [t['tid'] for t in first]
    assert moved == max(t['modified'] for t in first)
    # Both bounds are included
    later = (dt.datetime.fromisoformat(moved) + dt.timedelta(minutes=1)
        ).strftime('%Y-%m-%d %H:%M:%S')
    edge = top(shop, 'taobao.trades.sold.increment.get', fields='tid',
        start_modified=moved, end_modified=later).json()
    assert oldest['tid'] in [t['tid'] for t in edge[
            'trades_sold_increment_get_response']['trades']['trade']]
    # Nothing found: no trades key at all
    empty = trades(shop, start=3600, end=7200).json()[
        'trades_sold_increment_get_response']
    assert 'trades' not in empty and empty['total_results'] == 0


def test_sold_trades_filter_and_refuse_windows(shop):
    paid = shop.create_order(status='paid', lines=['TEE'])
    shop.create_order(status='pending', lines=['TEE'])
    step = shop.create_order(step=True, lines=['TEE'])

    def tids(**params):
        body = trades(shop, **params).json()[
            'trades_sold_increment_get_response']
        return [t['tid'] for t in body.get('trades', {}).get('trade', [])]
    assert tids(status='WAIT_SELLER_SEND_GOODS') == [paid['tid']]
    assert tids(type='step') == [step['tid']]
    # fixed trades are in the default types, not in TOP's list alone
    assert len(tids()) == 3
    assert step['tid'] not in tids(type='guarantee_trade,fixed')
    assert tids(type='guarantee_trade,auto_delivery') == []
    for params, name in [
            (dict(start=-2 * 86400, end=0), 'end_modified'),
            (dict(start=0, end=0), 'end_modified'),
            (dict(start=-91 * 86400, end=-91 * 86400 + 60),
                'start_modified'),
            (dict(status='PAID'), 'status'),
            (dict(page_size=101), 'page_size'),
            (dict(page_no=0), 'page_no')]:
        answer = error(trades(shop, **params))
        assert (answer['code'], answer['sub_code']) == (
            41, f'isv.invalid-parameter:{name}'), params


def test_fields_are_honoured_and_the_list_serves_a_subset(shop):
    trade = shop.create_order(status='paid', lines=[('MUG-RED', 2), 'TEE'],
        note='请用纸箱')
    listed = trades(shop).json()['trades_sold_increment_get_response'][
        'trades']['trade'][0]
    for absent in ('buyer_message', 'step_paid_fee', 'buyer_open_uid'):
        assert absent not in listed
    line = listed['orders']['order'][0]
    for absent in ('adjust_fee', 'discount_fee', 'sku_properties_name',
            'invoice_no', 'logistics_company'):
        assert absent not in line
    assert {'oid', 'oid_str', 'sku_id', 'outer_sku_id', 'price', 'num',
        'payment', 'refund_status'} <= set(line)
    few = trades(shop, fields='tid,status,orders.outer_sku_id,orders.num,'
        'nonsense').json()['trades_sold_increment_get_response']['trades'][
        'trade'][0]
    assert few == {'tid': trade['tid'], 'status': 'WAIT_SELLER_SEND_GOODS',
        'orders': {'order': [{'outer_sku_id': 'MUG-RED', 'num': 2},
                {'num': 1}]}}
    full = fullinfo(shop, trade['tid']).json()[
        'trade_fullinfo_get_response']['trade']
    assert full == shop.order(trade['tid'])
    assert full['buyer_message'] == '请用纸箱'
    assert full['orders']['order'][0]['sku_properties_name'] == \
        '颜色分类:红色马克杯'
    assert set(fullinfo(shop, trade['tid'], 'tid,payment').json()[
            'trade_fullinfo_get_response']['trade']) == {'tid', 'payment'}


def test_fullinfo_serves_big_tids_exactly(shop):
    trade = shop.create_order(status='paid', lines=[('MUG-RED', 2)],
        shipping_price='5.00')
    tid = trade['tid']
    assert tid > 2**53 and float(tid) != tid
    answer = fullinfo(shop, trade['tid_str'])
    oid = trade['orders']['order'][0]['oid']
    # The JSON text holds the integers exactly
    assert f'"tid":{tid},"tid_str":"{tid}"' in answer.text
    assert f'"oid":{oid},"oid_str":"{oid}"' in answer.text
    served = answer.json()['trade_fullinfo_get_response']['trade']
    assert served['tid'] == tid
    # Money: what the buyer pays, with 2 decimals
    assert (served['total_fee'], served['post_fee'], served['payment']) == (
        '195.00', '5.00', '200.00')
    [line] = served['orders']['order']
    assert (line['price'], line['num'], line['total_fee'], line['payment'],
        line['sku_id'], line['outer_iid']) == ('97.50', 2, '195.00',
        '200.00', str(shop.item('MUG')['skus']['sku'][0]['sku_id']), 'MUG')
    missing = error(fullinfo(shop, tid + 1))
    assert (missing['code'], missing['sub_code']) == (15,
        'isv.trade-not-exist')
    assert error(fullinfo(shop, 'abc'))['sub_code'] == \
        'isv.invalid-parameter:tid'


def test_statuses_step_trades_and_stock(shop):
    step = shop.create_order(step=True, lines=[('MUG-RED', 2)])
    assert (step['type'], step['status'], step['step_trade_status'],
        step['step_paid_fee'], 'pay_time' in step) == ('step',
        'WAIT_BUYER_PAY', 'FRONT_PAID_FINAL_NOPAID', '39.00', False)
    assert shop.inventory('MUG-RED') == 38
    paid = shop.pay_final(step['tid'])
    assert (paid['status'], paid['step_trade_status'], 'pay_time' in paid) \
        == ('WAIT_SELLER_SEND_GOODS', 'FRONT_PAID_FINAL_PAID', True)
    assert paid['modified'] > step['modified']
    with pytest.raises(ValueError):
        shop.pay_final(step['tid'])
    held = shop.forbid_consign(step['tid'])
    assert held['status'] == 'PAID_FORBID_CONSIGN'
    assert shop.update_order(step['tid'], status='paid')['status'] == \
        'WAIT_SELLER_SEND_GOODS'

    unpaid = shop.create_order(status='pending', lines=[('TEE', 3)])
    assert shop.inventory('TEE') == 37
    closed = shop.close(unpaid['tid'])
    assert closed['status'] == 'TRADE_CLOSED_BY_TAOBAO' and 'end_time' in \
        closed
    assert shop.inventory('TEE') == 40
    with pytest.raises(ValueError):
        shop.close(step['tid'])  # paid: closes through refunds

    # Cancelling a paid trade refunds it: TRADE_CLOSED, stock back
    sold = shop.create_order(status='paid', lines=[('TEE', 2)])
    cancelled = shop.update_order(sold['tid'], status='cancelled')
    assert cancelled['status'] == 'TRADE_CLOSED'
    [refund] = shop.refunds(sold['tid'])
    assert (refund['status'], refund['refund_fee'], refund['num']) == (
        'SUCCESS', cancelled['payment'], 2)
    assert shop.inventory('TEE') == 40

    shipped = shop.create_order(status='fulfilled', lines=['MUG-BLUE'])
    line = shipped['orders']['order'][0]
    assert (shipped['status'], line['status'], line['logistics_company']) \
        == ('WAIT_BUYER_CONFIRM_GOODS', 'WAIT_BUYER_CONFIRM_GOODS', '顺丰速运')
    assert shop.shipments(shipped['tid']) == [{'out_sid': line['invoice_no'],
            'company_code': 'SF', 'oids': [line['oid']]}]
    assert shop.buyer_signed(shipped['tid'])['status'] == \
        'TRADE_BUYER_SIGNED'
    done = shop.finish(shipped['tid'])
    assert done['status'] == 'TRADE_FINISHED' and 'end_time' in done
    assert shop.create_order(status='completed', lines=['TEE'])[
        'status'] == 'TRADE_FINISHED'
    part = shop.create_order(status='partially_fulfilled',
        lines=['TEE', 'MUG-BLUE'])
    assert [o['status'] for o in part['orders']['order']] == [
        'WAIT_BUYER_CONFIRM_GOODS', 'WAIT_SELLER_SEND_GOODS']
    with pytest.raises(ValueError):
        shop.update_order(step['tid'], status='ON_HOLD')


def test_every_malformed_kind_is_served(shop):
    for kind in MALFORMED:
        trade = shop.create_malformed_order(kind, lines=['MUG-RED'])
        served = fullinfo(shop, trade['tid']).json()[
            'trade_fullinfo_get_response']['trade']
        assert served == trade, kind
    served = {t['tid']: t for t in shop.orders()}
    assert sum('payment' not in t for t in served.values()) == 1
    assert sum(t.get('payment', '').startswith('¥')
        for t in served.values()) == 1
    assert sum(t['created'] == '2026-13-45 25:61:00'
        for t in served.values()) == 1
    lines = [t['orders']['order'][0] for t in served.values()]
    assert {'two', 10**15} <= {line['num'] for line in lines}
    assert any('\x00' in line['title'] for line in lines)
    # A bad date still sorts: modified is good
    assert trades(shop).json()['trades_sold_increment_get_response'][
        'total_results'] == len(MALFORMED)


# -- privacy -----------------------------------------------------------------

def test_no_receiver_plaintext_is_ever_served(shop):
    made = shop.generate_orders(60, seed=7, spread_hours=3)
    for trade in made[:10]:
        if trade['status'] == 'WAIT_SELLER_SEND_GOODS':
            shop.refund(trade['tid'], amount='1.00')
    served = b''
    for page_no in (1, 2):
        served += trades(shop, page_no=page_no, page_size=50).content
    for trade in made:
        served += fullinfo(shop, trade['tid']).content
    served += top(shop, 'taobao.refunds.receive.get',
        fields=REFUND_FIELDS).content
    text = served.decode('utf-8')
    receivers = [shop.receiver(t['tid']) for t in made]
    for receiver in receivers:
        for secret in (receiver['name'], receiver['mobile'],
                receiver['address'], receiver['address'].split()[-1]):
            assert secret not in text, secret
    assert len({r['mobile'] for r in receivers}) > 50
    assert all(r['mobile'][:2] in {f'1{n}' for n in range(3, 10)}
        and len(r['mobile']) == 11 for r in receivers)
    # What is served decrypts (for tests) to the plaintext kept
    for trade, receiver in zip(made, receivers, strict=True):
        assert trade['receiver_name'].startswith('~')
        assert trade['receiver_name'].endswith('~1~~')
        assert trade['receiver_mobile'].startswith('$')
        assert trade['receiver_mobile'].endswith('$1$$')
        assert shop.decrypt(trade['receiver_name']) == receiver['name']
        assert shop.decrypt(trade['receiver_mobile']) == receiver['mobile']
        assert shop.decrypt(trade['receiver_address']) == \
            receiver['address']
        assert (trade['receiver_state'], trade['receiver_zip']) == (
            receiver['state'], receiver['zip'])
        assert '**' in trade['buyer_nick'] and len(trade['buyer_nick']) == 4
    with pytest.raises(ValueError):
        shop.decrypt('王小明')


def test_ciphertexts_and_oaid_are_stable_per_receiver(shop, sandbox):
    same = {'name': '王小明', 'mobile': '13800138000',
        'state': '浙江省', 'city': '杭州市', 'district': '西湖区',
        'town': None, 'zip': '310012',
        'address': '文三路 478号 华星时代广场 A座 1203室'}
    one = shop.create_order(status='paid', lines=['TEE'], receiver=same)
    two = shop.create_order(status='paid', lines=['TEE'], receiver=same)
    other = shop.create_order(status='paid', lines=['TEE'],
        receiver=same | {'mobile': '13900139000'})
    for key in ('receiver_name', 'receiver_mobile', 'receiver_address',
            'oaid'):
        assert one[key] == two[key], key
    assert one['oaid'] != other['oaid']
    assert one['receiver_mobile'] != other['receiver_mobile']
    assert len(one['oaid']) == 40
    assert shop.receiver(one['tid'])['name'] == '王小明'
    # Another shop's key: other texts, which this shop cannot read
    elsewhere = sandbox.add_taobao('tb2')
    elsewhere.add_product('TEE', 'T恤', '20.00', stock=5)
    theirs = elsewhere.create_order(lines=['TEE'], receiver=same)
    assert theirs['receiver_name'] != one['receiver_name']
    with pytest.raises(ValueError):
        shop.decrypt(theirs['receiver_name'])
    with pytest.raises(ValueError):
        shop.create_order(lines=['TEE'], receiver={'email': 'x'})


# -- items and stock ---------------------------------------------------------

def test_products_group_into_items(shop):
    assert shop.add_product('KIT-05', 'Kit 5', '10.00', stock=3)['item'] == \
        'KIT'
    assert shop.add_product('SOLO', 'Solo', '1.00', item='BOX')['item'] == \
        'BOX'
    assert shop.add_product('BOX-2', 'Box 2', '1.00', item='BOX')[
        'sku_id'] is not None
    with pytest.raises(ValueError):
        shop.add_product('TEE-XL', 'Tee XL', '20.00')  # TEE has no SKUs
    with pytest.raises(ValueError):
        shop.add_product('MUG-RED', 'again', '1.00')
    mug = shop.item('MUG')
    assert mug['num'] == 80 and mug['num_iid'] >= 600_000_000_000
    assert [s['outer_id'] for s in mug['skus']['sku']] == [
        'MUG-RED', 'MUG-BLUE']
    assert 'skus' not in shop.item('TEE')
    found = top(shop, 'taobao.items.custom.get', outer_id='MUG-BLUE,TEE,NONE',
        fields='num_iid,outer_id,title,num,skus').json()[
        'items_custom_get_response']['items']['item']
    assert [i['outer_id'] for i in found] == ['MUG', 'TEE']
    assert set(found[0]) == {'num_iid', 'outer_id', 'title', 'num', 'skus'}
    sku = found[0]['skus']['sku'][0]
    assert set(sku) >= {'sku_id', 'outer_id', 'quantity', 'properties_name'}
    too_many = top(shop, 'taobao.items.custom.get', fields='num_iid',
        outer_id=','.join(f'C{n}' for n in range(41)))
    assert error(too_many)['sub_code'] == 'isv.invalid-parameter:outer_id'
    nothing = top(shop, 'taobao.items.custom.get', fields='num_iid',
        outer_id='NONE').json()['items_custom_get_response']
    assert 'items' not in nothing


def quantity(shop, **params):
    return top(shop, 'taobao.item.quantity.update', **params).json()


def test_item_quantity_update(shop):
    mug, tee = shop.item('MUG'), shop.item('TEE')
    red, blue = mug['skus']['sku']
    answer = quantity(shop, num_iid=mug['num_iid'], sku_id=red['sku_id'],
        quantity=7)['item_quantity_update_response']['item']
    assert (answer['num_iid'], answer['num']) == (mug['num_iid'], 47)
    assert shop.inventory('MUG-RED') == 7
    # type 2 adds, clamped at zero; outer_id names the SKU
    quantity(shop, num_iid=mug['num_iid'], outer_id='MUG-BLUE',
        quantity=-100, type=2)
    assert shop.inventory('MUG-BLUE') == 0
    quantity(shop, num_iid=tee['num_iid'], quantity=3, type=2)
    assert shop.inventory('TEE') == 43
    # sku_id wins over outer_id
    quantity(shop, num_iid=mug['num_iid'], sku_id=blue['sku_id'],
        outer_id='MUG-RED', quantity=5)
    assert (shop.inventory('MUG-RED'), shop.inventory('MUG-BLUE')) == (7, 5)
    refusals = [
        (dict(num_iid=mug['num_iid'], quantity=1), 15,
            'isv.item-quantity-item-update-service-error:sku-required'),
        (dict(num_iid=mug['num_iid'], sku_id=1, quantity=1), 15,
            'isv.item-quantity-item-update-service-error:sku-not-exist'),
        (dict(num_iid=1, quantity=1), 15,
            'isv.item-not-exist:invalid-numIid'),
        (dict(num_iid=tee['num_iid'], quantity=-1), 41,
            'isv.invalid-parameter:quantity'),
        (dict(num_iid=tee['num_iid'], quantity=1, type=3), 41,
            'isv.invalid-parameter:type'),
        (dict(num_iid=tee['num_iid']), 40, 'isv.missing-parameter:quantity'),
        ]
    for params, code, sub_code in refusals:
        answer = error(top(shop, 'taobao.item.quantity.update', **params))
        assert (answer['code'], answer['sub_code']) == (code, sub_code)
    assert shop.inventory('TEE') == 43


def test_skus_quantity_update_takes_twenty_all_or_nothing(shop):
    for n in range(21):
        shop.add_product(f'KIT-{n:02}', f'Kit {n}', '10.00', stock=20)
    kit = shop.item('KIT')
    ids = [s['sku_id'] for s in kit['skus']['sku']]
    twenty = ';'.join(f'{i}:9' for i in ids[:20])
    answer = top(shop, 'taobao.skus.quantity.update', num_iid=kit['num_iid'],
        skuid_quantities=twenty).json()['skus_quantity_update_response'][
        'item']
    assert answer['num'] == 20 * 9 + 20
    assert [s['quantity'] for s in answer['skus']['sku']] == [9] * 20
    assert {s['sku_id'] for s in answer['skus']['sku']} == set(ids[:20])
    over = top(shop, 'taobao.skus.quantity.update', num_iid=kit['num_iid'],
        skuid_quantities=';'.join(f'{i}:1' for i in ids))
    assert error(over)['sub_code'] == \
        'isv.invalid-parameter:skuid_quantities'
    # A SKU of another item refuses the whole call
    red = shop.item('MUG')['skus']['sku'][0]['sku_id']
    foreign = top(shop, 'taobao.skus.quantity.update',
        num_iid=kit['num_iid'], skuid_quantities=f'{ids[0]}:1;{red}:1')
    assert (error(foreign)['code'], error(foreign)['sub_code']) == (
        15, 'isv.item-sku-not-exist')
    assert shop.inventory('KIT-00') == 9 and shop.inventory('MUG-RED') == 40
    # By outer id, incremental, ignored when skuid_quantities is given
    top(shop, 'taobao.skus.quantity.update', num_iid=kit['num_iid'],
        outerid_quantities='KIT-00:-20;KIT-20:5', type=2)
    assert (shop.inventory('KIT-00'), shop.inventory('KIT-20')) == (0, 25)
    top(shop, 'taobao.skus.quantity.update', num_iid=kit['num_iid'],
        skuid_quantities=f'{ids[1]}:4', outerid_quantities='KIT-02:4')
    assert (shop.inventory('KIT-01'), shop.inventory('KIT-02')) == (4, 9)
    for params, sub_code in [
            (dict(skuid_quantities='a:b'),
                'isv.invalid-parameter:skuid_quantities'),
            (dict(skuid_quantities=f'{ids[0]}:-1'),
                'isv.invalid-parameter:skuid_quantities'),
            (dict(), 'isv.missing-parameter:skuid_quantities')]:
        answer = top(shop, 'taobao.skus.quantity.update',
            num_iid=kit['num_iid'], **params)
        assert error(answer)['sub_code'] == sub_code


# -- shipping ----------------------------------------------------------------

def send(shop, tid, **params):
    return top(shop, 'taobao.logistics.offline.send', tid=tid,
        **{'out_sid': 'SF1234567890', 'company_code': 'SF', **params})


def test_offline_send_ships_once_whole_or_split(shop):
    trade = shop.create_order(status='paid',
        lines=[('MUG-RED', 1), ('TEE', 2), 'MUG-BLUE'])
    tid = trade['tid']
    first, second, third = (o['oid'] for o in trade['orders']['order'])
    split = send(shop, tid, is_split=1, sub_tid=f'{first},{second}',
        out_sid='ZTO000111', company_code='ZTO').json()
    assert split == {'logistics_offline_send_response': {
            'shipping': {'is_success': True},
            'request_id': split['logistics_offline_send_response'][
                'request_id']}}
    part = shop.order(tid)
    assert part['status'] == 'SELLER_CONSIGNED_PART'
    assert part['modified'] > trade['modified'] and 'consign_time' in part
    lines = part['orders']['order']
    assert [(o['status'], o.get('invoice_no'), o.get('logistics_company'))
        for o in lines] == [
        ('WAIT_BUYER_CONFIRM_GOODS', 'ZTO000111', '中通快递'),
        ('WAIT_BUYER_CONFIRM_GOODS', 'ZTO000111', '中通快递'),
        ('WAIT_SELLER_SEND_GOODS', None, None)]
    again = error(send(shop, tid, is_split=1, sub_tid=str(first)))
    assert (again['code'], again['sub_code']) == (
        15, 'isv.logistics-offline-service-error:B12')
    assert error(send(shop, tid, is_split=1, sub_tid='1'))['sub_code'] == \
        'isv.logistics-offline-service-error:B30'
    assert error(send(shop, tid, is_split=1))['sub_code'] == \
        'isv.missing-parameter:sub_tid'
    assert error(send(shop, tid, company_code='UPS'))['sub_code'] == \
        'isv.logistics-company-not-exist'
    # The rest
    assert 'error_response' not in send(shop, tid).json()
    done = shop.order(tid)
    assert done['status'] == 'WAIT_BUYER_CONFIRM_GOODS'
    assert done['orders']['order'][2]['invoice_no'] == 'SF1234567890'
    assert shop.shipments(tid) == [
        {'out_sid': 'ZTO000111', 'company_code': 'ZTO',
            'oids': [first, second]},
        {'out_sid': 'SF1234567890', 'company_code': 'SF', 'oids': [third]}]
    refused = error(send(shop, tid))
    assert (refused['code'], refused['sub_code']) == (
        15, 'isv.logistics-offline-service-error:B04')
    assert 'WAIT_BUYER_CONFIRM_GOODS' in refused['sub_msg']
    assert len(shop.shipments(tid)) == 2

    unpaid = shop.create_order(status='pending', lines=['TEE'])
    assert error(send(shop, unpaid['tid']))['sub_code'].endswith(':B04')
    held = shop.create_order(status='paid', lines=['TEE'])
    shop.forbid_consign(held['tid'])
    assert error(send(shop, held['tid']))['sub_code'].endswith(':B27')
    assert error(send(shop, str(tid + 1)))['sub_code'] == \
        'isv.trade-not-exist'
    for name in ('out_sid', 'company_code'):
        assert error(send(shop, held['tid'], **{name: None}))[
            'sub_code'] == f'isv.missing-parameter:{name}'


# -- refunds -----------------------------------------------------------------

def listed_refunds(shop, **params):
    return top(shop, 'taobao.refunds.receive.get', fields=params.pop(
            'fields', REFUND_FIELDS), **params).json()[
        'refunds_receive_get_response']


def test_refunds_are_listed_and_close_the_trade(shop):
    trade = shop.create_order(status='paid', lines=[('MUG-RED', 2), 'TEE'])
    tid = trade['tid']
    mug, tee = trade['orders']['order']
    asked = shop.open_refund(tid, 'MUG-RED', '50.00', reason='拍错了')
    assert asked['refund_id'] > 2**53
    line = shop.order(tid)['orders']['order'][0]
    assert (line['refund_status'], line['refund_id']) == (
        'WAIT_SELLER_AGREE', asked['refund_id'])
    assert shop.order(tid)['modified'] > trade['modified']
    listed = listed_refunds(shop)
    assert listed['total_results'] == 1
    [served] = listed['refunds']['refund']
    assert served == asked
    assert (served['tid'], served['oid'], served['refund_fee'],
        served['refund_phase'], served['has_good_return'],
        served['outer_id']) == (tid, mug['oid'], '50.00', 'onsale', False,
        'MUG-RED')
    assert f'"refund_id":{asked["refund_id"]}' in top(shop,
        'taobao.refunds.receive.get', fields='refund_id').text
    # Refused, then asked again and settled: the line stays open, partly
    shop.set_refund_status(asked['refund_id'], 'SELLER_REFUSE_BUYER')
    shop.set_refund_status(asked['refund_id'], 'CLOSED')
    with pytest.raises(ValueError):
        shop.set_refund_status(asked['refund_id'], 'SUCCESS')
    assert shop.order(tid)['orders']['order'][0]['refund_status'] == \
        'CLOSED'
    # The platform refunds everything: lines closed, the trade closed
    made = shop.refund(tid)
    assert [r['refund_fee'] for r in made] == [mug['payment'],
        tee['payment']]
    closed = shop.order(tid)
    assert closed['status'] == 'TRADE_CLOSED'
    assert [o['status'] for o in closed['orders']['order']] == [
        'TRADE_CLOSED'] * 2
    assert [o['refund_status'] for o in closed['orders']['order']] == [
        'SUCCESS'] * 2
    assert shop.inventory('MUG-RED') == 40 and shop.inventory('TEE') == 40
    with pytest.raises(ValueError):
        shop.refund(tid, amount='1.00')
    # Newest first; filters; pages
    assert [r['refund_id'] for r in listed_refunds(shop)['refunds'][
            'refund']] == [made[1]['refund_id'], made[0]['refund_id'],
        asked['refund_id']]
    assert listed_refunds(shop, status='SUCCESS')['total_results'] == 2
    page = listed_refunds(shop, page_size=2, page_no=2, use_has_next='true')
    assert page['has_next'] is False and len(page['refunds']['refund']) == 1
    assert 'refunds' not in listed_refunds(shop,
        start_modified=when(shop, 60), end_modified=when(shop, 120))
    assert set(listed_refunds(shop, fields='refund_id,status')['refunds'][
            'refund'][0]) == {'refund_id', 'status'}
    assert error(top(shop, 'taobao.refunds.receive.get', fields='tid',
            status='DONE'))['sub_code'] == 'isv.invalid-parameter:status'


def test_a_partial_refund_leaves_the_trade_open(shop):
    trade = shop.create_order(status='paid', lines=[('TEE', 2)])
    [refund] = shop.refund(trade['tid'], amount=Decimal('4.00'))
    assert (refund['status'], refund['refund_fee']) == ('SUCCESS', '4.00')
    after = shop.order(trade['tid'])
    assert after['status'] == 'WAIT_SELLER_SEND_GOODS'
    assert after['orders']['order'][0]['refund_status'] == 'SUCCESS'
    with pytest.raises(ValueError):
        shop.refund(trade['tid'], amount='1000.00')
    pending = shop.create_order(status='pending', lines=['TEE'])
    with pytest.raises(ValueError):
        shop.refund(pending['tid'])


def test_a_return_is_a_refund_with_goods(shop):
    trade = shop.create_order(status='fulfilled', lines=[('MUG-RED', 2)])
    [asked] = shop.request_return(trade['tid'], {'MUG-RED': 1})
    assert (asked['has_good_return'], asked['status'], asked['num'],
        asked['refund_fee'], asked['refund_phase'], asked['good_status']) \
        == (True, 'WAIT_SELLER_AGREE', 1, '97.50', 'aftersale',
            'BUYER_RECEIVED')
    assert 'sid' not in asked
    shop.set_refund_status(asked['refund_id'], 'WAIT_BUYER_RETURN_GOODS')
    sent = shop.return_goods(asked['refund_id'], 'YT8888', '圆通速递')
    assert (sent['status'], sent['sid'], sent['company_name'],
        sent['good_status']) == ('WAIT_SELLER_CONFIRM_GOODS', 'YT8888',
        '圆通速递', 'BUYER_RETURNED_GOODS')
    with pytest.raises(ValueError):
        shop.return_goods(asked['refund_id'], 'YT8888', '圆通速递')
    done = shop.set_refund_status(asked['refund_id'], 'SUCCESS')
    assert done['order_status'] == 'WAIT_BUYER_CONFIRM_GOODS'
    # Shipped goods refunded: the trade stays as shipped
    assert shop.order(trade['tid'])['status'] == 'WAIT_BUYER_CONFIRM_GOODS'


# -- call limits and faults ----------------------------------------------

def test_call_limits_ban_for_the_seconds_said(shop):
    shop.set_options(calls_per_second=2, ban_s=3)

    def call():
        return trades(shop, fields='tid').json()
    assert 'error_response' not in call() and 'error_response' not in call()
    banned = call()['error_response']
    assert {k: banned[k] for k in ('code', 'msg', 'sub_code', 'sub_msg')} \
        == {'code': 7, 'msg': 'App Call Limited',
            'sub_code': 'accesscontrol.limited-by-app-access-count',
            'sub_msg': 'This ban will last for 3 more seconds'}
    still = call()['error_response']
    assert still['code'] == 7 and still['sub_msg'] in (
        'This ban will last for 3 more seconds',
        'This ban will last for 2 more seconds')
    # A new limit starts afresh
    shop.set_options(calls_per_second=0)
    assert 'error_response' not in call()
    with pytest.raises(ValueError):
        shop.set_options(calls_per_second=-1)
    with pytest.raises(ValueError):
        shop.set_options(ban_s=1.5, nonsense=1)
    assert shop.options() == {'calls_per_second': 0.0, 'ban_s': 3,
        'skew_s': 600.0}


def test_fault_knobs_answer_as_top(shop):
    shop.faults.set(throttle_next=1, retry_after_s=2.5)
    throttled = error(trades(shop, fields='tid'))
    assert (throttled['code'], throttled['sub_msg']) == (
        7, 'This ban will last for 3 more seconds')
    shop.faults.set(error_next=1, error_status=500)
    failed = error(trades(shop, fields='tid'))
    assert (failed['code'], failed['sub_code']) == (
        15, 'isp.top-remote-unknown-error')
    shop.faults.set(error_next=1, error_status=503, retry_after_s=1)
    proxy = requests.post(f'{shop.base_url}/router/rest')
    assert proxy.status_code == 503 and proxy.headers['Retry-After'] == '1'
    shop.faults.set(malformed_next=1)
    with pytest.raises(json.JSONDecodeError):
        json.loads(trades(shop, fields='tid').content)
    assert 'error_response' not in trades(shop, fields='tid').json()


# -- control API -------------------------------------------------------------

def test_control_routes_for_taobao(sandbox):
    control = f'{sandbox.url}/_sandbox/shops'
    made = requests.post(control, json={'kind': 'taobao', 'name': 'ctl-t',
            'app_key': '777', 'calls_per_second': 50})
    assert made.status_code == 201
    assert made.json()['credentials'] == {'app_key': '777',
        'app_secret': 'sandbox-secret', 'session': '6100sandbox-session'}
    assert made.json()['options']['calls_per_second'] == 50
    assert made.json()['currency'] == 'CNY'
    shop = f'{control}/ctl-t'
    assert requests.post(f'{shop}/products', json=[{'sku': 'CUP-RED',
                'title': '杯', 'price': '8.00', 'stock': 9}]).json()[
        'products'][0]['item'] == 'CUP'
    assert requests.put(f'{shop}/options', json={'ban_s': -1}
        ).status_code == 400
    generated = requests.post(f'{shop}/orders/generate', json={'count': 2,
            'seed': 1, 'status': 'paid'}).json()['created']
    assert generated[0]['id'].isdigit() and 'updated_at' in generated[0]

    step = requests.post(f'{shop}/orders', json={'step': True,
            'lines': [['CUP-RED', 1]]}).json()
    tid = step['tid_str']
    assert requests.post(f'{shop}/orders/{tid}/pay-final').json()[
        'status'] == 'WAIT_SELLER_SEND_GOODS'
    assert requests.post(f'{shop}/orders/{tid}/forbid-consign').json()[
        'status'] == 'PAID_FORBID_CONSIGN'
    assert requests.post(f'{shop}/orders/{tid}', json={
            'status': 'fulfilled'}).json()['status'] == \
        'WAIT_BUYER_CONFIRM_GOODS'
    assert requests.post(f'{shop}/orders/{tid}/buyer-signed').json()[
        'status'] == 'TRADE_BUYER_SIGNED'
    assert requests.post(f'{shop}/orders/{tid}/finish').json()[
        'status'] == 'TRADE_FINISHED'
    assert requests.post(f'{shop}/orders/{tid}/close').status_code == 400
    unpaid = requests.post(f'{shop}/orders', json={'status': 'pending',
            'lines': [['CUP-RED', 1]]}).json()['tid_str']
    assert requests.post(f'{shop}/orders/{unpaid}/close').json()[
        'status'] == 'TRADE_CLOSED_BY_TAOBAO'

    receiver = requests.get(f'{shop}/orders/{tid}/receiver').json()
    assert requests.post(f'{shop}/decrypt', json={
            'text': step['receiver_name']}).json() == {
        'plain': receiver['name']}
    asked = requests.post(f'{shop}/orders/{tid}/refunds', json={
            'sku_or_oid': 'CUP-RED', 'amount': '3.00',
            'has_good_return': True})
    assert asked.status_code == 201
    refund_id = asked.json()['refund_id']
    sent = requests.post(f'{shop}/refunds/{refund_id}/return-goods', json={
            'sid': 'SF1', 'company_name': '顺丰速运'}).json()
    assert sent['status'] == 'WAIT_SELLER_CONFIRM_GOODS'
    assert requests.post(f'{shop}/refunds/{refund_id}', json={
            'status': 'SUCCESS'}).json()['status'] == 'SUCCESS'
    got = requests.get(f'{shop}/orders/{tid}').json()
    assert got['refunds'][0]['refund_id'] == refund_id
    assert got['fulfilments'][0]['company_code'] == 'SF'
    refunded = requests.post(f"{shop}/orders/{generated[0]['id']}/refund",
        json={'amount': '1.00'})
    assert refunded.status_code == 201
    returned = requests.post(f"{shop}/orders/{generated[1]['id']}/returns",
        json={'lines': {'CUP-RED': 1}})
    assert returned.status_code == 201
    left = sandbox.shop('ctl-t').inventory('CUP-RED')
    assert requests.get(f'{shop}/inventory').json() == {'CUP-RED': left}
    assert left < 9
    # Other kinds have none of these
    requests.post(control, json={'kind': 'woocommerce', 'name': 'ctl-w'})
    assert requests.post(f'{control}/ctl-w/orders/1/pay-final'
        ).status_code == 404


def test_a_config_file_builds_a_taobao_shop(sandbox):
    build(sandbox, {'shops': [{'kind': 'taobao', 'name': 'cfg-t',
                'app_key': '555', 'ban_s': 5,
                'products': {'generate': 5, 'seed': 1},
                'orders': {'count': 3, 'seed': 1}}]})
    shop = sandbox.shop('cfg-t')
    assert (shop.app_key, shop.ban_s) == ('555', 5)
    assert len(shop.orders()) == 3
    assert 'app_key 555' in describe(sandbox)
