"""The anchor: Tryton's own Shopify connector (web_shop_shopify, from PyPI)
and this project fed the same orders, side by side, fully processed:

    python -m bench.anchor [--orders 300] [--rounds 3] [--workers N]
        [--db sqlite|postgresql] [--skus 200]

"Fully processed": every order a sale, confirmed and processing, its
customer shipment's goods assigned (reserved). Rounds alternate, the
anchor first: anchor, project, anchor, project, ... each on --orders
orders drawn by the sandbox with the same seed (1) and count, as
bench.sync draws its Shopify shop's. Prints one JSON object (rates, each
round's ratio project/anchor, their medians, versions); progress goes to
stderr. Not a test: nothing here asserts a time.

The anchor runs in its own virtualenv, .cache/anchor/venv, made on first
use (python3 -m venv; pip: trytond and trytond-web-shop-shopify 8.0.x,
psycopg[binary] as the project's own, proteus for the set-up; a stamp
keeps a second run from installing anything). Its side is
bench/anchor_runner.py, run by that virtualenv's python: the database is
built once per run (trytond-admin activating web_shop_shopify and its
dependencies; a company in EUR, --skus products with 100,000 of each in
stock and their Shopify variant ids, a Shopify web shop with its payment
journal and the warehouse linked to the Shopify location, as the module's
scenario sets one up), each round works on a copy of it, and all are
dropped at the end.

What the anchor's timed span holds: trytond-cron's own loop,
ir.cron.run(database), pass after pass until every order is a sale in
"processing" with its shipment assigned. A pass runs each due cron in
turn, by id, in its transaction, and right after it the tasks it queued
(no worker: trytond runs them there and then, each in its transaction):

- "Fetch Shopify Orders" (web.shop|shopify_fetch_order, the module's own
  cron): one orders query of the 20 next orders by id
  (``-status:cancelled AND id:>last``; the module pages no further), a
  party, addresses and a sale each, the sale quoted, its payment created
  from the order's transaction and processed, the sale confirmed when
  paid (sale_payment's payment_confirm);
- "Assign Shipments" (ir.cron|stock_shipment_assign_try, stock's method
  on a record an administrator adds: the module has none): assign_try
  on every waiting customer shipment;
- the fetch's queued tasks, before the assign cron runs:
  sale.sale.process (invoice and shipment; the 20 sales in one task),
  then web_shop_shopify's _process_shopify per sale (one
  ``order(id) { closed }`` query each).

So one pass fetches 20 orders and leaves them processed and reserved.

Both crons are made due again before each pass (a write of next_call;
their intervals, a day and a minute, would only add waiting), and a
count of sales and assigned shipments after each pass tells when to stop:
both are inside the span. Not in it: starting the runner process, loading
trytond's pool, copying the database. Every order must end as exactly one
sale, processing, with one assigned shipment, or the run fails.

The project's side is bench.sync.run (Shopify channel only, no worker):
the agent pulls the sandbox shop's orders into the ERP, whose import
reserves the goods before it answers; its seconds are fully processed
too. Its missing and duplicates must be 0.

The fake Shopify (bench/anchor_shopify.py) serves the sandbox's orders
translated to what web_shop_shopify's queries select, on loopback. The
anchor's calls reach it unchanged but for the address: shopify_app makes
an httpx.Client per request to https://{shop}.myshopify.com/ with no
override, so the runner gives the clients it makes a transport that sends
the request to the fake over plain HTTP (no TLS, one new connection per
call as that client opens). Where the fake follows Shopify's published
contract (Admin GraphQL API, version 2024-10, the one web_shop_shopify
asks for):

- the endpoint ``/admin/api/{version}/graphql.json``, POST of
  ``{query, variables}``, ``X-Shopify-Access-Token``, ``{data}`` answers
  and ``{errors}`` for what it cannot serve;
- ``orders(first, query, sortKey: ID)``: the search syntax's
  ``-status:cancelled`` and ``id:>N`` / ``id:N`` terms joined by AND/OR,
  ascending by id, ``first`` orders;
- ``order(id)``, ``fulfillmentOrder(id)``, ``locations(first, ...)`` by gid;
- the Order fields the module selects, with their documented types:
  MoneyBag (shopMoney/presentmentMoney), connections (nodes/pageInfo),
  Order.transactions and Order.refunds as plain lists,
  LineItem.discountAllocations[].allocatedAmountSet,
  ShippingLine.currentDiscountedPriceSet, FulfillmentOrder.status,
  assignedLocation.location, deliveryMethod.methodType,
  lineItems.totalQuantity/remainingQuantity, Customer.displayName/locale.

Unconfirmed (the fake's choice where the sandbox has no such field or
Shopify's behaviour was not checked against a live shop): displayName as
"first last"; locale null; one discount allocation per line holding its
whole discount (Shopify may split it by discount application);
deliveryMethod always SHIPPING; statusPageUrl a made-up URL of the shop;
paymentTerms null for paid orders; the cost extensions and throttling are
not served (the anchor's 20-order pages never near Shopify's limits, and
shopify_app retries only 429/5xx); every page fits (no order has more
than 100 lines, 10 shipping lines or 10 fulfillment orders), so the
module's follow-up paging queries are never asked.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import sync
from bench.anchor_shopify import FakeShopify, Served, to_anchor
from harness.databases import (
    ROOT,
    RUN_PREFIX,
    _postgresql,
    copy_database,
    drop_database,
    is_postgresql,
)
from sandbox.server import Sandbox
from sandbox.shopify.model import COUNTRY_NAMES

PG_URI = sync.PG_URI
ANCHOR_DIR = ROOT / '.cache' / 'anchor'
VENV = ANCHOR_DIR / 'venv'
PYTHON = VENV / 'bin' / 'python'
RUNNER = Path(__file__).with_name('anchor_runner.py')
# What the anchor's virtualenv holds; the stamp records it
REQUIREMENTS = [
    'trytond>=8.0,<8.1',
    'trytond-web-shop-shopify>=8.0,<8.1',
    # trytond 8.0's PostgreSQL backend is psycopg 3 (its [postgresql]
    # extra: psycopg[pool]); the C build, as the project's own venv has
    'psycopg[binary,pool]>=3.2',
    # The set-up's company and currency helpers (trytond's test tools)
    'proteus>=8.0,<8.1',
    ]
STAMP = VENV / '.anchor-stamp'
SHOP = 'bench-anchor'
TOKEN = sync.TOKEN
STOCK = 100_000
# The seed bench.sync draws its first shop's orders with
SEED = 1


def log(message: str) -> None:
    print(f"[anchor] {message}", file=sys.stderr, flush=True)


# -- the anchor's virtualenv -------------------------------------------------

def requirements_digest() -> str:
    return hashlib.sha256('\n'.join(REQUIREMENTS).encode()).hexdigest()


def ensure_venv() -> None:
    "Make the anchor's virtualenv unless its stamp says it is there"
    digest = requirements_digest()
    if STAMP.exists() and STAMP.read_text().strip() == digest \
            and PYTHON.exists():
        return
    log(f"installing the anchor's virtualenv in {VENV}")
    if not PYTHON.exists():
        subprocess.run([sys.executable, '-m', 'venv', str(VENV)],
            check=True)
    subprocess.run([str(PYTHON), '-m', 'pip', 'install', '-q',
            '--disable-pip-version-check', *REQUIREMENTS],
        check=True, stdout=sys.stderr)
    STAMP.write_text(digest + '\n')


# -- the orders --------------------------------------------------------------

@contextmanager
def shop_orders(orders: int, skus: int) -> Iterator[dict[str, Any]]:
    """The orders bench.sync's Shopify shop draws (same catalogue, seed,
    count and options), and the anchor's world made of them"""
    with Sandbox() as sandbox:
        shop = sandbox.add_shopify('shopify', token=TOKEN, currency='EUR',
            maximum_available=2000, restore_rate=1000)
        products = shop.add_products([{'sku': sku, 'title': name,
                    'price': price, 'stock': STOCK}
                for sku, name, price in sync.catalogue(skus)])
        shop.generate_orders(orders, seed=SEED, status='paid',
            spread_hours=1)
        served = shop.orders()
        yield world(served, products, shop.default_location,
            dict(shop._locations))


