"""Fulfilment lead times, read from the order transition log
(oms.order.event): how long paid orders wait to ship and shipped ones to
complete, per channel and carrier and over time, and how many ship later
than their channel promises (its Ship Within hours).

An order's moments are its first import or transition events (holds and
fulfilment pushes only repeat the state the order is in):
- paid: reaching Awaiting Shipment. An order whose log never shows it (it
  arrived already shipped, or its channel told of the payment and the
  parcel at once) has no paid moment to time from: it is left out;
- shipped: reaching Partially Shipped, Shipped or Completed: the first
  parcel out ends the wait the merchant answers for;
- completed: reaching Completed.
Orders cancelled or refunded before anything shipped had no fulfilment to
time and are left out. Days are UTC days, like the log's timestamps."""
import datetime as dt

from sql import Literal, Null, Window
from sql.aggregate import Avg, Count, Max, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import RowNumber

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool

from ..channels.channel import SHIP_WITHIN
from .cache import ReportCacheMixin
from .reporting import (
    Filters,
    day_number,
    hours_between,
    nearest_rank,
    period_start,
    ranked,
    row_id,
)

# The events that move an order; the others repeat its state.
MOVING_KINDS = ['import', 'transition']
SHIPPED_STATES = ['partially_shipped', 'shipped', 'completed']
CLOSED_STATES = ['cancelled', 'refunded']


def order_lead_times(filters: Filters, carrier: bool = True):
    """One row per order paid within the filters' dates, in their company,
    channel and warehouse: sale, company, channel, carrier (only with
    `carrier`: looking them up costs), paid (when),
    hours_to_ship and hours_to_complete (None until it happens), target
    (the hours promised) and late (1 when it shipped after the target, or
    has not shipped and the target is past, else 0)"""
    pool = Pool()
    Event = pool.get('oms.order.event')
    Sale = pool.get('sale.sale')
    Channel = pool.get('oms.channel')
    Configuration = pool.get('oms.configuration')
    event = Event.__table__()
    paid_event = Event.__table__()
    sale = Sale.__table__()
    channel = Channel.__table__()
    start = dt.datetime.combine(filters.from_date, dt.time())
    end = dt.datetime.combine(
        filters.to_date + dt.timedelta(days=1), dt.time())

    def first(states):
        return Min(Case(
                (event.to_state.in_(states), event.date), else_=Null))

    paid = first(['awaiting_shipment'])
    # Only the orders paid in the range have their whole log grouped.
    paid_in_range = paid_event.select(
        paid_event.sale,
        where=paid_event.kind.in_(MOVING_KINDS)
        & (paid_event.to_state == 'awaiting_shipment')
        & (paid_event.date >= start) & (paid_event.date < end))
    moments = event.select(
        event.sale.as_('sale'),
        paid.as_('paid'),
        first(SHIPPED_STATES).as_('shipped'),
        first(['completed']).as_('completed'),
        # The other states (pending payment, closed) time nothing.
        where=event.kind.in_(MOVING_KINDS)
        & event.to_state.in_(['awaiting_shipment'] + SHIPPED_STATES)
        & event.sale.in_(paid_in_range),
        group_by=[event.sale],
        having=(paid >= start) & (paid < end))

    by_hand = Configuration(1).ship_within
    target = Coalesce(
        channel.ship_within,
        by_hand if by_hand is not None else SHIP_WITHIN)
    waited = hours_between(
        moments.paid, Coalesce(moments.shipped, dt.datetime.now()))
    where = ((sale.company == filters.company)
        & ((moments.shipped != Null) | ~sale.oms_state.in_(CLOSED_STATES))
        # The channel's own shipping (Amazon FBA) is not the seller's
        & (Coalesce(sale.oms_channel_fulfils, False) == False))  # noqa: E712
    if filters.channel:
        where &= sale.oms_channel == filters.channel
    if filters.warehouse:
        where &= sale.warehouse == filters.warehouse
    from_ = (moments
        .join(sale, condition=moments.sale == sale.id)
        .join(channel, type_='LEFT',
            condition=sale.oms_channel == channel.id))
    if carrier:
        # A superset of the moments' sales, estimated better than a HAVING
        carriers = first_carriers(paid_in_range)
        from_ = from_.join(carriers, type_='LEFT',
            condition=carriers.sale == sale.id)
        columns = [carriers.carrier.as_('carrier')]
    else:
        columns = []
    return (from_
        .select(
            sale.id.as_('sale'),
            sale.company.as_('company'),
            sale.oms_channel.as_('channel'),
            *columns,
            moments.paid.as_('paid'),
            hours_between(moments.paid, moments.shipped).as_(
                'hours_to_ship'),
            hours_between(moments.shipped, moments.completed).as_(
                'hours_to_complete'),
            target.as_('target'),
            Case((waited > target, 1), else_=0).as_('late'),
            where=where))


