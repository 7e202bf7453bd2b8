"""Refunds (退款) of the Taobao shop and ``taobao.refunds.receive.get``.

A refund is about one line (oid). Opening one shows on its line
(``refund_status``, ``refund_id``) and modifies the trade; it moves
through WAIT_SELLER_AGREE, WAIT_BUYER_RETURN_GOODS,
WAIT_SELLER_CONFIRM_GOODS (goods sent back: ``sid``, ``company_name``),
SELLER_REFUSE_BUYER, to CLOSED or SUCCESS. A line refunded in full
(SUCCESS) before it shipped closes (TRADE_CLOSED, its units back on the
shelf); a trade whose lines all closed is TRADE_CLOSED.

The sellers' API makes no refund: ``refund()`` plays one the platform
made after the buyer asked, without goods (``has_good_return`` false);
``request_return()`` a buyer asking to send goods back."""
from __future__ import annotations

import copy
import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from .. import generator
from .model import (
    ID_STEP,
    REFUND_START,
    REFUND_STATUSES,
    Fields,
    Params,
    invalid,
    money,
    paged,
    spread,
    top_time,
)
from .trades import amount, count, is_open, lines_of, shipped

FINAL = ('SUCCESS', 'CLOSED')
# Refund reasons as buyers pick them
NOT_WANTED = '不想要了'
RETURN_REASON = '七天无理由退换货'
CANCELLED = '协商一致退款'


