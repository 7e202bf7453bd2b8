"""Login with Amazon (the refresh-token grant giving access tokens) and
the Tokens API (Restricted Data Tokens) of the Amazon shop, and the
check every SP-API call goes through: ``x-amz-access-token`` holding a
live access token, or an RDT naming the call's method and path."""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs

from ..web import Request, Response
from .model import SpApiError, invalid_input, json_object, request_id

UNAUTHORIZED = 'Access to requested resource is denied.'
EXPIRED = 'The access token you provided has expired.'
RDT_LIFETIME = dt.timedelta(seconds=3600)
# What an RDT may name (Orders v0's restricted operations) and the PII
# it may ask for
RESTRICTED_PATH = re.compile(r'^/orders/v0/orders(/[^/]+'
    r'(/orderItems|/address|/buyerInfo|/orderItems/buyerInfo)?)?$')
DATA_ELEMENTS = ('buyerInfo', 'shippingAddress', 'buyerTaxInformation')


@dataclass(frozen=True)
class Grant:
    "One restricted resource of an RDT"
    method: str
    path: re.Pattern
    data_elements: frozenset[str]


@dataclass
class RestrictedToken:
    expires: dt.datetime
    grants: tuple[Grant, ...]

    def grant_for(self, request: Request) -> Grant | None:
        return next((g for g in self.grants if g.method == request.method
                and g.path.match(request.path)), None)


def _path_pattern(path: str) -> re.Pattern:
    "{orderId} matches any one segment; the rest as written"
    parts = re.split(r'\{[^/{}]+\}', path)
    return re.compile('^' + '[^/]+'.join(re.escape(p) for p in parts)
        + '/?$')


def _lwa_error(status: int, error: str, description: str) -> Response:
    return Response.json({'error': error, 'error_description': description},
        status)


def denied(details: str = '') -> SpApiError:
    return SpApiError(403, 'Unauthorized', UNAUTHORIZED, details)


class Auth:
    "Tokens of the shop (a part of AmazonShop)"

    def _init_auth(self) -> None:
        self._access_tokens: dict[str, dt.datetime] = {}
        self._restricted_tokens: dict[str, RestrictedToken] = {}

    def expire_tokens(self) -> None:
        """Every access token and RDT issued so far expires now, as an
        hour passing would (tests of a refresh)"""
        with self.lock:
            past = self.now() - dt.timedelta(seconds=1)
            for token in self._access_tokens:
                self._access_tokens[token] = past
            for rdt in self._restricted_tokens.values():
                rdt.expires = past

    def http_token(self, request: Request) -> Response:
        """POST /auth/o2/token (LWA, form-encoded): the refresh-token
        grant. Client credentials are checked first, as LWA does."""
        form = {key: values[-1] for key, values in parse_qs(
                request.body.decode('utf-8', 'replace'),
                keep_blank_values=True).items()}
        if form.get('grant_type') != 'refresh_token':
            return _lwa_error(400, 'unsupported_grant_type',
                'The authorization grant type is not supported by the '
                'authorization server')
        if (form.get('client_id') != self.client_id
                or form.get('client_secret') != self.client_secret):
            return _lwa_error(401, 'invalid_client',
                'Client authentication failed')
        if form.get('refresh_token') != self.refresh_token:
            return _lwa_error(400, 'invalid_grant',
                'The request has an invalid grant parameter : '
                'refresh_token')
        token = 'Atza|' + secrets.token_urlsafe(32)
        lifetime = self.token_lifetime_s
        self._access_tokens[token] = self.now() + dt.timedelta(
            seconds=lifetime)
        return Response.json({'access_token': token, 'token_type': 'bearer',
                'expires_in': int(lifetime),
                'refresh_token': self.refresh_token})

    def http_createRestrictedDataToken(self, request: Request) -> Response:
        body = json_object(request)
        resources = body.get('restrictedResources')
        if not isinstance(resources, list) or not resources:
            raise invalid_input("restrictedResources is required")
        grants = []
        for resource in resources:
            if not isinstance(resource, dict):
                raise invalid_input("restrictedResources holds objects")
            method, path = resource.get('method'), resource.get('path')
            elements = resource.get('dataElements') or []
            if method not in ('GET', 'PUT', 'POST', 'DELETE'):
                raise invalid_input(f"Invalid method: {method!r}")
            if not isinstance(path, str) or not RESTRICTED_PATH.match(path):
                raise invalid_input(f"{path!r} is not a restricted "
                    "operation path")
            if not isinstance(elements, list) or not elements or any(
                    e not in DATA_ELEMENTS for e in elements):
                raise invalid_input("dataElements is required for Orders "
                    "API paths: any of " + ', '.join(DATA_ELEMENTS))
            grants.append(Grant(method, _path_pattern(path),
                    frozenset(elements)))
        token = 'Atz.sprdt|' + secrets.token_urlsafe(32)
        self._restricted_tokens[token] = RestrictedToken(
            self.now() + RDT_LIFETIME, tuple(grants))
        return Response.json({'restrictedDataToken': token,
                'expiresIn': int(RDT_LIFETIME.total_seconds())})

    def authenticate(self, request: Request) -> Response | None:
        """None when x-amz-access-token lets the call through (its PII
        grant noted in request.extra['pii']), else the 403 answer"""
        token = request.headers.get('x-amz-access-token', '')
        with self.lock:
            now = self.now()
            expires = self._access_tokens.get(token)
            rdt = self._restricted_tokens.get(token)
            try:
                if expires is not None:
                    if expires <= now:
                        raise denied(EXPIRED)
                    request.extra['pii'] = frozenset()
                    return None
                if rdt is None:
                    raise denied()
                if rdt.expires <= now:
                    raise denied(EXPIRED)
                grant = rdt.grant_for(request)
                if grant is None:
                    raise denied()
                request.extra['pii'] = grant.data_elements
                return None
            except SpApiError as error:
                return Response.json(error.body, error.status,
                    {'x-amzn-RequestId': request_id()})

