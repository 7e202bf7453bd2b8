"""Supply chain: for each product sold, its way from the supplier through
the warehouse to the customer, the time each step takes and what it costs,
as far as the ERP knows (issue 7, report 6)."""
from sql import Cast, Literal, Null, Window
from sql.aggregate import Avg, Count, Max, Sum
from sql.conditionals import Case, Coalesce

from trytond import backend
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval

from .cache import ReportCacheMixin
from .reporting import (
    Filters,
    day_number,
    in_company_currency,
    row_id,
    sale_lines,
)
from .stock_reporting import stock_movements, warehouse_locations


def origin_is(move, line, Line):
    """The join of `move` to the `line` of model `Line` it comes from: on
    the id in its origin, an integer, rather than on 'model,id' text
    (which a join could not hash or look up by the line's id)"""
    Move = Pool().get('stock.move')
    return (move.origin.like(Line.__name__ + ',%')
        & (line.id == Move.origin.sql_id(move.origin, Line)))


def receipts(filters: Filters):
    """The goods received from purchases over the period by product and
    warehouse: received (units), lead_time (days from the purchase date to
    the receipt, averaged over the receipts), unit_cost (the purchase price
    a unit, in the company's currency at the receipt date), supplier (one
    they came from)"""
    pool = Pool()
    Move = pool.get('stock.move')
    Location = pool.get('stock.location')
    Line = pool.get('purchase.line')
    Purchase = pool.get('purchase.purchase')
    Company = pool.get('company.company')
    move = Move.__table__()
    from_location = Location.__table__()
    line = Line.__table__()
    purchase = Purchase.__table__()
    company = Company.__table__()
    inside = warehouse_locations()
    where = ((move.state == 'done')
        & (from_location.type == 'supplier')
        & (move.company == filters.company)
        & (move.effective_date >= filters.from_date)
        & (move.effective_date <= filters.to_date))
    if filters.warehouse:
        where &= inside.warehouse == filters.warehouse
    from_, amount = in_company_currency(
        move
        .join(from_location, condition=move.from_location == from_location.id)
        .join(inside, condition=move.to_location == inside.location)
        .join(line, condition=origin_is(move, line, Line))
        .join(purchase, condition=line.purchase == purchase.id)
        .join(company, condition=move.company == company.id),
        move.quantity * move.unit_price, move.currency, company.currency,
        move.effective_date)
    received = Sum(move.internal_quantity)
    return from_.select(
        move.product.as_('product'),
        inside.warehouse.as_('warehouse'),
        received.as_('received'),
        Avg(day_number(move.effective_date)
            - day_number(purchase.purchase_date)).as_('lead_time'),
        (Sum(amount) / received).as_('unit_cost'),
        Max(purchase.party).as_('supplier'),
        where=where,
        group_by=[move.product, inside.warehouse])


def deliveries(filters: Filters):
    """The goods shipped to customers of sales over the period by product
    and warehouse: time_to_ship (days from the order date to the shipment,
    averaged over the shipped moves)

    The days are summed by product and location first, then by warehouse:
    the moves meet their lines without the location nesting in the way."""
    pool = Pool()
    Move = pool.get('stock.move')
    Location = pool.get('stock.location')
    SaleLine = pool.get('sale.line')
    Sale = pool.get('sale.sale')
    move = Move.__table__()
    to_location = Location.__table__()
    line = SaleLine.__table__()
    sale = Sale.__table__()
    inside = warehouse_locations()
    where = ((move.state == 'done')
        & (to_location.type == 'customer')
        & (move.company == filters.company)
        & (move.effective_date >= filters.from_date)
        & (move.effective_date <= filters.to_date)
        & (sale.oms_return == Null))
    if filters.channel:
        where &= sale.oms_channel == filters.channel
    moves = (move
        .join(to_location, condition=move.to_location == to_location.id)
        .join(line, condition=origin_is(move, line, SaleLine))
        .join(sale, condition=line.sale == sale.id)
        .select(
            move.product.as_('product'),
            move.from_location.as_('location'),
            Sum(day_number(move.effective_date)
                - day_number(sale.sale_date)).as_('days'),
            Count(Literal(1)).as_('moves'),
            where=where,
            group_by=[move.product, move.from_location]))
    where = None
    if filters.warehouse:
        where = inside.warehouse == filters.warehouse
    return (moves
        .join(inside, condition=moves.location == inside.location)
        .select(
            moves.product.as_('product'),
            inside.warehouse.as_('warehouse'),
            average(Sum(moves.days), Sum(moves.moves)).as_('time_to_ship'),
            where=where,
            group_by=[moves.product, inside.warehouse]))


def average(total, count):
    """`total` / `count` as AVG would give it: a NUMERIC on PostgreSQL,
    a REAL on SQLite, not an integer division"""
    if backend.name == 'sqlite':
        return Cast(total, 'REAL') / count
    return Cast(total, 'NUMERIC') / Cast(count, 'NUMERIC')


def sales_with_shipping(filters: Filters):
    """The units sold over the period by product and warehouse, their
    revenue and the shipping charged for them: each order's charges (its
    lines without product) spread over its units"""
    lines = sale_lines(
        filters, filters.from_date, filters.to_date, charges=True)
    by_sale = Window([lines.sale])
    goods = lines.product != Null
    charges = lines.select(
        lines.product, lines.warehouse, lines.quantity, lines.amount,
        Sum(Case((goods, 0), else_=lines.amount),
            window=by_sale).as_('charges'),
        Sum(Case((goods, lines.quantity), else_=0),
            window=by_sale).as_('units'))
    return charges.select(
        charges.product.as_('product'),
        charges.warehouse.as_('warehouse'),
        Sum(charges.quantity).as_('quantity'),
        Sum(charges.amount).as_('revenue'),
        Sum(Case((charges.units > 0,
                    charges.quantity * charges.charges / charges.units),
                else_=0)).as_('shipping'),
        where=charges.product != Null,
        group_by=[charges.product, charges.warehouse])


