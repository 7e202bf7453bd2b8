"""What the Amazon adapter does beyond the conformance kit, against the
sandbox's Amazon shop: Login with Amazon tokens and RDTs, Orders v0, the
two-minute window, a scan paused by searchOrders' rate limit and resumed,
a throttle storm, stock by PATCH or feed with Amazon's refusals, FBA kept
apart, and shipments confirmed once per parcel."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from test_channel_kit import MemoryErp, erp_item

from sync_agent.channels import KINDS
from sync_agent.channels.base import StockUpdate
from sync_agent.channels.transport import RateLimiter, Transport
from sync_agent.config import ChannelConfig
from sync_agent.flows import ChannelSync
from sync_agent.mapping import Mapping

AMAZON = KINDS['amazon']
SKUS = [f'AMZ-{n:02}' for n in range(12)]


@pytest.fixture
def shop(sandbox):
    shop = sandbox.add_amazon('amz')
    for sku in SKUS:
        shop.add_product(sku, f'Item {sku}', '10.00', stock=20)
    shop.add_product('AMZ-FBA', 'Item sold by Amazon', '10.00', stock=50,
        fulfilled_by='AMAZON')
    return shop


def amazon(shop, tmp_path, erp=None, mapping=None, **settings):
    config = ChannelConfig(code='AMZ', kind='amazon',
        base_url=shop.base_url, settings={**shop.settings, **settings},
        page_size=5, overlap=120, retry={'attempts': 4, 'max_wait': 1})
    adapter = AMAZON.adapter(config, shop.credentials, state_dir=tmp_path,
        transport=Transport('AMZ', RateLimiter(0), attempts=4))
    return ChannelSync(config, AMAZON.mapper, adapter, mapping or Mapping(),
        erp or MemoryErp())


def test_the_access_token_is_kept_and_fetched_again_once_expired(
        shop, tmp_path):
    sync = amazon(shop, tmp_path)
    shop.generate_orders(3, seed=1, status='paid', spread_hours=0)
    sync.pull_orders()
    sync.pull_orders()
    assert shop.calls['token'] == 1

    shop.expire_tokens()  # an hour passed, or Amazon ended them early
    summary = sync.pull_orders()

    assert shop.calls['token'] == 2 and summary['read'] == 3


def test_v0_orders_come_with_items_address_and_buyer(shop, tmp_path):
    "Orders v0: getOrders with a Restricted Data Token, items per order"
    erp = MemoryErp()
    sync = amazon(shop, tmp_path, erp, orders_api='v0')
    made = shop.generate_orders(4, seed=2, status='paid', spread_hours=1)

    summary = sync.pull_orders()

    assert summary['created'] == 4 and not erp.held
    assert shop.calls['createRestrictedDataToken'] == 1
    assert shop.calls['getOrderItems'] == 4 and shop.calls['searchOrders'] == 0
    order = erp.orders[shop.order_id(made[0])]
    served = made[0]['recipient']['deliveryAddress']
    assert order.shipping_address.street.startswith(served['addressLine1'])
    assert order.customer.name == made[0]['buyer']['buyerName']
    assert sum(line.unit_price * line.quantity for line in order.lines) > 0


def test_orders_are_read_once_two_minutes_old(shop, tmp_path):
    "The window ends settle_seconds before now, as the API demands"
    shop.set_options(settle_s=120)
    erp = MemoryErp()
    sync = amazon(shop, tmp_path, erp)
    now = dt.datetime.now(dt.UTC)
    old = shop.create_order(status='paid',
        created_at=now - dt.timedelta(minutes=5))
    shop.create_order(status='paid')  # too recent for Amazon to serve

    summary = sync.pull_orders()

    assert list(erp.orders) == [shop.order_id(old)]
    assert summary['created'] == 1


def test_a_scan_paused_by_the_rate_limit_resumes_where_it_stopped(
        shop, tmp_path):
    """searchOrders allows a call in 3 minutes once its burst is spent: the
    scan stops, says when it may go on, keeps the cursor, and goes on
    from its pagination token"""
    shop.set_options(rate_scale=1)  # Amazon's own limits
    erp = MemoryErp()
    sync = amazon(shop, tmp_path, erp)
    shop.generate_orders(12, seed=3, status='paid', spread_hours=1)
    bucket = sync.adapter.buckets['searchOrders']
    bucket.tokens = 1.0  # the burst spent but for one call

    paused = sync.pull_orders()

    assert paused['paused'] and paused['read'] == 5
    assert len(erp.orders) == 5 and erp.order_cursor is None
    next_call = dt.datetime.fromisoformat(paused['next_call'])
    assert next_call > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    assert shop.calls['searchOrders'] == 1

    bucket.tokens = 20.0  # three minutes later, or so
    done = sync.pull_orders()

    assert not done.get('paused') and len(erp.orders) == 12
    assert shop.calls['searchOrders'] == 3  # pages 2 and 3, not page 1
    assert erp.order_cursor is not None and 'next_call' in done


def test_a_throttle_storm_loses_nothing(shop, tmp_path):
    erp = MemoryErp()
    sync = amazon(shop, tmp_path, erp)
    made = shop.generate_orders(12, seed=4, status='paid', spread_hours=1)
    # A drained bucket refills at the stated rate: quickly here
    shop.set_options(rate_scale=1000)
    shop.faults.set(throttle_next=3, retry_after_s=0.05)

    sync.pull_orders()

    assert shop.faults.fired['throttle_next'] == 3
    assert set(erp.orders) == {shop.order_id(o) for o in made}


def test_stock_by_patch_for_a_few_and_a_feed_for_more(shop, tmp_path):
    "Amazon's refusals fail alone, with its words; FBA is Amazon's count"
    sync = amazon(shop, tmp_path)
    adapter = sync.adapter
    few = [StockUpdate(sku, 7) for sku in SKUS[:3]]
    shop.reset_calls()

    assert all(r.ok for r in adapter.push_stock(few))
    assert shop.calls['patchListingsItem'] == 3
    assert shop.calls['createFeed'] == 0

    shop.set_options(feed_error_skus=[SKUS[5]])
    fba = shop.listing('AMZ-FBA')
    many = [StockUpdate(sku, 9) for sku in SKUS]
    many += [StockUpdate('AMZ-FBA', 9), StockUpdate('NO-SUCH-SKU', 9)]
    before = adapter.calls
    results = {r.sku: r for r in adapter.push_stock(many)}

    assert shop.calls['createFeed'] == 1
    assert {sku for sku, r in results.items() if not r.ok} == {
        SKUS[5], 'AMZ-FBA', 'NO-SUCH-SKU'}
    assert results['AMZ-FBA'].error.startswith("fulfilled by Amazon")
    assert results['NO-SUCH-SKU'].reason == 'unknown_sku'
    assert results[SKUS[5]].error  # the processing report's words
    assert {sku: shop.inventory(sku) for sku in SKUS if sku != SKUS[5]} \
        == dict.fromkeys([s for s in SKUS if s != SKUS[5]], 9)
    assert shop.listing('AMZ-FBA') == fba  # untouched
    # Each SKU new to the adapter looked up once, then the feed's calls
    looked_up = len(many) - len(few)
    assert adapter.calls - before == looked_up + adapter.stock_calls(SKUS)

    shown = adapter.read_stock([StockUpdate(SKUS[0], 9),
            StockUpdate('AMZ-FBA', 9), StockUpdate('NO-SUCH-SKU', 9)])
    assert shown == {(SKUS[0], None): 9, ('AMZ-FBA', None): None}


def test_a_parcel_is_confirmed_once_with_its_tracking(shop, tmp_path):
    erp = MemoryErp()
    sync = amazon(shop, tmp_path, erp)
    placed = shop.create_order(status='paid',
        lines=[(SKUS[0], 2), (SKUS[1], 1)])
    order = sync.mapper.normalize_order(shop.order(shop.order_id(placed)))
    first = dict(erp_item(1, order, carrier=None,
            carrier_name='Kurier Schmidt', tracking_number='KS-0001',
            shipped_at='2026-12-06T10:00:00Z', complete=False))
    first['lines'] = first['lines'][:1]
    erp.outbox['fulfilments'] = [first]
    erp.lose_acks = 1

    sync.push_fulfilments()
    again = sync.push_fulfilments()

    assert again.get('already') == 1 and erp.outbox['fulfilments'] == []
    package, = shop.shipments(order.external_id)
    assert (package['carrier'], package['trackingNumber']) == (
        'Kurier Schmidt', 'KS-0001')
    assert package['packageReferenceId'] == 'oms-kit-0001'
    assert shop.calls['confirmShipment'] == 1
    shipped = sync.mapper.normalize_order(shop.order(order.external_id))
    assert shipped.status == 'partially_shipped'


def test_amazon_ships_its_own_orders(shop, tmp_path):
    "FBA: imported shipped, never confirmed by the seller"
    erp = MemoryErp()
    sync = amazon(shop, tmp_path, erp)
    stock = {sku: shop.inventory(sku) for sku in SKUS}
    placed = shop.create_fba_order(lines=[('AMZ-FBA', 1)])
    sync.pull_orders()
    order = erp.orders[shop.order_id(placed)]
    assert (order.fulfilled_by_channel, order.status) == (True, 'shipped')
    assert {sku: shop.inventory(sku) for sku in SKUS} == stock

    erp.outbox['fulfilments'] = [erp_item(2, order, carrier=None,
            carrier_name='DHL', tracking_number='X', complete=True,
            shipped_at='2026-12-06T10:00:00Z')]
    summary = sync.push_fulfilments()

    assert summary['failed'] == 1 and shop.calls['confirmShipment'] == 0


def test_a_refund_in_seller_central_becomes_one_refund(shop, tmp_path):
    erp = MemoryErp()
    sync = amazon(shop, tmp_path, erp)
    placed = shop.create_order(status='paid', lines=[(SKUS[0], 2)])
    shop.refund(shop.order_id(placed), lines={SKUS[0]: 1})

    sync.pull_returns()
    sync.pull_returns()

    refund, = erp.returns.values()
    assert (refund.amount, refund.currency) == (Decimal('10.00'), 'USD')
    assert [(line.sku, line.quantity) for line in refund.lines] == [
        (SKUS[0], 1)]
