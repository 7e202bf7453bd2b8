"""Records for the module's unit tests, made with the pool (tools.py makes
them through proteus)."""
from decimal import Decimal
from typing import NamedTuple

from trytond.model import Model
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.currency.tests import create_currency
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction, TransactionError
from trytond.worker import run_task

from oms_connector.tests.tools import order_payload
from oms_contract.models import OrderBatch

DHL_URL = 'https://www.dhl.com/en/express/tracking.html?AWB={number}'


def create_goods(name, type='goods'):
    "A salable product of the type (goods, kit, ...), sold by the unit"
    pool = Pool()
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    unit, = Uom.search([('name', '=', 'Unit')])
    template, = Template.create([{
                'name': name,
                'type': type,
                'salable': True,
                'default_uom': unit.id,
                'sale_uom': unit.id,
                'list_price': Decimal(10),
                'products': [('create', [{}])],
                }])
    product, = template.products
    return product


def receive(product, quantity, company):
    "Receive `quantity` units of the product into the warehouse storage"
    pool = Pool()
    Move = pool.get('stock.move')
    Location = pool.get('stock.location')
    supplier, = Location.search([('code', '=', 'SUP')])
    storage, = Location.search([('code', '=', 'STO')])
    move = Move(product=product, unit=product.default_uom,
        quantity=quantity, from_location=supplier, to_location=storage,
        company=company, unit_price=Decimal(1), currency=company.currency)
    move.save()
    # Received without a purchase: no warning, it's a test.
    with Transaction().set_context(_skip_warnings=True):
        Move.do([move])


def committed(func, *args, context=None, **kwargs):
    """Run func in a transaction of its own that commits, then the tasks
    it queued, as trytond's dispatcher does without a worker (a table to
    lock first runs it again, as the dispatcher does)"""
    extras = {}
    while True:
        with Transaction().start(
                DB_NAME, 1, context=context, **extras) as transaction:
            try:
                result = func(*args, **kwargs)
            except TransactionError as e:
                transaction.rollback()
                transaction.tasks.clear()
                e.fix(extras)
                continue
        break
    while transaction.tasks:
        run_task(DB_NAME, transaction.tasks.pop())
    return result


class _Record(NamedTuple):
    "A record made in one transaction, to be found in another"
    model: str
    id: int


def _kept(value):
    if isinstance(value, Model):
        return _Record(value.__name__, value.id)
    if isinstance(value, (list, tuple)):
        return type(value)(_kept(v) for v in value)
    return value


def _found(value):
    if isinstance(value, _Record):
        return Pool().get(value.model)(value.id)
    if isinstance(value, (list, tuple)):
        return type(value)(_found(v) for v in value)
    return value


