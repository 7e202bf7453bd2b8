"""The ERP client: the agent's side of the ERP contract
(oms_contract/openapi.yaml). Plain HTTP with requests; nothing here knows
Tryton."""
from __future__ import annotations

import json
import logging
from typing import Any

import requests
from pydantic import BaseModel
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from oms_contract.models import (
    ChannelReturn,
    FulfilmentFailure,
    FulfilmentPushed,
    Order,
    RefundFailure,
    RefundPushed,
    RejectedOrder,
    RejectedReturn,
    StockDrift,
    StockFailure,
    StockPushed,
)

logger = logging.getLogger(__name__)

# Answers worth another try: the ERP restarting or briefly overloaded.
# Every route is idempotent (orders are bound by their channel id, acks
# set absolute figures), so a retried call never doubles anything.
TRANSIENT = {502, 503, 504}


class ErpError(Exception):
    "The ERP answered an error: its HTTP status and the error body's parts"

    def __init__(self, status: int, code: str, message: str,
            details: dict | None = None):
        text = f"{status} {code}: {message}"
        if details:
            # What the ERP pointed at (a field, a SKU) is the useful part.
            text += f" {json.dumps(details, default=str)[:500]}"
        super().__init__(text)
        self.status, self.code, self.message = status, code, message
        self.details = details or {}


