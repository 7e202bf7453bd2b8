"""Fixtures of the end-to-end tests: a real trytond process on loopback
serving a database with the module activated (SQLite by default,
PostgreSQL when TRYTOND_DATABASE_URI says so)."""
import os
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from oms_connector.tests import server
from oms_connector.tests.mailbox import Inbox
from sandbox import Sandbox
from sync_agent.erp import ErpClient

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get('OMS_E2E_CACHE', ROOT / '.cache' / 'e2e'))


def running_erp(tmp_path_factory, world, extra=None):
    """A trytond serving a fresh copy of the world's cached database; its
    .world is what the world's function returned (keys, ids); extra adds
    trytond.conf sections"""
    uri = server.database_uri()
    template, answer = server.cached_database(
        CACHE, f'oms_connector.tests.tools.{world}', uri)
    directory = tmp_path_factory.mktemp('erp')
    database = f'oms_{world}_{os.getpid()}'
    server.copy_database(uri, CACHE, template, directory, database)
    with server.Server(directory, database, uri, extra=extra) as running:
        running.world = answer
        yield running
    server.drop_database(uri, directory, database)


@pytest.fixture(scope='session')
def erp(tmp_path_factory):
    "A running ERP: .url, .database, .world (the world's API keys)"
    yield from running_erp(tmp_path_factory, 'e2e_world')


@pytest.fixture
def shop(erp):
    "The ERP client of the agent that owns channel 'shop'"
    return ErpClient(erp.url, erp.database, erp.world['shop_key'])


@pytest.fixture(scope='module')
def sync_erp(tmp_path_factory):
    "A running ERP with the sandbox marketplace's channels (sync_world)"
    yield from running_erp(tmp_path_factory, 'sync_world')


@pytest.fixture(scope='module')
def race_erp(tmp_path_factory):
    "A running ERP whose channels sell a product with few units left"
    yield from running_erp(tmp_path_factory, 'race_world')


@pytest.fixture(scope='module')
def inbox():
    "A local SMTP server keeping what it receives: .wait(), .take()"
    inbox = Inbox()
    controller = Controller(
        inbox, hostname='127.0.0.1', port=server.free_port())
    controller.start()
    inbox.uri = f'smtp://127.0.0.1:{controller.port}'
    yield inbox
    controller.stop()


@pytest.fixture(scope='module')
def mailing_erp(tmp_path_factory, inbox):
    "A running ERP of the sync world whose e-mails reach the inbox"
    yield from running_erp(tmp_path_factory, 'sync_world', extra={
            'email': {'uri': inbox.uri, 'from': 'shop@example.com'}})


@pytest.fixture
def sandbox():
    "A sandbox marketplace without shops, on a free port"
    with Sandbox() as running:
        yield running
