"""Stock alerts: one per product (or listing) and warehouse until it
recovers, e-mailed to the staff once the transaction opening it commits."""
from unittest.mock import patch

from sql import Column, Null
from sql.conditionals import Coalesce

import trytond.config as config
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    TestCase,
    activate_module,
    drop_db,
    with_transaction,
)
from trytond.transaction import Transaction

from harness.mailbox import smtp_inbox
from oms_connector.tests.records import committed, create_goods


class _ModuleDatabase:
    "A database with oms_connector activated, for this class's tests only"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module('oms_connector')

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        drop_db()

    def _product(self, name):
        return create_goods(name)

    def _warehouse(self):
        Location = Pool().get('stock.location')
        warehouse, = Location.search([('type', '=', 'warehouse')])
        return warehouse

    def _listing(self, company, product, sku):
        pool = Pool()
        Channel = pool.get('oms.channel')
        Listing = pool.get('oms.listing')
        channel = Channel(name="Shop", code=sku.lower(), company=company,
            currency=company.currency)
        channel.save()
        listing = Listing(channel=channel, product=product, sku=sku)
        listing.save()
        return listing


class StockAlertTestCase(_ModuleDatabase, TestCase):
    "Test stock alerts open and clear"

    @with_transaction()
    def test_low_stock_opens_one_alert_until_the_stock_recovers(self):
        "Readings below the safety stock open one alert, recovery clears it"
        Alert = Pool().get('oms.stock.alert')
        company = create_company()
        with set_company(company):
            kettle = self._product("Kettle")
            warehouse = self._warehouse()
            key = (kettle.id, warehouse.id)

            Alert.check_low_stock({key: (3, 5)})

            alert, = Alert.search([])
            self.assertEqual(
                (alert.kind, alert.state, alert.product, alert.warehouse,
                    alert.company, alert.quantity, alert.safety_stock,
                    alert.expected),
                ('low_stock', 'open', kettle, warehouse, company, 3, 5, None))
            self.assertEqual(alert.message,
                f"Kettle: 3 available in {warehouse.rec_name}, "
                "below the safety stock of 5.")
            self.assertIsNone(alert.notified_at)  # nobody configured

            with patch.object(Alert, 'search', wraps=Alert.search) as search:
                Alert.check_low_stock({key: (3, 5)})
                Alert.check_low_stock({key: (4, 5)})
            self.assertEqual(search.call_count, 2)
            self.assertEqual(Alert.search([]), [alert])
            self.assertIsNone(Alert(alert.id).write_date)

            Alert.check_low_stock({key: (1, 5)})
            alert = Alert(alert.id)
            self.assertEqual((alert.state, alert.quantity), ('open', 1))
            self.assertIn("1 available", alert.message)

            Alert.check_low_stock({key: (5, 5)})
            alert = Alert(alert.id)
            self.assertEqual(alert.state, 'resolved')
            self.assertTrue(alert.resolved_at)
            self.assertTrue(alert.cleared)

            Alert.check_low_stock({key: (6, 5)})
            Alert.check_low_stock({key: (2, 5)})
            new, old = Alert.search([])
            self.assertEqual(old, alert)
            self.assertEqual((new.state, new.quantity), ('open', 2))

    @with_transaction()
    def test_each_product_and_warehouse_has_its_own_alert(self):
        "Keys differing by product or warehouse alert separately"
        Alert = Pool().get('oms.stock.alert')
        company = create_company()
        with set_company(company):
            kettle, toaster = self._product("Kettle"), self._product("Toaster")
            warehouse = self._warehouse()

            Alert.check_low_stock({
                    (kettle.id, warehouse.id): (0, 2),
                    (kettle.id, None): (1, 2),
                    (toaster.id, warehouse.id): (9, 2),
                    (toaster.id, None): (0, None),  # no safety stock
                    })

            self.assertEqual(
                {(a.product, a.warehouse, a.quantity)
                    for a in Alert.search([])},
                {(kettle, warehouse, 0), (kettle, None, 1)})
            by_warehouse, = Alert.search([('warehouse', '=', None)])
            self.assertEqual(by_warehouse.message,
                "Kettle: 1 available, below the safety stock of 2.")

    @with_transaction()
    def test_staff_resolving_opens_nothing_until_recovery(self):
        "An alert staff resolve stays the product's until its stock recovers"
        Alert = Pool().get('oms.stock.alert')
        company = create_company()
        with set_company(company):
            kettle = self._product("Kettle")
            key = (kettle.id, None)
            Alert.check_low_stock({key: (3, 5)})
            alert, = Alert.search([])

            Alert.resolve([alert])
            Alert.check_low_stock({key: (2, 5)})

            alert, = Alert.search([])
            self.assertEqual(
                (alert.state, alert.cleared, alert.quantity),
                ('resolved', False, 3))

            Alert.check_low_stock({key: (5, 5)})
            self.assertTrue(Alert(alert.id).cleared)
            Alert.check_low_stock({key: (4, 5)})
            self.assertEqual(
                [a.state for a in Alert.search([])], ['open', 'resolved'])

    @with_transaction()
    def test_drift_opens_one_alert_until_in_step(self):
        "A level drifted opens one alert per listing and warehouse"
        Alert = Pool().get('oms.stock.alert')
        company = create_company()
        with set_company(company):
            listing = self._listing(company, self._product("Kettle"), 'KET')
            warehouse = self._warehouse()
            drift = {'listing': listing, 'warehouse': warehouse,
                'expected': 5, 'found': 7}

            Alert.report_drift([drift])
            Alert.report_drift([drift])
            Alert.report_drift([dict(drift, warehouse=None, found=None)])

            alert, untracked = Alert.search([], order=[('id', 'ASC')])
            self.assertEqual(
                (alert.kind, alert.state, alert.listing, alert.channel,
                    alert.product, alert.company, alert.quantity,
                    alert.expected, alert.safety_stock),
                ('drift', 'open', listing, listing.channel, listing.product,
                    company, 7, 5, None))
            self.assertEqual(alert.message,
                f"Shop shows 7 of KET (Kettle) in {warehouse.rec_name} "
                "after accepting a push: the ERP expected 5.")
            self.assertEqual(untracked.message,
                "Shop shows no quantity of KET (Kettle) after accepting a "
                "push: the ERP expected 5.")

            Alert.report_drift([dict(drift, found=8)])
            self.assertEqual(Alert(alert.id).quantity, 8)

            Alert.resolve_drift([(listing, warehouse)])
            Alert.resolve_drift([(listing.id, warehouse.id)])
            self.assertEqual(
                [(a.state, a.cleared) for a in Alert.browse(
                        [alert.id, untracked.id])],
                [('resolved', True), ('open', False)])

            Alert.report_drift([drift])
            self.assertEqual(len(Alert.search([('state', '=', 'open')])), 2)

    @with_transaction()
    def test_an_older_alert_keeps_what_its_threshold_meant(self):
        """Updated from 8.0.0, where one Threshold held both: a low-stock
        alert's becomes its safety stock, a drift alert's its expected"""
        Alert = Pool().get('oms.stock.alert')
        company = create_company()
        with set_company(company):
            kettle = self._product("Kettle")
            Alert.check_low_stock({(kettle.id, None): (1, 3)})
            Alert.report_drift([{'listing': self._listing(company, kettle,
                            'KET'), 'warehouse': None,
                        'expected': 5, 'found': 7}])
        table_h = Alert.__table_handler__()
        table_h.add_column('threshold', 'INTEGER')
        table = Alert.__table__()
        Transaction().connection.cursor().execute(*table.update(
                [Column(table, 'threshold'), table.safety_stock,
                    table.expected],
                [Coalesce(table.safety_stock, table.expected), Null, Null]))

        Alert.__register__('oms_connector')

        self.assertEqual(
            [(a.kind, a.safety_stock, a.expected) for a in Alert.search(
                    [], order=[('id', 'ASC')])],
            [('low_stock', 3, None), ('drift', None, 5)])
        self.assertFalse(table_h.column_exist('threshold'))

    @with_transaction()
    def test_oms_users_read_and_resolve_alerts(self):
        "OMS users see alerts and resolve them, but do not edit them"
        pool = Pool()
        Alert = pool.get('oms.stock.alert')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        with set_company(company):
            kettle = self._product("Kettle")
            Alert.check_low_stock({(kettle.id, None): (0, 1)})
            clerk = User(login='clerk', name="Clerk",
                companies=[company], company=company,
                groups=[ModelData.get_id('oms_connector', 'group_oms')])
            clerk.save()

        transaction = Transaction()
        with transaction.set_user(clerk.id), \
                transaction.set_context(_check_access=True,
                    company=company.id):
            alert, = Alert.search([('state', '=', 'open')])
            with self.assertRaises(AccessError):
                Alert.write([alert], {'quantity': 1})
            Alert.resolve([alert])

        self.assertEqual(Alert(alert.id).state, 'resolved')


