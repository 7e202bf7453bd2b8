"""oms-sync: the sync agent's command line.

The agent's configuration is one YAML file (--config or OMS_SYNC_CONFIG;
see docs/agent.md). Secrets never come from flags or that file: the ERP's
API key and each channel's credentials come from environment variables
(or a secrets file outside the repository), so they stay out of shell
histories, process lists and version control.

The ERP commands (channels, cursor, import-orders) also work without a
configuration file, given --erp-url/--database (or OMS_ERP_URL and
OMS_ERP_DATABASE) and OMS_ERP_KEY.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from oms_contract.models import OrderBatch

from . import config as agent_config
from . import logs
from .agent import Agent
from .erp import ErpClient, ErpError
from .mapping import check as check_mapping
from .scheduler import JOBS, Scheduler

logger = logging.getLogger('sync_agent')


def load_config(args: argparse.Namespace) -> agent_config.AgentConfig:
    if not args.config:
        raise SystemExit(
            "oms-sync: give --config PATH (or set OMS_SYNC_CONFIG)")
    try:
        return agent_config.load(args.config)
    except agent_config.ConfigError as error:
        raise SystemExit(
            f"oms-sync: the configuration has problems:\n{error}") from None


def load_agent(args: argparse.Namespace) -> Agent:
    config = load_config(args)
    logs.setup(args.log_format or config.log_format,
        logging.DEBUG if args.verbose else logging.INFO)
    try:
        return Agent.from_config(config)
    except agent_config.SecretError as error:
        raise SystemExit(f"oms-sync: {error}") from None


def erp_client(args: argparse.Namespace) -> ErpClient:
    if args.config:
        return load_agent(args).erp
    key = os.environ.get('OMS_ERP_KEY')
    if not key:
        raise SystemExit("oms-sync: set OMS_ERP_KEY to the agent's API key")
    if not args.erp_url or not args.database:
        raise SystemExit(
            "oms-sync: give --erp-url and --database (or OMS_ERP_URL and "
            "OMS_ERP_DATABASE)")
    return ErpClient(args.erp_url, args.database, key)


def channels(args: argparse.Namespace) -> int:
    for channel in erp_client(args).channels():
        print(f"{channel['code']}\t{channel['kind']}\t{channel['name']}\t"
            f"cursor={channel['cursor'] or '-'}")
    return 0


def cursor(args: argparse.Namespace) -> int:
    print(erp_client(args).cursor(args.channel) or '')
    return 0


def import_orders(args: argparse.Namespace) -> int:
    """Post canonical orders from a JSON file (a list of orders, or a batch
    with its cursor) and print each order's result."""
    data = json.loads(Path(args.file).read_text(encoding='utf-8'))
    if isinstance(data, list):
        data = {'orders': data, 'cursor': None}
    if args.cursor is not None:
        data['cursor'] = args.cursor
    try:
        batch = OrderBatch.model_validate(data)
    except ValidationError as error:
        print(f"oms-sync: {args.file} is not a batch of canonical orders:\n"
            f"{error}", file=sys.stderr)
        return 2
    answer = erp_client(args).post_orders(
        args.channel, batch.orders, batch.cursor)
    held = 0
    for result in answer['results']:
        exception = result['exception']
        held += bool(exception)
        print(f"{result['external_id']}\t{result['result']}\t"
            f"{result['sale']}\t{result['state']}"
            + (f"\tHELD: {exception['reason']}" if exception else ''))
    print(f"{len(answer['results'])} order(s), {held} on hold; "
        f"cursor {answer['cursor'] or '-'}")
    return 0


def run(args: argparse.Namespace) -> int:
    "Run every job on schedule until SIGINT/SIGTERM"
    agent = load_agent(args)
    if not agent.channels:
        print("oms-sync: no channel is set up", file=sys.stderr)
        return 1
    scheduler = Scheduler(agent)

    def stop(signum, frame):
        logger.info("stopping (signal %d)", signum)
        scheduler.stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("running channels %s%s", ', '.join(agent.channels),
        f" as {agent.leases.holder}" if agent.leases else '')
    scheduler.run()
    return 0


ONCE_JOBS = ['orders', 'stock', 'fulfilments', 'returns']


