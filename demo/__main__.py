"""The whole demo, in the foreground until Ctrl-C: the ERP (trytond on a
SQLite database built once in demo-data/), the sandbox marketplace with a
Shopify-like, a WooCommerce-like and an Amazon-like shop taking orders,
and the sync agent moving orders into the ERP and stock back to the shops,
refunds and returns both ways, with a live summary."""
import argparse
import json
import os
import shlex
import signal
import time
from pathlib import Path

from harness.databases import (
    Cache,
    cache_root,
    populate,
    source_hash,
    update_module,
)
from harness.server import Server, write_config
from harness.web_client import install_web_client

from .data import CHANNELS, ORDER_POINTS
from .live import RATE_SCALE, Live
from .sinks import MailSink, SmsSink

DATABASE = 'oms_demo'
def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--sandbox-port', type=int, default=8010)
    parser.add_argument('--every', type=float, default=8.0,
        help="seconds between new orders in the sandbox shops")
    parser.add_argument('--directory', type=Path, default=Path('demo-data'))
    parser.add_argument('--smtp-port', type=int, default=8025,
        help="the local SMTP server catching the customers' e-mails")
    parser.add_argument('--sms-port', type=int, default=8026,
        help="the local SMS gateway catching the customers' texts")
    args = parser.parse_args()
    directory = args.directory.resolve()
    uri = 'sqlite://'
    answer = directory / 'demo.json'
    if answer.exists() and not _current(json.loads(answer.read_text())):
        answer.unlink()
    if not answer.exists():
        print("Building the demo database (a few minutes the first "
            "time)...", flush=True)
        config = write_config(directory, args.port, uri)
        # A copy of the base database the tests use too (a build that
        # stopped half-way left a partial one: it starts over)
        cache = Cache(cache_root(), uri)
        cache.copy(cache.base(), directory, DATABASE)
        built = populate(config, DATABASE, 'demo.data.build',
            directory / 'demo.tmp', uri)
        built['source'] = source_hash()
        answer.write_text(json.dumps(built))
        (directory / 'demo.tmp').unlink()
    demo = json.loads(answer.read_text())
    keys = demo['keys']
    if demo.get('source') != source_hash():
        print("Updating the demo database to this version of the "
            "module...", flush=True)
        config = write_config(directory, args.port, uri)
        update_module(config, DATABASE)
        demo['source'] = source_hash()
        answer.write_text(json.dumps(demo))

    web_root = install_web_client(directory)
    # Customers' e-mails and texts go to local sinks; the gateway's token
    # comes from the environment, as in production.
    mail = MailSink(directory / 'mail', args.smtp_port).start()
    sms = SmsSink(directory / 'sms', args.sms_port).start()
    os.environ.setdefault('OMS_SMS_TOKEN', 'demo-sms-token')
    erp = Server(
        directory, DATABASE, uri, port=args.port, web_root=web_root,
        cron=True, extra={
            'email': {'uri': mail.uri,
                'from': 'Homeware Shop <shop@homeware.example>'},
            'oms_sms': {'url': sms.url, 'sender': 'Homeware'},
            })
    erp.start()
    live = None
    last = None
    try:
        live = Live(erp, DATABASE, keys['agent'], directory,
            args.sandbox_port, every=args.every, mail=mail, sms=sms).start()
        _explain(erp, args, directory, answer, keys, web_root, live,
            live.write_agent_config(directory / 'oms-sync.yaml'))
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        while erp.process.poll() is None:
            time.sleep(10)
            last = live.summary()
            print(last, flush=True)
        print("trytond stopped; see the server log.")
    except KeyboardInterrupt:
        # Ctrl-C stopped trytond too (it is in the terminal's process
        # group): where the demo got to is the last summary read.
        if last:
            print("Where the demo got to:", last, sep='\n', flush=True)
    finally:
        if live:
            live.stop()
        erp.stop()
        mail.stop()
        sms.stop()


def _current(built):
    """Whether a demo database has what this demo needs: built before the
    demo had an agent, returns, these order points or all its shops, it is
    built again"""
    return ('agent' in built['keys'] and 'returns' in built
        and all(code in built['keys'] for code, *_ in CHANNELS)
        and built.get('order_points') == json.loads(
            json.dumps(ORDER_POINTS)))


def _explain(erp, args, directory, answer, keys, web_root, live,
        agent_file):
    base = f'{erp.url}/{DATABASE}'
    exports = '\n'.join(f'    export {name}={shlex.quote(str(value))}'
        for name, value in {'OMS_SYNC_CONFIG': agent_file,
            **live.environ}.items())
    web_line = (f'{erp.url}/  (database {DATABASE}, admin / admin)'
        if web_root else 'not installed (needs npm); use the Tryton client')
    shops = '\n'.join(f'    {code:<11} {shop.base_url}'
        for code, shop in live.shops.items())
    channel_keys = '\n'.join(f'    {code:<11} {keys[code]}'
        for code, *_ in CHANNELS)
    print(f"""
The demo is running: the ERP, three sandbox shops taking orders (Shopify,
WooCommerce, and an Amazon seller account whose mug also sells fulfilled
by Amazon), the sync agent between them (orders every 5 s, on Amazon
every 10 s, stock every 5 s and at once after an import, shipments every
5 s, refunds and returns every 15 s), a warehouse shipping an order now
and then with DHL, UPS or SF Express, purchasing staff receiving the
suppliers' deliveries and ordering what runs low (the towel set is
discontinued: it sells out, and its orders wait), and now and then a
customer refunded or returning goods on a shop, an Amazon buyer asking
to cancel, or staff refunding one in the ERP. Amazon's rate limits run
{RATE_SCALE:g}× faster than Amazon's own (its order search: one call in
{180 / RATE_SCALE:g} s, not 3 minutes).

  Web client       {web_line}
  Tryton client    server 127.0.0.1:{args.port}, database {DATABASE},
                   user admin, password admin
                   (menu "Order Management": orders by state, exceptions,
                   listings with the quantity each shop shows, channels;
                   Returns: to approve, awaiting goods, received, overdue,
                   needing attention, refunds to check; Configuration >
                   Return Policies and Customer Tiers)
  ERP API          {base}/oms/v1/   (OpenAPI: {base}/oms/v1/openapi.json)
  Sandbox shops (Shopify GraphQL / WooCommerce REST / Amazon SP-API
  subsets):
{shops}
    control API    {live.sandbox.url}/_sandbox/shops

  Your own oms-sync on these shops (demo-only keys; it shares them with
  the demo's agent through the ERP's leases):
{exports}
    oms-sync status        (or: oms-sync once --channel woo-main)

  Agent API keys (demo only; kept in {answer}):
    agent       {keys['agent']}
{channel_keys}

  Customers       e-mails in {directory / 'mail'}
                  (SMTP 127.0.0.1:{args.smtp_port}),
                  texts in {directory / 'sms' / 'sms.jsonl'};
                  order-status page {base}/oms/status
                  (order number and e-mail, or the link in an e-mail)

  Try:  curl -H 'Authorization: Bearer {keys['agent']}' \\
          {base}/oms/v1/channels/shopify-eu/summary

Logs: ERP {directory}/trytond.log, agent {directory}/agent.log.
Press Ctrl-C to stop; `make clean` forgets the demo database.
""", flush=True)

if __name__ == '__main__':
    main()
