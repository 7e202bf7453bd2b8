"""The scale-out layout of docs/deploy.md on this machine, and orders
flowing through it:

    python -m bench.cluster --orders 1000 --trytond 2 --workers 2 --agents 2
    python -m bench.cluster --print-nginx-config   # the balancer's, rendered

On PostgreSQL, a copy of bench.sync's world (a Shopify and a WooCommerce
channel listing --skus products in ample stock) is served by --trytond
trytond processes sharing one trytond.conf (deploy/trytond.conf: queue
workers on, each process's port from TRYTOND_WEB__LISTEN), one
trytond-worker with a pool of --workers processes (`-n`) confirming the
orders and reserving their goods, and nginx in front (deploy/nginx/
oms-balancer.conf, least_conn, keep-alive to the processes; its own
prefix, pid and logs in a temporary directory). --agents `oms-sync run`
processes name the same channels and the balancer's URL, each with its
own lease holder name, their secrets in the environment: the ERP's leases
decide which agent runs which channel's job.

Once every agent runs and the shops show the ERP's stock, the sandbox's
shops get --orders new paid orders (split between them, as bench.sync);
the run waits until every order is stored and reserved (and the stock
levels they changed are pushed), checks through the ERP that none is
doubled or missing, and prints one JSON object: the times and rates, who
holds each channel's leases, the requests each trytond answered (nginx's
access log), the errors in each process's log, the load average.

Everything started is stopped (each in a process group of its own, the
worker's pool included) and the database dropped, on errors and Ctrl-C
too. Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.import_orders import ReservationWatch
from bench.sync import KEY, KINDS, SECRET, TOKEN, add_shops, catalogue, split
from harness.databases import BIN, RUN_PREFIX, Cache, cache_root, checkout_env
from harness.server import free_port

PG_URI = 'postgresql://postgres@127.0.0.1:5432/'
ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / 'deploy'
CODES = ('shopify', 'woo')
STOCK = 100_000  # units of each product in the world (bench.sync.world)
NGINX = shutil.which('nginx') or '/usr/sbin/nginx'
# What a template line names to be filled in: @UPPER_CASE@
PLACEHOLDER = re.compile(r'@[A-Z_]+@')


# -- the configuration files deploy/ holds ---------------------------------

def render(template: Path, **values: str) -> str:
    """A deploy/ template with its @NAME@ placeholders filled in from
    values (name=...); comment lines are left as they are, since they
    explain the placeholders. Raises when one is left unfilled."""
    lines = []
    for line in template.read_text().splitlines():
        if not line.lstrip().startswith('#'):
            for name, value in values.items():
                line = line.replace(f'@{name.upper()}@', value)
            if PLACEHOLDER.search(line):
                raise ValueError(f"{template}: {line.strip()!r} is left "
                    "unfilled")
        lines.append(line)
    return '\n'.join(lines) + '\n'


def trytond_config(directory: Path, uri: str = PG_URI) -> Path:
    "deploy/trytond.conf for this run: its database and files"
    path = directory / 'trytond.conf'
    path.write_text(render(DEPLOY / 'trytond.conf', database_uri=uri,
            data_path=str(directory / 'data')))
    return path


def balancer_config(listen: str, upstreams: list[str],
        access_log: str) -> str:
    "deploy/nginx/oms-balancer.conf, for these trytond addresses"
    servers = '\n'.join(f'    server {address};' for address in upstreams)
    return render(DEPLOY / 'nginx' / 'oms-balancer.conf', listen=listen,
        upstream_servers=servers, access_log=access_log)


def nginx_config(directory: Path, listen: str,
        upstreams: list[str]) -> Path:
    """An nginx.conf of its own in directory (pid, logs and temporary
    files there: Debian's /etc/nginx and /var are not touched) including
    the balancer's configuration; returns its path"""
    directory.mkdir(parents=True, exist_ok=True)
    # nginx's workers run as an unprivileged user when started as root:
    # they must reach their temporary files in here.
    directory.chmod(0o755)
    (directory / 'oms-balancer.conf').write_text(balancer_config(
            listen, upstreams, str(directory / 'access.log')))
    temp = ''.join(f'    {kind}_temp_path {directory / kind};\n'
        for kind in ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'))
    path = directory / 'nginx.conf'
    path.write_text(
        # One worker: the machine's cores are for trytond and PostgreSQL
        'worker_processes 1;\n'
        f'pid {directory / "nginx.pid"};\n'
        f'error_log {directory / "error.log"} warn;\n'
        'events { worker_connections 1024; }\n'
        'http {\n'
        f'{temp}'
        f'    include {directory / "oms-balancer.conf"};\n'
        '}\n')
    return path


def nginx_command(config: Path) -> list[str]:
    # -e: the error log before the configuration is read (Debian's default
    # is /var/log/nginx/error.log); -g: in the foreground, as a child
    return [NGINX, '-p', str(config.parent), '-e',
        str(config.parent / 'error.log'), '-c', str(config),
        '-g', 'daemon off;']


# -- processes -------------------------------------------------------------

class Processes:
    """The processes a run started, each in a process group of its own
    (so that a stop reaches a process's children too, e.g. trytond-worker's
    pool, and a Ctrl-C in the terminal reaches none of them directly);
    stopped last started first"""

    def __init__(self, directory: Path):
        self.directory = directory
        self.started: list[tuple[str, subprocess.Popen, signal.Signals]] = []

    def start(self, name: str, command: list[str],
            stop: signal.Signals = signal.SIGTERM,
            env: dict[str, str] | None = None) -> subprocess.Popen:
        "command, its output in directory/name.log; stop: how it is stopped"
        with (self.directory / f'{name}.log').open('ab') as log:
            process = subprocess.Popen(command, stdout=log,
                stderr=subprocess.STDOUT, env=env or checkout_env(),
                start_new_session=True)
        self.started.append((name, process, stop))
        return process

    def log(self, name: str) -> Path:
        return self.directory / f'{name}.log'

    def alive(self, prefix: str = '') -> bool:
        return all(p.poll() is None for name, p, _ in self.started
            if name.startswith(prefix))

    def stop(self, prefix: str = '', timeout: float = 60) -> None:
        "Stop those whose name starts with prefix, newest first"
        for name, process, stop in reversed(self.started):
            if name.startswith(prefix):
                _stop_group(process, stop, timeout)
        self.started = [s for s in self.started
            if not s[0].startswith(prefix)]


def _stop_group(process: subprocess.Popen, stop: signal.Signals,
        timeout: float) -> None:
    """Signal a process's group, wait until no process of it is left
    (the leader may go before its children), then kill what remains"""
    def group_alive() -> bool:
        process.poll()  # reap the leader, else it counts as alive
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        os.killpg(process.pid, stop)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while group_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if group_alive():
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_http(url: str, process: subprocess.Popen, log: Path,
        timeout: float = 120) -> None:
    "Until url answers; raises when the process serving it exits first"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited; see {log}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s; see {log}")


def wait(done: Callable[[], bool], timeout: float,
        interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(interval)
    return False


# -- what the ERP stored ---------------------------------------------------

class StoredWatch(threading.Thread):
    """When the ERP first holds `count` imported orders, polling the
    database (as ReservationWatch does for their reservations)"""

    def __init__(self, uri: str, database: str, count: int,
            interval: float = 0.1):
        super().__init__(daemon=True)
        self.dsn = uri.rstrip('/') + '/' + database
        self.count, self.interval = count, interval
        self.stored_at: float | None = None
        self.stored = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        import psycopg
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            while not self.stopping.is_set():
                self.stored, = connection.execute(
                    'SELECT count(*) FROM sale_sale'
                    ' WHERE oms_channel IS NOT NULL').fetchone()
                if self.stored >= self.count:
                    self.stored_at = time.perf_counter()
                    return
                time.sleep(self.interval)

    def wait_for(self, timeout: float) -> float | None:
        self.join(timeout)
        self.stopping.set()
        return self.stored_at


# -- the run ---------------------------------------------------------------

def run(orders: int, trytonds: int, workers: int, agents: int,
        skus: int = 200, keep: bool = False) -> dict[str, Any]:
    # bench.sync's world and template (its size travels by environment to
    # the process building it)
    os.environ['OMS_BENCH_SKUS'] = str(skus)
    cache = Cache(cache_root(), PG_URI)
    template, answer = cache.world(
        'bench.sync.world', prefix=f'bench_sync3k{skus}')
    directory = Path(tempfile.mkdtemp(prefix='oms-bench-cluster-'))
    # nginx's workers (an unprivileged user when started as root) buffer
    # request bodies in directory/nginx: they must pass through here
    directory.chmod(0o711)
    database = f'{RUN_PREFIX}{os.getpid()}_cluster'
    processes = Processes(directory)
    ok = False
    try:
        cache.copy(template, directory, database)
        erp = start_erp(processes, directory, database, trytonds, workers)
        from sandbox.server import Sandbox
        with Sandbox() as sandbox:
            try:
                result = measure(processes, directory, erp, answer,
                    sandbox, orders, skus, trytonds, workers, agents)
            finally:
                # The agents first, while the ERP and the shops still
                # answer (a clean stop releases their leases)
                processes.stop('agent')
                processes.stop()
        ok = True
        return result
    finally:
        # A second Ctrl-C must not cut the clean-up short
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            processes.stop()
            cache.drop(directory, database)
        finally:
            signal.signal(signal.SIGINT, previous)
        if ok and not keep:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print(f"bench.cluster: logs kept in {directory}",
                file=sys.stderr)


# Python's -O, as deploy/systemd's units run trytond and its worker
OPTIMIZE = {'PYTHONOPTIMIZE': '1'}


def start_erp(processes: Processes, directory: Path, database: str,
        trytonds: int, workers: int) -> dict[str, Any]:
    """trytond processes, the worker and the balancer; returns what the
    agents and the report need of them"""
    config = trytond_config(directory)
    ports = {}
    for n in range(1, trytonds + 1):
        port = free_port()
        # One trytond.conf; each process's port from its environment, as
        # trytond@.service gives it
        process = processes.start(f'trytond-{n}',
            [str(BIN / 'trytond'), '-c', str(config), '-d', database],
            env=checkout_env({**os.environ, **OPTIMIZE,
                    'TRYTOND_WEB__LISTEN': f'127.0.0.1:{port}'}))
        ports[port] = (f'trytond-{n}', process)
    for port, (name, process) in ports.items():
        wait_http(f'http://127.0.0.1:{port}/{database}/oms/v1/openapi.json',
            process, processes.log(name))
    if workers:
        # One trytond-worker, a pool of `workers` processes (-n), as
        # trytond-worker.service runs it; SIGINT stops the pool with it.
        # -vv: each task's time in the log (worker_tasks in the report)
        processes.start('trytond-worker', [str(BIN / 'trytond-worker'),
                '-c', str(config), '-d', database, '-n', str(workers),
                '-vv'],
            env=checkout_env({**os.environ, **OPTIMIZE}),
            stop=signal.SIGINT)
    listen = f'127.0.0.1:{free_port()}'
    nginx = processes.start('nginx', nginx_command(nginx_config(
                directory / 'nginx', listen,
                [f'127.0.0.1:{port}' for port in ports])),
        stop=signal.SIGQUIT)  # SIGQUIT: finish the requests in flight
    url = f'http://{listen}'
    wait_http(f'{url}/{database}/oms/v1/openapi.json', nginx,
        directory / 'nginx' / 'error.log')
    return {'url': url, 'database': database, 'config': config,
        'upstreams': {f'127.0.0.1:{port}': name
            for port, (name, _) in ports.items()}}


def agent_config(erp: dict[str, Any], shops: dict[str, Any], name: str,
        directory: Path) -> Path:
    """An agent's YAML configuration: the same channels as the others, the
    balancer's URL, its own holder name and state; secrets by variable name
    only (docs/oms-sync.example.yaml)"""
    config = {
        'erp': {'url': erp['url'], 'database': erp['database'],
            'key': 'OMS_ERP_KEY'},
        'state_dir': str(directory / name),
        'log_format': 'json',
        'leases': {'agent_id': name, 'ttl': 60},
        'channels': [{
                'code': code, 'kind': KINDS[code],
                'base_url': shop.base_url, 'settings': shop.settings,
                # The sandbox has no rate limits worth keeping to here
                'rate_limit': {'per_second': 0},
                # Orders polled every second, as bench.double11 runs the
                # agent; the rest at the agent's defaults
                'intervals': {'orders': 1, 'reconcile': 86400},
                } for code, shop in shops.items()],
        }
    path = directory / f'{name}.yaml'
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def measure(processes: Processes, directory: Path, erp: dict[str, Any],
        answer: dict[str, Any], sandbox: Any, orders: int, skus: int,
        trytonds: int, workers: int, agents: int) -> dict[str, Any]:
    from sync_agent import config as agent_config_
    from sync_agent.agent import Agent

    load_before = os.getloadavg()
    shops = add_shops(sandbox, CODES)
    products = catalogue(skus)
    for shop in shops.values():
        # 0 shown until the ERP's first stock push: the sign that the
        # agents serve the channels
        shop.add_products([{'sku': sku, 'title': name, 'price': price,
                    'stock': 0} for sku, name, price in products])
    secrets = {'OMS_ERP_KEY': answer['agent_key'],
        'OMS_SHOPIFY_TOKEN': TOKEN,
        'OMS_WOO_CONSUMER_KEY': KEY, 'OMS_WOO_CONSUMER_SECRET': SECRET}
    names = [f'agent-{n}' for n in range(1, agents + 1)]
    configs = {}
    for name in names:
        configs[name] = agent_config(erp, shops, name, directory)
        processes.start(name, [str(BIN / 'oms-sync'), '--config',
                str(configs[name]), 'run'],
            env=checkout_env({**os.environ, **secrets}))

    # What checks the outcome: the agents' own channel mappers (the
    # external ids they send) and ERP client, in this process, through
    # the balancer, holding no lease
    checker_config = agent_config_.AgentConfig.model_validate({
            **yaml.safe_load(configs[names[0]].read_text()),
            'state_dir': str(directory / 'checker'),
            'leases': {'enabled': False}})
    checker = Agent.from_config(checker_config, environ=secrets)
    client = checker.erp

    last_sku = products[-1][0]
    ready = wait(lambda: processes.alive('agent') and all(
            'running channels' in processes.log(name).read_text()
            for name in names) and all(
            shop.inventory(last_sku) == STOCK for shop in shops.values()),
        300, 0.5)
    if not ready:
        raise RuntimeError(f"the agents did not push the opening stock in "
            f"time; see {directory}")
    holders_at_start = lease_holders(client)

    stored = StoredWatch(PG_URI, erp['database'], orders)
    reserved = ReservationWatch(PG_URI, erp['database'])
    stored.start()
    reserved.start()
    start = time.perf_counter()
    for seed, (shop, share) in enumerate(zip(shops.values(),
            split(orders, len(shops)), strict=True), 1):
        shop.generate_orders(share, seed=seed, status='paid',
            spread_hours=1)
    stored_at = stored.wait_for(600)
    reserved.wait_for(orders, 600)
    reserved_at = (max(reserved.seen.values())
        if len(reserved.seen) >= orders else None)
    # The levels the orders changed, pushed by whichever agent holds each
    # channel's stock lease
    pushed = wait(lambda: all(client.stock_levels(code, limit=0)['pending']
            == 0 for code in shops), 300, 0.5)
    pushed_at = time.perf_counter() if pushed else None
    holders = lease_holders(client)

    duplicates = missing = 0
    in_erp = {}
    for code, shop in shops.items():
        ids = client.summary(code, external_ids=True)['external_ids']
        expected = {checker.channels[code].mapper.external_id(o)
            for o in shop.orders()}
        in_erp[code] = len(ids)
        duplicates += len(ids) - len(set(ids))
        missing += len(expected - set(ids))
    load_after = os.getloadavg()

    def since(moment: float | None) -> float | None:
        return round(moment - start, 3) if moment else None
    return {
        'backend': 'postgresql',
        'cores': os.cpu_count(),
        'orders': orders,
        'skus': skus,
        'trytond': trytonds,
        # one trytond-worker process, its pool this many
        'workers': workers,
        'agents': agents,
        'balancer': 'nginx least_conn, keepalive 16',
        'all_stored_s': since(stored_at),
        'all_reserved_s': since(reserved_at),
        'stock_pushed_s': since(pushed_at),
        'orders_per_s_stored': round(orders / (stored_at - start), 1)
        if stored_at else None,
        'orders_per_s_reserved': round(orders / (reserved_at - start), 1)
        if reserved_at else None,
        'in_erp': in_erp,
        'duplicates': duplicates,
        'missing': missing,
        'lease_holders_at_start': holders_at_start,
        'lease_holders': holders,
        'requests_by_trytond': upstream_counts(
            directory / 'nginx' / 'access.log', erp['upstreams']),
        'worker_tasks': worker_tasks(processes.log('trytond-worker')),
        'errors_in_logs': log_errors(processes),
        'load_average_before': [round(x, 2) for x in load_before],
        'load_average_after': [round(x, 2) for x in load_after],
        'measured_at': dt.datetime.now(dt.UTC).isoformat(timespec='seconds'),
        }


def lease_holders(client: Any) -> dict[str, dict[str, str]]:
    """channel → job → the agent holding its lease (its name, without the
    process id and random part), '-' when it has lapsed"""
    holders: dict[str, dict[str, str]] = {}
    for code in CODES:
        holders[code] = {lease['job']: (lease['holder'].split(':')[0]
                if lease['granted'] else '-')
            for lease in client.leases(code)}
    return holders


UPSTREAM = re.compile(r'" (\d{3}) \d+ upstream=(\S+(?:, \S+)*) rt=(\S+)')


def upstream_counts(access_log: Path,
        names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The requests each trytond answered (the whole run, the opening push
    included) by status, and the seconds it spent on them, from nginx's
    access log (log_format oms_upstream)"""
    counts: dict[str, Counter] = defaultdict(Counter)
    seconds: Counter = Counter()
    for line in access_log.read_text().splitlines():
        match = UPSTREAM.search(line)
        if not match:
            continue
        status, addresses, _ = match.groups()
        # A request retried on another process names both
        for address in addresses.split(', '):
            name = names.get(address, address)
            counts[name][status] += 1
        times = re.search(r'urt=(\S+)', line)
        if times:
            for address, value in zip(addresses.split(', '),
                    times.group(1).split(', '), strict=False):
                if value != '-':
                    seconds[names.get(address, address)] += float(value)
    return {name: {'requests': sum(by_status.values()),
            'by_status': dict(sorted(by_status.items())),
            'busy_s': round(seconds[name], 1)}
        for name, by_status in sorted(counts.items())}


def worker_tasks(log: Path) -> dict[str, Any] | None:
    """The queued tasks trytond-worker ran and how long each took, from
    its log (a task restarted because the stock was reserved meanwhile
    counts once, its waits and restarts included)"""
    if not log.exists():
        return None
    seconds = sorted(int(ms) / 1000 for ms in re.findall(
            r'<Task \d+@\S+> in (\d+) ms', log.read_text()))
    return {'tasks': len(seconds),
        'total_s': round(sum(seconds), 1),
        'longest_s': seconds[-1] if seconds else None,
        'failed_retried': log.read_text().count('failed after')}


def log_errors(processes: Processes) -> dict[str, int]:
    "Lines of each process's log saying ERROR or Traceback"
    errors = {}
    for name, _, _ in processes.started:
        text = processes.log(name).read_text(errors='replace')
        errors[name] = sum(1 for line in text.splitlines()
            if 'ERROR' in line or 'Traceback' in line
            or '"level": "error"' in line.lower())
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--orders', type=int, default=1000)
    parser.add_argument('--trytond', type=int, default=2,
        help="trytond processes behind the balancer")
    parser.add_argument('--workers', type=int, default=2,
        help="the trytond-worker's pool of processes (-n); 0: none, the "
        "imports reserve themselves")
    parser.add_argument('--agents', type=int, default=2,
        help="oms-sync run processes sharing the channels")
    parser.add_argument('--skus', type=int, default=200)
    parser.add_argument('--keep-logs', action='store_true',
        help="keep the processes' logs and configurations")
    parser.add_argument('--print-nginx-config', action='store_true',
        help="print deploy/nginx/oms-balancer.conf rendered for two "
        "trytond on 127.0.0.1:8001 and 8002, and exit")
    args = parser.parse_args()
    if args.print_nginx_config:
        print(balancer_config('127.0.0.1:8000',
                ['127.0.0.1:8001', '127.0.0.1:8002'],
                '/var/log/nginx/oms-access.log'), end='')
        return
    if min(args.trytond, args.agents) < 1 or args.workers < 0:
        parser.error("--trytond and --agents: 1 or more")
    if not os.access(NGINX, os.X_OK):
        parser.error(f"no nginx at {NGINX}: make cluster-tools")
    # SIGTERM as Ctrl-C: the clean-up runs
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    json.dump(run(args.orders, args.trytond, args.workers, args.agents,
            args.skus, args.keep_logs), sys.stdout)
    print()


if __name__ == '__main__':
    main()
