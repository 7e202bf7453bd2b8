"""Sales channels: one marketplace account (a Shopify shop, a WooCommerce
site, ...) and how its orders enter the ERP."""
import datetime as dt
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

KINDS = [
    ('shopify', "Shopify"),
    ('woocommerce', "WooCommerce"),
    ('amazon', "Amazon"),
    ('ebay', "eBay"),
    ('taobao', "Taobao"),
    ('other', "Other"),
    ]


# Hours from payment to shipping promised by default: two days.
SHIP_WITHIN = 48


class Channel(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'oms.channel'
    __string__ = "Sales Channel"

    name = fields.Char("Name", required=True)
    code = fields.Char(
        "Code", required=True,
        help="The short name the sync agent uses for this channel.")
    kind = fields.Selection(KINDS, "Kind", required=True)
    company = fields.Many2One('company.company', "Company", required=True)
    warehouse = fields.Many2One(
        'stock.location', "Warehouse", required=True,
        domain=[
            ('type', '=', 'warehouse'),
            If(Eval('warehouses', []),
                ('id', 'in', Eval('warehouses', [])), ()),
            ],
        help="The warehouse that ships this channel's orders.")
    warehouses = fields.Many2Many(
        'oms.channel-stock.location', 'channel', 'warehouse', "Warehouses",
        domain=[('type', '=', 'warehouse')],
        help="The warehouses whose stock this channel may sell.")
    currency = fields.Many2One('currency.currency', "Currency", required=True)
    reserve_stock = fields.Selection([
            ('order', "On Order"),
            ('payment', "On Payment"),
            ], "Reserve Stock", required=True,
        help="When an order's goods are reserved in the warehouse: as soon "
        "as the order arrives, or only once it is paid.")
    partial_reservation = fields.Boolean(
        "Keep Partial Reservations",
        help="An order short of stock keeps the units that could be "
        "reserved, for sellers who ship orders in parts. Otherwise it is "
        "held reserving nothing, so its units stay for other orders and "
        "for the channels' stock levels.")
    customer_matching = fields.Selection([
            ('id_email', "Channel Customer ID, then E-mail"),
            ('id', "Channel Customer ID only"),
            ('none', "Always a New Customer"),
            ], "Customer Matching", required=True,
        help="How an incoming order finds its customer in the ERP.")
    invoice_method = fields.Selection([
            ('manual', "Manual"),
            ('order', "On Order Processed"),
            ('shipment', "On Shipment Sent"),
            ], "Invoice Method", required=True,
        help="How the channel's sales are invoiced (Tryton's sale setting). "
        "Anything but Manual needs the products' revenue accounts.")
    unknown_customer = fields.Many2One(
        'party.party', "Unknown Customer", readonly=True, ondelete='RESTRICT',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="The party of the orders the agent could not read, until a "
        "readable copy names their customer.")
    stock_by_location = fields.Boolean(
        "Stock by Location",
        help="The channel keeps stock per location (as Shopify does): each "
        "sellable warehouse gets its own quantity, pushed to the location "
        "the agent's mapping names. Otherwise the channel shows one "
        "quantity for all of them.")
    deducts_sales = fields.Selection([
            (None, "Never"),
            ('order', "On Order"),
            ], "Deducts Its Sales",
        help="The channel lowers its own quantity for each order it takes "
        "(Shopify does): the ERP then knows what the channel shows without "
        "pushing to it. Only for channels whose pushes compare and set "
        "(a stock push over a sale not yet imported is refused, not "
        "overwritten).")
    safety_stock = fields.Integer(
        "Safety Stock", required=True,
        domain=[('safety_stock', '>=', 0)],
        help="Units of each product kept back from the channel; below it, "
        "a low-stock alert is raised. A listing may set its own.")
    allocation = fields.Numeric(
        "Allocation %", digits=(3, 2), required=True,
        domain=[('allocation', '>=', 0), ('allocation', '<=', 100)],
        help="The share of the sellable stock the channel may show.")
    max_listed = fields.Integer(
        "Max Listed",
        domain=['OR',
            ('max_listed', '=', None),
            ('max_listed', '>=', 0),
            ],
        help="The most the channel ever shows of a product, if set.")
    notifies_buyer = fields.Boolean(
        "Marketplace Notifies Buyer",
        help="The marketplace e-mails the buyer the parcel's tracking when "
        "the agent sends it a fulfilment (Shopify's notifyCustomer).")
    complete_after = fields.Integer(
        "Complete After (days)",
        domain=['OR',
            ('complete_after', '=', None),
            ('complete_after', '>=', 0),
            ],
        help="Shipped orders count as delivered, and are completed, this "
        "many days after their last parcel left; empty: never (the channel "
        "or staff complete them).")
    ship_within = fields.Integer(
        "Ship Within (hours)", required=True,
        domain=[('ship_within', '>=', 0)],
        help="The promise to the channel's customers: a paid order ships "
        "within this many hours, else the fulfilment report counts it "
        "late.")
    cursor = fields.Char(
        "Cursor", readonly=True,
        help="Where the next pull of orders starts; stored with the orders.")
    cursor_updated = fields.Timestamp("Cursor Updated", readonly=True)
    listings = fields.One2Many('oms.listing', 'channel', "Listings")
    api_keys = fields.Many2Many(
        'res.user.application-oms.channel', 'channel', 'application',
        "API Keys", domain=[('application', '=', 'oms')])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'oms_connector.msg_channel_code_unique'),
            ]
        cls._order = [('name', 'ASC'), ('id', 'ASC')]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_reserve_stock():
        return 'order'

    @staticmethod
    def default_safety_stock():
        return 0

    @staticmethod
    def default_allocation():
        return Decimal(100)

    @staticmethod
    def default_notifies_buyer():
        return True

    @staticmethod
    def default_complete_after():
        return 14

    @staticmethod
    def default_ship_within():
        return SHIP_WITHIN

    @fields.depends('kind')
    def on_change_kind(self):
        self.stock_by_location = self.kind == 'shopify'
        # WooCommerce deducts too, but its pushes overwrite: a sale made
        # just before a push and imported after it would count twice.
        self.deducts_sales = 'order' if self.kind == 'shopify' else None

    @staticmethod
    def default_customer_matching():
        return 'id_email'

    @staticmethod
    def default_invoice_method():
        return 'manual'

    @staticmethod
    def default_kind():
        return 'other'

    @classmethod
    def default_currency(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = Transaction().context.get('company')
        if company:
            return Company(company).currency.id

    @classmethod
    def default_warehouse(cls):
        return Pool().get('stock.location').get_default_warehouse()

    @classmethod
    def copy(cls, channels, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('unknown_customer', None)
        return super().copy(channels, default=default)

    @classmethod
    def by_code(cls, code):
        "The active channel with that code, or None"
        channels = cls.search([('code', '=', code)], limit=1)
        return channels[0] if channels else None

    @property
    def sellable_warehouses(self):
        "The warehouses whose stock the channel may sell"
        return list(self.warehouses) or [self.warehouse]

    def get_unknown_customer(self):
        "The channel's placeholder party, created the first time it is needed"
        Party = Pool().get('party.party')
        if not self.unknown_customer:
            party = Party(name=gettext(
                    'oms_connector.msg_unknown_customer', channel=self.name))
            party.save()
            self.unknown_customer = party
            self.save()
        return self.unknown_customer

    def store_cursor(self, cursor):
        self.cursor = cursor
        self.cursor_updated = dt.datetime.now()
        self.save()


class ChannelWarehouse(ModelSQL):
    __name__ = 'oms.channel-stock.location'
    __string__ = "Channel Warehouse"
    channel = fields.Many2One(
        'oms.channel', "Channel", required=True, ondelete='CASCADE')
    warehouse = fields.Many2One(
        'stock.location', "Warehouse", required=True, ondelete='CASCADE',
        domain=[('type', '=', 'warehouse')])
