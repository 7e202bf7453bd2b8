import json
import re
from contextlib import nullcontext
from decimal import Decimal
from unittest.mock import patch

from lxml import etree

import trytond.config as config
from trytond import backend
from trytond.exceptions import UserError
from trytond.model.exceptions import SQLConstraintError
from trytond.modules.company.tests import (
    CompanyTestMixin,
    create_company,
    set_company,
)
from trytond.modules.currency.tests import create_currency
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

from oms_connector.exceptions import TransitionError
from oms_connector.tests.records import receive
from oms_connector.tests.tools import order_payload
from oms_contract.models import Customer, OrderBatch


class OmsConnectorTestCase(CompanyTestMixin, ModuleTestCase):
    "Test OMS Connector module"
    module = 'oms_connector'

    def _channel_and_party(self, company):
        pool = Pool()
        Channel = pool.get('oms.channel')
        Party = pool.get('party.party')
        channel = Channel(name="Shop", code='shop', company=company,
            currency=company.currency)
        channel.save()
        party = Party(name="Customer")
        party.save()
        return channel, party

    def _channel_selling(self, company, **values):
        "A channel with SKU 'TEE' mapped to a goods product"
        pool = Pool()
        Channel = pool.get('oms.channel')
        Listing = pool.get('oms.listing')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')
        unit, = Uom.search([('name', '=', "Unit")])
        template, = Template.create([{
                    'name': "Tee",
                    'type': 'goods',
                    'salable': True,
                    'list_price': Decimal(20),
                    'default_uom': unit.id,
                    'sale_uom': unit.id,
                    'products': [('create', [{}])],
                    }])
        channel = Channel(name="Shop", code='shop', company=company,
            currency=company.currency, **values)
        channel.save()
        Listing(channel=channel, product=template.products[0],
            sku='TEE').save()
        return channel

    @staticmethod
    def _with_workers():
        "As where trytond-worker runs: imports queue their workflow"
        getboolean = config.getboolean

        def with_workers(section, option, default=None):
            if (section, option) == ('queue', 'worker'):
                return True
            return getboolean(section, option, default=default)
        return patch.object(config, 'getboolean', with_workers)

    def _import(self, channel, orders=(), rejected=()):
        "Import a batch as the route does; the results' (id, result) pairs"
        Importer = Pool().get('oms.order.importer')
        batch = OrderBatch.model_validate(
            {'orders': list(orders), 'rejected': list(rejected)})
        return [(r['sale_id'], r['result'])
            for r in Importer.import_batch(channel, batch)]

    @with_transaction()
    def test_batch_makes_one_party_and_one_sale_each(self):
        "A batch imported at once still gives a customer one party"
        pool = Pool()
        Sale = pool.get('sale.sale')
        Binding = pool.get('oms.customer')
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            channel = self._channel_selling(
                company, reserve_stock='payment')

            def order(external_id, **kwargs):
                return order_payload(external_id=external_id,
                    channel='shop', status='pending_payment',
                    lines=[('TEE', 1, '19.50')], **kwargs)
            batch = [
                order(1, customer_id='C9', email='grace@example.com'),
                order(2, customer_id='C9'),
                order(3, email='GRACE@example.com'),
                order(1, customer_id='C9', email='grace@example.com',
                    updated_at='2026-11-11T01:00:00+00:00'),
                ]

            results = self._import(channel, batch)

            self.assertEqual([r for _, r in results],
                ['created', 'created', 'created', 'updated'])
            self.assertEqual(results[0][0], results[3][0])
            sales = Sale.browse([i for i, _ in results[:3]])
            party, = {s.party for s in sales}
            self.assertEqual(len(party.addresses), 1)
            self.assertEqual(
                {s.shipment_address for s in sales}, set(party.addresses))
            self.assertEqual(
                [s.state for s in sales], ['quotation'] * 3)
            self.assertEqual(len(Binding.search([])), 1)

    @with_transaction()
    def test_api_keys_are_told_apart_by_name_and_channels(self):
        "One user's keys: each named, each listing its channels' codes"
        pool = Pool()
        Application = pool.get('res.user.application')
        Channel = pool.get('oms.channel')
        ModelData = pool.get('ir.model.data')
        View = pool.get('ir.ui.view')
        company = create_company()
        with set_company(company):
            shop, _ = self._channel_and_party(company)
            eu, = Channel.copy([shop], {'code': 'eu', 'name': "EU"})
            agent, staff = Application.create([{
                        'user': 1, 'application': 'oms',
                        'oms_name': "Agent on host-1",
                        'oms_channels': [('add', [shop.id, eu.id])],
                        }, {
                        'user': 1, 'application': 'oms',
                        'oms_name': "Support desk",
                        'oms_channels': [('add', [eu.id])],
                        }])

            self.assertEqual(
                [(k.oms_name, k.oms_channel_codes) for k in (agent, staff)],
                [("Agent on host-1", 'eu, shop'), ("Support desk", 'eu')])
            listed = View(ModelData.get_id(
                    'oms_connector', 'api_key_view_list'))
            columns = [node.get('name')
                for node in etree.fromstring(listed.arch).iter('field')]
            self.assertEqual(columns[:2], ['oms_name', 'oms_channel_codes'])

    @with_transaction()
    def test_list_columns_say_what_they_are(self):
        """No list the module shows (its own, or one its forms embed) has
        two columns under one header, or a column headed 'Record Name'"""
        unclear = []
        for model, shown in shown_lists():
            labels = [column.get('string')
                or shown['fields'][column.get('name')]['string']
                for column in etree.fromstring(shown['arch']).iter('field')]
            if repeated := sorted(
                    {label for label in labels if labels.count(label) > 1}):
                unclear.append((model, shown['view_id'], repeated))
            for column in etree.fromstring(shown['arch']).iter('field'):
                if column.get('name') == 'rec_name' and not column.get(
                        'string'):
                    unclear.append((model, shown['view_id'], 'rec_name'))
        self.assertEqual(unclear, [])

    @with_transaction()
    def test_lists_fit_a_laptop_screen(self):
        """Every list the module shows fits 1400 pixels beside sao's menu,
        with the columns staff act on shown and its statuses unclipped"""
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        too_wide, clipped = [], []
        shown_columns = {}
        for model, shown in shown_lists():
            columns = [c for c in etree.fromstring(shown['arch'])
                if c.tag in {'field', 'button'}
                and c.get('optional') != '1'
                and c.get('tree_invisible') != '1']
            shown_columns[shown['view_id']] = [
                c.get('name') for c in columns]
            least, widths = sao_widths(columns, shown['fields'])
            if least > SCREEN:
                too_wide.append((model, shown['view_id'], round(least)))
            for column, width in zip(columns, widths, strict=True):
                if column.tag == 'button':
                    if button_width(column.get('string')) > width:
                        clipped.append((model, column.get('name')))
                    continue
                field = shown['fields'].get(column.get('name'), {})
                labels = field.get('selection')
                # A stretching column shows what fits of a longer text
                if (field.get('type') != 'selection' or column.get('expand')
                        or isinstance(labels, str)):  # a method's
                    continue
                if max(label_width(label or '') for _, label in labels) > (
                        width):
                    clipped.append((model, column.get('name')))
        self.assertEqual(too_wide, [])
        self.assertEqual(clipped, [])
        for view, names in KEY_COLUMNS.items():
            view_id = ModelData.get_id('oms_connector', view)
            self.assertLessEqual(set(names), set(shown_columns[view_id]),
                msg=view)

    @with_transaction()
    def test_menu_entries_are_told_apart(self):
        """Order Management's entries: no two alike (a qualifier in brackets
        aside), none named as its folder, no report inside another"""
        pool = Pool()
        Menu = pool.get('ir.ui.menu')
        ModelData = pool.get('ir.model.data')
        entries = Menu.search([('parent', 'child_of',
                    [ModelData.get_id('oms_connector', 'menu_oms')])])
        names = [re.sub(r' \(.*\)$', '', m.name) for m in entries]
        self.assertEqual(
            sorted({n for n in names if names.count(n) > 1}), [])
        self.assertEqual(
            [m.name for m in entries if m.parent and m.name == m.parent.name],
            [])
        reports = ModelData.get_id('oms_connector', 'menu_reporting')
        self.assertEqual([m.name for m in entries
                if m.parent and m.parent.parent
                and m.parent.parent.id == reports], [])

    @with_transaction()
    def test_order_tryton_refuses_is_held_and_the_rest_created(self):
        "One order Tryton refuses does not stop the batch created with it"
        pool = Pool()
        Sale = pool.get('sale.sale')
        company = create_company(currency=create_currency('USD'))
        check_for_quotation = Sale.check_for_quotation

        def refuse_the_odd_one(sale):
            # A check of Tryton's the importer cannot foresee
            if sale.reference == '#2':
                raise UserError("refused by Tryton")
            check_for_quotation(sale)
        with set_company(company), patch.object(
                Sale, 'check_for_quotation', refuse_the_odd_one):
            channel = self._channel_selling(
                company, reserve_stock='payment')
            good = order_payload('shop', 1, status='pending_payment',
                lines=[('TEE', 1, '19.50')])
            odd = order_payload('shop', 2, status='pending_payment',
                lines=[('TEE', 1, '19.50')])

            results = self._import(channel, [good, odd])

            self.assertEqual(
                [r for _, r in results], ['created', 'exception'])
            good, odd = Sale.browse([i for i, _ in results])
            self.assertEqual((good.state, good.oms_exception),
                ('quotation', False))
            self.assertEqual(odd.oms_exception_kind, 'invalid_order')
            self.assertIn("refused by Tryton", odd.oms_exception_reason)
            self.assertEqual(odd.state, 'draft')

    @with_transaction()
    def test_prices_finer_than_tryton_keeps_hold_the_order(self):
        """A price with more decimals than Tryton keeps (4), within the
        contract's 6, holds its order with the line named; what Tryton's
        checks would refuse is checked by the import (import_checks), as
        is a listing whose product is no longer salable"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Listing = pool.get('oms.listing')
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            channel = self._channel_selling(
                company, reserve_stock='payment')
            pending = {'status': 'pending_payment'}
            fine = order_payload('shop', 1, **pending,
                lines=[('TEE', 1, '19.123400')])
            odd = order_payload('shop', 2, **pending,
                lines=[('TEE', 1, '19.50'), ('TEE', 2, '19.123456')])
            shipping = order_payload('shop', 3, **pending,
                lines=[('TEE', 1, '19.50')], shipping_price='4.99999')

            results = self._import(channel, [fine, odd, shipping])

            self.assertEqual([r for _, r in results],
                ['created', 'exception', 'exception'])
            fine, odd, shipping = Sale.browse([i for i, _ in results])
            self.assertFalse(fine.oms_exception)
            self.assertEqual(odd.oms_exception_kind, 'invalid_order')
            self.assertIn("19.123456 of line 2", odd.oms_exception_reason)
            self.assertIn("4.99999 of line Shipping",
                shipping.oms_exception_reason)
            self.assertEqual(odd.state, 'draft')

            listing, = Listing.search([('sku', '=', 'TEE')])
            template = listing.product.template
            template.salable = False
            template.save()
            results = self._import(channel, [
                    order_payload('shop', 4, **pending,
                        lines=[('TEE', 1, '19.50')])])
            unsalable, = Sale.browse([i for i, _ in results])
            self.assertEqual(unsalable.oms_exception_kind, 'unknown_sku')
            self.assertIn("not salable", unsalable.oms_exception_reason)

    @with_transaction()
    def test_a_receiver_served_encrypted_is_kept_so_and_shown_masked(self):
        """Taobao's receiver: the address keeps the ciphertexts and the
        OAID, shows masked values, lands in its province (added from ISO
        3166-2), and is told apart from another receiver's masked address;
        the sale and its shipment carry the OAID"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            channel = self._channel_selling(company)

            def order(external_id, oaid):
                return order_payload('shop', external_id,
                    lines=[('TEE', 1, '19.50')], customer_id='open-uid-1',
                    name='t**1', shipping_address={
                        'name': '***', 'street': '西湖区\n***',
                        'city': '杭州市', 'zip': '310012',
                        'country_code': 'CN', 'subdivision': 'CN-ZJ',
                        'phone': '***', 'protected': {
                            'oaid': oaid, 'name': f'~n{oaid}~c~1~~',
                            'street': f'~s{oaid}~c~1~~',
                            'phone': f'$p{oaid}$c$1$$'}})
            results = self._import(channel, [
                    order(1, 'OAID-A'), order(2, 'OAID-A'),
                    order(3, 'OAID-B')])

            sales = Sale.browse([i for i, _ in results])
            first, again, other = (s.shipment_address for s in sales)
            self.assertEqual(first, again)
            self.assertNotEqual(first, other)
            self.assertEqual(
                (first.party_name, first.street, first.city,
                    first.subdivision.code, first.country.code),
                ('***', '西湖区\n***', '杭州市', 'CN-ZJ', 'CN'))
            self.assertEqual(
                (first.oms_oaid, first.oms_encrypted_name,
                    first.oms_encrypted_street, first.oms_encrypted_phone,
                    first.oms_protected),
                ('OAID-A', '~nOAID-A~c~1~~', '~sOAID-A~c~1~~',
                    '$pOAID-A$c$1$$', True))
            self.assertEqual([s.oms_oaid for s in sales],
                ['OAID-A', 'OAID-A', 'OAID-B'])
            self.assertEqual(first.subdivision.type, 'province')
            Sale.quote([sales[0]])
            Sale.confirm([sales[0]])
            Sale.process([sales[0]])
            shipment, = Sale(sales[0].id).shipments
            self.assertEqual(shipment.oms_oaid, 'OAID-A')

    @with_transaction()
    def test_an_unknown_sku_keeps_its_line_until_mapped(self):
        """Held for an unknown SKU, the order shows what was ordered and
        its total; mapped and reprocessed, the line gets its product"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Listing = pool.get('oms.listing')
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            channel = self._channel_selling(company)
            [(sale_id, result)] = self._import(channel, [order_payload(
                        'shop', 1, lines=[('TEE', 1, '19.50'),
                            ('GHOST-9', 2, '3.00')])])

            sale = Sale(sale_id)
            self.assertEqual((result, sale.oms_exception_kind),
                ('exception', 'unknown_sku'))
            self.assertEqual(
                [(bool(li.product), li.quantity, li.unit_price)
                    for li in sale.lines],
                [(True, 1, Decimal('19.50')), (False, 2, Decimal('3.00'))])
            self.assertIn("GHOST-9", sale.lines[1].description)
            self.assertEqual(sale.untaxed_amount, Decimal('25.50'))

            tee, = Listing.search([('sku', '=', 'TEE')])
            Listing.copy([tee], {'sku': 'GHOST-9'})
            Sale.oms_reprocess([sale])
            sale = Sale(sale_id)
            # Mapped: built again with its product (and now waits for stock)
            self.assertNotEqual(sale.oms_exception_kind, 'unknown_sku')
            self.assertTrue(all(li.product for li in sale.lines))

    @with_transaction()
    def test_order_the_database_refuses_is_held_and_the_rest_created(self):
        """What the contract's bounds let through and the database refuses
        (NUL, on PostgreSQL) holds that order alone, as unreadable"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Importer = pool.get('oms.order.importer')
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            channel = self._channel_selling(
                company, reserve_stock='payment')
            batch = OrderBatch.model_validate({'orders': [
                        order_payload('shop', n, status='pending_payment',
                            lines=[('TEE', 1, '19.50')])
                        for n in (1, 2, 3)]})
            # As a gap in the contract's checks would let it through
            batch.orders[1].notes = 'gift\x00wrap'
            write_order = Importer._write_order

            def like_postgresql(sale, order, new=False):
                if '\x00' in (order.notes or ''):
                    raise backend.DatabaseDataError(
                        "text fields cannot contain NUL (0x00) bytes")
                return write_order(sale, order, new=new)
            refusing = (patch.object(Importer, '_write_order',
                    like_postgresql) if backend.name == 'sqlite'
                else nullcontext())
            with refusing:
                results = Importer.import_batch(channel, batch)

            self.assertEqual([r['result'] for r in results],
                ['created', 'exception', 'created'])
            held = Sale(results[1]['sale_id'])
            self.assertEqual(held.oms_exception_kind, 'invalid_order')
            self.assertIn("could not store", held.oms_exception_reason)
            self.assertIn('"source": "test"', held.oms_payload)  # its raw
            self.assertNotIn('\x00', held.oms_exception_reason)

    @with_transaction()
    def test_queue_workers_enact_imported_orders(self):
        "Where queue workers run, a batch is answered before its workflow"
        pool = Pool()
        Sale = pool.get('sale.sale')
        Queue = pool.get('ir.queue')
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            channel = self._channel_selling(
                company, reserve_stock='payment')
            order = order_payload('shop', 5, status='pending_payment',
                lines=[('TEE', 1, '19.50')])

            later = order_payload('shop', 6, status='pending_payment',
                lines=[('TEE', 1, '19.50')])

            with self._with_workers():
                (sale_id, result), = self._import(channel, [order])
                (later_id, _), = self._import(channel, [later])

            self.assertEqual(
                (result, Sale(sale_id).state), ('created', 'draft'))
            task, later_task = Queue.search([], order=[('id', 'ASC')])
            self.assertEqual(
                (task.data['method'], task.data['instances']),
                ('oms_enact_imported', (sale_id,)))
            task.run()
            self.assertEqual([s.state for s in Sale.browse(
                        [sale_id, later_id])], ['quotation', 'draft'])
            later_task.run()
            self.assertEqual(Sale(later_id).state, 'quotation')

    @with_transaction()
    def test_queue_workers_process_then_reserve_under_the_lock(self):
        """Where queue workers run, an imported order is processed in one
        task (no lock: several workers may) and its goods are reserved in
        another, under the warehouse lock; the first reservation takes the
        orders still waiting along, and theirs then finds nothing to do"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Queue = pool.get('ir.queue')
        Listing = pool.get('oms.listing')
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            channel = self._channel_selling(company)
            tee = Listing.search([('sku', '=', 'TEE')])[0].product
            receive(tee, 10, company)

            with self._with_workers():
                (first, _), = self._import(channel, [order_payload(
                            'shop', 7, lines=[('TEE', 1, '19.50')])])
                (second, _), = self._import(channel, [order_payload(
                            'shop', 8, lines=[('TEE', 2, '19.50')])])
            enacting = Queue.search([], order=[('id', 'ASC')])
            # Another worker reserving from the warehouse meanwhile
            with patch.object(Sale, 'oms_lock_stock_now', return_value=False):
                for task in enacting:
                    task.run()

            sales = Sale.browse([first, second])
            self.assertEqual([(s.state, s.shipment_state) for s in sales],
                [('processing', 'waiting')] * 2)
            reserving = Queue.search([('id', 'not in', enacting)],
                order=[('id', 'ASC')])
            self.assertEqual([t.data['method'] for t in reserving],
                ['oms_assign_imported'] * 2)
            reserving[0].run()
            self.assertEqual(
                [s.shipments[0].state for s in Sale.browse([first, second])],
                ['assigned', 'assigned'])
            reserving[1].run()
            self.assertEqual(
                [s.oms_exception for s in Sale.browse([first, second])],
                [False, False])

            # No one else reserving: the first task reserves too
            with self._with_workers():
                (third, _), = self._import(channel, [order_payload(
                            'shop', 9, lines=[('TEE', 1, '19.50')])])
            done = [t.id for t in enacting + reserving]
            task, = Queue.search([('id', 'not in', done)])
            task.run()
            self.assertEqual(Sale(third).shipments[0].state, 'assigned')
            self.assertEqual(
                Queue.search([('id', 'not in', done + [task.id])]), [])

    @with_transaction()
    def test_unreadable_order_is_held_until_a_readable_copy(self):
        "An order the agent could not read waits, held, for a readable copy"
        Sale = Pool().get('sale.sale')
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            channel = self._channel_selling(
                company, reserve_stock='payment')
            rejected = {
                'external_id': '7', 'number': '#7',
                'reason': "created_at: not a date",
                'raw': {'id': 7, 'created_at': 'yesterday'},
                'updated_at': '2026-11-11T00:05:00Z',
                }

            (sale_id, result), = self._import(channel, rejected=[rejected])
            again = self._import(channel, rejected=[rejected])
            other = self._import(channel, rejected=[
                    dict(rejected, external_id='8', number='#8')])

            sale = Sale(sale_id)
            self.assertEqual(result, 'exception')
            self.assertEqual(again, [(sale_id, 'unchanged')])
            self.assertEqual(
                (sale.reference, sale.oms_exception_kind,
                    sale.oms_exception_reason, sale.lines),
                ('#7', 'invalid_order', "created_at: not a date", ()))
            self.assertEqual(json.loads(sale.oms_payload)['raw'],
                {'id': 7, 'created_at': 'yesterday'})
            self.assertEqual(sale.party.name, "Shop – unknown customer")
            self.assertEqual(Sale(other[0][0]).party, sale.party)
            self.assertEqual(
                [e.kind for e in sale.oms_events], ['hold', 'import'])

            readable = order_payload('shop', 7, status='pending_payment',
                lines=[('TEE', 2, '19.50')], name="Grace Hopper",
                updated_at='2026-11-11T01:00:00+00:00')
            result = self._import(channel, [readable])

            sale = Sale(sale_id)
            self.assertEqual(result, [(sale_id, 'updated')])
            self.assertFalse(sale.oms_exception, sale.oms_exception_reason)
            self.assertEqual(
                (sale.state, sale.party.name, sale.shipment_address.city),
                ('quotation', "Grace Hopper", 'London'))
            self.assertEqual(sale.total_amount, Decimal('39.00'))

    @with_transaction()
    def test_unreadable_copy_keeps_an_imported_order(self):
        "An unreadable copy of an order imported fine is only noted"
        Sale = Pool().get('sale.sale')
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            channel = self._channel_selling(
                company, reserve_stock='payment')
            order = order_payload('shop', 9, status='pending_payment',
                lines=[('TEE', 1, '19.50')])
            (sale_id, _), = self._import(channel, [order])
            rejected = {'external_id': '9', 'reason': "total: not a number",
                'raw': {'id': 9}}

            results = (self._import(channel, rejected=[rejected])
                + self._import(channel, rejected=[rejected]))

            sale = Sale(sale_id)
            self.assertEqual(
                results, [(sale_id, 'unchanged'), (sale_id, 'unchanged')])
            self.assertFalse(sale.oms_exception, sale.oms_exception_reason)
            self.assertEqual(
                (sale.state, len(sale.lines), sale.party.name),
                ('quotation', 1, "Ada Lovelace"))
            self.assertEqual(sale.oms_order.external_id, '9')
            self.assertEqual(
                [(e.kind, e.reason) for e in sale.oms_events
                    if e.kind == 'unreadable'],
                [('unreadable', "total: not a number")])

    @with_transaction()
    def test_lists_show_times_the_way_clients_can(self):
        "Tryton's clients draw date-times in lists only as date and time"
        pool = Pool()
        View = pool.get('ir.ui.view')
        for view in View.search([
                    ('module', '=', 'oms_connector'),
                    ('type', '=', 'tree'),
                    ]):
            Model = pool.get(view.model)
            for node in etree.fromstring(view.arch).iter('field'):
                field = Model._fields[node.get('name')]
                if field._type in {'datetime', 'timestamp'}:
                    self.assertIn(node.get('widget'), {'date', 'time'},
                        msg=f"{view.rec_name}: {node.get('name')}")

    @with_transaction()
    def test_channel_order_is_bound_once_by_the_database(self):
        "The same channel order id cannot exist twice, even bypassing Python"
        Sale = Pool().get('sale.sale')
        company = create_company()
        with set_company(company):
            channel, party = self._channel_and_party(company)
            Sale(party=party, oms_channel=channel,
                oms_external_id='1001').save()
            Sale(party=party, oms_channel=channel,
                oms_external_id='1002').save()
            # Hand-keyed sales have no channel id: any number of them.
            Sale(party=party).save()
            Sale(party=party).save()

            with self.assertRaises(SQLConstraintError):
                Sale(party=party, oms_channel=channel,
                    oms_external_id='1001').save()

    @with_transaction()
    def test_customers_match_by_channel_id_then_exact_email(self):
        "Case-blind e-mail match, where '_' is not a wildcard"
        Binding = Pool().get('oms.customer')
        company = create_company()
        with set_company(company):
            channel, _ = self._channel_and_party(company)

            jo = Binding.party_for(channel, Customer(
                    external_id='C1', name="Jo E", email='jo_e@example.com'))
            again = Binding.party_for(channel, Customer(
                    external_id='C1', name="Jo", email='new@example.com'))
            by_email = Binding.party_for(channel, Customer(
                    external_id='C2', name="Jo", email='JO_E@example.com'))
            lookalike = Binding.party_for(channel, Customer(
                    external_id=None, name="Joxe",
                    email='joxe@example.com'))

            self.assertEqual(again, jo)
            self.assertEqual(by_email, jo)
            self.assertNotEqual(lookalike, jo)
            self.assertEqual(
                Binding.party_for(channel, Customer(
                        external_id='C2', name="Jo")), jo)

    @with_transaction()
    def test_closed_orders_do_not_reopen(self):
        "A cancelled order refuses to go back to awaiting shipment"
        Sale = Pool().get('sale.sale')
        company = create_company()
        with set_company(company):
            _, party = self._channel_and_party(company)
            sale = Sale(party=party, oms_state='cancelled')
            sale.save()

            with self.assertRaises(TransitionError):
                Sale._oms_set_state([sale], 'awaiting_shipment')
            self.assertEqual(sale.oms_events, ())

    @with_transaction()
    def test_transitions_are_logged(self):
        "Each transition writes one history entry, from, to and who"
        Sale = Pool().get('sale.sale')
        company = create_company()
        with set_company(company):
            _, party = self._channel_and_party(company)
            sale = Sale(party=party)
            sale.save()

            Sale.oms_hold([sale])
            Sale._oms_set_state([sale], 'cancelled')

            sale = Sale(sale.id)
            self.assertEqual(
                [(e.kind, e.from_state, e.to_state)
                    for e in reversed(sale.oms_events)],
                [('hold', None, 'pending_payment'),
                    ('transition', 'pending_payment', 'cancelled')])
            self.assertEqual(sale.oms_events[0].source, 'user: Administrator')
            self.assertTrue(sale.oms_exception)
            self.assertEqual(sale.oms_exception_kind, 'manual')


# How sao 8.0 sizes a list's columns (src/view/tree.js, _set_column_width):
# at least so many em by widget (10 for the others), 2 more with a currency
# symbol; expand="n" makes that × (1 + n) / n; width="N" is N pixels.
SAO_WIDTHS = {'integer': 8, 'selection': 9, 'reference': 20,
    'one2many': 5, 'many2many': 5, 'boolean': 3, 'binary': 20}
EM = 14  # pixels
# At 1400 × 900, beside sao's menu, a list has 960 pixels for its columns.
SCREEN = 960
# The columns each list must show, whatever else it shows: what staff act on
KEY_COLUMNS = {
    'order_view_list': ['number', 'reference', 'oms_state',
        'oms_exception_reason'],
    'listing_view_list': ['sku', 'product', 'available_quantity',
        'pushed_quantity', 'push_error'],
    'stock_alert_view_list': ['product', 'quantity', 'safety_stock',
        'expected', 'resolve'],
    'fulfilment_view_list': ['sale', 'state', 'error', 'retry'],
    'return_view_list': ['number', 'due_date', 'party', 'state', 'approve',
        'receive'],
    'notification_view_list': ['sale', 'state', 'error', 'retry'],
    'order_message_view_list': ['sale', 'body', 'awaiting_reply'],
    }


def sao_widths(columns, fields):
    """The least width in pixels sao gives the columns of a list, and the
    width it gives each at 1400 pixels: a column of width="N" N pixels,
    the others the room left in shares of their default width"""
    least, fixed, weights = 0, 0, []
    for column in columns:
        if column.get('width'):
            least += int(column.get('width'))
            fixed += int(column.get('width'))
            weights.append(None)
            continue
        field = fields.get(column.get('name'), {})
        width = SAO_WIDTHS.get(
            column.get('widget') or field.get('type'), 10)
        if field.get('symbol'):
            width += 2
        expand = int(column.get('expand') or 0)
        least += (width * (1 + expand) / expand if expand else width) * EM
        weights.append(width * (1 + expand))
    room = max(SCREEN, least) - fixed
    total = sum(w for w in weights if w)
    return least, [int(c.get('width')) if w is None else room * w / total
        for c, w in zip(columns, weights, strict=True)]


def label_width(label):
    "About how many pixels a label takes in a cell, padding included"
    return 7.2 * len(label) + 12


def button_width(label):
    "About how many pixels a button takes in a cell (sao writes capitals)"
    return 9.5 * len(label) + 32


def shown_lists():
    """(model, fields_view_get) of each list the module's screens show:
    its own lists, and those its One2Many and Many2Many fields show in
    forms, as the client picks them"""
    pool = Pool()
    View = pool.get('ir.ui.view')
    Field = pool.get('ir.model.field')
    own = {(f.model, f.name) for f in Field.search([
                ('module', '=', 'oms_connector'),
                ('ttype', 'in', ['one2many', 'many2many']),
                ])}
    views = View.search([('module', '=', 'oms_connector')])
    for view in views:
        if view.type == 'tree':
            yield view.model, pool.get(view.model).fields_view_get(
                view.id, 'tree')
    forms = {(v.model, (v.inherit or v).id) for v in views
        if (v.inherit or v).type == 'form'}
    for model, form_id in sorted(forms):
        form = pool.get(model).fields_view_get(form_id, 'form')
        for node in etree.fromstring(form['arch']).iter('field'):
            if (model, node.get('name')) not in own:
                continue
            field = form['fields'][node.get('name')]
            Target = pool.get(field['relation'])
            lists = [v for v in View.browse(
                    [int(i) for i in (node.get('view_ids') or '').split(',')
                        if i.strip().isdigit()])
                if v.type == 'tree']
            yield field['relation'], Target.fields_view_get(
                lists[0].id if lists else None, 'tree')


del ModuleTestCase
