"""Customer tiers (VIP, regular, ...), the model oms.customer.segment: set
on each customer by hand or by the tiers' spend rule, and read by the
after-sales service policies (a VIP's return first, with a shorter due
date). Staff call them tiers, apart from the reports' RFM segments, which
describe how a customer buys and set no service."""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql.aggregate import Sum

from trytond.model import (
    DeactivableMixin,
    ModelSQL,
    ModelView,
    Unique,
    fields,
    sequence_ordered,
)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

SPEND_DAYS = 365
# The sales that count as spent: confirmed and not cancelled
SPENT_STATES = ['confirmed', 'processing', 'done']


class CustomerSegment(
        DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    __name__ = 'oms.customer.segment'
    __string__ = "Customer Tier"

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)
    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    min_spend = fields.Numeric(
        "Spent in 12 Months From", digits=(16, 2),
        domain=['OR',
            ('min_spend', '=', None),
            ('min_spend', '>=', 0),
            ],
        help="Customers whose orders of the last 12 months total at least "
        "this (in the company's currency) join the tier; the first tier in "
        "the list they qualify for wins. Empty: set by hand only.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.company, t.code),
                'oms_connector.msg_segment_code_unique'),
            ]
        cls._buttons.update({
                'update_members': {},
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    @ModelView.button
    def update_members(cls, segments):
        "Put every customer in their segment now, not at the nightly run"
        Pool().get('party.party').oms_update_segments()

    @classmethod
    def spend_by_party(cls, company, parties=None, today=None):
        """What each customer spent with the company over the last 12
        months, in its currency, by party id: their confirmed sales'
        totals (returns, being negative sales, count off)"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Currency = pool.get('currency.currency')
        Date = pool.get('ir.date')
        sale = Sale.__table__()
        today = today or Date.today()
        where = ((sale.company == company.id)
            & sale.state.in_(SPENT_STATES)
            & (sale.sale_date > today - dt.timedelta(days=SPEND_DAYS)))
        if parties is not None:
            where &= sale.party.in_([p.id for p in parties] or [-1])
        cursor = Transaction().connection.cursor()
        cursor.execute(*sale.select(
                sale.party, sale.currency, Sum(sale.total_amount_cache),
                where=where, group_by=[sale.party, sale.currency]))
        spend = defaultdict(Decimal)
        for party, currency, total in cursor:
            total = Decimal(str(total or 0))
            if currency != company.currency.id:
                total = Currency.compute(
                    Currency(currency), total, company.currency, round=True)
            spend[party] += total
        return spend

    @classmethod
    def segment_for(cls, segments, spend):
        "The first of the segments whose spend rule the amount meets"
        for segment in segments:
            if segment.min_spend is not None and spend >= segment.min_spend:
                return segment
        return None


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    oms_segment = fields.Many2One(
        'oms.customer.segment', "Customer Tier", ondelete='SET NULL',
        states={'readonly': ~Eval('oms_segment_manual')},
        help="The customer's service tier: it sets the priority and service "
        "of their returns (Order Management > Configuration > Return "
        "Policies). Not their RFM segment in the reports, which tells how "
        "they bought over the dates chosen there.")
    oms_segment_manual = fields.Boolean(
        "Tier Set by Hand",
        help="Keep the tier chosen here; else the tiers' spend rule sets it "
        "every day.")

    @classmethod
    def default_oms_segment_manual(cls):
        return False

    @classmethod
    def oms_update_segments(cls, parties=None):
        """Put each customer not set by hand in the segment their last 12
        months of orders qualify them for (cron; parties None: all who
        bought or are in a segment)"""
        pool = Pool()
        Segment = pool.get('oms.customer.segment')
        Company = pool.get('company.company')
        context = Transaction().context
        companies = ([Company(context['company'])] if context.get('company')
            else Company.search([]))
        for company in companies:
            segments = Segment.search([('company', '=', company.id)])
            if not segments:
                continue
            spend = Segment.spend_by_party(company, parties)
            if parties is None:
                candidates = cls.browse(list(spend)) + cls.search([
                        ('oms_segment.company', '=', company.id),
                        ])
            else:
                candidates = list(parties)
            changes = defaultdict(list)
            for party in set(candidates):
                if party.oms_segment_manual:
                    continue
                segment = Segment.segment_for(
                    segments, spend.get(party.id, Decimal(0)))
                if segment != party.oms_segment:
                    changes[segment].append(party)
            for segment, members in changes.items():
                cls.write(members,
                    {'oms_segment': segment.id if segment else None})
