"""Signing in to the Selling Partner API (marketplace-apis.md §3.1): Login
with Amazon's refresh-token grant for an access token, kept until a minute
before it expires; Restricted Data Tokens for what Orders v0 serves only
with one (addresses, buyers). Tokens go to the log masker as soon as they
are known."""
from __future__ import annotations

import time
from typing import Any, NamedTuple

import requests

from ...logs import masker
from ..transport import AuthError, ChannelError

LWA_URL = 'https://api.amazon.com/auth/o2/token'
# What getOrders serves in full with an RDT (dataElements: unconfirmed)
RDT_RESOURCE = {'method': 'GET', 'path': '/orders/v0/orders',
    'dataElements': ['buyerInfo', 'shippingAddress']}


class Token(NamedTuple):
    value: str
    expires: float  # monotonic


class LoginWithAmazon:
    """The tokens of an Amazon adapter (a part of AmazonAdapter): its
    `transport`, `credentials`, `settings.lwa_url`, and `request` for the
    RDT call"""
    _token: Token | None = None
    _rdt: Token | None = None

    def access_token(self) -> str:
        "The LWA access token, fetched when there is none or it is old"
        if self._token is None or time.monotonic() >= self._token.expires:
            form = {'grant_type': 'refresh_token',
                'refresh_token': self.credentials['refresh_token'],
                'client_id': self.credentials['client_id'],
                'client_secret': self.credentials['client_secret']}
            answer = self.transport.call(
                'POST', self.settings.lwa_url, _read_grant, data=form)
            self._token = _kept(answer['access_token'],
                answer.get('expires_in'))
        return self._token.value

    def restricted_token(self) -> str:
        "A Restricted Data Token for Orders v0's addresses and buyers"
        if self._rdt is None or time.monotonic() >= self._rdt.expires:
            answer = self.request('createRestrictedDataToken', 'POST',
                '/tokens/2021-03-01/restrictedDataToken',
                json={'restrictedResources': [RDT_RESOURCE]}).body
            self._rdt = _kept(answer['restrictedDataToken'],
                answer.get('expiresIn'))
        return self._rdt.value

    def forget_tokens(self) -> None:
        "Amazon says a token expired early: fetch new ones"
        self._token = self._rdt = None


def _kept(value: str, expires_in: Any) -> Token:
    "A token kept until a minute before Amazon says it expires"
    masker.add([value])
    seconds = expires_in if isinstance(expires_in, int | float) else 3600
    return Token(value, time.monotonic() + max(0, seconds - 60))


def _read_grant(response: requests.Response) -> dict[str, Any]:
    "Login with Amazon's answer; a refused grant or client fails at once"
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.ok and body.get('access_token'):
        return body
    if response.status_code in {400, 401}:
        raise AuthError(f"Login with Amazon refused the credentials: "
            f"{body.get('error')}: {body.get('error_description')}")
    raise ChannelError(f"Login with Amazon answered HTTP "
        f"{response.status_code}: {response.text[:200]}")
