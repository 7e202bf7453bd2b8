"""Two agents on the same channels (DESIGN §9): two `oms-sync run`
processes against one trytond and the sandbox's shops. One holds each
channel's job leases and does the work, the other waits; SIGKILLed, the
active one is replaced within the lease's time to live, and a clean stop
releases the leases.

The agents' part: who works, who waits, who takes over. The ERP's part,
the lease granted to one of many at once, is test_lease_routes.py's, on
each backend; this runs once, in the SQLite leg."""
import re
import signal
import time

import pytest
from e2e_harness import agent_runner, sandbox_shops

from sync_agent.erp import ErpClient

pytestmark = pytest.mark.one_backend

# Seconds: short, to keep the test short, yet longer than a renewal (a
# third of it) held up behind an import on a busy SQLite ERP.
TTL = 15
INTERVALS = {'orders': 1, 'stock': 1, 'fulfilments': 1, 'returns': 1}
MAPPINGS = {'shopify': "kind: shopify\nwarehouses:\n  WH: Main warehouse\n",
    'woo': "kind: woocommerce\n"}
# The jobs `run` starts with, each under its lease on both channels
LEASED = {(code, job) for code in ('shopify', 'woo')
    for job in ('orders', 'stock', 'fulfilments', 'returns')}


def wait_until(condition, timeout, message, processes=()):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, message
        for process in processes:
            assert process.poll() is None, f"an agent died: {message}"
        time.sleep(0.2)
    return found


def holders(erp):
    "(channel, job) → the holder of each lease held now"
    return {(code, lease['job']): lease['holder']
        for code in ('shopify', 'woo') for lease in erp.leases(code)
        if lease['granted']}


def held_by(erp, name):
    "Whether every job `run` starts is leased to the agent named name"
    held = holders(erp)
    return LEASED <= held.keys() and all(
        held[key].startswith(f'{name}:') for key in LEASED)


def pushes(log):
    "The stock levels an agent's log says it pushed, by channel"
    counts = {}
    for code, pushed in re.findall(
            r'(\w+): stock done: pushed (\d+)', log.read_text()):
        counts[code] = counts.get(code, 0) + int(pushed)
    return counts


def in_step(erp, shop, code, sku):
    "The shop shows the ERP's quantity for sku, and nothing is pending"
    answer = erp.stock_levels(code, all=True)
    level = {lv['sku']: lv['quantity'] for lv in answer['levels']}[sku]
    return answer['pending'] == 0 and shop.inventory(sku) == level


def test_one_agent_works_the_other_waits_then_takes_over(
        sync_erp, tmp_path):
    erp = ErpClient(sync_erp.url, sync_erp.database,
        sync_erp.world['agent_key'])
    with sandbox_shops() as marketplace:
        shopify, woo = marketplace.shop('shopify'), marketplace.shop('woo')
        names = ('agent-a', 'agent-b')
        for name in names:
            (tmp_path / name).mkdir()
        runners = {name: agent_runner(sync_erp, marketplace,
                tmp_path / name, MAPPINGS, intervals=INTERVALS,
                settings={'leases': {'ttl': TTL, 'agent_id': name}})
            for name in names}
        logs = {name: tmp_path / f'{name}.log' for name in names}
        first = runners['agent-a'].start('run', log=logs['agent-a'])
        second = None
        try:
            wait_until(lambda: held_by(erp, 'agent-a'), 60,
                "agent-a never took its leases", [first])
            second = runners['agent-b'].start('run', log=logs['agent-b'])
            wait_until(lambda: len(re.findall(r'; waiting',
                        logs['agent-b'].read_text())) >= len(LEASED), 30,
                "agent-b never waited", [first, second])

            # Sales on both shops while both agents run: agent-a alone
            # imports them and pushes the new quantities everywhere.
            for _ in range(2):
                shopify.create_order(status='paid',
                    lines=[('LAMP-DESK', 1)])
                woo.create_order(status='paid', lines=[('LAMP-DESK', 1)])
            wait_until(lambda: all(in_step(erp, shop, code, 'LAMP-DESK')
                    for code, shop in (('shopify', shopify), ('woo', woo))),
                30, "the sales never reached the shops", [first, second])
            assert held_by(erp, 'agent-a')
            assert sum(pushes(logs['agent-a']).values()) > 0
            assert pushes(logs['agent-b']) == {}
            # agent-b ran no job at all, and logged its wait once a job.
            assert ' done: ' not in logs['agent-b'].read_text()
            assert len(re.findall(r'; waiting',
                    logs['agent-b'].read_text())) == len(LEASED)

            first.send_signal(signal.SIGKILL)
            first.wait(10)
            killed = time.monotonic()
            shopify.create_order(status='paid', lines=[('MUG-STONE', 2)])
            wait_until(lambda: held_by(erp, 'agent-b'), TTL + 10,
                "agent-b never took over", [second])
            took_over = time.monotonic() - killed
            # Within the lease's time, plus a job's interval and slack.
            assert took_over < TTL + 4, took_over
            wait_until(lambda: in_step(erp, woo, 'woo', 'MUG-STONE')
                and in_step(erp, shopify, 'shopify', 'MUG-STONE'), 30,
                "agent-b never pushed the sale", [second])
            assert sum(pushes(logs['agent-b']).values()) > 0
            assert 'taken over from agent-a:' in logs['agent-b'].read_text()

            # A clean stop releases its leases: a restart waits for none.
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, logs['agent-b'].read_text()
            assert holders(erp) == {}
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait(10)
