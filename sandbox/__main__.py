"""Run the sandbox until Ctrl-C:

    python -m sandbox --port 8010 --config sandbox.yaml

The YAML lists the shops (without --config: one Shopify and one
WooCommerce shop with 50 products and 20 orders each):

    shops:
      - kind: shopify                 # or woocommerce, amazon, taobao
        name: shopify-eu
        token: shpat_demo       # woocommerce: consumer_key, consumer_secret
                                # amazon: client_id, client_secret,
                                # refresh_token, seller_id, marketplace_id
                                # and its options (settle_s, rate_scale, …)
                                # taobao: app_key, app_secret, session and
                                # its options (calls_per_second, …)
        currency: EUR           # default EUR (shopify), USD (woocommerce)
        locations: [Outlet]     # shopify: more than "Main warehouse"
        rate_limit: {maximum_available: 1000, restore_rate: 50}
        products:               # {sku, title, price, stock, variant_of}
          - {sku: MUG-RED, title: "Mug – red", price: "12.50", stock: 40}
        # products: {generate: 2000, seed: 1, stock: 25, prefix: HOME}
        orders: {count: 100, seed: 7} # created at start, over the last hours
        generate: {every_s: 10, count: 1}   # then keep creating orders
        faults: {slow_ms: 50}
"""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from . import generator
from .amazon.shop import OPTIONS as AMAZON_OPTIONS
from .server import Sandbox
from .shop import Shop
from .taobao.shop import OPTIONS as TAOBAO_OPTIONS

DEFAULT_CONFIG: dict[str, Any] = {'shops': [
        {'kind': 'shopify', 'name': 'shopify-eu', 'token': 'shpat_sandbox',
            'products': {'generate': 50, 'seed': 1, 'prefix': 'HOME'},
            'orders': {'count': 20, 'seed': 1}},
        {'kind': 'woocommerce', 'name': 'woo-us',
            'consumer_key': 'ck_sandbox', 'consumer_secret': 'cs_sandbox',
            'products': {'generate': 50, 'seed': 1, 'prefix': 'HOME'},
            'orders': {'count': 20, 'seed': 2}},
        ]}
OPTIONS = {
    'shopify': ('token', 'currency', 'location'),
    'woocommerce': ('consumer_key', 'consumer_secret', 'currency',
        'utc_offset_hours'),
    'amazon': ('client_id', 'client_secret', 'refresh_token', 'seller_id',
        'marketplace_id', 'currency', *AMAZON_OPTIONS),
    'taobao': ('app_key', 'app_secret', 'session', 'currency',
        *TAOBAO_OPTIONS),
    }


def build(sandbox: Sandbox, config: dict[str, Any]) -> list[tuple]:
    """Create the configured shops; the (shop, every_s, count) of those
    that keep generating orders"""
    generating = []
    for entry in config.get('shops') or []:
        entry = dict(entry)
        kind, name = entry.pop('kind', None), entry.pop('name', None)
        if kind not in OPTIONS or not name:
            raise ValueError(f"each shop needs a name and a kind "
                f"({', '.join(OPTIONS)}): {entry}")
        options = {k: entry.pop(k) for k in OPTIONS[kind] if k in entry}
        shop: Shop
        if kind == 'shopify':
            shop = sandbox.add_shopify(name, **options)
            for location in entry.pop('locations', []) or []:
                shop.add_location(location)
            if 'rate_limit' in entry:
                shop.set_rate_limit(**entry.pop('rate_limit'))
        else:
            shop = sandbox.add(kind, name, **options)
        products = entry.pop('products', []) or []
        if isinstance(products, dict):
            products = generator.catalog(int(products['generate']),
                products.get('seed', 0), stock=products.get('stock'),
                prefix=products.get('prefix', 'SKU'))
        shop.add_products(products)
        orders = dict(entry.pop('orders', {}) or {})
        if orders:
            shop.generate_orders(int(orders.pop('count', 10)), **orders)
        shop.faults.set(**(entry.pop('faults', {}) or {}))
        every = entry.pop('generate', None)
        if every:
            generating.append((shop, float(every.get('every_s', 10)),
                    int(every.get('count', 1))))
        if entry:
            raise ValueError(f"{name}: unknown settings {sorted(entry)}")
    return generating


def keep_generating(generating: list[tuple],
        stop: threading.Event) -> list[threading.Thread]:
    "Threads creating new orders (timestamped now) until stop is set"
    def loop(shop: Shop, every: float, count: int) -> None:
        while not stop.wait(every):
            shop.generate_orders(count, spread_hours=0)

    threads = [threading.Thread(target=loop, args=g, daemon=True,
            name=f'generate:{g[0].name}') for g in generating]
    for thread in threads:
        thread.start()
    return threads


def describe(sandbox: Sandbox) -> str:
    lines = [f"sandbox on {sandbox.url} (control API: {sandbox.url}"
        "/_sandbox/shops)"]
    for shop in sandbox.shops.values():
        info = shop.describe()
        if shop.kind == 'shopify':
            secret = f"X-Shopify-Access-Token: {info['token']}"
        elif shop.kind == 'amazon':
            secret = (f"seller {info['settings']['seller_id']}, LWA "
                f"{info['settings']['lwa_url']}")
        elif shop.kind == 'taobao':
            secret = (f"app_key {info['credentials']['app_key']}, router "
                f"{info['base_url']}/router/rest")
        else:
            secret = (f"consumer key {info['consumer_key']}, secret "
                f"{info['consumer_secret']}")
        lines.append(f"  {shop.kind:<11} {shop.name:<14} {shop.base_url}"
            f"  ({secret}; {info['products']} products, "
            f"{info['orders']} orders)")
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m sandbox',
        description="Simulated Shopify, WooCommerce, Amazon and Taobao shops "
        "on loopback.")
    parser.add_argument('--port', type=int, default=8010,
        help="port on 127.0.0.1 (0: any free one; default 8010)")
    parser.add_argument('--config', type=Path,
        help="YAML file listing the shops (default: a demo pair)")
    args = parser.parse_args(argv)
    config = (yaml.safe_load(args.config.read_text(encoding='utf-8'))
        if args.config else DEFAULT_CONFIG)
    sandbox = Sandbox(args.port)
    try:
        generating = build(sandbox, config or {})
    except (ValueError, TypeError, KeyError) as error:
        print(f"sandbox: bad configuration: {error}", file=sys.stderr)
        return 2
    sandbox.start()
    stop = threading.Event()
    keep_generating(generating, stop)
    # Ctrl-C (SIGINT) may come as soon as the address is out: stop the
    # servers then too, or their threads keep the process alive.
    try:
        print(describe(sandbox), flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        sandbox.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
