"""How fast the ERP imports orders through its API, on a real trytond.

    python -m bench.import_orders --orders 1000 --batch 100 \
        [--postgresql [--workers N]] [--rate ORDERS_PER_S] [--customers N]

Posts new paid orders (each reserving stock) in batches with the agent's
ERP client, then replays them all (nothing new may be created), and prints
one JSON object of figures. With --workers, trytond-worker processes
reserve the goods after each batch is stored (see
OrderImporter.enact_soon): the figures then also say how long after its
batch was sent each order's goods were reserved. Not a test: it asserts
nothing about time.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.databases import RUN_PREFIX, Cache, cache_root, is_postgresql
from harness.server import Server
from oms_connector.tests.tools import (
    create_api_key,
    create_channel,
    create_listing,
    create_product,
    order_payload,
)
from sync_agent.erp import ErpClient

PG_URI = 'postgresql://postgres@127.0.0.1:5432/'


def world():
    "A shop with a T-shirt in plenty, so no order is held for stock"
    from trytond.modules.company.tests.tools import create_company
    create_company()
    tshirt = create_product("T-shirt", 'TSHIRT', '20', quantity=1_000_000)
    shop = create_channel('shop', kind='shopify')
    create_listing(shop, tshirt, 'TS-RED-M')
    return {'shop_key': create_api_key([shop])}


RESERVED = """
SELECT s.oms_external_id FROM sale_sale AS s
JOIN sale_line AS l ON l.sale = s.id
JOIN stock_move AS m ON m.origin = 'sale.line,' || l.id
JOIN stock_shipment_out AS sh ON m.shipment = 'stock.shipment.out,' || sh.id
WHERE sh.state = 'assigned'
"""


class ReservationWatch(threading.Thread):
    "When each order's shipment is first seen assigned, polling the database"

    def __init__(self, uri, database, interval=0.1):
        super().__init__(daemon=True)
        self.dsn = uri.rstrip('/') + '/' + database
        self.interval = interval
        self.seen = {}
        self.done = threading.Event()

    def run(self):
        import psycopg
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            while not self.done.is_set():
                now = time.perf_counter()
                for external_id, in connection.execute(RESERVED):
                    self.seen.setdefault(external_id, now)
                time.sleep(self.interval)

    def wait_for(self, count, timeout=600):
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(self.interval)
        self.done.set()
        self.join()


def run(orders, batch, uri, workers=0, rate=None, customers=50,
        optimize=True):
    cache = Cache(cache_root(), uri)
    template, world_ = cache.world(
        'bench.import_orders.world', prefix='bench_import')
    directory = Path(tempfile.mkdtemp(prefix='oms-bench-'))
    database = f'{RUN_PREFIX}{os.getpid()}_bench'
    cache.copy(template, directory, database)
    try:
        with Server(directory, database, uri, workers=workers,
                optimize=optimize) as erp:
            client = ErpClient(erp.url, erp.database, world_['shop_key'])
            watch = ReservationWatch(uri, database) if workers else None
            # `customers` buyers order in turn; 0: a new one every order
            buyers = customers or orders
            payloads = [order_payload(
                    'shop', f'bench-{n}', lines=[('TS-RED-M', 1, '19.50')],
                    email=f'buyer{n % buyers}@example.com',
                    customer_id=f'B{n % buyers}')
                for n in range(orders)]
            batches = [payloads[i:i + batch]
                for i in range(0, len(payloads), batch)]

            def post_all(rate=None):
                durations, results, sent = [], [], {}
                begin = time.perf_counter()
                for n, chunk in enumerate(batches):
                    if rate:  # as orders would arrive: rate a second
                        time.sleep(max(0, begin + n * batch / rate
                                - time.perf_counter()))
                    start = time.perf_counter()
                    answer = client.post_orders('shop', chunk, f'c{n}')
                    durations.append(time.perf_counter() - start)
                    results.extend(r['result'] for r in answer['results'])
                    for order in chunk:
                        # Reserved before the answer when no worker runs.
                        sent[order['external_id']] = (
                            start, start + durations[-1])
                return durations, results, sent

            if watch:
                watch.start()
            first, created, sent = post_all(rate)
            if watch:
                watch.wait_for(orders)
                reserved = {i: watch.seen.get(i) for i in sent}
            else:
                reserved = {i: end for i, (_, end) in sent.items()}
            replay, replayed, _ = post_all()
    finally:
        cache.drop(directory, database)
    start = min(s for s, _ in sent.values())
    latencies = [reserved[i] - sent[i][0] for i in sent
        if reserved[i] is not None]
    return {
        'backend': 'postgresql' if is_postgresql(uri) else 'sqlite',
        'workers': workers,
        'rate': rate,
        'customers': customers,
        'orders': orders,
        'batch_size': batch,
        'created': created.count('created'),
        'held': created.count('exception'),
        'import_s': round(sum(first), 3),
        'orders_per_s': round(orders / sum(first), 1),
        'p50_batch_s': round(statistics.median(first), 3),
        'p95_batch_s': round(_p95(first), 3),
        # From sending an order's batch to its goods being reserved
        'reserved': len(latencies),
        'all_reserved_s': round(max(
                r for r in reserved.values() if r is not None) - start, 3),
        'p50_reserve_latency_s': round(statistics.median(latencies), 3),
        'max_reserve_latency_s': round(max(latencies), 3),
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
    parser.add_argument('--workers', type=int, default=0,
        help="trytond-worker processes reserving the goods (PostgreSQL)")
    parser.add_argument('--rate', type=float,
        help="send the orders at this many a second instead of at once")
    parser.add_argument('--customers', type=int, default=50,
        help="how many buyers order in turn (0: a new one every order)")
    parser.add_argument('--asserts', action='store_true',
        help="run trytond without Python's -O (its asserts on)")
    args = parser.parse_args()
    if args.workers and not args.postgresql:
        parser.error("trytond-worker needs --postgresql")
    uri = PG_URI if args.postgresql else 'sqlite://'
    json.dump(
        run(args.orders, args.batch, uri, args.workers, args.rate,
            args.customers, optimize=not args.asserts),
        sys.stdout)
    print()


if __name__ == '__main__':
    main()
