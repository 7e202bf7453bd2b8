"""The reports' short-lived row cache (models/reporting/cache.py): cached
rows are the computed ones, kept per report, filters, company and user,
forgotten after the TTL; on PostgreSQL, read-only calls (the client's)
keep them for the next calls, and concurrent first calls compute once."""
import datetime as dt
import threading
import time
import unittest
from decimal import Decimal
from unittest.mock import patch

from trytond import backend
from trytond.modules.company.tests import create_company
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, with_transaction
from trytond.transaction import Transaction

from oms_connector.models.reporting import cache
from oms_connector.tests.records import ShopWorld
from oms_connector.tests.test_sale_reporting import (
    OCTOBER,
    SaleReportingTestCase,
)

D = dt.date
# The cache in the test's own (writable) transaction
CACHED = {'_oms_report_cache': True}


def cached_reports(pool) -> list[str]:
    return sorted(name for name, model in pool.iterobject()
        if isinstance(model, type)
        and issubclass(model, cache.ReportCacheMixin))


def breakdowns(pool, name) -> list[dict]:
    "A context per value of the report's breakdown, if it has one"
    Window = pool.get('ir.action.act_window')
    for window in Window.search([('res_model', '=', name)]):
        Context = pool.get(window.context_model) if window.context_model \
            else None
        if Context and 'breakdown' in Context._fields:
            return [{'breakdown': value}
                for value, _ in Context.get_breakdowns()]
    return [{}]


class ReportCacheTestCase(ShopWorld, unittest.TestCase):
    "The reports' row cache, on the sales world of the sales reports"

    maxDiff = None

    make_world = SaleReportingTestCase.make_world
    customer = SaleReportingTestCase.customer
    sale = SaleReportingTestCase.sale
    return_sale = SaleReportingTestCase.return_sale

    def setUp(self):
        super().setUp()
        cache._used.clear()

    def rows(self, name, **context):
        "The report's rows as the client lists them: searched, then read"
        Report = Pool().get(name)
        with Transaction().set_context(company=self.company.id, **context):
            ids = [r.id for r in Report.search([])]
            names = [n for n, f in Report._fields.items()
                if f._type not in {'one2many', 'many2many', 'binary'}]
            rows = Report.read(ids, names)
            for row in rows:
                # What a read adds from the moment, not from the rows
                row.pop('create_date', None)
            # The ids in the list's order; the rows, read in any
            return ids, sorted(rows, key=lambda row: row['id'])

    def forget_used(self):
        "As the next call's transaction would: the rows used so far gone"
        cache._used.clear()

    @with_transaction()
    def test_every_report_but_the_cheap_one_is_cached(self):
        pool = Pool()
        self.setup_world()
        names = cached_reports(pool)
        self.assertEqual(len(names), 10)
        self.assertNotIn('oms.reporting.stock.channel', names)
        with Transaction().set_context(company=self.company.id, **CACHED):
            for name in names:
                Report = pool.get(name)
                # Its columns are named: the kept rows are read by name
                self.assertTrue(
                    Report._report_cached(Report.report_query()), name)

    @with_transaction()
    def test_cached_rows_are_the_computed_rows(self):
        "Computed, cached on the first call, read back on the next"
        pool = Pool()
        self.setup_world()
        for name in cached_reports(pool):
            for extra in breakdowns(pool, name):
                context = {**OCTOBER, 'period': 'week', **extra}
                with self.subTest(report=name, **extra):
                    computed = self.rows(name, **context)
                    first = self.rows(name, **context, **CACHED)
                    self.forget_used()
                    kept = self.rows(name, **context, **CACHED)
                    self.assertEqual(first, computed)
                    self.assertEqual(kept, computed)
        Cache = pool.get('oms.reporting.cache')
        self.assertTrue(Cache.search([]))

    @with_transaction()
    def test_kept_rows_are_read_until_they_expire(self):
        pool = Pool()
        Cache = pool.get('oms.reporting.cache')
        self.setup_world()

        def shop_sales():
            _, rows = self.rows('oms.reporting.sale', breakdown='channel',
                **OCTOBER, **CACHED)
            return {r['orders'] for r in rows if r['channel'] == shop}
        shop = self.channel.id
        self.assertEqual(shop_sales(), {2})
        # A sale made since: not in the kept rows
        self.sale(D(2026, 10, 5), self.customer("Erin", None),
            [(self.tee, 1, 10)])
        self.forget_used()
        self.assertEqual(shop_sales(), {2})
        # Older than the TTL: computed again
        table = Cache.__table__()
        Transaction().connection.cursor().execute(*table.update(
                [table.created],
                [cache.now() - dt.timedelta(seconds=cache.ttl() + 1)]))
        self.forget_used()
        self.assertEqual(shop_sales(), {3})
        # Expired rows go when new ones are kept: one set per key left
        self.assertEqual(len(Cache.search([])), 1)

    @with_transaction()
    def test_no_ttl_no_cache(self):
        pool = Pool()
        Cache = pool.get('oms.reporting.cache')
        self.setup_world()
        with patch.object(cache, 'ttl', return_value=0):
            self.rows('oms.reporting.sale', **OCTOBER, **CACHED)
        self.assertEqual(Cache.search([]), [])

    @with_transaction()
    def test_writing_transactions_compute(self):
        "A transaction that writes sees its changes: no cache for it"
        pool = Pool()
        Cache = pool.get('oms.reporting.cache')
        self.setup_world()
        self.rows('oms.reporting.sale', **OCTOBER)
        self.assertEqual(Cache.search([]), [])

    @with_transaction()
    def test_nobody_reads_the_kept_rows_through_the_model(self):
        "Only the reports' SQL reads them, each its own key's"
        ModelAccess = Pool().get('ir.model.access')
        with Transaction().set_context(_check_access=True):
            for mode in ['read', 'write', 'create', 'delete']:
                self.assertFalse(ModelAccess.check('oms.reporting.cache',
                        mode, raise_exception=False), mode)

    @with_transaction()
    def test_kept_per_filters(self):
        self.setup_world()
        by_channel = self.rows('oms.reporting.sale', breakdown='channel',
            **OCTOBER, **CACHED)
        by_product = self.rows('oms.reporting.sale', breakdown='product',
            **OCTOBER, **CACHED)
        september = self.rows('oms.reporting.sale', breakdown='channel',
            from_date=D(2026, 9, 1), to_date=D(2026, 9, 30), **CACHED)
        self.forget_used()
        self.assertEqual(self.rows('oms.reporting.sale', breakdown='channel',
                **OCTOBER), by_channel)
        self.assertEqual(self.rows('oms.reporting.sale', breakdown='product',
                **OCTOBER), by_product)
        self.assertNotEqual(by_channel, by_product)
        self.assertEqual(
            [r['amount'] for r in september[1]], [Decimal('10.00')])

    @with_transaction()
    def test_kept_per_company_and_user(self):
        "Another company or user never reads the rows kept for one"
        pool = Pool()
        User = pool.get('res.user')
        Report = pool.get('oms.reporting.customer')
        self.setup_world()
        ids, _ = self.rows('oms.reporting.customer', **OCTOBER, **CACHED)
        self.assertEqual(len(ids), 3)
        other = create_company("Other Shop")
        admin = User(Transaction().user)
        User.write([admin], {'companies': [('add', [other.id])]})
        with Transaction().set_context(company=other.id, **OCTOBER,
                **CACHED):
            self.assertEqual(Report.search([]), [])
            other_key = Report._report_cache_key()
        with Transaction().set_context(company=self.company.id, **OCTOBER):
            key = Report._report_cache_key()
            clerk, = User.create([{'name': "Clerk", 'login': 'clerk'}])
            with Transaction().set_user(clerk.id):
                clerk_key = Report._report_cache_key()
            # The client's bookkeeping is not a filter
            with Transaction().set_context(context_model='x', client='y',
                    _request={'x': 1}):
                self.assertEqual(Report._report_cache_key(), key)
        self.assertEqual(len({key, other_key, clerk_key}), 3)


