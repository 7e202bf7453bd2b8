"""The channel conformance kit: what every channel kind must do, whatever
its marketplace. Each test runs for every kind of the registry
(sync_agent.channels.KINDS), its adapter against its sandbox shop and the
agent's flows against an ERP kept in memory: a new kind runs the kit with
no new test code (docs/adding-a-channel.md).

A kind declares in its adapter's `capabilities` what its API can do beyond
orders, stock and shipments (channels/base.py CAPABILITIES). The tests of
a capability it declares run; for one it does not declare, the kit checks
that it is really missing (a refund is left to staff, a stale stock write
is not refused), so a declaration can be neither forgotten nor false."""
from __future__ import annotations

import datetime as dt
import itertools
import time
from decimal import Decimal
from typing import Any

import pytest

from oms_contract.models import (
    MAX_DEPTH,
    ChannelReturn,
    Order,
    RejectedOrder,
    depth,
)
from sync_agent.channels import KINDS
from sync_agent.channels.base import ChannelKind, StockUpdate
from sync_agent.channels.transport import AuthError, RateLimiter, Transport
from sync_agent.config import ChannelConfig
from sync_agent.flows import ChannelSync
from sync_agent.mapping import Mapping

CODE = 'KIT'
OVERLAP = 120  # seconds
PAGE = 5  # orders a page: a dozen orders take three
SKUS = [f'KIT-{n:02}' for n in range(30)]
# What a paid order the shop cancels reads as: a paid Taobao trade cannot
# be cancelled; refunded in full, TOP closes it (TRADE_CLOSED)
CANCELLED_WHEN_PAID = {'taobao': 'refunded'}
STOCK = 20
names = itertools.count(1)


