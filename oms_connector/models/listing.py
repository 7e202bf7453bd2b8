"""Listings: the SKU mapping between a channel's catalogue and ERP products."""
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields


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