def world(orders: list[dict[str, Any]], products: list[dict[str, Any]],
        location: int, locations: dict[int, str]) -> dict[str, Any]:
    "What the runner and the fake need of the sandbox's shop"
    countries = {address['countryCodeV2'] for o in orders
        for address in (o['shippingAddress'], o['billingAddress'])
        if address}
    return {
        'shop': SHOP, 'token': TOKEN, 'currency': 'EUR', 'stock': STOCK,
        'location': location, 'locations': locations,
        'countries': {code: COUNTRY_NAMES.get(code, code)
            for code in sorted(countries)},
        'products': [{'sku': p['sku'], 'title': p['title'],
                'price': p['price'],
                'variant': int(p['variant_id'].rsplit('/', 1)[1])}
            for p in products],
        'orders': [to_anchor(o, SHOP) for o in orders],
        }


# -- the anchor's processes and databases ------------------------------------

class Anchor:
    """The anchor's template database (built once) and the rounds run on
    copies of it; everything made is dropped by close()"""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.directory = Path(tempfile.mkdtemp(prefix='oms-bench-anchor-'))
        self.template = f'{RUN_PREFIX}{os.getpid()}_anchor'
        self.databases: set[str] = set()
        self.state: dict[str, Any] | None = None
        self.products: list[dict[str, Any]] | None = None
        self.config = self.directory / 'trytond.conf'
        self.config.write_text('\n'.join([
                    '[database]', f'uri = {uri}',
                    f'path = {self.directory}', '']))

    def runner(self, command: str, database: str, data: dict[str, Any],
            port: int) -> dict[str, Any]:
        source = self.directory / f'{command}-in.json'
        out = self.directory / f'{command}-out.json'
        source.write_text(json.dumps(data))
        out.unlink(missing_ok=True)
        # Under Python's -O, as the project's trytond runs (bench.sync)
        call([str(PYTHON), str(RUNNER), command, str(self.config),
                database, str(source), str(out)],
            env=dict(os.environ, ANCHOR_SHOPIFY_PORT=str(port),
                PYTHONOPTIMIZE='1'))
        return json.loads(out.read_text())

    def build(self, data: dict[str, Any], port: int) -> None:
        "The template: web_shop_shopify activated, the shop's world set up"
        log(f"building the anchor's database {self.template} "
            "(web_shop_shopify and its dependencies)")
        self.databases.add(self.template)
        if is_postgresql(self.uri):
            drop_database(self.uri, None, self.template)
            _postgresql(self.uri, f'CREATE DATABASE "{self.template}"')
        else:
            (self.directory / f'{self.template}.sqlite').touch()
        passfile = self.directory / 'admin.pass'
        passfile.write_text('admin')
        call([str(VENV / 'bin' / 'trytond-admin'), '-c', str(self.config),
                '-d', self.template, '--all', '-u', 'web_shop_shopify',
                '--activate-dependencies', '--email', 'admin@example.com'],
            env=dict(os.environ, TRYTONPASSFILE=str(passfile)),
            stdout=subprocess.DEVNULL)
        self.state = self.runner('setup', self.template, data, port)
        self.products = data['products']

    def measure(self, data: dict[str, Any], fake: FakeShopify,
            port: int, number: int) -> dict[str, Any]:
        # The same catalogue draws the same variant ids, which the
        # template's products carry
        assert data['products'] == self.products
        database = f'{self.template}_{number}'
        self.databases.add(database)
        copy_database(self.uri, self.directory, self.template,
            self.directory, database)
        fake.calls.clear()
        try:
            result = self.runner('run', database,
                {**data, 'state': self.state}, port)
        finally:
            self.drop(database)
        result['api_calls'] = dict(fake.calls)
        return result

    def drop(self, database: str) -> None:
        drop_database(self.uri, self.directory, database)
        self.databases.discard(database)

    def close(self) -> None:
        for database in sorted(self.databases):
            try:
                self.drop(database)
            except Exception as error:  # noqa: BLE001 - drop the others
                log(f"could not drop {database}: {error}")
        for path in self.directory.iterdir():
            path.unlink()
        self.directory.rmdir()


