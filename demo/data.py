"""The demo shop: a homeware seller on Shopify, WooCommerce and Amazon with
a few orders in every state and a few returns. Runs inside a proteus
session (see harness.databases.populate); orders enter through the real
import route, as the agent's would."""
import datetime as dt
import random
from decimal import Decimal

from werkzeug.test import Client

from proteus import Model
from trytond.modules.company.tests.tools import create_company
from trytond.modules.currency.tests.tools import get_currency
from trytond.wsgi import app

from oms_connector.tests.tools import (
    create_api_key,
    create_channel,
    create_listing,
    create_product,
    order_payload,
)

# code, kind, name, currency, the channel's other fields. Each shop keeps a
# few units back: a product falling below them raises a low-stock alert
# (Order Management > Stock Alerts).
CHANNELS = [
    ('shopify-eu', 'shopify', "Shopify EU Store", 'EUR',
        {'safety_stock': 5, 'notify_sms_events': ['shipped']}),
    ('woo-main', 'woocommerce', "WooCommerce Shop", 'EUR',
        {'reserve_stock': 'payment', 'safety_stock': 3}),
    # Amazon takes the buyer's money once it lets the order ship
    # (Unshipped): reserved then. It tells its buyers itself and forbids
    # sellers' e-mails outside its messaging service.
    ('amazon-us', 'amazon', "Amazon US", 'USD',
        {'reserve_stock': 'payment', 'safety_stock': 3,
            'notify_email_events': []}),
    ]
# code, name, price, stock, then its SKU on each channel in CHANNELS'
# order (None: not sold there)
PRODUCTS = [
    ('TEE-ORG-M', "Organic Cotton T-shirt, M", '24.00', 120,
        'TEE-ORG-M', 'woo-tee-m', 'TEE-ORG-M'),
    ('TEE-ORG-L', "Organic Cotton T-shirt, L", '24.00', 90,
        'TEE-ORG-L', 'woo-tee-l', 'TEE-ORG-L'),
    ('MUG-STONE', "Stoneware Mug", '14.50', 200, 'MUG-STONE', 'woo-mug',
        'MUG-STONE'),
    ('KETTLE-1L', "Enamel Kettle 1 L", '39.90', 60,
        'KETTLE-1L', 'woo-kettle', 'KETTLE-1L'),
    # Few left: it sells out during the demo, and orders wait for stock.
    ('TOWEL-SET', "Linen Towel Set", '32.00', 6, 'TOWEL-SET', None,
        'TOWEL-SET'),
    ]
# The listings a channel stores and ships from its own stock (Amazon FBA),
# by channel: SKU, product code, units in the channel's warehouses. The
# same product is also sold under its own SKU, shipped by the demo's
# warehouse.
FULFILLED_BY_CHANNEL = {
    'amazon-us': [('MUG-STONE-FBA', 'MUG-STONE', 300)],
    }
# A euro buys this many of each currency (Tryton's test rates would make
# a dollar two euros): the reports count the dollars in euros.
RATES = {'EUR': Decimal(1), 'USD': Decimal('1.08')}
# What the suppliers keep in stock (code: minimum, target of its order
# point): below the minimum, the warehouse's forecast asks for a purchase
# up to the target. Sized for the demo's pace: each sells ten to sixteen
# units a minute, and goods arrive up to two minutes after falling below
# the minimum (the Supply Stock task's minute, two purchasing rounds). The
# towel set has none: its mill stopped making it.
ORDER_POINTS = {
    'TEE-ORG-M': (70, 170),
    'TEE-ORG-L': (70, 160),
    'MUG-STONE': (90, 250),
    'KETTLE-1L': (60, 150),
    }
# name, e-mail, country, street, city, postal code
CUSTOMERS = [
    ("Ada Lovelace", 'ada@example.com', 'GB', "12 Analytical Row",
        "London", "N1 9GU"),
    ("Grace Hopper", 'grace@example.com', 'US', "1 Harbour St",
        "Arlington", "22201"),
    ("Lin Hui", 'lin.hui@example.cn', 'CN', "88 Nanjing Rd",
        "Shanghai", "200001"),
    ("Jean Dupont", 'jean@example.fr', 'FR', "4 rue Lafayette",
        "Paris", "75009"),
    ]


KINDS = {code: kind for code, kind, *_ in CHANNELS}
CURRENCIES = {code: currency for code, _, _, currency, _ in CHANNELS}


