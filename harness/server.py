"""trytond on loopback, as the end-to-end tests, the demo and the
benchmarks run it: a configuration file and the server's processes."""
import contextlib
import functools
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness.databases import BIN, checkout_env, database_uri


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def write_config(directory, port, uri=None, web_root=None, worker=False,
        extra=None, name='trytond.conf'):
    """A trytond.conf in directory (as `name`); web_root serves a web
    client (sao); worker leaves queued tasks to trytond-worker (PostgreSQL
    only); extra adds sections ({section: {option: value}}, e.g. email's
    SMTP server)"""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        '[database]',
        f'uri = {uri or database_uri()}',
        f'path = {directory}',
        '[web]',
        f'listen = 127.0.0.1:{port}',
        # As behind a reverse proxy: a test may name its client address
        # (X-Forwarded-For), so that rate limits per client stay its own
        'num_proxies = 1',
        *([f'root = {web_root}'] if web_root else []),
        '[queue]',
        f'worker = {worker}',
        '[session]',
        'authentications = password',
        ]
    for section, options in (extra or {}).items():
        lines.append(f'[{section}]')
        lines.extend(f'{k} = {v}' for k, v in options.items())
    path = directory / name
    path.write_text('\n'.join(lines) + '\n')
    return path


class Server:
    """trytond serving databases on loopback, as a context manager; with
    `workers` processes of trytond-worker running its queued tasks, and
    with `cron` trytond-cron running its scheduled actions; with
    `optimize` under Python's -O.

    `database` is one name or several: trytond loads each at start (it
    lists the databases it may serve once per session timeout, so one
    created later would not be found)."""

    def __init__(self, directory, database, uri=None, port=None,
            web_root=None, workers=0, extra=None, cron=False,
            optimize=False):
        self.directory = Path(directory)
        self.databases = ([database] if isinstance(database, str)
            else list(database))
        self.database = self.databases[0]
        self.uri = uri or database_uri()
        self.port = port or free_port()
        self.workers = workers
        self.cron = cron
        # Python's -O, as production runs it (docs/deploy.md): Tryton's
        # internal asserts off; the tests keep them
        self.optimize = optimize
        self.config = write_config(
            self.directory, self.port, self.uri, web_root,
            worker=bool(workers), extra=extra)
        self.process = self.worker = self.scheduler = None

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}'

    def _command(self, program, *args):
        return [str(BIN / program), '-c', str(self.config), *args]

    def start(self, timeout=120):
        self.log = (self.directory / 'trytond.log').open('ab')
        env = checkout_env()
        if self.optimize:
            env['PYTHONOPTIMIZE'] = '1'
        output = {'stdout': self.log, 'stderr': subprocess.STDOUT,
            'env': env}
        self.process = subprocess.Popen(
            self._command('trytond', '-d', *self.databases), **output)
        if self.workers:
            # In a process group of its own, as its pool's children must
            # stop with it (see stop)
            self.worker = subprocess.Popen(self._command(
                    'trytond-worker', '-d', self.database,
                    '-n', str(self.workers)),
                start_new_session=True, **output)
        if self.cron:
            # In a process group of its own: trytond-cron runs each task
            # in a child, which must stop with it.
            self.scheduler = subprocess.Popen(self._command(
                    'trytond-cron', '-d', self.database),
                start_new_session=True, **output)
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
        """Stop what start started, children included: trytond-worker's
        pool and trytond-cron's tasks are in their leaders' process groups,
        which are killed once their leader stops (a pool's child outlived
        its parent otherwise, polling a database dropped after the run)"""
        # SIGINT lets trytond-worker stop its pool's children itself.
        for process, stop in [
                (self.worker, signal.SIGINT), (self.scheduler, signal.SIGTERM),
                (self.process, signal.SIGTERM)]:
            if not process:
                continue
            group = process in {self.worker, self.scheduler}
            if process.poll() is None:
                signal_ = (functools.partial(os.killpg, process.pid)
                    if group else process.send_signal)
                signal_(stop)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    signal_(signal.SIGKILL)
                    process.wait()
            if group:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        if self.process:
            self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
