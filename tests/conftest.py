"""Fixtures of the end-to-end tests: a real trytond process on loopback
serving a database with the module activated (SQLite by default,
PostgreSQL when TRYTOND_DATABASE_URI says so)."""
import os
from pathlib import Path

import pytest

from oms_connector.tests import server
from sync_agent.erp import ErpClient

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get('OMS_E2E_CACHE', ROOT / '.cache' / 'e2e'))


@pytest.fixture(scope='session')
def erp(tmp_path_factory):
    "A running ERP: .url, .database, .keys (the world's API keys)"
    uri = server.database_uri()
    template, world = server.cached_database(
        CACHE, 'oms_connector.tests.tools.e2e_world', uri)
    directory = tmp_path_factory.mktemp('erp')
    database = f'oms_e2e_{os.getpid()}'
    server.copy_database(uri, CACHE, template, directory, database)
    with server.Server(directory, database, uri) as running:
        running.world = world
        yield running
    server.drop_database(uri, directory, database)


@pytest.fixture
def shop(erp):
    "The ERP client of the agent that owns channel 'shop'"
    return ErpClient(erp.url, erp.database, erp.world['shop_key'])
