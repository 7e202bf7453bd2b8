"""The anchor's side of bench.anchor, run by the anchor's own virtualenv
(.cache/anchor/venv: trytond and web_shop_shopify from PyPI, nothing of
this project's): ``python bench/anchor_runner.py setup|run ...``.

It imports nothing of the project: it is handed a trytond configuration
file, a database and a JSON file, and answers in a JSON file.

    setup CONFIG DATABASE WORLD OUT   the shop's world on an activated
                                      database: company, products, stock,
                                      the Shopify web shop and its crons
    run CONFIG DATABASE WORLD OUT     the timed import (see run())

Every call web_shop_shopify makes goes through shopify_app's
HTTPClientContext, which makes an ``httpx.Client`` per request to
``https://{shop}.myshopify.com/admin/api/...`` with no way to point it
elsewhere. The one change made to it: the clients it makes get a transport
that sends the same request to the fake Shopify on loopback
(ANCHOR_SHOPIFY_PORT), plain HTTP, one new connection per request as the
client it makes would open.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import shopify_app.utils.http_client as http_client

logger = logging.getLogger('anchor')


class LoopbackTransport(httpx.BaseTransport):
    "The request as made, sent to the fake instead of myshopify.com"

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # The Host header keeps the shop's own name
        request.url = request.url.copy_with(
            scheme='http', host='127.0.0.1', port=self.port)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class _Httpx:
    "shopify_app.utils.http_client's httpx, its Client on loopback"

    def __init__(self, port: int) -> None:
        self.port = port

    def Client(self, **options: Any) -> httpx.Client:  # noqa: N802
        return httpx.Client(transport=LoopbackTransport(self.port),
            **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(httpx, name)


def swap_transport() -> None:
    # HTTPClientContext.__enter__ calls httpx.Client(timeout=...) through
    # its module's global: that name is the one replaced.
    http_client.httpx = _Httpx(int(os.environ['ANCHOR_SHOPIFY_PORT']))


def start(config: str) -> None:
    from trytond.config import update_etc
    update_etc(config)


# -- setup -------------------------------------------------------------------

def setup(config: str, database: str, world: dict[str, Any]) -> dict:
    """As web_shop_shopify's scenario configures a shop: a company (in the
    orders' currency), a payment journal processed by Shopify, the
    warehouse linked to the Shopify location, and the products as a
    product push would have left them (their variant's id, the Shopify
    unit); 100,000 of each in stock. Countries of the orders' addresses
    are created (trytond ships none)."""
    from proteus import config as proteus_config
    proteus_config.set_trytond(database, config_file=config)
    from trytond.modules.account.tests.tools import (
        create_chart,
        get_accounts,
    )
    from trytond.modules.company.tests.tools import (
        create_company,
        get_company,
    )
    from trytond.modules.currency.tests.tools import get_currency
    currency = get_currency(world['currency'])
    create_company(currency=currency)
    company = get_company()
    # The module's sales need accounting: the minimal chart, revenue and
    # expense on the products' account category, no taxes (the orders'
    # taxes come in as web_shop_shopify's tax adjustment)
    create_chart(company)
    accounts = get_accounts(company)

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(database, 0, context={
                'company': company.id}) as transaction:
        pool = Pool()
        Country = pool.get('country.country')
        Category = pool.get('product.category')
        Cron = pool.get('ir.cron')
        Inventory = pool.get('stock.inventory')
        Location = pool.get('stock.location')
        PaymentJournal = pool.get('account.payment.journal')
        Product = pool.get('product.product')
        Shop = pool.get('web.shop')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')

        Country.create([{'name': name, 'code': code}
                for code, name in world['countries'].items()])
        unit, = Uom.search([('name', '=', 'Unit')])
        category, = Category.create([{'name': "Goods", 'accounting': True,
                    'account_revenue': accounts['revenue'].id,
                    'account_expense': accounts['expense'].id}])
        journal, = PaymentJournal.create([{
                    'name': "Shopify", 'process_method': 'shopify',
                    'currency': currency.id, 'company': company.id}])
        warehouse, = Location.search([('type', '=', 'warehouse')])
        storage, = Location.search([('code', '=', 'STO')])
        shop, = Shop.create([{
                    'name': "Bench", 'type': 'shopify',
                    'company': company.id, 'currency': currency.id,
                    'shopify_shop_name': world['shop'],
                    'shopify_access_token': world['token'],
                    'shopify_warehouses': [('create', [{
                                    'warehouse': warehouse.id}])],
                    'shopify_payment_journals': [('create', [{
                                    'journal': journal.id}])],
                    }])
        # A Selection of the shop's Shopify locations: read from the fake
        shop_warehouse, = shop.shopify_warehouses
        shop_warehouse.shopify_id = str(world['location'])
        shop_warehouse.save()

        catalogue = world['products']
        # In slices: one create of them all writes the products' codes in
        # one statement SQLite's parser refuses
        templates = []
        for start in range(0, len(catalogue), 50):
            templates += Template.create([{
                        'name': p['title'], 'code': p['sku'],
                        'type': 'goods', 'salable': True,
                        'default_uom': unit.id, 'sale_uom': unit.id,
                        'shopify_uom': unit.id,
                        'account_category': category.id,
                        'list_price': Decimal(p['price']),
                        'products': [('create', [{}])],
                        } for p in catalogue[start:start + 50]])
        products = [t.products[0] for t in templates]
        for product, p in zip(products, catalogue, strict=True):
            product.set_shopify_identifier(shop, p['variant'])
        inventory, = Inventory.create([{
                    'location': storage.id,
                    'lines': [('create', [{'product': product.id,
                                    'quantity': world['stock']}
                            for product in products])],
                    }])
        Inventory.confirm([inventory])
        assert Product.search_count([('quantity', '>', 0)]) == len(products)

        # Only the crons the import needs: fetching orders (web_shop_
        # shopify's own record) and assigning shipments (stock's method,
        # a record an administrator adds)
        fetch, = Cron.search([
                ('method', '=', 'web.shop|shopify_fetch_order')])
        Cron.write([c for c in Cron.search([]) if c != fetch],
            {'active': False})
        assign, = Cron.create([{
                    'method': 'ir.cron|stock_shipment_assign_try',
                    'interval_number': 1, 'interval_type': 'minutes'}])
        transaction.commit()
        return {'shop': shop.id, 'company': company.id,
            'crons': [fetch.id, assign.id]}


# -- run ---------------------------------------------------------------------

def run(database: str, world: dict[str, Any], state: dict[str, Any]
        ) -> dict[str, Any]:
    """Times trytond-cron's own loop (ir.cron.run: each due cron's
    run_once in a transaction, each followed by the tasks it queued, which
    trytond runs there when no worker is configured) until every order is
    a sale that
    is processing with its customer shipment assigned. Both crons are made
    due again before each pass (a cron's next call is an interval away:
    a pass a minute, say, would only add waiting)."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    # As trytond-cron starts: the pool loaded before any pass
    pool = Pool(database)
    with Transaction().start(database, 0, readonly=True):
        pool.init()
    Cron = pool.get('ir.cron')
    orders = len(world['orders'])

    def make_due() -> None:
        with Transaction().start(database, 0) as transaction:
            Crons = Pool().get('ir.cron')
            Crons.write(Crons.browse(state['crons']), {'next_call': None})
            transaction.commit()

    def progress() -> tuple[int, int, int]:
        with Transaction().start(database, 0, readonly=True):
            pool = Pool()
            Sale = pool.get('sale.sale')
            Shipment = pool.get('stock.shipment.out')
            return (Sale.search_count([]),
                Sale.search_count([('state', '=', 'processing')]),
                Shipment.search_count([('state', '=', 'assigned')]))

    passes, stuck, last = 0, 0, (0, 0, 0)
    start = time.perf_counter()
    while True:
        make_due()
        Cron.run(database)
        passes += 1
        now = progress()
        if now == (orders, orders, orders):
            break
        stuck = stuck + 1 if now == last else 0
        if stuck >= 2:
            raise RuntimeError(f"no progress after {passes} cron passes: "
                f"sales, processing, assigned = {now} of {orders}; "
                f"errors: {errors(database)}")
        last = now
    seconds = time.perf_counter() - start
    return {'seconds': round(seconds, 3),
        'orders_per_s': round(orders / seconds, 1),
        'cron_passes': passes, **check(database, world)}


