"""The customer's order-status lookup and the conversation on the order:
found by number and e-mail or by token, the same nothing for a wrong pair
as for an unknown order, only state/history/tracking shown, rate limited;
checkout notes and questions kept for the staff, whose replies answer
them."""
import unittest
from functools import wraps
from unittest.mock import patch

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.currency.tests import create_currency
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from oms_connector.models.orders.order_lookup import RateLimited
from oms_connector.tests.records import create_goods
from oms_connector.tests.tools import order_payload
from oms_contract.models import OrderBatch


def in_world(test):
    "Run the test in a company whose channel 'shop' sells a stocked tee"
    @wraps(test)
    @with_transaction()
    def wrapper(self):
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            return test(self, self.world(company))
    return wrapper


class OrderLookupTestCase(unittest.TestCase):
    "What a customer can find out about their order"

    @classmethod
    def setUpClass(cls):
        activate_module('oms_connector')

    def world(self, company):
        "A channel 'shop' selling a stocked tee"
        pool = Pool()
        Channel = pool.get('oms.channel')
        Listing = pool.get('oms.listing')
        Location = pool.get('stock.location')
        Move = pool.get('stock.move')
        warehouse, = Location.search([('type', '=', 'warehouse')])
        supplier, = Location.search([('type', '=', 'supplier')])
        channel = Channel(name="Web Shop", code='shop', company=company,
            currency=company.currency, warehouse=warehouse)
        channel.save()
        tee = create_goods("Tee")
        Listing.create([{'channel': channel.id, 'product': tee.id,
                    'sku': 'TEE'}])
        move = Move(product=tee, unit=tee.default_uom, quantity=10,
            from_location=supplier, to_location=warehouse.storage_location,
            company=company, unit_price=tee.cost_price or 1,
            currency=company.currency)
        move.save()
        with Transaction().set_context(_skip_warnings=True):
            Move.do([move])
        return channel

    def import_order(self, channel, external_id, **values):
        Importer = Pool().get('oms.order.importer')
        Sale = Pool().get('sale.sale')
        values.setdefault('lines', [('TEE', 1, '20.00')])
        Importer.import_batch(channel, OrderBatch.model_validate({
                    'orders': [order_payload(
                            'shop', external_id, **values)]}))
        return Sale.search_oms(channel, str(external_id))

    def ship(self, sale, carrier, number):
        pool = Pool()
        Sale = pool.get('sale.sale')
        Shipment = pool.get('stock.shipment.out')
        shipment, = sale.shipments
        shipment.oms_carrier = carrier
        shipment.oms_tracking_number = number
        shipment.save()
        Shipment.assign_try([shipment])
        Shipment.pick([shipment])
        Shipment.pack([shipment])
        Shipment.do([shipment])
        Sale.process([sale])
        return Sale(sale.id)

    def carrier(self):
        Carrier = Pool().get('oms.carrier')
        carrier, = Carrier.create([{'name': "DHL Express", 'code': 'DHL',
                    'tracking_url': 'https://dhl.example/t?n={number}'}])
        return carrier

    @in_world
    def test_found_by_number_and_email_or_by_token_only(self, channel):
        Lookup = Pool().get('oms.order.lookup')
        sale = self.import_order(channel, 'L1', email='ada@example.com')

        for number, email in [('L1', 'ada@example.com'),
                ('#L1', ' ADA@Example.com '), (' #L1', 'ada@example.com')]:
            self.assertEqual(Lookup.find('c', number, email), sale)
        # A wrong pair is no different from an order that does not exist.
        self.assertIsNone(Lookup.find('c', 'L1', 'eve@example.com'))
        self.assertIsNone(Lookup.find('c', 'L2', 'ada@example.com'))
        self.assertIsNone(Lookup.find('c', 'L1', ''))
        self.assertEqual(
            Lookup.find('c', token=sale.oms_access_token), sale)
        self.assertIsNone(Lookup.find('c', token=sale.oms_access_token[:8]))
        self.assertIsNone(Lookup.find('c', token='x' * 24))
        # Each order has its own token, imported alone or in a batch.
        Importer = Pool().get('oms.order.importer')
        Sale = Pool().get('sale.sale')
        Importer.import_batch(channel, OrderBatch.model_validate({
                    'orders': [order_payload('shop', n,
                            lines=[('TEE', 1, '20.00')])
                        for n in ('B1', 'B2', 'B3')]}))
        tokens = {s.oms_access_token for s in Sale.search([])}
        self.assertEqual(len(tokens), 4)
        self.assertNotIn(None, tokens)

    @in_world
    def test_the_customer_sees_state_history_tracking_and_returns_only(
            self, channel):
        pool = Pool()
        Sale = pool.get('sale.sale')
        Lookup = pool.get('oms.order.lookup')
        sale = self.import_order(channel, 'L3', email='ada@example.com')
        Sale.oms_hold([sale], reason="Fraud check: address mismatch")
        Sale.oms_release([sale], "checked")
        sale = self.ship(Sale(sale.id), self.carrier(), 'JD 0001')

        status = Lookup.status(sale)

        self.assertEqual(set(status), {'number', 'date', 'shop', 'state',
                'label', 'history', 'tracking', 'lines', 'returns',
                'reasons'})
        line, = status['lines']
        self.assertEqual((line['line'], line['returnable']), (1, 1))
        self.assertEqual(status['returns'], [])
        self.assertEqual((status['number'], status['shop'], status['state']),
            ('#L3', "Web Shop", 'shipped'))
        self.assertEqual([h['state'] for h in status['history']],
            ['awaiting_shipment', 'shipped'])
        self.assertNotIn('Fraud', repr(status))
        tracking, = status['tracking']
        self.assertEqual(tracking['carrier'], "DHL Express")
        self.assertEqual(tracking['number'], 'JD 0001')
        self.assertEqual(tracking['url'], 'https://dhl.example/t?n=JD%200001')

    @in_world
    def test_lookups_are_rate_limited_per_client_and_per_number(self, channel):
        Lookup = Pool().get('oms.order.lookup')
        self.import_order(channel, 'L4', email='ada@example.com')
        # 3 lookups per client, 2 failures per order number, in 600 s
        with patch('oms_connector.models.orders.order_lookup.limits',
                return_value=(3, 2, 600)):
            for _ in range(3):
                Lookup.find('10.0.0.1', 'L4', 'ada@example.com')
            with self.assertRaises(RateLimited) as raised:
                Lookup.find('10.0.0.1', 'L4', 'ada@example.com')
            self.assertEqual(raised.exception.retry_after, 600)
            # Another client is not held back by the first...
            self.assertTrue(Lookup.find('10.0.0.2', 'L4', 'ada@example.com'))
            # ... but guessing one order's e-mail from many addresses is.
            Lookup.find('10.0.0.3', 'L4', 'eve@example.com')
            Lookup.find('10.0.0.4', 'L4', 'mallory@example.com')
            with self.assertRaises(RateLimited):
                Lookup.find('10.0.0.5', 'L4', 'ada@example.com')

    @in_world
    def test_a_checkout_note_is_kept_and_a_question_awaits_a_reply(
            self, channel):
        pool = Pool()
        Message = pool.get('oms.order.message')
        sale = self.import_order(channel, 'L5', email='ada@example.com',
            notes="Please gift wrap it")
        # Imported again, changed: the note is not repeated.
        self.import_order(channel, 'L5', email='ada@example.com',
            notes="Please gift wrap it",
            updated_at='2026-11-11T03:00:00+00:00', status='shipped')
        Message.receive(sale, "  Can it arrive by Friday?  ", 'status_page')

        messages = Message.search([('sale', '=', sale.id)])
        self.assertEqual(
            [(m.direction, m.origin, m.body, m.awaiting_reply)
                for m in messages],
            [('in', 'channel', "Please gift wrap it", False),
                ('in', 'status_page', "Can it arrive by Friday?", True)])
        self.assertEqual(messages[0].author, "Ada Lovelace")
        # The note asks nothing: only the question waits for the staff.
        waiting = Message.search([('awaiting_reply', '=', True)])
        self.assertEqual(waiting, messages[1:])

    @in_world
    def test_a_staff_reply_answers_the_questions_and_goes_to_the_customer(
            self, channel):
        pool = Pool()
        Message = pool.get('oms.order.message')
        Notification = pool.get('oms.notification')
        sale = self.import_order(channel, 'L6', email='ada@example.com')
        Message.receive(sale, "Where is it?", 'status_page')
        channel.notify_email_events = list(
            channel.notify_email_events or []) + ['message']
        channel.save()

        # A member of the order management group (not an administrator)
        # replies from the order's form.
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        staff, = User.create([{'name': "Staff", 'login': 'staff',
                    'groups': [('add', [ModelData.get_id(
                                    'oms_connector', 'group_oms')])]}])
        with Transaction().set_user(staff.id), \
                Transaction().set_context(_check_access=True):
            Message.create([{'sale': sale.id, 'body': "It left today."}])

        question, reply = Message.search([('sale', '=', sale.id)])
        self.assertFalse(question.awaiting_reply)
        self.assertEqual((reply.direction, reply.origin), ('out', 'staff'))
        sent = Notification.search(
            [('sale', '=', sale.id), ('event', '=', 'message')])
        self.assertEqual(len(sent), 1)
        self.assertIn("It left today.", sent[0].body)


