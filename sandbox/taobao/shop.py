"""The Taobao shop: its parts put together, its options, and TOP's router
(``POST {base}/router/rest``, GET too): the common parameters checked in
TOP's order, then the call limits, then the method; every answer HTTP
200 JSON, ``{"<method>_response": {...}}`` or ``{"error_response":
{...}}``."""
from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qs

from ..options import Options, check, defaults, natural, rate, seconds
from ..shop import Host, Shop
from ..web import Request, Response
from .catalog import Catalog
from .limits import CallLimit
from .logistics import Logistics
from .model import (
    Params,
    TopError,
    invalid,
    limited,
    missing,
    parse_top_time,
    remote_error,
    request_id,
)
from .privacy import Vault
from .refunds import Refunds
from .signing import SIGN_METHODS, sign
from .trades import Trades

ROUTER = '/router/rest'
METHODS = ('taobao.trades.sold.increment.get', 'taobao.trade.fullinfo.get',
    'taobao.items.custom.get', 'taobao.item.quantity.update',
    'taobao.skus.quantity.update', 'taobao.logistics.offline.send',
    'taobao.refunds.receive.get')
# name: (check, default). What each plays is in the package docstring.
OPTIONS: Options = {
    'calls_per_second': (rate, 0.0),
    'ban_s': (natural, 1),
    'skew_s': (seconds, 600.0),
    }


def _name(method: str) -> str:
    "taobao.trade.fullinfo.get → trade_fullinfo_get"
    return method.removeprefix('taobao.').replace('.', '_')


class TaobaoShop(Catalog, Trades, Logistics, Refunds, Shop):
    kind = 'taobao'
    default_currency = 'CNY'

    def __init__(self, sandbox: Host, name: str, app_key: str,
            app_secret: str, session: str, currency: str | None = None,
            **options: Any) -> None:
        super().__init__(sandbox, name, currency)
        self.app_key = app_key
        self.app_secret = app_secret
        self.session = session
        self.vault = Vault(f'{name}/{app_secret}')
        self.call_limit = CallLimit()
        self._init_catalog()
        self._init_trades()
        self._init_logistics()
        self._init_refunds()
        self.set_options(**defaults(OPTIONS) | options)

    # -- identity and options -------------------------------------------

    @property
    def credentials(self) -> dict[str, str]:
        return {'app_key': self.app_key, 'app_secret': self.app_secret,
            'session': self.session}

    @property
    def settings(self) -> dict[str, Any]:
        # Trades are indexed here as they change: a window may end at the
        # last whole second (the adapter's default waits for TOP's index)
        return {'settle_seconds': 0}

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return super().describe() | {
                'credentials': self.credentials, 'settings': self.settings,
                'options': self.options()}

    def options(self) -> dict[str, Any]:
        with self.lock:
            return {name: getattr(self, name) for name in OPTIONS}

    def set_options(self, **values: Any) -> dict[str, Any]:
        """Change options (see OPTIONS), checked as a whole first: an
        unknown name or a wrong value changes nothing (ValueError). A new
        call limit starts afresh (no ban)."""
        checked = check(OPTIONS, values)
        with self.lock:
            for name, value in checked.items():
                setattr(self, name, value)
            self.call_limit.set(self.calls_per_second, self.ban_s)
            return self.options()

    # -- serving ---------------------------------------------------------

    @staticmethod
    def _params(request: Request) -> Params:
        "Query and form merged (the form wins; the last value of each)"
        values = {k: v[-1] for k, v in request.query.items()}
        if request.body:
            form = parse_qs(request.body.decode('utf-8', 'replace'),
                keep_blank_values=True)
            values.update({k: v[-1] for k, v in form.items()})
        return Params(values)

    def operation(self, request: Request) -> str:
        "Calls are counted by method name"
        if 'params' not in request.extra:
            request.extra['params'] = self._params(request)
        return request.extra['params'].get('method') or '(no method)'

    def authenticate(self, request: Request) -> Response | None:
        if request.path.rstrip('/') != ROUTER:
            return Response.json({'error': f'no route {request.path}'}, 404)
        try:
            self._check_common(request.extra['params'])
        except TopError as error:
            return Response.json(error.body())
        return None

    def _check_common(self, params: Params) -> None:
        "TOP's common parameters, in the order TOP checks them"
        method = params.get('method')
        if method is None:
            raise missing('method')
        if method not in METHODS:
            raise TopError(22, 'Invalid Method', sub_msg=f"{method} is not "
                "a method of this sandbox")
        app_key = params.get('app_key')
        if app_key is None:
            raise TopError(28, 'Missing App Key')
        if app_key != self.app_key:
            raise TopError(29, 'Invalid App Key')
        timestamp = params.get('timestamp')
        if timestamp is None:
            raise missing('timestamp')
        try:
            sent = parse_top_time(timestamp)
        except ValueError:
            raise TopError(31, 'Invalid Timestamp', sub_msg="timestamp "
                "must be yyyy-MM-dd HH:mm:ss in GMT+8") from None
        if abs((sent - self.now()).total_seconds()) > self.skew_s:
            raise TopError(31, 'Invalid Timestamp', sub_msg="timestamp is "
                f"more than {self.skew_s:g} seconds from the server's time "
                "(GMT+8)")
        version = params.get('v')
        if version is None:
            raise missing('v')
        if version != '2.0':
            raise invalid('v', "v must be 2.0")
        if params.get('format') != 'json':
            raise TopError(21, 'Invalid Format', sub_msg="only format=json "
                "is simulated")
        method_name = params.get('sign_method') or 'md5'
        if method_name not in SIGN_METHODS:
            raise invalid('sign_method', "sign_method must be one of "
                + ', '.join(SIGN_METHODS))
        signature = params.get('sign')
        if signature is None:
            raise missing('sign')
        if signature.upper() != sign(params.values, self.app_secret,
                method_name):
            raise TopError(25, 'Invalid Signature')
        session = params.get('session')
        if session is None:
            raise TopError(26, 'Missing Session')
        if session != self.session:
            raise TopError(27, 'Invalid Session')

    def internal_error(self) -> Response:
        "TOP answers its own failures with HTTP 200 and an isp sub_code"
        return Response.json(remote_error().body())

    def dispatch(self, request: Request, operation: str) -> Response:
        params: Params = request.extra['params']
        try:
            if self.faults.take('throttle_next'):
                raise limited(math.ceil(self.faults.retry_after_s))
            banned = self.call_limit.take()
            if banned is not None:
                raise limited(banned)
            body = getattr(self, f'top_{_name(operation)}')(params)
        except TopError as error:
            return Response.json(error.body())
        return Response.json({f'{_name(operation)}_response':
                body | {'request_id': request_id()}})
