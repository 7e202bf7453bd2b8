"""The sales trend and customer value reports, against figures counted by
hand on a small shop: two channels and orders keyed in by hand, a sale in
euros, a cancelled order, a quotation and a return sale that are not
sales, and weeks without any."""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.modules.company.tests import set_company
from trytond.modules.currency.tests import create_currency
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from oms_connector.tests.records import ShopWorld

D = dt.date
OCTOBER = {'from_date': D(2026, 10, 1), 'to_date': D(2026, 10, 31)}


class SaleReportingTestCase(ShopWorld, unittest.TestCase):
    "Sales trend, customer value (RFM), segments and their best sellers"

    def make_world(self):
        """October's sales, and one on 22 September to compare with

        S1 02/10 shop   alice (FR) TEE 2 × 10 + MUG 1 × 5   25.00 done
        S2 03/10 shop   bob (US)   TEE 1 × 10               10.00 processing
        S3 10/10 market alice (FR) MUG 2 × 10 EUR = 25.00 USD at 0.8
        S4 20/10 by hand carol (-) CAP 3 × 4                12.00 confirmed
        S5 21/10 shop   bob        TEE 5 × 10  cancelled: not a sale
        S6 22/10 shop   dave       TEE 1 × 10  quotation: not a sale
        S7 22/09 shop   alice      TEE 1 × 10               10.00 done
        R1 25/10 shop   alice      TEE -1 × 10 return sale: not a sale
        """
        pool = Pool()
        Channel = pool.get('oms.channel')
        Category = pool.get('product.category')
        Country = pool.get('country.country')
        Rate = pool.get('currency.currency.rate')
        company = self.make_shop()
        usd = company.currency
        eur = create_currency('EUR')
        Rate.create([
                {'currency': usd.id, 'date': D(2026, 1, 1), 'rate': 1},
                {'currency': eur.id, 'date': D(2026, 1, 1),
                    'rate': Decimal('0.8')},
                ])
        france, usa = Country.create([
                {'name': "France", 'code': 'FR'},
                {'name': "United States", 'code': 'US'},
                ])
        with set_company(company):
            self.market = Channel(name="Market", code='market',
                kind='woocommerce', company=company, currency=eur)
            self.market.save()
            self.cap = self.product("Cap", 'CAP')
            apparel, kitchen = Category.create([
                    {'name': "Apparel"}, {'name': "Kitchen"}])
            self.tee.template.categories = [apparel]
            self.tee.template.save()
            self.mug.template.categories = [kitchen]
            self.mug.template.save()
            alice = self.customer("Alice", france)
            bob = self.customer("Bob", usa)
            carol = self.customer("Carol", None)
            dave = self.customer("Dave", usa)
            tee, mug, cap = self.tee, self.mug, self.cap
            self.sale(D(2026, 10, 2), alice, [(tee, 2, 10), (mug, 1, 5)])
            self.sale(D(2026, 10, 3), bob, [(tee, 1, 10)],
                state='processing')
            self.sale(D(2026, 10, 10), alice, [(mug, 2, 10)],
                channel=self.market, currency=eur)
            self.sale(D(2026, 10, 20), carol, [(cap, 3, 4)], channel=None,
                state='confirmed')
            self.sale(D(2026, 10, 21), bob, [(tee, 5, 10)],
                state='cancelled')
            self.sale(D(2026, 10, 22), dave, [(tee, 1, 10)],
                state='quotation')
            first = self.sale(D(2026, 9, 22), alice, [(tee, 1, 10)])
            self.return_sale(D(2026, 10, 25), first, [(tee, -1, 10)])
        return company

    def customer(self, name, country):
        Party = Pool().get('party.party')
        party = Party(name=name)
        party.addresses = [{'country': country}] if country else []
        party.save()
        return party

    def sale(self, date, customer, lines, channel=..., currency=None,
            state='done', **values):
        "A sale in the state, as the lifecycle would have left it"
        pool = Pool()
        Sale = pool.get('sale.sale')
        sale = Sale(company=self.company, party=customer, sale_date=date,
            oms_channel=self.channel if channel is ... else channel,
            **values)
        sale.on_change_party()
        sale.currency = currency or self.company.currency
        sale.lines = [{'product': product, 'quantity': quantity,
                'unit': product.default_uom, 'unit_price': Decimal(price)}
            for product, quantity, price in lines]
        sale.save()
        # The report reads states; the workflow that reaches them is
        # tested elsewhere.
        oms_state = {'done': 'completed', 'cancelled': 'cancelled',
            'quotation': 'pending_payment'}.get(state, 'awaiting_shipment')
        table = Sale.__table__()
        Transaction().connection.cursor().execute(*table.update(
                [table.state, table.oms_state], [state, oms_state],
                where=table.id == sale.id))
        return sale

    def return_sale(self, date, sale, lines):
        Return = Pool().get('oms.return')
        line, = sale.lines
        request = Return(company=self.company, sale=sale, source='staff',
            return_goods=False, lines=[{'sale_line': line,
                    'product': line.product, 'quantity': line.quantity,
                    'condition': 'unopened', 'destination': 'sellable'}])
        request.save()
        return self.sale(date, sale.party, lines, oms_return=request)

    def report(self, name, **context):
        Report = Pool().get(name)
        with Transaction().set_context(company=self.company.id, **context):
            return Report.search([])

    def figures(self, rows, *names):
        return {r.name: tuple(getattr(r, n) for n in names) for r in rows}

    @with_transaction()
    def test_sales_by_channel_against_the_month_before(self):
        "Cancelled orders, quotations and returns are not sales"
        self.setup_world()
        rows = self.report('oms.reporting.sale', breakdown='channel',
            **OCTOBER)
        self.assertEqual(self.figures(rows,
                'orders', 'units', 'amount', 'previous_orders',
                'previous_amount', 'amount_change', 'share'), {
                # 25 + 10 against S7's 10: +250 %; 35 of 72 is 48.6 %
                "Shop": (2, 4, Decimal('35.00'), 1, Decimal('10.00'),
                    250.0, 48.6),
                # 20 EUR at 0.8 are 25 USD; nothing before
                "Market": (1, 2, Decimal('25.00'), 0, Decimal('0.00'),
                    None, 34.7),
                "(Keyed in by hand)": (1, 3, Decimal('12.00'), 0,
                    Decimal('0.00'), None, 16.7),
                })
        self.assertEqual(
            [r.name for r in rows], ["Shop", "Market", "(Keyed in by hand)"])
        shop, = [r for r in rows if r.name == "Shop"]
        self.assertEqual(shop.channel, self.channel)
        self.assertEqual(shop.currency, self.company.currency)

    @with_transaction()
    def test_sales_by_product_category_and_country(self):
        self.setup_world()
        figures = {
            breakdown: self.figures(
                self.report('oms.reporting.sale', breakdown=breakdown,
                    **OCTOBER),
                'orders', 'units', 'amount')
            for breakdown in ['product', 'category', 'country']}
        self.assertEqual(figures['product'], {
                "[TEE] Tee": (2, 3, Decimal('30.00')),
                "[MUG] Mug": (2, 3, Decimal('30.00')),
                "[CAP] Cap": (1, 3, Decimal('12.00')),
                })
        self.assertEqual(figures['category'], {
                "Apparel": (2, 3, Decimal('30.00')),
                "Kitchen": (2, 3, Decimal('30.00')),
                "(No category)": (1, 3, Decimal('12.00')),
                })
        self.assertEqual(figures['country'], {
                "France": (2, 5, Decimal('50.00')),
                "United States": (1, 1, Decimal('10.00')),
                "(No country)": (1, 3, Decimal('12.00')),
                })

    @with_transaction()
    def test_an_empty_range_has_no_rows(self):
        self.setup_world()
        self.assertEqual(self.report('oms.reporting.sale',
                from_date=D(2025, 1, 1), to_date=D(2025, 1, 31)), [])
        # Its time series has no subject to draw either.
        self.assertEqual(self.report('oms.reporting.sale.period',
                from_date=D(2025, 1, 1), to_date=D(2025, 1, 31)), [])

    @with_transaction()
    def test_weekly_sales_show_empty_weeks_and_the_week_before(self):
        """October 2026 starts on a Thursday: its weeks start on 28/09,
        05/10, 12/10, 19/10 and 26/10; 28/09 to 30/09 are not in it"""
        self.setup_world()
        rows = self.report('oms.reporting.sale.period', breakdown='channel',
            period='week', **OCTOBER)
        weeks = [D(2026, 9, 28), D(2026, 10, 5), D(2026, 10, 12),
            D(2026, 10, 19), D(2026, 10, 26)]
        series = {}
        for row in rows:
            series.setdefault(row.name, []).append(
                (row.date, row.orders, row.amount, row.previous_amount,
                    row.amount_change))
        zero = Decimal('0.00')
        self.assertEqual(series["Shop"], [
                # S7 sold in the week of 21/09, the one before.
                (weeks[0], 2, Decimal('35.00'), Decimal('10.00'), 250.0),
                (weeks[1], 0, zero, Decimal('35.00'), -100.0),
                (weeks[2], 0, zero, zero, None),
                (weeks[3], 0, zero, zero, None),
                (weeks[4], 0, zero, zero, None),
                ])
        self.assertEqual(
            [(d, a) for d, _, a, _, _ in series["Market"]],
            [(weeks[0], zero), (weeks[1], Decimal('25.00')),
                (weeks[2], zero), (weeks[3], zero), (weeks[4], zero)])
        self.assertEqual(
            [(d, a) for d, _, a, _, _ in series["(Keyed in by hand)"]],
            [(weeks[0], zero), (weeks[1], zero), (weeks[2], zero),
                (weeks[3], Decimal('12.00')), (weeks[4], zero)])

        # Opening the Shop row of the trend shows the Shop's weeks.
        shop, = [r for r in self.report('oms.reporting.sale', **OCTOBER)
            if r.name == "Shop"]
        with Transaction().set_context(company=self.company.id,
                period='week', **OCTOBER):
            Period = Pool().get('oms.reporting.sale.period')
            self.assertEqual(
                len(Period.search([('subject', '=', shop.id)])), 5)

    @with_transaction()
    def test_daily_and_monthly_sales(self):
        self.setup_world()
        days = self.report('oms.reporting.sale.period', breakdown='product',
            period='day', from_date=D(2026, 10, 1), to_date=D(2026, 10, 3))
        tee = [(r.date, r.units, r.amount) for r in days
            if r.name == "[TEE] Tee"]
        self.assertEqual(tee, [
                (D(2026, 10, 1), 0, Decimal('0.00')),
                (D(2026, 10, 2), 2, Decimal('20.00')),
                (D(2026, 10, 3), 1, Decimal('10.00')),
                ])
        months = self.report('oms.reporting.sale.period',
            breakdown='channel', period='month', **OCTOBER)
        self.assertEqual(
            {(r.name, r.date): (r.amount, r.previous_amount)
                for r in months}, {
                # September is the month before: S7.
                ("Shop", D(2026, 10, 1)): (Decimal('35.00'),
                    Decimal('10.00')),
                ("Market", D(2026, 10, 1)): (Decimal('25.00'),
                    Decimal('0.00')),
                ("(Keyed in by hand)", D(2026, 10, 1)): (Decimal('12.00'),
                    Decimal('0.00')),
                })

    @with_transaction()
    def test_channel_and_warehouse_filters(self):
        pool = Pool()
        Location = pool.get('stock.location')
        self.setup_world()
        rows = self.report('oms.reporting.sale', breakdown='product',
            channel=self.market.id, **OCTOBER)
        self.assertEqual(self.figures(rows, 'amount'),
            {"[MUG] Mug": (Decimal('25.00'),)})
        warehouse, = Location.search([('type', '=', 'warehouse')])
        storage, = Location.search([('code', '=', 'STO')])
        self.assertEqual(len(self.report('oms.reporting.sale',
                    warehouse=warehouse.id, **OCTOBER)), 3)
        # No order left from there.
        self.assertEqual(self.report('oms.reporting.customer',
                warehouse=storage.id, **OCTOBER), [])

    @with_transaction()
    def test_customer_value_scores_and_segments(self):
        """Over October: alice 2 orders 50.00 last 10/10, bob 1 order 10.00
        last 03/10, carol 1 order 12.00 last 20/10. F and M are 1 + 5 × the
        percent rank (0, 0.5, 1 for three customers), 5 at most; R is by
        fifths of the range's 31 days: 5 after 24/10, 4 after 18/10, 3
        after 12/10, 2 after 06/10."""
        self.setup_world()
        rows = self.report('oms.reporting.customer', **OCTOBER)
        self.assertEqual(
            {r.customer.name: (r.rank, r.orders, r.amount, r.average_order,
                    r.last_order_date, r.recency, r.rfm, r.segment,
                    r.repeat)
                for r in rows}, {
                "Alice": (1, 2, Decimal('50.00'), Decimal('25.00'),
                    D(2026, 10, 10), 21, '255', 'at_risk', True),
                "Carol": (2, 1, Decimal('12.00'), Decimal('12.00'),
                    D(2026, 10, 20), 11, '413', 'new', False),
                "Bob": (3, 1, Decimal('10.00'), Decimal('10.00'),
                    D(2026, 10, 3), 28, '111', 'lost', False),
                })
        self.assertEqual([r.customer.name for r in rows],
            ["Alice", "Carol", "Bob"])

        # Whoever bought on the range's last day is recent, however many
        # did (ranked among themselves, they would all score 1: Lost)
        [carol] = self.report('oms.reporting.customer',
            from_date=D(2026, 10, 20), to_date=D(2026, 10, 20))
        self.assertEqual((carol.recency, carol.rfm, carol.segment),
            (0, '511', 'new'))

    @with_transaction()
    def test_segments_repeat_rate_and_what_they_buy(self):
        self.setup_world()
        segments = self.report('oms.reporting.customer.segment', **OCTOBER)
        self.assertEqual(
            {r.segment: (r.customers, r.repeat_customers, r.repeat_rate,
                    r.orders, r.amount, r.average_order, r.average_customer)
                for r in segments}, {
                'at_risk': (1, 1, 100.0, 2, Decimal('50.00'),
                    Decimal('25.00'), Decimal('50.00')),
                'new': (1, 0, 0.0, 1, Decimal('12.00'), Decimal('12.00'),
                    Decimal('12.00')),
                'lost': (1, 0, 0.0, 1, Decimal('10.00'), Decimal('10.00'),
                    Decimal('10.00')),
                # 1 of 3 came back; 72.00 in 4 orders by 3 customers
                'all': (3, 1, 100 / 3, 4, Decimal('72.00'),
                    Decimal('18.00'), Decimal('24.00')),
                })
        self.assertEqual(
            sorted(r.rec_name for r in segments),
            ["All Customers", "At Risk", "Lost", "New"])
        best = self.report('oms.reporting.segment.sale', **OCTOBER)
        self.assertEqual(best[0].rec_name, "At Risk: [MUG] Mug")
        self.assertEqual(
            [(r.segment, r.rank, r.name, r.units, r.amount) for r in best], [
                ('at_risk', 1, "[MUG] Mug", 3, Decimal('30.00')),
                ('at_risk', 2, "[TEE] Tee", 2, Decimal('20.00')),
                ('new', 1, "[CAP] Cap", 3, Decimal('12.00')),
                ('lost', 1, "[TEE] Tee", 1, Decimal('10.00')),
                ])
        categories = self.report('oms.reporting.segment.sale',
            breakdown='category', **OCTOBER)
        self.assertEqual(
            {(r.segment, r.name): r.amount for r in categories}, {
                ('at_risk', "Kitchen"): Decimal('30.00'),
                ('at_risk', "Apparel"): Decimal('20.00'),
                ('new', "(No category)"): Decimal('12.00'),
                ('lost', "Apparel"): Decimal('10.00'),
                })

    @with_transaction()
    def test_reports_export_to_csv(self):
        pool = Pool()
        Export = pool.get('ir.export')
        self.setup_world()
        for name in ['oms.reporting.sale', 'oms.reporting.sale.period',
                'oms.reporting.customer', 'oms.reporting.customer.segment',
                'oms.reporting.segment.sale']:
            export, = Export.search([('resource', '=', name)])
            fields = [f.name for f in export.export_fields]
            with Transaction().set_context(
                    company=self.company.id, **OCTOBER):
                Report = pool.get(name)
                rows = Report.export_data(Report.search([]), fields)
            self.assertTrue(rows, name)
            self.assertEqual(len(rows[0]), len(fields), name)
        with Transaction().set_context(company=self.company.id, **OCTOBER):
            Report = pool.get('oms.reporting.sale')
            export, = Export.search([('resource', '=', Report.__name__)])
            rows = Report.export_data(Report.search([]),
                [f.name for f in export.export_fields])
        self.assertEqual(rows[0][:4], ["Shop", 2, 4, Decimal('35.00')])
