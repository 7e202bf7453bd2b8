"""oms-sync: the sync agent's command line.

The ERP is given by --erp-url/--database (or OMS_ERP_URL/OMS_ERP_DATABASE);
its API key only by the environment variable OMS_ERP_KEY, never a flag, so
it stays out of shell histories and process lists.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from .erp import ErpClient, ErpError
from .models import OrderBatch


def erp_client(args: argparse.Namespace) -> ErpClient:
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


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog='oms-sync', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    main.add_argument('--erp-url', default=os.environ.get('OMS_ERP_URL'),
        help="the ERP's address, e.g. http://127.0.0.1:8000")
    main.add_argument('--database',
        default=os.environ.get('OMS_ERP_DATABASE'),
        help="the ERP's database name")
    commands = main.add_subparsers(dest='command', required=True)

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
        print(f"oms-sync: the ERP refused: {error}", file=sys.stderr)
        if error.details:
            print(json.dumps(error.details, indent=1), file=sys.stderr)
        return 1
    except OSError as error:
        print(f"oms-sync: {error}", file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