def once(args: argparse.Namespace) -> int:
    """Each job once (orders, stock, fulfilments, then returns, unless
    --job says which), for one channel or all; exit 1 when a job failed"""
    agent = load_agent(args)
    codes = [args.channel] if args.channel else None
    if args.channel and args.channel not in agent.channels:
        why = agent.broken.get(args.channel, "not in the configuration")
        print(f"oms-sync: channel {args.channel}: {why}", file=sys.stderr)
        return 1
    for sync in agent.channels.values():
        sync.progress = _progress_printer(sync.code)
    scheduler = Scheduler(agent)
    try:
        ok = scheduler.run_once(args.job or ONCE_JOBS, codes)
    finally:
        # The running service need not wait out this run's leases.
        scheduler.release_leases()
    return 0 if ok and not (agent.broken and not codes) else 1


def _progress_printer(code: str):
    def progress(read: int, total: int | None) -> None:
        of = f"/{total}" if total else ''
        print(f"{code}: {read}{of} orders read", file=sys.stderr)
    return progress


def status(args: argparse.Namespace) -> int:
    """Per channel: cursor, last success of each job, last error, stock
    levels, fulfilments and refunds waiting to be pushed"""
    agent = load_agent(args)
    for channel in agent.config.channels:
        code = channel.code
        state = agent.state.channel(code)
        print(f"{code} ({channel.kind}, {channel.base_url})")
        try:
            cursor = agent.erp.cursor(code)
            pending = agent.erp.stock_levels(code, limit=0)['pending']
        except (ErpError, OSError) as error:
            cursor = pending = f"? (ERP: {error})"
        try:
            shipments = agent.erp.fulfilments(code, limit=0)['pending']
        except (ErpError, OSError) as error:
            shipments = f"? (ERP: {error})"
        try:
            refunds = agent.erp.refunds(code, limit=0)['pending']
        except (ErpError, OSError) as error:
            refunds = f"? (ERP: {error})"
        print(f"  cursor:               {cursor or '-'}")
        print(f"  pending stock pushes: {pending}")
        print(f"  pending fulfilments:  {shipments}")
        print(f"  pending refunds:      {refunds}")
        for job, success in sorted(
                (state.get('last_success') or {}).items()):
            details = ', '.join(f'{k}={v}' for k, v in success.items()
                if k != 'at')
            print(f"  last {job + ':':<17}{success['at']}  {details}")
        for job, waiting in sorted((state.get('waiting') or {}).items()):
            print(f"  waiting {job + ':':<14}{waiting['at']}  run by "
                f"{waiting['holder']}")
        try:
            leases = agent.erp.leases(code)
        except (ErpError, OSError):
            leases = []  # an ERP without leases: nothing to show
        for lease in leases:
            if lease['granted']:
                print(f"  lease {lease['job'] + ':':<16}{lease['holder']} "
                    f"until {lease['expires_at']}")
        error = state.get('last_error')
        if error:
            resolved = ' (since succeeded)' if error.get('resolved') else ''
            print(f"  last error:           {error['at']} {error['job']}: "
                f"{error['error']}{resolved}")
        if code in agent.broken:
            print(f"  NOT SET UP: {agent.broken[code]}")
    # A channel not set up is a problem to report, as `once` does
    return 1 if agent.broken else 0


def check_mappings(args: argparse.Namespace) -> int:
    """Report every problem of mapping files (a file, or each *.yaml of a
    folder); exit 1 when there is one"""
    files: list[Path] = []
    for path in map(Path, args.paths):
        files += sorted(path.glob('*.yaml')) if path.is_dir() else [path]
    problems = 0
    for path in files:
        _, found = check_mapping(path, kind=args.kind)
        for problem in sorted(found, key=lambda p: (p.file, p.line or 0)):
            print(problem)
        problems += len(found)
        if not found:
            print(f"{path}: OK")
    return 1 if problems else 0


