"""How fast the ERP imports orders through its API, on a real trytond.

    python -m bench.import_orders --orders 1000 --batch 50 [--postgresql]

Posts new paid orders (each reserving stock) in batches with the agent's
ERP client, then replays them all (nothing new may be created), and prints
one JSON object of figures. Not a test: it asserts nothing about time.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from oms_connector.tests import server
from oms_connector.tests.tools import (
    create_api_key,
    create_channel,
    create_listing,
    create_product,
    order_payload,
)
from sync_agent.erp import ErpClient

CACHE = Path(__file__).resolve().parents[1] / '.cache' / 'bench'
PG_URI = 'postgresql://postgres@127.0.0.1:5432/'


def world():
    "A shop with a T-shirt in plenty, so no order is held for stock"
    from trytond.modules.company.tests.tools import create_company
    create_company()
    tshirt = create_product("T-shirt", 'TSHIRT', '20', quantity=1_000_000)
    shop = create_channel('shop', kind='shopify')
    create_listing(shop, tshirt, 'TS-RED-M')
    return {'shop_key': create_api_key([shop])}


def run(orders, batch, uri):
    # Names of its own: the PostgreSQL server is shared with test runs,
    # which drop oms_tpl_* and test-* templates when they reset.
    template, world_ = server.cached_database(
        CACHE, 'bench.import_orders.world', uri, prefix='oms_bench_tpl_')
    directory = Path(tempfile.mkdtemp(prefix='oms-bench-'))
    database = f'oms_bench_{os.getpid()}'
    server.copy_database(uri, CACHE, template, directory, database)
    try:
        with server.Server(directory, database, uri) as erp:
            client = ErpClient(erp.url, erp.database, world_['shop_key'])
            payloads = [order_payload(
                    'shop', f'bench-{n}', lines=[('TS-RED-M', 1, '19.50')],
                    email=f'buyer{n % 50}@example.com',
                    customer_id=f'B{n % 50}')
                for n in range(orders)]
            batches = [payloads[i:i + batch]
                for i in range(0, len(payloads), batch)]

            def post_all():
                durations, results = [], []
                for n, chunk in enumerate(batches):
                    start = time.perf_counter()
                    answer = client.post_orders('shop', chunk, f'c{n}')
                    durations.append(time.perf_counter() - start)
                    results.extend(r['result'] for r in answer['results'])
                return durations, results

            first, created = post_all()
            replay, replayed = post_all()
    finally:
        server.drop_database(uri, directory, database)
    return {
        'backend': 'postgresql' if server.is_postgresql(uri) else 'sqlite',
        'orders': orders,
        'batch_size': batch,
        'created': created.count('created'),
        'held': created.count('exception'),
        'import_s': round(sum(first), 3),
        'orders_per_s': round(orders / sum(first), 1),
        'p50_batch_s': round(statistics.median(first), 3),
        'p95_batch_s': round(_p95(first), 3),
        'replay_orders_per_s': round(orders / sum(replay), 1),
        'replay_created': replayed.count('created'),
        }


def _p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--orders', type=int, default=500)
    parser.add_argument('--batch', type=int, default=50)
    parser.add_argument('--postgresql', action='store_true',
        help=f"run on PostgreSQL at {PG_URI} instead of SQLite")
    args = parser.parse_args()
    uri = PG_URI if args.postgresql else 'sqlite://'
    json.dump(run(args.orders, args.batch, uri), sys.stdout)
    print()


if __name__ == '__main__':
    main()