class StockAlertEmailTestCase(_ModuleDatabase, TestCase):
    """Test stock alerts reach the staff through Tryton's SMTP settings when
    the transaction commits (these tests commit: the class drops its
    database afterwards)"""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.inbox = cls.enterClassContext(smtp_inbox())
        uri = config.get('email', 'uri')
        config.set('email', 'uri', cls.inbox.uri)
        cls.addClassCleanup(config.set, 'email', 'uri', uri)

    def setUp(self):
        super().setUp()
        self.inbox.take()

    committed = staticmethod(committed)

    def _world(self, products, recipients=("Ann", "Bob"), email=True):
        """A company, its products and the staff configured to hear of
        alerts (and one without an e-mail address); the company's context
        and the products' ids"""
        pool = Pool()
        User = pool.get('res.user')
        Configuration = pool.get('oms.configuration')
        company = create_company()
        users = []
        for name in [*recipients, None]:
            login = name.lower() if name else f'nomail{company.id}'
            user, = User.search([('login', '=', login)]) or [User(
                    login=login, name=name or "No Mail",
                    email=f'{login}@example.com' if name else None)]
            users.append(user)
        User.save(users)
        configuration = Configuration(1)
        Configuration.write([configuration], {
                'stock_alert_email': email,
                'stock_alert_recipients': [
                    ('remove', [
                            u.id for u in configuration.stock_alert_recipients
                            if u not in users]),
                    ('add', [u.id for u in users]),
                    ],
                })
        with set_company(company):
            products = [self._product(name) for name in products]
        return ({'company': company.id, 'companies': [company.id]},
            [p.id for p in products])

    def _clear_recipients(self):
        Configuration = Pool().get('oms.configuration')
        configuration = Configuration(1)
        Configuration.write([configuration], {
                'stock_alert_recipients': [('remove', [
                            u.id for u in
                            configuration.stock_alert_recipients])],
                })

    def check_low_stock(self, readings):
        Pool().get('oms.stock.alert').check_low_stock(readings)

    def alerts(self, state='open'):
        Alert = Pool().get('oms.stock.alert')
        return [(a.product.rec_name, a.quantity, bool(a.notified_at))
            for a in Alert.search([
                    ('company', '=', Transaction().context['company']),
                    ('state', '=', state),
                    ])]

    def test_new_alert_is_mailed_once_on_commit(self):
        "Staff get one message when an alert opens, none while it stays"
        context, (kettle,) = self.committed(self._world, ["Kettle"])

        self.committed(self.check_low_stock, {(kettle, None): (3, 5)},
            context=context)

        (to, message), = self.inbox.take()
        self.assertEqual(to, ['ann@example.com', 'bob@example.com'])
        self.assertEqual(
            message['To'].addresses[0].addr_spec, 'ann@example.com')
        self.assertEqual(message['From'], config.get('email', 'from'))
        self.assertEqual(
            message['Subject'], "Low stock: Kettle (3 left, safety stock 5)")
        body = message.get_content().replace('\r\n', '\n')
        self.assertIn(
            "- Kettle: 3 available, below the safety stock of 5.\n", body)
        self.assertRegex(body,
            r"Opened \d{4}-\d\d-\d\d \d\d:\d\d UTC: "
            r"http\S+/model/oms\.stock\.alert/\d+")
        self.assertEqual(self.committed(self.alerts, context=context),
            [("Kettle", 3, True)])

        for available in [3, 1, 5, 9]:
            self.committed(self.check_low_stock,
                {(kettle, None): (available, 5)}, context=context)
        self.assertEqual(self.inbox.take(), [])

        self.committed(self.check_low_stock, {(kettle, None): (2, 5)},
            context=context)
        (_, message), = self.inbox.take()
        self.assertEqual(
            message['Subject'], "Low stock: Kettle (2 left, safety stock 5)")

        self.committed(self._clear_recipients)
        self.committed(self.check_low_stock, {(kettle, None): (9, 5)},
            context=context)
        self.committed(self.check_low_stock, {(kettle, None): (0, 5)},
            context=context)
        self.assertEqual(self.inbox.take(), [])
        self.assertEqual(self.committed(self.alerts, context=context),
            [("Kettle", 0, False)])

    def test_alerts_opened_together_share_a_message(self):
        "A batch of new alerts is one message listing each"
        context, (kettle, toaster, fan) = self.committed(
            self._world, ["Kettle", "Toaster", "Fan"], ["Cy"])

        self.committed(self.check_low_stock, {
                (kettle, None): (0, 5),
                (toaster, None): (1, 2),
                (fan, None): (8, 2),
                }, context=context)

        (to, message), = self.inbox.take()
        self.assertEqual(to, ['cy@example.com'])
        self.assertEqual(message['Subject'], "Stock alerts: 2 new")
        body = message.get_content()
        self.assertIn("Kettle: 0 available", body)
        self.assertIn("Toaster: 1 available", body)
        self.assertNotIn("Fan", body)

    def test_drift_is_mailed(self):
        "A channel showing another quantity than it accepted is mailed"
        context, (kettle,) = self.committed(self._world, ["Kettle"], ["Di"])

        def drift():
            pool = Pool()
            Product = pool.get('product.product')
            Alert = pool.get('oms.stock.alert')
            company = pool.get('company.company')(context['company'])
            listing = self._listing(company, Product(kettle), 'KT')
            Alert.report_drift([{'listing': listing, 'warehouse': None,
                        'expected': 4, 'found': 6}])
        self.committed(drift, context=context)

        (to, message), = self.inbox.take()
        self.assertEqual(to, ['di@example.com'])
        self.assertEqual(message['Subject'],
            "Channel drift: Kettle on Shop (shows 6, expected 4)")
        self.assertIn("- Shop shows 6 of KT (Kettle) after accepting a push: "
            "the ERP expected 4.", message.get_content())

    def test_rolled_back_alert_sends_nothing(self):
        "No mail for an alert whose transaction does not commit"
        context, (kettle,) = self.committed(self._world, ["Kettle"])

        def rolled_back():
            self.check_low_stock({(kettle, None): (0, 5)})
            Transaction().rollback()
        self.committed(rolled_back, context=context)

        self.assertEqual(self.inbox.take(), [])
        self.assertEqual(self.committed(self.alerts, context=context), [])

    def test_mail_switched_off_still_records(self):
        "With e-mail off, the alert is recorded and nobody is mailed"
        context, (kettle,) = self.committed(
            self._world, ["Kettle"], email=False)

        self.committed(self.check_low_stock, {(kettle, None): (0, 5)},
            context=context)

        self.assertEqual(self.inbox.take(), [])
        self.assertEqual(self.committed(self.alerts, context=context),
            [("Kettle", 0, False)])
