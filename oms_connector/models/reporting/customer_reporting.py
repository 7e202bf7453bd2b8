"""Customer value: each customer's recency, frequency and monetary value
(RFM) scored against the others, the segment the scores put them in, and
per segment how many come back and what they buy."""
import datetime as dt
import math

from dateutil.relativedelta import relativedelta
from sql import Cast, Literal, Union, Window, With
from sql.aggregate import Count, Max, Sum
from sql.conditionals import Case, Least
from sql.functions import Floor, PercentRank, Rank, Round

from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .cache import ReportCacheMixin
from .reporting import (
    BreakdownMixin,
    Filters,
    ReportingContextMixin,
    row_id,
    sale_lines,
)
from .sale_reporting import BREAKDOWNS, SubjectMixin, subject_of

# The segments of the RFM grid, first match wins (R = recency score,
# F = frequency score, each 1 to 5).
SEGMENTS = [
    ('champions', "Champions"),  # R 4-5, F 4-5: recent and frequent
    ('loyal', "Loyal"),  # R 3, F 4-5
    ('at_risk', "At Risk"),  # R 1-2, F 4-5: were frequent, gone quiet
    ('new', "New"),  # R 4-5, F 1
    ('potential', "Potential Loyalists"),  # R 3-5, F 1-3
    ('hibernating', "Hibernating"),  # R 2, F 1-3
    ('lost', "Lost"),  # R 1, F 1-3
    ]
SEGMENT_HELP = ("The customers' place in the RFM grid, from how they "
    "bought over the report's dates (not their service tier):\n"
    "Champions: recent and frequent (R 4-5, F 4-5)\n"
    "Loyal: frequent, less recent (R 3, F 4-5)\n"
    "At Risk: were frequent, gone quiet (R 1-2, F 4-5)\n"
    "New: recent first order (R 4-5, F 1)\n"
    "Potential Loyalists: recent, not yet frequent (R 3-5, F 1-3)\n"
    "Hibernating: quiet, not frequent (R 2, F 1-3)\n"
    "Lost: quietest, not frequent (R 1, F 1-3)")
SCORE_HELP = ("From 1 to 5: how the customer ranks against the other "
    "customers of the range, by %s; equal values score alike.")
# Repeat customers ordered at least twice in the range.
REPEAT_ORDERS = 2


def score(value):
    "1 to 5 by the percent rank of value over all customers, ties alike"
    rank = PercentRank(window=Window([], order_by=[value.asc]))
    return Cast(Least(Floor(rank * 5) + 1, 5), 'INTEGER')


def recency_score(last_date, filters: Filters):
    """5 to 1 by the days from the last order to the range's end, a fifth
    of the range each: by the calendar, not against the other customers,
    so that one who bought at the end is never Lost however many did too"""
    return Case(*((last_date > filters.to_date - dt.timedelta(
                    days=math.ceil(filters.days * fifth / 5)), 6 - fifth)
            for fifth in range(1, 5)), else_=1)


def scored_customers(filters: Filters, line=None):
    """Per customer who bought in the filters' range: last order date,
    orders, units, amount, the R, F and M scores and the segment; from
    `line`, the range's sale_lines if the caller has them already"""
    if line is None:
        line = sale_lines(filters, filters.from_date, filters.to_date)
    bought = line.select(
        line.customer.as_('customer'),
        Max(line.date).as_('last_date'),
        Count(line.sale, distinct=True).as_('orders'),
        Sum(line.quantity).as_('units'),
        Sum(line.amount).as_('amount'),
        group_by=[line.customer])
    scores = bought.select(
        bought.customer, bought.last_date, bought.orders, bought.units,
        bought.amount,
        recency_score(bought.last_date, filters).as_('r'),
        score(bought.orders).as_('f'),
        score(bought.amount).as_('m'))
    r, f = scores.r, scores.f
    segment = Case(
        ((r >= 4) & (f >= 4), 'champions'),
        ((r == 3) & (f >= 4), 'loyal'),
        ((r <= 2) & (f >= 4), 'at_risk'),
        ((r >= 4) & (f == 1), 'new'),
        (r >= 3, 'potential'),
        (r == 2, 'hibernating'),
        else_='lost')
    return scores.select(
        scores.customer, scores.last_date, scores.orders, scores.units,
        scores.amount, scores.r, scores.f, scores.m,
        segment.as_('segment'))


class CustomerContextMixin(ReportingContextMixin):
    "The filters of the customer reports: a year by default"
    __slots__ = ()

    @classmethod
    def default_from_date(cls):
        "A year: RFM compares customers over their buying cycle"
        context = Transaction().context
        if context.get('from_date'):
            return context['from_date']
        return (cls.default_to_date() - relativedelta(years=1)
            + relativedelta(days=1))


