"""How fast orders flow from the marketplaces into the ERP through the
agent, and whether any is lost or doubled:

    python -m bench.sync --orders 1000 [--db postgresql [--workers N]
        [--warehouses 2]] [--skus 200] [--channels shopify,woocommerce,amazon]
        [--asserts]
    python -m bench.sync --profile double11 [--orders 20000] [--rate 5.6]

A real trytond serves a database with a channel of each kind asked for
(Shopify and WooCommerce by default; Amazon too with --channels) listing
--skus products; the sandbox marketplace holds --orders new paid orders
split between the shops; the agent (in this process, one thread per
channel, as `oms-sync run` would) pulls them all into the ERP, then pushes
the stock levels the orders changed. With --workers, trytond-worker
processes reserve the goods after the ERP has stored the orders (see
docs/architecture.md, the import); the stock push then waits until every
order is reserved. --warehouses N has the channels reserve from N
warehouses in turn (the workers then reserve from them in parallel);
trytond runs under Python's -O unless --asserts. Amazon's per-operation
rate limits run --amazon-speed times faster than Amazon's own (its order
search: one call in 3 minutes after a burst of 20):
`amazon_capture_lag_s` says how late an order is seen at Amazon's real
pace. Prints one JSON object. Not a test: nothing
here asserts a time.
"""
import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.import_orders import ReservationWatch
from bench.stock import resent_calls
from harness.databases import RUN_PREFIX, Cache, cache_root, is_postgresql
from harness.server import Server
from sandbox.server import Sandbox
from sync_agent import config as agent_config
from sync_agent.agent import Agent
from sync_agent.scheduler import Scheduler

PG_URI = 'postgresql://postgres@127.0.0.1:5432/'
SKUS = int(os.environ.get('OMS_BENCH_SKUS', 200))
# Channels reserve from this many warehouses, in turn
WAREHOUSES = int(os.environ.get('OMS_BENCH_WAREHOUSES', 1))
TOKEN = 'shpat_bench_0123456789'
KEY, SECRET = 'ck_bench_0123456789', 'cs_bench_0123456789'
LWA_CLIENT, LWA_SECRET = 'amzn1.application-oa2-client.bench', 'lwa-bench'
REFRESH_TOKEN = 'Atzr|bench-0123456789'
# Channel code → kind, as the world creates them
KINDS = {'shopify': 'shopify', 'woo': 'woocommerce', 'amazon': 'amazon'}
CURRENCIES = {'shopify': 'EUR'}
# The calls each shop counts as stock writes (Amazon: its feed's too)
STOCK_CALLS = {
    'shopify': lambda call: call == 'inventorySetQuantities',
    'woocommerce': lambda call: call.startswith('POST')
    and call.endswith('/batch'),
    'amazon': lambda call: call in {'patchListingsItem',
        'createFeedDocument', 'uploadFeedDocument', 'createFeed', 'getFeed',
        'getFeedDocument', 'downloadReport'},
    }


def catalogue(skus):
    return [(f'BENCH-{n:05d}', f"Bench product {n}", '12.50')
        for n in range(skus)]


def world():
    """A channel of each kind lists every product, each in ample stock (so
    no order is held for stock and every order reserves)"""
    from proteus import Model
    from trytond.modules.company.tests.tools import create_company

    from oms_connector.tests.tools import (
        add_stock,
        create_api_key,
        create_channel,
        create_listing,
        create_product,
        create_warehouse,
    )
    create_company()
    Location = Model.get('stock.location')
    warehouses = [*Location.find([('code', '=', 'WH')]), *(
            create_warehouse(f'WH{n + 1}', f"Warehouse {n + 1}")
            for n in range(1, WAREHOUSES))]
    channels = [create_channel(code, kind=kind,
            currency=CURRENCIES.get(code, 'USD'),
            warehouse=warehouses[n % len(warehouses)])
        for n, (code, kind) in enumerate(KINDS.items())]
    for code, name, price in catalogue(SKUS):
        product = create_product(name, code, price, quantity=100_000)
        for warehouse in warehouses[1:]:
            add_stock(product, 100_000, warehouse=warehouse)
        for channel in channels:
            create_listing(channel, product, code)
    return {'agent_key': create_api_key(channels)}


