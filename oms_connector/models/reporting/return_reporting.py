"""After-sales report: how much of what sold comes back, by product,
channel or reason, and what the refunds cost.

A period's figures: the units its orders sold (the sales that count, see
reporting.sale_lines) and the units asked back by the return requests made
in it, whatever their state but rejected: a rejected request brings nothing
back and refunds nothing, it is counted apart. Refunds are what was
refunded, in the company's currency at the rate of the day the request was
made; a refund in a currency without a rate that day is left out rather
than counted wrong."""
import datetime as dt

from sql import Literal, Null, Union, Window
from sql.aggregate import Count, Sum
from sql.conditionals import Case, Coalesce, NullIf
from sql.functions import Round

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
    in_company_currency,
    period_start,
    sale_lines,
)

BREAKDOWNS = [
    ('product', "Product"),
    ('channel', "Channel"),
    ('reason', "Reason"),
    ]


class ReturnReportContext(
        BreakdownMixin, ReportingContextMixin, ModelView):
    __name__ = 'oms.reporting.return.context'
    __string__ = "Return Report Filters"
    _breakdowns = BREAKDOWNS
    _default_breakdown = 'product'


def returned_lines(filters: Filters):
    """The lines of the return requests made within the filters' dates, in
    their company, channel and warehouse (the order's), one row each: id,
    rma, rejected (1 or 0), product, channel, reason, quantity and refunded:
    its share, by value (else by quantity) among its request's lines, of
    what the request refunded, in the company's currency"""
    pool = Pool()
    Return = pool.get('oms.return')
    Line = pool.get('oms.return.line')
    Sale = pool.get('sale.sale')
    Channel = pool.get('oms.channel')
    Company = pool.get('company.company')
    rma = Return.__table__()
    line = Line.__table__()
    sale = Sale.__table__()
    channel = Channel.__table__()
    company = Company.__table__()

    # The currency the request is in (Return.get_currency)
    currency = Coalesce(sale.currency, channel.currency, company.currency)
    from_item, refunded = in_company_currency(
        line
        .join(rma, condition=line.rma == rma.id)
        .join(company, condition=rma.company == company.id)
        .join(sale, type_='LEFT', condition=rma.sale == sale.id)
        .join(channel, type_='LEFT', condition=rma.channel == channel.id),
        Coalesce(rma.refunded_amount, 0), currency, company.currency,
        period_start('day', rma.requested_at))
    value = Coalesce(line.quantity * line.unit_price, 0)
    request = Window([line.rma])
    share = Case(
        (Sum(value, window=request) > 0,
            value * 1.0 / Sum(value, window=request)),
        else_=line.quantity * 1.0 / Sum(line.quantity, window=request))

    where = ((rma.company == filters.company)
        & (rma.requested_at >= dt.datetime.combine(
                filters.from_date, dt.time()))
        & (rma.requested_at < dt.datetime.combine(
                filters.to_date + dt.timedelta(days=1), dt.time())))
    if filters.channel:
        where &= rma.channel == filters.channel
    if filters.warehouse:
        where &= sale.warehouse == filters.warehouse
    return from_item.select(
        line.id.as_('id'),
        rma.id.as_('rma'),
        Case((rma.state == 'rejected', 1), else_=0).as_('rejected'),
        line.product.as_('product'),
        rma.channel.as_('channel'),
        line.reason.as_('reason'),
        line.quantity.as_('quantity'),
        (refunded * share).as_('refunded'),
        where=where)


