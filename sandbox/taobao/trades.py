"""Trades of the Taobao shop: stored from drafts in TOP's shape (the
fullinfo payload, receivers encrypted), their statuses and stock, the
seller's and buyer's steps (预售 final payment, shipping forbidden,
closing, signing, finishing), and the calls serving them:
``taobao.trades.sold.increment.get`` and ``taobao.trade.fullinfo.get``.

A trade takes its units off the SKUs when it is created and gives a
line's back when the line (or the trade) is closed."""
from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from .. import generator
from ..generator import Draft, DraftLine
from ..shop import HUGE_PRICE, HUGE_QUANTITY, deep
from .catalog import Item, Sku
from .model import (
    CLOSED,
    DEFAULT_TYPES,
    GENERIC,
    HISTORY,
    ID_STEP,
    LIST_FIELDS,
    LIST_LINE_FIELDS,
    MAX_SPAN,
    NO_REFUND,
    NUM_IID_START,
    SHIPPED,
    STATUSES,
    STEP_FINAL_PAID,
    STEP_FRONT_PAID,
    TID_START,
    UNPAID,
    Fields,
    Params,
    invalid,
    money,
    paged,
    refused,
    spread,
    top_time,
)
from .privacy import Receiver, draw_receiver, mask_nick

DEPOSIT = Decimal('0.2')      # a 预售 trade's deposit: 20% (chosen here)
PAY_DELAY = dt.timedelta(seconds=10)


def count(value: Any) -> int:
    "A quantity as stock counts it (a corrupted one counts 0)"
    return value if isinstance(value, int) and not isinstance(
        value, bool) else 0


def amount(value: Any) -> Decimal:
    "Money text as a Decimal (a corrupted one counts 0)"
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def lines_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    return record['orders']['order']


def shipped(line: dict[str, Any]) -> bool:
    return 'consign_time' in line


def is_open(line: dict[str, Any]) -> bool:
    return line['status'] not in CLOSED