def call(args: list[str], env: dict[str, str] | None = None,
        stdout: Any = None) -> None:
    """Run a process of ours to its end; on an error or Ctrl-C here, end
    it (and only it) before going on"""
    process = subprocess.Popen(args, env=env,
        stdout=sys.stderr if stdout is None else stdout)
    try:
        code = process.wait()
    except BaseException:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    if code:
        raise subprocess.CalledProcessError(code, args[:3])


# -- the comparison ----------------------------------------------------------

def anchor_round(anchor: Anchor, orders: int, skus: int,
        number: int) -> dict[str, Any]:
    with shop_orders(orders, skus) as data:
        fake = FakeShopify(SHOP, TOKEN, data['orders'], data['locations'])
        with Served(fake) as served:
            if anchor.state is None:
                anchor.build(data, served.port)
            result = anchor.measure(data, fake, served.port, number)
    problems = {key: result[key] for key in
        ('missing', 'duplicates', 'not_processing', 'not_reserved')
        if result[key]}
    if result['sales'] != orders or problems:
        raise RuntimeError(f"anchor round {number}: {result['sales']} "
            f"sales of {orders} orders, {problems}")
    return result


def project_round(orders: int, uri: str, skus: int, workers: int = 0
        ) -> dict[str, Any]:
    """bench.sync's Shopify import; with workers, its rate is the orders
    over the time until the last one is reserved"""
    result = sync.run(orders, uri, skus, workers=workers,
        codes=('shopify',))
    if result['missing'] or result['duplicates'] or result['failed_jobs']:
        raise RuntimeError(f"project: missing {result['missing']}, "
            f"duplicates {result['duplicates']}, failed "
            f"{result['failed_jobs']}")
    if workers:
        result['orders_per_s'] = round(
            orders / result['all_reserved_after_s'], 1)
    return result