def run(orders, uri, skus, workers=0, codes=('shopify', 'woo'),
        amazon_speed=50.0, optimize=True, warehouses=1):
    # The world's size travels to its builder's process by environment;
    # its own template name keeps one per size.
    os.environ['OMS_BENCH_SKUS'] = str(skus)
    os.environ['OMS_BENCH_WAREHOUSES'] = str(warehouses)
    cache = Cache(cache_root(), uri)
    template, answer = cache.world('bench.sync.world',
        prefix=f'bench_sync3k{skus}w{warehouses}')
    directory = Path(tempfile.mkdtemp(prefix='oms-bench-sync-'))
    database = f'{RUN_PREFIX}{os.getpid()}_bench'
    cache.copy(template, directory, database)
    try:
        with Server(directory, database, uri, workers=workers,
                optimize=optimize) as erp, Sandbox(
                    rate_scale=amazon_speed) as sandbox:
            watch = ReservationWatch(uri, database) if workers else None
            return {**measure(orders, skus, erp, answer, sandbox, directory,
                    watch, workers, codes), 'python_optimize': optimize,
                'warehouses': warehouses}
    finally:
        cache.drop(directory, database)


def add_shops(sandbox, codes):
    "The shops of the channels asked for, by code"
    add = {
        'shopify': lambda: sandbox.add_shopify('shopify', token=TOKEN,
            currency='EUR', maximum_available=2000, restore_rate=1000),
        'woo': lambda: sandbox.add_woocommerce(
            'woo', consumer_key=KEY, consumer_secret=SECRET),
        'amazon': lambda: sandbox.add_amazon('amazon',
            client_id=LWA_CLIENT, client_secret=LWA_SECRET,
            refresh_token=REFRESH_TOKEN),
        }
    return {code: add[code]() for code in codes}


def measure(orders, skus, erp, answer, sandbox, directory, watch=None,
        workers=0, codes=('shopify', 'woo')):
    shops = add_shops(sandbox, codes)
    products = catalogue(skus)
    for shop in shops.values():
        shop.add_products([{'sku': sku, 'title': name, 'price': price,
                    'stock': 100_000} for sku, name, price in products])
    config = agent_config.AgentConfig.model_validate({
            'erp': {'url': erp.url, 'database': erp.database},
            'state_dir': str(directory / 'agent'),
            'channels': [
                {'code': code, 'kind': KINDS[code],
                    'base_url': shop.base_url, 'settings': shop.settings,
                    'rate_limit': {'per_second': 0}}
                for code, shop in shops.items()],
            })
    agent = Agent.from_config(config, environ={
            'OMS_ERP_KEY': answer['agent_key'],
            'OMS_SHOPIFY_TOKEN': TOKEN,
            'OMS_WOO_CONSUMER_KEY': KEY,
            'OMS_WOO_CONSUMER_SECRET': SECRET,
            'OMS_AMAZON_CLIENT_ID': LWA_CLIENT,
            'OMS_AMAZON_CLIENT_SECRET': LWA_SECRET,
            'OMS_AMAZON_REFRESH_TOKEN': REFRESH_TOKEN})
    # Stock pushes are measured on their own, after the import.
    scheduler = Scheduler(agent, wake_stock=False)
    # The shops show the ERP's stock before the sale starts (a level never
    # pushed is read first, after an orders pull).
    scheduler.run_once(['orders', 'stock'])
    for seed, (shop, share) in enumerate(zip(shops.values(),
            split(orders, len(shops)), strict=True), 1):
        shop.generate_orders(share, seed=seed, status='paid',
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

    pending = {code: [level['sku'] for level in
            agent.erp.stock_levels(code)['levels']]
        for code in agent.channels}
    order_calls = {code: sum(shop.calls.values())
        for code, shop in shops.items()}
    amazon = (amazon_pace(shops['amazon'].calls['searchOrders'])
        if 'amazon' in shops else None)
    for shop in shops.values():
        shop.reset_calls()
    push_start = time.perf_counter()
    scheduler.run_once(['stock'])
    push_seconds = time.perf_counter() - push_start
    stock_calls = {code: sum(n for call, n in shop.calls.items()
            if STOCK_CALLS[shop.kind](call))
        for code, shop in shops.items()}
    minimum = {code: sync.adapter.stock_calls(pending[code])
        for code, sync in agent.channels.items()}

    duplicates = missing = 0
    for code, shop in shops.items():
        held = agent.erp.summary(code, external_ids=True)
        in_erp = held['external_ids']
        expected = {agent.channels[code].mapper.external_id(o)
            for o in shop.orders()}
        duplicates += len(in_erp) - len(set(in_erp))
        missing += len(expected - set(in_erp))
    # The agent lets its leases go, which stops their renewal (it would
    # go on calling the ERP once the bench has stopped it)
    scheduler.release_leases()
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
        'stock_levels_changed': {code: len(skus)
            for code, skus in pending.items()},
        'stock_push_s': round(push_seconds, 3),
        'api_calls_stock_push': sum(stock_calls.values()),
        'min_api_calls_stock_push': sum(minimum.values()),
        'api_calls_stock_push_by_channel': stock_calls,
        'api_calls_stock_push_resent_after_stale': resent_calls(
            shops.values()),
        'min_api_calls_stock_push_by_channel': minimum,
        'api_calls_orders': order_calls,
        **({'amazon': amazon} if amazon else {}),
        'measured_at': dt.datetime.now(dt.UTC).isoformat(timespec='seconds'),
        }


