"""What the Taobao shop's parts share: TOP's vocabularies (trade, line and
refund statuses, carriers), its error answers, its times (text in GMT+8),
its big ids, the request parameters of a call and the ``fields`` a call
names."""
from __future__ import annotations

import datetime as dt
import re
import secrets
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Beijing time: TOP's only zone (no daylight saving)
CST = dt.timezone(dt.timedelta(hours=8), 'GMT+8')
TIME_FORMAT = '%Y-%m-%d %H:%M:%S'
_TIME_TEXT = re.compile(r'^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$')

# Ids: tids, oids and refund ids above 2**53, none exact as a double
# (up there doubles are 512 apart: an id off that grid, and steps on it),
# so that a JSON reader keeping doubles misreads every one; num_iids and
# sku_ids of TOP's usual sizes
TID_START = 3_000_000_000_000_012_345
REFUND_START = 2_500_000_000_000_004_321
ID_STEP = 7 * 512
NUM_IID_START = 600_000_000_000
SKU_ID_START = 5_000_000_000_000

UNPAID = ('TRADE_NO_CREATE_PAY', 'WAIT_BUYER_PAY', 'PAY_PENDING',
    'WAIT_PRE_AUTH_CONFIRM')
SHIPPED = ('WAIT_BUYER_CONFIRM_GOODS', 'TRADE_BUYER_SIGNED',
    'TRADE_FINISHED')
CLOSED = ('TRADE_CLOSED', 'TRADE_CLOSED_BY_TAOBAO')
STATUSES = (*UNPAID, 'WAIT_SELLER_SEND_GOODS', 'PAID_FORBID_CONSIGN',
    'SELLER_CONSIGNED_PART', *SHIPPED, *CLOSED)
# Where the seller may still ship (taobao.logistics.offline.send)
SHIPPABLE = ('WAIT_SELLER_SEND_GOODS', 'SELLER_CONSIGNED_PART')
# The generator's and the kit's words
GENERIC = {'pending': 'WAIT_BUYER_PAY', 'paid': 'WAIT_SELLER_SEND_GOODS',
    'partially_fulfilled': 'SELLER_CONSIGNED_PART',
    'partially_shipped': 'SELLER_CONSIGNED_PART',
    'fulfilled': 'WAIT_BUYER_CONFIRM_GOODS',
    'shipped': 'WAIT_BUYER_CONFIRM_GOODS',
    'delivered': 'TRADE_BUYER_SIGNED', 'completed': 'TRADE_FINISHED',
    'cancelled': 'TRADE_CLOSED_BY_TAOBAO', 'refunded': 'TRADE_CLOSED'}
# 预售 (step) trades: deposit paid, then the rest
STEP_FRONT_PAID = 'FRONT_PAID_FINAL_NOPAID'
STEP_FINAL_PAID = 'FRONT_PAID_FINAL_PAID'
TRADE_TYPES = ('fixed', 'step')
# increment.get's default type filter: TOP's documented list, and fixed
# (chosen here: unconfirmed)
DEFAULT_TYPES = ('guarantee_trade', 'auto_delivery', 'ec', 'cod', 'step',
    'fixed')

REFUND_STATUSES = ('WAIT_SELLER_AGREE', 'WAIT_BUYER_RETURN_GOODS',
    'WAIT_SELLER_CONFIRM_GOODS', 'SELLER_REFUSE_BUYER', 'CLOSED', 'SUCCESS')
NO_REFUND = 'NO_REFUND'

# company_code: the name lines show as logistics_company (unconfirmed list)
CARRIERS = {'POST': '中国邮政', 'EMS': 'EMS', 'SF': '顺丰速运',
    'ZTO': '中通快递', 'YTO': '圆通速递', 'STO': '申通快递',
    'YUNDA': '韵达快递', 'ZJS': '宅急送', 'JD': '京东物流',
    'HTKY': '百世快递', 'DBL': '德邦物流', 'OTHER': '其他'}

