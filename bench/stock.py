"""How fast a sale on one channel lowers the quantity every other channel
shows, and whether anything is oversold, with channels selling at once:

    python -m bench.stock --channels 5 --skus 2000 --orders 500 [--rate 4]

A real trytond on PostgreSQL serves a database whose products (--skus,
5 units each) are listed on --channels channels (Shopify and WooCommerce in
turn). The sandbox runs one shop per channel whose checkout refuses what
it shows as sold out. Buyers place --orders one-unit orders at --rate a
second on random shops, half of them on 20 "hot" products that sell out,
while the agent runs its loop (`oms-sync run`'s scheduler) in this process.
A watcher samples what every shop shows ten times a second.

Printed, one JSON object:
- p50/p95_sale_to_import_s: from a buyer's order on a shop until the ERP
  stores it (the agent's polling and the import);
- p50/p95_propagation_s: from the ERP storing an order (its sale's
  create_date) until every other channel shows at most the quantity left
  to sell after it (on hand less the reservations so far, less the
  --safety-stock every channel keeps back);
- oversold_units: units the shops sold beyond the ERP's stock;
- api_calls: the stock write calls the shops received (Shopify
  inventorySetQuantities, WooCommerce batch updates) after the opening
  push; min_api_calls: the fewest calls that carry the levels the agent
  pushed (ceil(levels / bulk size) per push); api_calls_resent_after_stale:
  the calls beyond it, Shopify's inventorySetQuantities refused whole
  because one level was stale, its other levels sent again (see
  resent_calls); lookup_calls: SKU and location lookups.
Not a test: nothing here asserts a time.
"""
import argparse
import contextlib
import datetime as dt
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

from harness.databases import RUN_PREFIX, Cache, cache_root
from harness.server import Server
from sandbox.generator import SoldOut
from sandbox.server import Sandbox
from sandbox.shopify.catalog import REFUSED_SET
from sync_agent import config as agent_config
from sync_agent.agent import Agent
from sync_agent.scheduler import Scheduler

PG_URI = 'postgresql://postgres@127.0.0.1:5432/'
STOCK = 5  # units of each product
HOT = 20  # products half the buyers want
TOKEN = 'shpat_bench_0123456789'
KEY, SECRET = 'ck_bench_0123456789', 'cs_bench_0123456789'
BULK = {'shopify': 250, 'woocommerce': 100}


def channel_kinds(channels):
    return {f'ch{n}': ('shopify', 'woocommerce')[n % 2]
        for n in range(channels)}


def catalogue(skus):
    return [f'STK-{n:05d}' for n in range(skus)]


def world():
    "Every product listed on every channel, STOCK units each"
    from trytond.modules.company.tests.tools import create_company

    from oms_connector.tests.tools import create_api_key, create_channel
    create_company()
    channels = int(os.environ['OMS_BENCH_CHANNELS'])
    skus = catalogue(int(os.environ['OMS_BENCH_SKUS']))
    created = [create_channel(code, kind=kind)
        for code, kind in channel_kinds(channels).items()]
    list_in_stock(skus, STOCK, created)
    return {'agent_key': create_api_key(created)}


def list_in_stock(skus, stock, channels):
    """Products of these codes with `stock` units each, listed on every
    channel; built with bulk calls (thousands of records)"""
    from proteus import Model
    Template = Model.get('product.template')
    Uom = Model.get('product.uom')
    Location = Model.get('stock.location')
    Inventory = Model.get('stock.inventory')
    Listing = Model.get('oms.listing')
    Product = Model.get('product.product')
    context = Template._config.context
    unit, = Uom.find([('name', '=', 'Unit')])
    Template._proxy.create([{
                'name': f"Bench product {sku}", 'code': sku, 'type': 'goods',
                'salable': True, 'list_price': '9.90',
                'default_uom': unit.id, 'sale_uom': unit.id,
                'products': [('create', [{}])],
                } for sku in skus], context)
    products = {p['code']: p['id'] for p in Product._proxy.search_read(
            [('code', 'in', skus)], 0, None, None, ['code'], context)}
    storage, = Location.find([('code', '=', 'STO')])
    inventory, = Inventory._proxy.create([{
                'location': storage.id,
                'lines': [('create', [{'product': products[sku],
                                'quantity': stock} for sku in skus])],
                }], context)
    Inventory._proxy.confirm([inventory], context)
    Listing._proxy.create([{
                'channel': channel.id, 'product': products[sku], 'sku': sku}
            for channel in channels for sku in skus], context)