def skus(channel: str) -> dict[str, str]:
    "The channel's SKU of each product it sells, by product code"
    column = 4 + list(KINDS).index(channel)
    return {p[0]: p[column] for p in PRODUCTS if p[column]}


def build():
    create_company(currency=get_currency('EUR'))
    _rates()
    # The demo is configured: no set-up wizard on first login.
    Item = Model.get('ir.module.config_wizard.item')
    for item in Item.find([]):
        item.state = 'done'
        item.save()
    products = {}
    for code, name, price, stock, *_ in PRODUCTS:
        products[code] = create_product(name, code, price, quantity=stock)
    channels = {code: create_channel(code, kind=kind, name=name,
            currency=currency, **values)
        for code, kind, name, currency, values in CHANNELS}
    for code, channel in channels.items():
        for product, sku in skus(code).items():
            create_listing(channel, products[product], sku)
        for sku, product, _ in FULFILLED_BY_CHANNEL.get(code, []):
            create_listing(channel, products[product], sku,
                fulfilled_by_channel=True)
    keys = {code: create_api_key([channel])
        for code, channel in channels.items()}
    # The demo's agent syncs every shop.
    keys['agent'] = create_api_key(list(channels.values()))
    for code in channels:
        _import_orders(code, keys[code], list(skus(code).values()))
    _ship_some()
    from . import history
    history.build(products, {code: skus(code) for code in channels},
        Model.get('oms.carrier').find([]), keys, post_orders,
        _refunded_by_hand)
    _replenishment(products)
    return {'keys': keys, 'returns': _after_sales(keys),
        'order_points': ORDER_POINTS}


def _rates():
    "Each currency at its rate to the euro (see RATES)"
    Rate = Model.get('currency.currency.rate')
    for code, value in RATES.items():
        currency = get_currency(code)
        Rate.delete(Rate.find([('currency', '=', currency.id)]))
        Rate(date=dt.date.min, rate=value, currency=currency).save()


def _replenishment(products):
    """The history's suppliers keep supplying what they sold, through
    order points (see supply), but for the discontinued towel set"""
    from . import history, supply
    Party = Model.get('party.party')
    Product = Model.get('product.product')
    supply.prepare()
    for name, codes, lead_days, cost in history.SUPPLIERS:
        supplier, = Party.find([('name', '=', name)])
        for code in codes:
            product = Product(products[code].id)
            if code not in ORDER_POINTS:
                product.template.purchasable = False
                product.template.save()
                continue
            supply.supplied_by(product.id, supplier.id,
                dt.timedelta(days=lead_days),
                history.unit_cost(product, cost), *ORDER_POINTS[code])


def _orders(channel, skus, rng):
    start = dt.datetime(2026, 11, 11, 0, 0, tzinfo=dt.UTC)
    statuses = (['pending_payment'] * 2 + ['awaiting_shipment'] * 6
        + ['cancelled'])
    for n, status in enumerate(statuses, 1):
        name, email, country, street, city, zip_ = rng.choice(CUSTOMERS)
        lines = [(sku, rng.randint(1, 2), _price(sku))
            for sku in rng.sample(skus, rng.randint(1, 2))]
        created = start + dt.timedelta(minutes=17 * n)
        order = order_payload(
            channel, f'{channel}-{1000 + n}', status=status, lines=lines,
            email=email, customer_id=email, name=name, country_code=country,
            shipping_price='4.90', updated_at=created)
        order.update({
                'currency': CURRENCIES[channel],
                'created_at': created.isoformat(),
                'kind': KINDS[channel],
                })
        order['shipping_address'].update(
            street=street, city=city, zip=zip_)
        yield order
    # Orders the channel shipped from its own stock: recorded, nothing
    # reserved or shipped by the warehouse.
    for n, (sku, *_) in enumerate(FULFILLED_BY_CHANNEL.get(channel, [])):
        created = start + dt.timedelta(minutes=17 * (len(statuses) + n + 1))
        yield order_payload(
            channel, f'{channel}-{1500 + n}', status='shipped',
            lines=[(sku, 1, _price(sku))], fulfilled_by_channel=True,
            email='grace@example.com', customer_id='grace@example.com',
            name="Grace Hopper", country_code='US', shipping_price='0.00',
            updated_at=created, created_at=created.isoformat(),
            currency=CURRENCIES[channel], kind=KINDS[channel])
    # One order whose SKU nobody mapped: it waits in the exception tab.
    order = order_payload(
        channel, f'{channel}-1999', lines=[('UNMAPPED-SKU', 1, '9.99')],
        email='grace@example.com', customer_id='grace@example.com',
        name="Grace Hopper", country_code='US',
        currency=CURRENCIES[channel], kind=KINDS[channel])
    order['shipping_address'].update(
        street="1 Harbour St", city="Arlington", zip="22201")
    yield order


