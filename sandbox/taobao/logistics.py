"""Shipping in the Taobao shop: ``taobao.logistics.offline.send`` (the
seller's own carrier), whole or split by lines (``is_split=1``,
``sub_tid`` = oids), and the shipments each trade then shows.

Shipping marks the lines' ``consign_time``, ``invoice_no`` (the
waybill) and ``logistics_company`` (the carrier's name), and the trade
SELLER_CONSIGNED_PART while lines are left, else WAIT_BUYER_CONFIRM_GOODS.
Refusals are code 15 with an isv sub_code whose suffix says why (B04: the
trade's status, B27: shipping forbidden, B12: a line already shipped,
B13: a line closed, B30: not a line of the trade; chosen here,
unconfirmed)."""
from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from .model import CARRIERS, SHIPPABLE, Params, invalid, refused, top_time
from .trades import is_open, lines_of, shipped

REFUSED = 'isv.logistics-offline-service-error:'
# The carrier of shipments the sandbox makes itself (a status asked for)
AUTO_CARRIER = 'SF'


class Logistics:
    "The shop's shipments (a part of TaobaoShop)"

    def _init_logistics(self) -> None:
        self._shipments: dict[int, list[dict[str, Any]]] = {}

    def shipments(self, tid: int | str) -> list[dict[str, Any]]:
        "The trade's shipments: [{out_sid, company_code, oids}], in order"
        with self.lock:
            return copy.deepcopy(self._shipments.get(self._lookup(tid), []))

    # The control API lists an order's fulfilments under this name
    fulfilments = shipments

    def _consign(self, tid: int, lines: list[dict[str, Any]], out_sid: str,
            company_code: str, when: dt.datetime) -> None:
        stamp = top_time(when)
        for line in lines:
            line.update({'consign_time': stamp, 'invoice_no': out_sid,
                    'logistics_company': CARRIERS[company_code],
                    'status': 'WAIT_BUYER_CONFIRM_GOODS'})
        self._orders[tid].setdefault('consign_time', stamp)
        self._shipments.setdefault(tid, []).append({'out_sid': out_sid,
                'company_code': company_code,
                'oids': [line['oid'] for line in lines]})

    def _consign_auto(self, tid: int, lines: list[dict[str, Any]],
            when: dt.datetime) -> None:
        "Lines shipped because a shipped status was asked for"
        number = len(self._shipments.get(tid, [])) + 1
        self._consign(tid, lines, f'SF{tid % 10**10:010d}{number:02d}',
            AUTO_CARRIER, when)

    def top_logistics_offline_send(self, params: Params) -> dict[str, Any]:
        tid = params.id('tid')
        out_sid = params.required('out_sid')
        code = params.required('company_code')
        split = params.get('is_split') or '0'
        if split not in ('0', '1'):
            raise invalid('is_split', "is_split must be 0 or 1")
        oids = [self._oid(text) for text in params.csv('sub_tid',
                required=split == '1')] if split == '1' else None
        record = self._orders.get(tid)
        if record is None:
            raise refused('isv.trade-not-exist', f"Trade {tid} does not "
                "exist or is not the seller's")
        if code not in CARRIERS:
            raise refused('isv.logistics-company-not-exist',
                f"Unknown logistics company code {code!r}")
        status = record['status']
        if status == 'PAID_FORBID_CONSIGN':
            raise refused(REFUSED + 'B27', f"Trade {tid} may not be "
                "shipped yet (PAID_FORBID_CONSIGN)")
        if status not in SHIPPABLE:
            raise refused(REFUSED + 'B04', f"Trade {tid} is {status}: "
                "only WAIT_SELLER_SEND_GOODS or SELLER_CONSIGNED_PART "
                "trades can be shipped")
        lines = lines_of(record)
        if oids is None:
            chosen = [line for line in lines
                if is_open(line) and not shipped(line)]
        else:
            by_oid = {line['oid']: line for line in lines}
            chosen = []
            for oid in dict.fromkeys(oids):
                line = by_oid.get(oid)
                if line is None:
                    raise refused(REFUSED + 'B30', f"{oid} is not a line "
                        f"(sub order) of trade {tid}")
                if shipped(line):
                    raise refused(REFUSED + 'B12', f"Line {oid} of trade "
                        f"{tid} has already been shipped")
                if not is_open(line):
                    raise refused(REFUSED + 'B13', f"Line {oid} of trade "
                        f"{tid} is closed")
                chosen.append(line)
        if not chosen:
            raise refused(REFUSED + 'B04', f"Trade {tid} has no line left "
                "to ship")
        self._consign(tid, chosen, out_sid, code, self.now())
        record['status'] = 'SELLER_CONSIGNED_PART' if any(
            is_open(line) and not shipped(line) for line in lines) \
            else 'WAIT_BUYER_CONFIRM_GOODS'
        self._bump(tid)
        return {'shipping': {'is_success': True}}

    @staticmethod
    def _oid(text: str) -> int:
        if not text.isdigit():
            raise invalid('sub_tid', f"sub_tid holds oids: {text!r}")
        return int(text)
