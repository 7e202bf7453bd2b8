"""双十一 (Singles' Day) on this machine: a burst of Taobao orders while
the other channels keep selling, the agent running as `oms-sync run`:

    python -m bench.sync --profile double11 [--orders 20000] [--rate 5.6]
        [--skus 300] [--stock N] [--safety-stock 2]

A real trytond on PostgreSQL serves a database whose --skus products are
listed on a Taobao shop, a Shopify store and a WooCommerce shop (the
sandbox's, whose checkouts refuse what they show as sold out). Buyers
place --orders one-unit orders at --rate a second (20,000 in an hour is
5.6 a second): 90 % on Taobao, 30 % of those on 20 hot products that
sell out; the rest on the other two shops. The agent runs in a process of
its own (`oms-sync run`, orders every second, stock every two), as a
seller runs it. A watcher samples what every shop shows ten times a
second.

Printed, one JSON object:
- orders_per_s_into_erp: orders stored by the ERP per second of the
  burst, and the Taobao share of them;
- all_reserved_after_s: from the last order placed until the ERP holds
  every order and no stock level is pending;
- oversold_units: units the shops sold beyond the ERP's stock (goal 0,
  with --safety-stock as the README advises);
- p50/p95_propagation_s: from the ERP storing an order until every other
  shop shows at most what is left to sell;
- agent_peak_rss_mb: the agent process's peak resident memory (VmHWM);
- the Taobao calls by method, and the stock write calls per shop.
Not a test: nothing here asserts a time.
"""
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.stock import (
    HOT,
    Watcher,
    imported_sales,
    list_in_stock,
    percentile,
    propagation_times,
    served_world,
)
from sandbox.generator import SoldOut
from sync_agent.erp import ErpClient

PG_URI = 'postgresql://postgres@127.0.0.1:5432/'
ROOT = Path(__file__).resolve().parents[1]
TAOBAO_SHARE = 0.9  # of the orders; the rest on the other shops
HOT_SHARE = 0.3  # of Taobao's orders, on the HOT products
TOKEN = 'shpat_bench_0123456789'
KEY, SECRET = 'ck_bench_0123456789', 'cs_bench_0123456789'
TOP_KEY, TOP_SECRET = '12345678', 'top-bench-0123456789'
TOP_SESSION = '6100bench0123456789'
KINDS = {'taobao': 'taobao', 'shopify': 'shopify', 'woo': 'woocommerce'}
STOCK_WRITES = {
    'taobao': lambda call: call in {'taobao.skus.quantity.update',
        'taobao.item.quantity.update'},
    'shopify': lambda call: call == 'inventorySetQuantities',
    'woo': lambda call: call.startswith('POST') and call.endswith('/batch'),
    }


def catalogue(skus):
    """Item codes with a SKU each: ten SKUs an item (a colour range), as
    Taobao lists them"""
    return [f'D11-{n // 10:03d}-{n % 10}' for n in range(skus)]


def world():
    "Every product on the three channels, OMS_BENCH_STOCK units each"
    from trytond.modules.company.tests.tools import create_company

    from oms_connector.tests.tools import (
        create_api_key,
        create_channel,
        yuan_rate,
    )
    create_company()
    yuan_rate('7.10')
    created = [create_channel(code, kind=kind,
            currency='CNY' if kind == 'taobao' else 'USD')
        for code, kind in KINDS.items()]
    list_in_stock(catalogue(int(os.environ['OMS_BENCH_SKUS'])),
        int(os.environ['OMS_BENCH_STOCK']), created)
    return {'agent_key': create_api_key(created)}


def hot_sellout_stock(orders):
    """Units a product so that the hot ones sell out half-way through the
    burst (and the others mostly not)"""
    return max(5, round(orders * TAOBAO_SHARE * HOT_SHARE / HOT / 2))


def run(orders, rate, skus, safety_stock, stock=None):
    stock = stock or hot_sellout_stock(orders)
    os.environ['OMS_BENCH_SKUS'] = str(skus)
    os.environ['OMS_BENCH_STOCK'] = str(stock)
    with served_world('bench.double11.world', f'bench_d11s{stock}x{skus}',
            safety_stock) as (erp, answer, sandbox, directory):
        return measure(orders, rate, skus, stock, safety_stock, erp,
            answer, sandbox, directory)


def add_shops(sandbox, codes):
    shops = {
        'taobao': sandbox.add_taobao('taobao', app_key=TOP_KEY,
            app_secret=TOP_SECRET, session=TOP_SESSION),
        'shopify': sandbox.add_shopify('shopify', token=TOKEN,
            currency='USD', maximum_available=20000, restore_rate=10000),
        'woo': sandbox.add_woocommerce(
            'woo', consumer_key=KEY, consumer_secret=SECRET),
        }
    for shop in shops.values():
        shop.sells_out_of_stock = False
        shop.add_products([{'sku': sku, 'title': sku, 'price': '9.90',
                    'stock': 0} for sku in codes])
    return shops