class ErpClient:
    def __init__(self, url: str, database: str, key: str,
            timeout: float = 120, session: requests.Session | None = None,
            attempts: int = 5):
        self.base = f"{url.rstrip('/')}/{database}/oms/v1"
        self.timeout = timeout
        self.attempts = attempts
        self.session = session or requests.Session()
        self.session.headers['Authorization'] = f'Bearer {key}'

    def __repr__(self) -> str:
        # Never show the key.
        return f'<ErpClient {self.base}>'

    def _call(self, method: str, path: str, json: Any = None,
            params: dict | None = None) -> dict:
        retrying = Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=0.5, max=10),
            before_sleep=lambda state: logger.warning(
                "ERP %s %s failed (%s), retrying", method, path,
                state.outcome.exception()),
            reraise=True)
        return retrying(self._send, method, path, json, params)

    def _send(self, method: str, path: str, json: Any,
            params: dict | None) -> dict:
        response = self.session.request(
            method, self.base + path, json=json, params=params,
            timeout=self.timeout)
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
            rejected: list[RejectedOrder | dict] | None = None,
            dry_run: bool = False) -> dict:
        """Import orders (and hold the rejected ones, which the agent could
        not read) and store the cursor in one transaction; returns the
        ERP's answer with one result per order. A dry run answers the same
        and keeps nothing."""
        payload = {'orders': [_json(o) for o in orders], 'cursor': cursor}
        if rejected:
            payload['rejected'] = [_json(r) for r in rejected]
        return self._call('POST', f'/channels/{channel}/orders', payload,
            params={'dry_run': '1'} if dry_run else None)

    def summary(self, channel: str, external_ids: bool = False) -> dict:
        """The channel's orders in the ERP: how many, by state, those on
        hold with their reasons (and every channel id, when asked)"""
        return self._call('GET', f'/channels/{channel}/summary',
            params={'external_ids': int(external_ids)})

    def stock_levels(self, channel: str, all: bool = False,
            limit: int | None = None) -> dict:
        """The channel's stock levels that differ from what it last
        accepted (every level with all, for a full reconciliation), sorted
        by SKU: {"levels": [...], "pending": how many differ in all}."""
        params: dict[str, int] = {'all': int(all)}
        if limit is not None:
            params['limit'] = limit
        return self._call(
            'GET', f'/channels/{channel}/stock', params=params)

    def ack_stock(self, channel: str, pushed: list[StockPushed | dict],
            failed: list[StockFailure | dict],
            drift: list[StockDrift | dict] = ()) -> dict:
        """Tell the ERP which quantities the channel accepted ({"sku",
        "warehouse", "quantity", "version"}), which levels it refused
        ({"sku", "warehouse", "reason", "error"}) and, after a
        reconciliation, which it found drifted ({"sku", "warehouse",
        "expected", "found"}); returns how many were recorded and how many
        are still pending."""
        payload = {
            'pushed': [_json(p) for p in pushed],
            'failed': [_json(f) for f in failed],
            'drift': [_json(d) for d in drift],
            }
        return self._call('POST', f'/channels/{channel}/stock/ack', payload)

    def fulfilments(self, channel: str, limit: int | None = None) -> dict:
        """The channel's shipments waiting to be marked shipped on it
        (those that failed lately wait out a back-off first):
        {"fulfilments": [...], "pending": how many wait in all}."""
        params = {'limit': limit} if limit is not None else None
        return self._call(
            'GET', f'/channels/{channel}/fulfilments', params=params)

    def ack_fulfilments(self, channel: str,
            pushed: list[FulfilmentPushed | dict],
            failed: list[FulfilmentFailure | dict]) -> dict:
        """Tell the ERP which fulfilments the channel accepted ({"id",
        "external_id"}) and which it refused ({"id", "error"}); returns how
        many were recorded and how many are still pending."""
        payload = {
            'pushed': [_json(p) for p in pushed],
            'failed': [_json(f) for f in failed],
            }
        return self._call(
            'POST', f'/channels/{channel}/fulfilments/ack', payload)

    def returns_cursor(self, channel: str) -> str | None:
        """Where the channel's last pull of refunds and returns got to
        (an ISO UTC time the agent stored with them); None: never pulled.
        An ERP without after-sales answers no returns_cursor: None too."""
        return self._call(
            'GET', f'/channels/{channel}/cursor').get('returns_cursor')

    def post_returns(self, channel: str,
            returns: list[ChannelReturn | dict], cursor: str | None,
            rejected: list[RejectedReturn | dict] = ()) -> dict:
        """Post the channel's refunds and returns (and those that could not
        be read, to keep flagged) and the returns cursor in one
        transaction; the ERP binds each to its RMA by (channel,
        external_id), so a replay creates nothing twice. Returns one
        result per return, then per rejected one ({"external_id", "kind",
        "result", "rma", "state"}), and the stored returns_cursor."""
        return self._call('POST', f'/channels/{channel}/returns', {
                'returns': [_json(r) for r in returns],
                'rejected': [_json(r) for r in rejected],
                'cursor': cursor})

    def refunds(self, channel: str, limit: int | None = None) -> dict:
        """The refunds issued in the ERP waiting to be made on the
        channel: {"refunds": [...], "pending": how many wait in all}."""
        params = {'limit': limit} if limit is not None else None
        return self._call(
            'GET', f'/channels/{channel}/refunds', params=params)

    def ack_refunds(self, channel: str, pushed: list[RefundPushed | dict],
            failed: list[RefundFailure | dict]) -> dict:
        """Tell the ERP which refunds the channel made ({"id",
        "external_id"}) and which it refused or cannot take ({"id",
        "error", "manual"}); returns how many were recorded and how many
        are still pending."""
        payload = {
            'pushed': [_json(p) for p in pushed],
            'failed': [_json(f) for f in failed],
            }
        return self._call(
            'POST', f'/channels/{channel}/refunds/ack', payload)

    def acquire_lease(self, channel: str, job: str, holder: str,
            ttl: int) -> dict:
        """Take or renew the channel's lease for a job, for ttl seconds
        ({"granted", "holder", "expires_at", "ttl", ...}); ErpError 409
        (code lease_held, details holder and expires_at) when another
        holder has it, 404 from an ERP without leases."""
        return self._call('POST', f'/channels/{channel}/leases/{job}',
            {'holder': holder, 'ttl': ttl})

    def release_lease(self, channel: str, job: str, holder: str) -> dict:
        """Let holder's lease lapse now ({"released": bool}), so that
        another agent takes the job at once"""
        return self._call('DELETE', f'/channels/{channel}/leases/{job}',
            params={'holder': holder})

    def leases(self, channel: str) -> list[dict]:
        "The channel's leases: who holds (or last held) each job, until when"
        return self._call('GET', f'/channels/{channel}/leases')['leases']


def _transient(error: BaseException) -> bool:
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        return True
    return isinstance(error, ErpError) and error.status in TRANSIENT


def _json(item: BaseModel | dict) -> dict:
    "A canonical model as JSON data; plain dicts pass as they are"
    if isinstance(item, BaseModel):
        return item.model_dump(mode='json')
    return item
