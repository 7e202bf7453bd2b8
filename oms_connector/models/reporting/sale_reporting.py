"""The sales trend: what sold, by channel, product, category or country,
against the range before; and the same over time, day by day, week by week
or month by month, each period against the one before."""
import datetime as dt

from sql import Cast, Literal, Null, Values, Window, With
from sql.aggregate import Count, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import Lag, Round
from sql.operators import Concat

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval

from .cache import ReportCacheMixin
from .reporting import (
    BreakdownMixin,
    Filters,
    ReportingContextMixin,
    first_day,
    period_starts,
    row_id,
    sale_lines,
)

BREAKDOWNS = [
    ('channel', "Channel"),
    ('product', "Product"),
    ('category', "Category"),
    ('country', "Country"),
    ]


class SaleReportingContext(BreakdownMixin, ReportingContextMixin, ModelView):
    __name__ = 'oms.reporting.sale.context'
    __string__ = "Sales Report Filters"
    _breakdowns = BREAKDOWNS
    _default_breakdown = 'channel'


def subject_of(breakdown: str, line):
    """What each line (a sale_lines subquery) is counted for: the lines
    joined to their subject, its key (a row id, never null), record and
    name, and the columns to group by (PostgreSQL does not see that an
    expression with parameters is the same in the select and the group
    by)"""
    pool = Pool()
    Channel = pool.get('oms.channel')
    Product = pool.get('product.product')
    Template = pool.get('product.template')
    TemplateCategory = pool.get('product.template-product.category')
    Category = pool.get('product.category')
    Country = pool.get('country.country')

    if breakdown == 'channel':
        channel = Channel.__table__()
        from_item = line.join(channel, type_='LEFT',
            condition=line.channel == channel.id)
        record = line.channel
        name = Coalesce(channel.name,
            gettext('oms_connector.msg_reporting_by_hand'))
        columns = [line.channel, channel.name]
    elif breakdown == 'country':
        country = Country.__table__()
        from_item = line.join(country, type_='LEFT',
            condition=line.country == country.id)
        record = line.country
        name = Coalesce(country.name,
            gettext('oms_connector.msg_reporting_no_country'))
        columns = [line.country, country.name]
    else:
        product = Product.__table__()
        template = Template.__table__()
        from_item = (line
            .join(product, condition=line.product == product.id)
            .join(template, condition=product.template == template.id))
        if breakdown == 'product':
            record = line.product
            name = Case(
                (product.code != Null,
                    Concat(Concat(Concat('[', product.code), '] '),
                        template.name)),
                else_=template.name)
            columns = [line.product, product.code, template.name]
        else:
            # A product in two categories sells in both.
            template_category = TemplateCategory.__table__()
            category = Category.__table__()
            from_item = (from_item
                .join(template_category, type_='LEFT',
                    condition=template_category.template == template.id)
                .join(category, type_='LEFT',
                    condition=template_category.category == category.id))
            record = category.id
            name = Coalesce(category.name,
                gettext('oms_connector.msg_reporting_no_category'))
            columns = [category.id, category.name]
    # The record's id + 1: the "none" subject (orders keyed in by hand,
    # no category, no country) needs one too, and ids must be above 0 and
    # small (the web client's numbers are exact below 2**53 only).
    return from_item, Coalesce(record, 0) + 1, record, name, columns


class SubjectMixin:
    "A row's subject: one of its channel, product, category or country"
    __slots__ = ()

    company = fields.Many2One('company.company', "Company")
    currency = fields.Many2One('currency.currency', "Currency")
    name = fields.Char("Name")
    channel = fields.Many2One('oms.channel', "Channel")
    product = fields.Many2One(
        'product.product', "Product",
        context={'company': Eval('company', -1)}, depends={'company'})
    category = fields.Many2One(
        'product.category', "Category",
        context={'company': Eval('company', -1)}, depends={'company'})
    country = fields.Many2One('country.country', "Country")

    @classmethod
    def _subject_columns(cls, filters: Filters, breakdown, record, name):
        pool = Pool()
        Company = pool.get('company.company')
        company = Company(filters.company) if filters.company > 0 else None
        return [
            Literal(filters.company).as_('company'),
            Literal(company.currency.id if company else None).as_(
                'currency'),
            name.as_('name'),
            *(record.as_(b) if b == breakdown
                else Cast(Null, 'INTEGER').as_(b)
                for b, _ in BREAKDOWNS),
            ]

    @classmethod
    def _digits(cls, filters: Filters) -> int:
        Company = Pool().get('company.company')
        if filters.company > 0:
            return Company(filters.company).currency.digits
        return 2

    def get_rec_name(self, name):
        return self.name

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('name', *clause[1:])]


def change(value, previous):
    "The change from previous to value in %; None from nothing"
    if not previous:
        return None
    return round(float((value - previous) * 100 / previous), 1)