class Refunds:
    "The shop's refunds (a part of TaobaoShop)"

    def _init_refunds(self) -> None:
        self._refunds: dict[int, dict[str, Any]] = {}
        self._refund_updated: dict[int, dt.datetime] = {}
        self._refund_ids = itertools.count(REFUND_START, ID_STEP)
        # oid → what SUCCESS refunds gave back
        self._refunded: dict[int, Decimal] = {}

    # -- Python API ------------------------------------------------------

    def refunds(self, tid: int | str) -> list[dict[str, Any]]:
        "The trade's refunds as refunds.receive.get serves them, oldest first"
        with self.lock:
            number = self._lookup(tid)
            return [copy.deepcopy(r) for r in self._refunds.values()
                if r['tid'] == number]

    def refund(self, tid: int | str, amount: Decimal | str | None = None,
            lines: dict[str, int] | list | None = None,
            reason: str = NOT_WANTED) -> list[dict[str, Any]]:
        """Refunds made by the platform (SUCCESS, no goods back), one a
        line: lines as {sku or oid: quantity} (their share of what the
        buyer paid), amount spread over them; without lines, amount taken
        from the lines in order; with neither, all that is left. Returns
        the refunds."""
        with self.lock:
            number = self._lookup(tid)
            self._check_paid(number)
            if lines:
                picked = [(line, quantity, self._unit_share(line, quantity))
                    for line, quantity in self._picked(number, lines)]
                if amount is not None:
                    shares = spread(generator.cents(amount),
                        [fee for _, _, fee in picked])
                    picked = [(line, quantity, share) for (line, quantity,
                            _), share in zip(picked, shares, strict=True)]
            else:
                picked = self._fill(number, None if amount is None
                    else generator.cents(amount))
            now = self.now()
            made = [self._open(number, line, fee, quantity, False, reason,
                    'SUCCESS', now) for line, quantity, fee in picked]
            self._after(number, now)
            return made

    def request_return(self, tid: int | str, lines: dict[str, int] | list,
            reason: str = RETURN_REASON) -> list[dict[str, Any]]:
        """The buyer asks to send units back for their money (lines as
        {sku or oid: quantity}): a refund with goods a line,
        WAIT_SELLER_AGREE. Returns the refunds."""
        with self.lock:
            number = self._lookup(tid)
            self._check_paid(number)
            now = self.now()
            made = [self._open(number, line, self._unit_share(line,
                        quantity), quantity, True, reason,
                    'WAIT_SELLER_AGREE', now)
                for line, quantity in self._picked(number, lines)]
            self._after(number, now)
            return made

    def open_refund(self, tid: int | str, sku_or_oid: str | int,
            amount: Decimal | str, has_good_return: bool = False,
            reason: str = NOT_WANTED) -> dict[str, Any]:
        "The buyer asks a refund of a line: WAIT_SELLER_AGREE"
        with self.lock:
            number = self._lookup(tid)
            self._check_paid(number)
            [(line, quantity)] = self._picked(number, {sku_or_oid: 0})
            now = self.now()
            made = self._open(number, line, generator.cents(amount),
                count(line['num']), has_good_return, reason,
                'WAIT_SELLER_AGREE', now)
            self._after(number, now)
            return made

    def set_refund_status(self, refund_id: int | str,
            status: str) -> dict[str, Any]:
        """A refund moved on (the seller agrees, refuses, the platform
        settles); SUCCESS and CLOSED are final"""
        if status not in REFUND_STATUSES:
            raise ValueError(f"refund status must be one of "
                f"{', '.join(REFUND_STATUSES)}")
        with self.lock:
            refund = self._refund(refund_id)
            if refund['status'] in FINAL:
                raise ValueError(f"refund {refund_id} is {refund['status']}"
                    ": it cannot change")
            now = self.now()
            self._change(refund, status, now)
            self._after(refund['tid'], now)
            return copy.deepcopy(refund)

    def return_goods(self, refund_id: int | str, sid: str,
            company_name: str) -> dict[str, Any]:
        """The buyer sent the goods back (waybill sid with company_name):
        WAIT_SELLER_CONFIRM_GOODS"""
        with self.lock:
            refund = self._refund(refund_id)
            if not refund['has_good_return'] or refund['status'] not in (
                    'WAIT_SELLER_AGREE', 'WAIT_BUYER_RETURN_GOODS'):
                raise ValueError(f"refund {refund_id} waits for no goods")
            refund.update({'sid': sid, 'company_name': company_name,
                    'good_status': 'BUYER_RETURNED_GOODS'})
            now = self.now()
            self._change(refund, 'WAIT_SELLER_CONFIRM_GOODS', now)
            self._after(refund['tid'], now)
            return copy.deepcopy(refund)

    # -- inside ----------------------------------------------------------

    def _refund(self, refund_id: int | str) -> dict[str, Any]:
        refund = self._refunds.get(int(refund_id))
        if refund is None:
            raise KeyError(f"{self.name}: no refund {refund_id}")
        return refund

    def _check_paid(self, tid: int) -> None:
        if not self._paid(tid):
            raise ValueError(f"trade {tid} is not paid: nothing to refund")

    def _picked(self, tid: int, lines: dict | list
            ) -> list[tuple[dict[str, Any], int]]:
        "(line, quantity) of {sku or oid: quantity} or [(sku, quantity)]"
        wanted = list(lines.items()) if isinstance(lines, dict) \
            else list(lines)
        found = []
        for key, quantity in wanted:
            line = next((line for line in lines_of(self._orders[tid])
                    if str(key) in (line.get('outer_sku_id'),
                        line.get('outer_iid'), str(line['oid']))), None)
            if line is None:
                raise ValueError(f"trade {tid} has no line {key!r}")
            found.append((line, int(quantity)))
        return found

    @staticmethod
    def _unit_share(line: dict[str, Any], quantity: int) -> Decimal:
        "What the buyer paid for units of a line"
        units = count(line['num']) or 1
        return generator.cents(amount(line['payment']) * quantity / units)

    def _left(self, line: dict[str, Any]) -> Decimal:
        return amount(line['payment']) - self._refunded.get(line['oid'],
            Decimal(0))

    def _fill(self, tid: int, total: Decimal | None
            ) -> list[tuple[dict[str, Any], int, Decimal]]:
        "An amount (None: all that is left) taken from the lines in order"
        picked = []
        for line in lines_of(self._orders[tid]):
            left = self._left(line)
            if not is_open(line) or left <= 0:
                continue
            fee = left if total is None else min(left, total)
            if fee > 0:
                picked.append((line, count(line['num']), fee))
            if total is not None:
                total -= fee
        if not picked or total:
            raise ValueError(f"cannot refund that much of trade {tid}")
        return picked

    def _open(self, tid: int, line: dict[str, Any], fee: Decimal,
            quantity: int, goods: bool, reason: str, status: str,
            when: dt.datetime) -> dict[str, Any]:
        if not 0 < fee <= self._left(line):
            raise ValueError(f"cannot refund {fee} of line {line['oid']}: "
                f"{self._left(line)} is left")
        refund_id = next(self._refund_ids)
        stamp = top_time(when)
        refund = {'refund_id': refund_id, 'tid': tid, 'oid': line['oid'],
            'title': line['title'], 'num': quantity,
            'total_fee': line['payment'], 'refund_fee': money(fee),
            'status': status, 'created': stamp, 'modified': stamp,
            'good_status': 'BUYER_RECEIVED' if shipped(line)
                else 'BUYER_NOT_RECEIVED',
            'has_good_return': goods, 'reason': reason, 'desc': '',
            'order_status': line['status'],
            'refund_phase': 'aftersale' if shipped(line) else 'onsale',
            'outer_id': line.get('outer_sku_id') or line.get('outer_iid')}
        self._refunds[refund_id] = refund
        line['refund_id'] = refund_id
        self._change(refund, status, when)
        return refund

    def _change(self, refund: dict[str, Any], status: str,
            when: dt.datetime) -> None:
        "A refund's new status, shown on its line; SUCCESS pays it out"
        refund['status'] = status
        updated = max(when, self._refund_updated.get(refund['refund_id'],
                when))
        self._refund_updated[refund['refund_id']] = updated
        refund['modified'] = top_time(updated)
        line = next(line for line in lines_of(self._orders[refund['tid']])
            if line['oid'] == refund['oid'])
        if line.get('refund_id') == refund['refund_id']:
            line['refund_status'] = status
        if status == 'SUCCESS':
            oid = line['oid']
            self._refunded[oid] = self._refunded.get(oid, Decimal(0)) + \
                amount(refund['refund_fee'])
            if self._left(line) <= 0 and not shipped(line):
                line['status'] = 'TRADE_CLOSED'
        refund['order_status'] = line['status']

    def _after(self, tid: int, when: dt.datetime) -> None:
        "The trade after its refunds changed: settled, modified"
        self._settle_status(tid, when)
        self._bump(tid)

    def _refund_rest(self, tid: int, when: dt.datetime) -> None:
        "A paid trade closed: what is left of each open line refunded"
        for line in lines_of(self._orders[tid]):
            left = self._left(line)
            if is_open(line) and left > 0:
                self._open(tid, line, left, count(line['num']), False,
                    CANCELLED, 'SUCCESS', when)

    # -- calls -----------------------------------------------------------

    def top_refunds_receive_get(self, params: Params) -> dict[str, Any]:
        """Refunds by modified time, newest first (refund_id descending
        among equals; unconfirmed), both bounds included"""
        fields = Fields.parse(params.csv('fields', required=True))
        status = params.get('status')
        if status is not None and status not in REFUND_STATUSES:
            raise invalid('status', f"unknown refund status {status!r}")
        start = params.time('start_modified')
        end = params.time('end_modified')
        if start is not None and end is not None and end <= start:
            raise invalid('end_modified', "end_modified must be later than "
                "start_modified")
        low = start or dt.datetime.min.replace(tzinfo=dt.UTC)
        high = end or dt.datetime.max.replace(tzinfo=dt.UTC)
        found = sorted((key for key, when in self._refund_updated.items()
                if low <= when <= high and (status is None
                    or self._refunds[key]['status'] == status)),
            key=lambda key: (self._refund_updated[key], key), reverse=True)
        return paged(params, found, 'refunds', 'refund',
            lambda key: fields.serve(self._refunds[key]))