class SupplyReporting(ReportCacheMixin, ModelSQL, ModelView):
    __name__ = 'oms.reporting.supply'
    __string__ = "Supply Chain"

    company = fields.Many2One('company.company', "Company")
    currency = fields.Many2One('currency.currency', "Currency")
    product = fields.Many2One(
        'product.product', "Product",
        context={'company': Eval('company', -1)}, depends={'company'})
    warehouse = fields.Many2One('stock.location', "Warehouse")
    supplier = fields.Many2One(
        'party.party', "Supplier",
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The product's first supplier, else one it was received "
        "from over the period.")
    received = fields.Float(
        "Received",
        help="The units received from purchases over the period.")
    purchase_lead_time = fields.Float(
        "Purchase Lead Time", digits=(16, 1),
        help="The days from the purchase order to the receipt, averaged "
        "over the receipts of the period.\n"
        "Empty when nothing was received.")
    purchase_cost = Monetary(
        "Purchase Cost", currency='currency', digits=(16, 4),
        help="A unit's purchase price over the period's receipts, in the "
        "company's currency at the receipt date; without receipt, the "
        "product's cost price.")
    days_in_stock = fields.Float(
        "Days in Stock", digits=(16, 1),
        help="The average stock over the period divided by the units "
        "shipped a day: how long a unit waits in the warehouse.\n"
        "Empty when nothing shipped.")
    time_to_ship = fields.Float(
        "Time to Ship", digits=(16, 1),
        help="The days from the order to the shipment, averaged over the "
        "units shipped over the period.")
    shipping_charged = Monetary(
        "Shipping Charged", currency='currency', digits=(16, 4),
        help="The shipping customers paid a unit: each order's shipping "
        "spread over its units. What the carrier billed is not known.")
    quantity = fields.Float(
        "Sold",
        help="The units ordered over the period, cancelled orders and "
        "returns left out.")
    revenue = Monetary("Revenue", currency='currency', digits='currency')
    margin = Monetary(
        "Margin", currency='currency', digits='currency',
        help="The revenue less the units sold at the purchase cost.\n"
        "Empty when the purchase cost is not known.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('revenue', 'DESC'),
            ('product', 'ASC'),
            ('warehouse', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def report_query(cls):
        "A row per product sold over the period and warehouse"
        pool = Pool()
        Product = pool.get('product.product')
        CostPrice = pool.get('product.cost_price')
        Company = pool.get('company.company')
        filters = pool.get('oms.reporting.context').filters()
        product = Product.__table__()
        cost_price = CostPrice.__table__()
        company = Company.__table__()
        sold = sales_with_shipping(filters)
        received = receipts(filters)
        shipped = deliveries(filters)
        stock = stock_movements(filters)

        def same(query):
            return ((query.product == sold.product)
                & (query.warehouse == sold.warehouse))
        unit_cost = Coalesce(received.unit_cost, cost_price.cost_price)
        return (sold
            .join(product, condition=sold.product == product.id)
            .join(company, condition=company.id == filters.company)
            .join(received, type_='LEFT', condition=same(received))
            .join(shipped, type_='LEFT', condition=same(shipped))
            .join(stock, type_='LEFT', condition=same(stock))
            .join(cost_price, type_='LEFT',
                condition=(cost_price.product == sold.product)
                & (cost_price.company == filters.company))
            .select(
                row_id(sold.product, Coalesce(sold.warehouse, 0)).as_('id'),
                company.id.as_('company'),
                company.currency.as_('currency'),
                sold.product.as_('product'),
                sold.warehouse.as_('warehouse'),
                Coalesce(cls._main_supplier(product, filters),
                    received.supplier).as_('supplier'),
                received.received.as_('received'),
                received.lead_time.as_('purchase_lead_time'),
                cls.purchase_cost.sql_cast(unit_cost).as_('purchase_cost'),
                Case((stock.shipped > 0,
                        stock.average_stock * filters.days / stock.shipped),
                    else_=Null).as_('days_in_stock'),
                shipped.time_to_ship.as_('time_to_ship'),
                cls.shipping_charged.sql_cast(
                    sold.shipping / sold.quantity).as_('shipping_charged'),
                sold.quantity.as_('quantity'),
                cls.revenue.sql_cast(sold.revenue).as_('revenue'),
                cls.margin.sql_cast(
                    sold.revenue - sold.quantity * unit_cost).as_('margin')))

    @classmethod
    def _main_supplier(cls, product, filters: Filters):
        "The product's first supplier, as a column of `product`"
        ProductSupplier = Pool().get('purchase.product_supplier')
        supplier = ProductSupplier.__table__()
        return supplier.select(
            supplier.party,
            where=(supplier.template == product.template)
            & ((supplier.product == Null) | (supplier.product == product.id))
            & ((supplier.company == Null)
                | (supplier.company == filters.company))
            & Coalesce(supplier.active, Literal(True)),
            order_by=[
                Case((supplier.sequence == Null, 1), else_=0),
                supplier.sequence, supplier.id],
            limit=1)

    def get_rec_name(self, name):
        return self.product.rec_name
