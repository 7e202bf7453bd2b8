"""Proteus helpers to set up an OMS: used by the scenarios, the end-to-end
tests and the demo, so each builds its world the same way."""
import datetime as dt
from decimal import Decimal

from lxml import etree

from proteus import Model
from proteus import config as proteus_config
from trytond.modules.currency.tests.tools import get_currency
from trytond.pyson import PYSONDecoder


def create_product(name, code, price, quantity=0, config=None):
    "A salable goods product with `quantity` units in the warehouse storage"
    Template = Model.get('product.template', config=config)
    Uom = Model.get('product.uom', config=config)
    unit, = Uom.find([('name', '=', 'Unit')])
    template = Template(
        name=name, type='goods', salable=True, list_price=Decimal(price),
        default_uom=unit)
    template.code = code
    template.save()
    product, = template.products
    if quantity:
        add_stock(product, quantity, config=config)
    return product


def add_stock(product, quantity, config=None, warehouse=None):
    """Count `quantity` more units of the product into the warehouse's
    storage (the default warehouse's by default)"""
    Inventory = Model.get('stock.inventory', config=config)
    Location = Model.get('stock.location', config=config)
    if warehouse:
        storage = warehouse.storage_location
    else:
        storage, = Location.find([('code', '=', 'STO')])
    inventory = Inventory(location=storage)
    line = inventory.lines.new(product=product)
    line.quantity = line.expected_quantity + quantity
    inventory.click('confirm')
    return inventory


def create_warehouse(code, name, config=None):
    "Another warehouse, with its input, output and storage locations"
    Location = Model.get('stock.location', config=config)
    warehouse = Location(name=name, code=code, type='warehouse')
    # Where its inventories put what they found missing or extra
    warehouse.lost_found_location, = Location.find(
        [('type', '=', 'lost_found')], limit=1)
    for kind in ['input', 'output', 'storage']:
        location = Location(name=f"{name} {kind}", type='storage')
        location.save()
        setattr(warehouse, f'{kind}_location', location)
    warehouse.save()  # Tryton puts the three locations under it
    return warehouse


def create_channel(code, kind='other', name=None, currency='USD',
        reserve_stock='order', config=None, **values):
    "A channel; values are its other fields (after the kind's defaults)"
    Channel = Model.get('oms.channel', config=config)
    channel = Channel(
        code=code, kind=kind, name=name or code,
        currency=get_currency(currency, config=config),
        reserve_stock=reserve_stock, **values)
    channel.save()
    return channel


def yuan_rate(rate, config=None):
    "The yuan (CNY) at `rate` to the company's dollar, since ever"
    Rate = Model.get('currency.currency.rate', config=config)
    yuan = get_currency('CNY', config=config)
    if not yuan.rates:
        Rate(date=dt.date.min, rate=Decimal(rate), currency=yuan).save()
    return yuan


def create_listing(channel, product, sku, config=None, **values):
    "A listing of product on channel; values are its other fields"
    Listing = Model.get('oms.listing', config=config)
    listing = Listing(channel=channel, product=product, sku=sku, **values)
    listing.save()
    return listing


def create_carrier(code, name, tracking_url, config=None):
    "A carrier; its tracking_url has {number} where the number goes"
    Carrier = Model.get('oms.carrier', config=config)
    carrier = Carrier(name=name, code=code, tracking_url=tracking_url)
    carrier.save()
    return carrier


def create_api_key(channels, config=None, name=None):
    "A validated OMS key for the current user, limited to `channels`"
    Application = Model.get('res.user.application', config=config)
    User = Model.get('res.user', config=config)
    user = User(Application._config.user)
    application = Application(user=user, application='oms',
        oms_name=name or "Agent of " + ', '.join(c.code for c in channels))
    # Fresh instances: proteus will not put a record in two lists.
    application.oms_channels.extend(type(c)(c.id) for c in channels)
    application.save()
    return application.key


def create_clerk(login='clerk', config=None):
    """A user of the company in the groups OMS User and Stock: the least
    privileged staff the README's flows are for"""
    User = Model.get('res.user', config=config)
    Group = Model.get('res.group', config=config)
    Company = Model.get('company.company', config=config)
    company, = Company.find([])
    clerk = User(name=login.title(), login=login)
    clerk.groups.extend(Group.find([('name', 'in', ['OMS User', 'Stock'])]))
    clerk.companies.append(company)
    clerk.company = company
    clerk.save()
    return clerk