class CustomerReportingContext(CustomerContextMixin, ModelView):
    __name__ = 'oms.reporting.customer.context'
    __string__ = "Customer Report Filters"


class CurrencyMixin:
    __slots__ = ()

    company = fields.Many2One('company.company', "Company")
    currency = fields.Many2One('currency.currency', "Currency")

    @classmethod
    def _company_columns(cls, filters: Filters):
        Company = Pool().get('company.company')
        currency = (Company(filters.company).currency
            if filters.company > 0 else None)
        return [
            Literal(filters.company).as_('company'),
            Literal(currency.id if currency else None).as_('currency'),
            ], (currency.digits if currency else 2)


class CustomerReport(ReportCacheMixin, CurrencyMixin, ModelSQL, ModelView):
    __name__ = 'oms.reporting.customer'
    __string__ = "Customer Value"

    customer = fields.Many2One(
        'party.party', "Customer",
        context={'company': Eval('company', -1)}, depends={'company'})
    customer_segment = fields.Many2One(
        'oms.customer.segment', "Customer Tier",
        help="The customer's service tier (VIP, ...), from their spend "
        "over the last 12 months or set by hand: not their RFM segment.")
    last_order_date = fields.Date("Last Order")
    recency = fields.Function(
        fields.Integer("Days Since Last Order"), 'get_recency')
    orders = fields.Integer("Orders")
    units = fields.Float("Units", digits=(16, 0))
    amount = Monetary("Sales", digits='currency', currency='currency')
    average_order = Monetary(
        "Average Order", digits='currency', currency='currency')
    repeat = fields.Boolean(
        "Repeat Customer", help="Ordered at least twice in the range.")
    recency_score = fields.Integer(
        "R", help="From 5 to 1: how recent their last order is, by fifths "
        "of the range (5: in its last fifth, 1: in its first).")
    frequency_score = fields.Integer(
        "F", help=SCORE_HELP % "their number of orders")
    monetary_score = fields.Integer(
        "M", help=SCORE_HELP % "what they spent")
    rfm = fields.Function(fields.Char("RFM"), 'get_rfm')
    segment = fields.Selection(
        SEGMENTS, "RFM Segment", sort=False, help=SEGMENT_HELP)
    rank = fields.Integer(
        "Rank", help="The customer's place by sales: 1 spent the most.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('rank', 'ASC'), ('id', 'ASC')]

    @classmethod
    def report_query(cls):
        pool = Pool()
        Party = pool.get('party.party')
        filters = pool.get('oms.reporting.customer.context').filters()
        party = Party.__table__()
        customer = scored_customers(filters)
        company_columns, digits = cls._company_columns(filters)
        amount = Round(customer.amount, digits)
        return (customer
            .join(party, condition=customer.customer == party.id)
            .select(
                customer.customer.as_('id'),
                *company_columns,
                customer.customer.as_('customer'),
                party.oms_segment.as_('customer_segment'),
                cls.last_order_date.sql_cast(customer.last_date).as_(
                    'last_order_date'),
                customer.orders.as_('orders'),
                cls.units.sql_cast(customer.units).as_('units'),
                cls.amount.sql_cast(amount).as_('amount'),
                cls.average_order.sql_cast(
                    Round(customer.amount / customer.orders, digits)).as_(
                    'average_order'),
                (customer.orders >= REPEAT_ORDERS).as_('repeat'),
                customer.r.as_('recency_score'),
                customer.f.as_('frequency_score'),
                customer.m.as_('monetary_score'),
                customer.segment.as_('segment'),
                Rank(window=Window([], order_by=[amount.desc])).as_('rank'),
                ))

    def get_recency(self, name):
        filters = Pool().get('oms.reporting.customer.context').filters()
        return (filters.to_date - self.last_order_date).days

    def get_rfm(self, name):
        return (f'{self.recency_score}{self.frequency_score}'
            f'{self.monetary_score}')

    def get_rec_name(self, name):
        return self.customer.rec_name

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('customer.rec_name', *clause[1:])]


