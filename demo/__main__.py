"""Build the demo ERP once (SQLite, in demo-data/) and serve it on
127.0.0.1 until interrupted."""
import argparse
import json
import signal
import time
from pathlib import Path

from oms_connector.tests import server

DATABASE = 'oms_demo'


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--directory', type=Path, default=Path('demo-data'))
    args = parser.parse_args()
    directory = args.directory.resolve()
    uri = 'sqlite://'
    answer = directory / 'demo.json'
    if not answer.exists():
        print("Building the demo database (about a minute the first "
            "time)...", flush=True)
        config = server.write_config(directory, args.port, uri)
        server.create_database(config, DATABASE, uri)
        server.populate(config, DATABASE, 'demo.data.build',
            directory / 'demo.tmp')
        (directory / 'demo.tmp').rename(answer)
    keys = json.loads(answer.read_text())['keys']

    erp = server.Server(directory, DATABASE, uri, port=args.port)
    erp.start()
    base = f'{erp.url}/{DATABASE}'
    print(f"""
The demo ERP is running (trytond, SQLite file {directory}/{DATABASE}.sqlite).

  ERP API          {base}/oms/v1/   (OpenAPI: {base}/oms/v1/openapi.json)
  JSON-RPC         {base}/
  Tryton client    server 127.0.0.1:{args.port}, database {DATABASE},
                   user admin, password admin
                   (menu "Order Management": orders by state, exceptions,
                   listings, channels and agent API keys)

  Agent API keys (demo only; kept in {answer}):
    shopify-eu  {keys['shopify-eu']}
    woo-main    {keys['woo-main']}

  Try:  curl -H 'Authorization: Bearer {keys['shopify-eu']}' \\
          {base}/oms/v1/channels/shopify-eu/cursor

Server log: {directory}/trytond.log. Press Ctrl-C to stop; `make clean`
forgets the demo database.""", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while erp.process.poll() is None:
            time.sleep(1)
        print("trytond stopped; see the server log.")
    except KeyboardInterrupt:
        pass
    finally:
        erp.stop()


if __name__ == '__main__':
    main()
