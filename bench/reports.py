"""How long each report takes on a big database:

    python -m bench.reports --lines 1000000 [--reuse] [--database-uri URI]

Builds a PostgreSQL database of its own (--database, `bench_reports` by
default) from a template with the module activated and a small world made
through Tryton (a company in USD, EUR with monthly rates, 3 channels, 2
warehouses, 200 products in 6 categories, carriers, suppliers, customer
segments, listings), kept as `oms_bench_reports_*` and rebuilt when the
module's source changes (drop it after changing world()). Nothing else
on the server is touched. Then it writes --lines order lines straight
into Tryton's tables with SQL (generate_series): 3 lines an order on
average, a customer for every 10 lines, two years of orders in every
OMS state, their status log, shipments and customer moves, weekly
purchases and their receipts, return requests (4 in 100 delivered
orders) and the return sales they made; and Tryton updates what each
listing may sell from that stock.
--reuse keeps the database when an earlier run generated it from the same
source with as many lines; it stays after the run (about 1.2 GB for a
million lines: `dropdb bench_reports` to free it).

Then it opens every `oms.reporting.*` model the pool holds that is built
by a `table_query` as the client (sao 8.0) opens its action: the last 90
days by week, every channel and warehouse, as the admin user; each call a
request of its own, in its own read-only transaction as trytond's
dispatcher runs it: search the first page of ids (the action's limit,
1000, and order), count them all only when the page is full, then read
the fields of the action's first view (and the names of the records they
point to, rec_name and the access bookkeeping) of the rows shown: for a
list the batch around its first row (100), for a graph every row found,
batch by batch. Each report is opened with its row cache off (as before
it: `screens_uncached`), on and empty (the first time a filter is used:
`screens`) and again within its TTL (`reopens`), the fastest of --repeat
runs. Each value of a Selection that the report's context model adds to
the shared filters (a breakdown) is timed as `model[value]`.

Printed, one JSON object: lines, orders, generate_seconds (null when
reused), database_size_mb, load_average (1, 5 and 15 minutes, before and
after: the machine is shared), screens_uncached, screens and reopens
{model: seconds}, calls {model: seconds of each call, cache on and
empty}, views {model: the first view's type}, queries {model: seconds of
its query alone, run once} and rows {model: rows in all}; each generation
step's seconds go to stderr.
Not a test: nothing here asserts a time.
"""
import argparse
import datetime as dt
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

PG_URI = 'postgresql://postgres@127.0.0.1:5432/'
DATABASE = 'bench_reports'
PRODUCTS = 200
CATEGORIES = ["Apparel", "Kitchen", "Home", "Garden", "Toys", "Books"]
CHANNELS = [
    # code, kind, currency, warehouse (index)
    ('shop', 'shopify', 'USD', 0),
    ('woo', 'woocommerce', 'EUR', 1),
    ('amazon', 'amazon', 'USD', 0),
    ]
CARRIERS = [('ups', "UPS"), ('dhl', "DHL"), ('fedex', "FedEx"),
    ('post', "La Poste")]
SUPPLIERS = 5
# Where customers live, the first most
COUNTRIES = [('US', "United States"), ('GB', "United Kingdom"),
    ('DE', "Germany"), ('FR', "France"), ('CA', "Canada"), ('ES', "Spain"),
    ('IT', "Italy"), ('AU', "Australia")]
ROWS = 1000  # the rows the client reads of a list at first
WORLD = 'bench.reports.world'


def world():
    """What the SQL generator hangs its rows on, made through Tryton so it
    is what a user would have set up"""
    from proteus import Model
    from trytond.modules.company.tests.tools import (
        create_company,
        get_company,
    )

    from oms_connector.tests.tools import create_channel
    create_company()
    Currency = Model.get('currency.currency')
    Rate = Model.get('currency.currency.rate')
    Location = Model.get('stock.location')
    Category = Model.get('product.category')
    Template = Model.get('product.template')
    Uom = Model.get('product.uom')
    Party = Model.get('party.party')
    Carrier = Model.get('oms.carrier')
    Country = Model.get('country.country')
    Segment = Model.get('oms.customer.segment')
    context = Template._config.context

    eur = Currency(name="Euro", symbol='€', code='EUR',
        rounding=Decimal('0.01'))
    eur.save()
    # A rate a month for three years: about 0.92 EUR a dollar, moving
    start = dt.date.today().replace(day=1) - dt.timedelta(days=3 * 366)
    Rate._proxy.create([{
                'currency': eur.id,
                'date': (start + dt.timedelta(days=31 * n)).replace(day=1),
                'rate': Decimal('0.92') + Decimal(n % 7 - 3) / 100,
                } for n in range(38)], context)

    Country._proxy.create([{'code': code, 'name': name}
            for code, name in COUNTRIES], context)

    warehouse, = Location.find([('code', '=', 'WH')])
    second = Location(name="East Warehouse", code='WH2', type='warehouse')
    for kind in ['input', 'output', 'storage']:
        location = Location(name=f"East {kind}", type='storage')
        location.save()
        setattr(second, f'{kind}_location', location)
    second.save()  # Tryton puts the three locations under it
    warehouses = [warehouse, second]

    categories = [Category(name=name) for name in CATEGORIES]
    Category.save(categories)
    unit, = Uom.find([('name', '=', 'Unit')])
    Template._proxy.create([{
                'name': f"Bench product {n}", 'code': f'BP{n:04d}',
                'type': 'goods', 'salable': True, 'purchasable': True,
                'list_price': Decimal(5 + n % 60) + Decimal('0.90'),
                'default_uom': unit.id, 'sale_uom': unit.id,
                'purchase_uom': unit.id,
                'categories': [('add', [categories[n % len(categories)].id])],
                'products': [('create', [{
                                'cost_price': (Decimal(2 + n % 30)
                                    + Decimal('0.50')),
                                }])],
                } for n in range(PRODUCTS)], context)

    Party._proxy.create([{'name': f"Supplier {n}"}
            for n in range(SUPPLIERS)], context)
    Carrier._proxy.create([{
                'code': code, 'name': name,
                'tracking_url': f'https://{code}.example.com/t?n={{number}}',
                } for code, name in CARRIERS], context)
    company = get_company().id
    Segment._proxy.create([
            {'name': "VIP", 'code': 'vip', 'min_spend': Decimal(1000),
                'sequence': 1, 'company': company},
            {'name': "Regular", 'code': 'regular', 'min_spend': Decimal(100),
                'sequence': 2, 'company': company},
            ], context)

    Product = Model.get('product.product')
    Listing = Model.get('oms.listing')
    products = Product._proxy.search_read(
        [('code', 'like', 'BP%')], 0, None, None, ['code'], context)
    for code, kind, currency, home in CHANNELS:
        channel = create_channel(code, kind=kind, currency=currency,
            warehouse=warehouses[home])
        channel.warehouses.extend(
            Location(w.id) for w in warehouses)
        channel.save()
        Listing._proxy.create([{
                    'channel': channel.id, 'product': p['id'],
                    'sku': f"{code}-{p['code']}",
                    } for p in products], context)
    return {}



