"""Build the demo ERP once (SQLite, in demo-data/) and serve it on
127.0.0.1 until interrupted."""
import argparse
import json
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

from oms_connector.tests import server

DATABASE = 'oms_demo'
SAO = 'tryton-sao@>=8.0 <8.1'


def install_web_client(directory):
    """Tryton's web client (sao 8.0, from npm) in directory/sao, installed
    once. None when npm is missing or fails: the demo runs without it."""
    root = directory / 'sao'
    if (root / 'index.html').exists() and (root / 'node_modules').exists():
        return root
    npm = shutil.which('npm')
    if not npm:
        return None
    print("Installing the web client (sao 8.0) from npm...", flush=True)
    try:
        tarball = subprocess.run(
            [npm, 'pack', '--silent', SAO], cwd=directory, check=True,
            capture_output=True, text=True, timeout=300).stdout.split()[-1]
        shutil.rmtree(root, ignore_errors=True)
        with tarfile.open(directory / tarball) as archive:
            archive.extractall(directory, filter='data')
        (directory / 'package').rename(root)
        (directory / tarball).unlink()
        # sao's peer dependencies disagree with npm 7+'s strict resolver.
        subprocess.run(
            [npm, 'install', '--omit=dev', '--legacy-peer-deps',
                '--no-audit', '--no-fund'],
            cwd=root, check=True, capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as error:
        print(f"The web client could not be installed ({error}); "
            "continuing without it.", flush=True)
        shutil.rmtree(root, ignore_errors=True)
        return None
    return root


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
        # A build that stopped half-way left a partial database: start over.
        (directory / f'{DATABASE}.sqlite').unlink(missing_ok=True)
        server.create_database(config, DATABASE, uri)
        built = server.populate(config, DATABASE, 'demo.data.build',
            directory / 'demo.tmp', uri)
        built['source'] = server.source_hash()
        answer.write_text(json.dumps(built))
        (directory / 'demo.tmp').unlink()
    demo = json.loads(answer.read_text())
    keys = demo['keys']
    if demo.get('source') != server.source_hash():
        print("Updating the demo database to this version of the "
            "module...", flush=True)
        config = server.write_config(directory, args.port, uri)
        server.update_module(config, DATABASE)
        demo['source'] = server.source_hash()
        answer.write_text(json.dumps(demo))

    web_root = install_web_client(directory)
    erp = server.Server(
        directory, DATABASE, uri, port=args.port, web_root=web_root)
    erp.start()
    base = f'{erp.url}/{DATABASE}'
    web_line = (f'{erp.url}/  (database {DATABASE}, admin / admin)'
        if web_root else 'not installed (needs npm); use the Tryton client')
    print(f"""
The demo ERP is running (trytond, SQLite file {directory}/{DATABASE}.sqlite).

  ERP API          {base}/oms/v1/   (OpenAPI: {base}/oms/v1/openapi.json)
  JSON-RPC         {base}/
  Web client       {web_line}
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