def errors(database: str) -> list[str]:
    "What failed crons and tasks reported (a UserError is logged at INFO)"
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(database, 0, readonly=True):
        Error = Pool().get('ir.error')
        return [f'{e.origin}: {e.message} {e.description or ""}'
            for e in Error.search([], limit=5)]


def check(database: str, world: dict[str, Any]) -> dict[str, Any]:
    "Every order exactly one sale, processing, its goods reserved"
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(database, 0, readonly=True):
        pool = Pool()
        Sale = pool.get('sale.sale')
        sales = Sale.search([])
        ids = [s.shopify_identifier for s in sales]
        expected = {int(o['legacyResourceId']) for o in world['orders']}
        not_reserved = [s.id for s in sales if len(s.shipments) != 1
            or s.shipments[0].state != 'assigned'
            or any(m.state != 'assigned'
                for m in s.shipments[0].inventory_moves)]
        lines = sum(len([line for line in s.lines if line.product])
            for s in sales)
        return {
            'sales': len(sales),
            'missing': len(expected - set(ids)),
            'duplicates': len(ids) - len(set(ids)),
            'not_processing': sum(s.state != 'processing' for s in sales),
            'not_reserved': len(not_reserved),
            'product_lines': lines,
            'expected_product_lines': sum(len(o['lineItems']['nodes'])
                for o in world['orders']),
            }


def versions() -> dict[str, str]:
    from importlib.metadata import version
    return {name: version(name) for name in
        ('trytond', 'trytond-web-shop-shopify', 'shopifyapp')}


def main(argv: list[str]) -> None:
    command, config, database, world_path, out = argv
    logging.basicConfig(
        level=os.environ.get('ANCHOR_LOG_LEVEL', 'WARNING'), stream=sys.stderr,
        format='anchor %(levelname)s %(name)s: %(message)s')
    start(config)
    swap_transport()
    world = json.loads(Path(world_path).read_text())
    if command == 'setup':
        result = setup(config, database, world)
    elif command == 'run':
        state = world['state']
        result = {**run(database, world, state), 'versions': versions(),
            'finished_at': dt.datetime.now(dt.UTC).isoformat(
                timespec='seconds')}
    else:
        raise SystemExit(f"unknown command {command!r}")
    Path(out).write_text(json.dumps(result))


if __name__ == '__main__':
    main(sys.argv[1:])