# Orders come in blocks of 15 lines: 5 orders of 1, 3, 5, 2 and 4 lines
# (3 on average), so --lines is met exactly. Per line of a block: its
# order in the block, its sequence in the order.
BLOCK_ORDER = [0, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 4, 4, 4, 4]
BLOCK_SEQUENCE = [1, 1, 2, 3, 1, 2, 3, 4, 5, 1, 2, 1, 2, 3, 4]
DAYS = 730  # two years of orders
WEEKS = 105  # of purchases
CHANNEL_SHARES = [0.55, 0.08, 0.37]  # of the orders, CHANNELS' order
SHIP_HOURS = [24, 36, 12]  # typical paid → shipped, per channel
COUNTRY_SHARES = [0.45, 0.15, 0.12, 0.10, 0.07, 0.05, 0.04, 0.02]
CARRIER_SHARES = [0.4, 0.3, 0.2, 0.1]
REASON_SHARES = {  # return reason code → share
    'size_fit': 0.30, 'unwanted': 0.25, 'defective': 0.15,
    'not_as_described': 0.10, 'damaged': 0.08, 'wrong_item': 0.05,
    'late': 0.04, 'other': 0.03}
EUR_RATE = Decimal('0.92')


def orders_for(lines: int) -> int:
    "How many orders hold `lines` lines, laid out in blocks"
    block, rest = divmod(lines, len(BLOCK_ORDER))
    return block * 5 + (BLOCK_ORDER[rest - 1] + 1 if rest else 0)


def thresholds(shares):
    "width_bucket's thresholds to pick among len(shares) by random()"
    total, cumulative = 0, []
    for share in shares[:-1]:
        total += share
        cumulative.append(total)
    return cumulative


def pick(array, shares):
    "SQL picking an element of the int[] parameter `array` by shares"
    return (f"(%({array})s::int[])"
        f"[width_bucket(random(), %({shares})s::float8[]) + 1]")


def references(db):
    "The ids of the world the rows hang on, as query parameters"
    def ids(query):
        return [i for i, in db.execute(query)]
    company, usd = db.execute(
        'SELECT id, currency FROM company_company ORDER BY id LIMIT 1'
        ).fetchone()
    channels = db.execute(
        'SELECT id, code, currency FROM oms_channel ORDER BY id').fetchall()
    reasons = dict(db.execute('SELECT code, id FROM oms_return_reason'))
    segments = dict(db.execute('SELECT code, id FROM oms_customer_segment'))
    warehouses = db.execute(
        "SELECT id, storage_location, output_location FROM stock_location"
        " WHERE type = 'warehouse' ORDER BY id").fetchall()
    channel_warehouses = [w for w, in db.execute(
            'SELECT warehouse FROM oms_channel ORDER BY id')]
    return {
        'company': company,
        'usd': usd,
        'eur': ids("SELECT id FROM currency_currency WHERE code = 'EUR'")[0],
        'unit': ids("SELECT id FROM product_uom WHERE name = 'Unit'")[0],
        'customer_location': ids(
            "SELECT id FROM stock_location WHERE type = 'customer'")[0],
        'supplier_location': ids(
            "SELECT id FROM stock_location WHERE type = 'supplier'")[0],
        'countries': ids('SELECT id FROM country_country ORDER BY id'),
        'country_shares': thresholds(COUNTRY_SHARES),
        'channels': [c[0] for c in channels],
        'channel_codes': [c[1] for c in channels],
        'channel_currencies': [c[2] for c in channels],
        'channel_warehouses': [
            [w[0] for w in warehouses].index(w) + 1
            for w in channel_warehouses],
        'channel_shares': thresholds(CHANNEL_SHARES),
        'ship_hours': SHIP_HOURS,
        'warehouses': [w[0] for w in warehouses],
        'storages': [w[1] for w in warehouses],
        'outputs': [w[2] for w in warehouses],
        'carriers': ids('SELECT id FROM oms_carrier ORDER BY id'),
        'carrier_shares': thresholds(CARRIER_SHARES),
        'reasons': [reasons[code] for code in REASON_SHARES],
        'reason_shares': thresholds(list(REASON_SHARES.values())),
        'vip': segments['vip'],
        'regular': segments['regular'],
        'suppliers': ids(
            "SELECT id FROM party_party WHERE name LIKE 'Supplier _'"
            " ORDER BY name"),
        'eur_rate': EUR_RATE,
        'now': dt.datetime.now(dt.UTC).replace(tzinfo=None),
        'days': DAYS,
        'weeks': WEEKS,
        'block_order': BLOCK_ORDER,
        'block_sequence': BLOCK_SEQUENCE,
        'products': PRODUCTS,
        }


