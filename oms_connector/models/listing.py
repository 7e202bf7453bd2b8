"""Listings: the SKU mapping between a channel's catalogue and ERP products,
and the stock each listing offers on its channel (DESIGN.md §7)."""
import datetime as dt
import math
from collections import defaultdict

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.transaction import Transaction


class Listing(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'oms.listing'

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
    available_quantity = fields.Function(fields.Integer(
            "Available",
            help="What the channel may sell: the product's stock in the "
            "channel's warehouses less what orders have reserved."),
        'get_push')
    pushed_quantity = fields.Integer(
        "Channel Shows", readonly=True,
        help="The quantity the channel last accepted from the sync agent.")
    pushed_at = fields.Timestamp(
        "Pushed At", readonly=True,
        help="When the channel last accepted a quantity.")
    push_error = fields.Text(
        "Push Error", readonly=True,
        help="Why the channel refused the last quantity pushed.")
    push_pending = fields.Function(fields.Boolean(
            "Push Pending",
            help="The channel shows another quantity than is available: "
            "the sync agent pushes it next."),
        'get_push', searcher='search_push_pending')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('channel_sku_unique', Unique(t, t.channel, t.sku),
                'oms_connector.msg_listing_sku_unique'),
            ]
        cls._order = [('channel', 'ASC'), ('sku', 'ASC'), ('id', 'ASC')]

    @classmethod
    def copy(cls, listings, default=None):
        default = default.copy() if default is not None else {}
        # A copy is a new listing that the channel has not been told about.
        for name in ['pushed_quantity', 'pushed_at', 'push_error']:
            default.setdefault(name, None)
        return super().copy(listings, default=default)

    def get_rec_name(self, name):
        return f'{self.channel.code}: {self.sku}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        negative = operator.startswith('!') or operator.startswith('not ')
        bool_op = 'AND' if negative else 'OR'
        return [bool_op,
            ('sku', operator, operand, *extra),
            ('product', operator, operand, *extra),
            ]

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

    @classmethod
    def by_sku(cls, channel, skus):
        "The channel's listings with these SKUs, inactive ones too, by SKU"
        with Transaction().set_context(active_test=False):
            listings = cls.search([
                    ('channel', '=', channel.id),
                    ('sku', 'in', list(skus)),
                    ])
        return {listing.sku: listing for listing in listings}

    @classmethod
    def available_quantities(cls, listings):
        """What each listing's channel may sell, by listing id: the
        product's stock on hand in the channel's sellable warehouses less
        what is reserved, in whole units and never below zero.

        One quantity query per company and set of warehouses, however many
        listings."""
        pool = Pool()
        Product = pool.get('product.product')
        Channel = pool.get('oms.channel')
        by_channel = defaultdict(list)
        for listing in listings:
            by_channel[listing.channel.id].append(listing)
        groups = defaultdict(list)
        for channel in Channel.browse(list(by_channel)):
            warehouses = tuple(sorted(
                    w.id for w in channel.sellable_warehouses))
            groups[channel.company.id, warehouses] += by_channel[channel.id]
        available = {}
        for (company, warehouses), group in groups.items():
            products = {li.id: li.product.id for li in group}
            with Transaction().set_context(cls._available_context(company)):
                by_location = Product.products_by_location(
                    list(warehouses), with_childs=True,
                    grouping_filter=(list(set(products.values())),))
            stock = defaultdict(float)
            for (_, product), quantity in by_location.items():
                stock[product] += quantity
            for listing_id, product in products.items():
                # Summing warehouses may land a hair below a whole unit.
                quantity = math.floor(round(stock[product], 6))
                available[listing_id] = max(0, quantity)
        return available

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

    @classmethod
    def push_state(cls, listings):
        """The available quantity of each listing, by id, and the ids of
        the active ones whose channel shows another (or was never told)"""
        available = cls.available_quantities(listings)
        pending = {listing.id for listing in listings
            if listing.active
            and listing.pushed_quantity != available[listing.id]}
        return available, pending

    @classmethod
    def get_push(cls, listings, names):
        available, pending = cls.push_state(listings)
        result = {}
        if 'available_quantity' in names:
            result['available_quantity'] = available
        if 'push_pending' in names:
            result['push_pending'] = {
                listing.id: listing.id in pending for listing in listings}
        return result

    @classmethod
    def search_push_pending(cls, name, clause):
        _, operator, value = clause[:3]
        _, pending = cls.push_state(cls.search([]))
        wanted = (operator == '=') == bool(value)
        return [('id', 'in' if wanted else 'not in', list(pending))]

    @classmethod
    def record_push(cls, pushed, refused):
        """Record the quantities the channel accepted ({listing: quantity}),
        clearing their errors, and why it refused others ({listing:
        error}): those keep what the channel shows, so they stay
        pending."""
        now = dt.datetime.now()
        # One write per distinct value: a full push is thousands of
        # listings sharing a few quantities.
        args = []
        for quantity, listings in by_value(pushed).items():
            args.extend((listings, {
                        'pushed_quantity': quantity,
                        'pushed_at': now,
                        'push_error': None,
                        }))
        for error, listings in by_value(refused).items():
            args.extend((listings, {'push_error': error}))
        if args:
            cls.write(*args)


def by_value(mapping):
    "The keys of mapping grouped by their value"
    groups = defaultdict(list)
    for key, value in mapping.items():
        groups[value].append(key)
    return groups