def run(channels, skus, orders, rate, safety_stock=0):
    os.environ['OMS_BENCH_CHANNELS'] = str(channels)
    os.environ['OMS_BENCH_SKUS'] = str(skus)
    with served_world('bench.stock.world', f'bench_stock{channels}x{skus}',
            safety_stock) as (erp, answer, sandbox, directory):
        return measure(channels, skus, orders, rate, erp, answer,
            sandbox, directory, safety_stock)


@contextlib.contextmanager
def served_world(world, prefix, safety_stock):
    """A copy of the world's PostgreSQL template (built once per prefix),
    its channels keeping safety_stock back, served by trytond beside a
    sandbox: (erp, the world's answer, sandbox, directory); dropped after"""
    cache = Cache(cache_root(), PG_URI)
    template, answer = cache.world(world, prefix=prefix)
    directory = Path(tempfile.mkdtemp(prefix=f'oms-{prefix}-'))
    database = f'{RUN_PREFIX}{os.getpid()}_bench'
    cache.copy(template, directory, database)
    if safety_stock:
        keep_back(database, safety_stock)
    try:
        with Server(directory, database, PG_URI) as erp, \
                Sandbox() as sandbox:
            yield erp, answer, sandbox, directory
    finally:
        cache.drop(directory, database)


def keep_back(database, safety_stock):
    """Every channel keeps safety_stock units back; every product is logged
    as changed, so the first stock poll recomputes its levels."""
    import psycopg
    with psycopg.connect(PG_URI.rstrip('/') + '/' + database) as db:
        db.execute('UPDATE oms_channel SET safety_stock = %s',
            (safety_stock,))
        db.execute('INSERT INTO oms_stock_change'
            ' (product, sold, create_uid, create_date)'
            " SELECT id, 0, 0, now() AT TIME ZONE 'UTC'"
            ' FROM product_product')