class ShopWorld:
    """A shop selling on a channel, for module test cases: its products and
    stock, its channel orders, its shipments.

    What a test class's tests start from (`make_world`: the shop, and what
    the class adds) is made once, before its first test, and committed;
    each test finds it back with `setup_world` in its own transaction,
    which rolls back what the test changes. The class's database goes with
    its last test (the next class restores a clean one)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('oms_connector')
        cls.addClassCleanup(drop_db)
        cls._world = committed(cls()._make_world)

    def _make_world(self):
        pool = Pool()
        User = pool.get('res.user')
        admin = User(Transaction().user)
        company, companies = admin.company, set(admin.companies)
        made = self.make_world()
        # As the tests found the user: set_company is theirs to call
        admin = User(admin.id)
        User.write([admin], {
                'company': company.id if company else None,
                'companies': [('remove', [
                            c.id for c in admin.companies
                            if c not in companies])],
                })
        return _kept(made), {
            name: _kept(value) for name, value in vars(self).items()
            if not name.startswith('_')}

    def make_world(self):
        "What the class's tests start from: the shop; the company"
        return self.make_shop()

    def setup_world(self):
        """The class's world (see make_world) in this test's transaction:
        its records as attributes; what make_world returned"""
        made, attributes = self._world
        for name, value in attributes.items():
            setattr(self, name, _found(value))
        return _found(made)

    def setup_shop(self, **channel_values):
        """The world's shop (see make_shop), its channel changed by
        channel_values in this test; the company"""
        company = self.setup_world()
        if channel_values:
            self.channel.__class__.write([self.channel], channel_values)
        return company

    def make_shop(self, **channel_values):
        """A company (to be entered with set_company), channel 'shop'
        (Shopify), products TEE (10 in stock) and MUG (5), and carrier DHL"""
        pool = Pool()
        Channel = pool.get('oms.channel')
        Carrier = pool.get('oms.carrier')
        self.company = company = create_company(
            currency=create_currency('USD'))
        with set_company(company):
            self.channel = Channel(name="Shop", code='shop', kind='shopify',
                company=company, currency=company.currency,
                **channel_values)
            self.channel.save()
            self.tee = self.product("Tee", 'TEE', stock=10)
            self.mug = self.product("Mug", 'MUG', stock=5)
            self.dhl = Carrier(name="DHL Express", code='DHL',
                tracking_url=DHL_URL)
            self.dhl.save()
        return company

    def product(self, name, code, stock=0, type='goods', listed=True):
        pool = Pool()
        Listing = pool.get('oms.listing')
        product = create_goods(name, type=type)
        product.template.code = code
        product.template.save()
        if stock:
            self.add_stock(product, stock)
        if listed:
            Listing(channel=self.channel, product=product, sku=code).save()
        return product

    def add_stock(self, product, quantity):
        receive(product, quantity, self.company)

    def kit(self, name, code, *parts):
        "A kit product made of (product, quantity) parts, listed"
        Component = Pool().get('product.component')
        kit = self.product(name, code, type='kit', listed=False)
        Component.create([{
                    'parent_template': kit.template.id,
                    'product': product.id,
                    'quantity': quantity,
                    'unit': product.default_uom.id,
                    } for product, quantity in parts])
        Pool().get('oms.listing')(
            channel=self.channel, product=kit, sku=code).save()
        return kit

    def order(self, external_id, *lines, **payload):
        """Import a paid channel order of (sku, quantity) lines; its sale.
        `payload` changes the order (see tools.order_payload)."""
        pool = Pool()
        Importer = pool.get('oms.order.importer')
        Sale = pool.get('sale.sale')
        batch = OrderBatch.model_validate({'orders': [order_payload(
                        'shop', external_id,
                        lines=[(sku, q, '10.00') for sku, q in lines],
                        **payload)]})
        result, = Importer.import_batch(self.channel, batch)
        sale = Sale(result['sale_id'])
        self.assertEqual(
            (sale.oms_state, sale.oms_exception), ('awaiting_shipment', False))
        return sale

    def ship(self, shipment, carrier=None, number=None, only=None):
        """Pick, pack and ship the shipment with the carrier and tracking
        number; `only` ships just these units by product code, the rest
        waiting for another shipment. Runs the tasks it queues."""
        pool = Pool()
        ShipmentOut = pool.get('stock.shipment.out')
        Move = pool.get('stock.move')
        shipment = ShipmentOut(shipment.id)
        shipment.oms_carrier = carrier
        shipment.oms_tracking_number = number
        shipment.save()
        if only is not None:
            # What is on the shelf is less than planned: put back the
            # reservation, pick what there is.
            ShipmentOut.wait([shipment])
            shipment = ShipmentOut(shipment.id)
            moves = list(shipment.inventory_moves)
            for move in moves:
                move.quantity = only.get(move.product.code, 0)
            Move.save(moves)
            ShipmentOut.assign_try([shipment])
        ShipmentOut.pick([shipment])
        ShipmentOut.pack([shipment])
        ShipmentOut.do([shipment])
        self.run_tasks()

    def sale_by_hand(self, product):
        "A sale keyed in by hand for one unit of product, confirmed"
        pool = Pool()
        Sale = pool.get('sale.sale')
        Line = pool.get('sale.line')
        Party = pool.get('party.party')
        Address = pool.get('party.address')
        party = Party(name="Walk-in", addresses=[Address()])
        party.save()
        address, = party.addresses
        sale = Sale(party=party, invoice_address=address,
            shipment_address=address, invoice_method='manual',
            lines=[Line(product=product, quantity=1, unit=product.sale_uom,
                    unit_price=Decimal(10))])
        sale.save()
        Sale.quote([sale])
        Sale.confirm([sale])
        return sale

    def run_tasks(self):
        "Run the tasks queued (as a server does after the commit)"
        Queue = Pool().get('ir.queue')
        transaction = Transaction()
        while transaction.tasks:
            Queue(transaction.tasks.pop()).run()

    def open_shipment(self, sale):
        "The sale's shipment still to ship"
        Sale = Pool().get('sale.sale')
        shipment, = [s for s in Sale(sale.id).shipments
            if s.state not in {'done', 'cancelled'}]
        return shipment

