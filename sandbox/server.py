"""The sandbox server: shops by name on one loopback port.

    with Sandbox() as sandbox:          # started on a free port
        shop = sandbox.add_shopify('eu', token='shpat_test')
        shop.add_product('MUG-RED', 'Mug – red', '12.50', stock=10)
        shop.generate_orders(50, seed=1)
        requests.post(f'{shop.base_url}/admin/api/2026-01/graphql.json', ...)

Marketplace APIs live under ``/shops/{name}/``; the JSON control API for
other processes under ``/_sandbox/`` (see control.py).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import control
from .amazon import AmazonShop
from .shop import Shop
from .shopify import ShopifyShop
from .taobao import TaobaoShop
from .web import Request, Response, utcnow
from .woocommerce import WooCommerceShop

log = logging.getLogger(__name__)
NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$')


class Sandbox:
    """Simulated marketplaces on 127.0.0.1. ``port=0`` picks a free port;
    ``clock`` (returning an aware datetime) replaces the wall clock for
    the shops' timestamps."""

    def __init__(self, port: int = 0,
            clock: Callable[[], dt.datetime] | None = None,
            rate_scale: float = 1.0) -> None:
        self.port = port
        # How many times faster than the marketplace's own the time-bound
        # rate limits run (Amazon's: one order search in 3 minutes)
        self.rate_scale = rate_scale
        self.lock = threading.RLock()
        self.shops: dict[str, Shop] = {}
        self._clock = clock
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def now(self) -> dt.datetime:
        if self._clock is None:
            return utcnow()
        return self._clock().astimezone(dt.UTC).replace(microsecond=0)

    # -- shops -------------------------------------------------------------

    def _add(self, shop: Shop) -> None:
        if not NAME.match(shop.name):
            raise ValueError(f"shop name {shop.name!r}: letters, digits, "
                "'-' and '_' only")
        with self.lock:
            if shop.name in self.shops:
                raise ValueError(f"a shop is already named {shop.name!r}")
            self.shops[shop.name] = shop

    # The kinds of shop it simulates: add_<kind> makes one
    kinds = ('shopify', 'woocommerce', 'amazon', 'taobao')

    def add(self, kind: str, name: str, **options: Any) -> Shop:
        "A shop of the kind (see kinds), as add_<kind> makes it"
        if kind not in self.kinds:
            raise ValueError(f"kind must be {', '.join(self.kinds)}")
        return getattr(self, f'add_{kind}')(name, **options)

    def add_shopify(self, name: str, token: str = 'shpat_sandbox',
            currency: str | None = None, **options: Any) -> ShopifyShop:
        """A Shopify store. options: maximum_available, restore_rate (its
        cost bucket), location (the first location's name)"""
        shop = ShopifyShop(self, name, token, currency, **options)
        self._add(shop)
        return shop

    def add_woocommerce(self, name: str, consumer_key: str = 'ck_sandbox',
            consumer_secret: str = 'cs_sandbox', currency: str | None = None,
            **options: Any) -> WooCommerceShop:
        "A WooCommerce shop. options: utc_offset_hours (the site's zone)"
        shop = WooCommerceShop(self, name, consumer_key, consumer_secret,
            currency, **options)
        self._add(shop)
        return shop

    def add_amazon(self, name: str,
            client_id: str = 'amzn1.application-oa2-client.sandbox',
            client_secret: str = 'sandbox-secret',
            refresh_token: str = 'Atzr|sandbox',
            seller_id: str = 'A3SANDBOXSELLER',
            marketplace_id: str = 'ATVPDKIKX0DER',
            currency: str | None = None, **options: Any) -> AmazonShop:
        """An Amazon seller account in one marketplace. options: see
        sandbox.amazon (settle_s, token_lifetime_s, rate_scale, …)"""
        options.setdefault('rate_scale', self.rate_scale)
        shop = AmazonShop(self, name, client_id, client_secret,
            refresh_token, seller_id, marketplace_id, currency, **options)
        self._add(shop)
        return shop

    def add_taobao(self, name: str, app_key: str = '12345678',
            app_secret: str = 'sandbox-secret',
            session: str = '6100sandbox-session',
            currency: str | None = None, **options: Any) -> TaobaoShop:
        """A Taobao / Tmall seller on TOP. options: see sandbox.taobao
        (calls_per_second, ban_s, skew_s)"""
        shop = TaobaoShop(self, name, app_key, app_secret, session,
            currency, **options)
        self._add(shop)
        return shop

    def shop(self, name: str) -> Shop:
        return self.shops[name]

    # -- serving -----------------------------------------------------------

    def start(self) -> Sandbox:
        "Serve in a background thread; returns self"
        if self._server is not None:
            return self
        server = _Server(('127.0.0.1', self.port), _Handler)
        server.sandbox = self
        self.port = server.server_address[1]
        self._server = server
        # A short poll keeps stop() quick (tests start one per test).
        self._thread = threading.Thread(target=server.serve_forever,
            kwargs={'poll_interval': 0.05}, name=f'sandbox:{self.port}',
            daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def handle(self, method: str, target: str, headers: dict[str, str],
            body: bytes) -> Response:
        "Answer one HTTP request (the server's only entry point)"
        parts = urlsplit(target)
        path = parts.path
        if path == '/_sandbox' or path.startswith('/_sandbox/'):
            request = Request.build(method, path[len('/_sandbox'):],
                parts.query, headers, body, base_url=self.url)
            return control.handle(self, request)
        match = re.match(r'^/shops/([^/]+)(/.*)?$', path)
        shop = self.shops.get(match.group(1)) if match else None
        if shop is None:
            return Response.json({'error': f'no shop at {path}'}, 404)
        request = Request.build(method, match.group(2) or '/', parts.query,
            headers, body, base_url=shop.base_url)
        return shop.handle(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128     # benchmarks open many connections
    sandbox: Sandbox


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1: keep-alive, so a requests.Session reuses its connection.
    protocol_version = 'HTTP/1.1'
    # Headers and body go out in two writes: without TCP_NODELAY the body
    # waits ~40 ms for the client's delayed ACK on every kept-alive call.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        try:
            response = self.server.sandbox.handle(self.command, self.path,
                dict(self.headers.items()), body)
        except Exception:
            log.error("sandbox failed on %s %s\n%s", self.command, self.path,
                traceback.format_exc())
            response = Response.json({'error': 'sandbox internal error'}, 500)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(response.body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