def split(total, parts):
    "total as `parts` near-equal shares"
    return [total // parts + (i < total % parts) for i in range(parts)]


def amazon_pace(searches, page=100):
    """What Amazon's own limits make of an orders scan of `searches` calls
    (searchOrders: a burst of 20, then one call in 1/0.0056 s, about 3
    minutes): a new order is seen at the earliest 2 minutes after its
    change (the window must end that long before now), at the latest one
    steady call later; a backlog of more pages than the burst waits a
    call's time per page beyond it"""
    from sync_agent.channels.amazon.limits import OPERATIONS
    rate, burst = OPERATIONS['searchOrders']
    settle = 120
    return {
        'search_calls': searches,
        'capture_lag_s': {'least': settle, 'mean': round(settle
                + 0.5 / rate), 'most': round(settle + 1 / rate)},
        'scan_s_at_amazon_pace': round(max(0, searches - burst) / rate),
        'orders_per_hour_steady': round(3600 * rate * page),
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
    parser.add_argument('--channels', default='shopify,woocommerce',
        help="the kinds of shop selling, comma-separated (shopify, "
        "woocommerce, amazon)")
    parser.add_argument('--warehouses', type=int, default=1,
        help="the channels reserve from this many warehouses, in turn "
        "(Shopify from the first, WooCommerce from the second ...)")
    parser.add_argument('--asserts', action='store_true',
        help="run trytond without Python's -O (its asserts on)")
    parser.add_argument('--amazon-speed', type=float, default=50.0,
        help="how many times faster than Amazon's own its rate limits run")
    parser.add_argument('--profile', choices=['import', 'double11'],
        default='import', help="import: the orders waiting, pulled at "
        "once; double11: a Taobao burst while the other channels sell, "
        "the agent running (bench/double11.py)")
    parser.add_argument('--rate', type=float, default=5.6,
        help="double11: orders a second (20,000 an hour: 5.6)")
    parser.add_argument('--stock', type=int, default=None,
        help="double11: units of each product (default: the hot ones "
        "sell out half-way)")
    parser.add_argument('--safety-stock', type=int, default=2,
        help="double11: units every channel keeps back")
    args = parser.parse_args()
    if args.profile == 'double11':
        from bench import double11
        json.dump(double11.run(args.orders, args.rate, args.skus,
                args.safety_stock, args.stock), sys.stdout)
        print()
        return
    codes = [code for code, kind in KINDS.items()
        if kind in args.channels.split(',')]
    if not codes:
        parser.error(f"--channels: none of {', '.join(KINDS.values())}")
    if args.workers and args.db != 'postgresql':
        parser.error("trytond-worker needs --db postgresql")
    uri = PG_URI if args.db == 'postgresql' else 'sqlite://'
    json.dump(run(args.orders, uri, args.skus, args.workers, codes,
            args.amazon_speed, optimize=not args.asserts,
            warehouses=args.warehouses), sys.stdout)
    print()


if __name__ == '__main__':
    main()