def compare(orders: int, rounds: int, uri: str, skus: int,
        workers: int = 0) -> dict[str, Any]:
    ensure_venv()
    load_before = os.getloadavg()
    anchor = Anchor(uri)
    measured = []
    try:
        for number in range(1, rounds + 1):
            log(f"round {number}/{rounds}: the anchor, {orders} orders")
            a = anchor_round(anchor, orders, skus, number)
            log(f"round {number}: anchor {a['orders_per_s']} orders/s; "
                "the project")
            p = project_round(orders, uri, skus, workers)
            log(f"round {number}: project {p['orders_per_s']} orders/s")
            measured.append((a, p))
    finally:
        anchor.close()
    rows = [{
            'anchor_orders_per_s': a['orders_per_s'],
            'project_orders_per_s': p['orders_per_s'],
            'ratio': round(p['orders_per_s'] / a['orders_per_s'], 2),
            'anchor_seconds': a['seconds'],
            'project_seconds': p['seconds'],
            'anchor_cron_passes': a['cron_passes'],
            'anchor_api_calls': a['api_calls'],
            'project_api_calls': p['api_calls_orders'].get('shopify'),
            } for a, p in measured]
    versions = measured[0][0]['versions']
    import trytond
    return {
        'backend': 'postgresql' if is_postgresql(uri) else 'sqlite',
        'orders': orders,
        'project_workers': workers,
        'skus': skus,
        'seed': SEED,
        'rounds': rows,
        'ratio_is': 'project / anchor (orders/s)',
        'anchor_orders_per_s_median': statistics.median(
            r['anchor_orders_per_s'] for r in rows),
        'project_orders_per_s_median': statistics.median(
            r['project_orders_per_s'] for r in rows),
        'ratio_median': statistics.median(r['ratio'] for r in rows),
        'versions': {
            'trytond': versions['trytond'],
            'web_shop_shopify': versions['trytond-web-shop-shopify'],
            'shopifyapp': versions['shopifyapp'],
            'project_trytond': trytond.__version__,
            },
        'timed': {
            'anchor': "ir.cron.run passes (fetch Shopify orders: 20 a "
                "call, then the sale.sale.process and _process_shopify "
                "tasks it queued; assign shipments), the crons made due and "
                "sales/assigned shipments counted between passes, until "
                "every order is a processing sale with its shipment "
                "assigned",
            'project': "bench.sync's orders pull (Shopify channel, no "
                "worker): the agent's import, each order stored, "
                "confirmed, processed and its goods reserved before the "
                "ERP answers",
            'project_with_workers': "until the last order is reserved by "
                "the trytond-worker processes (--workers)",
            'both': "under Python's -O",
            },
        'load_average': {'before': [round(x, 2) for x in load_before],
            'after': [round(x, 2) for x in os.getloadavg()],
            'cpus': os.cpu_count()},
        'measured_at': dt.datetime.now(dt.UTC).isoformat(timespec='seconds'),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--orders', type=int, default=300)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--skus', type=int, default=200)
    parser.add_argument('--db', choices=['sqlite', 'postgresql'],
        default='sqlite')
    parser.add_argument('--workers', type=int, default=0,
        help="the project with trytond-worker processes (PostgreSQL): "
        "its rate until its last order is reserved")
    args = parser.parse_args()
    uri = PG_URI if args.db == 'postgresql' else 'sqlite://'
    started = time.perf_counter()
    if args.workers and args.db != 'postgresql':
        parser.error("trytond-worker needs --db postgresql")
    json.dump(compare(args.orders, args.rounds, uri, args.skus,
            args.workers), sys.stdout)
    print()
    log(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == '__main__':
    main()
