"""After-sales: return requests from staff, customers and channels; the
goods coming back into sellable or quarantine stock, refunds pushed to the
channel, exchanges as new orders, and VIP customers served first."""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from oms_connector.exceptions import ReturnError
from oms_connector.models.orders.order_import import savepoint
from oms_connector.tests.records import ShopWorld
from oms_contract.models import ReturnBatch

NOW = '2026-11-20T10:00:00Z'


def channel_refund(external_id, order, lines=(), amount='10.00',
        restock=False, return_id=None, status='refunded'):
    "A refund as the agent posts it: lines of (line id, sku, quantity)"
    return {
        'channel': 'shop', 'kind': 'refund', 'external_id': external_id,
        'order_external_id': str(order), 'status': status,
        'created_at': NOW, 'updated_at': NOW, 'currency': 'USD',
        'amount': amount, 'reason': 'damaged',
        'return_external_id': return_id,
        'lines': [{'line_external_id': line_id, 'sku': sku,
                'quantity': quantity, 'restock': restock}
            for line_id, sku, quantity in lines],
        'raw': {'id': external_id},
        }


def channel_return(external_id, order, lines, status='requested'):
    return {
        'channel': 'shop', 'kind': 'return', 'external_id': external_id,
        'order_external_id': str(order), 'status': status,
        'created_at': NOW, 'updated_at': NOW,
        'lines': [{'line_external_id': line_id, 'sku': sku,
                'quantity': quantity, 'reason': 'SIZE_TOO_SMALL'}
            for line_id, sku, quantity in lines],
        'raw': {'id': external_id},
        }