def first_carriers(sales):
    """The carrier of each of the `sales` (a query of ids) that shipped:
    its first done shipment's, empty when that went without one"""
    pool = Pool()
    Move = pool.get('stock.move')
    Line = pool.get('sale.line')
    ShipmentOut = pool.get('stock.shipment.out')
    move = Move.__table__()
    line = Line.__table__()
    shipment = ShipmentOut.__table__()
    # The ids of the references, as their indexes read them
    parcels = (move
        .join(line, condition=(
                Move.origin.sql_id(move.origin, Move) == line.id)
            & move.origin.like('sale.line,%'))
        .join(shipment, condition=(
                Move.shipment.sql_id(move.shipment, Move) == shipment.id)
            & move.shipment.like('stock.shipment.out,%'))
        .select(
            line.sale.as_('sale'),
            shipment.oms_carrier.as_('carrier'),
            RowNumber(window=Window(
                    [line.sale],
                    order_by=[shipment.effective_date.asc,
                        shipment.id.asc])).as_('parcel'),
            where=(shipment.state == 'done') & line.sale.in_(sales)))
    return parcels.select(
        parcels.sale, parcels.carrier, where=parcels.parcel == 1)


class LeadTimeMixin:
    "The lead time figures of the orders grouped by `_keys`"
    __slots__ = ()
    # Whether the keys need the orders' first carriers
    _carrier = True

    company = fields.Many2One('company.company', "Company")
    orders = fields.Integer(
        "Paid Orders",
        help="The orders paid in the period, less those cancelled or "
        "refunded before anything shipped.")
    shipped_orders = fields.Integer(
        "Shipped Orders",
        help="Of the paid orders, those whose first parcel left.")
    hours_to_ship = fields.Float(
        "Hours to Ship", digits=(16, 1),
        help="From payment to the first parcel, on average.")
    hours_to_ship_median = fields.Float(
        "Median Hours to Ship", digits=(16, 1),
        help="Half the shipped orders left within it.")
    hours_to_ship_p90 = fields.Float(
        "90% Shipped Within (hours)", digits=(16, 1))
    hours_to_ship_p95 = fields.Float(
        "95% Shipped Within (hours)", digits=(16, 1))
    completed_orders = fields.Integer(
        "Completed Orders",
        help="Of the shipped orders, those completed (delivered).")
    hours_to_complete = fields.Float(
        "Hours to Complete", digits=(16, 1),
        help="From the first parcel to completion, on average.")
    hours_to_complete_median = fields.Float(
        "Median Hours to Complete", digits=(16, 1))
    hours_to_complete_p90 = fields.Float(
        "90% Completed Within (hours)", digits=(16, 1))
    late_orders = fields.Integer(
        "Late Orders",
        help="The orders shipped later than their channel's Ship Within "
        "hours after payment, or not shipped and already past them.")
    late_share = fields.Float(
        "Late %", digits=(16, 1),
        help="The late orders among the paid orders.")

    @classmethod
    def _keys(cls, orders, filters: Filters) -> list[tuple[str, object]]:
        "The (name, expression) of each column the orders are grouped by"
        raise NotImplementedError

    @classmethod
    def _row_id(cls, keys: dict):
        raise NotImplementedError

    @classmethod
    def report_query(cls):
        Context = Pool().get('oms.reporting.context')
        filters = Context.filters()
        orders = order_lead_times(filters, carrier=cls._carrier)
        keys = cls._keys(orders, filters)
        partition = [expression for _, expression in keys]
        ship_rank, ship_size = ranked(
            orders.hours_to_ship,
            partition + [orders.hours_to_ship == Null])
        complete_rank, complete_size = ranked(
            orders.hours_to_complete,
            partition + [orders.hours_to_complete == Null])
        ranked_orders = orders.select(
            *(expression.as_(name) for name, expression in keys),
            orders.company, orders.hours_to_ship, orders.hours_to_complete,
            orders.target, orders.late,
            ship_rank.as_('ship_rank'), ship_size.as_('ship_size'),
            complete_rank.as_('complete_rank'),
            complete_size.as_('complete_size'))
        o = ranked_orders
        columns = {name: getattr(o, name) for name, _ in keys}

        def hours(field, value, rank=None, size=None, fraction=None):
            if fraction is None:
                return field.sql_cast(Avg(value))
            return field.sql_cast(nearest_rank(rank, size, value, fraction))

        def shipping(field, fraction=None):
            return hours(field, o.hours_to_ship, o.ship_rank, o.ship_size,
                fraction)

        def completing(field, fraction=None):
            return hours(field, o.hours_to_complete, o.complete_rank,
                o.complete_size, fraction)

        return o.select(
            cls._row_id(columns).as_('id'),
            *(column.as_(name) for name, column in columns.items()),
            Min(o.company).as_('company'),
            Count(Literal(1)).as_('orders'),
            Count(o.hours_to_ship).as_('shipped_orders'),
            shipping(cls.hours_to_ship).as_('hours_to_ship'),
            shipping(cls.hours_to_ship_median, 0.5).as_(
                'hours_to_ship_median'),
            shipping(cls.hours_to_ship_p90, 0.9).as_('hours_to_ship_p90'),
            shipping(cls.hours_to_ship_p95, 0.95).as_('hours_to_ship_p95'),
            Count(o.hours_to_complete).as_('completed_orders'),
            completing(cls.hours_to_complete).as_('hours_to_complete'),
            completing(cls.hours_to_complete_median, 0.5).as_(
                'hours_to_complete_median'),
            completing(cls.hours_to_complete_p90, 0.9).as_(
                'hours_to_complete_p90'),
            Max(o.target).as_('ship_within'),
            Sum(o.late).as_('late_orders'),
            cls.late_share.sql_cast(
                Sum(o.late) * 100.0 / Count(Literal(1))).as_('late_share'),
            group_by=list(columns.values()))