def start_agent(erp, answer, shops, directory):
    "oms-sync run in a process of its own, as a seller runs it"
    config = directory / 'oms-sync.json'
    config.write_text(json.dumps({
                'erp': {'url': erp.url, 'database': erp.database},
                'state_dir': str(directory / 'agent'),
                'channels': [{
                        'code': code, 'kind': KINDS[code],
                        'base_url': shop.base_url,
                        'settings': shop.settings,
                        'rate_limit': {'per_second': 0},
                        # as docs/oms-sync.example.yaml advises for TOP
                        **({'overlap': 60, 'erp_batch': 50}
                            if code == 'taobao' else {}),
                        'intervals': {'orders': 1, 'stock': 2,
                            'reconcile': 86400},
                        } for code, shop in shops.items()],
                }))
    env = {**os.environ, 'PYTHONPATH': str(ROOT),
        'OMS_ERP_KEY': answer['agent_key'],
        'OMS_SHOPIFY_TOKEN': TOKEN,
        'OMS_WOO_CONSUMER_KEY': KEY, 'OMS_WOO_CONSUMER_SECRET': SECRET,
        'OMS_TAOBAO_APP_KEY': TOP_KEY, 'OMS_TAOBAO_APP_SECRET': TOP_SECRET,
        'OMS_TAOBAO_SESSION': TOP_SESSION}
    log = (directory / 'agent.log').open('w')
    return subprocess.Popen([sys.executable, '-m', 'sync_agent.cli',
            '--config', str(config), 'run'], env=env, stdout=log,
        stderr=subprocess.STDOUT)


def peak_rss_mb(pid):
    "A process's peak resident memory (Linux VmHWM), in MB"
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmHWM:'):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def measure(orders, rate, skus, stock, safety_stock, erp, answer, sandbox,
        directory):
    codes = catalogue(skus)
    shops = add_shops(sandbox, codes)
    client = ErpClient(erp.url, erp.database, answer['agent_key'])
    agent = start_agent(erp, answer, shops, directory)
    try:
        # The shops show the ERP's stock before the sale starts
        ready = wait(lambda: all(shop.inventory(codes[-1]) == stock
                - safety_stock for shop in shops.values()), 300)
        for shop in shops.values():
            shop.reset_calls()
        watcher = Watcher(shops)
        watcher.start()
        started = time.monotonic()
        placed = buy(shops, codes, orders, rate)
        placed_s = time.monotonic() - started
        want = Counter(code for code, *_ in placed)
        settled = wait(lambda: all(
                client.summary(code)['orders'] >= want[code]
                for code in shops) and all(
                client.stock_levels(code, limit=0)['pending'] == 0
                for code in shops), 900)
        reserved_s = time.monotonic() - started - placed_s
        time.sleep(1)  # the watcher's last samples
        watcher.stop()
        memory = peak_rss_mb(agent.pid)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=60)
        except subprocess.TimeoutExpired:
            agent.kill()

    sales = imported_sales(erp)
    kinds = {code: code for code in shops}
    propagation, unpropagated = propagation_times(
        sales, watcher, kinds, safety_stock, stock)
    sold = Counter(sku for _, sku, *_ in placed)
    in_erp = Counter(s['channel'] for s in sales)
    taobao_calls = {call: n for call, n in sorted(
            shops['taobao'].calls.items())}
    return {
        'profile': 'double11',
        'backend': 'postgresql',
        'orders': len(placed),
        'by_channel': dict(want),
        'skus': skus, 'hot_skus': HOT, 'stock_per_sku': stock,
        'rate_per_s': rate,
        'safety_stock': safety_stock,
        'opening_push_ok': ready,
        'placed_in_s': round(placed_s, 1),
        'orders_per_s_into_erp': round(len(sales) / (placed_s + reserved_s),
            2) if sales else 0,
        'settled': settled,
        'all_reserved_after_s': round(reserved_s, 1),
        'imported': dict(in_erp),
        'duplicates': len(sales) - len({(s['channel'], s['order'])
                for s in sales}),
        'missing': sum(want.values()) - len({(s['channel'], s['order'])
                for s in sales}),
        'held_insufficient_stock': sum(
            1 for s in sales if s['held'] == 'insufficient_stock'),
        'oversold_units': sum(max(0, n - stock) for n in sold.values()),
        'p50_propagation_s': percentile(propagation, 50),
        'p95_propagation_s': percentile(propagation, 95),
        'max_propagation_s': round(max(propagation), 3)
        if propagation else None,
        'unpropagated': unpropagated,
        'agent_peak_rss_mb': memory,
        'taobao_calls': taobao_calls,
        'stock_write_calls': {code: sum(n for call, n in shop.calls.items()
                if STOCK_WRITES[code](call))
            for code, shop in shops.items()},
        'measured_at': dt.datetime.now(dt.UTC).isoformat(timespec='seconds'),
        }


def wait(done, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.5)
    return False


def buy(shops, codes, orders, rate):
    """Buyers at `rate` a second: TAOBAO_SHARE on Taobao (HOT_SHARE of
    them on the hot products), the rest on the other shops; a shop
    showing 0 turns its buyer away (who tries again)"""
    rng = random.Random(1111)
    hot, others = codes[:HOT], [c for c in shops if c != 'taobao']
    placed = []
    start = time.monotonic()
    tries = 0
    while len(placed) < orders and tries < orders * 20:
        tries += 1
        taobao = rng.random() < TAOBAO_SHARE
        code = 'taobao' if taobao else rng.choice(others)
        sku = rng.choice(hot if taobao and rng.random() < HOT_SHARE
            else codes)
        if (shops[code].inventory(sku) or 0) <= 0:
            continue
        due = start + len(placed) / rate
        time.sleep(max(0, due - time.monotonic()))
        try:
            order = shops[code].create_order(status='paid',
                lines=[(sku, 1)])
        except SoldOut:
            continue
        placed.append((code, sku, external_id(order), time.time()))
    return placed


def external_id(order):
    "The channel id of a raw order, as the ERP keeps it"
    return str(order.get('tid_str') or order.get('legacyResourceId')
        or order['id'])