# Each step one statement; %(name)s are references()' and the sizes.
GENERATE = [
    ('products', """
CREATE TEMP TABLE bench_product AS
SELECT (row_number() OVER (ORDER BY t.code) - 1)::int AS n, p.id,
    l.list_price AS price, c.cost_price AS cost,
    (mod(row_number() OVER (ORDER BY t.code) - 1,
        cardinality(%(suppliers)s::int[])) + 1)::int AS supplier
FROM product_product AS p
JOIN product_template AS t ON t.id = p.template
JOIN product_list_price AS l ON l.template = t.id
JOIN product_cost_price AS c ON c.product = p.id
WHERE starts_with(t.code, 'BP')"""),
    # A customer for every 10 lines, one address each, in several
    # countries; the few first buy most (see the orders' customer_n).
    ('customers', f"""
CREATE TEMP TABLE bench_customer AS
SELECT n, nextval('party_party_id_seq')::int AS id,
    nextval('party_address_id_seq')::int AS address,
    {pick('countries', 'country_shares')} AS country
FROM generate_series(1, %(customers)s) AS n"""),
    ('party_party', """
INSERT INTO party_party (id, code, name, active, oms_segment,
    oms_segment_manual, create_uid, create_date)
SELECT id, 'BENCH-C' || n, 'Customer ' || n, true,
    CASE WHEN n <= %(customers)s * 0.02 THEN %(vip)s
        WHEN n <= %(customers)s * 0.2 THEN %(regular)s END,
    false, 1, %(now)s
FROM bench_customer"""),
    ('party_address', """
INSERT INTO party_address (id, party, party_name, street_unstructured,
    postal_code, city, country, active, delivery, invoice, sequence,
    create_uid, create_date)
SELECT address, id, 'Customer ' || n, n || ' Bench Street',
    lpad(mod(n, 100000)::text, 5, '0'), 'City ' || mod(n, 97), country,
    true, true, true, 10, 1, %(now)s
FROM bench_customer"""),
    # The orders, with when each step happened and the state they are in
    # now (see the comments of the CASEs).
    ('orders', f"""
CREATE TEMP TABLE bench_sale AS
WITH drawn AS (
    SELECT n, random() AS u_state, random() AS u_pay, random() AS u_ship,
        random() AS u_done, random() AS u_misc, random() AS u_return,
        random() AS u_wh,
        width_bucket(random(), %(channel_shares)s::float8[]) + 1 AS ch,
        %(now)s - %(days)s * power(random(), 1.15) * interval '1 day'
            AS created,
        1 + floor(%(customers)s * power(random(), 1.8))::int AS customer_n
    FROM generate_series(0, %(orders)s - 1) AS n),
timed AS (
    SELECT drawn.*,
        -- 3 in 10 orders are imported awaiting payment
        created + CASE WHEN u_pay < 0.3
            THEN (0.1 + 6 * u_misc) * interval '1 hour'
            ELSE interval '0' END AS paid_at,
        u_state < 0.035 AS cancelled,
        u_state >= 0.035 AND u_state < 0.045 AS refunding,
        -- 2 in 100 held a day for stock
        u_state >= 0.045 AND u_state < 0.065 AS holding
    FROM drawn),
shipped AS (
    SELECT timed.*,
        paid_at + ((%(ship_hours)s::float8[])[ch]
            * (0.3 + 2.5 * power(u_ship, 2))
            + CASE WHEN u_misc > 0.95 THEN 72 ELSE 0 END
            + CASE WHEN holding THEN 24 ELSE 0 END)
            * interval '1 hour' AS ship_at,
        CASE WHEN cancelled THEN LEAST(
                created + 10 * u_misc * interval '1 hour', %(now)s)
            END AS cancel_at
    FROM timed),
stated AS (
    SELECT shipped.*,
        -- 7 in 100 never get their delivery confirmed
        CASE WHEN u_done >= 0.07
            THEN ship_at + (2 + 6 * u_done) * interval '1 day'
            END AS complete_at,
        CASE
            WHEN cancelled THEN 'cancelled'
            WHEN paid_at > %(now)s THEN 'pending_payment'
            WHEN ship_at > %(now)s THEN 'awaiting_shipment'
            WHEN u_done < 0.07
                OR ship_at + (2 + 6 * u_done) * interval '1 day' > %(now)s
                THEN 'shipped'
            WHEN refunding AND ship_at + (5 + 6 * u_done) * interval '1 day'
                <= %(now)s THEN 'refunded'
            ELSE 'completed' END AS oms_state
    FROM shipped)
SELECT stated.n, nextval('sale_sale_id_seq')::int AS id,
    c.id AS party, c.address,
    (%(channels)s::int[])[ch] AS channel,
    (%(channel_codes)s::text[])[ch] AS channel_code,
    (%(channel_currencies)s::int[])[ch] AS currency,
    -- 1 in 5 from the other warehouse
    CASE WHEN u_wh < 0.8 THEN (%(channel_warehouses)s::int[])[ch]
        ELSE 3 - (%(channel_warehouses)s::int[])[ch] END AS wh,
    created, created::date AS sale_date, paid_at, oms_state,
    CASE WHEN oms_state IN ('shipped', 'completed', 'refunded')
        THEN ship_at END AS shipped_at,
    CASE WHEN oms_state IN ('completed', 'refunded')
        THEN complete_at END AS completed_at,
    CASE WHEN oms_state = 'refunded'
        THEN complete_at + 3 * u_misc * interval '1 day' END AS refund_at,
    cancel_at,
    CASE WHEN paid_at <= cancel_at THEN 'awaiting_shipment'
        ELSE 'pending_payment' END AS cancel_from,
    CASE WHEN holding AND oms_state <> 'cancelled'
        AND paid_at <= %(now)s THEN paid_at END AS hold_at,
    CASE WHEN holding AND oms_state <> 'cancelled'
        AND paid_at + interval '1 day' <= %(now)s
        THEN paid_at + interval '1 day' END AS release_at,
    holding AND oms_state = 'awaiting_shipment'
        AND paid_at + interval '1 day' > %(now)s AS held,
    CASE oms_state
        WHEN 'pending_payment' THEN 'quotation'
        WHEN 'awaiting_shipment' THEN 'processing'
        WHEN 'cancelled' THEN 'cancelled'
        ELSE 'done' END AS state,
    CASE WHEN oms_state IN ('awaiting_shipment', 'shipped', 'completed',
            'refunded')
        THEN nextval('stock_shipment_out_id_seq')::int END AS shipment,
    {pick('carriers', 'carrier_shares')} AS carrier,
    CASE WHEN u_misc < 0.05 THEN '2' ELSE '1' END AS priority,
    CASE WHEN u_pay > 0.6 THEN 4.90 WHEN u_pay > 0.4 THEN 9.90
        END AS shipping_price,
    -- 4 in 100 delivered orders come back in part, refunded ones whole
    CASE WHEN oms_state = 'refunded' OR (oms_state = 'completed'
            AND u_return < 0.04
            AND complete_at + (1 + 500 * u_return) * interval '1 day'
                <= %(now)s)
        THEN nextval('oms_return_id_seq')::int END AS rma,
    CASE WHEN oms_state = 'refunded' THEN complete_at
        + 1.5 * u_misc * interval '1 day'
        ELSE complete_at + (1 + 500 * u_return) * interval '1 day'
        END AS requested_at,
    CASE WHEN oms_state = 'refunded' OR u_misc < 0.8 THEN 'refunded'
        WHEN u_misc < 0.88 THEN 'requested'
        WHEN u_misc < 0.93 THEN 'approved'
        ELSE 'rejected' END AS rma_state,
    NULL::int AS return_sale
FROM stated
JOIN bench_customer AS c ON c.n = stated.customer_n"""),
    ('returns', """
UPDATE bench_sale SET return_sale = nextval('sale_sale_id_seq')
WHERE rma IS NOT NULL AND rma_state IN ('refunded', 'approved')"""),
    # Each line a product, the best sellers first (a long tail of slow
    # movers); its price in the order's currency, 15 in 100 discounted.
    ('lines', """
CREATE TEMP TABLE bench_line AS
WITH drawn AS (
    SELECT g / 15 * 5 + (%(block_order)s::int[])[mod(g, 15) + 1] AS sale_n,
        (%(block_sequence)s::int[])[mod(g, 15) + 1] AS sequence,
        floor(%(products)s * power(random(), 2.2))::int AS pn,
        1 + (random() < 0.25)::int + 2 * (random() < 0.06)::int
            AS quantity,
        CASE WHEN random() < 0.15 THEN 0.9 ELSE 1 END AS discount,
        random() AS u_return
    FROM generate_series(0, %(lines)s - 1) AS g)
SELECT nextval('sale_line_id_seq')::int AS id, s.id AS sale, s.n AS sale_n,
    d.sequence, p.id AS product, p.cost, d.quantity,
    round(p.price * d.discount * CASE WHEN s.currency = %(eur)s
        THEN %(eur_rate)s ELSE 1 END, 2) AS unit_price,
    s.currency, s.state, s.created, s.sale_date, s.shipment, s.shipped_at,
    s.held, (%(storages)s::int[])[s.wh] AS storage, s.rma, s.rma_state,
    s.return_sale, s.requested_at,
    CASE WHEN s.rma IS NOT NULL AND (d.sequence = 1
            OR s.oms_state = 'refunded' OR d.u_return < 0.3)
        THEN nextval('oms_return_line_id_seq')::int END AS rma_line,
    NULL::int AS return_line, NULL::int AS reason
FROM drawn AS d
JOIN bench_sale AS s ON s.n = d.sale_n
JOIN bench_product AS p ON p.n = d.pn"""),
    ('return_lines', f"""
UPDATE bench_line SET
    return_line = CASE WHEN return_sale IS NOT NULL
        THEN nextval('sale_line_id_seq') END,
    reason = {pick('reasons', 'reason_shares')}
WHERE rma_line IS NOT NULL"""),
    ('sale_sale', """
INSERT INTO sale_sale (id, company, currency, party, invoice_address,
    shipment_address, warehouse, sale_date, state, shipment_state,
    invoice_state, invoice_method, shipment_method, number, reference,
    oms_channel, oms_external_id, oms_state, oms_priority, oms_exception,
    oms_exception_kind, oms_exception_reason, oms_channel_deducted,
    untaxed_amount_cache, tax_amount_cache, total_amount_cache,
    create_uid, create_date, write_uid, write_date)
SELECT s.id, %(company)s, s.currency, s.party, s.address, s.address,
    (%(warehouses)s::int[])[s.wh], s.sale_date, s.state,
    CASE s.state WHEN 'done' THEN 'sent' WHEN 'processing' THEN 'waiting'
        ELSE 'none' END,
    'none', 'manual', 'order', 'BENCH-' || s.n, '#' || s.n,
    s.channel, s.n::text, s.oms_state, s.priority, s.held,
    CASE WHEN s.held THEN 'insufficient_stock' END,
    CASE WHEN s.held THEN 'Not enough stock to reserve' END, false,
    CASE WHEN s.state NOT IN ('draft', 'quotation')
        THEN a.amount + coalesce(s.shipping_price, 0) END,
    CASE WHEN s.state NOT IN ('draft', 'quotation') THEN 0 END,
    CASE WHEN s.state NOT IN ('draft', 'quotation')
        THEN a.amount + coalesce(s.shipping_price, 0) END,
    1, s.created, 1, GREATEST(s.created, s.paid_at, s.shipped_at,
        s.completed_at, s.refund_at, s.cancel_at, s.release_at)
FROM bench_sale AS s
JOIN (SELECT sale_n, sum(quantity * unit_price) AS amount
    FROM bench_line GROUP BY sale_n) AS a ON a.sale_n = s.n"""),
    ('sale_line', """
INSERT INTO sale_line (id, sale, sequence, type, product, quantity,
    actual_quantity, unit, unit_price, oms_external_id, create_uid,
    create_date)
SELECT id, sale, sequence, 'line', product, quantity,
    CASE WHEN state = 'done' THEN quantity END, %(unit)s, unit_price,
    sale_n || '-' || sequence, 1, created
FROM bench_line"""),
    ('shipping_lines', """
INSERT INTO sale_line (id, sale, sequence, type, quantity, unit_price,
    description, create_uid, create_date)
SELECT nextval('sale_line_id_seq'), id, 100, 'line', 1, shipping_price,
    'Shipping', 1, created
FROM bench_sale WHERE shipping_price IS NOT NULL"""),
    # The status log the lead times are read from
    ('oms_order_event', """
INSERT INTO oms_order_event (id, sale, kind, from_state, to_state, date,
    reason, source, create_uid, create_date)
SELECT nextval('oms_order_event_id_seq'), sale, kind, from_state, to_state,
    date, reason, source, 1, date
FROM (
    SELECT id AS sale, 'import' AS kind, NULL AS from_state,
        CASE WHEN paid_at > created THEN 'pending_payment'
            ELSE 'awaiting_shipment' END AS to_state,
        created AS date, NULL AS reason, 'channel: ' || channel_code AS source
    FROM bench_sale
    UNION ALL
    SELECT id, 'transition', 'pending_payment', 'awaiting_shipment',
        paid_at, NULL, 'channel: ' || channel_code
    FROM bench_sale WHERE paid_at > created AND paid_at <= %(now)s
        AND (cancel_at IS NULL OR cancel_at > paid_at)
    UNION ALL
    SELECT id, 'hold', NULL, 'awaiting_shipment', hold_at,
        'Not enough stock to reserve', 'channel: ' || channel_code
    FROM bench_sale WHERE hold_at IS NOT NULL
    UNION ALL
    SELECT id, 'release', NULL, 'awaiting_shipment', release_at,
        'Stock arrived', 'user: Administrator'
    FROM bench_sale WHERE release_at IS NOT NULL
    UNION ALL
    SELECT id, 'transition', 'awaiting_shipment', 'shipped', shipped_at,
        NULL, 'user: Administrator'
    FROM bench_sale WHERE shipped_at IS NOT NULL
    UNION ALL
    SELECT id, 'transition', 'shipped', 'completed', completed_at, NULL,
        'channel: ' || channel_code
    FROM bench_sale WHERE completed_at IS NOT NULL
    UNION ALL
    SELECT id, 'transition', 'completed', 'refunded', refund_at, NULL,
        'user: Administrator'
    FROM bench_sale WHERE refund_at IS NOT NULL
    UNION ALL
    SELECT id, 'transition', cancel_from, 'cancelled', cancel_at, NULL,
        'channel: ' || channel_code
    FROM bench_sale WHERE cancel_at IS NOT NULL) AS e"""),
    ('stock_shipment_out', """
INSERT INTO stock_shipment_out (id, company, customer, delivery_address,
    warehouse, warehouse_output, warehouse_storage, planned_date,
    effective_date, state, number, reference, oms_carrier,
    oms_tracking_number, create_uid, create_date, write_uid, write_date)
SELECT shipment, %(company)s, party, address, (%(warehouses)s::int[])[wh],
    (%(outputs)s::int[])[wh], (%(storages)s::int[])[wh], sale_date,
    shipped_at::date,
    CASE WHEN shipped_at IS NOT NULL THEN 'done'
        WHEN held THEN 'waiting' ELSE 'assigned' END,
    'BENCH-S' || n, 'BENCH-' || n,
    CASE WHEN shipped_at IS NOT NULL THEN carrier END,
    CASE WHEN shipped_at IS NOT NULL THEN 'TRK' || n END,
    1, paid_at, 1, COALESCE(shipped_at, paid_at)
FROM bench_sale WHERE shipment IS NOT NULL"""),
    # What left the warehouses (done) or is reserved (assigned), straight
    # from storage to the customer, one move a line
    ('sale_moves', """
INSERT INTO stock_move (id, company, product, unit, quantity,
    internal_quantity, from_location, to_location, state, planned_date,
    effective_date, origin, shipment, unit_price, currency, cost_price,
    create_uid, create_date, write_uid, write_date)
SELECT nextval('stock_move_id_seq'), %(company)s, product, %(unit)s,
    quantity, quantity, storage, %(customer_location)s,
    CASE WHEN shipped_at IS NOT NULL THEN 'done'
        WHEN held THEN 'draft' ELSE 'assigned' END,
    sale_date, shipped_at::date, 'sale.line,' || id,
    'stock.shipment.out,' || shipment, unit_price, currency,
    CASE WHEN shipped_at IS NOT NULL THEN cost END,
    1, created, 1, COALESCE(shipped_at, created)
FROM bench_line WHERE shipment IS NOT NULL"""),
    ('oms_return', """
INSERT INTO oms_return (id, company, sale, channel, order_external_id,
    party, number, source, requested_at, resolution, return_goods, state,
    priority, refund_amount, refunded_amount, refund_state, held,
    create_uid, create_date, write_uid, write_date)
SELECT s.rma, %(company)s, s.id, s.channel, s.n::text, s.party,
    'BENCH-R' || s.n, CASE WHEN s.channel_code = 'amazon' THEN 'channel'
        ELSE 'customer' END,
    s.requested_at, 'refund', true, s.rma_state, '1', a.amount,
    CASE WHEN s.rma_state = 'refunded' THEN a.amount END,
    CASE WHEN s.rma_state = 'refunded' THEN 'pushed' END, false,
    1, s.requested_at, 1, s.requested_at
FROM bench_sale AS s
JOIN (SELECT sale_n, sum(quantity * unit_price) AS amount FROM bench_line
    WHERE rma_line IS NOT NULL GROUP BY sale_n) AS a ON a.sale_n = s.n"""),
    ('oms_return_line', """
INSERT INTO oms_return_line (id, rma, sale_line, product, quantity,
    unit_price, reason, condition, destination, create_uid, create_date)
SELECT rma_line, rma, id, product, quantity, unit_price, reason,
    CASE WHEN mod(id, 4) = 0 THEN 'damaged' ELSE 'opened' END,
    CASE WHEN mod(id, 4) = 0 THEN 'quarantine' ELSE 'sellable' END,
    1, requested_at
FROM bench_line WHERE rma_line IS NOT NULL"""),
    # The sales after-sales makes of returned goods: negative quantities,
    # no channel; the reports leave them out of the sales
    ('return_sales', """
INSERT INTO sale_sale (id, company, currency, party, invoice_address,
    shipment_address, warehouse, sale_date, state, shipment_state,
    invoice_state, invoice_method, shipment_method, reference, origin,
    oms_state, oms_priority, oms_exception, oms_channel_deducted,
    oms_return, create_uid, create_date, write_uid, write_date)
SELECT return_sale, %(company)s, currency, party, address, address,
    (%(warehouses)s::int[])[wh], requested_at::date,
    CASE rma_state WHEN 'refunded' THEN 'done' ELSE 'processing' END,
    CASE rma_state WHEN 'refunded' THEN 'sent' ELSE 'waiting' END,
    'none', 'manual', 'order', 'BENCH-R' || n, 'oms.return,' || rma,
    'pending_payment', '1', false, false, rma, 1, requested_at, 1,
    requested_at
FROM bench_sale WHERE return_sale IS NOT NULL"""),
    ('return_sale_link', """
UPDATE oms_return SET return_sale = s.return_sale
FROM bench_sale AS s WHERE s.rma = oms_return.id
    AND s.return_sale IS NOT NULL"""),
    ('return_sale_lines', """
INSERT INTO sale_line (id, sale, sequence, type, product, quantity,
    actual_quantity, unit, unit_price, oms_return_line, create_uid,
    create_date)
SELECT return_line, return_sale, sequence, 'line', product, -quantity,
    CASE WHEN rma_state = 'refunded' THEN -quantity END, %(unit)s,
    unit_price, rma_line, 1, requested_at
FROM bench_line WHERE return_line IS NOT NULL"""),
    ('return_line_link', """
UPDATE oms_return_line SET return_sale_line = l.return_line
FROM bench_line AS l WHERE l.rma_line = oms_return_line.id
    AND l.return_line IS NOT NULL"""),
    # The refunded goods came back to storage
    ('return_moves', """
INSERT INTO stock_move (id, company, product, unit, quantity,
    internal_quantity, from_location, to_location, state, planned_date,
    effective_date, origin, unit_price, currency, cost_price, create_uid,
    create_date)
SELECT nextval('stock_move_id_seq'), %(company)s, product, %(unit)s,
    quantity, quantity, %(customer_location)s, storage, 'done',
    requested_at::date, LEAST(requested_at + interval '4 days',
        %(now)s)::date,
    'sale.line,' || return_line, unit_price, currency, cost, 1,
    requested_at
FROM bench_line WHERE return_line IS NOT NULL AND rma_state = 'refunded'"""),
    # A purchase a week from each supplier for each warehouse, of what
    # the warehouse ships of the supplier's products and up to 45 in 100
    # more; received after the supplier's lead time, the latest not yet
    ('purchases', """
CREATE TEMP TABLE bench_purchase AS
SELECT nextval('purchase_purchase_id_seq')::int AS id, s, w, d AS date,
    d + lead AS received
FROM generate_series(1, cardinality(%(suppliers)s::int[])) AS s
CROSS JOIN generate_series(1, cardinality(%(warehouses)s::int[])) AS w
CROSS JOIN generate_series(0, %(weeks)s - 1) AS k
CROSS JOIN LATERAL (SELECT %(now)s::date - 7 * k - s AS d,
    2 + 3 * s + floor(5 * random())::int AS lead) AS x"""),
    ('purchase_lines', """
CREATE TEMP TABLE bench_purchase_line AS
SELECT nextval('purchase_line_id_seq')::int AS id, pu.id AS purchase,
    pu.date, pu.received, pu.w, p.id AS product, p.cost,
    -- some products are kept short, some plenty
    ceil(d.units / %(weeks)s::float8
        * (1 + mod(p.id * 37, 100) / 250.0 + 0.05 * random())) AS quantity
FROM bench_purchase AS pu
JOIN bench_product AS p ON p.supplier = pu.s
JOIN (SELECT product, storage, sum(quantity) AS units FROM bench_line
    WHERE shipment IS NOT NULL GROUP BY product, storage) AS d
    ON d.product = p.id AND d.storage = (%(storages)s::int[])[pu.w]"""),
    ('purchase_purchase', """
INSERT INTO purchase_purchase (id, company, currency, party, warehouse,
    purchase_date, delivery_date, number, state, shipment_state,
    invoice_state, invoice_method, untaxed_amount_cache, tax_amount_cache,
    total_amount_cache, create_uid, create_date, write_uid, write_date)
SELECT pu.id, %(company)s, %(usd)s, (%(suppliers)s::int[])[pu.s],
    (%(warehouses)s::int[])[pu.w], pu.date, pu.received,
    'BENCH-P' || pu.id,
    CASE WHEN pu.received <= %(now)s::date THEN 'done' ELSE 'processing' END,
    CASE WHEN pu.received <= %(now)s::date THEN 'received'
        ELSE 'waiting' END,
    'none', 'manual', a.amount, 0, a.amount, 1, pu.date, 1, pu.received
FROM bench_purchase AS pu
JOIN (SELECT purchase, sum(quantity * cost) AS amount
    FROM bench_purchase_line GROUP BY purchase) AS a
    ON a.purchase = pu.id"""),
    ('purchase_line', """
INSERT INTO purchase_line (id, purchase, sequence, type, product, quantity,
    actual_quantity, unit, unit_price, create_uid, create_date)
SELECT id, purchase, 1, 'line', product, quantity,
    CASE WHEN received <= %(now)s::date THEN quantity END, %(unit)s, cost,
    1, date
FROM bench_purchase_line"""),
    ('purchase_moves', """
INSERT INTO stock_move (id, company, product, unit, quantity,
    internal_quantity, from_location, to_location, state, planned_date,
    effective_date, origin, unit_price, currency, cost_price, create_uid,
    create_date)
SELECT nextval('stock_move_id_seq'), %(company)s, product, %(unit)s,
    quantity, quantity, %(supplier_location)s, (%(storages)s::int[])[w],
    CASE WHEN received <= %(now)s::date THEN 'done' ELSE 'draft' END,
    received,
    CASE WHEN received <= %(now)s::date THEN received END,
    'purchase.line,' || id, cost, %(usd)s, cost, 1, date
FROM bench_purchase_line"""),
    ]


