"""What the test runs change in Tryton's test tools: work they repeat that
changes nothing, and the PostgreSQL copy of the cached database made by
the harness (see conftest.py, which applies them)."""
import functools
from unittest.mock import patch

import trytond.tools
import trytond.tools.misc
from trytond import backend
from trytond.pool import Pool
from trytond.transaction import Transaction, TransactionError

from harness.databases import TRYTON_CACHES


def look_modules_up_once():
    """Tryton finds a module by its entry point anew at every call, a scan
    of every installed package's entry points; ModuleTestCase makes some
    80,000 such calls (about 20 s a run). Within a run the answer never
    changes."""
    lookup = functools.cache(trytond.tools.misc.import_module)
    trytond.tools.misc.import_module = trytond.tools.import_module = lookup


# The tables the module's tests lock (Tryton's stock reservation, sale
# processing, the OMS configuration's sequences)
LOCKED_BY_TESTS = ('stock_move', 'sale_sale', 'oms_configuration')


def lock_up_front():
    """Tryton takes a lock by running the whole transaction again with the
    table locked from its start; Tryton's `with_transaction` runs the test
    again. The module's tests lock the same few tables: about 110 tests ran
    twice up to their first reservation (a third of the module tests' time).
    Here each test's transaction starts with them locked. Applied before
    the test modules are imported (they decorate at import)."""
    import trytond.tests.test_tryton as test_tryton
    from trytond.cache import Cache

    def with_transaction(user=1, context=None):
        def decorator(func):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                extras = {'_lock_tables': list(LOCKED_BY_TESTS)}
                while True:
                    with Transaction().start(test_tryton.DB_NAME, user,
                            context=context, **extras) as transaction:
                        try:
                            return func(*args, **kwargs)
                        except TransactionError as e:
                            # Another lock: as Tryton's does
                            transaction.rollback()
                            transaction.tasks.clear()
                            e.fix(extras)
                        finally:
                            transaction.rollback()
                            transaction.tasks.clear()
                            Cache.drop(test_tryton.DB_NAME)
            return wrapper
        return decorator

    test_tryton.with_transaction = with_transaction


def restore_keeping_the_pool(cache):
    """Each test class and scenario restores the same cached database, and
    Tryton then builds its pool of classes again (3 s each time, some 18
    times a run). The database is the same copy with the same modules: the
    classes built the first time serve again.

    On PostgreSQL the copy is made here: Tryton would look for its
    template in its list of databases, which it makes by connecting to
    each one (also to the template another worker is copying then) and
    keeps for the session timeout (missing what was made meanwhile). The
    harness's templates are marked as such, out of those lists."""
    # Imported here: Tryton's test tools read the environment when first
    # imported, which the caller sets first
    import trytond.tests.test_tryton as test_tryton
    import trytond.tests.tools as test_tools

    restore, kept = test_tryton.restore_db_cache, {}

    def restore_db_cache(cache_name):
        database = test_tryton.DB_NAME
        copy = restore_postgresql if cache.postgresql else restore
        if cache_name not in kept:
            restored = copy(cache_name)
            if restored:
                kept[cache_name] = (
                    Pool._pools[database], Pool._pool_modules[database])
            return restored

        def init(pool, *args, **kwargs):
            with Pool._lock:
                pool._pool, pool._modules = kept[cache_name]
                Pool._pools[database] = pool._pool
                Pool._pool_modules[database] = pool._modules
                Pool._pool_instances.clear()
                Pool._pool_instances.add(pool)
                pool.ready = True
        with patch.object(Pool, 'init', init):
            return copy(cache_name)

    def restore_postgresql(cache_name):
        template = cache.tryton_template(cache_name)
        if template is None:
            return False
        cache.copy(template, None, test_tryton.DB_NAME)
        backend.Database.clear_cache()  # the list of databases it keeps
        Pool(test_tryton.DB_NAME).init()
        return True

    backup = test_tryton.backup_db_cache

    def backup_db_cache(cache_name):
        # What the harness seeded is its own (on PostgreSQL, a template
        # Tryton's list leaves out: it would try to make it again)
        if cache_name not in TRYTON_CACHES:
            backup(cache_name)

    test_tryton.restore_db_cache = restore_db_cache
    test_tools.restore_db_cache = restore_db_cache
    test_tryton.backup_db_cache = backup_db_cache
    test_tools.backup_db_cache = backup_db_cache
