"""Shipping channel orders: the fulfilments their done shipments make for
the agent to push, what the channel acknowledges, and orders completed as
delivered some days after shipping.

Tryton's sale follows its shipments in a task it queues (sale/stock.py
`process_sale` queues `Sale.process`); inside a test transaction queued
tasks are only collected, so `run_tasks` runs them the way Tryton's own
tests do (trytond/tests/test_trigger.py), where a server runs them right
after the commit."""
import datetime as dt
import unittest
from unittest.mock import patch

from trytond.exceptions import UserWarning
from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

from oms_connector.exceptions import CarrierError, FulfilmentError
from oms_connector.models.outbox import retry_delay
from oms_connector.tests.records import ShopWorld


class FulfilmentTestCase(ShopWorld, unittest.TestCase):
    "Shipping channel orders and telling their channels"

    def fulfilments(self, sale):
        Fulfilment = Pool().get('oms.fulfilment')
        return Fulfilment.search(
            [('sale', '=', sale.id)], order=[('id', 'ASC')])

    def lines(self, fulfilment):
        return [(li.external_id, li.sku, li.quantity)
            for li in fulfilment.lines]

    # -- tests -------------------------------------------------------------

    @with_transaction()
    def test_shipped_order_makes_one_fulfilment_with_its_tracking(self):
        "A shipment done with carrier and number: shipped, channel told"
        pool = Pool()
        Sale = pool.get('sale.sale')
        with set_company(self.setup_shop()):
            sale = self.order(1001, ('TEE', 2), ('MUG', 1))
            shipment = self.open_shipment(sale)

            with patch.object(self, 'run_tasks'):  # the queue not yet run
                self.ship(shipment, self.dhl, ' 1234 567890 ')
            self.assertEqual(Sale(sale.id).oms_state, 'awaiting_shipment')
            self.run_tasks()

            sale = Sale(sale.id)
            self.assertEqual(sale.oms_state, 'shipped')
            fulfilment, = self.fulfilments(sale)
            self.assertTrue(fulfilment.key.startswith('oms-fulfilment-'))
            self.assertEqual(
                (fulfilment.channel, fulfilment.shipment, fulfilment.state,
                    fulfilment.carrier, fulfilment.tracking_number,
                    fulfilment.tracking_url, fulfilment.complete,
                    fulfilment.notify_customer, fulfilment.attempts),
                (self.channel, shipment, 'waiting', self.dhl,
                    '1234 567890',
                    'https://www.dhl.com/en/express/tracking.html'
                    '?AWB=1234%20567890',
                    True, True, 0))
            self.assertEqual(self.lines(fulfilment),
                [('1001-1', 'TEE', 2), ('1001-2', 'MUG', 1)])
            self.assertEqual(
                [(t['carrier'], t['number']) for t in sale.oms_tracking_info],
                [("DHL Express", '1234 567890')])

    @with_transaction()
    def test_partial_shipment_then_the_rest(self):
        "Part shipped: partially shipped, then shipped and complete"
        Sale = Pool().get('sale.sale')
        with set_company(self.setup_shop()):
            sale = self.order(1002, ('TEE', 3), ('MUG', 1))

            self.ship(self.open_shipment(sale), self.dhl, 'P-1',
                only={'TEE': 2})

            self.assertEqual(Sale(sale.id).oms_state, 'partially_shipped')
            first, = self.fulfilments(sale)
            self.assertEqual(self.lines(first), [('1002-1', 'TEE', 2)])
            self.assertFalse(first.complete)

            # Tryton made a shipment of the rest, reserved at once.
            rest = self.open_shipment(sale)
            self.assertEqual(rest.state, 'assigned')
            self.ship(rest, self.dhl, 'P-2')

            self.assertEqual(Sale(sale.id).oms_state, 'shipped')
            first, second = self.fulfilments(sale)
            self.assertEqual(self.lines(second),
                [('1002-1', 'TEE', 1), ('1002-2', 'MUG', 1)])
            self.assertTrue(second.complete)
            self.assertEqual(second.tracking_number, 'P-2')
            self.assertNotEqual(first.key, second.key)

    @with_transaction()
    def test_kit_reports_kits_shipped(self):
        "A kit's line counts the kits its shipped components make up"
        Sale = Pool().get('sale.sale')
        with set_company(self.setup_shop()):
            gift = self.kit("Gift Set", 'GIFT', (self.mug, 1), (self.tee, 2))
            sale = self.order(1003, ('GIFT', 2))

            # Both mugs, no tee yet: no whole kit, nothing to tell.
            self.ship(self.open_shipment(sale), self.dhl, 'K-1',
                only={'MUG': 2})
            self.assertEqual(self.fulfilments(sale), [])
            self.assertEqual(Sale(sale.id).oms_state, 'partially_shipped')

            # Two tees: the first kit is whole.
            self.ship(self.open_shipment(sale), self.dhl, 'K-2',
                only={'TEE': 2})
            first, = self.fulfilments(sale)
            self.assertEqual(self.lines(first), [('1003-1', 'GIFT', 1)])
            self.assertFalse(first.complete)

            self.ship(self.open_shipment(sale), self.dhl, 'K-3')
            first, second = self.fulfilments(sale)
            self.assertEqual(self.lines(second), [('1003-1', 'GIFT', 1)])
            self.assertTrue(second.complete)
            self.assertEqual(Sale(sale.id).oms_state, 'shipped')
            self.assertEqual(
                {li.sale_line.product for li in second.lines}, {gift})

    @with_transaction()
    def test_order_keyed_in_by_hand_gets_no_fulfilment(self):
        "Orders without a channel ship, untracked too, and tell no channel"
        pool = Pool()
        Sale = pool.get('sale.sale')
        Fulfilment = pool.get('oms.fulfilment')
        with set_company(self.setup_shop()):
            sale = self.sale_by_hand(self.tee)

            self.ship(self.open_shipment(sale))  # no warning either

            self.assertEqual(Sale(sale.id).oms_state, 'shipped')
            self.assertEqual(Fulfilment.search([]), [])

    @with_transaction()
    def test_untracked_shipment_warns_then_goes_without_tracking(self):
        "Staff are warned of a parcel without tracking; skipped, it goes"
        pool = Pool()
        Warning = pool.get('res.user.warning')
        ShipmentOut = pool.get('stock.shipment.out')
        with set_company(self.setup_shop()):
            sale = self.order(1004, ('TEE', 1))
            shipment = self.open_shipment(sale)
            ShipmentOut.pick([shipment])
            ShipmentOut.pack([shipment])

            for carrier, number in [(None, None), (self.dhl, None),
                    (None, 'NO-CARRIER')]:
                ShipmentOut.write([shipment], {
                        'oms_carrier': carrier and carrier.id,
                        'oms_tracking_number': number,
                        })
                with self.assertRaises(UserWarning) as warning:
                    ShipmentOut.do([shipment])
                self.assertIn(shipment.rec_name, warning.exception.message)
                self.assertEqual(ShipmentOut(shipment.id).state, 'packed')
            Warning.skip(warning.exception.name)
            ShipmentOut.do([shipment])

            fulfilment, = self.fulfilments(sale)
            self.assertEqual(
                (fulfilment.carrier, fulfilment.tracking_number,
                    fulfilment.tracking_url),
                (None, 'NO-CARRIER', None))

    @with_transaction()
    def test_staff_correct_tracking_until_pushed(self):
        "A typo is fixed on the fulfilment (and its shipment) before a push"
        pool = Pool()
        Fulfilment = pool.get('oms.fulfilment')
        Carrier = pool.get('oms.carrier')
        with set_company(self.setup_shop()):
            ups = Carrier(name="UPS", code='UPS',
                tracking_url='https://www.ups.com/track?tracknum={number}')
            ups.save()
            sale = self.order(1005, ('TEE', 1))
            self.ship(self.open_shipment(sale), self.dhl, '1Z-TYPO')
            fulfilment, = self.fulfilments(sale)

            Fulfilment.write([fulfilment], {
                    'carrier': ups.id, 'tracking_number': '1Z999'})

            fulfilment = Fulfilment(fulfilment.id)
            self.assertEqual(fulfilment.tracking_url,
                'https://www.ups.com/track?tracknum=1Z999')
            self.assertEqual(
                (fulfilment.shipment.oms_carrier,
                    fulfilment.shipment.oms_tracking_number),
                (ups, '1Z999'))

            Fulfilment.record_push({fulfilment: 'F-1'}, {})
            with self.assertRaises(FulfilmentError):
                Fulfilment.write([fulfilment], {'tracking_number': '1Z000'})

    @with_transaction()
    def test_acknowledgements_back_off_and_log(self):
        "Failures are retried later and later; a push is done for good"
        pool = Pool()
        Fulfilment = pool.get('oms.fulfilment')
        Sale = pool.get('sale.sale')
        with set_company(self.setup_shop()):
            sale = self.order(1006, ('TEE', 1))
            self.ship(self.open_shipment(sale), self.dhl, '42')
            fulfilment, = self.fulfilments(sale)
            self.assertEqual(Fulfilment.to_push(self.channel), [fulfilment])

            waits = []
            for _ in range(8):
                Fulfilment.write([fulfilment], {'next_attempt': None})
                start = dt.datetime.now()
                Fulfilment.record_push({}, {Fulfilment(fulfilment.id): (
                            "carrier 'DHL' has no channel carrier")})
                fulfilment = Fulfilment(fulfilment.id)
                waits.append(round(
                        (fulfilment.next_attempt - start).total_seconds()
                        / 60))
                self.assertEqual(Fulfilment.to_push(self.channel), [])
                self.assertEqual(Fulfilment.outbox_pending(self.channel), 0)
                # The wait over, it is listed again, failed.
                Fulfilment.write([fulfilment], {
                        'next_attempt': dt.datetime.now()
                        - dt.timedelta(seconds=1)})
                self.assertEqual(
                    Fulfilment.to_push(self.channel), [fulfilment])
            self.assertEqual(waits, [1, 2, 4, 8, 16, 32, 60, 60])
            self.assertEqual(
                (fulfilment.state, fulfilment.attempts), ('failed', 8))

            Fulfilment.retry([fulfilment])
            self.assertEqual(Fulfilment(fulfilment.id).state, 'waiting')
            Fulfilment.record_push(
                {Fulfilment(fulfilment.id): 'gid://shopify/Fulfillment/9'},
                {})
            # Late or repeated answers change nothing any more.
            Fulfilment.record_push(
                {Fulfilment(fulfilment.id): 'gid://other'}, {})
            Fulfilment.record_push(
                {}, {Fulfilment(fulfilment.id): "timeout"})

            fulfilment = Fulfilment(fulfilment.id)
            self.assertEqual(
                (fulfilment.state, fulfilment.external_id, fulfilment.error,
                    fulfilment.next_attempt),
                ('done', 'gid://shopify/Fulfillment/9', None, None))
            self.assertIsNotNone(fulfilment.pushed_at)
            self.assertEqual(Fulfilment.to_push(self.channel), [])
            # The history tells a failure once, then the push.
            sale = Sale(sale.id)
            self.assertEqual(
                [(e.kind, e.to_state, e.reason) for e in sale.oms_events
                    if e.kind.startswith('fulfilment')],
                [('fulfilment', 'shipped',
                        "DHL Express 42 sent to Shop (its fulfilment "
                        "gid://shopify/Fulfillment/9)."),
                    ('fulfilment_failed', 'shipped',
                        "Shop refused DHL Express 42: carrier 'DHL' has no "
                        "channel carrier")])

    @with_transaction()
    def test_staff_mark_done_what_they_fulfilled_by_hand(self):
        "Marked done, a fulfilment is pushed no more"
        pool = Pool()
        Fulfilment = pool.get('oms.fulfilment')
        Sale = pool.get('sale.sale')
        with set_company(self.setup_shop(notifies_buyer=False)):
            sale = self.order(1007, ('MUG', 1))
            self.ship(self.open_shipment(sale), self.dhl, '7')
            fulfilment, = self.fulfilments(sale)
            self.assertFalse(fulfilment.notify_customer)

            Fulfilment.mark_done([fulfilment])

            self.assertEqual(Fulfilment(fulfilment.id).state, 'done')
            self.assertEqual(Fulfilment.to_push(self.channel), [])
            self.assertEqual(Sale(sale.id).oms_events[0].reason,
                "DHL Express 7 marked sent to Shop by hand.")

    def test_retry_delays(self):
        "1, 2, 4 ... minutes, never more than an hour"
        self.assertEqual(
            [retry_delay(n).total_seconds() / 60
                for n in [1, 2, 3, 6, 7, 50, 10_000]],
            [1, 2, 4, 32, 60, 60, 60])

    @with_transaction()
    def test_shipped_orders_complete_some_days_after_shipping(self):
        "Orders count as delivered N days after their last parcel left"
        pool = Pool()
        Sale = pool.get('sale.sale')
        Date = pool.get('ir.date')
        Configuration = pool.get('oms.configuration')
        ShipmentOut = pool.get('stock.shipment.out')
        with set_company(self.setup_shop(complete_after=3)):
            shipped = self.order(1010, ('TEE', 1))
            self.ship(self.open_shipment(shipped), self.dhl, 'C-1')
            recent = self.order(1011, ('TEE', 1))
            self.ship(self.open_shipment(recent), self.dhl, 'C-2')
            held = self.order(1012, ('TEE', 1))
            self.ship(self.open_shipment(held), self.dhl, 'C-3')
            Sale.oms_hold([Sale(held.id)])
            # Marked shipped by the channel, without a shipment of the ERP
            told = self.order(1013, ('MUG', 1))
            Sale._oms_set_state([told], 'shipped')
            by_hand = self.sale_by_hand(self.tee)
            self.ship(self.open_shipment(by_hand))

            today = Date.today()
            left = {shipped: 3, recent: 2, held: 10, by_hand: 5}
            for sale, days in left.items():
                shipment, = Sale(sale.id).shipments
                ShipmentOut.write([shipment], {
                        'effective_date': today - dt.timedelta(days=days)})

            def states():
                return [Sale(s.id).oms_state
                    for s in [shipped, recent, held, told, by_hand]]

            Sale.oms_complete_shipped()
            # By hand: the configuration's 14 days
            self.assertEqual(states(),
                ['completed', 'shipped', 'shipped', 'shipped', 'shipped'])
            event = Sale(shipped.id).oms_events[0]
            self.assertEqual(
                (event.from_state, event.to_state, event.reason,
                    event.source),
                ('shipped', 'completed', "delivered: 3 days after shipping",
                    'scheduler'))

            config = Configuration(1)
            config.complete_after = 5
            config.save()
            with patch.object(Date, 'today',
                    return_value=today + dt.timedelta(days=3)):
                Sale.oms_complete_shipped()
            self.assertEqual(states(),
                ['completed', 'completed', 'shipped', 'completed',
                    'completed'])

            self.channel.complete_after = None  # never
            self.channel.save()
            Sale.oms_release([Sale(held.id)], "fixed")
            Sale.oms_complete_shipped()
            self.assertEqual(Sale(held.id).oms_state, 'shipped')

    @with_transaction()
    def test_carrier_tracking_url_needs_the_number(self):
        "A carrier's tracking URL is an http(s) address with {number}"
        Carrier = Pool().get('oms.carrier')
        for i, url in enumerate(['https://track.example.com/',
                    'ftp://x/{number}', 'track.example.com/{number}']):
            with self.assertRaises(CarrierError):
                Carrier(name="Bad", code=f'BAD{i}', tracking_url=url).save()
        carrier = Carrier(name="Good", code='GOOD',
            tracking_url='https://track.example.com/?n={number}')
        carrier.save()
        self.assertEqual(carrier.tracking_url_for(' A/1 '),
            'https://track.example.com/?n=A%2F1')
        self.assertIsNone(carrier.tracking_url_for(None))