def generated(uri, database, lines):
    """Whether the database holds what this run would generate: built from
    today's module source with as many lines"""
    import psycopg

    from harness.databases import database_exists
    if not database_exists(uri, None, database):
        return False
    with psycopg.connect(dsn(uri, 'postgres')) as db:
        comment, = db.execute(
            'SELECT shobj_description(oid, %s) FROM pg_database'
            ' WHERE datname = %s', ('pg_database', database)).fetchone()
    return comment == signature(lines)


def signature(lines):
    "What a generated database is labelled with"
    from harness.databases import source_hash

    # The module's source and this generator's
    digest = source_hash(WORLD, Path(__file__).read_text())
    return f'bench.reports {digest} lines={lines}'


def prepare(uri, database, lines, reuse=False):
    """The database to measure, generated unless reused: the seconds the
    generation took (None when reused)"""
    import psycopg

    from harness.databases import Cache, cache_root
    if reuse and generated(uri, database, lines):
        return None
    # The world, populated once per module source on a copy of the base
    # database the tests build too
    cache = Cache(cache_root(), uri)
    template, _ = cache.world(WORLD, prefix='bench_reports')
    start = time.perf_counter()
    cache.copy(template, None, database)
    _, steps = generate(uri, database, lines)
    steps['listing_levels'] = update_levels(database)
    seconds = time.perf_counter() - start
    print(json.dumps({'generate_steps': steps}), file=sys.stderr)
    with psycopg.connect(dsn(uri, 'postgres'), autocommit=True) as db:
        db.execute(f'COMMENT ON DATABASE "{database}"'
            f" IS '{signature(lines)}'")
    return seconds