# Fields of a trade and of its lines ("orders"), as fullinfo.get serves
# them; the sold-trades list serves fewer (the adapter asks fullinfo)
TRADE_FIELDS = ('tid', 'tid_str', 'status', 'type', 'created', 'modified',
    'pay_time', 'end_time', 'consign_time', 'payment', 'total_fee',
    'post_fee', 'discount_fee', 'adjust_fee', 'buyer_nick',
    'buyer_open_uid', 'buyer_message', 'receiver_name', 'receiver_mobile',
    'receiver_address', 'receiver_state', 'receiver_city',
    'receiver_district', 'receiver_town', 'receiver_zip',
    'receiver_country', 'oaid', 'step_trade_status', 'step_paid_fee',
    'orders')
LINE_FIELDS = ('oid', 'oid_str', 'num_iid', 'sku_id', 'outer_iid',
    'outer_sku_id', 'title', 'sku_properties_name', 'price', 'num',
    'total_fee', 'payment', 'discount_fee', 'adjust_fee', 'status',
    'refund_status', 'refund_id', 'consign_time', 'invoice_no',
    'logistics_company')
LIST_FIELDS = tuple(f for f in TRADE_FIELDS if f not in (
        'buyer_message', 'step_paid_fee', 'buyer_open_uid'))
LIST_LINE_FIELDS = tuple(f for f in LINE_FIELDS if f not in (
        'adjust_fee', 'discount_fee', 'sku_properties_name', 'invoice_no',
        'logistics_company'))

MAX_SPAN = dt.timedelta(days=1)
# "Only the last 3 months" (taken as 90 days)
HISTORY = dt.timedelta(days=90)


def money(value: Decimal) -> str:
    "TOP's money: yuan as text with 2 decimals"
    return f'{value:.2f}'


