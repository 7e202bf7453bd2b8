"""The agent killed (SIGKILL) at random moments of a backfill, and started
again: every order of the shops is in the ERP exactly once and every
stock level the shops show is the ERP's. The moments come from a seeded
random, so a failure replays. Leases are off: a restarted agent starts
at once (with leases it would wait out the killed one's, tested in
test_leases_e2e.py), while the ERP may still be importing the batch the
killed one posted, the harder case."""
import random
import time

from e2e_harness import agent_runner, sandbox_shops

from oms_connector.tests.tools import SYNC_CATALOGUE
from sync_agent.erp import ErpClient

SEED = 17
# A shop: 90 orders in all, a backfill SQLite takes some 10 to 30 s over
ORDERS = 45
TRIALS = 3
SHOPS = ('shopify', 'woo')
MAPPINGS = {'shopify': "kind: shopify\nwarehouses:\n  WH: Main warehouse\n",
    'woo': "kind: woocommerce\n"}


def ids(orders):
    "The channel ids of raw orders, as the ERP keeps them"
    return [str(o.get('legacyResourceId') or o['id']) for o in orders]


def test_a_backfill_killed_at_random_loses_and_doubles_nothing(
        sync_erp, tmp_path):
    rng = random.Random(SEED)
    erp = ErpClient(sync_erp.url, sync_erp.database,
        sync_erp.world['agent_key'])

    with sandbox_shops() as marketplace:
        for i, code in enumerate(SHOPS):
            marketplace.shop(code).generate_orders(
                ORDERS, seed=SEED + i, status='paid', many_lines_share=0.05)
        agent = agent_runner(sync_erp, marketplace, tmp_path, MAPPINGS,
            intervals={'orders': 1, 'stock': 1},
            settings={'leases': {'enabled': False}},
            # Batches of a page: progress (and Shopify's cursor) commits
            # every few seconds, so the kills fall between and inside them.
            channel_settings={'erp_batch': 10})
        kills = []
        for trial in range(TRIALS):
            # The agent starts in about a second, then reads and posts.
            delay = rng.uniform(1.0, 4.5)
            process = agent.start('run', log=tmp_path / f'run-{trial}.log')
            try:
                time.sleep(delay)
            finally:
                process.kill()
                process.wait(10)
            # (seconds it ran, orders in the ERP then)
            kills.append((round(delay, 2), sum(
                        erp.summary(code)['orders'] for code in SHOPS)))
        # The kills fell during the backfill, not after it.
        assert kills[-1][1] < 2 * ORDERS, kills
        run = agent('once')
        print(f"kills (seconds run, orders in the ERP): {kills}")
        assert run.returncode == 0, (kills, run.stderr[-3000:])

        for code in SHOPS:
            shop = marketplace.shop(code)
            summary = erp.summary(code, external_ids=True)
            # Every order once: no order missing, none twice.
            assert sorted(summary['external_ids']) == sorted(
                ids(shop.orders())), (code, kills)
            levels = erp.stock_levels(code, all=True)
            assert {lv['sku']: lv['quantity'] for lv in levels['levels']} == {
                sku: shop.inventory(sku) for sku, *_ in SYNC_CATALOGUE}, (
                code, kills)
            assert levels['pending'] == 0
