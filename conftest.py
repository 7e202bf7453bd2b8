"""What every test run shares: the backend (SQLite unless
TRYTOND_DATABASE_URI names PostgreSQL) and its databases, built once per
module source (harness.databases), and the `database` marker.

A test is marked `database` when it touches the database: the module's
own tests (oms_connector/tests, run in-process by Tryton's test tools) and
every test using the session's trytond (the `erp_server` fixture, through
any fixture of tests/conftest.py). `pytest -m database` is what the
PostgreSQL leg runs; the others (agent, sandbox, mappings) run once.
"""
import os
from pathlib import Path

import pytest
from _pytest.unittest import TestCaseFunction

from harness.databases import Cache, cache_root, database_uri, is_postgresql
from harness.tryton_tests import (
    lock_up_front,
    look_modules_up_once,
    restore_keeping_the_pool,
)

MODULE_TESTS = Path(__file__).resolve().parent / 'oms_connector' / 'tests'
ERP_FIXTURE = 'erp_server'

# Tryton's test tools read these when first imported (by the test modules,
# after this file): they restore the database the harness builds.
_cache = Cache(cache_root(), database_uri())
os.environ.setdefault('DB_CACHE', _cache.tryton_db_cache)
if is_postgresql(_cache.uri):
    os.environ.setdefault('DB_NAME', 'test_oms')
    if worker := os.environ.get('PYTEST_XDIST_WORKER'):
        # One working database for each process of a parallel run (the
        # controller's name came with the environment)
        os.environ['DB_NAME'] = f"{os.environ['DB_NAME']}_{worker}"
look_modules_up_once()
lock_up_front()


def _report_failed_subtests_only(add_subtest):
    """ModuleTestCase checks every model and field in a subtest (some
    23,000): reporting each one passed cost more than running it, above
    all across xdist's workers. Failures are reported as before."""
    def add_failed_subtest(self, test_case, test, exc_info):
        if exc_info is not None:
            add_subtest(self, test_case, test, exc_info)
    return add_failed_subtest


TestCaseFunction.addSubTest = _report_failed_subtests_only(
    TestCaseFunction.addSubTest)


def pytest_configure(config):
    config.addinivalue_line('markers',
        "database: touches the database (run on every backend)")
    config.addinivalue_line('markers',
        "browser: drives Tryton's web client in Chromium (SQLite leg)")
    config.addinivalue_line('markers',
        "one_backend: the agents' own behaviour end to end, whose ERP "
        "side other tests cover on each backend (SQLite leg)")


def touches_database(item):
    return (MODULE_TESTS in item.path.parents
        or ERP_FIXTURE in getattr(item, 'fixturenames', ()))


def pytest_itemcollected(item):
    # Before -m selects: marked as collected
    if touches_database(item):
        item.add_marker(pytest.mark.database)


# Longest first, so that no worker is left alone with a long test at the
# end: the scenarios, the end-to-end syncs (*_e2e.py) and the browser
# tests, then the other tests touching the database, then the rest
# (seconds in all).
def _cost_rank(item):
    if (item.path.name == 'test_scenario.py'
            or item.path.stem.endswith('_e2e')
            or item.get_closest_marker('browser')):
        return 0
    return 1 if item.get_closest_marker('database') else 2


def pytest_collection_modifyitems(config, items):
    items.sort(key=_cost_rank)  # stable: files keep their order


def pytest_xdist_make_scheduler(config, log):
    """Parallel runs (-n, --dist loadscope) keep a module's or a class's
    tests on one worker, in the order above; each scenario is a unit of
    its own (each restores its own database)"""
    if config.option.dist != 'loadscope':
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            if '/test_scenario.py::' in nodeid:
                return nodeid
            return super()._split_scope(nodeid)

    config.option.loadscopereorder = False
    return Scheduling(config, log)


def pytest_collection_finish(session):
    "Build the base database once, before the first test restores it"
    if any(item.get_closest_marker('database') for item in session.items):
        _cache.seed_tryton()
        restore_keeping_the_pool(_cache)