class AfterSalesTestCase(ShopWorld, unittest.TestCase):
    "Returns, refunds and exchanges"

    def make_world(self):
        "The shop, with a quarantine (waste) location in its warehouse"
        pool = Pool()
        Location = pool.get('stock.location')
        company = self.make_shop()
        warehouse, = Location.search([('type', '=', 'warehouse')])
        quarantine = Location(name="Quarantine", type='lost_found')
        quarantine.save()
        warehouse.waste_locations = [quarantine]
        warehouse.save()
        self.warehouse, self.quarantine = warehouse, quarantine
        return company

    def shipped_order(self, external_id, *lines, **payload):
        "A channel order, shipped whole"
        sale = self.order(external_id, *lines, **payload)
        self.ship(self.open_shipment(sale), self.dhl, '123')
        return Pool().get('sale.sale')(sale.id)

    def request(self, sale, *lines, **values):
        """A return request by staff: lines of (product code, quantity,
        condition)"""
        Return = Pool().get('oms.return')
        by_code = {li.product.code: li for li in sale.line_lines}
        rma, = Return.create([{
                    'sale': sale.id,
                    'lines': [('create', [{
                                    'sale_line': by_code[code].id,
                                    'quantity': quantity,
                                    'condition': condition,
                                    } for code, quantity, condition
                                in lines])],
                    **values,
                    }])
        return rma

    def refused(self, message, *args, **values):
        "A request refused with the message, leaving nothing behind"
        with self.assertRaisesRegex(ReturnError, message):
            with savepoint('refused'):
                self.request(*args, **values)

    def available(self, product):
        "What the channel may sell of the product now"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        Listing = pool.get('oms.listing')
        Level.refresh()
        listing, = Listing.search([('product', '=', product.id)])
        return listing.available_quantity

    def quantity_at(self, product, location):
        Product = Pool().get('product.product')
        with Transaction().set_context(locations=[location.id],
                stock_date_end=dt.date.today()):
            return Product(product.id).quantity

    def post(self, *items):
        Importer = Pool().get('oms.return.importer')
        return Importer.import_batch(self.channel, ReturnBatch.model_validate(
                {'returns': list(items), 'cursor': NOW}))

    def events(self, rma):
        return [(e.from_state, e.to_state) for e in reversed(rma.events)]

    # -- staff requests and the goods coming back ---------------------------

    @with_transaction()
    def test_received_return_puts_sellable_goods_back_on_sale(self):
        "Resellable goods raise available-to-sell; damaged go to quarantine"
        pool = Pool()
        Return = pool.get('oms.return')
        Level = pool.get('oms.listing.level')
        Notification = pool.get('oms.notification')
        with set_company(self.setup_world()):
            sale = self.shipped_order(1001, ('TEE', 3))
            self.assertEqual(self.available(self.tee), 7)
            Level.record_push(
                {lv: (lv.quantity, lv.version, None)
                    for lv in Level.to_push(self.channel)}, {})

            rma = self.request(sale, ('TEE', 2, 'unopened'))
            rma2 = self.request(sale, ('TEE', 1, 'damaged'))
            self.assertEqual(rma.state, 'requested')
            self.assertEqual(rma.refund_amount, Decimal('20.00'))
            self.assertEqual(rma2.lines[0].destination, 'quarantine')
            Return.approve([rma, rma2])
            shipment, = rma.return_shipments
            self.assertEqual(shipment.state, 'draft')  # expected
            self.assertEqual(self.available(self.tee), 7)

            Return.receive([rma, rma2])
            self.assertEqual(
                [Return(rma.id).state, Return(rma2.id).state],
                ['received', 'received'])
            self.assertEqual(self.available(self.tee), 9)
            self.assertEqual(self.quantity_at(self.tee, self.quarantine), 1)
            # The next stock push carries the returned units
            level, = Level.to_push(self.channel)
            self.assertEqual((level.listing.sku, level.quantity), ('TEE', 9))
            self.assertEqual(self.events(Return(rma.id)), [
                    (None, 'requested'), ('requested', 'approved'),
                    ('approved', 'received')])
            self.assertEqual(sorted(n.event for n in Notification.search(
                        [('sale', '=', sale.id),
                            ('event', 'like', 'return_%')])),
                ['return_approved'] * 2 + ['return_received'] * 2
                + ['return_requested'] * 2)
            # The return sale is no order
            self.assertEqual(rma.return_sale.oms_return, rma)
            self.assertEqual(rma.return_sale.oms_events, ())

    @with_transaction()
    def test_refund_without_goods_back_moves_no_stock(self):
        pool = Pool()
        Return = pool.get('oms.return')
        with set_company(self.setup_world()):
            sale = self.shipped_order(1002, ('TEE', 2))
            rma = self.request(sale, ('TEE', 1, 'damaged'),
                return_goods=False)
            Return.approve([rma])
            self.assertFalse(rma.return_sale)
            rma.refund_amount = Decimal('4.50')  # a partial refund
            rma.save()
            Return.refund([rma])
            rma = Return(rma.id)
            self.assertEqual(rma.state, 'refunded')
            self.assertEqual(rma.refunded_amount, Decimal('4.50'))
            self.assertEqual(rma.refund_state, 'pending')
            self.assertEqual(self.available(self.tee), 8)
            self.assertEqual(Return.refunds_to_push(self.channel), [rma])
            answer = rma.refund_answer()
            self.assertEqual((answer['amount'], answer['order']),
                ('4.50', {'external_id': '1002', 'number': '#1002'}))

    @with_transaction()
    def test_bad_requests_are_refused_with_a_clear_message(self):
        pool = Pool()
        Return = pool.get('oms.return')
        Sale = pool.get('sale.sale')
        with set_company(self.setup_world()):
            sale = self.shipped_order(1003, ('TEE', 2))
            self.refused(r"Cannot return 3 × \[TEE\] Tee of order .*: "
                r"2 shipped, 0 already", sale, ('TEE', 3, 'unopened'))
            self.request(sale, ('TEE', 2, 'unopened'))
            self.refused(r"2 already in other return requests",
                sale, ('TEE', 1, 'unopened'))

            unshipped = self.order(1004, ('MUG', 1))
            self.refused(r"0 shipped", unshipped, ('MUG', 1, 'unopened'))
            Sale.oms_cancel([unshipped])
            self.refused(r"cannot be returned: it is Cancelled",
                unshipped, ('MUG', 1, 'unopened'), return_goods=False)

            other = self.shipped_order(1005, ('TEE', 1))
            rma = self.request(other, ('TEE', 1, 'unopened'),
                return_goods=False)
            rma.refund_amount = Decimal('11')  # the order cost 10
            rma.save()
            Return.approve([rma])
            with self.assertRaisesRegex(ReturnError,
                    r"cannot refund .*11.00: only .*10.00 .* is left"):
                Return.refund([rma])
            with self.assertRaisesRegex(ReturnError,
                    r"brings no goods back"):
                Return.receive([Return(rma.id)])

    @with_transaction()
    def test_rejected_request_expects_no_goods(self):
        pool = Pool()
        Return = pool.get('oms.return')
        with set_company(self.setup_world()):
            sale = self.shipped_order(1006, ('TEE', 1))
            rma = self.request(sale, ('TEE', 1, 'opened'))
            Return.approve([rma])
            rma.note = "Opened more than 30 days after delivery."
            rma.save()
            Return.reject([rma])
            rma = Return(rma.id)
            self.assertEqual((rma.state, rma.resolution),
                ('rejected', 'reject'))
            self.assertEqual(
                [s.state for s in rma.return_shipments], ['cancelled'])
            # The goods may be asked back again
            self.request(sale, ('TEE', 1, 'opened'))

    # -- exchanges -----------------------------------------------------------

    @with_transaction()
    def test_exchange_sends_a_new_order_reserved_like_any(self):
        pool = Pool()
        Return = pool.get('oms.return')
        Sale = pool.get('sale.sale')
        with set_company(self.setup_world()):
            self.tee_xl = self.product("Tee XL", 'TEE-XL', stock=4)
            sale = self.shipped_order(1007, ('TEE', 1))
            rma = self.request(sale, ('TEE', 1, 'unopened'),
                resolution='exchange')
            rma.lines[0].exchange_product = self.tee_xl
            rma.lines[0].save()
            Return.approve([rma])
            Return.receive([rma])
            Return.exchange([rma])
            rma = Return(rma.id)
            self.assertEqual(rma.state, 'exchanged')
            replacement = rma.replacement
            self.assertEqual(replacement.total_amount, Decimal(0))
            self.assertEqual(replacement.oms_state, 'awaiting_shipment')
            shipment, = replacement.shipments
            self.assertEqual(
                (shipment.state, [m.product for m in shipment.moves]),
                ('assigned', [self.tee_xl, self.tee_xl]))
            self.assertEqual(self.available(self.tee_xl), 3)
            told, = pool.get('oms.notification').search([
                    ('sale', '=', sale.id), ('medium', '=', 'email'),
                    ('event', '=', 'return_exchanged')])
            self.assertIn(f"with order {replacement.number}.", told.body)

            # A dearer product: the customer pays the difference first
            self.tee_xl.template.list_price = Decimal(25)
            self.tee_xl.template.save()
            sale = self.shipped_order(1008, ('TEE', 1))
            rma = self.request(sale, ('TEE', 1, 'unopened'),
                resolution='exchange', return_goods=False)
            rma.lines[0].exchange_product = self.tee_xl
            rma.lines[0].save()
            Return.approve([rma])
            Return.exchange([rma])
            replacement = Sale(Return(rma.id).replacement.id)
            self.assertEqual(replacement.total_amount, Decimal(15))
            self.assertEqual(replacement.oms_state, 'pending_payment')

    # -- channels ----------------------------------------------------------

    @with_transaction()
    def test_channel_refund_pulled_twice_makes_one_request(self):
        pool = Pool()
        Return = pool.get('oms.return')
        with set_company(self.setup_world()):
            sale = self.shipped_order(1010, ('TEE', 2))
            line_id = sale.line_lines[0].oms_external_id
            refund = channel_refund('R1', 1010, [(line_id, 'TEE', 1)])
            result, = self.post(refund)
            self.assertEqual((result['result'], result['state']),
                ('created', 'refunded'))
            again, = self.post(refund)
            self.assertEqual((again['result'], again['rma']),
                ('unchanged', result['rma']))
            rma, = Return.search([('sale', '=', sale.id)])
            self.assertEqual(
                (rma.source, rma.refund_state, rma.refunded_amount,
                    rma.return_goods),
                ('channel', 'channel', Decimal(10), False))
            self.assertEqual(self.channel.returns_cursor, NOW)
            self.assertEqual(self.available(self.tee), 8)  # no goods back
            self.assertEqual(Return.refunds_to_push(self.channel), [])

    @with_transaction()
    def test_channel_return_then_its_refund(self):
        "A return approved in the channel, its goods received, refunded"
        pool = Pool()
        Return = pool.get('oms.return')
        with set_company(self.setup_world()):
            sale = self.shipped_order(1011, ('TEE', 2))
            line_id = sale.line_lines[0].oms_external_id
            result, = self.post(channel_return(
                    'RET1', 1011, [(line_id, 'TEE', 2)]))
            rma, = Return.search([('external_id', '=', 'RET1')])
            self.assertEqual(rma.state, 'requested')
            self.assertEqual(rma.lines[0].reason.code, 'size_fit')
            self.post(channel_return('RET1', 1011, [(line_id, 'TEE', 2)],
                    status='open'))
            rma = Return(rma.id)
            self.assertEqual(rma.state, 'approved')
            self.assertTrue(rma.return_shipments)

            result, = self.post(channel_refund('R2', 1011,
                    [(line_id, 'TEE', 2)], amount='20', restock=True,
                    return_id='RET1'))
            self.assertEqual((result['rma'], result['state']),
                (rma.number, 'approved'))  # refunded once the goods are in
            Return.receive([rma])
            rma = Return(rma.id)
            self.assertEqual(rma.state, 'refunded')
            self.assertEqual(rma.refunded_amount, Decimal(20))
            self.assertEqual(self.available(self.tee), 10)
            self.assertEqual(Return.search_count([]), 1)

    @with_transaction()
    def test_channel_refund_of_an_order_not_imported_waits_for_it(self):
        pool = Pool()
        Return = pool.get('oms.return')
        with set_company(self.setup_world()):
            result, = self.post(channel_refund('R3', 1012,
                    [(None, 'TEE', 1)]))
            self.assertEqual(result['result'], 'created')
            rma, = Return.search([('external_id', '=', 'R3')])
            self.assertTrue(rma.held)
            self.assertIn("1012 is not in the ERP yet", rma.hold_reason)
            sale = self.order(1012, ('TEE', 1))
            rma = Return(rma.id)
            self.assertEqual((rma.sale, rma.held), (sale, False))
            self.assertEqual(rma.lines[0].sale_line, sale.line_lines[0])

    @with_transaction()
    def test_channel_return_of_more_than_sold_waits_for_staff(self):
        pool = Pool()
        Return = pool.get('oms.return')
        with set_company(self.setup_world()):
            sale = self.shipped_order(1016, ('TEE', 1))
            line_id = sale.line_lines[0].oms_external_id
            result, = self.post(channel_return(
                    'RET2', 1016, [(line_id, 'TEE', 3)]))
            self.assertEqual(result['result'], 'created')
            rma, = Return.search([('external_id', '=', 'RET2')])
            self.assertTrue(rma.held)
            self.assertIn("Cannot return 3 × [TEE] Tee", rma.hold_reason)
            with self.assertRaisesRegex(ReturnError, r"needs attention"):
                Return.approve([rma])
            rma.lines[0].quantity = 1
            rma.lines[0].save()
            Return.release([rma])
            Return.approve([rma])
            self.assertEqual(Return(rma.id).state, 'approved')
            self.assertTrue(Return(rma.id).return_shipments)

    @with_transaction()
    def test_unreadable_channel_refund_is_kept_until_readable(self):
        pool = Pool()
        Return = pool.get('oms.return')
        Importer = pool.get('oms.return.importer')
        with set_company(self.setup_world()):
            sale = self.shipped_order(1015, ('TEE', 1))
            rejected = {'kind': 'refund', 'external_id': 'R5',
                'order_external_id': '1015',
                'reason': "The channel's refund cannot be read: "
                "createdAt is missing", 'raw': {'id': 'R5'}}
            results = Importer.import_batch(self.channel,
                ReturnBatch.model_validate(
                    {'returns': [], 'rejected': [rejected]}))
            self.assertEqual([r['result'] for r in results], ['held'])
            rma, = Return.search([('external_id', '=', 'R5')])
            self.assertTrue(rma.held)
            self.assertIn("createdAt is missing", rma.hold_reason)
            self.assertIn('"raw"', rma.channel_payload)

            result, = self.post(channel_refund('R5', 1015, [
                        (sale.line_lines[0].oms_external_id, 'TEE', 1)]))
            rma = Return(rma.id)
            self.assertEqual((result['result'], rma.held, rma.state,
                    rma.sale), ('updated', False, 'refunded', sale))
            self.assertEqual(Return.search_count([]), 1)

    @with_transaction()
    def test_refund_pushed_and_pulled_back_is_not_doubled(self):
        pool = Pool()
        Return = pool.get('oms.return')
        with set_company(self.setup_world()):
            sale = self.shipped_order(1013, ('TEE', 1))
            rma = self.request(sale, ('TEE', 1, 'unopened'),
                return_goods=False)
            Return.approve([rma])
            Return.refund([rma])
            Return.record_refund_push({}, {rma: ("timeout", False)})
            rma = Return(rma.id)
            self.assertEqual((rma.refund_state, rma.refund_attempts),
                ('failed', 1))
            self.assertEqual(Return.refunds_to_push(self.channel), [])
            Return.retry_refund([rma])
            Return.record_refund_push({Return(rma.id): 'gid://R/9'}, {})
            rma = Return(rma.id)
            self.assertEqual((rma.refund_state, rma.refund_external_id),
                ('pushed', 'gid://R/9'))
            result, = self.post(channel_refund('gid://R/9', 1013,
                    [(None, 'TEE', 1)]))
            self.assertEqual((result['result'], result['rma']),
                ('unchanged', rma.number))

            # A channel that cannot take refunds: staff do it there
            other = self.shipped_order(1014, ('TEE', 1))
            manual = self.request(other, ('TEE', 1, 'unopened'),
                return_goods=False)
            Return.approve([manual])
            Return.refund([manual])
            Return.record_refund_push(
                {}, {Return(manual.id): ("not supported", True)})
            manual = Return(manual.id)
            self.assertEqual((manual.refund_state,
                    manual.refund_next_attempt), ('manual', None))
            Return.refund_done_by_hand([manual])
            self.assertEqual(Return(manual.id).refund_state, 'pushed')

    # -- priority and service policies -------------------------------------

    @with_transaction()
    def test_vip_request_jumps_the_queue_with_its_sla(self):
        pool = Pool()
        Return = pool.get('oms.return')
        Segment = pool.get('oms.customer.segment')
        Policy = pool.get('oms.return.policy')
        Party = pool.get('party.party')
        with set_company(self.setup_world()):
            vip, = Segment.create([{'name': "VIP", 'code': 'vip',
                        'min_spend': Decimal(50)}])
            Policy.create([{
                        'name': "VIP", 'segment': vip.id, 'priority': '3',
                        'respond_within': 24, 'auto_approve': True,
                        }, {
                        'name': "Everyone", 'priority': '1',
                        'respond_within': 72,
                        'resolutions': ['refund', 'reject'],
                        }])
            regular = self.shipped_order(1020, ('TEE', 1))
            big = self.shipped_order(1021, ('TEE', 6), name="Big Spender",
                customer_id='C-BIG')
            Party.oms_update_segments()
            self.assertEqual(Party(big.party.id).oms_segment, vip)
            self.assertIsNone(Party(regular.party.id).oms_segment)

            first = self.request(regular, ('TEE', 1, 'unopened'))
            second = self.request(big, ('TEE', 1, 'unopened'))
            self.assertEqual(Return.search([]), [second, first])
            self.assertEqual((second.priority, second.state),
                ('3', 'approved'))  # its policy approves it
            self.assertEqual(second.due_date - second.requested_at,
                dt.timedelta(hours=24))
            self.assertEqual(first.due_date - first.requested_at,
                dt.timedelta(hours=72))

            # Overdue once the due date has passed
            Return.write([first], {
                    'due_date': dt.datetime.now() - dt.timedelta(hours=1)})
            self.assertEqual(
                Return.search([('overdue', '=', True)]), [first])
            self.assertTrue(Return(first.id).overdue)

            # The regular policy allows no exchange
            first.resolution = 'exchange'
            first.save()
            with self.assertRaisesRegex(ReturnError, r"does not allow"):
                Return.approve([first])

            # Set by hand, a segment stays
            Party.write([big.party], {'oms_segment': None,
                    'oms_segment_manual': True})
            Party.oms_update_segments()
            self.assertIsNone(Party(big.party.id).oms_segment)