class Trades:
    "The shop's trades (a part of TaobaoShop)"

    def _init_trades(self) -> None:
        # tids and oids from one sequence, as TOP numbers them
        self._ids = itertools.count(TID_START, ID_STEP)
        self._receivers: dict[int, Receiver] = {}
        # oid → what its line sells; tid → {oid: units taken off it}
        self._refs: dict[int, Item | Sku | None] = {}
        self._taken: dict[int, dict[int, int]] = {}
        # What create_order hands to _store for the trade being stored
        self._asked: dict[str, Any] = {}

    # -- Python API ------------------------------------------------------

    def create_order(self, *, step: bool = False,
            receiver: dict[str, Any] | None = None,
            **overrides: Any) -> dict[str, Any]:
        """Shop.create_order; step=True makes a 预售 trade (type step,
        its deposit paid: WAIT_BUYER_PAY until pay_final); receiver
        overrides fields of the drawn plaintext receiver (name, mobile,
        state, city, district, town, address, zip)."""
        unknown = sorted(set(receiver or {}) - set(Receiver.__annotations__))
        if unknown:
            raise ValueError(f"a receiver has no {', '.join(unknown)}")
        if step and overrides.get('status') not in (None, 'pending',
                'WAIT_BUYER_PAY'):
            raise ValueError("a step trade starts unpaid: pay_final() pays")
        if step:
            overrides['status'] = 'WAIT_BUYER_PAY'
        with self.lock:
            self._asked = {'step': step, 'receiver': receiver or {}}
            try:
                return super().create_order(**overrides)
            finally:
                self._asked = {}

    def receiver(self, tid: int | str) -> dict[str, Any]:
        "The trade's receiver in plain text (tests only: TOP never serves it)"
        with self.lock:
            return self._receivers[self._lookup(tid)].as_dict()

    def decrypt(self, served: str) -> str:
        "The plaintext of a receiver field as served (tests only)"
        return self.vault.decrypt(served)

    def pay_final(self, tid: int | str) -> dict[str, Any]:
        "The buyer pays the rest of a 预售 trade: the seller may ship"
        with self.lock:
            number = self._lookup(tid)
            record = self._orders[number]
            if record.get('step_trade_status') != STEP_FRONT_PAID:
                raise ValueError(f"trade {tid} is no step trade waiting "
                    "for its final payment")
            return self._move(number, ('WAIT_BUYER_PAY',),
                'WAIT_SELLER_SEND_GOODS')

    def forbid_consign(self, tid: int | str) -> dict[str, Any]:
        "Paid, but shipping is forbidden (PAID_FORBID_CONSIGN)"
        return self._move(tid, ('WAIT_SELLER_SEND_GOODS',),
            'PAID_FORBID_CONSIGN')

    def close(self, tid: int | str) -> dict[str, Any]:
        """An unpaid trade closed (TRADE_CLOSED_BY_TAOBAO); a paid one
        closes through refunds (refund(), or update_order 'cancelled')"""
        return self._move(tid, UNPAID, 'TRADE_CLOSED_BY_TAOBAO')

    def buyer_signed(self, tid: int | str) -> dict[str, Any]:
        return self._move(tid, ('WAIT_BUYER_CONFIRM_GOODS',),
            'TRADE_BUYER_SIGNED')

    def finish(self, tid: int | str) -> dict[str, Any]:
        "The buyer confirms receipt: TRADE_FINISHED"
        return self._move(tid, ('WAIT_BUYER_CONFIRM_GOODS',
                'TRADE_BUYER_SIGNED'), 'TRADE_FINISHED')

    def _move(self, tid: int | str, sources: Iterable[str],
            word: str) -> dict[str, Any]:
        "A step of the trade's life from one of `sources` (else ValueError)"
        with self.lock:
            number = self._lookup(tid)
            status = self._orders[number]['status']
            if status not in sources:
                raise ValueError(f"trade {tid} is {status}: it cannot "
                    f"become {word}")
            self._apply_status(number, word, self.now())
            self._bump(number)
            return self._as_served(number)

    # -- the Shop hooks --------------------------------------------------

    def _id_of(self, raw: dict[str, Any]) -> int:
        return int(raw['tid'])

    def _write_updated(self, raw: dict[str, Any],
            updated: dt.datetime) -> None:
        raw['modified'] = top_time(updated)

    def _status_word(self, status: str) -> str:
        if status in STATUSES:
            return status
        if status in GENERIC:
            return GENERIC[status]
        raise ValueError(f"unknown Taobao trade status {status!r}")

    def _set_status(self, tid: int, status: str) -> None:
        word = self._status_word(status)
        if word == 'TRADE_CLOSED_BY_TAOBAO' and self._paid(tid) \
                and status not in STATUSES:
            # Cancelling a paid trade refunds it in full
            word = 'TRADE_CLOSED'
        self._apply_status(tid, word, self.now())

    def _paid(self, tid: int) -> bool:
        return 'pay_time' in self._orders[tid]

    def _store(self, draft: Draft, now: dt.datetime) -> int:
        tid = next(self._ids)
        asked = self._asked
        # Drawn from the draft's buyer, so a seed gives the same receiver
        rng = random.Random(f'{draft.customer.email}|{draft.created_at}')
        receiver = draw_receiver(rng)
        for key, value in (asked.get('receiver') or {}).items():
            setattr(receiver, key, value)
        self._receivers[tid] = receiver
        lines = [self._line(line) for line in draft.lines]
        goods = sum((line.unit_price * line.quantity
                for line in draft.lines), Decimal(0))
        discount = sum((amount(line['discount_fee']) for line in lines),
            Decimal(0))
        post = draft.shipping_price
        payment = goods + post - discount
        shares = spread(payment, [amount(line['total_fee'])
                for line in lines])
        for line, share in zip(lines, shares, strict=True):
            line['payment'] = money(share)
        vault = self.vault
        buyer = draft.customer.email.split('@')[0]
        record: dict[str, Any] = {
            'tid': tid, 'tid_str': str(tid), 'status': 'WAIT_BUYER_PAY',
            'type': 'step' if asked.get('step') else 'fixed',
            'created': top_time(draft.created_at),
            'modified': top_time(draft.updated_at),
            'payment': money(payment), 'total_fee': money(goods),
            'post_fee': money(post), 'discount_fee': money(discount),
            'adjust_fee': '0.00',
            'buyer_nick': mask_nick(buyer),
            'buyer_open_uid': vault.buyer_open_uid(buyer),
            'receiver_name': vault.encrypt(receiver.name, 'name'),
            'receiver_mobile': vault.encrypt(receiver.mobile, 'mobile'),
            'receiver_address': vault.encrypt(receiver.address, 'address'),
            'receiver_state': receiver.state,
            'receiver_city': receiver.city,
            'receiver_district': receiver.district,
            'receiver_town': receiver.town,
            'receiver_zip': receiver.zip, 'receiver_country': '',
            'oaid': vault.oaid(receiver),
            'orders': {'order': lines},
            }
        if record['receiver_town'] is None:
            del record['receiver_town']
        if draft.note:
            record['buyer_message'] = draft.note
        if asked.get('step'):
            record['step_trade_status'] = STEP_FRONT_PAID
            record['step_paid_fee'] = money(max(Decimal('0.01'),
                    generator.cents(payment * DEPOSIT)))
        self._orders[tid] = record
        self._index_order(tid, draft.updated_at)
        word = self._status_word(draft.status)
        if word not in UNPAID and word != 'TRADE_CLOSED_BY_TAOBAO':
            record['pay_time'] = top_time(min(draft.created_at + PAY_DELAY,
                    draft.updated_at))
        self._apply_status(tid, word, draft.updated_at)
        return tid

    def _line(self, line: DraftLine) -> dict[str, Any]:
        oid = next(self._ids)
        ref: Item | Sku | None = line.ref
        self._refs[oid] = ref
        item = self._owner(ref) if isinstance(ref, Sku) else ref
        discount = generator.cents(line.discount * line.quantity)
        gross = line.unit_price * line.quantity
        result: dict[str, Any] = {'oid': oid, 'oid_str': str(oid),
            # A product the shop does not sell: a stable made-up item
            'num_iid': item.num_iid if item else NUM_IID_START + zlib.crc32(
                (line.sku or line.title).encode()) % 10**9}
        if isinstance(ref, Sku):
            result['sku_id'] = str(ref.sku_id)
        result['outer_iid'] = item.outer_id if item else line.sku or ''
        if isinstance(ref, Sku):
            result['outer_sku_id'] = ref.outer_id
        result['title'] = item.title if item else line.title
        if isinstance(ref, Sku):
            result['sku_properties_name'] = ref.sku_properties_name
        result.update({'price': money(line.unit_price),
            'num': line.quantity, 'total_fee': money(gross - discount),
            'payment': money(gross - discount),
            'discount_fee': money(discount), 'adjust_fee': '0.00',
            'status': 'WAIT_BUYER_PAY', 'refund_status': NO_REFUND})
        return result

    def _corrupt(self, raw: dict[str, Any], kind: str) -> None:
        line = lines_of(raw)[0]
        if kind == 'missing_currency':
            # TOP has no currency field: the amount itself is unreadable
            raw['payment'] = f"¥{raw['payment']}"
        elif kind == 'missing_total':
            del raw['payment']
        elif kind == 'bad_date':
            raw['created'] = '2026-13-45 25:61:00'
        elif kind == 'bad_quantity':
            line['num'] = 'two'
        elif kind == 'nul_note':
            raw['buyer_message'] = 'gift\x00wrap'
            line['title'] += '\x00'
        elif kind == 'huge_quantity':
            line['num'] = HUGE_QUANTITY
        elif kind == 'huge_price':
            line['price'] = line['total_fee'] = HUGE_PRICE
        elif kind == 'deep_payload':
            line['customization'] = deep(100)

    # -- statuses and stock ----------------------------------------------

    def _apply_status(self, tid: int, word: str, when: dt.datetime) -> None:
        """The trade in status `word`, its lines following: shipping what
        is left for a shipped status, refunding a paid trade closed"""
        record = self._orders[tid]
        lines = lines_of(record)
        stamp = top_time(when)
        if word not in UNPAID and word != 'TRADE_CLOSED_BY_TAOBAO':
            record.setdefault('pay_time', stamp)
            if record.get('step_trade_status') == STEP_FRONT_PAID:
                record['step_trade_status'] = STEP_FINAL_PAID
                record['step_paid_fee'] = record['payment']
        left = [line for line in lines if is_open(line)
            and not shipped(line)]
        if word == 'SELLER_CONSIGNED_PART' and len(left) == len(
                [line for line in lines if is_open(line)]):
            if len(left) < 2:
                raise ValueError(f"trade {tid} has one line to ship: it "
                    "cannot be shipped in part")
            self._consign_auto(tid, left[:1], when)
            left = left[1:]
        elif word in SHIPPED and left:
            self._consign_auto(tid, left, when)
            left = []
        if word == 'TRADE_CLOSED' and self._paid(tid):
            self._refund_rest(tid, when)
        for line in lines:
            if word in CLOSED:
                line['status'] = word
            elif not is_open(line):
                continue
            elif word in SHIPPED or shipped(line):
                line['status'] = word if word in SHIPPED \
                    else 'WAIT_BUYER_CONFIRM_GOODS'
            else:
                line['status'] = 'WAIT_SELLER_SEND_GOODS' \
                    if word == 'SELLER_CONSIGNED_PART' else word
        record['status'] = word
        if word in CLOSED or word == 'TRADE_FINISHED':
            record['end_time'] = stamp
        self._sync_stock(tid)

    def _settle_status(self, tid: int, when: dt.datetime) -> None:
        """After a line closed by refund: the trade closed when all are,
        shipped when the lines still open are"""
        record = self._orders[tid]
        lines = lines_of(record)
        if not any(is_open(line) for line in lines):
            record['status'] = 'TRADE_CLOSED'
            record['end_time'] = top_time(when)
        elif record['status'] == 'SELLER_CONSIGNED_PART' and all(
                shipped(line) for line in lines if is_open(line)):
            record['status'] = 'WAIT_BUYER_CONFIRM_GOODS'
        self._sync_stock(tid)

    def _sync_stock(self, tid: int) -> None:
        "Open lines hold their units off the shelf; closed ones give back"
        taken = self._taken.setdefault(tid, {})
        for line in lines_of(self._orders[tid]):
            oid = line['oid']
            if is_open(line) and oid not in taken:
                taken[oid] = self._take_stock(self._refs.get(oid),
                    count(line['num']))
            elif not is_open(line) and oid in taken:
                self._take_stock(self._refs.get(oid), -taken.pop(oid))

    # -- calls -----------------------------------------------------------

    def top_trades_sold_increment_get(self, params: Params
            ) -> dict[str, Any]:
        """Trades modified in [start_modified, end_modified] (both
        included), newest first (tid descending among equals), by page"""
        fields = Fields.parse(params.csv('fields', required=True))
        start = params.time('start_modified', required=True)
        end = params.time('end_modified', required=True)
        assert start is not None and end is not None
        if end <= start:
            raise invalid('end_modified', "end_modified must be later than "
                "start_modified")
        if end - start > MAX_SPAN:
            raise invalid('end_modified', "start_modified and end_modified "
                "must be at most one day apart")
        if start < self.now() - HISTORY:
            raise invalid('start_modified', "only trades modified in the "
                "last 3 months can be listed")
        status = params.get('status')
        if status is not None and status not in STATUSES:
            raise invalid('status', f"unknown trade status {status!r}")
        types = set(params.csv('type') or DEFAULT_TYPES)
        low = bisect_left(self._index, (start, 0))
        high = bisect_right(self._index, (end, math.inf))
        found = [tid for _, tid in reversed(self._index[low:high])
            if self._orders[tid].get('type') in types and (
                status is None or self._orders[tid]['status'] == status)]
        return paged(params, found, 'trades', 'trade',
            lambda tid: fields.serve(self._orders[tid], LIST_FIELDS,
                LIST_LINE_FIELDS))

    def top_trade_fullinfo_get(self, params: Params) -> dict[str, Any]:
        tid = params.id('tid')
        fields = Fields.parse(params.csv('fields', required=True))
        record = self._orders.get(tid)
        if record is None:
            raise refused('isv.trade-not-exist', f"Trade {tid} does not "
                "exist or is not the seller's")
        return {'trade': fields.serve(record)}