def open_screens(config=None, menu="Order Management"):
    """Open every entry under the top menu as the web client does, as the
    config's user: each list and form of its action with its context, its
    tabs, the records listed, the first one's form and the lists in it.
    Returns the entries opened and what failed ((entry, error) pairs)."""
    config = config or proteus_config.get_config()

    def rpc(model, method, *args, context=None):
        return getattr(config.get_proxy(model), method)(
            *args, context or config.context)

    root = rpc('ir.ui.menu', 'search',
        [('parent', '=', None), ('name', '=', menu)], 0, None, None)
    opened, failed = [], []
    for entry in rpc('ir.ui.menu', 'read',
            rpc('ir.ui.menu', 'search',
                [('parent', 'child_of', root)], 0, None, None),
            ['complete_name', 'action']):
        if not entry['action']:
            continue
        opened.append(entry['complete_name'])
        try:
            for action in rpc('ir.action.keyword', 'get_keyword',
                    'tree_open', ('ir.ui.menu', entry['id'])):
                _open_action(action, rpc, config.context)
        except Exception as error:
            failed.append((entry['complete_name'],
                    getattr(error, 'message', str(error))))
    return opened, failed


def _open_action(action, rpc, context):
    "Open a window action's lists and forms as the client does"
    model = action['res_model']
    env = {**context, 'context': context, 'active_model': 'ir.ui.menu'}
    screen = {**context, **PYSONDecoder(env).decode(action['pyson_context'])}
    if action.get('context_model'):
        # A report's filters, as their form first shows them
        filters = action['context_model']
        screen.update(rpc(filters, 'default_get',
                list(rpc(filters, 'fields_get', None)), False))
    decoder = PYSONDecoder({**env, 'context': screen})
    domain = decoder.decode(action['pyson_domain'])
    tabs = [decoder.decode(d) for _, d, _ in action.get('domains') or []]

    def call(model, method, *args):
        return rpc(model, method, *args, context=screen)

    def read(model, ids, view):
        names = set(view['fields']) | {f'{n}.rec_name'
            for n, f in view['fields'].items()
            if f['type'] in {'many2one', 'one2one', 'reference'}}
        return call(model, 'read', ids, sorted(names)) if ids else []

    shown = {kind: call(model, 'fields_view_get', view_id, kind)
        for view_id, kind in action['views'] or [
            (None, 'tree'), (None, 'form')]
        if kind in {'tree', 'form'}}
    listed = []
    for tab in tabs or [[]]:
        ids = call(model, 'search', [domain, tab], 0, 5, None)
        call(model, 'search_count', [domain, tab], 0, None)
        if 'tree' in shown:
            read(model, ids, shown['tree'])
        listed = listed or ids
    if not listed or 'form' not in shown:
        return
    form = shown['form']
    record, = read(model, listed[:1], form)
    for node in etree.fromstring(form['arch']).iter('field'):
        field = form['fields'][node.get('name')]
        if field['type'] not in {'one2many', 'many2many'}:
            continue
        # The first list among the field's views, else the target's own
        target = field['relation']
        views = [call(target, 'fields_view_get', int(i), 'tree')
            for i in (node.get('view_ids') or '').split(',') if i]
        view = next((v for v in views if v['type'] == 'tree'), None) or (
            call(target, 'fields_view_get', None, 'tree'))
        read(target, record[node.get('name')][:5], view)


def order_payload(channel, external_id, status='awaiting_shipment',
        lines=(('SKU-1', 1, '10.00'),), updated_at=None, email=None,
        customer_id=None, country_code='US', shipping_price='0.00',
        name='Ada Lovelace', **extra):
    """A canonical order as the agent sends it (oms_contract.models.Order).
    `lines` are (sku, quantity, unit price) triples."""
    created = dt.datetime(2026, 11, 11, 0, 5, tzinfo=dt.UTC)
    updated_at = updated_at or created
    line_total = sum(Decimal(p) * q for _, q, p in lines)
    order = {
        'channel': channel,
        'kind': 'other',
        'external_id': str(external_id),
        'number': f'#{external_id}',
        'status': status,
        'created_at': created.isoformat(),
        'updated_at': (updated_at.isoformat()
            if isinstance(updated_at, dt.datetime) else updated_at),
        'currency': 'USD',
        'total': str(line_total + Decimal(shipping_price)),
        'shipping_price': shipping_price,
        'customer': {
            'external_id': customer_id,
            'name': name,
            'email': email,
            'phone': None,
            },
        'shipping_address': {
            'name': name,
            'street': '12 Analytical Row',
            'city': 'London',
            'zip': 'N1 9GU',
            'country_code': country_code,
            'subdivision': None,
            'phone': None,
            },
        'lines': [{
                'external_id': f'{external_id}-{i}',
                'sku': sku,
                'title': f'Item {sku}',
                'quantity': quantity,
                'unit_price': price,
                } for i, (sku, quantity, price) in enumerate(lines, 1)],
        'notes': None,
        'raw': {'id': external_id, 'source': 'test'},
        }
    order.update(extra)
    return order


def company_world():
    """What every scenario starts from, activate_modules('oms_connector',
    create_company): built once by the harness for Tryton's test cache"""
    from trytond.modules.company.tests.tools import create_company
    create_company()
    return {}