class ReturnReport(ReportCacheMixin, ModelSQL, ModelView):
    __name__ = 'oms.reporting.return'
    __string__ = "Return Rates"

    company = fields.Many2One('company.company', "Company")
    product = fields.Many2One(
        'product.product', "Product",
        context={'company': Eval('company', -1)}, depends={'company'})
    channel = fields.Many2One(
        'oms.channel', "Channel",
        help="Empty for the orders keyed in by hand.")
    reason = fields.Many2One(
        'oms.return.reason', "Reason",
        help="Empty for the returns given no reason.")
    sold = fields.Float(
        "Units Sold", digits=(16, 2),
        help="By the orders of the period; none by reason.")
    returned = fields.Float(
        "Units Returned", digits=(16, 2),
        help="Asked back by the return requests of the period, less the "
        "rejected ones.")
    return_rate = fields.Float(
        "Return Rate %", digits=(16, 2),
        help="The units returned per 100 sold in the same period.")
    return_share = fields.Float(
        "Share of Returns %", digits=(16, 2),
        help="The row's part of all the units returned.")
    requests = fields.Integer(
        "Return Requests",
        help="The requests of the period, less the rejected ones.")
    rejected = fields.Integer("Rejected Requests")
    currency = fields.Many2One('currency.currency', "Currency")
    refunded = Monetary(
        "Refunded", currency='currency', digits='currency',
        help="In the company's currency; a request refunding several "
        "products shares its refund among them by their value.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('returned', 'DESC'),
            ('sold', 'DESC NULLS LAST'),
            ('id', 'ASC'),
            ]

    @classmethod
    def report_query(cls):
        pool = Pool()
        Context = pool.get('oms.reporting.return.context')
        Company = pool.get('company.company')
        filters = Context.filters()
        breakdown = Context.used_breakdown()
        returned = returned_lines(filters)
        counted = Case((returned.rejected == 0, 1), else_=Null)
        figures = [returned.select(
                getattr(returned, breakdown).as_('key'),
                # typed: PostgreSQL sums no untyped NULL (by reason)
                cls.sold.sql_cast(Literal(None)).as_('sold'),
                (returned.quantity * counted).as_('returned'),
                (returned.rma * counted).as_('request'),
                Case((returned.rejected == 1, returned.rma),
                    else_=Null).as_('rejected'),
                (returned.refunded * counted).as_('refunded'))]
        if breakdown != 'reason':
            sold = sale_lines(filters, filters.from_date, filters.to_date)
            nothing = Literal(None)
            figures.insert(0, sold.select(
                    getattr(sold, breakdown).as_('key'),
                    sold.quantity.as_('sold'),
                    nothing.as_('returned'), nothing.as_('request'),
                    nothing.as_('rejected'), nothing.as_('refunded')))
        rows = Union(*figures, all_=True) if len(figures) > 1 else figures[0]

        company = Company(filters.company) if filters.company > 0 else None
        units_returned = Coalesce(Sum(rows.returned), 0)
        keys = {name: Literal(None) for name, _ in BREAKDOWNS}
        keys[breakdown] = rows.key
        return rows.select(
            (Coalesce(rows.key, 0) + 1).as_('id'),
            Literal(filters.company).as_('company'),
            *(key.as_(name) for name, key in keys.items()),
            cls.sold.sql_cast(Sum(rows.sold)).as_('sold'),
            cls.returned.sql_cast(units_returned).as_('returned'),
            cls.return_rate.sql_cast(
                units_returned * 100.0 / NullIf(Sum(rows.sold), 0)).as_(
                'return_rate'),
            cls.return_share.sql_cast(
                units_returned * 100.0 / NullIf(
                    Sum(units_returned, window=Window([])), 0)).as_(
                'return_share'),
            Count(rows.request, distinct=True).as_('requests'),
            Count(rows.rejected, distinct=True).as_('rejected'),
            Literal(company.currency.id if company else None).as_(
                'currency'),
            Round(cls.refunded.sql_cast(Coalesce(Sum(rows.refunded), 0)),
                company.currency.digits if company else 2).as_('refunded'),
            group_by=[rows.key])

    def get_rec_name(self, name):
        record = self.product or self.channel or self.reason
        if record:
            return record.rec_name
        Context = Pool().get('oms.reporting.return.context')
        if Context.used_breakdown() == 'channel':
            return gettext('oms_connector.msg_reporting_by_hand')
        return gettext('oms_connector.msg_reporting_no_reason')