def measure(channels, skus, orders, rate, erp, answer, sandbox, directory,
        safety_stock=0):
    kinds = channel_kinds(channels)
    codes = catalogue(skus)
    shops, environ = {}, {'OMS_ERP_KEY': answer['agent_key']}
    for code, kind in kinds.items():
        if kind == 'shopify':
            shop = sandbox.add_shopify(code, token=TOKEN, currency='USD',
                maximum_available=20000, restore_rate=10000)
            environ[f'OMS_{code.upper()}_TOKEN'] = TOKEN
        else:
            shop = sandbox.add_woocommerce(
                code, consumer_key=KEY, consumer_secret=SECRET)
            environ[f'OMS_{code.upper()}_CONSUMER_KEY'] = KEY
            environ[f'OMS_{code.upper()}_CONSUMER_SECRET'] = SECRET
        shop.sells_out_of_stock = False
        shop.add_products([{'sku': sku, 'title': sku, 'price': '9.90',
                    'stock': 0} for sku in codes])
        shops[code] = shop
    config = agent_config.AgentConfig.model_validate({
            'erp': {'url': erp.url, 'database': erp.database},
            'state_dir': str(directory / 'agent'),
            'channels': [{
                    'code': code, 'kind': kind,
                    'base_url': shops[code].base_url,
                    'rate_limit': {'per_second': 0},
                    'intervals': {'orders': 1, 'stock': 2,
                        'reconcile': 86400},
                    } for code, kind in kinds.items()],
            })
    agent = Agent.from_config(config, environ=environ)
    pushes = count_pushes(agent)
    scheduler = Scheduler(agent)
    opening = time.perf_counter()
    # The shops show the ERP's stock (a level never pushed is read first,
    # after an orders pull: none yet).
    scheduler.run_once(['orders', 'stock'])
    opening_s = time.perf_counter() - opening
    pushes.clear()
    for shop in shops.values():
        shop.reset_calls()

    watcher = Watcher(shops)
    watcher.start()
    loop = threading.Thread(target=scheduler.run, daemon=True)
    loop.start()
    placed = buy(shops, codes, orders, rate)
    settled = settle(agent, shops, placed)
    scheduler.stop()
    loop.join(timeout=60)
    watcher.stop()

    sales = imported_sales(erp)
    propagation, unpropagated = propagation_times(
        sales, watcher, kinds, safety_stock)
    sold = Counter(sku for _, sku, *_ in placed)
    sold_at = {(code, order): at for code, _, order, at in placed}
    to_import = [sale['at'] - sold_at[sale['channel'], sale['order']]
        for sale in sales if (sale['channel'], sale['order']) in sold_at]
    stock_calls = lookup_calls = 0
    for shop in shops.values():
        for call, n in shop.calls.items():
            if call in {'inventorySetQuantities'} or (
                    call.startswith('POST') and call.endswith('/batch')):
                stock_calls += n
            elif call in {'productVariants', 'locations'} or (
                    call.startswith('GET /products')):
                lookup_calls += n
    return {
        'backend': 'postgresql',
        'channels': channels,
        'skus': skus,
        'orders': len(placed),
        'rate_per_s': rate,
        'safety_stock': safety_stock,
        'imported': len(sales),
        'held_insufficient_stock': sum(
            1 for s in sales if s['held'] == 'insufficient_stock'),
        'settled': settled,
        'p50_sale_to_import_s': percentile(to_import, 50),
        'p95_sale_to_import_s': percentile(to_import, 95),
        'p50_propagation_s': percentile(propagation, 50),
        'p95_propagation_s': percentile(propagation, 95),
        'max_propagation_s': round(max(propagation), 3)
        if propagation else None,
        'propagations': len(propagation),
        'unpropagated': unpropagated,
        'oversold_units': sum(max(0, n - STOCK) for n in sold.values()),
        'api_calls': stock_calls,
        'min_api_calls': sum(
            math.ceil(n / BULK[kinds[code]]) for code, n in pushes),
        # Beyond the minimum and unavoidable: see resent_calls
        'api_calls_resent_after_stale': resent_calls(shops.values()),
        'lookup_calls': lookup_calls,
        'opening_push_s': round(opening_s, 3),
        'measured_at': dt.datetime.now(dt.UTC).isoformat(timespec='seconds'),
        }


def resent_calls(shops):
    """The stock calls made again because the channel refused them whole:
    Shopify's inventorySetQuantities applies all its quantities or none,
    so one found stale (the shop sold since the ERP's last figure: the
    compare-and-set that keeps a sale from being offered again) sends the
    rest again in a second call. Reading the levels first would cost a
    call every push; dropping the compare would oversell."""
    return sum(shop.calls[REFUSED_SET] for shop in shops
        if REFUSED_SET in shop.calls)


def count_pushes(agent):
    "Record (channel, levels) for every stock push an adapter makes"
    pushes = []
    for code, sync in agent.channels.items():
        adapter = sync.adapter
        push = adapter.push_stock

        def counted(updates, code=code, push=push):
            if updates:
                pushes.append((code, len(updates)))
            return push(updates)
        adapter.push_stock = counted
    return pushes


class Watcher(threading.Thread):
    "What every shop shows, sampled: {(shop, sku): [(time, quantity)]}"

    def __init__(self, shops, interval=0.1):
        super().__init__(daemon=True)
        self.shops, self.interval = shops, interval
        self.seen = defaultdict(list)
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            for code, shop in self.shops.items():
                now = time.time()
                for sku, quantity in shop.inventory_levels().items():
                    series = self.seen[code, sku]
                    if not series or series[-1][1] != quantity:
                        series.append((now, quantity))
            self.stopping.wait(self.interval)

    def stop(self):
        self.stopping.set()
        self.join()

    def first_at_most(self, code, sku, quantity, since):
        """When the shop first showed at most quantity at or after since
        (its showing at since counts)"""
        series = self.seen[code, sku]
        before = [t for t, q in series if t <= since]
        if before and series[len(before) - 1][1] <= quantity:
            return since
        for t, q in series[len(before):]:
            if q <= quantity:
                return t
        return None