def dry_run(args: argparse.Namespace) -> int:
    """What orders would become in the ERP, writing nothing: raw channel
    payloads (a file, or the channel's orders since its cursor) normalized
    and mapped, then judged by the ERP in a transaction it rolls back"""
    agent = load_agent(args)
    sync = agent.channels.get(args.channel)
    if sync is None:
        print(f"oms-sync: channel {args.channel} is not set up: "
            f"{agent.broken.get(args.channel, 'unknown')}", file=sys.stderr)
        return 1
    if args.file:
        data = json.loads(Path(args.file).read_text(encoding='utf-8'))
        raws = data if isinstance(data, list) else [data]
    else:
        raws = []
        for page in sync.adapter.fetch_orders(None if args.all else (
                    sync.since())):
            raws += page.orders
            if len(raws) >= args.limit:
                break
        raws = raws[:args.limit]
    translations = [sync.translate(raw) for raw in raws]
    orders = [t.order for t in translations if t.order]
    rejected = [t.rejected for t in translations if t.rejected]
    answer = {'results': []}
    if translations:
        answer = agent.erp.post_orders(
            sync.code, orders, None, rejected=rejected, dry_run=True)
    results = {r['external_id']: r for r in answer['results']}
    for translation in translations:
        if translation.order:
            shown = translation.order.model_dump(
                mode='json', exclude={'raw'})
            external_id = translation.order.external_id
        else:
            shown = {'rejected': translation.rejected.reason}
            external_id = translation.rejected.external_id
        shown['erp'] = results.get(external_id)
        print(json.dumps(shown, indent=1, ensure_ascii=False))
    counts = Counter(r['result'] for r in answer['results'])
    print(f"dry run: {len(translations)} order(s): "
        f"{counts['created']} would be created, "
        f"{counts['updated']} updated, {counts['unchanged']} unchanged, "
        f"{counts['exception']} held ({len(rejected)} unreadable); "
        "nothing was written", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog='oms-sync', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    main.add_argument('--config', default=os.environ.get('OMS_SYNC_CONFIG'),
        help="the agent's YAML configuration (OMS_SYNC_CONFIG)")
    main.add_argument('--log-format', choices=['json', 'text'],
        help="override the configuration's log format")
    main.add_argument('-v', '--verbose', action='store_true')
    main.add_argument('--erp-url', default=os.environ.get('OMS_ERP_URL'),
        help="the ERP's address, e.g. http://127.0.0.1:8000")
    main.add_argument('--database',
        default=os.environ.get('OMS_ERP_DATABASE'),
        help="the ERP's database name")
    commands = main.add_subparsers(dest='command', required=True)

    command = commands.add_parser('run', help=run.__doc__)
    command.set_defaults(func=run)

    command = commands.add_parser('once', help=once.__doc__)
    command.add_argument('--channel', help="only this channel's jobs")
    command.add_argument('--job', action='append', choices=list(JOBS),
        help="only these jobs (repeatable; default: "
        f"{' and '.join(ONCE_JOBS)})")
    command.set_defaults(func=once)

    command = commands.add_parser('status', help=status.__doc__)
    command.set_defaults(func=status)

    command = commands.add_parser(
        'check-mappings', help=check_mappings.__doc__)
    command.add_argument('paths', nargs='+', metavar='PATH')
    command.add_argument('--kind', choices=['shopify', 'woocommerce'],
        help="the channel kind, when the files do not say")
    command.set_defaults(func=check_mappings)

    command = commands.add_parser('dry-run', help=dry_run.__doc__)
    command.add_argument('channel')
    command.add_argument('--file', help="raw channel order(s), JSON")
    command.add_argument('--limit', type=int, default=5,
        help="orders to show when reading the channel (default 5)")
    command.add_argument('--all', action='store_true',
        help="read from the channel's first order, not from the cursor")
    command.set_defaults(func=dry_run)

    command = commands.add_parser(
        'channels', help="list the channels the API key may use")
    command.set_defaults(func=channels)

    command = commands.add_parser('cursor', help="show a channel's cursor")
    command.add_argument('channel')
    command.set_defaults(func=cursor)

    command = commands.add_parser(
        'import-orders', help="post canonical orders from a JSON file")
    command.add_argument('channel')
    command.add_argument('file')
    command.add_argument('--cursor', help="the cursor to store with them")
    command.set_defaults(func=import_orders)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ErpError as error:
        print(f"oms-sync: the ERP refused: {error.status} {error.code}: "
            f"{error.message}", file=sys.stderr)
        if error.details:
            print(json.dumps(error.details, indent=1), file=sys.stderr)
        return 1
    except OSError as error:
        print(f"oms-sync: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