@unittest.skipUnless(backend.name == 'postgresql', "PostgreSQL's read-only "
    "transactions keep the rows through a connection of their own")
class ReportCachePostgreSQLTestCase(ShopWorld, unittest.TestCase):
    "The client's read-only calls, each in its own transaction"

    make_world = SaleReportingTestCase.make_world
    customer = SaleReportingTestCase.customer
    sale = SaleReportingTestCase.sale
    return_sale = SaleReportingTestCase.return_sale

    def call(self, func, **context):
        "func in a read-only transaction of its own, as an RPC call runs"
        with Transaction().start(DB_NAME, 1, readonly=True, context={
                    'company': self._world[1]['company'].id, **OCTOBER,
                    **context}):
            return func(Pool().get('oms.reporting.customer'))

    def tearDown(self):
        with Transaction().start(DB_NAME, 1) as transaction:
            table = Pool().get('oms.reporting.cache').__table__()
            transaction.connection.cursor().execute(*table.delete())
            transaction.commit()
        super().tearDown()

    def test_later_calls_read_what_the_first_kept(self):
        ids = self.call(lambda Report: [r.id for r in Report.search([])])
        self.assertEqual(self.call(lambda Report: Report.search_count([])),
            len(ids))
        with patch.object(cache.ReportCache, '_compute',
                side_effect=AssertionError("computed again")):
            rows = self.call(lambda Report: Report.read(ids, ['customer']))
        self.assertEqual(len(rows), 3)

    def test_concurrent_first_calls_compute_once(self):
        computed = []
        compute = cache.ReportCache._compute.__func__

        def slow(cls, query, *args):
            computed.append(query)
            time.sleep(0.5)
            return compute(cls, query, *args)
        found, errors = [], []

        def open_report():
            try:
                found.append(self.call(
                        lambda Report: [r.id for r in Report.search([])]))
            except Exception as e:  # reported by the assertion below
                errors.append(e)
        with patch.object(cache.ReportCache, '_compute', classmethod(slow)):
            threads = [threading.Thread(target=open_report)
                for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(computed), 1)
        self.assertEqual(len(found), 3)
        self.assertEqual(found[0], found[1])
