"""The TOP router (marketplace-apis.md §5.1): every call is one signed
form POST to ``{base_url}/router/rest`` naming its ``method``; answers are
``{"<method>_response": …}`` or ``{"error_response": …}``, both HTTP 200.

Platform errors are handled by their meaning:
- 4, 5, 7, 8 and ``accesscontrol.*`` (call limits): wait the seconds the
  ``sub_msg`` names ("This ban will last for N more seconds"), else back
  off;
- 10, 15 with an ``isp.*`` sub-code (or none), and any ``isp.*``: the
  platform's trouble, retried later;
- 11, 12, 25–29 (permissions, signature, session, app key): AuthError,
  at once;
- 31: the timestamp is refused: this machine's clock is wrong;
- everything else (``isv.*``: the call itself is wrong) fails at once,
  as a TopError with the codes and TOP's words.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any

import requests

from ..transport import (
    AuthError,
    ChannelError,
    Retryable,
    Transport,
    json_body,
)
from .mapper import top_time_text

SIGN_METHODS = ('md5', 'hmac', 'hmac-sha256')
CALL_LIMITS = {4, 5, 7, 8}
PLATFORM_TROUBLE = {10, 15}
REFUSED_CREDENTIALS = {11, 12, 25, 26, 27, 28, 29}
INVALID_TIMESTAMP = 31
_BAN = re.compile(r'(\d+(?:\.\d+)?)\s*(?:more\s+)?(?:seconds?|secs?|s\b|秒)',
    re.IGNORECASE)


def sign(params: Mapping[str, str], secret: str, method: str) -> str:
    """TOP's signature of a request's parameters: every one but ``sign``
    with a value, sorted by name, concatenated name+value; md5 wraps that
    in the secret, hmac and hmac-sha256 key it with the secret. Upper-case
    hex."""
    text = ''.join(f'{name}{params[name]}' for name in sorted(params)
        if name != 'sign' and params[name] not in (None, ''))
    key = secret.encode()
    if method == 'md5':
        digest = hashlib.md5(key + text.encode() + key).hexdigest()
    elif method == 'hmac':
        digest = hmac.new(key, text.encode(), hashlib.md5).hexdigest()
    elif method == 'hmac-sha256':
        digest = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"sign_method must be one of {SIGN_METHODS}")
    return digest.upper()


def ban_seconds(message: str | None) -> float | None:
    "The seconds a call-limit message says the ban lasts, if it says"
    found = _BAN.search(message or '')
    return float(found.group(1)) if found else None


def response_key(method: str) -> str:
    """Where a method's answer is (taobao.trade.fullinfo.get →
    trade_fullinfo_get_response)"""
    name = method.removeprefix('taobao.')
    return name.replace('.', '_') + '_response'


class TopError(ChannelError):
    "TOP refused the call itself (an isv.* error): sending it again won't help"

    def __init__(self, method: str, error: dict[str, Any]):
        self.code = error.get('code')
        self.sub_code = str(error.get('sub_code') or '')
        self.msg = str(error.get('msg') or '')
        self.sub_msg = str(error.get('sub_msg') or '')
        super().__init__(f"{method}: {describe(error)}")


def describe(error: dict[str, Any]) -> str:
    "An error_response as staff read it: code, sub-code and TOP's words"
    parts = [f"code {error.get('code')}"]
    if error.get('sub_code'):
        parts.append(str(error['sub_code']))
    words = '; '.join(str(error[name]) for name in ('msg', 'sub_msg')
        if error.get(name))
    return ' '.join(parts) + (f": {words}" if words else '')


class Router:
    "One seller's calls to TOP: signed, sent through the transport, read"

    def __init__(self, base_url: str, credentials: Mapping[str, str],
            transport: Transport, sign_method: str = 'hmac',
            clock: Callable[[], dt.datetime] | None = None):
        self.url = base_url.rstrip('/') + '/router/rest'
        self.app_key = credentials['app_key']
        self.secret = credentials['app_secret']
        self.session = credentials['session']
        self.transport = transport
        self.sign_method = sign_method
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def __repr__(self) -> str:
        return f'<Router {self.url}>'  # never the secret or the session

    def call(self, method: str, attempts: int | None = None,
            **arguments: Any) -> dict[str, Any]:
        """The answer of one TOP method (inside its ``…_response``).
        `attempts=1` for a write that is not idempotent: its caller reads
        what happened before sending it again."""
        params = {
            'method': method, 'app_key': self.app_key,
            'session': self.session,
            'timestamp': top_time_text(self.clock()),
            'format': 'json', 'v': '2.0', 'sign_method': self.sign_method,
            **{name: _text(value) for name, value in arguments.items()
                if value is not None}}
        params['sign'] = sign(params, self.secret, self.sign_method)
        return self.transport.call('POST', self.url,
            lambda response: self._read(method, response),
            attempts=attempts, data=params, headers={
                'Content-Type':
                    'application/x-www-form-urlencoded;charset=utf-8'})

    @staticmethod
    def _read(method: str, response: requests.Response) -> dict[str, Any]:
        body = json_body(response)
        if not isinstance(body, dict):
            raise Retryable(f"{method}: an answer that is not an object")
        error = body.get('error_response')
        if isinstance(error, dict):
            raise _error(method, error)
        answer = body.get(response_key(method))
        if not isinstance(answer, dict):
            raise Retryable(
                f"{method}: the answer has no {response_key(method)}")
        return answer


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, dt.datetime):
        return top_time_text(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ','.join(str(v) for v in value)
    return str(value)


def _error(method: str, error: dict[str, Any]) -> Exception:
    "What an error_response means for the call (see the module docstring)"
    try:
        code = int(error.get('code'))
    except (TypeError, ValueError):
        code = None
    sub_code = str(error.get('sub_code') or '')
    text = f"{method}: {describe(error)}"
    if code in CALL_LIMITS or sub_code.startswith('accesscontrol.'):
        return Retryable(text, wait=ban_seconds(
                str(error.get('sub_msg') or error.get('msg') or '')))
    if sub_code.startswith('isp.') or (
            code in PLATFORM_TROUBLE and not sub_code):
        return Retryable(text)
    if code in REFUSED_CREDENTIALS:
        return AuthError(f"TOP refused the credentials: {text}")
    if code == INVALID_TIMESTAMP:
        return ChannelError(f"{text}: TOP allows 10 minutes between this "
            "machine's clock and Beijing time; set the clock right (NTP)")
    return TopError(method, error)