def update_levels(database):
    """Bring what each listing may sell up to the generated stock, through
    Tryton (the module's stock code); its seconds"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    start = time.perf_counter()
    pool = Pool(database)
    pool.init()
    with Transaction().start(database, 1):
        context = pool.get('res.user').get_preferences(context_only=True)
    with Transaction().start(database, 1, context=context):
        pool.get('oms.listing.level').update_levels(
            pool.get('oms.listing').search([]))
    return round(time.perf_counter() - start, 2)


def counts(uri, database):
    "The order lines, orders and size (MB) of the database"
    import psycopg
    with psycopg.connect(dsn(uri, database)) as db:
        lines, orders = db.execute(
            'SELECT count(l.id), count(DISTINCT s.id) FROM sale_sale AS s'
            ' JOIN sale_line AS l ON l.sale = s.id'
            ' WHERE s.oms_return IS NULL AND l.product IS NOT NULL'
            ).fetchone()
        size, = db.execute(
            'SELECT pg_database_size(current_database())').fetchone()
    return lines, orders, round(size / 2 ** 20)


# Their indexes are built once filled rather than kept up row by row
BULK_TABLES = ['party_party', 'party_address', 'sale_sale', 'sale_line',
    'oms_order_event', 'stock_shipment_out', 'stock_move', 'purchase_line']
INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index AS i
WHERE i.indrelid IN (SELECT unnest(%s::text[])::regclass)
    AND NOT i.indisprimary
    AND NOT EXISTS (
        SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)"""


