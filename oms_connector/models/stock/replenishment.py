"""Replenishment: how many days each warehouse's stock of a product lasts at
its recent sales, and the order points (Tryton's stock_supply) that sales
suggest, so that low stock gives purchase requests (DESIGN.md §7)."""
import datetime as dt
import math
from collections import defaultdict

from sql import Cast, Literal
from sql.aggregate import Sum
from sql.conditionals import Coalesce
from sql.operators import Concat

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, PYSONEncoder, TimeDelta
from trytond.transaction import Transaction
from trytond.wizard import StateAction, StateTransition, Wizard

from ...exceptions import OrderPointError
from ..domains import any_field_matches

# Shipments whose goods are set aside for their customer: a sale counts from
# its reservation, not only once the parcel leaves.
RESERVED_SHIPMENT_STATES = ['assigned', 'picked', 'packed', 'shipped']


class StockCover(ModelSQL, ModelView):
    __name__ = 'oms.stock.cover'
    __string__ = "Stock Cover"

    company = fields.Many2One('company.company', "Company")
    product = fields.Many2One(
        'product.product', "Product",
        context={'company': Eval('company', -1)}, depends={'company'})
    warehouse = fields.Many2One('stock.location', "Warehouse")
    unit = fields.Many2One('product.uom', "Unit")
    sold_quantity = fields.Float(
        "Sold", digits='unit',
        help="The units the warehouse shipped or reserved to customers of "
        "sales over the last days.")
    velocity = fields.Float(
        "Daily Sales", digits=(16, 2),
        help="The units sold a day, on average over the last days.")
    available_quantity = fields.Function(fields.Float(
            "Available", digits='unit',
            help="The stock in the warehouse's storage less what orders "
            "have reserved."),
        'get_cover')
    days_of_cover = fields.Function(fields.Float(
            "Days of Cover", digits=(16, 1),
            help="How many days the available stock lasts at the daily "
            "sales.\n"
            "Empty when nothing sold."),
        'get_cover')
    order_point = fields.Many2One(
        'stock.order_point', "Order Point",
        help="The warehouse's order point for the product, if any.")
    min_quantity = fields.Float(
        "Minimum", digits='unit',
        help="The order point's minimal quantity.")
    target_quantity = fields.Float(
        "Target", digits='unit',
        help="The order point's target quantity.")
    lead_time = fields.Function(fields.TimeDelta(
            "Lead Time",
            help="The shortest lead time of the product's suppliers, or the "
            "default lead time when none is known."),
        'get_cover')
    suggested_min_quantity = fields.Function(fields.Float(
            "Suggested Minimum", digits='unit',
            help="The sales of one lead time: below it, order.\n"
            "Empty when nothing sold."),
        'get_cover')
    suggested_target_quantity = fields.Function(fields.Float(
            "Suggested Target", digits='unit',
            help="The suggested minimum plus the sales of one review "
            "period: what an order brings the stock back to.\n"
            "Empty when nothing sold."),
        'get_cover')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('velocity', 'DESC'),
            ('product', 'ASC'),
            ('warehouse', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        "A row per active goods product and warehouse"
        pool = Pool()
        Product = pool.get('product.product')
        Template = pool.get('product.template')
        Location = pool.get('stock.location')
        OrderPoint = pool.get('stock.order_point')
        Context = pool.get('oms.stock.cover.context')
        context = Transaction().context
        # No company, no rows (its records rule would hide them anyway).
        company = context.get('company') or -1
        days = Context.used_sales_days()

        product = Product.__table__()
        template = Template.__table__()
        warehouse = Location.__table__()
        order_point = OrderPoint.__table__()
        sold = cls._sold_query(company, days)

        where = ((template.type == 'goods')
            & ~Coalesce(template.consumable, False)
            & product.active
            & (warehouse.type == 'warehouse')
            & warehouse.active)
        if context.get('warehouse'):
            where &= warehouse.id == context['warehouse']
        sold_quantity = cls.sold_quantity.sql_cast(
            Coalesce(sold.quantity, 0))
        return (product
            .join(template, condition=product.template == template.id)
            .join(warehouse, type_='CROSS')
            .join(sold, type_='LEFT',
                condition=(sold.product == product.id)
                & (sold.warehouse == warehouse.id))
            .join(order_point, type_='LEFT',
                condition=(order_point.product == product.id)
                & (order_point.location == warehouse.id)
                & (order_point.company == company))
            .select(
                cls._row_id(product.id, warehouse.id).as_('id'),
                Literal(company).as_('company'),
                product.id.as_('product'),
                warehouse.id.as_('warehouse'),
                template.default_uom.as_('unit'),
                sold_quantity.as_('sold_quantity'),
                (sold_quantity / days).as_('velocity'),
                order_point.id.as_('order_point'),
                order_point.min_quantity.as_('min_quantity'),
                order_point.target_quantity.as_('target_quantity'),
                where=where))

    @classmethod
    def _row_id(cls, product, warehouse):
        "A stable id for each (product, warehouse): Cantor's pairing"
        pair = Cast(product, 'BIGINT') + warehouse
        return pair * (pair + 1) / 2 + warehouse

    @classmethod
    def _sold_query(cls, company, days):
        """The units moved to customers by sales over the last `days` days,
        by product and warehouse: done, or reserved for their customer"""
        pool = Pool()
        Date = pool.get('ir.date')
        Move = pool.get('stock.move')
        Location = pool.get('stock.location')
        ShipmentOut = pool.get('stock.shipment.out')
        move = Move.__table__()
        from_location = Location.__table__()
        to_location = Location.__table__()
        warehouse = Location.__table__()
        shipment = ShipmentOut.__table__()
        today = Date.today()
        date = Coalesce(move.effective_date, move.planned_date)

        reserved_shipments = shipment.select(
            Concat('stock.shipment.out,', shipment.id),
            where=shipment.state.in_(RESERVED_SHIPMENT_STATES))
        # The outgoing move waits in draft while the shipment's inventory
        # moves hold the reservation.
        committed = (move.state.in_(['assigned', 'done'])
            | ((move.state == 'draft')
                & move.shipment.in_(reserved_shipments)))
        return (move
            .join(from_location,
                condition=move.from_location == from_location.id)
            .join(warehouse,
                condition=(from_location.left >= warehouse.left)
                & (from_location.right <= warehouse.right))
            .join(to_location,
                condition=move.to_location == to_location.id)
            .select(
                move.product.as_('product'),
                warehouse.id.as_('warehouse'),
                Sum(move.internal_quantity).as_('quantity'),
                where=(warehouse.type == 'warehouse')
                & (to_location.type == 'customer')
                & move.origin.like('sale.line,%')
                & (move.company == company)
                & committed
                & (date > today - dt.timedelta(days=days))
                & (date <= today),
                group_by=[move.product, warehouse.id]))

    def get_rec_name(self, name):
        return f'{self.product.rec_name} @ {self.warehouse.rec_name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        return any_field_matches(
            clause, ['product.rec_name', 'warehouse.rec_name'])

    @classmethod
    def get_cover(cls, rows, names):
        Context = Pool().get('oms.stock.cover.context')
        available = cls.available_quantities(rows)
        lead_times = cls.lead_times({r.product for r in rows})
        review_period = Context.used_review_period()
        result = {name: {} for name in names}
        for row in rows:
            stock = available[row.id]
            lead_time = lead_times[row.product.id]
            minimum, target = suggest_order_point(
                row.velocity, lead_time, review_period)
            values = {
                'available_quantity': stock,
                'days_of_cover': (
                    max(stock, 0) / row.velocity if row.velocity else None),
                'lead_time': lead_time,
                'suggested_min_quantity': minimum,
                'suggested_target_quantity': target,
                }
            for name in names:
                result[name][row.id] = values[name]
        return result

    @classmethod
    def available_quantities(cls, rows):
        """The stock on hand in each row's warehouse storage less what is
        reserved, by row id: one quantity query per company"""
        Listing = Pool().get('oms.listing')
        by_company = defaultdict(list)
        for row in rows:
            by_company[row.company.id].append(row)
        available = {}
        for company, group in by_company.items():
            # The same stock the listings offer to channels.
            quantities = Listing.stock_by_warehouse(company,
                {r.warehouse.id for r in group},
                {r.product.id for r in group})
            for row in group:
                available[row.id] = row.unit.round(quantities.get(
                        (row.warehouse.id, row.product.id), 0))
        return available

    @classmethod
    def lead_times(cls, products):
        """The lead time to replenish each product, by id: its quickest
        supplier's, else the default lead time"""
        Context = Pool().get('oms.stock.cover.context')
        company = Transaction().context.get('company')
        default = Context.used_lead_time()
        lead_times = {}
        for product in products:
            known = [s.lead_time_used
                for s in product.product_suppliers_used(company=company)
                if s.lead_time_used is not None]
            lead_times[product.id] = min(known, default=default)
        return lead_times