class FulfilmentLeadTime(ReportCacheMixin, LeadTimeMixin, ModelSQL, ModelView):
    __name__ = 'oms.reporting.fulfilment'
    __string__ = "Fulfilment Lead Times"

    channel = fields.Many2One(
        'oms.channel', "Channel",
        help="Empty for the orders keyed in by hand.")
    carrier = fields.Many2One(
        'oms.carrier', "Carrier",
        help="The carrier of the order's first parcel; empty when nothing "
        "shipped yet or the parcel went without one.")
    ship_within = fields.Integer(
        "Ship Within (hours)",
        help="The channel's promise; for orders keyed in by hand, the "
        "configuration's.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('channel', 'ASC NULLS LAST'),
            ('carrier', 'ASC NULLS LAST'),
            ('id', 'ASC'),
            ]

    @classmethod
    def _keys(cls, orders, filters):
        return [('channel', orders.channel), ('carrier', orders.carrier)]

    @classmethod
    def _row_id(cls, keys):
        # Pairs of ids from 0 (none): 1 up, never 0.
        return row_id(
            Coalesce(keys['channel'], 0), Coalesce(keys['carrier'], 0)) + 1

    def get_rec_name(self, name):
        return ' / '.join([
                self.channel.rec_name if self.channel
                else gettext('oms_connector.msg_reporting_by_hand'),
                self.carrier.rec_name if self.carrier
                else gettext('oms_connector.msg_reporting_no_carrier')])


class FulfilmentPeriod(ReportCacheMixin, LeadTimeMixin, ModelSQL, ModelView):
    __name__ = 'oms.reporting.fulfilment.period'
    __string__ = "Fulfilment Lead Times over Time"
    _carrier = False

    period_start = fields.Date(
        "Period",
        help="The first day of the day, week or month the orders were "
        "paid in.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('period_start', 'ASC'), ('id', 'ASC')]

    @classmethod
    def _keys(cls, orders, filters):
        return [('period_start', cls.period_start.sql_cast(
                    period_start(filters.period, orders.paid)))]

    @classmethod
    def _row_id(cls, keys):
        return day_number(keys['period_start'])

    def get_rec_name(self, name):
        return str(self.period_start)

