"""How fast orders flow from the marketplaces into the ERP through the
agent, and whether any is lost or doubled:

    python -m bench.sync --orders 1000 [--db postgresql [--workers N]]
        [--skus 200]

A real trytond serves a database with a Shopify and a WooCommerce channel
listing --skus products; the sandbox marketplace holds --orders new paid
orders split between the two shops; the agent (in this process, one thread
per channel, as `oms-sync run` would) pulls them all into the ERP, then
pushes the stock levels the orders changed. With --workers, trytond-worker
processes reserve the goods after the ERP has stored the orders (see
docs/architecture.md, the import); the stock push then waits until every
order is reserved. Prints one JSON object. Not a test: nothing here
asserts a time.
"""
import argparse
import datetime as dt
import json
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.import_orders import ReservationWatch
from harness.databases import RUN_PREFIX, Cache, cache_root, is_postgresql
from harness.server import Server
from sandbox.server import Sandbox
from sync_agent import config as agent_config
from sync_agent.agent import Agent
from sync_agent.scheduler import Scheduler

PG_URI = 'postgresql://postgres@127.0.0.1:5432/'
SKUS = int(os.environ.get('OMS_BENCH_SKUS', 200))
TOKEN = 'shpat_bench_0123456789'
KEY, SECRET = 'ck_bench_0123456789', 'cs_bench_0123456789'
SHOPIFY_BULK, WOO_BULK = 250, 100


def catalogue(skus):
    return [(f'BENCH-{n:05d}', f"Bench product {n}", '12.50')
        for n in range(skus)]


def world():
    """Both channels list every product, each in ample stock (so no order
    is held for stock and every order reserves)"""
    from trytond.modules.company.tests.tools import create_company

    from oms_connector.tests.tools import (
        create_api_key,
        create_channel,
        create_listing,
        create_product,
    )
    create_company()
    shopify = create_channel('shopify', kind='shopify', currency='EUR')
    woo = create_channel('woo', kind='woocommerce')
    for code, name, price in catalogue(SKUS):
        product = create_product(name, code, price, quantity=100_000)
        create_listing(shopify, product, code)
        create_listing(woo, product, code)
    return {'agent_key': create_api_key([shopify, woo])}


def run(orders, uri, skus, workers=0):
    # The world's size travels to its builder's process by environment;
    # its own template name keeps one per size.
    os.environ['OMS_BENCH_SKUS'] = str(skus)
    cache = Cache(cache_root(), uri)
    template, answer = cache.world(
        'bench.sync.world', prefix=f'bench_sync{skus}')
    directory = Path(tempfile.mkdtemp(prefix='oms-bench-sync-'))
    database = f'{RUN_PREFIX}{os.getpid()}_bench'
    cache.copy(template, directory, database)
    try:
        with Server(directory, database, uri, workers=workers
                ) as erp, Sandbox() as sandbox:
            watch = ReservationWatch(uri, database) if workers else None
            return measure(orders, skus, erp, answer, sandbox, directory,
                watch, workers)
    finally:
        cache.drop(directory, database)


