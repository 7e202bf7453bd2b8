"""Oversell protection under concurrency: several channels import orders
for the last units at the same moment, each through its own HTTP call to a
real trytond on PostgreSQL. No more is reserved than exists; the orders
beyond stock are imported and held ("insufficient stock"), none lost.

SQLite serialises every writer, so the race only means something on
PostgreSQL (CI runs the suite there too)."""
import threading

import pytest

from harness.databases import database_uri, is_postgresql
from oms_connector.tests.tools import RACE_CHANNELS, RACE_STOCK, order_payload
from sync_agent.erp import ErpClient

pytestmark = pytest.mark.skipif(
    not is_postgresql(database_uri()),
    reason="the oversell race needs PostgreSQL (SQLite serialises writers): "
    "run with TRYTOND_DATABASE_URI=postgresql://... (make test-postgresql)")

ORDERS_PER_CHANNEL = 2


def test_channels_racing_for_the_last_units_never_oversell(race_erp):
    start = threading.Barrier(len(RACE_CHANNELS))
    answers, failures = {}, []

    def sell(code):
        client = ErpClient(race_erp.url, race_erp.database,
            race_erp.world['agent_key'])
        orders = [order_payload(code, f'{code}-{n}',
                lines=[('LAST-LAMP', 1, '45.00')])
            for n in range(ORDERS_PER_CHANNEL)]
        start.wait()
        try:
            answers[code] = client.post_orders(code, orders, None)
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(f'{code}: {error}')

    threads = [threading.Thread(target=sell, args=(code,))
        for code in RACE_CHANNELS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert not failures
    results = [r for answer in answers.values() for r in answer['results']]
    assert len(results) == len(RACE_CHANNELS) * ORDERS_PER_CHANNEL
    assert {r['result'] for r in results} <= {'created', 'exception'}, (
        results)
    reserved = [r for r in results if r['exception'] is None]
    held = [r for r in results if r['exception'] is not None]
    assert len(reserved) == RACE_STOCK, results
    assert {r['state'] for r in reserved} == {'awaiting_shipment'}
    assert {h['exception']['kind'] for h in held} == {'insufficient_stock'}
    assert all('Last Lamp' in h['exception']['reason'] for h in held)

    # Each order is in the ERP once, and every channel shows zero now.
    client = ErpClient(race_erp.url, race_erp.database,
        race_erp.world['agent_key'])
    for code in RACE_CHANNELS:
        summary = client.summary(code)
        assert summary['orders'] == ORDERS_PER_CHANNEL
        level, = client.stock_levels(code, all=True)['levels']
        assert level['quantity'] == 0
