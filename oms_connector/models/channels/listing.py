"""Listings: the SKU mapping between a channel's catalogue and ERP products,
and the stock each listing offers on its channel (DESIGN.md §7)."""
import math
from collections import defaultdict
from decimal import ROUND_FLOOR, Decimal

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.transaction import Transaction

from ..domains import any_field_matches


class Listing(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'oms.listing'
    __string__ = "Listing"

    channel = fields.Many2One(
        'oms.channel', "Channel", required=True, ondelete='CASCADE')
    product = fields.Many2One(
        'product.product', "Product", required=True, ondelete='RESTRICT',
        domain=[('salable', '=', True)])
    sku = fields.Char("Channel SKU", required=True)
    external_id = fields.Char(
        "Channel Product ID",
        help="The channel's own id of the product (or its variant).")
    external_variant_id = fields.Char("Channel Variant ID")
    safety_stock = fields.Integer(
        "Safety Stock",
        domain=['OR',
            ('safety_stock', '=', None),
            ('safety_stock', '>=', 0),
            ],
        help="Units kept back from the channel; empty: the channel's.")
    allocation = fields.Numeric(
        "Allocation %", digits=(3, 2),
        domain=['OR',
            ('allocation', '=', None),
            [('allocation', '>=', 0), ('allocation', '<=', 100)],
            ],
        help="The share of the sellable stock the channel may show; "
        "empty: the channel's.")
    max_listed = fields.Integer(
        "Max Listed",
        domain=['OR',
            ('max_listed', '=', None),
            ('max_listed', '>=', 0),
            ],
        help="The most the channel shows; empty: the channel's.")
    fulfilled_by_channel = fields.Boolean(
        "Fulfilled by Channel",
        help="The channel stores and ships this listing's goods from its "
        "own stock (Amazon FBA): the ERP pushes no quantity for it. The "
        "same product may have another listing the seller ships.")
    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('channel_sku_unique', Unique(t, t.channel, t.sku),
                'oms_connector.msg_listing_sku_unique'),
            ]
        cls._order = [('channel', 'ASC'), ('sku', 'ASC'), ('id', 'ASC')]

    def get_rec_name(self, name):
        return f'{self.channel.code}: {self.sku}'

    @classmethod
    def search_rec_name(cls, name, clause):
        return any_field_matches(clause, ['sku', 'product'])

    @classmethod
    def product_for_sku(cls, channel, sku):
        """The product a channel's SKU stands for: its listing first, then a
        product whose code is that SKU. None when neither exists."""
        listings = cls.search([
                ('channel', '=', channel.id),
                ('sku', '=', sku),
                ], limit=1)
        if listings:
            return listings[0].product
        Product = cls.product.get_target()
        products = Product.search([
                ('code', '=', sku),
                ('salable', '=', True),
                ], limit=1)
        return products[0] if products else None

    @property
    def stock_settings(self):
        "The safety stock, allocation % and max listed that apply"
        channel = self.channel
        return (
            channel.safety_stock if self.safety_stock is None
            else self.safety_stock,
            channel.allocation if self.allocation is None
            else self.allocation,
            channel.max_listed if self.max_listed is None
            else self.max_listed)

    def available_to_sell(self, stock):
        """The quantities the channel may show, by warehouse id (None: one
        for all its warehouses), from the sellable stock by warehouse id:
        max(0, floor((stock - safety stock) x allocation)), capped by the
        max listed (DESIGN §7)."""
        safety_stock, allocation, max_listed = self.stock_settings

        def formula(quantity):
            share = (Decimal(quantity - safety_stock) * allocation / 100)
            quantity = max(0, int(share.to_integral_value(ROUND_FLOOR)))
            if max_listed is not None:
                quantity = min(quantity, max_listed)
            return quantity
        if self.channel.stock_by_location:
            return {w: formula(q) for w, q in stock.items()}
        return {None: formula(sum(stock.values()))}

    @classmethod
    def sellable_stock(cls, listings):
        """The stock each listing's channel may sell, by listing id and
        then warehouse id: on hand less reserved, in whole units, from
        Tryton's own quantities. A kit counts the kits its components
        make.

        One quantity query per company and set of warehouses, however many
        listings."""
        Channel = Pool().get('oms.channel')
        by_channel = defaultdict(list)
        for listing in listings:
            by_channel[listing.channel.id].append(listing)
        groups = defaultdict(list)
        for channel in Channel.browse(list(by_channel)):
            warehouses = tuple(sorted(
                    w.id for w in channel.sellable_warehouses))
            groups[channel.company.id, warehouses] += by_channel[channel.id]
        stock = {}
        for (company, warehouses), group in groups.items():
            recipes = {li.id: recipe(li.product) for li in group}
            products = {p for r in recipes.values() for p, _, _ in r}
            by_location = cls.stock_by_warehouse(
                company, warehouses, products)
            for listing_id, parts in recipes.items():
                stock[listing_id] = {
                    w: units(parts, w, by_location) for w in warehouses}
        return stock

    @classmethod
    def stock_by_warehouse(cls, company, warehouses, products):
        """The stock on hand less reserved of the products, by (warehouse
        id, product id), as the channels are offered it: one query"""
        Product = Pool().get('product.product')
        with Transaction().set_context(cls._available_context(company)):
            return Product.products_by_location(
                list(warehouses), with_childs=True,
                grouping_filter=(list(products),))

    @classmethod
    def _available_context(cls, company):
        "Tryton's quantity context for stock on hand less reservations"
        pool = Pool()
        Date = pool.get('ir.date')
        User = pool.get('res.user')
        Company = pool.get('company.company')
        transaction = Transaction()
        with transaction.set_context(company=company):
            today = Date.today()
            # Tryton counts only the moves of the user's current company:
            # for a user outside it, every product would seem sold out.
            if transaction.user and User(transaction.user).company is None:
                raise AccessError(gettext(
                        'oms_connector.msg_stock_company',
                        user=User(transaction.user).rec_name,
                        company=Company(company).rec_name))
        return {
            'company': company,
            # Done moves up to today, and assigned outgoing moves (the
            # orders' reservations) as if done, as when Tryton assigns.
            'stock_date_end': today,
            'stock_assign': True,
            'forecast': False,
            # The storage zone only, as Tryton's sales count: goods still
            # in the input zone are not put away, so not yet for sale.
            'stock_skip_warehouse': True,
            }


def recipe(product):
    """What one unit of the product takes from stock: (product id,
    quantity, fixed) per part; a kit is its components."""
    if product.type != 'kit':
        return [(product.id, 1, False)]
    pool = Pool()
    Uom = pool.get('product.uom')
    parts = []
    for component in product.components_used:
        quantity = Uom.compute_qty(
            component.unit, component.quantity,
            component.product.default_uom, round=False)
        parts.append((component.product.id, quantity, component.fixed))
    return parts


def units(parts, warehouse, by_location):
    "The whole units the parts make in the warehouse, never below zero"
    made = []
    for product, quantity, fixed in parts:
        # Summed moves may land a hair off a whole unit.
        stock = round(by_location.get((warehouse, product), 0), 6)
        if fixed:
            made.append(math.inf if stock >= quantity else 0)
        else:
            made.append(math.floor(stock / quantity) if quantity else 0)
    available = min(made, default=0)
    return 0 if available == math.inf else max(0, available)