def _price(sku):
    "The price of the product a SKU of any channel stands for"
    fulfilled = {sku: code for listings in FULFILLED_BY_CHANNEL.values()
        for sku, code, _ in listings}
    sku = fulfilled.get(sku, sku)
    for code, _, price, _, *channel_skus in PRODUCTS:
        if sku == code or sku in channel_skus:
            return price
    return '10.00'


def _import_orders(channel, key, skus):
    rng = random.Random(channel)
    post_orders(channel, key, list(_orders(channel, skus, rng)))


def post_orders(channel, key, orders):
    "Orders through the ERP's import route, as the agent posts them"
    client = Client(app)
    database = _database()
    response = client.post(
        f'/{database}/oms/v1/channels/{channel}/orders',
        json={'orders': orders, 'cursor': orders[-1]['updated_at']},
        headers={'Authorization': f'Bearer {key}'})
    assert response.status_code == 200, response.get_data(as_text=True)


def _database():
    from proteus.config import get_config
    return get_config().database_name


# code, name, tracking URL (the demo's mapping files name each on the
# channels)
CARRIERS = [
    ('DHL', "DHL Express",
        'https://www.dhl.com/en/express/tracking.html?AWB={number}'),
    ('UPS', "UPS", 'https://www.ups.com/track?tracknum={number}'),
    ('SF', "SF Express", 'https://www.sf-express.com/we/ow/chn/en/waybill/'
        'waybill-detail/{number}'),
    ]


def _ship_some():
    """The warehouse ships a few of the European shops' morning orders,
    each with its carrier and tracking number (Lin Hui's first: she reads
    Chinese, and so does her e-mail; then one of Grace Hopper's, which she
    will ask to return); one is already delivered. These orders are not on
    the sandbox shops, so staff marked their fulfilments done by hand.
    (The returns of _after_sales are on these orders: the Amazon shop's
    wait with the others.)"""
    Sale = Model.get('sale.sale')
    Carrier = Model.get('oms.carrier')
    Fulfilment = Model.get('oms.fulfilment')
    Party = Model.get('party.party')
    Lang = Model.get('ir.lang')
    chinese, = Lang.find([('code', '=', 'zh_CN')])
    for party in Party.find([('name', '=', "Lin Hui")]):
        party.lang = chinese
        party.save()
    carriers = [Carrier(code=code, name=name, tracking_url=url)
        for code, name, url in CARRIERS]
    Carrier.save(carriers)
    awaiting = sorted(Sale.find([
                ('oms_state', '=', 'awaiting_shipment'),
                ('oms_exception', '=', False),
                ('oms_channel.code', 'in', ['shopify-eu', 'woo-main']),
                ], order=[('id', 'ASC')]),
        key=lambda s: s.party.name != "Lin Hui")
    for n, sale in enumerate(awaiting[:5]):
        shipment, = sale.shipments
        shipment.click('pick')
        shipment.click('pack')
        shipment.oms_carrier = carriers[n % len(carriers)]
        shipment.oms_tracking_number = f'{1234567890 + n * 7919}'
        shipment.click('do')
        if n == 3:
            sale.reload()
            sale.click('oms_complete')
    for fulfilment in Fulfilment.find([('state', '=', 'waiting')]):
        fulfilment.click('mark_done')


def _after_sales(keys):
    """Returns: a quarantine for damaged goods, VIPs served first, and a
    few requests on the shipped orders, one in each stage (their numbers
    returned)"""
    _quarantine()
    _policies()
    Sale = Model.get('sale.sale')
    sales = {s.oms_external_id: s for s in Sale.find(
            [('oms_state', 'in', ['shipped', 'completed'])])}
    # One unwanted T-shirt back, unopened, into sellable stock; refunded.
    refunded = take_back(sales['woo-main-1004'], 'TEE-ORG-M', 1,
        'unopened', 'unwanted')
    for button in ('receive', 'refund'):
        refunded.click(button)
    _refunded_by_hand(refunded, keys)
    # A towel arrived torn: received into the quarantine, not for sale;
    # staff have yet to settle it.
    quarantined = take_back(sales['shopify-eu-1003'], 'TOWEL-SET', 1,
        'damaged', 'damaged', description="One of the towels came torn.")
    quarantined.click('receive')
    # Too large: exchanged for the M, sent as a new (free) order.
    exchanged = take_back(sales['shopify-eu-1007'], 'TEE-ORG-L', 1,
        'opened', 'size_fit', exchange_for='TEE-ORG-M')
    for button in ('receive', 'exchange'):
        exchanged.click(button)
    # Still open: Lin Hui's (a VIP: approved at once, due within a day,
    # top of the queue) and Grace Hopper's (waiting for staff, 3 days).
    vip = take_back(sales['woo-main-1006'], 'TEE-ORG-L', 1, 'defective',
        'defective', description="The seam came apart after one wash.")
    regular = take_back(sales['shopify-eu-1004'], 'TOWEL-SET', 1, 'opened',
        'not_as_described', approve=False,
        description="The colour is not the one in the photos.")
    return {name: rma.number for name, rma in [
            ('refunded', refunded), ('quarantined', quarantined),
            ('exchanged', exchanged), ('vip', vip), ('requested', regular)]}


