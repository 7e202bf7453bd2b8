"""Fulfilment lead times: how long paid orders wait for their first parcel
and shipped ones for completion, per channel and carrier and over time,
and which ship later than their channel promises."""
import datetime as dt
import unittest

from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from oms_connector.tests.records import ShopWorld

MARCH = {'from_date': dt.date(2026, 3, 1), 'to_date': dt.date(2026, 3, 31)}


def at(day, hour):
    "A moment of March 2026 (UTC, as the log keeps them)"
    return dt.datetime(2026, 3, day, hour)


class FulfilmentReportingTestCase(ShopWorld, unittest.TestCase):
    "Lead times from the order status history"

    def logged(self, sale, state, when):
        "Say the order reached the state at that moment"
        Event = Pool().get('oms.order.event')
        event, = Event.search([
                ('sale', '=', sale.id),
                ('kind', 'in', ['import', 'transition']),
                ('to_state', '=', state),
                ])
        event.date = when
        event.save()

    def shipped(self, external_id, paid, *parcels, lines=(('TEE', 1),)):
        """A channel order paid then shipped in parcels of (carrier, when,
        only) (see ShopWorld.ship)"""
        Sale = Pool().get('sale.sale')
        sale = self.order(external_id, *lines)
        self.logged(sale, 'awaiting_shipment', paid)
        for carrier, when, only in parcels:
            self.ship(self.open_shipment(sale), carrier, 'T', only=only)
            sale = Sale(sale.id)
            self.logged(sale, sale.oms_state, when)
        return sale

    def make_world(self):
        """March 2026: Shop (ships within 24 h) has orders shipped by DHL
        after 4, 12, 24 and 48 h (the first two completed 48 and 72 h
        later), one whose first parcel left by UPS after 6 h, one not
        shipped, one cancelled, one the channel fulfils itself (Amazon FBA:
        not the shop's to ship, not counted); a walk-in sale (48 h by
        default) shipped after 49 h; an order paid in April"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Carrier = pool.get('oms.carrier')
        company = self.make_shop(ship_within=24)
        with set_company(company):
            ups = Carrier(name="UPS", code='UPS')
            ups.save()
            dhl = self.dhl
            first = self.shipped('A', at(2, 10), (dhl, at(2, 14), None))
            second = self.shipped('B', at(2, 10), (dhl, at(2, 22), None))
            self.shipped('C', at(3, 10), (dhl, at(4, 10), None))
            self.shipped('D', at(3, 10), (dhl, at(5, 10), None))
            # Shipped at its first parcel, with the first parcel's carrier
            self.shipped('E', at(4, 10),
                (ups, at(4, 16), {'TEE': 1}), (dhl, at(6, 10), None),
                lines=[('TEE', 1), ('MUG', 1)])
            waiting = self.order('F', ('TEE', 1))
            self.logged(waiting, 'awaiting_shipment', at(5, 10))
            by_channel = self.order('I', ('TEE', 1),
                fulfilled_by_channel=True)
            self.logged(by_channel, 'awaiting_shipment', at(5, 10))
            cancelled = self.order('G', ('TEE', 1))
            self.logged(cancelled, 'awaiting_shipment', at(5, 10))
            Sale.oms_cancel([cancelled])
            april = self.order('H', ('TEE', 1))
            self.logged(april, 'awaiting_shipment', dt.datetime(2026, 4, 1))
            Sale.oms_complete([first, second])
            self.logged(first, 'completed', at(4, 14))
            self.logged(second, 'completed', at(5, 22))
            walk_in = self.sale_by_hand(self.mug)
            self.logged(walk_in, 'awaiting_shipment', at(6, 8))
            self.ship(self.open_shipment(walk_in))
            self.logged(walk_in, 'shipped', at(8, 9))
        return company

    def rows(self, model, *names, **context):
        Report = Pool().get(model)
        with Transaction().set_context(**context):
            records = Report.search([])
            return [tuple(self.figure(getattr(Report(r.id), n))
                    for n in names) for r in records]

    @staticmethod
    def figure(value):
        if isinstance(value, float):
            return round(value, 2)
        return getattr(value, 'rec_name', value)

    @with_transaction()
    def test_lead_times_per_channel_and_carrier(self):
        "Averages, nearest-rank percentiles and late orders per row"
        company = self.setup_world()
        with set_company(company):
            self.assertEqual(self.rows(
                    'oms.reporting.fulfilment',
                    'channel', 'carrier', 'ship_within', 'orders',
                    'shipped_orders', 'hours_to_ship',
                    'hours_to_ship_median', 'hours_to_ship_p90',
                    'hours_to_ship_p95', 'late_orders', 'late_share',
                    **MARCH), [
                    ('Shop', 'DHL Express', 24, 4, 4, 22.0, 12.0, 48.0, 48.0,
                        1, 25.0),
                    ('Shop', 'UPS', 24, 1, 1, 6.0, 6.0, 6.0, 6.0, 0, 0.0),
                    # Not shipped and past its 24 h: late already
                    ('Shop', None, 24, 1, 0, None, None, None, None,
                        1, 100.0),
                    # Keyed in by hand: the configuration's 48 h
                    (None, None, 48, 1, 1, 49.0, 49.0, 49.0, 49.0, 1, 100.0),
                    ])
            self.assertEqual(self.rows(
                    'oms.reporting.fulfilment',
                    'carrier', 'completed_orders', 'hours_to_complete',
                    'hours_to_complete_median', 'hours_to_complete_p90',
                    channel=self.channel.id, **MARCH), [
                    ('DHL Express', 2, 60.0, 48.0, 72.0),
                    ('UPS', 0, None, None, None),
                    (None, 0, None, None, None),
                    ])
            # Nothing paid then: no rows
            self.assertEqual(self.rows(
                    'oms.reporting.fulfilment', 'orders',
                    from_date=dt.date(2026, 2, 1),
                    to_date=dt.date(2026, 2, 28)), [])

    @with_transaction()
    def test_lead_times_over_time(self):
        "By the day or week the orders were paid"
        company = self.setup_world()
        with set_company(company):
            figures = ['period_start', 'orders', 'shipped_orders',
                'hours_to_ship', 'hours_to_ship_median', 'late_orders',
                'late_share']
            self.assertEqual(self.rows(
                    'oms.reporting.fulfilment.period', *figures,
                    period='day', **MARCH), [
                    (dt.date(2026, 3, 2), 2, 2, 8.0, 4.0, 0, 0.0),
                    (dt.date(2026, 3, 3), 2, 2, 36.0, 24.0, 1, 50.0),
                    (dt.date(2026, 3, 4), 1, 1, 6.0, 6.0, 0, 0.0),
                    (dt.date(2026, 3, 5), 1, 0, None, None, 1, 100.0),
                    (dt.date(2026, 3, 6), 1, 1, 49.0, 49.0, 1, 100.0),
                    ])
            # 4, 6, 12, 24, 48 and 49 h: the median is the 3rd
            self.assertEqual(self.rows(
                    'oms.reporting.fulfilment.period', *figures,
                    period='week', **MARCH), [
                    (dt.date(2026, 3, 2), 7, 6, 23.83, 12.0, 3, 42.86),
                    ])

    @with_transaction()
    def test_export_as_csv(self):
        "The predefined export gives the rows as the list shows them"
        pool = Pool()
        Export = pool.get('ir.export')
        Report = pool.get('oms.reporting.fulfilment')
        company = self.setup_world()
        with set_company(company), Transaction().set_context(
                channel=self.channel.id, **MARCH):
            export, = Export.search([
                    ('resource', '=', 'oms.reporting.fulfilment'),
                    ])
            names = [line.name for line in export.export_fields]
            self.assertEqual(Report.export_data(
                    Report.search([], limit=1), names)[0], [
                    'Shop', 'DHL Express', 24, 4, 4, 22.0, 12.0, 48.0, 48.0,
                    2, 60.0, 48.0, 72.0, 1, 25.0])