class CustomerSegmentReport(
        ReportCacheMixin, CurrencyMixin, ModelSQL, ModelView):
    __name__ = 'oms.reporting.customer.segment'
    __string__ = "RFM Segments"

    segment = fields.Selection(
        [*SEGMENTS, ('all', "All Customers")], "RFM Segment", sort=False,
        help=SEGMENT_HELP)
    segment_string = segment.translated('segment')
    customers = fields.Integer("Customers")
    repeat_customers = fields.Integer(
        "Repeat Customers", help="Ordered at least twice in the range.")
    repeat_rate = fields.Float(
        "Repeat Rate (%)", digits=(16, 1),
        help="The part of the customers who ordered at least twice.")
    orders = fields.Integer("Orders")
    amount = Monetary("Sales", digits='currency', currency='currency')
    average_order = Monetary(
        "Average Order", digits='currency', currency='currency')
    average_customer = Monetary(
        "Sales per Customer", digits='currency', currency='currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('id', 'ASC')]

    @classmethod
    def report_query(cls):
        "A row per segment with customers, then one for all of them"
        filters = Pool().get(
            'oms.reporting.customer.context').filters()
        # Once for the segments and for everyone
        customer = With(query=scored_customers(filters))
        company_columns, digits = cls._company_columns(filters)
        position = Case(*((customer.segment == s, i)
                for i, (s, _) in enumerate(SEGMENTS, 1)))

        def figures(segment, id_):
            repeat = Sum(Case(
                    (customer.orders >= REPEAT_ORDERS, 1), else_=0))
            return [
                id_.as_('id'),
                *company_columns,
                segment.as_('segment'),
                Count(Literal(1)).as_('customers'),
                repeat.as_('repeat_customers'),
                cls.repeat_rate.sql_cast(
                    repeat * 100.0 / Count(Literal(1))).as_('repeat_rate'),
                Sum(customer.orders).as_('orders'),
                cls.amount.sql_cast(
                    Round(Sum(customer.amount), digits)).as_('amount'),
                cls.average_order.sql_cast(Round(
                        Sum(customer.amount) / Sum(customer.orders),
                        digits)).as_('average_order'),
                cls.average_customer.sql_cast(Round(
                        Sum(customer.amount) / Count(Literal(1)),
                        digits)).as_('average_customer'),
                ]
        by_segment = customer.select(
            *figures(customer.segment, position),
            group_by=[customer.segment])
        everyone = customer.select(
            *figures(Literal('all'), Literal(len(SEGMENTS) + 1)),
            having=Count(Literal(1)) > 0)
        return Union(by_segment, everyone, all_=True, with_=[customer])

    def get_rec_name(self, name):
        return self.segment_string


class SegmentSaleReport(ReportCacheMixin, SubjectMixin, ModelSQL, ModelView):
    __name__ = 'oms.reporting.segment.sale'
    __string__ = "Best Sellers by RFM Segment"

    segment = fields.Selection(
        SEGMENTS, "RFM Segment", sort=False, help=SEGMENT_HELP)
    segment_string = segment.translated('segment')
    customers = fields.Integer("Customers")
    orders = fields.Integer("Orders")
    units = fields.Float("Units", digits=(16, 0))
    amount = Monetary("Sales", digits='currency', currency='currency')
    rank = fields.Integer(
        "Rank", help="The place in its RFM segment by sales: 1 sold the most.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('segment', 'ASC'), ('rank', 'ASC'), ('id', 'ASC')]

    @classmethod
    def report_query(cls):
        "What each segment's customers bought, best first"
        pool = Pool()
        Context = pool.get('oms.reporting.segment.sale.context')
        filters = Context.filters()
        breakdown = Context.used_breakdown()
        # The lines read once, to score the customers and to count
        line = With(query=sale_lines(
                filters, filters.from_date, filters.to_date))
        customer = scored_customers(filters, line)
        from_item, key, record, name, columns = subject_of(
            breakdown, line)
        from_item = from_item.join(customer,
            condition=line.customer == customer.customer)
        digits = cls._digits(filters)
        amount = Round(Sum(line.amount), digits)
        position = Case(*((customer.segment == s, i)
                for i, (s, _) in enumerate(SEGMENTS, 1)))
        return from_item.select(
            row_id(key, position).as_('id'),
            *cls._subject_columns(filters, breakdown, record, name),
            customer.segment.as_('segment'),
            Count(line.customer, distinct=True).as_('customers'),
            Count(line.sale, distinct=True).as_('orders'),
            cls.units.sql_cast(Sum(line.quantity)).as_('units'),
            cls.amount.sql_cast(amount).as_('amount'),
            Rank(window=Window([customer.segment],
                    order_by=[amount.desc])).as_('rank'),
            group_by=[customer.segment, *columns],
            with_=[line])

    def get_rec_name(self, name):
        return f'{self.segment_string}: {self.name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('name', *clause[1:])]


class SegmentSaleReportingContext(
        BreakdownMixin, CustomerContextMixin, ModelView):
    __name__ = 'oms.reporting.segment.sale.context'
    __string__ = "Best Sellers Report Filters"
    _breakdowns = BREAKDOWNS
    _default_breakdown = 'product'
