"""The Amazon shop: its parts put together, its options, and the routing
of a request: off-API routes (LWA, document URLs) straight to their
handler; SP-API routes through the fault knobs, the access token, the
operation's rate limit, then the handler, every answer carrying
``x-amzn-RequestId`` and ``x-amzn-RateLimit-Limit``."""
from __future__ import annotations

import random
from typing import Any

from ..options import (
    Options,
    check,
    defaults,
    flag,
    integer,
    positive,
    seconds,
    share,
    skus,
)
from ..shop import Host, Shop
from ..web import BadJSON, Request, Response
from .auth import Auth
from .catalog import Catalog
from .feeds import Feeds
from .finances import Finances
from .limits import RATES, Limits, rate_text
from .model import (
    OFF_API,
    SpApiError,
    errors,
    request_id,
    route_of,
)
from .orders import Orders
from .shipments import Shipments

# name: (check, default). What each plays is in the package docstring.
OPTIONS: Options = {
    'settle_s': (seconds, 0.0),
    'token_lifetime_s': (positive, 3600.0),
    'rate_scale': (positive, 1.0),
    'apply_delay_s': (seconds, 0.0),
    'feed_processing_s': (seconds, 0.3),
    'feed_error_rate': (share, 0.0),
    'feed_error_skus': (skus, ()),
    'feed_seed': (integer, 0),
    'gzip_reports': (flag, False),
    }


class AmazonShop(Auth, Catalog, Orders, Shipments, Feeds, Finances, Shop):
    kind = 'amazon'
    default_currency = 'USD'

    def __init__(self, sandbox: Host, name: str, client_id: str,
            client_secret: str, refresh_token: str, seller_id: str,
            marketplace_id: str, currency: str | None = None,
            **options: Any) -> None:
        super().__init__(sandbox, name, currency)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.limits = Limits()
        self._init_auth()
        self._init_catalog()
        self._init_orders()
        self._init_feeds()
        self._init_finances()
        self.set_options(**defaults(OPTIONS) | options)

    # -- identity and options -------------------------------------------

    @property
    def credentials(self) -> dict[str, str]:
        return {'refresh_token': self.refresh_token,
            'client_id': self.client_id, 'client_secret': self.client_secret}

    @property
    def settings(self) -> dict[str, Any]:
        return {'seller_id': self.seller_id,
            'marketplace_ids': [self.marketplace_id],
            'lwa_url': f'{self.base_url}/auth/o2/token',
            'settle_seconds': self.settle_s,
            # A feed is polled once it is processed here (Amazon takes
            # minutes: the adapter's default is 30 s)
            'feed_poll_seconds': round(self.feed_processing_s * 1.2 + 0.1,
                3)}

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return super().describe() | {
                'credentials': self.credentials, 'settings': self.settings,
                'options': self.options()}

    @property
    def rate_scale(self) -> float:
        return self.limits.rate_scale

    @rate_scale.setter
    def rate_scale(self, value: float) -> None:
        self.limits.set(rate_scale=value)

    def options(self) -> dict[str, Any]:
        "The options' current values"
        with self.lock:
            values = {name: getattr(self, name) for name in OPTIONS}
            values['feed_error_skus'] = sorted(values['feed_error_skus'])
            return values

    def set_options(self, **values: Any) -> dict[str, Any]:
        """Change options (see OPTIONS), checked as a whole first: an
        unknown name or a wrong value changes nothing (ValueError)"""
        checked = check(OPTIONS, values)
        with self.lock:
            for name, value in checked.items():
                setattr(self, name, value)
            if 'feed_seed' in checked:
                self._feed_rng = random.Random(self.feed_seed)
            return self.options()

    def rate_limit(self) -> dict[str, Any]:
        "The buckets: rate_scale, and each operation's rate, burst, level"
        with self.lock:
            return self.limits.status()

    def set_rate_limit(self, rate_scale: float | None = None,
            levels: dict[str, float] | None = None) -> dict[str, Any]:
        "A new rate_scale and/or bucket levels (0 drains, burst fills)"
        with self.lock:
            self.limits.set(rate_scale, levels)
            return self.limits.status()

    def _settle(self) -> None:
        "Let time pass for feeds and accepted quantities"
        self._advance_feeds()
        self._settle_listings()

    # -- serving ---------------------------------------------------------

    def handle(self, request: Request) -> Response:
        route = request.extra['route'] = route_of(request)
        if route is not None and route[0] in OFF_API:
            # Another host (LWA, S3): the shop's knobs and limits do not
            # apply
            operation, args = route
            with self.lock:
                self.calls[operation] += 1
                return getattr(self, f'http_{operation}')(request, *args)
        return super().handle(request)

    def operation(self, request: Request) -> str:
        route = request.extra['route'] if 'route' in request.extra \
            else route_of(request)
        return route[0] if route else f'{request.method} {request.path}'

    def internal_error(self) -> Response:
        return Response.json(errors('InternalFailure',
                'We encountered an internal error. Please try again.'), 500,
            {'x-amzn-RequestId': request_id()})

    def dispatch(self, request: Request, operation: str) -> Response:
        headers = {'x-amzn-RequestId': request_id()}
        route = request.extra.get('route')
        if route is None:
            return Response.json(errors('NotFound', 'Resource not found'),
                404, headers)
        if operation in RATES:
            headers['x-amzn-RateLimit-Limit'] = self.limits.header(operation)
        if self.faults.take('throttle_next'):
            # The limit an adapter waits 1/limit on: retry_after_s
            wait = max(self.faults.retry_after_s, 0.001)
            return self._quota_exceeded(headers | {
                    'x-amzn-RateLimit-Limit': rate_text(1 / wait)})
        if not self.limits.take(operation):
            return self._quota_exceeded(headers)
        try:
            response = getattr(self, f'http_{operation}')(request,
                *route[1])
        except SpApiError as error:
            response = Response.json(error.body, error.status)
        except BadJSON as error:
            response = Response.json(errors('InvalidInput',
                    f'The request body is not valid JSON: {error}'), 400)
        response.headers.update(headers)
        return response

    @staticmethod
    def _quota_exceeded(headers: dict[str, str]) -> Response:
        return Response.json(errors('QuotaExceeded', 'You exceeded your '
                'quota for the requested resource.'), 429, headers)
