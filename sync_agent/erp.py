"""The ERP client: the agent's side of the ERP contract
(oms_connector/openapi.yaml). Plain HTTP with requests; nothing here knows
Tryton."""
from __future__ import annotations

from typing import Any

import requests

from .models import Order, RejectedOrder


class ErpError(Exception):
    "The ERP answered an error: its HTTP status and the error body's parts"

    def __init__(self, status: int, code: str, message: str,
            details: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details = details or {}


class ErpClient:
    def __init__(self, url: str, database: str, key: str,
            timeout: float = 60, session: requests.Session | None = None):
        self.base = f"{url.rstrip('/')}/{database}/oms/v1"
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers['Authorization'] = f'Bearer {key}'

    def __repr__(self) -> str:
        # Never show the key.
        return f'<ErpClient {self.base}>'

    def _call(self, method: str, path: str, json: Any = None) -> dict:
        response = self.session.request(
            method, self.base + path, json=json, timeout=self.timeout)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.ok and isinstance(body, dict):
            return body
        error = (body or {}).get('error') if isinstance(body, dict) else None
        if error:
            raise ErpError(
                response.status_code, error.get('code', ''),
                error.get('message', ''), error.get('details'))
        raise ErpError(
            response.status_code, 'http_error', response.text[:200])

    def channels(self) -> list[dict]:
        return self._call('GET', '/channels')['channels']

    def cursor(self, channel: str) -> str | None:
        return self._call('GET', f'/channels/{channel}/cursor')['cursor']

    def post_orders(self, channel: str, orders: list[Order | dict],
            cursor: str | None,
            rejected: list[RejectedOrder | dict] = ()) -> dict:
        """Import orders, and the orders the agent could not read, and store
        the cursor in one transaction; returns the ERP's answer with one
        result per order (the readable ones first)."""
        payload = {
            'orders': [_json(o) for o in orders],
            'cursor': cursor,
            }
        if rejected:
            payload['rejected'] = [_json(r) for r in rejected]
        return self._call('POST', f'/channels/{channel}/orders', payload)


def _json(model: Order | RejectedOrder | dict) -> dict:
    if isinstance(model, dict):
        return model
    return model.model_dump(mode='json')
