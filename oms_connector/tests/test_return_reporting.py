"""After-sales report: the share of what sold that came back, by product,
channel and reason, and what was refunded, in the company's currency."""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.modules.company.tests import set_company
from trytond.modules.currency.tests import add_currency_rate, create_currency
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from oms_connector.tests.records import ShopWorld

MARCH = {'from_date': dt.date(2026, 3, 1), 'to_date': dt.date(2026, 3, 31)}
FIGURES = ['rec_name', 'sold', 'returned', 'return_rate', 'return_share',
    'requests', 'rejected', 'refunded']


class ReturnReportingTestCase(ShopWorld, unittest.TestCase):
    "Return rates and refunds"

    def sold(self, channel, day, code, quantity, state='confirmed'):
        "An order of the channel (None: keyed in by hand) in its currency"
        pool = Pool()
        Sale = pool.get('sale.sale')
        Party = pool.get('party.party')
        Address = pool.get('party.address')
        party = Party(name="Customer", addresses=[Address()])
        party.save()
        address, = party.addresses
        product = {'TEE': self.tee, 'MUG': self.mug}[code]
        sale, = Sale.create([{
                    'party': party.id,
                    'invoice_address': address.id,
                    'shipment_address': address.id,
                    'currency': (channel or self.channel).currency.id,
                    'oms_channel': channel.id if channel else None,
                    'sale_date': day,
                    'oms_state': 'shipped',
                    'lines': [('create', [{
                                    'product': product.id,
                                    'quantity': quantity,
                                    'unit': product.sale_uom.id,
                                    'unit_price': Decimal(10),
                                    }])],
                    }])
        # Its story (confirmation, shipping) does not change the figures.
        Sale.write([sale], {'state': state})
        return sale

    def returned(self, sale, quantity, reason, day, state, refunded=None):
        "A request, as a channel reports it, for units of the order's line"
        Return = Pool().get('oms.return')
        line, = sale.lines
        Return.create([{
                    'sale': sale.id,
                    'source': 'channel',
                    'resolution': 'refund',
                    'state': state,
                    'requested_at': dt.datetime.combine(day, dt.time(9)),
                    'refunded_amount': refunded,
                    'lines': [('create', [{
                                    'sale_line': line.id,
                                    'product': line.product.id,
                                    'quantity': quantity,
                                    'unit_price': line.unit_price,
                                    'reason': reason.id if reason else None,
                                    }])],
                    }])

    def make_world(self):
        """March 2026: Shop (USD) sells 10 TEE and 3 MUG, EU (EUR at 0.8 to
        the dollar) 2 MUG, the counter 5 MUG; 2 TEE come back for a refund
        of $20, 3 more are refused, 1 MUG of EU for €10, 1 MUG of the
        counter (no reason given, not refunded yet). In April, more."""
        pool = Pool()
        Channel = pool.get('oms.channel')
        Reason = pool.get('oms.return.reason')
        company = self.make_shop()
        add_currency_rate(company.currency, 1, dt.date(2026, 1, 1))
        euro = create_currency('EUR')
        add_currency_rate(euro, Decimal('0.8'), dt.date(2026, 1, 1))
        with set_company(company):
            self.eu = Channel(name="EU Shop", code='eu', company=company,
                currency=euro)
            self.eu.save()
            small, = Reason.search([('code', '=', 'size_fit')])
            damaged, = Reason.search([('code', '=', 'damaged')])
            march = dt.date(2026, 3, 2)
            tees = self.sold(self.channel, march, 'TEE', 10)
            self.sold(self.channel, march, 'TEE', 7, state='cancelled')
            self.sold(self.channel, march, 'MUG', 3)
            mugs = self.sold(self.eu, march, 'MUG', 2)
            counter = self.sold(None, march, 'MUG', 5)
            april = self.sold(self.channel, dt.date(2026, 4, 1), 'TEE', 4)
            self.returned(tees, 2, small, dt.date(2026, 3, 10), 'refunded',
                Decimal(20))
            self.returned(tees, 3, damaged, dt.date(2026, 3, 11), 'rejected')
            self.returned(mugs, 1, damaged, dt.date(2026, 3, 12), 'refunded',
                Decimal(10))
            self.returned(counter, 1, None, dt.date(2026, 3, 13), 'received')
            self.returned(april, 1, small, dt.date(2026, 4, 2), 'refunded',
                Decimal(10))
        return company

    def rows(self, **context):
        Report = Pool().get('oms.reporting.return')
        with Transaction().set_context(**context):
            return [tuple(self.figure(getattr(Report(r.id), n))
                    for n in FIGURES) for r in Report.search([])]

    @staticmethod
    def figure(value):
        return round(value, 2) if isinstance(value, float) else value

    @with_transaction()
    def test_return_rates_and_refunds(self):
        "By product, channel and reason, rejected requests apart"
        company = self.setup_world()
        with set_company(company):
            self.assertEqual(self.rows(breakdown='product', **MARCH), [
                    ('[TEE] Tee', 10.0, 2.0, 20.0, 50.0, 1, 1,
                        Decimal('20.00')),
                    # €10 at 0.8 to the dollar
                    ('[MUG] Mug', 10.0, 2.0, 20.0, 50.0, 2, 0,
                        Decimal('12.50')),
                    ])
            self.assertEqual(self.rows(breakdown='channel', **MARCH), [
                    ('Shop', 13.0, 2.0, 15.38, 50.0, 1, 1, Decimal('20.00')),
                    ('(Keyed in by hand)', 5.0, 1.0, 20.0, 25.0, 1, 0,
                        Decimal('0.00')),
                    ('EU Shop', 2.0, 1.0, 50.0, 25.0, 1, 0, Decimal('12.50')),
                    ])
            self.assertEqual(self.rows(breakdown='reason', **MARCH), [
                    ('Size or Fit', None, 2.0, None, 50.0, 1, 0,
                        Decimal('20.00')),
                    ('(No reason given)', None, 1.0, None, 25.0, 1, 0,
                        Decimal('0.00')),
                    ('Arrived Damaged', None, 1.0, None, 25.0, 1, 1,
                        Decimal('12.50')),
                    ])
            self.assertEqual(
                self.rows(breakdown='product', channel=self.eu.id, **MARCH),
                [('[MUG] Mug', 2.0, 1.0, 50.0, 100.0, 1, 0, Decimal('12.50'))])
            # Nothing sold or returned then: no rows
            self.assertEqual(self.rows(
                    breakdown='reason', from_date=dt.date(2026, 2, 1),
                    to_date=dt.date(2026, 2, 28)), [])

    @with_transaction()
    def test_export_as_csv(self):
        "The predefined export gives the rows as the list shows them"
        pool = Pool()
        Export = pool.get('ir.export')
        Report = pool.get('oms.reporting.return')
        company = self.setup_world()
        with set_company(company), Transaction().set_context(
                breakdown='channel', **MARCH):
            export, = Export.search([
                    ('resource', '=', 'oms.reporting.return'),
                    ])
            names = [line.name for line in export.export_fields]
            self.assertEqual(names, FIGURES)
            self.assertEqual(
                Report.export_data(Report.search([], limit=1), names),
                [['Shop', 13.0, 2.0, 200 / 13, 50.0, 1, 1,
                        Decimal('20.00')]])