# The carrier the end-to-end tests' warehouse ships with
DHL_URL = 'https://www.dhl.com/track?AWB={number}'


def e2e_world():
    """The one world the end-to-end tests run on (each module that needs
    it on a copy of its own): a company, carrier DHL and the records of
    e2e_records, sync_records and race_records, each one's answer under
    its name"""
    from trytond.modules.company.tests.tools import create_company
    create_company()
    create_carrier('DHL', "DHL Express", DHL_URL)
    return {'e2e': e2e_records(), 'sync': sync_records(),
        'race': race_records()}


def e2e_records():
    """The records of the end-to-end route tests: a T-shirt (100 in
    stock), a mug (1 in stock) and a lamp (10 in stock, left to the stock
    tests), channel "shop" with their SKUs mapped, channel "other", and a
    key for each (the "shop" key may not use "other")."""
    tshirt = create_product("T-shirt", "TSHIRT", "20", quantity=100)
    mug = create_product("Mug", 'MUG', '8', quantity=1)
    lamp = create_product("Lamp", 'LAMP', '30', quantity=10)
    # What the channel shows moves with pushes only, as these tests follow.
    shop = create_channel('shop', kind='shopify', name="Shopify Shop",
        deducts_sales=None)
    other = create_channel('other', kind='woocommerce', name="Woo Shop")
    create_listing(shop, tshirt, 'TS-RED-M')
    create_listing(shop, mug, 'MUG-01')
    create_listing(shop, lamp, 'LAMP-01', external_id='gid://Product/7',
        external_variant_id='gid://ProductVariant/71')
    return {
        'shop_key': create_api_key([shop]),
        'other_key': create_api_key([other]),
        'products': {'TSHIRT': tshirt.id, 'MUG': mug.id, 'LAMP': lamp.id},
        }


# The sandbox marketplace's catalogue in the sync tests and the demo:
# code (= SKU on both channels), name, price, units in stock.
SYNC_CATALOGUE = [
    ('TEE-BLK-S', "Black T-shirt, S", '19.90', 500),
    ('TEE-BLK-M', "Black T-shirt, M", '19.90', 500),
    ('MUG-STONE', "Stoneware Mug", '14.50', 500),
    ('KETTLE-1L', "Enamel Kettle 1 L", '39.90', 500),
    ('TOWEL-SET', "Linen Towel Set", '32.00', 500),
    ('LAMP-DESK', "Desk Lamp", '45.00', 500),
    ]


def sync_records():
    """The records of the agent's end-to-end tests: the catalogue in
    stock, a Shopify channel (EUR) and a WooCommerce channel (USD) listing
    every product under its code, and one agent key for both; an Amazon
    channel (USD, reserving once paid) listing them too, the mug also as
    FBA_MUG (fulfilled by Amazon), with a key of its own; a Taobao channel
    (CNY, reserving once paid) listing them, with a key of its own."""
    shopify = create_channel('shopify', kind='shopify', currency='EUR',
        name="Sandbox Shopify")
    woo = create_channel('woo', kind='woocommerce', name="Sandbox Woo")
    amazon = create_channel('amazon', kind='amazon', name="Sandbox Amazon",
        reserve_stock='payment')
    yuan_rate('7.10')  # shipments value their moves in the company's
    taobao = create_channel('taobao', kind='taobao', currency='CNY',
        name="Sandbox Taobao", reserve_stock='payment')
    for code, name, price, stock in SYNC_CATALOGUE:
        product = create_product(name, code, price, quantity=stock)
        create_listing(shopify, product, code)
        create_listing(woo, product, code)
        create_listing(amazon, product, code)
        create_listing(taobao, product, code)
        if code == 'MUG-STONE':
            create_listing(amazon, product, FBA_MUG,
                fulfilled_by_channel=True)
    return {'agent_key': create_api_key([shopify, woo]),
        'amazon_key': create_api_key([amazon]),
        'taobao_key': create_api_key([taobao])}


# The mug's SKU on Amazon where Amazon ships it from its own stock (FBA)
FBA_MUG = 'MUG-STONE-FBA'


# The race for the last units: channels selling one scarce product.
RACE_CHANNELS = ['north', 'south', 'east', 'west']
RACE_STOCK = 3


def race_records():
    """The records of the oversell race: a lamp with RACE_STOCK units left,
    listed as LAST-LAMP on each of RACE_CHANNELS (reserving on order), and
    one agent key for them all."""
    lamp = create_product("Last Lamp", 'LAST-LAMP', '45', quantity=RACE_STOCK)
    channels = [create_channel(code) for code in RACE_CHANNELS]
    for channel in channels:
        create_listing(channel, lamp, 'LAST-LAMP')
    return {'agent_key': create_api_key(channels)}