def buy(shops, codes, orders, rate):
    """Buyers at `rate` a second on random shops, half on the hot
    products; a shop showing 0 turns its buyer away (who tries again)"""
    rng = random.Random(11)
    hot = codes[:HOT]
    placed = []
    names = sorted(shops)
    start = time.monotonic()
    tries = 0
    while len(placed) < orders and tries < orders * 20:
        tries += 1
        code = rng.choice(names)
        sku = rng.choice(hot if rng.random() < 0.5 else codes)
        if (shops[code].inventory(sku) or 0) <= 0:
            continue
        due = start + len(placed) / rate
        time.sleep(max(0, due - time.monotonic()))
        try:
            order = shops[code].create_order(status='paid',
                lines=[(sku, 1)])
        except SoldOut:
            continue  # sold out while the buyer waited
        placed.append((code, sku, external_id(order), time.time()))
    return placed


def external_id(order):
    "The channel id of a raw order, as the ERP keeps it"
    return str(order.get('legacyResourceId') or order['id'])


def settle(agent, shops, placed, timeout=300):
    """Wait until the ERP holds every order and no level is pending;
    True when it did within the timeout"""
    want = Counter(code for code, *_ in placed)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = all(agent.erp.summary(code)['orders'] >= want[code]
            for code in shops)
        if done and all(agent.erp.stock_levels(code, limit=0)['pending'] == 0
                for code in shops):
            time.sleep(1)  # the watcher's last samples
            return True
        time.sleep(0.5)
    return False


SALES = """
SELECT s.create_date, c.code, s.oms_external_id, p.code, l.quantity,
    s.oms_exception_kind
FROM sale_sale s
JOIN oms_channel c ON c.id = s.oms_channel
JOIN sale_line l ON l.sale = s.id
JOIN product_product p ON p.id = l.product
ORDER BY s.create_date, s.id
"""


def imported_sales(erp):
    import psycopg
    with psycopg.connect(erp.uri.rstrip('/') + '/' + erp.database) as db:
        return [{'at': created.replace(tzinfo=dt.UTC).timestamp(),
                'channel': channel, 'order': order, 'sku': sku,
                'quantity': int(quantity), 'held': held}
            for created, channel, order, sku, quantity, held
            in db.execute(SALES)]


def propagation_times(sales, watcher, kinds, safety_stock=0, stock=STOCK):
    """Per reserving order, the seconds until every other shop showed at
    most what was left to sell (of `stock` units a product); and how many
    never did"""
    reserved = Counter()
    times, never = [], 0
    for sale in sales:
        if sale['held']:
            continue
        reserved[sale['sku']] += sale['quantity']
        left = max(0, stock - reserved[sale['sku']] - safety_stock)
        seen = [watcher.first_at_most(code, sale['sku'], left, sale['at'])
            for code in kinds if code != sale['channel']]
        if any(t is None for t in seen):
            never += 1
        else:
            times.append(max(seen) - sale['at'])
    return times, never


def percentile(values, p):
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100)[p - 1], 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--channels', type=int, default=5)
    parser.add_argument('--skus', type=int, default=2000)
    parser.add_argument('--orders', type=int, default=500)
    parser.add_argument('--rate', type=float, default=4,
        help="orders a second, over all shops")
    parser.add_argument('--safety-stock', type=int, default=0,
        help="units every channel keeps back")
    args = parser.parse_args()
    json.dump(run(args.channels, args.skus, args.orders, args.rate,
            args.safety_stock), sys.stdout)
    print()


if __name__ == '__main__':
    main()