def generate(uri, database, lines):
    """Write `lines` order lines and all that hangs on them, in one
    transaction; the number of orders and the seconds of each step"""
    import psycopg
    orders = orders_for(lines)
    steps = {}

    def step(name, sql, params=None):
        start = time.perf_counter()
        db.execute(sql, params)
        steps[name] = round(
            steps.get(name, 0) + time.perf_counter() - start, 2)

    with psycopg.connect(dsn(uri, database)) as db:
        params = references(db)
        params.update(lines=lines, orders=orders,
            customers=max(1, lines // 10))
        db.execute('SET synchronous_commit = off')
        db.execute("SET temp_buffers = '256MB'")
        db.execute("SET maintenance_work_mem = '512MB'")
        # The rows are made consistent; Tryton's foreign keys are not
        # checked row by row (their triggers off for this session).
        db.execute("SET session_replication_role = 'replica'")
        db.execute('SELECT setseed(0.42)')
        indexes = db.execute(INDEXES, (BULK_TABLES,)).fetchall()
        for name, _ in indexes:
            step('drop_indexes', f'DROP INDEX {name}')
        for name, sql in GENERATE:
            step(name, sql, params)
        for _, definition in indexes:
            step('create_indexes', definition)
    with psycopg.connect(dsn(uri, database), autocommit=True) as db:
        start = time.perf_counter()
        db.execute('VACUUM ANALYZE')
        steps['analyze'] = round(time.perf_counter() - start, 2)
    return orders, steps


def dsn(uri, database):
    return uri.rstrip('/') + '/' + database


def report_models(pool):
    "The report models: every oms.reporting.* model built by a table_query"
    from trytond.model import ModelSQL
    return sorted(name for name, model in pool.iterobject()
        if name.startswith('oms.reporting.')
        and issubclass(model, ModelSQL) and model._is_table_query())


def variants(pool, name):
    """The contexts to time the report under: {label: extra context}; one
    per value of each Selection its context model adds to the shared
    filters (a breakdown), else only the shared filters"""
    from oms_connector.models.reporting.reporting import ReportingContextMixin
    Window = pool.get('ir.action.act_window')
    shared = {n for n in dir(ReportingContextMixin)
        if not n.startswith('_')}
    found = {}
    for window in Window.search([('res_model', '=', name)]):
        if not window.context_model:
            continue
        Context = pool.get(window.context_model)
        for field_name, field in Context._fields.items():
            if field._type != 'selection' or field_name in shared:
                continue
            selection = field.selection
            if isinstance(selection, str):  # a method of the context
                selection = getattr(Context, selection)()
            for value, _ in selection:
                if value:
                    found[f'{name}[{value}]'] = {field_name: value}
    return found or {name: {}}


def opening(pool, name, extra):
    """How the client (sao 8.0) opens the report's action: its first view
    (type), its limit, order and context model, and the fields each read
    asks for: the view's, the names of the records they point to, the
    labels of its selections, rec_name and the access bookkeeping
    (Record.load)"""
    from trytond.pyson import PYSONDecoder
    Window = pool.get('ir.action.act_window')
    Model = pool.get(name)
    window = Window.search([('res_model', '=', name)], limit=1)[0]
    view_id, view_type = window.views[0]
    view = Model.fields_view_get(view_id, view_type)
    fetch = []
    for field_name, field in view['fields'].items():
        fetch.append(field_name)
        if field['type'] in {'many2one', 'one2one', 'reference'}:
            fetch.append(f'{field_name}.rec_name')
        elif (field['type'] in {'selection', 'multiselection'}
                and field.get('loading', 'lazy') == 'eager'):
            fetch.append(f'{field_name}:string')
    if 'rec_name' not in view['fields']:
        fetch.append('rec_name')
    fetch.extend(['_timestamp', '_write', '_delete'])
    order = (PYSONDecoder(extra).decode(window.pyson_order)
        if window.pyson_order else None)
    return {
        'type': view_type,
        'limit': window.limit or ROWS,
        'order': order,
        'context_model': window.context_model,
        'fields': fetch,
        # Record.load reads the records around the one shown, this many
        'batch': ROWS // min(len(fetch), 10),
        }


def open_screen(database, user, name, context, how):
    """Open the report as the client does, each call a request of its own
    (its own read-only transaction, as trytond's dispatcher runs it):
    search a page of ids; count them all when the page is full; read the
    rows shown (a list: the batch around the first row; a graph: every
    row found, batch by batch). The seconds of each call."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(database)
    # Only search and count carry the screen's context_model
    screen = {**context, 'context_model': how['context_model'],
        '_check_access': True}
    record = {**context, '_check_access': True}

    def call(context, method, *args):
        start = time.perf_counter()
        with Transaction().start(database, user, readonly=True,
                context=context):
            result = method(pool.get(name), *args)
        seconds.append(round(time.perf_counter() - start, 3))
        return result
    seconds = []
    ids = call(screen, lambda M: [r.id for r in M.search(
                [], 0, how['limit'], how['order'])])
    if len(ids) == how['limit']:
        call(screen, lambda M: M.search_count([], 0, how['limit'] * 100))
    shown = ids[:how['batch']] if how['type'] == 'tree' else ids
    for start in range(0, len(shown), how['batch']):
        call(record, lambda M, batch: M.read(batch, how['fields']),
            shown[start:start + how['batch']])
    return seconds


def forget_kept_rows(database):
    "Empty the reports' row cache, so that the next screen computes"
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(database, 0) as transaction:
        table = Pool(database).get('oms.reporting.cache').__table__()
        transaction.connection.cursor().execute(*table.delete())
        transaction.commit()


def set_ttl(seconds):
    "The reports' cache TTL ([oms] report_cache_ttl), 0: computed each time"
    import trytond.config as config
    if not config.has_section('oms'):
        config.add_section('oms')
    config.set('oms', 'report_cache_ttl', str(seconds))


def measure(database, repeat):
    """Every report opened as the client opens it (open_screen), the
    fastest of `repeat` times: {screens_uncached: {label: seconds}} with
    the cache off (as before it), {screens: ...} with it on and empty (the
    first time a filter is used), {reopens: ...} again within its TTL;
    {calls: {label: [seconds of each call, cache on and empty]}}; the
    report's query alone run once (every row computed), and its rows"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool(database)
    pool.init()  # starts the pool unless started
    user = 1  # admin, as a manager would open them (record rules apply)
    with Transaction().start(database, user, readonly=True):
        context = pool.get('res.user').get_preferences(context_only=True)
        today = pool.get('ir.date').today()
        context.update(
            from_date=today - dt.timedelta(days=90), to_date=today,
            period='week', channel=None, warehouse=None)
        plan = [(name, label, extra, opening(pool, name, extra))
            for name in report_models(pool)
            for label, extra in variants(pool, name).items()]
    results = {key: {} for key in
        ['screens_uncached', 'screens', 'reopens', 'calls', 'queries',
            'rows', 'views']}

    def best(key, label, seconds):
        kept = results[key].get(label)
        results[key][label] = round(
            seconds if kept is None else min(kept, seconds), 3)
    for name, label, extra, how in plan:
        full = {**context, **extra}
        results['views'][label] = how['type']
        for _ in range(repeat):
            set_ttl(0)
            best('screens_uncached', label,
                sum(open_screen(database, user, name, full, how)))
            set_ttl(60)
            forget_kept_rows(database)
            calls = open_screen(database, user, name, full, how)
            if sum(calls) <= results['screens'].get(label, sum(calls)):
                results['calls'][label] = calls
            best('screens', label, sum(calls))
            best('reopens', label,
                sum(open_screen(database, user, name, full, how)))
            with Transaction().start(database, user, readonly=True,
                    context=full) as transaction:
                Model = pool.get(name)
                query = getattr(Model, 'report_query', Model.table_query)()
                start = time.perf_counter()
                cursor = transaction.connection.cursor()
                cursor.execute(*query)
                results['rows'][label] = len(cursor.fetchall())
                best('queries', label, time.perf_counter() - start)
    forget_kept_rows(database)
    return results


def run(lines, uri, database, reuse=False, repeat=2):
    # trytond picks its backend when first imported
    os.environ['TRYTOND_DATABASE_URI'] = uri
    load = os.getloadavg()
    generate_seconds = prepare(uri, database, lines, reuse)
    lines, orders, size = counts(uri, database)
    results = measure(database, repeat)
    return {
        'lines': lines,
        'orders': orders,
        'generate_seconds': (round(generate_seconds, 1)
            if generate_seconds is not None else None),
        'database': 'postgresql',
        'database_name': database,
        'database_size_mb': size,
        # The machine is shared: its load before and after
        'load_average': [round(n, 2) for n in (*load, *os.getloadavg())],
        **results,
        'measured_at': dt.datetime.now(dt.UTC).isoformat(timespec='seconds'),
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lines', type=int, default=1_000_000,
        help="order lines to generate")
    parser.add_argument('--database-uri', default=PG_URI,
        help="the PostgreSQL server (default: %(default)s)")
    parser.add_argument('--database', default=DATABASE,
        help="the database it drops and builds (default: %(default)s)")
    parser.add_argument('--reuse', action='store_true',
        help="keep the database when an earlier run generated it from "
        "the same source with as many lines")
    parser.add_argument('--repeat', type=int, default=2,
        help="runs of each report; the fastest counts")
    args = parser.parse_args()
    if not args.database_uri.startswith('postgresql'):
        parser.error("the benchmark runs on PostgreSQL")
    json.dump(run(args.lines, args.database_uri, args.database, args.reuse,
            args.repeat), sys.stdout)
    print()


if __name__ == '__main__':
    main()
