"""Available-to-sell per channel and listing (DESIGN §7): the formula, its
settings, warehouses, kits, the change log and what the channels show."""
import unittest
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.currency.tests import create_currency
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from oms_connector.tests.records import create_goods
from oms_connector.tests.tools import order_payload
from oms_contract.models import OrderBatch


class StockLevelTestCase(unittest.TestCase):
    "What each channel may sell"

    @classmethod
    def setUpClass(cls):
        activate_module('oms_connector')

    def setUp(self):
        self.company = None

    # -- the world ---------------------------------------------------------

    def product(self, name, type='goods'):
        return create_goods(name, type=type)

    def kit(self, name, *parts):
        "A kit product made of (product, quantity) parts"
        Component = Pool().get('product.component')
        kit = self.product(name, type='kit')
        Component.create([{
                    'parent_template': kit.template.id,
                    'product': product.id,
                    'quantity': quantity,
                    'unit': product.default_uom.id,
                    } for product, quantity in parts])
        return kit

    def moves(self, product, *moves, state='done'):
        "Moves of the product, each (from, to, quantity), in the state"
        Move = Pool().get('stock.move')
        moves = [Move(product=product, unit=product.default_uom,
                quantity=quantity, from_location=from_, to_location=to,
                company=self.company) for from_, to, quantity in moves]
        for move in moves:
            if move.on_change_with_unit_price_required():
                move.unit_price = Decimal(10)
                move.currency = self.company.currency
        Move.save(moves)
        # Moves to customers without a sale: no warning, it's a test.
        with Transaction().set_context(_skip_warnings=True):
            if state == 'done':
                Move.do(moves)
            elif state == 'assigned':
                Move.assign(moves)
        return moves

    def channel(self, code, **values):
        Channel = Pool().get('oms.channel')
        channel = Channel(name=code.title(), code=code, company=self.company,
            currency=self.company.currency, **values)
        channel.save()
        return channel

    def listing(self, channel, product, sku, **values):
        Listing = Pool().get('oms.listing')
        listing, = Listing.create([{
                    'channel': channel.id, 'product': product.id,
                    'sku': sku, **values}])
        return listing

    def levels(self, listing):
        "The listing's available quantity by warehouse code (None: all)"
        Level = Pool().get('oms.listing.level')
        return {lv.warehouse and lv.warehouse.code: lv.quantity
            for lv in Level.search([('listing', '=', listing.id)])}

    def locations(self):
        Location = Pool().get('stock.location')
        main, = Location.search([('type', '=', 'warehouse')])
        supplier, = Location.search([('code', '=', 'SUP')])
        customer, = Location.search([('code', '=', 'CUS')])
        return main, supplier, customer

    def second_warehouse(self, main, code):
        Location = Pool().get('stock.location')
        second, = Location.copy([main], default={'code': code})
        return second

    # -- tests -------------------------------------------------------------

    @with_transaction()
    def test_an_older_push_error_becomes_its_details(self):
        """Updated from 8.0.0, where the push error was what the channel
        answered: that is the details, and the error says why"""
        Level = Pool().get('oms.listing.level')
        self.company = create_company()
        with set_company(self.company):
            shop = self.channel('shop')
            stale, locked, fine = [
                self.listing(shop, self.product(sku), sku).levels[0]
                for sku in ('TEE', 'CAP', 'MUG')]
        table_h = Level.__table_handler__()
        table_h.drop_column('push_error_details')
        table = Level.__table__()
        cursor = Transaction().connection.cursor()
        for level, answer in [
                (stale, "CHANGE_FROM_QUANTITY_STALE: Shopify no longer "
                    "shows 3 at this location"),
                (locked, "locked")]:
            cursor.execute(*table.update([table.push_error], [answer],
                    where=table.id == level.id))

        Level.__register__('oms_connector')

        self.assertEqual(
            [(lv.push_error, lv.push_error_details)
                for lv in Level.browse([stale, locked, fine])],
            [('stale', "CHANGE_FROM_QUANTITY_STALE: Shopify no longer "
                    "shows 3 at this location"),
                ('refused', "locked"), (None, None)])

    @with_transaction()
    def test_sellable_stock_is_on_hand_less_reserved_in_its_warehouses(self):
        "Stock in the channel's warehouses' storage, less what is reserved"
        pool = Pool()
        Listing = pool.get('oms.listing')
        User = pool.get('res.user')
        self.company = company = create_company()
        with set_company(company):
            main, supplier, customer = self.locations()
            second = self.second_warehouse(main, 'WH2')
            elsewhere = self.second_warehouse(main, 'WH3')
            wide = self.channel('wide', warehouse=main)
            wide.warehouses = [main, second]
            wide.save()
            narrow = self.channel('narrow', warehouse=main)
            lamp, mug = self.product("Lamp"), self.product("Mug")
            self.moves(lamp,
                (supplier, main.storage_location, 5),
                (supplier, second.storage_location, 4),
                (supplier, elsewhere.storage_location, 7),
                # Received but not yet stored: not for sale.
                (supplier, second.input_location, 3))
            self.moves(mug, (supplier, main.storage_location, 1))
            # Orders' reservations: assigned moves out of storage.
            self.moves(lamp, (main.storage_location, main.output_location, 2),
                state='assigned')
            self.moves(mug, (main.storage_location, main.output_location, 2),
                state='assigned')
            # A draft move reserves nothing.
            self.moves(lamp, (second.storage_location, customer, 1),
                state='draft')
            lamp_wide = self.listing(wide, lamp, 'L')
            mug_wide = self.listing(wide, mug, 'M')
            lamp_narrow = self.listing(narrow, lamp, 'L')

            self.assertEqual(
                Listing.sellable_stock([lamp_wide, mug_wide, lamp_narrow]), {
                    lamp_wide.id: {main.id: 5 - 2, second.id: 4},
                    mug_wide.id: {main.id: 0, second.id: 0},  # never < 0
                    lamp_narrow.id: {main.id: 5 - 2},
                    })
            # One level for all the warehouses of a channel without
            # locations, counted as the listing is created.
            self.assertEqual(self.levels(lamp_wide), {None: 7})
            self.assertEqual(self.levels(mug_wide), {None: 0})
            self.assertEqual(self.levels(lamp_narrow), {None: 3})

            # Tryton would see no stock at all: refuse rather than say 0.
            outsider, = User.create([{
                        'name': "Outsider", 'login': 'out',
                        'companies': [], 'company': None}])
            with Transaction().set_user(outsider.id), \
                    self.assertRaises(AccessError):
                Listing.sellable_stock([lamp_wide])

    @with_transaction()
    def test_safety_stock_allocation_and_max_listed(self):
        "max(0, floor((stock - safety) x allocation)), capped; per listing"
        self.company = create_company()
        with set_company(self.company):
            main, supplier, _ = self.locations()
            shop = self.channel('shop', warehouse=main, safety_stock=2,
                allocation=Decimal('50'))
            tee, cap = self.product("Tee"), self.product("Cap")
            self.moves(tee, (supplier, main.storage_location, 11))
            self.moves(cap, (supplier, main.storage_location, 11))
            tee_listing = self.listing(shop, tee, 'TEE')
            cap_listing = self.listing(shop, cap, 'CAP', safety_stock=0,
                allocation=Decimal('100'), max_listed=6)

            self.assertEqual(self.levels(tee_listing), {None: 4})  # 9 x 50%
            self.assertEqual(self.levels(cap_listing), {None: 6})  # capped

            # The channel's settings reach the listings that keep them.
            shop.safety_stock = 20
            shop.save()
            self.assertEqual(self.levels(tee_listing), {None: 0})
            self.assertEqual(self.levels(cap_listing), {None: 6})
            # The listing's own settings take over.
            cap_listing.max_listed = None
            cap_listing.allocation = Decimal('33.33')
            cap_listing.save()
            self.assertEqual(self.levels(cap_listing), {None: 3})

    @with_transaction()
    def test_channel_with_locations_gets_a_level_per_warehouse(self):
        "A Shopify-like channel counts each warehouse on its own"
        self.company = create_company()
        with set_company(self.company):
            main, supplier, _ = self.locations()
            second = self.second_warehouse(main, 'WH2')
            shop = self.channel('shop', kind='shopify', warehouse=main,
                stock_by_location=True, safety_stock=1)
            shop.warehouses = [main, second]
            shop.save()
            tee = self.product("Tee")
            self.moves(tee, (supplier, main.storage_location, 5),
                (supplier, second.storage_location, 1))
            listing = self.listing(shop, tee, 'TEE')

            self.assertEqual(self.levels(listing), {
                    main.code: 4, 'WH2': 0})

            # A warehouse no longer sold loses its level.
            shop.warehouses = [main]
            shop.save()
            self.assertEqual(self.levels(listing), {main.code: 4})

    @with_transaction()
    def test_kit_counts_the_kits_its_components_make(self):
        "A bundle listing sells as many as its scarcest component allows"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        self.company = create_company()
        with set_company(self.company):
            main, supplier, customer = self.locations()
            shop = self.channel('shop', warehouse=main)
            mug, spoon = self.product("Mug"), self.product("Spoon")
            self.moves(mug, (supplier, main.storage_location, 7))
            self.moves(spoon, (supplier, main.storage_location, 5))
            gift = self.kit("Gift Set", (mug, 2), (spoon, 1))
            listing = self.listing(shop, gift, 'GIFT')
            self.assertEqual(self.levels(listing), {None: 3})

            # A component sold elsewhere lowers the kit on the next refresh.
            self.moves(mug, (main.storage_location, customer, 3))
            Level.refresh()
            self.assertEqual(self.levels(listing), {None: 2})

    @with_transaction()
    def test_stock_changes_bump_versions_of_changed_levels_only(self):
        "The change log: only levels whose quantity moved get a new version"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        Change = pool.get('oms.stock.change')
        self.company = create_company()
        with set_company(self.company):
            main, supplier, customer = self.locations()
            shop = self.channel('shop', warehouse=main)
            capped = self.channel('capped', warehouse=main, max_listed=2)
            tee = self.product("Tee")
            self.moves(tee, (supplier, main.storage_location, 10))
            shop_level, = Level.search([
                    ('listing', '=', self.listing(shop, tee, 'TEE').id)])
            capped_level, = Level.search([
                    ('listing', '=', self.listing(capped, tee, 'TEE').id)])
            self.assertEqual(
                (shop_level.quantity, shop_level.version), (10, 1))

            self.moves(tee, (main.storage_location, customer, 1),
                state='assigned')
            self.assertTrue(Change.search([]))
            Level.refresh()
            self.assertFalse(Change.search([]), "the log is consumed")
            shop_level, capped_level = Level.browse(
                [shop_level, capped_level])
            self.assertEqual(
                (shop_level.quantity, shop_level.version), (9, 2))
            self.assertEqual(
                (capped_level.quantity, capped_level.version), (2, 1))

            # Nothing logged: nothing recomputed.
            Level.refresh()
            self.assertEqual(Level(shop_level.id).version, 2)

    @with_transaction()
    def test_pending_until_the_channel_accepts_the_quantity(self):
        "Pushed levels stop being pending; a refusal keeps them pending"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        Listing = pool.get('oms.listing')
        self.company = create_company()
        with set_company(self.company):
            main, supplier, customer = self.locations()
            shop = self.channel('shop', warehouse=main)
            tee, cap = self.product("Tee"), self.product("Cap")
            self.moves(tee, (supplier, main.storage_location, 4))
            tee_listing = self.listing(shop, tee, 'TEE')
            cap_listing = self.listing(shop, cap, 'CAP')
            tee_level, = tee_listing.levels
            cap_level, = cap_listing.levels
            self.assertEqual(
                [lv.listing.sku for lv in Level.to_push(shop)],
                ['CAP', 'TEE'])

            Level.record_push(
                {tee_level: (4, 1, None)}, {cap_level: ('refused', "locked")})
            self.assertEqual(
                [lv.listing.sku for lv in Level.to_push(shop)], ['CAP'])
            self.assertEqual(
                Listing.search([('push_pending', '=', True)]), [cap_listing])
            self.assertEqual(
                (Listing(cap_listing.id).push_error,
                    Listing(cap_listing.id).push_error_details),
                ("The channel refused the quantity: see the details.",
                    "locked"))
            self.assertEqual(Level.pending_count(shop), 1)

            # An inactive listing is never pushed.
            cap_listing.active = False
            cap_listing.save()
            self.assertEqual(Level.to_push(shop), [])
            self.assertEqual(
                [lv.listing.sku for lv in Level.to_push(shop, all=True)],
                ['TEE'])

            # A sale changes the quantity: pending again, newer version.
            self.moves(tee, (main.storage_location, customer, 1))
            level, = Level.to_push(shop)
            self.assertEqual(
                (level.quantity, level.version, level.channel_quantity),
                (3, 2, 4))

    @with_transaction()
    def test_a_channel_deducting_its_sales_needs_no_push_for_them(self):
        "What the channel shows follows the sales it counted itself"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        Importer = pool.get('oms.order.importer')
        self.company = create_company(currency=create_currency('USD'))
        with set_company(self.company):
            main, supplier, _ = self.locations()
            # Shopify takes stock off for each order, gives it back when
            # cancelled.
            shop = self.channel('shop', kind='shopify', warehouse=main,
                deducts_sales='order')
            other = self.channel('other', warehouse=main)
            tee = self.product("Tee")
            self.moves(tee, (supplier, main.storage_location, 10))
            level, = self.listing(shop, tee, 'TEE').levels
            other_level, = self.listing(other, tee, 'TEE').levels
            Level.record_push(
                {level: (10, 1, None), other_level: (10, 1, None)}, {})

            def shows(status, updated_at):
                Importer.import_batch(shop, OrderBatch.model_validate({
                            'orders': [order_payload(
                                    'shop', 'W1', status=status,
                                    lines=[('TEE', 2, '20.00')],
                                    updated_at=updated_at)]}))
                Level.refresh()
                found = Level(level.id)
                return found.quantity, found.channel_quantity

            # Reserved by the ERP, taken off by the channel: nothing to
            # push there; the other channel is told.
            self.assertEqual(
                shows('pending_payment', '2026-11-11T01:00:00+00:00'),
                (8, 8))
            self.assertEqual(Level.to_push(shop), [])
            self.assertEqual(Level.to_push(other), [other_level])
            # Paid: no change.
            self.assertEqual(
                shows('awaiting_shipment', '2026-11-11T02:00:00+00:00'),
                (8, 8))
            # Cancelled: both give the goods back.
            self.assertEqual(
                shows('cancelled', '2026-11-11T03:00:00+00:00'), (10, 10))

            # A shop selling past its stock shows less than nothing: the
            # push sets it back from there. The order is held reserving
            # nothing: the 10 are still for sale.
            Importer.import_batch(shop, OrderBatch.model_validate({
                        'orders': [order_payload('shop', 'W2',
                                lines=[('TEE', 12, '20.00')])]}))
            Level.refresh()
            level = Level(level.id)
            self.assertEqual((level.quantity, level.channel_quantity),
                (10, -2))
            self.assertEqual(Level.to_push(shop), [level])

    @with_transaction()
    def test_falling_below_safety_stock_raises_one_alert_until_recovery(self):
        "The levels' refresh feeds the low-stock alerts"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        Alert = pool.get('oms.stock.alert')
        self.company = create_company()
        with set_company(self.company):
            main, supplier, customer = self.locations()
            shop = self.channel('shop', warehouse=main, safety_stock=5)
            located = self.channel('located', kind='shopify',
                warehouse=main, stock_by_location=True, safety_stock=5)
            tee = self.product("Tee")
            self.moves(tee, (supplier, main.storage_location, 6))
            self.listing(shop, tee, 'TEE')
            self.listing(located, tee, 'TEE')
            self.assertEqual(Alert.search([]), [])

            for _ in range(2):
                self.moves(tee, (main.storage_location, customer, 1))
                Level.refresh()
            # One alert for the product, however many channels list it.
            alert, = Alert.search([])
            self.assertEqual(
                (alert.kind, alert.state, alert.product, alert.quantity,
                    alert.safety_stock), ('low_stock', 'open', tee, 4, 5))

            self.moves(tee, (supplier, main.storage_location, 3))
            Level.refresh()
            self.assertEqual(Alert(alert.id).state, 'resolved')

    @with_transaction()
    def test_an_imported_kit_order_reserves_its_components(self):
        "A bundle sold on a channel takes its parts off every listing"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        Importer = pool.get('oms.order.importer')
        Sale = pool.get('sale.sale')
        self.company = create_company(currency=create_currency('USD'))
        with set_company(self.company):
            main, supplier, _ = self.locations()
            shop = self.channel('shop', warehouse=main)
            mug, spoon = self.product("Mug"), self.product("Spoon")
            self.moves(mug, (supplier, main.storage_location, 7))
            self.moves(spoon, (supplier, main.storage_location, 5))
            gift = self.kit("Gift Set", (mug, 2), (spoon, 1))
            gift_listing = self.listing(shop, gift, 'GIFT')
            mug_listing = self.listing(shop, mug, 'MUG')

            result, = Importer.import_batch(shop, OrderBatch.model_validate({
                        'orders': [order_payload('shop', 'K1',
                                lines=[('GIFT', 2, '30.00')])]}))
            Level.refresh()

            sale = Sale(result['sale_id'])
            self.assertEqual((sale.oms_state, sale.oms_exception),
                ('awaiting_shipment', False))
            shipment, = sale.shipments
            self.assertEqual(
                sorted((m.product.rec_name, m.quantity, m.state)
                    for m in shipment.inventory_moves),
                [("Mug", 4, 'assigned'), ("Spoon", 2, 'assigned')])
            self.assertEqual(self.levels(mug_listing), {None: 3})
            self.assertEqual(self.levels(gift_listing), {None: 1})

    @with_transaction()
    def test_a_sale_counted_while_a_push_was_under_way_is_kept(self):
        "The channel accepted 8, then sold 1 the ERP learnt of meanwhile"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        Change = pool.get('oms.stock.change')
        self.company = create_company()
        with set_company(self.company):
            main, supplier, _ = self.locations()
            shop = self.channel('shop', kind='shopify', warehouse=main,
                deducts_sales='order')
            tee = self.product("Tee")
            self.moves(tee, (supplier, main.storage_location, 10))
            level, = self.listing(shop, tee, 'TEE').levels
            Level.record_push({level: (10, 1, None)}, {})

            # The agent read previous 10 and pushed 8; before it
            # acknowledged, the channel's sale of 1 was imported.
            Change.record(sold={level.id: 1})
            Level.refresh()
            self.assertEqual(Level(level.id).channel_quantity, 9)
            Level.record_push({Level(level.id): (8, 2, 10)}, {})

            self.assertEqual(Level(level.id).channel_quantity, 7)

    # -- orders short of stock --------------------------------------------

    def import_orders(self, channel, *orders, status='awaiting_shipment'):
        "Import the orders, each (external id, (sku, quantity) ...); sales"
        pool = Pool()
        Importer = pool.get('oms.order.importer')
        Sale = pool.get('sale.sale')
        results = Importer.import_batch(channel, OrderBatch.model_validate({
                    'orders': [order_payload(channel.code, external_id,
                            lines=[(sku, q, '10.00') for sku, q in lines],
                            status=status)
                        for external_id, *lines in orders]}))
        return Sale.browse([r['sale_id'] for r in results])

    def reserved(self, sale):
        "The sale's goods on their way out: (product, quantity, state)"
        Sale = Pool().get('sale.sale')
        return sorted((m.product.rec_name, m.quantity, m.state)
            for sh in Sale(sale.id).shipments
            if sh.state not in {'done', 'cancelled'}
            for m in sh.inventory_moves)

    def held(self, sale):
        sale = Pool().get('sale.sale')(sale.id)
        return sale.oms_exception and sale.oms_exception_kind

    @with_transaction()
    def test_an_order_short_of_stock_is_held_reserving_nothing(self):
        "1,000 lamps ordered, 400 in stock: held, the 400 still for sale"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        Sale = pool.get('sale.sale')
        self.company = create_company(currency=create_currency('USD'))
        with set_company(self.company):
            main, supplier, _ = self.locations()
            shop = self.channel('shop', warehouse=main)
            lamp = self.product("Lamp")
            self.moves(lamp, (supplier, main.storage_location, 400))
            listing = self.listing(shop, lamp, 'LAMP')

            big, = self.import_orders(shop, ('B1', ('LAMP', 1000)))
            Level.refresh()

            self.assertEqual(self.held(big), 'insufficient_stock')
            # Tryton's partial reservation undone, its split merged back.
            self.assertEqual(self.reserved(big), [("Lamp", 1000, 'draft')])
            self.assertEqual(self.levels(listing), {None: 400})

            small, = self.import_orders(shop, ('S1', ('LAMP', 1)))
            Level.refresh()

            self.assertFalse(self.held(small))
            self.assertEqual(self.reserved(small), [("Lamp", 1, 'assigned')])
            level, = Level.to_push(shop)
            self.assertEqual(level.quantity, 400 - 1)

            # Stock arrives: reprocessing reserves the whole order.
            self.moves(lamp, (supplier, main.storage_location, 601))
            Sale.oms_reprocess([big])
            Level.refresh()

            self.assertFalse(self.held(big))
            self.assertEqual(self.reserved(big), [("Lamp", 1000, 'assigned')])
            self.assertEqual(self.levels(listing), {None: 0})

    @with_transaction()
    def test_a_channel_may_keep_partial_reservations(self):
        "For sellers who ship in parts, a short order keeps what it got"
        Level = Pool().get('oms.listing.level')
        self.company = create_company(currency=create_currency('USD'))
        with set_company(self.company):
            main, supplier, _ = self.locations()
            shop = self.channel('shop', warehouse=main,
                partial_reservation=True)
            lamp = self.product("Lamp")
            self.moves(lamp, (supplier, main.storage_location, 400))
            listing = self.listing(shop, lamp, 'LAMP')

            big, small = self.import_orders(shop,
                ('B1', ('LAMP', 1000)), ('S1', ('LAMP', 1)))
            Level.refresh()

            self.assertEqual(self.held(big), 'insufficient_stock')
            self.assertEqual(self.reserved(big),
                [("Lamp", 400, 'assigned'), ("Lamp", 600, 'draft')])
            self.assertEqual(self.held(small), 'insufficient_stock')
            self.assertEqual(self.levels(listing), {None: 0})

    @with_transaction()
    def test_one_short_line_holds_the_whole_order_reserving_nothing(self):
        "A held order keeps none of its lines; the batch's others go ahead"
        Level = Pool().get('oms.listing.level')
        self.company = create_company(currency=create_currency('USD'))
        with set_company(self.company):
            main, supplier, _ = self.locations()
            shop = self.channel('shop', warehouse=main)
            tee, mug = self.product("Tee"), self.product("Mug")
            self.moves(tee, (supplier, main.storage_location, 10))
            self.moves(mug, (supplier, main.storage_location, 5))
            tee_listing = self.listing(shop, tee, 'TEE')
            mug_listing = self.listing(shop, mug, 'MUG')

            short, other = self.import_orders(shop,
                ('M1', ('TEE', 2), ('MUG', 8)), ('M2', ('MUG', 1)))
            Level.refresh()

            self.assertEqual(self.held(short), 'insufficient_stock')
            self.assertIn("Mug", short.oms_exception_reason)
            self.assertNotIn("Tee", short.oms_exception_reason)
            self.assertEqual(self.reserved(short),
                [("Mug", 8, 'draft'), ("Tee", 2, 'draft')])
            # The mugs it let go of serve the order after it.
            self.assertFalse(self.held(other))
            self.assertEqual(self.reserved(other), [("Mug", 1, 'assigned')])
            self.assertEqual(self.levels(tee_listing), {None: 10})
            self.assertEqual(self.levels(mug_listing), {None: 4})

    @with_transaction()
    def test_a_short_order_names_each_product_once_and_shipped_is_not_held(
            self):
        """The hold reason sums a product's lines; an order the channel
        already shipped is never held for stock"""
        self.company = create_company(currency=create_currency('USD'))
        with set_company(self.company):
            main, supplier, _ = self.locations()
            shop = self.channel('shop', warehouse=main)
            mug = self.product("Mug")
            self.moves(mug, (supplier, main.storage_location, 5))
            self.listing(shop, mug, 'MUG')

            short, = self.import_orders(
                shop, ('M1', ('MUG', 4), ('MUG', 4), ('MUG', 4)))
            gone, = self.import_orders(shop, ('M2', ('MUG', 9)),
                status='shipped')

            self.assertEqual(self.held(short), 'insufficient_stock')
            reason = Pool().get('sale.sale')(short.id).oms_exception_reason
            self.assertEqual(reason.count("Mug"), 1, reason)
            self.assertIn("Mug × 7", reason)  # what 5 leave short of 12
            self.assertFalse(self.held(gone))

    @with_transaction()
    def test_a_short_order_shipped_from_storage_gets_its_move_whole(self):
        "Without inventory moves, the outgoing move split is merged back"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        Sale = pool.get('sale.sale')
        self.company = create_company(currency=create_currency('USD'))
        with set_company(self.company):
            main, supplier, _ = self.locations()
            main.output_location = main.storage_location
            main.save()
            shop = self.channel('shop', warehouse=main)
            mug = self.product("Mug")
            self.moves(mug, (supplier, main.storage_location, 5))
            listing = self.listing(shop, mug, 'MUG')

            short, = self.import_orders(shop, ('O1', ('MUG', 8)))
            Level.refresh()

            self.assertEqual(self.held(short), 'insufficient_stock')
            shipment, = Sale(short.id).shipments
            self.assertEqual(
                [(m.quantity, m.state, m.from_location)
                    for m in shipment.outgoing_moves],
                [(8, 'draft', main.storage_location)])
            self.assertEqual(self.levels(listing), {None: 5})
