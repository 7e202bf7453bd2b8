"""A real trytond server with the module activated, for the end-to-end tests
and the demo: a database built once and cached (SQLite file or PostgreSQL
template), then copied and served on loopback.

    python -m oms_connector.tests.server populate CONFIG DATABASE SETUP OUT

runs SETUP (a dotted function taking no argument and returning a dict) in
a proteus session of its own process and writes what it returns as JSON.
"""
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from importlib import import_module
from pathlib import Path

MODULE = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def checkout_env(env=None):
    """The environment of trytond's processes: this checkout's module and
    agent first on the path, whichever checkout the virtualenv's editable
    install points at (a git worktree shares the main one's venv)"""
    env = dict(os.environ if env is None else env)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(MODULE.parent), *filter(None, [env.get('PYTHONPATH')])])
    return env


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def database_uri():
    "The backend the suite runs on: TRYTOND_DATABASE_URI, else SQLite"
    return os.environ.get('TRYTOND_DATABASE_URI') or 'sqlite://'


def is_postgresql(uri):
    return uri.startswith('postgresql')


def write_config(directory, port, uri=None, web_root=None, worker=False,
        extra=None):
    """A trytond.conf in directory; web_root serves a web client (sao);
    worker leaves queued tasks to trytond-worker (PostgreSQL only); extra
    adds sections ({section: {option: value}}, e.g. email's SMTP server)"""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        '[database]',
        f'uri = {uri or database_uri()}',
        f'path = {directory}',
        '[web]',
        f'listen = 127.0.0.1:{port}',
        *([f'root = {web_root}'] if web_root else []),
        '[queue]',
        f'worker = {worker}',
        '[session]',
        'authentications = password',
        ]
    for section, options in (extra or {}).items():
        lines.append(f'[{section}]')
        lines.extend(f'{k} = {v}' for k, v in options.items())
    path = directory / 'trytond.conf'
    path.write_text('\n'.join(lines) + '\n')
    return path


def source_hash(*extra):
    """Changes whenever what a cached database holds may change: the
    module's code and views, and the worlds tests build (tests/tools.py)"""
    digest = hashlib.sha256()
    for path in sorted(MODULE.rglob('*')):
        if (path.parent.name == 'tests'
                and path.name != 'tools.py'):
            continue
        if path.suffix in {'.py', '.xml', '.cfg'} and path.is_file():
            digest.update(str(path.relative_to(MODULE)).encode())
            digest.update(path.read_bytes())
    for item in extra:
        digest.update(str(item).encode())
    return digest.hexdigest()[:16]


def _admin(config, database, *args, env=None):
    subprocess.run(
        [str(BIN / 'trytond-admin'), '-c', str(config), '-d', database,
            *args],
        check=True, env=checkout_env(env), stdout=subprocess.DEVNULL)


def _postgresql(uri, sql):
    import psycopg
    with psycopg.connect(uri.rstrip('/') + '/postgres', autocommit=True) \
            as connection:
        connection.execute(sql)


def create_database(config, database, uri, password='admin'):
    "An empty database with the module and its dependencies activated"
    config = Path(config)
    if is_postgresql(uri):
        _postgresql(uri, f'DROP DATABASE IF EXISTS "{database}"')
        _postgresql(uri, f'CREATE DATABASE "{database}"')
    else:
        (config.parent / f'{database}.sqlite').touch()
    passfile = config.parent / 'admin.pass'
    passfile.write_text(password)
    env = dict(os.environ, TRYTONPASSFILE=str(passfile))
    _admin(config, database, '--all', '--email', 'admin@example.com',
        env=env)
    _admin(config, database, '-u', 'oms_connector',
        '--activate-dependencies', env=env)
    passfile.unlink()


def update_module(config, database):
    """Bring an existing database to the module's current schema and views,
    activating the dependencies it gained since (stock_supply, ...)"""
    _admin(config, database, '-u', 'oms_connector', '--activate-dependencies')


def populate(config, database, setup, out, uri=None):
    """Run the setup function in its own process (proteus changes globals).
    The backend is given by the environment too: trytond picks it when
    first imported, before proteus reads the configuration file."""
    subprocess.run(
        [sys.executable, '-m', 'oms_connector.tests.server', 'populate',
            str(config), database, setup, str(out)],
        check=True,
        env=checkout_env(dict(
                os.environ, TRYTOND_DATABASE_URI=uri or database_uri())))
    return json.loads(Path(out).read_text())