def measure(orders, skus, erp, answer, sandbox, directory, watch=None,
        workers=0):
    shops = {
        'shopify': sandbox.add_shopify('shopify', token=TOKEN,
            currency='EUR', maximum_available=2000, restore_rate=1000),
        'woo': sandbox.add_woocommerce(
            'woo', consumer_key=KEY, consumer_secret=SECRET),
        }
    products = catalogue(skus)
    for shop in shops.values():
        shop.add_products([{'sku': sku, 'title': name, 'price': price,
                    'stock': 100_000} for sku, name, price in products])
    config = agent_config.AgentConfig.model_validate({
            'erp': {'url': erp.url, 'database': erp.database},
            'state_dir': str(directory / 'agent'),
            'channels': [
                {'code': code, 'kind': 'shopify' if code == 'shopify'
                    else 'woocommerce', 'base_url': shop.base_url,
                    'rate_limit': {'per_second': 0}}
                for code, shop in shops.items()],
            })
    agent = Agent.from_config(config, environ={
            'OMS_ERP_KEY': answer['agent_key'],
            'OMS_SHOPIFY_TOKEN': TOKEN,
            'OMS_WOO_CONSUMER_KEY': KEY,
            'OMS_WOO_CONSUMER_SECRET': SECRET})
    # Stock pushes are measured on their own, after the import.
    scheduler = Scheduler(agent, wake_stock=False)
    # The shops show the ERP's stock before the sale starts (a level never
    # pushed is read first, after an orders pull).
    scheduler.run_once(['orders', 'stock'])
    shops['shopify'].generate_orders(orders // 2, seed=1, status='paid',
        spread_hours=1)
    shops['woo'].generate_orders(orders - orders // 2, seed=2, status='paid',
        spread_hours=1)
    for shop in shops.values():
        shop.reset_calls()

    summaries = {}

    def pull(code):
        summaries[code] = scheduler.run_job(agent.channels[code], 'orders')
    threads = [threading.Thread(target=pull, args=(code,))
        for code in agent.channels]
    if watch:
        watch.start()
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    reserved_after = None
    if watch:
        watch.wait_for(orders)
        reserved_after = max(watch.seen.values(), default=start) - start

    pending = {code: agent.erp.stock_levels(code)['pending']
        for code in agent.channels}
    order_calls = {code: sum(shop.calls.values())
        for code, shop in shops.items()}
    for shop in shops.values():
        shop.reset_calls()
    push_start = time.perf_counter()
    scheduler.run_once(['stock'])
    push_seconds = time.perf_counter() - push_start
    stock_calls = (shops['shopify'].calls['inventorySetQuantities']
        + sum(n for call, n in shops['woo'].calls.items()
            if call.startswith('POST') and call.endswith('/batch')))
    minimum = (math.ceil(pending['shopify'] / SHOPIFY_BULK)
        + math.ceil(pending['woo'] / WOO_BULK))

    duplicates = missing = 0
    for code, shop in shops.items():
        held = agent.erp.summary(code, external_ids=True)
        in_erp = held['external_ids']
        expected = {str(o.get('legacyResourceId') or o['id'])
            for o in shop.orders()}
        duplicates += len(in_erp) - len(set(in_erp))
        missing += len(expected - set(in_erp))
    created = sum((s or {}).get('created', 0) for s in summaries.values())
    return {
        'backend': 'postgresql' if is_postgresql(erp.uri)
        else 'sqlite',
        'orders': orders,
        'skus': skus,
        'seconds': round(seconds, 3),
        'orders_per_s': round(orders / seconds, 1),
        'created': created,
        'workers': workers,
        'all_reserved_after_s': (round(reserved_after, 3)
            if reserved_after is not None else 'on answer'),
        'duplicates': duplicates,
        'missing': missing,
        'failed_jobs': [code for code, s in summaries.items() if s is None],
        'stock_levels_changed': pending,
        'stock_push_s': round(push_seconds, 3),
        'api_calls_stock_push': stock_calls,
        'min_api_calls_stock_push': minimum,
        'api_calls_orders': order_calls,
        'measured_at': dt.datetime.now(dt.UTC).isoformat(timespec='seconds'),
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--orders', type=int, default=1000)
    parser.add_argument('--skus', type=int, default=200)
    parser.add_argument('--db', choices=['sqlite', 'postgresql'],
        default='sqlite')
    parser.add_argument('--workers', type=int, default=0,
        help="trytond-worker processes reserving the goods (PostgreSQL)")
    args = parser.parse_args()
    if args.workers and args.db != 'postgresql':
        parser.error("trytond-worker needs --db postgresql")
    uri = PG_URI if args.db == 'postgresql' else 'sqlite://'
    json.dump(run(args.orders, uri, args.skus, args.workers), sys.stdout)
    print()


if __name__ == '__main__':
    main()