def spread(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """An amount split in proportion to weights, to the cent (the last
    share takes what rounding left)"""
    whole = sum(weights, Decimal(0))
    shares, left = [], amount
    for n, weight in enumerate(weights):
        share = left if n == len(weights) - 1 else (
            amount * weight / whole if whole else Decimal(0)).quantize(
            Decimal('0.01'))
        shares.append(share)
        left -= share
    return shares


def top_time(value: dt.datetime) -> str:
    "2026-01-15 18:00:00, in GMT+8"
    return value.astimezone(CST).strftime(TIME_FORMAT)


def parse_top_time(text: str) -> dt.datetime:
    "An aware UTC datetime from TOP's text (GMT+8); ValueError if not one"
    if not _TIME_TEXT.match(text):
        raise ValueError(f"not yyyy-MM-dd HH:mm:ss: {text!r}")
    return dt.datetime.strptime(text, TIME_FORMAT).replace(
        tzinfo=CST).astimezone(dt.UTC)


def request_id() -> str:
    "TOP's request_id: 13 lower-case letters and digits"
    alphabet = string.ascii_lowercase + string.digits
    return ''.join(secrets.choice(alphabet) for _ in range(13))


def nested(plural: str, singular: str, items: list) -> dict[str, Any]:
    "TOP's JSON lists: {'trades': {'trade': [...]}}"
    return {plural: {singular: items}}


def paged(params: Params, found: list, plural: str, singular: str,
        serve: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """A page (page_no from 1, page_size 1-100, default 40) of what a
    list call found, with has_next (use_has_next=true) or total_results;
    no list at all when the page is empty (as TOP: unconfirmed)"""
    page_no = params.integer('page_no', 1, 1)
    size = params.integer('page_size', 40, 1, 100)
    page = found[(page_no - 1) * size:page_no * size]
    body: dict[str, Any] = {}
    if page:
        body.update(nested(plural, singular, [serve(key) for key in page]))
    if params.flag('use_has_next'):
        body['has_next'] = len(found) > page_no * size
    else:
        body['total_results'] = len(found)
    return body


# -- errors ----------------------------------------------------------------

class TopError(Exception):
    "An answer in TOP's error_response shape (HTTP 200, as TOP)"

    def __init__(self, code: int, msg: str, sub_code: str | None = None,
            sub_msg: str | None = None) -> None:
        super().__init__(sub_msg or msg)
        self.code, self.msg = code, msg
        self.sub_code, self.sub_msg = sub_code, sub_msg

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {'code': self.code, 'msg': self.msg}
        if self.sub_code:
            error['sub_code'] = self.sub_code
        if self.sub_msg:
            error['sub_msg'] = self.sub_msg
        return {'error_response': error | {'request_id': request_id()}}


def missing(name: str) -> TopError:
    return TopError(40, 'Missing Required Arguments',
        f'isv.missing-parameter:{name}', f'{name} is required')


def invalid(name: str, why: str) -> TopError:
    return TopError(41, 'Invalid Arguments',
        f'isv.invalid-parameter:{name}', why)


def refused(sub_code: str, sub_msg: str) -> TopError:
    "A business refusal: code 15 with the isv sub_code saying why"
    return TopError(15, 'Remote Service Error', sub_code, sub_msg)


def limited(seconds_left: int) -> TopError:
    return TopError(7, 'App Call Limited',
        'accesscontrol.limited-by-app-access-count',
        f'This ban will last for {max(1, seconds_left)} more seconds')


def remote_error() -> TopError:
    "The shop's internal error: TOP's isp one, to be retried later"
    return TopError(15, 'Remote Service Error',
        'isp.top-remote-unknown-error', 'The remote service failed; '
        'try again later')


# -- parameters --------------------------------------------------------------

class Params:
    "A call's parameters (query and form merged; the last value wins)"

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def get(self, name: str) -> str | None:
        "The value, None when absent or empty"
        value = self.values.get(name)
        return value if value not in (None, '') else None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise missing(name)
        return value

    def integer(self, name: str, default: int | None = None,
            low: int | None = None, high: int | None = None) -> int:
        "An integer in [low, high]; missing: default (or required)"
        text = self.get(name) if default is not None else \
            self.required(name)
        if text is None:
            return default  # type: ignore[return-value]
        if not re.fullmatch(r'-?\d+', text.strip()):
            raise invalid(name, f"{name} must be an integer: {text!r}")
        number = int(text)
        if low is not None and number < low or \
                high is not None and number > high:
            bounds = f"between {low} and {high}" if high is not None \
                else f">= {low}"
            raise invalid(name, f"{name} must be {bounds}")
        return number

    def id(self, name: str) -> int:
        "A required id: the decimal text of a (big) integer"
        text = self.required(name)
        if not text.isdigit():
            raise invalid(name, f"{name} must be a number: {text!r}")
        return int(text)

    def time(self, name: str, required: bool = False) -> dt.datetime | None:
        text = self.required(name) if required else self.get(name)
        if text is None:
            return None
        try:
            return parse_top_time(text)
        except ValueError:
            raise invalid(name, f"{name} must be yyyy-MM-dd HH:mm:ss: "
                f"{text!r}") from None

    def flag(self, name: str) -> bool:
        text = self.get(name)
        if text not in (None, 'true', 'false'):
            raise invalid(name, f"{name} must be true or false")
        return text == 'true'

    def csv(self, name: str, required: bool = False) -> list[str]:
        text = self.required(name) if required else self.get(name) or ''
        return [v.strip() for v in text.split(',') if v.strip()]


@dataclass(frozen=True)
class Fields:
    """What a call's ``fields`` names: top-level fields, and of the lines
    (``orders`` all of them, ``orders.title`` one)"""
    top: frozenset[str]
    lines: frozenset[str] | None      # None: every line field

    @classmethod
    def parse(cls, names: Iterable[str]) -> Fields:
        top, lines, all_lines = set(), set(), False
        for name in names:
            if name.startswith('orders.'):
                top.add('orders')
                lines.add(name[len('orders.'):])
            else:
                top.add(name)
                all_lines = all_lines or name == 'orders'
        return cls(frozenset(top), None if all_lines or not lines
            else frozenset(lines))

    def serve(self, record: Mapping[str, Any], allowed: Iterable[str] | None
            = None, allowed_lines: Iterable[str] | None = None
            ) -> dict[str, Any]:
        """The named fields of a record (of those allowed, if limited),
        in the record's order; unknown names are ignored"""
        top = self.top if allowed is None else self.top & set(allowed)
        served = {k: v for k, v in record.items() if k in top}
        if isinstance(served.get('orders'), dict):
            keep = self.lines
            if allowed_lines is not None:
                keep = (frozenset(allowed_lines) if keep is None
                    else keep & set(allowed_lines))
            served['orders'] = {'order': [
                    {k: v for k, v in line.items()
                        if keep is None or k in keep}
                    for line in record['orders'].get('order', [])]}
        return served
