"""What every report shares: the filters a sales manager sets (period,
channel, warehouse), the order lines that count as sales, and the few SQL
expressions that SQLite and PostgreSQL spell differently.

Reports are `table_query` models: the database groups and counts, Python
only reads the rows a screen shows."""
import datetime as dt
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from sql import Cast, Literal, Null, Window
from sql.aggregate import Count, Min
from sql.conditionals import Case, Coalesce
from sql.functions import DateTrunc, Extract, Function, RowNumber

from trytond import backend
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

# The sales that count: confirmed, whatever became of their goods since.
SALE_STATES = ['confirmed', 'processing', 'done']
PERIODS = [
    ('day', "Day"),
    ('week', "Week"),
    ('month', "Month"),
    ]


@dataclass(frozen=True)
class Filters:
    "The report filters in use: the context's, else the defaults"
    company: int
    from_date: dt.date
    to_date: dt.date
    period: str
    channel: int | None
    warehouse: int | None

    @property
    def days(self) -> int:
        return (self.to_date - self.from_date).days + 1

    @property
    def previous(self) -> tuple[dt.date, dt.date]:
        "The range of the same length just before"
        return (self.from_date - dt.timedelta(days=self.days),
            self.from_date - dt.timedelta(days=1))


class ReportingContextMixin:
    "The filters of every report"
    __slots__ = ()

    company = fields.Many2One('company.company', "Company", required=True)
    from_date = fields.Date(
        "From Date", required=True,
        domain=[
            If(Eval('to_date'),
                ('from_date', '<=', Eval('to_date')),
                ()),
            ])
    to_date = fields.Date(
        "To Date", required=True,
        domain=[
            If(Eval('from_date'),
                ('to_date', '>=', Eval('from_date')),
                ()),
            ],
        help="The figures are computed when a report is opened and kept "
        "a minute for the same filters (the server's [oms] "
        "report_cache_ttl): opened again within it, a report shows them "
        "as they were then.")
    period = fields.Selection(
        PERIODS, "Period", required=True, sort=False,
        help="How the dates are grouped over time.")
    channel = fields.Many2One(
        'oms.channel', "Channel",
        domain=[('company', '=', Eval('company', -1))],
        help="Leave empty for every channel and the orders keyed in by "
        "hand.")
    warehouse = fields.Many2One(
        'stock.location', "Warehouse",
        domain=[('type', '=', 'warehouse')],
        help="Leave empty for every warehouse.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_to_date(cls):
        return Transaction().context.get('to_date') or today()

    @classmethod
    def default_from_date(cls):
        context = Transaction().context
        if context.get('from_date'):
            return context['from_date']
        to_date = context.get('to_date') or today()
        return to_date - relativedelta(months=3) + dt.timedelta(days=1)

    @classmethod
    def default_period(cls):
        return Transaction().context.get('period') or 'week'

    @classmethod
    def default_channel(cls):
        return Transaction().context.get('channel')

    @classmethod
    def default_warehouse(cls):
        return Transaction().context.get('warehouse')

    @classmethod
    def filters(cls) -> Filters:
        """The filters the transaction's context sets, defaults for the
        rest; every report's query reads them first, so this also sets the
        transaction up for a report (see analytic_transaction)"""
        analytic_transaction()
        context = Transaction().context
        to_date = context.get('to_date') or cls.default_to_date()
        from_date = context.get('from_date') or cls.default_from_date()
        return Filters(
            # No company, no rows (its records rule would hide them anyway).
            company=context.get('company') or -1,
            from_date=min(from_date, to_date),
            to_date=to_date,
            period=(context.get('period')
                if context.get('period') in dict(PERIODS) else 'week'),
            channel=context.get('channel') or None,
            warehouse=context.get('warehouse') or None)


class BreakdownMixin:
    """A report filter's "By": what each row counts for, one of the
    context model's `_breakdowns`"""
    __slots__ = ()
    _breakdowns: list[tuple[str, str]] = []
    _default_breakdown: str

    breakdown = fields.Selection(
        'get_breakdowns', "By", required=True, sort=False,
        help="What each row counts for.")

    @classmethod
    def get_breakdowns(cls):
        return cls._breakdowns

    @classmethod
    def default_breakdown(cls):
        return cls.used_breakdown()

    @classmethod
    def used_breakdown(cls) -> str:
        "The context's breakdown, else the default"
        breakdown = Transaction().context.get('breakdown')
        return (breakdown if breakdown in dict(cls._breakdowns)
            else cls._default_breakdown)


def analytic_transaction():
    """PostgreSQL compiles a plan as big as a report's with its JIT for
    longer than it runs it (1 to 3 s of compiling for a 1 s query at a
    million order lines): off for this transaction."""
    if backend.name == 'postgresql':
        Transaction().connection.cursor().execute('SET LOCAL jit = off')


class ReportingContext(ReportingContextMixin, ModelView):
    __name__ = 'oms.reporting.context'
    __string__ = "Report Filters"


def today() -> dt.date:
    return Pool().get('ir.date').today()


def sale_lines(filters: Filters, from_date: dt.date, to_date: dt.date,
        charges: bool = False, period: str | None = None):
    """The order lines sold from `from_date` to `to_date`, in the filters'
    company, channel and warehouse, one row each: id, sale, date, company,
    channel, customer, country, warehouse, product, quantity (in the line's
    unit) and amount (untaxed, in the company's currency at the sale date),
    and with a period, the first day of the date's period (a column to
    group by: PostgreSQL would not match the expression's parameters).

    Orders on hold before confirmation, cancelled orders and the return
    sales of after-sales are not sales; returns are reported as returns.
    With `charges`, the lines without product (an imported order's
    shipping) come too, their product empty."""
    pool = Pool()
    Line = pool.get('sale.line')
    Sale = pool.get('sale.sale')
    Address = pool.get('party.address')
    line = Line.__table__()
    sale = Sale.__table__()
    address = Address.__table__()

    # A charge moves no goods: Tryton counts its actual quantity 0.
    quantity = Case(
        (line.product == Null, line.quantity),
        else_=Coalesce(line.actual_quantity, line.quantity))
    where = (sale.state.in_(SALE_STATES)
        & (sale.oms_return == Null)
        & (sale.company == filters.company)
        & (sale.sale_date >= from_date)
        & (sale.sale_date <= to_date)
        & (line.type == 'line'))
    if not charges:
        where &= line.product != Null
    if filters.channel:
        where &= sale.oms_channel == filters.channel
    if filters.warehouse:
        where &= sale.warehouse == filters.warehouse
    from_, amount = in_company_currency(
        line
        .join(sale, condition=line.sale == sale.id)
        .join(address, type_='LEFT',
            condition=sale.shipment_address == address.id),
        # Numeric: PostgreSQL rounds no float to digits; money is exact.
        Cast(quantity, 'NUMERIC') * line.unit_price, sale.currency,
        company_currency(filters), sale.sale_date)
    return from_.select(
        line.id.as_('id'),
        sale.id.as_('sale'),
        sale.sale_date.as_('date'),
        sale.company.as_('company'),
        sale.oms_channel.as_('channel'),
        sale.party.as_('customer'),
        address.country.as_('country'),
        sale.warehouse.as_('warehouse'),
        line.product.as_('product'),
        quantity.as_('quantity'),
        amount.as_('amount'),
        *([period_start(period, sale.sale_date).as_('period')]
            if period else []),
        where=where)


def company_currency(filters: Filters) -> int:
    "The id of the filters' company's currency (-1 without company)"
    Company = Pool().get('company.company')
    if filters.company > 0:
        return Company(filters.company).currency.id
    return -1


def in_company_currency(from_, amount, currency, company_currency, date):
    """`from_` joined to the rates at `date`, and `amount` (in `currency`)
    in the company's currency: (from, amount). A rate is needed only for
    another currency; an amount without one is empty rather than wrong.
    (Joined, not read in a subquery an amount: PostgreSQL would plan the
    subquery once for each aggregate using the amount.)"""
    Currency = Pool().get('currency.currency')
    rate = Currency.currency_rate_sql()
    company_rate = Currency.currency_rate_sql()

    def rate_at(rate, currency):
        return ((rate.currency == currency)
            & (rate.start_date <= date)
            & ((rate.end_date == Null) | (rate.end_date > date)))
    other = currency != company_currency
    from_ = (from_
        .join(rate, type_='LEFT',
            condition=rate_at(rate, currency) & other)
        .join(company_rate, type_='LEFT',
            condition=rate_at(company_rate, company_currency) & other))
    return from_, Case(
        (currency == company_currency, amount),
        else_=amount * company_rate.rate / rate.rate)


class _SQLiteDate(Function):
    __slots__ = ()
    _function = 'DATE'


class _SQLiteJulianDay(Function):
    __slots__ = ()
    _function = 'JULIANDAY'


def period_start(period: str, date):
    """The first day of the day, week (from Monday) or month of `date`,
    a date column"""
    if backend.name == 'sqlite' and period == 'week':
        # SQLite's date_trunc knows no weeks: the next Sunday less 6 days.
        return _SQLiteDate(date, 'weekday 0', '-6 days')
    start = DateTrunc(period, date)
    if backend.name == 'sqlite':
        return _SQLiteDate(start)
    return Cast(start, 'DATE')


def period_starts(filters: Filters) -> list[dt.date]:
    "The start of each period the filters' range touches, in order"
    step = {
        'day': relativedelta(days=1),
        'week': relativedelta(weeks=1),
        'month': relativedelta(months=1),
        }[filters.period]
    start = first_day(filters.period, filters.from_date)
    starts = []
    while start <= filters.to_date:
        starts.append(start)
        start += step
    return starts


def first_day(period: str, date: dt.date) -> dt.date:
    "The Python twin of period_start"
    if period == 'week':
        return date - dt.timedelta(days=date.weekday())
    if period == 'month':
        return date.replace(day=1)
    return date


def day_number(date):
    "A date column as a day count, to subtract dates the same way anywhere"
    if backend.name == 'sqlite':
        return Cast(_SQLiteJulianDay(date), 'INTEGER')
    return date - Cast(Literal('1970-01-01'), 'DATE')


def hours_between(start, end):
    "The hours from one timestamp column to another"
    return (Extract('EPOCH', end) - Extract('EPOCH', start)) / 3600.0


def ranked(value, partition: list):
    """Window columns to select beside `value` for nearest_rank: its rank
    in its partition, and the partition's size. SQLite has no
    percentile_cont; both have window functions."""
    return (
        RowNumber(window=Window(partition, order_by=[value])),
        Count(Literal(1), window=Window(partition)))


def nearest_rank(rank, size, value, fraction: float):
    """Aggregate over a partition ranked by `ranked`: the percentile
    `fraction` (0.5 the median) of value, the first whose rank reaches
    fraction × size"""
    return Min(Case(
            # python-sql columns multiply on the left only
            (rank >= size * fraction, value),
            else_=Null))


def row_id(first, second):
    "A stable id from two ids: Cantor's pairing"
    pair = Cast(first, 'BIGINT') + second
    return pair * (pair + 1) / 2 + second
