"""Databases with the module activated, built once per module source and
kept between runs:

- the *base*: the module and its dependencies activated on an empty
  database, the one full build (``trytond-admin --all``) a run makes;
- each *world*: the base copied and populated by a setup function (the
  e2e tests', a benchmark's), in a process of its own;
- Tryton's own test cache (``DB_CACHE``) for ``oms_connector``: a copy of
  the base, so ``ModuleTestCase`` and the scenarios restore it instead of
  activating the module themselves.

SQLite keeps them as files in ``<cache>/<source hash>/sqlite/``; PostgreSQL as
template databases whose comment says which source built them (and holds
a world's setup answer), so a run drops only the stale ones.
"""
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / 'oms_connector'
BIN = Path(sys.executable).parent
# What labels the PostgreSQL databases a cache owns (their comment)
LABEL = 'oms-cache'
# Per-run copies, dropped when their run ends (or by the next prune)
RUN_PREFIX = 'oms_run_'
# How long another source's databases are kept (PostgreSQL)
KEEP_OTHER_SOURCES_S = int(os.environ.get('OMS_CACHE_KEEP_OTHER_S', 3600))


def cache_root():
    "Where the suite keeps its databases: OMS_TEST_CACHE, else .cache/"
    return Path(os.environ.get('OMS_TEST_CACHE', ROOT / '.cache'))


def database_uri():
    "The backend the suite runs on: TRYTOND_DATABASE_URI, else SQLite"
    return os.environ.get('TRYTOND_DATABASE_URI') or 'sqlite://'


def is_postgresql(uri):
    return uri.startswith('postgresql')


def source_hash(*extra):
    """Changes whenever the module's code, views or configuration change,
    and so what a database built from them holds (its tests aside)"""
    digest = hashlib.sha256()
    for path in sorted(MODULE.rglob('*')):
        if 'tests' in path.relative_to(MODULE).parts:
            continue
        if path.suffix in {'.py', '.xml', '.cfg'} and path.is_file():
            digest.update(str(path.relative_to(MODULE)).encode())
            digest.update(path.read_bytes())
    for item in extra:
        digest.update(str(item).encode())
    return digest.hexdigest()[:16]


def setup_source(setup):
    """The code a world's setup function runs beside the module's: its own
    file and the proteus helpers of the module's tests"""
    module = setup.rpartition('.')[0]
    files = {Path(importlib.util.find_spec(module).origin),
        MODULE / 'tests' / 'tools.py'}
    return ''.join(path.read_text() for path in sorted(files))


def checkout_env(env=None):
    """The environment of trytond's processes: this checkout's module and
    agent first on the path, whichever checkout the virtualenv's editable
    install points at (a git worktree shares the main one's venv)"""
    env = dict(os.environ if env is None else env)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get('PYTHONPATH')])])
    return env


# -- one database, either backend ------------------------------------------

def _postgresql(uri, sql, params=None):
    import psycopg
    with psycopg.connect(uri.rstrip('/') + '/postgres', autocommit=True) \
            as connection:
        return connection.execute(sql, params).fetchall() \
            if sql.lstrip().upper().startswith('SELECT') \
            else connection.execute(sql, params)


def database_exists(uri, directory, database):
    if not is_postgresql(uri):
        return (Path(directory) / f'{database}.sqlite').exists()
    return bool(_postgresql(uri,
            'SELECT 1 FROM pg_database WHERE datname = %s', (database,)))