def _quarantine():
    """Damaged and defective goods coming back go to the warehouse's
    first waste location, away from the stock the shops sell"""
    Location = Model.get('stock.location')
    warehouse, = Location.find([('type', '=', 'warehouse')])
    quarantine = Location(name="Returns Quarantine", type='lost_found')
    quarantine.save()
    warehouse.waste_locations.append(quarantine)
    warehouse.save()


# code, name, spent in 12 months from
SEGMENTS = [('vip', "VIP", '300'), ('regular', "Regular", '0')]


def _policies():
    """VIPs' returns are urgent, answered within a day and approved
    without staff; everyone else's are answered within three days"""
    Segment = Model.get('oms.customer.segment')
    Policy = Model.get('oms.return.policy')
    Party = Model.get('party.party')
    Cron = Model.get('ir.cron')
    segments = [Segment(code=code, name=name, min_spend=Decimal(spend),
            sequence=n) for n, (code, name, spend) in enumerate(SEGMENTS)]
    Segment.save(segments)
    vip = segments[0]
    Policy.save([
            Policy(name="VIP", segment=vip, priority='3',
                respond_within=24, auto_approve=True, sequence=0),
            Policy(name="Everyone", priority='1', respond_within=72,
                resolutions=['refund', 'exchange', 'repair', 'reject'],
                sequence=1),
            ])
    # Lin Hui, the shop's most loyal customer, is a VIP by hand: the spend
    # rule would count her returns off and demote her.
    lin_hui, = Party.find([('name', '=', "Lin Hui")])
    lin_hui.oms_segment_manual = True
    lin_hui.oms_segment = vip
    lin_hui.save()
    # Everyone else in the segment their spend says (the daily cron's job)
    update, = Cron.find([('method', '=', 'party.party|oms_update_segments')])
    update.click('run_once')


def take_back(sale, code, quantity, condition, reason, exchange_for=None,
        approve=True, config=None, **values):
    """A return request staff enter on the order: quantity × its product
    of that code, in that condition (which says where it goes when
    received), for that reason (a return reason code), refunded or
    exchanged for the product of code exchange_for; approved unless told
    not to (a VIP's policy approves it itself)"""
    Return = Model.get('oms.return', config=config)
    Reason = Model.get('oms.return.reason', config=config)
    Product = Model.get('product.product', config=config)
    rma = Return(sale=sale, **values)
    line = rma.lines.new(sale_line=next(
            li for li in sale.lines if li.product and li.product.code == code))
    line.quantity = quantity
    line.condition = condition
    line.reason, = Reason.find([('code', '=', reason)])
    if exchange_for:
        rma.resolution = 'exchange'
        line.exchange_product, = Product.find([('code', '=', exchange_for)])
    rma.save()
    if approve and rma.state == 'requested':
        rma.click('approve')
    return rma


def _refunded_by_hand(rma, keys):
    """The seed orders are not on the sandbox shops, so the agent cannot
    make their refunds there: it says so (as for a channel that takes no
    refunds), and staff record that they refunded in the shop's admin"""
    channel = rma.channel.code
    response = Client(app).post(
        f'/{_database()}/oms/v1/channels/{channel}/refunds/ack',
        json={'failed': [{'id': rma.id, 'manual': True,
                    'error': "The order is not on the sandbox shop: "
                    "refund it in the shop's admin."}]},
        headers={'Authorization': f'Bearer {keys[channel]}'})
    assert response.status_code == 200, response.get_data(as_text=True)
    rma.reload()
    rma.click('refund_done_by_hand')