def suggest_order_point(velocity, lead_time, review_period):
    """The (minimum, target) of an order point for daily sales of `velocity`:
    the minimum covers one lead time, the target one review period more.
    (None, None) without sales."""
    if not velocity:
        return None, None
    day = dt.timedelta(days=1)

    def sales_over(period):
        # Rounded first, lest 10.000000000000002 mean 11.
        return math.ceil(round(velocity * (period / day), 6))
    minimum = sales_over(lead_time)
    return minimum, minimum + sales_over(review_period)


class StockCoverContext(ModelView):
    __name__ = 'oms.stock.cover.context'
    __string__ = "Stock Cover Context"

    company = fields.Many2One('company.company', "Company", required=True)
    warehouse = fields.Many2One(
        'stock.location', "Warehouse",
        domain=[('type', '=', 'warehouse')],
        help="Leave empty for every warehouse.")
    sales_days = fields.Integer(
        "Sales Days", required=True,
        domain=[('sales_days', '>=', 1)],
        help="How many days back, today included, sales are counted.")
    default_lead_time = fields.TimeDelta(
        "Default Lead Time", required=True,
        domain=[('default_lead_time', '>=', TimeDelta())],
        help="The time to replenish a product whose suppliers give no lead "
        "time.")
    review_period = fields.TimeDelta(
        "Review Period", required=True,
        domain=[('review_period', '>=', TimeDelta())],
        help="The sales an order should cover beyond the lead time: the "
        "target is the minimum plus the sales of this period.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_warehouse(cls):
        return Transaction().context.get('warehouse')

    @classmethod
    def default_sales_days(cls):
        return 30

    @classmethod
    def default_default_lead_time(cls):
        return dt.timedelta(days=7)

    @classmethod
    def default_review_period(cls):
        "Tryton's supply period when the company has one, else two weeks"
        pool = Pool()
        Configuration = pool.get('purchase.configuration')
        company = Transaction().context.get('company')
        supply_period = Configuration(1).get_multivalue(
            'supply_period', company=company)
        return supply_period or dt.timedelta(days=14)

    # The values in use: the context's, else the defaults.

    @classmethod
    def used_sales_days(cls):
        return max(1, int(
                Transaction().context.get('sales_days')
                or cls.default_sales_days()))

    @classmethod
    def used_lead_time(cls):
        lead_time = Transaction().context.get('default_lead_time')
        return (lead_time if lead_time is not None
            else cls.default_default_lead_time())

    @classmethod
    def used_review_period(cls):
        review_period = Transaction().context.get('review_period')
        return (review_period if review_period is not None
            else cls.default_review_period())


class ApplyOrderPoints(Wizard):
    __name__ = 'oms.stock.cover.apply'
    start_state = 'apply'
    apply = StateTransition()
    open_ = StateAction('stock_supply.act_order_point_form')

    def transition_apply(self):
        self.order_points = self.apply_suggestions(self.records)
        return 'open_'

    def do_open_(self, action):
        action['pyson_domain'] = PYSONEncoder().encode(
            [('id', 'in', [p.id for p in self.order_points])])
        return action, {}

    @classmethod
    def apply_suggestions(cls, rows):
        """Create or update the purchase order point of each row to its
        suggestion; rows without sales keep theirs. The order points."""
        pool = Pool()
        OrderPoint = pool.get('stock.order_point')
        order_points = []
        for row in rows:
            if row.suggested_min_quantity is None:
                continue
            if not row.product.purchasable:
                raise OrderPointError(gettext(
                        'oms_connector.msg_order_point_not_purchasable',
                        product=row.product.rec_name))
            order_point = row.order_point or OrderPoint(
                product=row.product, location=row.warehouse,
                company=row.company, type='purchase')
            order_point.min_quantity = row.suggested_min_quantity
            order_point.target_quantity = row.suggested_target_quantity
            order_points.append(order_point)
        OrderPoint.save(order_points)
        return order_points

    def end(self):
        return 'reload'

