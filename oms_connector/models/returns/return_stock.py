"""The goods of a return request: Tryton's return sale and shipment
bringing them back (to sellable stock or quarantine), and an exchange's
replacement order."""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from ..orders.order import processing_now


class Return(metaclass=PoolMeta):
    __name__ = 'oms.return'

    # Stock: Tryton's return sale brings the goods back.

    @classmethod
    @without_check_access
    def expect_goods(cls, rmas):
        """Make each request's return sale, whose return shipment (draft)
        tells the warehouse what to expect and brings the goods in: the
        system's paperwork, whoever approved (a policy may, as the request
        is made)"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        rmas = [r for r in rmas if r.sale and not r.return_sale
            and r.return_goods and not r.held]
        if not rmas:
            return
        sales = []
        for rma in rmas:
            rma.return_sale = rma._return_sale()
            sales.append(rma.return_sale)
        Sale.save(sales)
        cls.save(rmas)
        for rma in rmas:
            for line in rma.lines:
                line.return_sale_line = next(
                    sl for sl in rma.return_sale.lines
                    if sl.oms_return_line == line)
        pool.get('oms.return.line').save(
            [line for rma in rmas for line in rma.lines])
        Sale.quote(sales)
        with processing_now(sales):
            Sale.confirm(sales)
        Sale.process(sales)

    def _new_sale(self, description, **values):
        """A sale to the order's customer and address, from its warehouse,
        made by this request"""
        Sale = Pool().get('sale.sale')
        sale = self.sale
        return Sale(
            company=sale.company, party=sale.party,
            invoice_address=sale.invoice_address,
            shipment_address=sale.shipment_address,
            warehouse=sale.warehouse, currency=sale.currency,
            payment_term=sale.payment_term,
            # Money goes back through the channel or the request, and a
            # replacement is paid as the order was: no invoices
            invoice_method='manual', shipment_method='order',
            reference=self.number, origin=self,
            description=gettext(description,
                rma=self.number, sale=sale.rec_name),
            **values)

    def _return_sale(self):
        "Tryton's return sale of the lines: their quantities negated"
        Line = Pool().get('sale.line')
        return_sale = self._new_sale(
            'oms_connector.msg_return_sale_description', oms_return=self)
        lines = []
        for line in self.lines:
            sale_line = line.sale_line
            lines.append(Line(
                    type='line', product=line.product,
                    description=sale_line.description if sale_line else None,
                    quantity=-line.quantity, unit=line.unit,
                    unit_price=line.unit_price or Decimal(0),
                    taxes=sale_line.taxes if sale_line else [],
                    oms_return_line=line))
        return_sale.lines = lines
        return return_sale

    def make_replacement(self, priced):
        """The new order sending the goods of an exchange (the exchange
        products, the customer paying any difference) or a reship (the
        same goods, free), through the order lifecycle: confirmed and
        reserved at once when it costs nothing, else awaiting payment"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Line = pool.get('sale.line')
        Product = pool.get('product.product')
        sale = self.sale
        replacement = self._new_sale(
            'oms_connector.msg_replacement_description')
        lines = []
        for line in self.lines:
            product = line.exchange_product if priced else None
            product = product or line.product
            price = Decimal(0)
            if priced:
                # The customer pays what the new goods cost more
                with Transaction().set_context(
                        currency=sale.currency.id, customer=sale.party.id,
                        uom=product.sale_uom.id):
                    list_price = Product.get_sale_price(
                        [product], line.quantity)[product.id]
                if list_price is not None:
                    price = max(Decimal(0),
                        list_price - (line.unit_price or 0))
            sale_line = line.sale_line
            lines.append(Line(type='line', product=product,
                    description=product.rec_name,
                    quantity=line.quantity, unit=product.sale_uom,
                    unit_price=price,
                    taxes=sale_line.taxes if sale_line else []))
        replacement.lines = lines
        replacement.save()
        Sale.quote([replacement])
        if not replacement.total_amount:
            with Transaction().set_context(oms_reason=gettext(
                        'oms_connector.msg_replacement_free',
                        rma=self.number)):
                Sale.confirm([replacement])
        return replacement


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.sale'

    oms_return = fields.Many2One(
        'oms.return', "Return Request", readonly=True, ondelete='RESTRICT',
        states={'invisible': ~Eval('oms_return')},
        help="This is the return sale of the request: it brings the goods "
        "back, outside the order lifecycle.")
    oms_returns = fields.One2Many(
        'oms.return', 'sale', "Return Requests", readonly=True)

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['oms.return']

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('oms_return', None)
        default.setdefault('oms_returns', None)
        return super().copy(sales, default=default)


class SaleLine(metaclass=PoolMeta):
    __name__ = 'sale.line'

    oms_return_line = fields.Many2One(
        'oms.return.line', "Return Request Line", readonly=True,
        ondelete='SET NULL')

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('oms_return_line', None)
        return super().copy(lines, default=default)


class ShipmentOutReturn(metaclass=PoolMeta):
    __name__ = 'stock.shipment.out.return'

    def _get_inventory_move(self, incoming_move):
        # Each request line's goods go where it says: sellable stock or
        # the warehouse's waste location.
        move = super()._get_inventory_move(incoming_move)
        line = getattr(incoming_move.origin, 'oms_return_line', None)
        if move and line:
            move.to_location = line.destination_location(self.warehouse)
        return move

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def do(cls, shipments):
        Return = Pool().get('oms.return')
        super().do(shipments)
        rmas = {m.origin.oms_return_line.rma
            for s in shipments for m in s.incoming_moves
            if getattr(m.origin, 'oms_return_line', None)}
        if rmas:
            Return.goods_received(Return.browse(list(rmas)))
