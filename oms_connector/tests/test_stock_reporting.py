"""The stock status and supply chain reports against figures worked out by
hand on one small shop: stock received, sold, shipped, cancelled, returned
and purchased."""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from oms_connector.tests.records import ShopWorld
from oms_connector.tests.tools import order_payload
from oms_contract.models import OrderBatch


class StockReportingTestCase(ShopWorld, unittest.TestCase):
    "Stock status and supply chain"

    def make_world(self):
        """Over the 30 days to today:
        - TEE: 10 received, orders of 3 (shipped, 1 returned) and 2
          (reserved), an order of 4 cancelled;
        - MUG: 5 received, never sold: a slow mover;
        - CAP: 4 bought at 2.50 six days ago, received today, below its
          order point's minimum of 5; an order of 1 not shipped yet."""
        pool = Pool()
        Location = pool.get('stock.location')
        OrderPoint = pool.get('stock.order_point')
        Return = pool.get('oms.return')
        company = self.make_shop()
        self.today = today = pool.get('ir.date').today()
        self.warehouse, = Location.search([('type', '=', 'warehouse')])
        with set_company(company):
            self.cap = self.product("Cap", 'CAP')
            self.cap.template.purchasable = True
            self.cap.template.purchase_uom = self.cap.default_uom
            self.cap.template.save()
            OrderPoint(product=self.cap, location=self.warehouse,
                type='purchase', min_quantity=5, target_quantity=10,
                company=company).save()
            self.purchase(self.cap, 4, Decimal('2.50'), today - DAYS(6))

            shipped = self.order(1, ('TEE', 3), shipping_price='6.00',
                created_at=at(today - DAYS(2)))
            self.ship(self.open_shipment(shipped), self.dhl, '1')
            self.order(2, ('TEE', 2), created_at=at(today - DAYS(1)))
            self.order(3, ('TEE', 4), created_at=at(today))
            self.cancel(3)
            self.order(4, ('CAP', 1), created_at=at(today - DAYS(3)))

            rma, = Return.create([{
                        'sale': shipped.id,
                        'lines': [('create', [{
                                        'sale_line': shipped.line_lines[0].id,
                                        'quantity': 1,
                                        'condition': 'unopened',
                                        }])],
                        }])
            Return.approve([rma])
            Return.receive([rma])
        return company

    def purchase(self, product, quantity, unit_price, date):
        "Bought from Acme on date, received today"
        pool = Pool()
        Purchase = pool.get('purchase.purchase')
        Line = pool.get('purchase.line')
        Party = pool.get('party.party')
        ShipmentIn = pool.get('stock.shipment.in')
        Move = pool.get('stock.move')
        self.acme = Party(name="Acme", addresses=[{}])
        self.acme.save()
        address, = self.acme.addresses
        purchase = Purchase(party=self.acme, invoice_address=address,
            purchase_date=date,
            invoice_method='manual', warehouse=self.warehouse,
            lines=[Line(product=product, quantity=quantity,
                    unit=product.purchase_uom, unit_price=unit_price)])
        purchase.save()
        Purchase.quote([purchase])
        Purchase.confirm([purchase])
        self.run_tasks()
        purchase = Purchase(purchase.id)
        shipment = ShipmentIn(supplier=self.acme, company=self.company,
            warehouse=self.warehouse)
        shipment.on_change_warehouse()
        shipment.save()
        Move.write(list(purchase.moves), {'shipment': str(shipment)})
        ShipmentIn.receive([shipment])
        ShipmentIn.do([shipment])
        return purchase

    def cancel(self, external_id):
        "The channel cancels the order"
        Importer = Pool().get('oms.order.importer')
        payload = order_payload('shop', external_id, status='cancelled',
            lines=[('TEE', 4, '10.00')], created_at=at(self.today),
            updated_at=at(self.today, hour=13))
        Importer.import_batch(self.channel, OrderBatch.model_validate(
                {'orders': [payload]}))

    def rows(self, model, **context):
        Report = Pool().get(model)
        context.setdefault('from_date', self.today - DAYS(29))
        context.setdefault('to_date', self.today)
        with Transaction().set_context(**context):
            return {r.product.code: r for r in Report.search([])}

    @with_transaction()
    def test_stock_status(self):
        "On hand, reserved, sales, cover and turnover per product"
        with set_company(self.setup_world()):
            rows = self.rows('oms.reporting.stock')
            figures = {c: (r.on_hand, r.reserved, r.available, r.sold,
                    r.shipped, round(r.average_stock, 4),
                    r.days_of_cover and round(r.days_of_cover, 4),
                    r.turnover and round(r.turnover, 4),
                    r.slow_mover, r.below_safety_stock)
                for c, r in rows.items()}
            self.assertEqual(figures, {
                    # 10 in, 3 out, 1 back (all today: 8 held 1 day of 30);
                    # orders of 3 + 2 (the 4 cancelled, the return no
                    # sale); 6 / (5 / 30) = 36 days; 3 / (8 / 30) = 11.25
                    'TEE': (8, 2, 6, 5, 3, round(8 / 30, 4), 36, 11.25,
                        False, False),
                    # 5 never sold: slow
                    'MUG': (5, 0, 5, 0, 0, round(5 / 30, 4), None, 0,
                        True, False),
                    # 3 / (1 / 30) = 90 days: not yet slow; 3 < 5 minimum
                    'CAP': (4, 1, 3, 1, 0, round(4 / 30, 4), 90, 0,
                        False, True),
                    })
            self.assertEqual(rows['CAP'].order_point_min, 5)
            self.assertEqual(rows['TEE'].safety_stock, 0)

            # The tabs are searches on the rows
            Report = Pool().get('oms.reporting.stock')
            with Transaction().set_context(
                    from_date=self.today - DAYS(29), to_date=self.today):
                self.assertEqual(
                    [r.product.code for r in Report.search(
                            [('slow_mover', '=', True)])], ['MUG'])
                self.assertEqual(
                    [r.product.code for r in Report.search(
                            [('below_safety_stock', '=', True)])], ['CAP'])
                # The same id for the same row, however searched
                row, = Report.search([('product', '=', self.tee.id)])
                self.assertEqual(row.id, rows['TEE'].id)

            # A month a year ago: today's stock, nothing sold nor held
            year_ago = self.today - DAYS(365)
            old = self.rows('oms.reporting.stock',
                from_date=year_ago - DAYS(29), to_date=year_ago)
            self.assertEqual(
                (old['TEE'].on_hand, old['TEE'].sold, old['TEE'].shipped,
                    old['TEE'].average_stock, old['TEE'].days_of_cover,
                    old['TEE'].turnover, old['TEE'].slow_mover),
                (8, 0, 0, 0, None, None, True))

            # A channel lists only TEE: its other products go
            Listing = Pool().get('oms.listing')
            Listing.write(Listing.search([('sku', '!=', 'TEE')]),
                {'active': False})
            self.assertEqual(
                list(self.rows('oms.reporting.stock',
                        channel=self.channel.id)), ['TEE'])

            # Exported in one click, as the client's CSV
            Export = Pool().get('ir.export')
            export, = Export.search(
                [('resource', '=', 'oms.reporting.stock')])
            names = [f.name for f in export.export_fields]
            with Transaction().set_context(
                    from_date=self.today - DAYS(29), to_date=self.today):
                data = Report.export_data([rows['TEE']], names)
            self.assertEqual(data[0][:5], [
                    self.tee.rec_name, self.warehouse.rec_name, 8, 2, 6])

    @with_transaction()
    def test_stock_by_channel(self):
        "What the channel is offered: available less its safety stock"
        with set_company(self.setup_world()):
            self.channel.safety_stock = 1
            self.channel.save()
            Pool().get('oms.listing.level').refresh()
            rows = self.rows('oms.reporting.stock.channel')
            self.assertEqual(
                {c: (r.channel, r.warehouse, r.available)
                    for c, r in rows.items()}, {
                    'TEE': (self.channel, None, 5),
                    'MUG': (self.channel, None, 4),
                    'CAP': (self.channel, None, 2),
                    })
            # The same rows for its warehouse
            self.assertEqual(len(self.rows('oms.reporting.stock.channel',
                        warehouse=self.warehouse.id)), 3)

    @with_transaction()
    def test_supply_chain(self):
        "Each sold product from its supplier to its customers"
        with set_company(self.setup_world()):
            rows = self.rows('oms.reporting.supply')
            self.assertEqual(set(rows), {'TEE', 'CAP'})  # MUG never sold
            tee, cap = rows['TEE'], rows['CAP']
            self.assertEqual(
                (tee.supplier, tee.received, tee.purchase_lead_time,
                    round(tee.days_in_stock, 4), tee.time_to_ship,
                    tee.shipping_charged, tee.quantity, tee.revenue),
                # Nothing bought; (8 / 30) stock / (3 / 30) shipped a day;
                # ordered 2 days before shipping; 6.00 shipping over the 3
                # units of its order, none on the other 2: 6.00 / 5
                (None, None, None, round(8 / 3, 4), 2,
                    Decimal('1.2'), 5, Decimal('50')))
            self.assertEqual(
                (cap.supplier, cap.received, cap.purchase_lead_time,
                    cap.purchase_cost, cap.days_in_stock, cap.time_to_ship,
                    cap.shipping_charged, cap.quantity, cap.revenue,
                    cap.margin),
                # Bought 6 days before its receipt at 2.50; not shipped;
                # 10.00 - 1 x 2.50
                (self.acme, 4, 6, Decimal('2.5'), None, None,
                    Decimal(0), 1, Decimal('10'), Decimal('7.5')))

            # Its first supplier comes before whom it came from
            Supplier = Pool().get('purchase.product_supplier')
            Party = Pool().get('party.party')
            other = Party(name="Other")
            other.save()
            Supplier(template=self.cap.template, party=other,
                company=self.company).save()
            self.assertEqual(self.rows('oms.reporting.supply')[
                    'CAP'].supplier, other)

            # An empty period: no rows
            self.assertEqual(self.rows('oms.reporting.supply',
                    from_date=self.today - DAYS(400),
                    to_date=self.today - DAYS(370)), {})

            Export = Pool().get('ir.export')
            export, = Export.search(
                [('resource', '=', 'oms.reporting.supply')])
            Report = Pool().get('oms.reporting.supply')
            with Transaction().set_context(
                    from_date=self.today - DAYS(29), to_date=self.today):
                data = Report.export_data(
                    [cap], [f.name for f in export.export_fields])
            self.assertEqual(data[0][:3], [
                    self.cap.rec_name, self.warehouse.rec_name,
                    other.rec_name])

def DAYS(n):
    return dt.timedelta(days=n)


def at(date, hour=12):
    "Noon UTC of the date, as the channel gives order times"
    return dt.datetime.combine(
        date, dt.time(hour), tzinfo=dt.UTC).isoformat()