class MemoryErp:
    """The ERP's routes the flows use, kept in memory as the ERP keeps
    them: orders and returns by external id (a replay creates nothing),
    the cursors, stock levels served until acknowledged, and the
    fulfilment and refund outboxes listing an item until its push is
    acknowledged. `lose_acks` acknowledgements are lost on the way."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.held: dict[str, dict[str, Any]] = {}
        self.returns: dict[str, ChannelReturn] = {}
        self.order_cursor: str | None = None
        self.return_cursor: str | None = None
        self.levels: list[dict[str, Any]] = []
        self.outbox: dict[str, list[dict[str, Any]]] = {
            'fulfilments': [], 'refunds': []}
        self.lose_acks = 0

    # orders
    def cursor(self, channel: str) -> str | None:
        return self.order_cursor

    def post_orders(self, channel, orders, cursor, rejected=(),
            dry_run=False):
        # As the ERP answers: each order's result by its id
        results = [{'external_id': o.external_id,
                'result': _keep(self.orders, o.external_id, o)}
            for o in orders]
        for item in rejected or ():
            # As the ERP reads it: the contract's bounds hold
            RejectedOrder.model_validate(item.model_dump(mode='json'))
            self.held[item.external_id] = item
            results.append({'external_id': item.external_id,
                    'result': 'exception'})
        self.order_cursor = cursor or self.order_cursor
        return {'results': results}

    # returns
    def returns_cursor(self, channel: str) -> str | None:
        return self.return_cursor

    def post_returns(self, channel, returns, cursor, rejected=()):
        results = [{'result': _keep(self.returns, r.external_id, r)}
            for r in returns]
        results += [{'result': 'exception'} for _ in rejected]
        self.return_cursor = cursor or self.return_cursor
        return {'results': results}

    # stock
    def stock_levels(self, channel, all=False, limit=None):
        changed = [level for level in self.levels
            if level['quantity'] != level['previous']]
        return {'levels': self.levels if all else changed,
            'pending': len(changed)}

    def ack_stock(self, channel, pushed, failed, drift=()):
        for ack in pushed:
            for level in self.levels:
                if level['sku'] == ack.sku:
                    level['previous'] = ack.quantity
        return {'recorded': len(pushed) + len(failed),
            'pending': self.stock_levels(channel)['pending']}

    # outboxes
    def fulfilments(self, channel, limit=None):
        return self._listed('fulfilments')

    def ack_fulfilments(self, channel, pushed, failed):
        return self._acknowledged('fulfilments', pushed)

    def refunds(self, channel, limit=None):
        return self._listed('refunds')

    def ack_refunds(self, channel, pushed, failed):
        return self._acknowledged('refunds', pushed)

    def _listed(self, outbox: str) -> dict[str, Any]:
        items = self.outbox[outbox]
        return {outbox: list(items), 'pending': len(items)}

    def _acknowledged(self, outbox: str, pushed: list) -> dict[str, Any]:
        if self.lose_acks:
            self.lose_acks -= 1  # the agent saw it sent; the ERP did not
        else:
            done = {p.id for p in pushed}
            self.outbox[outbox] = [i for i in self.outbox[outbox]
                if i['id'] not in done]
        return {'pending': len(self.outbox[outbox])}


def _keep(kept: dict, key: str, value: Any) -> str:
    "Keep a record by its key as the ERP does; what the ERP answers"
    known = kept.get(key)
    kept[key] = value
    if known is None:
        return 'created'
    return 'unchanged' if known == value else 'updated'


@pytest.fixture(params=sorted(KINDS), ids=str)
def kind(request) -> ChannelKind:
    return KINDS[request.param]


@pytest.fixture
def shop(sandbox, kind):
    shop = sandbox.add(kind.name, f'kit-{kind.name}-{next(names)}')
    for sku in SKUS:
        shop.add_product(sku, f'Kit item {sku}', '10.00', stock=STOCK)
    return shop


@pytest.fixture
def sleeps() -> list[float]:
    "What the adapter waited, in seconds (it does not really wait)"
    return []


@pytest.fixture
def erp() -> MemoryErp:
    return MemoryErp()


def channel(kind, shop, erp, tmp_path, sleeps=None, credentials=None,
        sleep=None):
    config = ChannelConfig(code=CODE, kind=kind.name,
        base_url=shop.base_url, settings=shop.settings, page_size=PAGE,
        overlap=OVERLAP, retry={'attempts': 4})
    adapter = kind.adapter(config, credentials or shop.credentials,
        state_dir=tmp_path, transport=Transport(CODE, RateLimiter(0),
            attempts=4, sleep=sleep or sleeps.append))
    return ChannelSync(config, kind.mapper, adapter, Mapping(), erp)


@pytest.fixture
def sync(kind, shop, erp, tmp_path, sleeps) -> ChannelSync:
    return channel(kind, shop, erp, tmp_path, sleeps)


def needs(kind: ChannelKind, capability: str) -> bool:
    return capability in kind.adapter.capabilities


def canonical(sync: ChannelSync, shop, order: dict) -> Order:
    "The order as the agent reads it from the shop"
    return sync.mapper.normalize_order(shop.order(_id(shop, order)), CODE)


def _id(shop, order: dict) -> Any:
    "The id the shop knows a stored order by"
    return (order.get('legacyResourceId') or order.get('id')
        or order.get('tid_str') or order['orderId'])


# -- orders ---------------------------------------------------------------

def test_orders_arrive_once_across_pages_from_the_cursor_less_overlap(
        sync, shop, erp):
    made = shop.generate_orders(12, seed=1, spread_hours=1, status='paid')
    asked = []
    fetch = sync.adapter.fetch_orders
    sync.adapter.fetch_orders = lambda since: (asked.append(since),
        fetch(since))[1]

    first = sync.pull_orders()
    calls = sync.adapter.calls
    again = sync.pull_orders()

    assert set(erp.orders) == {sync.mapper.external_id(shop.order(
                _id(shop, o))) for o in made}
    assert first['created'] == 12 and calls >= 12 / PAGE  # paged
    # Replayed from the cursor less the overlap: nothing new, nothing lost
    cursor = dt.datetime.fromisoformat(first['cursor'])
    assert asked == [None, cursor - dt.timedelta(seconds=OVERLAP)]
    assert again.get('created', 0) == again.get('updated', 0) == 0
    # ... nor posted again: the ERP answered for them already
    assert again.get('unchanged', 0) == 0 and again['read'] >= 1

    changed = shop.update_order(_id(shop, made[0]), status='cancelled')
    third = sync.pull_orders()

    assert third.get('updated') == 1 and third.get('created', 0) == 0
    assert erp.orders[sync.mapper.external_id(changed)].status == \
        CANCELLED_WHEN_PAID.get(sync.adapter.kind, 'cancelled')


def test_an_unreadable_order_is_held_with_its_payload_and_stops_nothing(
        sync, shop, erp):
    good = shop.generate_orders(2, seed=2, spread_hours=0, status='paid')
    bad = shop.create_malformed_order('missing_total')
    later = shop.generate_orders(1, seed=3, spread_hours=0, status='paid')

    summary = sync.pull_orders()

    [held] = erp.held.values()
    assert held.external_id == sync.mapper.external_id(bad)
    assert "cannot be read" in held.reason
    assert sync.mapper.external_id(held.raw) == held.external_id
    assert len(erp.orders) == len(good + later) == summary['created']
    assert summary['cursor'] is not None


@pytest.mark.parametrize('hostile', [
        'nul_note', 'huge_quantity', 'huge_price', 'deep_payload'])
def test_a_hostile_order_is_held_and_stops_nothing(sync, shop, erp, hostile):
    "What the ERP could not store is held by the agent, named, never posted"
    good = shop.generate_orders(2, seed=2, spread_hours=0, status='paid')
    bad = shop.create_malformed_order(hostile)

    summary = sync.pull_orders()

    assert len(erp.orders) == len(good) == summary['created']
    [held] = erp.held.values()
    assert held.external_id == sync.mapper.external_id(bad)
    assert "cannot be read" in held.reason
    assert '\x00' not in held.reason
    assert depth(held.raw) <= MAX_DEPTH


def test_throttling_is_waited_out_as_the_channel_asks(kind, shop, erp,
        tmp_path):
    "The adapter waits at least what the channel asks (really: its clock)"
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        time.sleep(seconds)
    sync = channel(kind, shop, erp, tmp_path, sleep=sleep)
    shop.generate_orders(3, seed=4, spread_hours=0, status='paid')
    shop.faults.set(throttle_next=1, retry_after_s=0.5)

    sync.pull_orders()

    assert shop.faults.fired['throttle_next'] == 1
    assert sum(waited) >= 0.5 * 0.9  # what it asked (rounded)
    assert len(erp.orders) == 3


def test_server_errors_are_retried(sync, shop, erp):
    shop.generate_orders(3, seed=5, spread_hours=0, status='paid')
    shop.faults.set(error_next=2, error_status=503, retry_after_s=0)

    sync.pull_orders()

    assert shop.faults.fired['error_next'] == 2
    assert len(erp.orders) == 3


def test_refused_credentials_fail_at_once(kind, shop, erp, tmp_path,
        sleeps):
    wrong = {name: 'wrong' for name in shop.credentials}
    sync = channel(kind, shop, erp, tmp_path, sleeps, credentials=wrong)

    with pytest.raises(AuthError):
        sync.pull_orders()
    assert sync.adapter.calls == 1 and sleeps == []


# -- stock ----------------------------------------------------------------

def levels(quantity: int, previous: int) -> list[dict[str, Any]]:
    return [{'sku': sku, 'quantity': quantity, 'previous': previous,
            'warehouse': None, 'version': 1} for sku in SKUS]


def test_stock_takes_the_fewest_calls_and_none_when_nothing_changed(
        sync, shop, erp):
    erp.levels = levels(12, STOCK)
    sync.push_stock()  # the SKUs looked up once, then kept
    erp.levels = levels(9, 12)
    before = sync.adapter.calls

    summary = sync.push_stock()
    pushing = sync.adapter.calls - before
    idle = sync.push_stock()

    assert summary['pushed'] == len(SKUS) and summary['failed'] == 0
    assert {sku: shop.inventory(sku) for sku in SKUS} == dict.fromkeys(
        SKUS, 9)
    # 30 levels: one bulk write (Amazon's feed: its documents and polls)
    assert pushing == sync.adapter.stock_calls(SKUS)
    assert idle['pushed'] == 0 and sync.adapter.calls == before + pushing


def test_a_stock_write_checks_what_the_channel_shows(kind, sync, shop):
    "Compare-and-set: a level sold meanwhile on the channel is refused"
    sku = SKUS[0]
    shop.set_inventory(sku, 7)  # a sale the ERP has not heard of

    [result] = sync.adapter.push_stock([StockUpdate(sku, 15, previous=STOCK)])

    if needs(kind, 'compare_and_set'):
        assert result.stale and shop.inventory(sku) == 7
    else:
        assert result.ok and not result.stale and shop.inventory(sku) == 15


# -- shipments and refunds ----------------------------------------------

def erp_item(item_id: int, order: Order, **values: Any) -> dict[str, Any]:
    "An item of one of the ERP's outboxes, about a channel order"
    return {'id': item_id, 'key': f'oms-kit-{item_id:04d}',
        'order': {'external_id': order.external_id, 'number': order.number},
        'lines': [{'external_id': line.external_id, 'sku': line.sku,
                'quantity': line.quantity} for line in order.lines],
        'attempts': 0, **values}


def test_a_shipment_is_made_once_though_its_acknowledgement_was_lost(
        sync, shop, erp):
    order = canonical(sync, shop, shop.create_order(
            status='paid', lines=[(SKUS[0], 2), (SKUS[1], 1)]))
    erp.outbox['fulfilments'] = [erp_item(1, order, carrier=None,
            carrier_name='DHL', tracking_number='JD0001',
            shipped_at='2026-11-28T10:00:00Z', complete=True)]
    erp.lose_acks = 1

    first = sync.push_fulfilments()
    second = sync.push_fulfilments()  # listed again: pushed again

    assert first['pushed'] == second['pushed'] == 1
    assert second.get('already') == 1 and erp.outbox['fulfilments'] == []
    assert len(shop.shipments(order.external_id)) == 1


def test_a_refund_is_made_once_though_its_acknowledgement_was_lost(
        kind, sync, shop, erp):
    order = canonical(sync, shop, shop.create_order(
            status='paid', lines=[(SKUS[0], 2)]))
    erp.outbox['refunds'] = [erp_item(1, order, number='RMA-KIT-1',
            amount='5.00', currency=order.currency, reason="Damaged")]
    erp.lose_acks = 1

    first = sync.push_refunds()
    second = sync.push_refunds()

    if not needs(kind, 'refunds'):
        # Left to staff, said once: no retries
        assert first['refunds_failed'] == 1
        assert erp.outbox['refunds'] and not shop.refunds(
            order.external_id)
        return
    assert first['refunds_pushed'] == second['refunds_pushed'] == 1
    assert second.get('refunds_already') == 1
    [refund] = shop.refunds(order.external_id)
    assert erp.outbox['refunds'] == []


def test_the_channels_refunds_are_pulled_once(kind, sync, shop, erp):
    order = canonical(sync, shop, shop.create_order(
            status='paid', lines=[(SKUS[0], 2)]))
    shop.refund(order.external_id, amount=Decimal('4.00'))

    first = sync.pull_returns()
    again = sync.pull_returns()

    if not needs(kind, 'refund_reports'):
        assert erp.returns == {}
        return
    [refund] = erp.returns.values()
    assert (refund.kind, refund.amount) == ('refund', Decimal('4.00'))
    assert refund.order_external_id == order.external_id
    assert first.get('created') == 1 and again.get('created', 0) == 0


def test_the_channels_returns_are_pulled_once(kind, sync, shop, erp):
    if not needs(kind, 'returns'):
        assert not hasattr(shop, 'request_return'), (
            f"{kind.name}'s shop takes returns: declare 'returns'")
        pytest.skip(f"{kind.name} reports no return requests")
    order = canonical(sync, shop, shop.create_order(
            status='fulfilled', lines=[(SKUS[0], 2)]))
    shop.request_return(order.external_id, {SKUS[0]: 1})

    first = sync.pull_returns()
    again = sync.pull_returns()

    [requested] = [r for r in erp.returns.values() if r.kind == 'return']
    assert requested.order_external_id == order.external_id
    assert first.get('created') == 1 and again.get('created', 0) == 0