class SaleReport(ReportCacheMixin, SubjectMixin, ModelSQL, ModelView):
    __name__ = 'oms.reporting.sale'
    __string__ = "Sales by Subject"

    orders = fields.Integer("Orders")
    units = fields.Float("Units", digits=(16, 0))
    amount = Monetary("Sales", digits='currency', currency='currency',
        help="The untaxed amount of the order lines, in the company's "
        "currency at the order date.")
    share = fields.Float("Share (%)", digits=(16, 1),
        help="The part of all the sales of the range.")
    previous_orders = fields.Integer("Orders Before",
        help="The orders of the range of the same length just before.")
    previous_units = fields.Float("Units Before", digits=(16, 0))
    previous_amount = Monetary(
        "Sales Before", digits='currency', currency='currency')
    amount_change = fields.Function(
        fields.Float("Change (%)", digits=(16, 1),
            help="The change of the sales from the range before; empty "
            "when nothing sold then."),
        'get_change')
    orders_change = fields.Function(
        fields.Float("Orders Change (%)", digits=(16, 1)), 'get_change')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('amount', 'DESC'), ('id', 'ASC')]

    @classmethod
    def report_query(cls):
        pool = Pool()
        Context = pool.get('oms.reporting.sale.context')
        filters = Context.filters()
        breakdown = Context.used_breakdown()
        previous_from, _ = filters.previous
        line = sale_lines(filters, previous_from, filters.to_date)
        from_item, key, record, name, columns = subject_of(breakdown, line)
        digits = cls._digits(filters)

        now = line.date >= filters.from_date
        before = line.date < filters.from_date

        def total(value, when):
            return Sum(Case((when, value), else_=0))

        amount = Round(total(line.amount, now), digits)
        everything = Sum(amount, window=Window([]))
        return from_item.select(
            key.as_('id'),
            *cls._subject_columns(filters, breakdown, record, name),
            Count(Case((now, line.sale)), distinct=True).as_('orders'),
            cls.units.sql_cast(total(line.quantity, now)).as_('units'),
            cls.amount.sql_cast(amount).as_('amount'),
            cls.share.sql_cast(Case(
                    (everything != 0, Round(amount * 100 / everything, 1)),
                    else_=Null)).as_('share'),
            Count(Case((before, line.sale)), distinct=True).as_(
                'previous_orders'),
            cls.previous_units.sql_cast(
                total(line.quantity, before)).as_('previous_units'),
            cls.previous_amount.sql_cast(
                Round(total(line.amount, before), digits)).as_(
                'previous_amount'),
            group_by=columns)

    def get_change(self, name):
        if name == 'amount_change':
            return change(self.amount, self.previous_amount)
        return change(self.orders, self.previous_orders)


class SalePeriodReport(ReportCacheMixin, SubjectMixin, ModelSQL, ModelView):
    __name__ = 'oms.reporting.sale.period'
    __string__ = "Sales over Time"

    subject = fields.Integer("Subject", help="The subject's row id.")
    date = fields.Date("Period", help="The first day of the period.")
    orders = fields.Integer("Orders")
    units = fields.Float("Units", digits=(16, 0))
    amount = Monetary("Sales", digits='currency', currency='currency')
    previous_amount = Monetary(
        "Sales in Period Before", digits='currency', currency='currency')
    amount_change = fields.Function(
        fields.Float("Change (%)", digits=(16, 1),
            help="The change of the sales from the period before; empty "
            "when nothing sold then."),
        'get_change')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'ASC'), ('name', 'ASC'), ('id', 'ASC')]

    @classmethod
    def report_query(cls):
        """Every period of the range for every subject that sold in it,
        empty periods included, and the one before the first to compare"""
        pool = Pool()
        Context = pool.get('oms.reporting.sale.context')
        filters = Context.filters()
        breakdown = Context.used_breakdown()
        starts = period_starts(filters)
        before_first = first_day(
            filters.period, starts[0] - dt.timedelta(days=1))
        calendar = Values([[d, i]
                for i, d in enumerate([before_first, *starts], 1)])

        line = sale_lines(
            filters, before_first, filters.to_date, period=filters.period)
        from_item, key, record, name, columns = subject_of(breakdown, line)
        digits = cls._digits(filters)
        bucket = line.period
        # The first period's days before the range are not in it; the whole
        # period before it is, to compare with.
        counted = (line.date >= filters.from_date) | (line.date < starts[0])
        sold = from_item.select(
            key.as_('key'), record.as_('record'), name.as_('name'),
            bucket.as_('date'),
            Count(line.sale, distinct=True).as_('orders'),
            Sum(line.quantity).as_('units'),
            Round(Sum(line.amount), digits).as_('amount'),
            where=counted,
            group_by=[*columns, bucket])
        # Read once for the subjects and their figures
        sold = With(query=sold)
        subjects = sold.select(
            sold.key, sold.record, sold.name, distinct=True)
        periods = (calendar
            .join(subjects, type_='CROSS')
            .join(sold, type_='LEFT',
                condition=(sold.key == subjects.key)
                & (sold.date == calendar.column1)))
        amount = Coalesce(sold.amount, 0)
        every = periods.select(
            row_id(subjects.key, calendar.column2).as_('id'),
            subjects.key.as_('subject'),
            subjects.record.as_('record'),
            subjects.name.as_('name'),
            calendar.column1.as_('date'),
            calendar.column2.as_('position'),
            Coalesce(sold.orders, 0).as_('orders'),
            Coalesce(sold.units, 0).as_('units'),
            amount.as_('amount'),
            Lag(amount, window=Window(
                    [subjects.key], order_by=[calendar.column2.asc])).as_(
                'previous_amount'))
        return every.select(
            every.id,
            *cls._subject_columns(filters, breakdown, every.record,
                every.name),
            every.subject,
            cls.date.sql_cast(every.date).as_('date'),
            every.orders,
            cls.units.sql_cast(every.units).as_('units'),
            cls.amount.sql_cast(every.amount).as_('amount'),
            cls.previous_amount.sql_cast(every.previous_amount).as_(
                'previous_amount'),
            where=every.position > 1,
            with_=[sold])

    def get_change(self, name):
        return change(self.amount, self.previous_amount)