def copy_database(uri, source_dir, source, target_dir, target):
    if is_postgresql(uri):
        drop_database(uri, target_dir, target)
        _postgresql(uri, f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    else:
        Path(target_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(
            Path(source_dir) / f'{source}.sqlite',
            Path(target_dir) / f'{target}.sqlite')


def drop_database(uri, directory, database):
    if is_postgresql(uri):
        if database_exists(uri, directory, database):
            # A template must be one no more before it can be dropped
            _postgresql(uri, f'ALTER DATABASE "{database}" IS_TEMPLATE false')
        _postgresql(uri, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    else:
        (Path(directory) / f'{database}.sqlite').unlink(missing_ok=True)


def _admin(config, database, *args, env=None):
    subprocess.run(
        [str(BIN / 'trytond-admin'), '-c', str(config), '-d', database,
            *args],
        check=True, env=checkout_env(env), stdout=subprocess.DEVNULL)


def create_database(config, database, uri, password='admin'):
    """An empty database with the module and its dependencies activated,
    in one trytond-admin run; its admin logs in with password"""
    config = Path(config)
    if is_postgresql(uri):
        drop_database(uri, None, database)
        _postgresql(uri, f'CREATE DATABASE "{database}"')
    else:
        (config.parent / f'{database}.sqlite').touch()
    passfile = config.parent / f'{database}.pass'
    passfile.write_text(password)
    try:
        _admin(config, database, '--all', '-u', 'oms_connector',
            '--activate-dependencies', '--email', 'admin@example.com',
            env=dict(os.environ, TRYTONPASSFILE=str(passfile)))
    finally:
        passfile.unlink()


def update_module(config, database):
    """Bring an existing database to the module's current schema and views,
    activating the dependencies it gained since (stock_supply, ...)"""
    _admin(config, database, '-u', 'oms_connector', '--activate-dependencies')


def populate(config, database, setup, out, uri=None):
    """Run the setup function in its own process (proteus changes globals)
    and return what it returned. The backend is given by the environment
    too: trytond picks it when first imported, before proteus reads the
    configuration file."""
    subprocess.run(
        [sys.executable, '-m', 'harness.populate',
            str(config), database, setup, str(out)],
        check=True,
        env=checkout_env(dict(
                os.environ, TRYTOND_DATABASE_URI=uri or database_uri())))
    return json.loads(Path(out).read_text())


# -- the cache ---------------------------------------------------------------

# What Tryton's test tools restore, by the name they cache it under, and the
# setup function making it from the base (None: the base itself)
TRYTON_CACHES = {
    'oms_connector': None,
    'oms_connector--create_company': 'oms_connector.tests.tools.company_world',
    }

def tryton_cache_name(modules):
    """The name Tryton's test cache gives the modules' database (as
    trytond.tests.test_tryton._db_cache_file spells it)"""
    return hashlib.shake_128(modules.encode('utf8')).hexdigest(40 // 2)


class Cache:
    """The databases built from today's module source, on one backend:
    `base()`, `world(setup)`, `seed_tryton()`; built under a file lock, so
    concurrent runs build each once"""

    def __init__(self, root, uri=None):
        self.uri = uri or database_uri()
        self.source = source_hash()
        self.root = Path(root).resolve()
        # Per source and backend (both may build at once): the build's
        # trytond.conf, its lock, and SQLite's files and setup answers
        self.directory = (self.root / self.source
            / ('postgresql' if is_postgresql(self.uri) else 'sqlite'))

    @property
    def postgresql(self):
        return is_postgresql(self.uri)

    @property
    def tryton_directory(self):
        "What DB_CACHE names on SQLite"
        return self.directory / 'tryton'

    @contextmanager
    def _locked(self):
        """Build alone: a file lock in this cache's folder, and on
        PostgreSQL a lock of the server's too, as the databases' names are
        the server's, shared by every checkout and cache folder (two
        benchmarks of two checkouts building one base at once would
        otherwise create it twice)"""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / '.lock', 'w') as lock, \
                self._server_lock():
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def _server_lock(self):
        if not self.postgresql:
            yield
            return
        import psycopg
        with psycopg.connect(self.uri.rstrip('/') + '/postgres',
                autocommit=True) as connection:
            # A session lock: released when the connection closes, even if
            # this process dies
            key = int(self.source[:15], 16)
            connection.execute('SELECT pg_advisory_lock(%s)', (key,))
            yield

    # What a finished database is known by: its label (PostgreSQL) or its
    # answer file (SQLite), written last, so a build cut short is redone.

    def _answer(self, name):
        if self.postgresql:
            rows = _postgresql(self.uri,
                "SELECT shobj_description(oid, 'pg_database') "
                "FROM pg_database WHERE datname = %s", (name,))
            comment = rows[0][0] if rows else None
            label = _label(comment)
            if label and label[0] == self.source:
                return label[2]
            return None
        path = self.directory / f'{name}.json'
        if path.exists() and (self.directory / f'{name}.sqlite').exists():
            return json.loads(path.read_text())
        return None

    def _finish(self, name, answer):
        text = json.dumps(answer)
        if self.postgresql:
            comment = (f'{LABEL} {self.source} {int(time.time())} {text}'
                ).replace("'", "''")
            _postgresql(self.uri, f"COMMENT ON DATABASE \"{name}\" IS "
                f"'{comment}'")
            # Out of trytond's lists of databases, which connect to each
            # one listed (a template being copied refuses connections)
            _postgresql(self.uri, f'ALTER DATABASE "{name}" IS_TEMPLATE true')
        else:
            (self.directory / f'{name}.json').write_text(text)

    def _name(self, kind, key):
        suffix = hashlib.sha256(f'{self.source}{key}'.encode()).hexdigest()
        return f'oms_{kind}_{suffix[:16]}'

    @contextmanager
    def _build_config(self):
        """The trytond.conf the builds run with, in this backend's folder
        (its databases' path on SQLite), one per process: a run building
        under the lock must not find its file rewritten by another"""
        # harness.server imports this module
        from harness.server import free_port, write_config
        config = write_config(self.directory, free_port(), self.uri,
            name=f'trytond-{os.getpid()}.conf')
        try:
            yield config
        finally:
            config.unlink(missing_ok=True)

    def base(self):
        "The name of the base database, built if missing"
        name = f'oms_base_{self.source}'
        with self._locked():
            if self._answer(name) is None:
                self.prune()
                print(f"building the base database {name} "
                    "(the module activated)...", file=sys.stderr, flush=True)
                with self._build_config() as config:
                    create_database(config, name, self.uri)
                self._finish(name, {})
        return name

    def world(self, setup, prefix='world'):
        """The name of the database made by running setup (a dotted
        function returning a dict) on a copy of the base, and what it
        returned; built if missing"""
        base = self.base()
        name = self._name(prefix, setup + setup_source(setup))
        with self._locked():
            answer = self._answer(name)
            if answer is None:
                copy_database(self.uri, self.directory, base,
                    self.directory, name)
                with self._build_config() as config:
                    answer = populate(config, name, setup,
                        self.directory / f'{name}.tmp', self.uri)
                (self.directory / f'{name}.tmp').unlink()
                self._finish(name, answer)
        return name, answer

    def seed_tryton(self):
        """Make Tryton's test cache hold what the module's tests restore:
        the base for ModuleTestCase and the test classes ('oms_connector'),
        and the base with a company for the scenarios, which start with
        activate_modules('oms_connector', create_company). The environment's
        DB_CACHE must say `self.tryton_db_cache`."""
        for cache_name, setup in TRYTON_CACHES.items():
            source = self.world(setup)[0] if setup else self.base()
            with self._locked():
                self._seed_tryton(cache_name, source)

    def _seed_tryton(self, cache_name, source):
        cached = tryton_cache_name(cache_name)
        if self.postgresql:
            name = f'test-{cached}'
            if self._answer(name) is None:
                copy_database(self.uri, None, source, None, name)
                self._finish(name, {})
        else:
            target = self.tryton_directory / f'{cached}-sqlite.dump'
            if not target.exists():
                self.tryton_directory.mkdir(exist_ok=True)
                shutil.copy(self.directory / f'{source}.sqlite',
                    target.with_suffix('.tmp'))
                target.with_suffix('.tmp').rename(target)

    def tryton_template(self, modules):
        """The template Tryton's test cache keeps for the modules (a
        PostgreSQL database name), if seeded"""
        name = f'test-{tryton_cache_name(modules)}'
        return name if self._answer(name) is not None else None

    def copy(self, name, directory, target):
        "A copy of a cached database, as target (in directory on SQLite)"
        copy_database(self.uri, self.directory, name, directory, target)

    def drop(self, directory, name):
        drop_database(self.uri, directory, name)

    @property
    def tryton_db_cache(self):
        return ('postgresql://' if self.postgresql
            else str(self.tryton_directory))

    def prune(self):
        """Forget what older sources built: their folders; on PostgreSQL
        the databases labelled with another source, Tryton's own test
        caches and the copies of runs that ended without dropping them"""
        if self.root.exists():
            for other in self.root.iterdir():
                # the folders named by a hash (not bench's or others')
                if other.is_dir() and other.name != self.source and len(
                        other.name) == len(self.source):
                    shutil.rmtree(other, ignore_errors=True)
        if not self.postgresql:
            return
        rows = _postgresql(self.uri,
            "SELECT datname, shobj_description(oid, 'pg_database') "
            "FROM pg_database")
        for name, comment in rows:
            label = _label(comment)
            if label:
                # Another checkout's source may be building or benchmarking
                # right now: its databases are kept a while
                source, built, _ = label
                stale = source != self.source and (
                    time.time() - built > KEEP_OTHER_SOURCES_S)
            else:
                stale = (name.startswith(('test-', 'oms_tpl_'))
                    or (name.startswith(RUN_PREFIX)
                        and not _running(name)))
            if stale:
                drop_database(self.uri, None, name)


def _label(comment):
    """(source, built at, answer) of a cache database's comment, else
    None"""
    if not comment or not comment.startswith(LABEL + ' '):
        return None
    source, rest = comment[len(LABEL) + 1:].split(' ', 1)
    built, text = rest.split(' ', 1) if rest[:1].isdigit() else ('0', rest)
    return source, int(built), json.loads(text)


def _running(name):
    "Whether the process a run copy is named after still runs"
    pid = name[len(RUN_PREFIX):].split('_')[0]
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass
    return True
