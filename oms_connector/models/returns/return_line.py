"""The lines of a return request: what of which order line comes back,
in what condition, and where it goes."""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval

from ...exceptions import ReturnError
from .after_sales import CONDITIONS, DESTINATIONS, RESELLABLE


class ReturnLine(ModelSQL, ModelView):
    __name__ = 'oms.return.line'
    __string__ = "Return Request Line"

    rma = fields.Many2One(
        'oms.return', "Return Request", required=True, ondelete='CASCADE')
    sale_line = fields.Many2One(
        'sale.line', "Order Line", ondelete='RESTRICT',
        domain=[
            ('sale', '=', Eval('_parent_rma', {}).get('sale', -1)),
            ('type', '=', 'line'),
            ])
    product = fields.Many2One(
        'product.product', "Product", required=True, ondelete='RESTRICT')
    quantity = fields.Float(
        "Quantity", digits='unit', required=True,
        domain=[('quantity', '>', 0)])
    unit = fields.Function(
        fields.Many2One('product.uom', "Unit"), 'on_change_with_unit')
    unit_price = fields.Numeric(
        "Unit Price", digits=(16, 4), readonly=True,
        help="What the order sold it for.")
    reason = fields.Many2One(
        'oms.return.reason', "Reason", ondelete='RESTRICT')
    condition = fields.Selection(CONDITIONS, "Condition", required=True)
    destination = fields.Selection(
        DESTINATIONS, "Goes To", required=True,
        help="Where the goods are put when received: the sellable stock "
        "(the channels can sell them again) or the warehouse's waste "
        "location.")
    exchange_product = fields.Many2One(
        'product.product', "Exchange For", ondelete='RESTRICT',
        domain=[('salable', '=', True)],
        states={
            'invisible': (Eval('_parent_rma', {}).get('resolution')
                != 'exchange'),
            },
        help="What the customer gets instead; empty: the same product.")
    external_id = fields.Char("Channel Line ID", readonly=True)
    return_sale_line = fields.Many2One(
        'sale.line', "Return Sale Line", readonly=True, ondelete='SET NULL')

    @classmethod
    def default_condition(cls):
        return 'unopened'

    @classmethod
    def default_destination(cls):
        return 'sellable'

    @fields.depends('sale_line', 'quantity')
    def on_change_sale_line(self):
        if self.sale_line:
            self.product = self.sale_line.product
            self.unit_price = self.sale_line.unit_price
            if not self.quantity:
                self.quantity = self.sale_line.quantity

    @fields.depends('condition')
    def on_change_condition(self):
        self.destination = ('sellable' if self.condition in RESELLABLE
            else 'quarantine')

    @fields.depends('sale_line', 'product')
    def on_change_with_unit(self, name=None):
        if self.sale_line:
            return self.sale_line.unit
        if self.product:
            return self.product.default_uom

    @classmethod
    def create(cls, vlist):
        SaleLine = Pool().get('sale.line')
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            if values.get('sale_line'):
                sale_line = SaleLine(values['sale_line'])
                values.setdefault('product', sale_line.product.id)
                values.setdefault('unit_price', sale_line.unit_price)
            if 'destination' not in values:
                values['destination'] = ('sellable'
                    if values.get('condition', 'unopened') in RESELLABLE
                    else 'quarantine')
        return super().create(vlist)

    @property
    def amount(self):
        return Decimal(str(self.quantity)) * (self.unit_price or 0)

    @staticmethod
    def shipped_quantity(sale_line):
        "How much of the order line has reached the customer"
        return sum(m.quantity for m in sale_line.moves
            if m.state == 'done' and m.to_location.type == 'customer')

    @classmethod
    def asked_quantity(cls, sale_line, but=None):
        """How much of the order line return requests ask back, rejected
        ones aside (and the line `but`)"""
        return sum(line.quantity for line in cls.search([
                    ('sale_line', '=', sale_line.id),
                    ('id', '!=', but.id if but else -1),
                    ('rma.state', '!=', 'rejected'),
                    ]))

    def check_quantity(self):
        """Refuse returning more than was sold (shipped, for goods coming
        back), counting the order's other open or settled requests"""
        Line = self.__class__
        sale_line = self.sale_line
        if not sale_line or sale_line.sale != self.rma.sale:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_line_not_in_order',
                    product=self.product.rec_name,
                    sale=self.rma.sale.rec_name))
        if self.product != sale_line.product:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_line_product',
                    product=self.product.rec_name,
                    line=sale_line.rec_name))
        others = Line.asked_quantity(sale_line, but=self)
        if self.rma.return_goods:
            limit = Line.shipped_quantity(sale_line)
            message = 'oms_connector.msg_return_more_than_shipped'
        else:
            limit = sale_line.quantity
            message = 'oms_connector.msg_return_more_than_sold'
        if self.quantity + others > limit:
            raise ReturnError(gettext(message,
                    quantity=f'{self.quantity:g}',
                    product=self.product.rec_name,
                    sale=self.rma.sale.rec_name, limit=f'{limit:g}',
                    others=f'{others:g}'))

    def destination_location(self, warehouse):
        "Where the goods of this line go in the warehouse"
        if self.destination == 'sellable':
            return warehouse.storage_location
        if not warehouse.waste_locations:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_no_quarantine',
                    warehouse=warehouse.rec_name))
        return warehouse.waste_locations[0]