def copy_database(uri, source_dir, source, target_dir, target):
    if is_postgresql(uri):
        _postgresql(uri, f'DROP DATABASE IF EXISTS "{target}"')
        _postgresql(uri, f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    else:
        shutil.copy(
            Path(source_dir) / f'{source}.sqlite',
            Path(target_dir) / f'{target}.sqlite')


def database_exists(uri, directory, database):
    if not is_postgresql(uri):
        return (Path(directory) / f'{database}.sqlite').exists()
    import psycopg
    with psycopg.connect(uri.rstrip('/') + '/postgres') as connection:
        return bool(connection.execute(
                'SELECT 1 FROM pg_database WHERE datname = %s',
                (database,)).fetchone())


def drop_database(uri, directory, database):
    if is_postgresql(uri):
        _postgresql(uri, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    else:
        (Path(directory) / f'{database}.sqlite').unlink(missing_ok=True)


def cached_database(cache_dir, setup, uri=None, prefix='oms_tpl_'):
    """The name and setup answer of a database built with `setup`, built
    once per module source and setup, kept in cache_dir (SQLite) or as a
    PostgreSQL template, named after prefix, backend and key."""
    uri = uri or database_uri()
    prefix += 'pg_' if is_postgresql(uri) else 'lite_'
    name = prefix + source_hash(setup, uri)
    cache_dir = Path(cache_dir)
    answer = cache_dir / f'{name}.json'
    if answer.exists() and not database_exists(uri, cache_dir, name):
        answer.unlink()  # dropped by someone else (a PostgreSQL reset)
    if not answer.exists():
        # The databases of older sources built here, on this backend
        for stale in cache_dir.glob(f'{prefix}*.json'):
            drop_database(uri, cache_dir, stale.stem)
        for stale in cache_dir.glob(f'{prefix}*'):
            stale.unlink()
        config = write_config(cache_dir, free_port(), uri)
        create_database(config, name, uri)
        populate(config, name, setup, cache_dir / f'{name}.tmp', uri)
        (cache_dir / f'{name}.tmp').rename(answer)
    return name, json.loads(answer.read_text())


class Server:
    """trytond serving one database on loopback, as a context manager; with
    `workers` processes of trytond-worker running its queued tasks, and
    with `cron` trytond-cron running its scheduled actions"""

    def __init__(self, directory, database, uri=None, port=None,
            web_root=None, workers=0, extra=None, cron=False):
        self.directory = Path(directory)
        self.database = database
        self.uri = uri or database_uri()
        self.port = port or free_port()
        self.workers = workers
        self.cron = cron
        self.config = write_config(
            self.directory, self.port, self.uri, web_root,
            worker=bool(workers), extra=extra)
        self.process = self.worker = self.scheduler = None

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}'

    def start(self, timeout=60):
        self.log = (self.directory / 'trytond.log').open('ab')
        self.process = subprocess.Popen(
            [str(BIN / 'trytond'), '-c', str(self.config),
                '-d', self.database],
            stdout=self.log, stderr=subprocess.STDOUT, env=checkout_env())
        if self.workers:
            self.worker = subprocess.Popen(
                [str(BIN / 'trytond-worker'), '-c', str(self.config),
                    '-d', self.database, '-n', str(self.workers)],
                stdout=self.log, stderr=subprocess.STDOUT,
                env=checkout_env())
        if self.cron:
            # In a process group of its own: trytond-cron runs each task
            # in a child, which must stop with it.
            self.scheduler = subprocess.Popen(
                [str(BIN / 'trytond-cron'), '-c', str(self.config),
                    '-d', self.database],
                stdout=self.log, stderr=subprocess.STDOUT,
                env=checkout_env(), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"trytond exited; see {self.directory / 'trytond.log'}")
            try:
                urllib.request.urlopen(
                    f'{self.url}/{self.database}/oms/v1/openapi.json',
                    timeout=2)
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("trytond did not answer in time")

    def stop(self):
        # SIGINT lets trytond-worker stop its pool's children too.
        for process, stop in [
                (self.worker, signal.SIGINT), (self.scheduler, signal.SIGTERM),
                (self.process, signal.SIGTERM)]:
            if process and process.poll() is None:
                signal_ = (functools.partial(os.killpg, process.pid)
                    if process is self.scheduler else process.send_signal)
                signal_(stop)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    signal_(signal.SIGKILL)
                    process.wait()
        if self.process:
            self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _populate_main(config, database, setup, out):
    from proteus import config as proteus_config
    proteus_config.set_trytond(database, config_file=config)
    module, _, function = setup.rpartition('.')
    result = getattr(import_module(module), function)()
    Path(out).write_text(json.dumps(result))


def reset_postgresql_cache(uri):
    """Drop the template databases Tryton's DB_CACHE=postgresql:// keeps:
    they are keyed on module names only, so they outlive schema changes."""
    import psycopg
    with psycopg.connect(uri.rstrip('/') + '/postgres', autocommit=True) \
            as connection:
        names = [name for name, in connection.execute(
                "SELECT datname FROM pg_database "
                "WHERE datname LIKE 'test-%' OR datname = 'test_oms' "
                "OR datname LIKE 'oms_tpl_%'")]
        for name in names:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    print(f"dropped {len(names)} cached test database(s)", file=sys.stderr)


if __name__ == '__main__':
    command, *args = sys.argv[1:]
    if command == 'populate':
        _populate_main(*args)
    elif command == 'reset-postgresql-cache':
        reset_postgresql_cache(*args)
    else:
        sys.exit(f"unknown command {command!r}")
