"""The canonical order refuses what would be ambiguous downstream."""
import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from oms_connector.tests.tools import order_payload
from oms_contract.models import Order, OrderStatus


def test_times_become_utc_and_money_decimal():
    raw = order_payload('shop', 1, lines=[('A', 2, '19.99')],
        created_at='2026-11-11T08:05:00+08:00')
    order = Order.model_validate(raw)
    assert order.created_at == dt.datetime(2026, 11, 11, 0, 5, tzinfo=dt.UTC)
    assert order.lines[0].unit_price == Decimal('19.99')
    assert order.total == Decimal('39.98')
    assert order.status is OrderStatus.awaiting_shipment


@pytest.mark.parametrize('change, location', [
        ({'created_at': '2026-11-11T08:05:00'}, ('created_at',)),
        ({'currency': 'euro'}, ('currency',)),
        ({'status': 'lost'}, ('status',)),
        ({'total': '-1'}, ('total',)),
        ({'unexpected': 1}, ('unexpected',)),
        ])
def test_ambiguous_orders_are_refused(change, location):
    raw = order_payload('shop', 1)
    raw.update(change)
    with pytest.raises(ValidationError) as error:
        Order.model_validate(raw)
    assert error.value.errors()[0]['loc'] == location


def test_lines_need_a_positive_quantity():
    raw = order_payload('shop', 1, lines=[('A', 0, '1.00')])
    with pytest.raises(ValidationError) as error:
        Order.model_validate(raw)
    assert error.value.errors()[0]['loc'] == ('lines', 0, 'quantity')
