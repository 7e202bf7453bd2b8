"""Fixtures of the end-to-end tests: one real trytond process on loopback
for the whole session (SQLite by default, PostgreSQL when
TRYTOND_DATABASE_URI says so), serving copies of one world
(oms_connector.tests.tools.e2e_world): one shared by the route tests, and
one of its own for each test module that syncs shops into it."""
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.databases import RUN_PREFIX, Cache, cache_root
from harness.mailbox import smtp_inbox
from harness.server import Server
from harness.web_client import install_web_client, missing_browser
from sandbox import Sandbox
from sync_agent.erp import ErpClient

WORLD = 'oms_connector.tests.tools.e2e_world'
# The fixtures giving a test module a database of its own
OWN_DATABASE = {'sync_erp', 'mailing_erp', 'race_erp'}


@dataclass
class ServedDatabase:
    """One database the session's trytond serves: .url, .port, .database,
    .world (what the world's function returned for it: keys, ids), and
    .uri and .directory to reach it without trytond"""
    server: Server
    database: str
    world: dict = field(default_factory=dict)

    url = property(lambda self: self.server.url)
    port = property(lambda self: self.server.port)
    uri = property(lambda self: self.server.uri)
    directory = property(lambda self: self.server.directory)


class ErpServer(Server):
    "The session's trytond, with the world's answer for each database"

    def __init__(self, directory, world, modules, **kwargs):
        self.shared = f'{RUN_PREFIX}{os.getpid()}_e2e'
        self.own = {module: f'{RUN_PREFIX}{os.getpid()}_{i}'
            for i, module in enumerate(modules)}
        super().__init__(directory, [self.shared, *self.own.values()],
            **kwargs)
        self.world = world

    def serve(self, database, part):
        return ServedDatabase(self, database, self.world[part])


@pytest.fixture(scope='session')
def inbox():
    """A local SMTP server receiving every e-mail the session's trytond
    sends: .wait(), .take()"""
    with smtp_inbox() as inbox:
        yield inbox


def web_client_root(session) -> Path | None:
    """Tryton's web client (sao) for the session's trytond to serve, when
    a browser test is selected and can run"""
    if not any(item.get_closest_marker('browser') for item in session.items):
        return None
    if missing_browser():
        return None
    return install_web_client(cache_root(), quiet=True)


@pytest.fixture(scope='session')
def erp_server(request, tmp_path_factory, inbox):
    """The session's one trytond, its databases copied from the world,
    serving the web client when a browser test runs"""
    cache = Cache(cache_root())
    template, world = cache.world(WORLD)
    directory = tmp_path_factory.mktemp('erp')
    # Each database the server loads at start: the shared one and one for
    # each module (of those selected) asking for its own
    modules = sorted({item.module.__name__ for item in request.session.items
            if OWN_DATABASE & set(item.fixturenames)})
    running = ErpServer(directory, world, modules, uri=cache.uri,
        web_root=web_client_root(request.session),
        extra={'email': {'uri': inbox.uri, 'from': 'shop@example.com'}})
    for database in running.databases:
        cache.copy(template, directory, database)
    try:
        with running:
            yield running
    finally:
        for database in running.databases:
            cache.drop(directory, database)


@pytest.fixture(scope='session')
def erp(erp_server):
    """The ERP the route tests share: .url, .database, .world (the
    world's API keys 'shop_key' and 'other_key', product ids)"""
    return erp_server.serve(erp_server.shared, 'e2e')


@pytest.fixture
def shop(erp):
    "The ERP client of the agent that owns channel 'shop'"
    return ErpClient(erp.url, erp.database, erp.world['shop_key'])


@pytest.fixture(scope='module')
def sync_erp(request, erp_server):
    """This module's own ERP, with the sandbox marketplace's channels
    'shopify' and 'woo' (.world: 'agent_key')"""
    return erp_server.serve(erp_server.own[request.module.__name__], 'sync')


@pytest.fixture(scope='module')
def mailing_erp(sync_erp, inbox):
    "This module's own ERP (as sync_erp), its e-mails in the inbox"
    inbox.take()
    return sync_erp


@pytest.fixture(scope='module')
def race_erp(request, erp_server):
    """This module's own ERP, whose channels sell a product with few units
    left (.world: 'agent_key')"""
    return erp_server.serve(erp_server.own[request.module.__name__], 'race')


@pytest.fixture
def sandbox():
    """A sandbox marketplace without shops, on a free port; Amazon's rate
    limits 50 times faster (its order search: one call in 3.6 s)"""
    with Sandbox(rate_scale=50) as running:
        yield running
