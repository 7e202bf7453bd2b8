"""Taobao and Tmall's payloads read into the canonical order and returns
(marketplace-apis.md §5.2, §5.3, §5.6): pure functions, no HTTP.

``normalize_order`` reads a trade as ``taobao.trade.fullinfo.get`` or
``taobao.trades.sold.increment.get`` serves it, with or without the
response's wrapper:
- ids from ``tid_str``/``oid_str`` (numbers beyond 2^53 stay exact), else
  ``tid``/``oid``;
- times are TOP's ``yyyy-MM-dd HH:mm:ss`` in Beijing time (GMT+8);
- money is CNY yuan as text: the total is ``payment`` (what the buyer
  pays), the shipping ``post_fee``, and the rest shared by the lines'
  goods amounts (see `_line_amounts`);
- enumerations may carry their Chinese explanation, as TOP's reference
  pages show them (``fixed(一口价)``, ``SUCCESS(退款成功)``): the word
  before the bracket is read;
- the receiver's name, mobile and street arrive encrypted (TOP's
  SecurityClient formats, ``~…~…~1~~`` and ``$…$…$1$$``): they stay
  ciphertext in ``Address.protected`` with the OAID, never decrypted here,
  and the address shows them masked. Province, city, district and postcode
  are served in clear: they make the address, the province its ISO
  3166-2 subdivision.

``normalize_returns`` reads a refund of ``taobao.refunds.receive.get``.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from oms_contract.models import (
    MAX_AMOUNT,
    Address,
    ChannelReturn,
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    ProtectedReceiver,
    ReturnKind,
    ReturnLine,
    ReturnStatus,
)

from ..payload import PayloadError, Unreadable, money, read_each, street, text

KIND = 'taobao'
CURRENCY = 'CNY'  # TOP's trade amounts are yuan
BEIJING = dt.timezone(dt.timedelta(hours=8), 'GMT+8')
TOP_TIME = '%Y-%m-%d %H:%M:%S'

# §5.3
STATUSES = {
    'TRADE_NO_CREATE_PAY': OrderStatus.pending_payment,
    'WAIT_BUYER_PAY': OrderStatus.pending_payment,
    'PAY_PENDING': OrderStatus.pending_payment,
    'WAIT_PRE_AUTH_CONFIRM': OrderStatus.pending_payment,
    'WAIT_SELLER_SEND_GOODS': OrderStatus.awaiting_shipment,
    'PAID_FORBID_CONSIGN': OrderStatus.awaiting_shipment,  # and held
    'SELLER_CONSIGNED_PART': OrderStatus.partially_shipped,
    'WAIT_BUYER_CONFIRM_GOODS': OrderStatus.shipped,
    # Signed for: delivered, which the canonical lifecycle calls completed
    'TRADE_BUYER_SIGNED': OrderStatus.completed,
    'TRADE_FINISHED': OrderStatus.completed,
    'TRADE_CLOSED': OrderStatus.refunded,
    'TRADE_CLOSED_BY_TAOBAO': OrderStatus.cancelled,
    }
CHANNEL_STATUSES = frozenset(STATUSES)
FORBIDDEN_TO_SHIP = 'PAID_FORBID_CONSIGN'
BEFORE_SHIPPING = {OrderStatus.pending_payment, OrderStatus.awaiting_shipment,
    OrderStatus.partially_shipped}
# A line's own status once it left
LINE_SHIPPED = {'WAIT_BUYER_CONFIRM_GOODS', 'TRADE_BUYER_SIGNED',
    'TRADE_FINISHED'}
# A line's refund_status meaning no refund is under way (§5.3: any other
# value on a line still to ship holds the order)
NO_REFUND = {'NO_REFUND', 'CLOSED'}
UNIT_PRICE = Decimal('0.000001')
CENT = Decimal('0.01')
# What staff see in place of an encrypted value
MASK = '***'

# The provinces as TOP names them (receiver_state), by ISO 3166-2:CN code
PROVINCES = {
    'CN-BJ': '北京', 'CN-TJ': '天津', 'CN-HE': '河北', 'CN-SX': '山西',
    'CN-NM': '内蒙古', 'CN-LN': '辽宁', 'CN-JL': '吉林', 'CN-HL': '黑龙江',
    'CN-SH': '上海', 'CN-JS': '江苏', 'CN-ZJ': '浙江', 'CN-AH': '安徽',
    'CN-FJ': '福建', 'CN-JX': '江西', 'CN-SD': '山东', 'CN-HA': '河南',
    'CN-HB': '湖北', 'CN-HN': '湖南', 'CN-GD': '广东', 'CN-GX': '广西',
    'CN-HI': '海南', 'CN-CQ': '重庆', 'CN-SC': '四川', 'CN-GZ': '贵州',
    'CN-YN': '云南', 'CN-XZ': '西藏', 'CN-SN': '陕西', 'CN-GS': '甘肃',
    'CN-QH': '青海', 'CN-NX': '宁夏', 'CN-XJ': '新疆', 'CN-TW': '台湾',
    'CN-HK': '香港', 'CN-MO': '澳门',
    }
# 浙江省, 北京市, 广西壮族自治区, 香港特别行政区 … all start with the short
# name; 内蒙古 and 黑龙江 have three characters, so the longest match wins.
_BY_PREFIX = sorted(((name, code) for code, name in PROVINCES.items()),
    key=lambda pair: -len(pair[0]))
# TOP's encrypted values: a separator, the search digest, the ciphertext,
# the key version, then the separator twice (SecurityClient's formats)
_ENCRYPTED = re.compile(r'^([~$\x01])[^~$\x01]*\1[^~$\x01]+\1\d+\1\1?$')
_WORD = re.compile(r'^\s*([A-Za-z0-9_]+)')


def word(value: Any) -> str:
    """An enumeration's value without the explanation TOP's reference
    pages add: ``SUCCESS(退款成功)`` → ``SUCCESS``"""
    if not isinstance(value, str):
        return ''
    found = _WORD.match(value)
    return found.group(1) if found else value.strip()


def is_encrypted(value: Any) -> bool:
    "Whether a value is a TOP ciphertext (not text to show or store)"
    return isinstance(value, str) and bool(_ENCRYPTED.match(value))


def top_time(value: Any, field: str) -> dt.datetime:
    "An aware UTC datetime of TOP's Beijing-time text"
    if not value or not isinstance(value, str):
        raise PayloadError(f"{field} is missing")
    try:
        parsed = dt.datetime.strptime(value.strip(), TOP_TIME)
    except ValueError:
        raise PayloadError(
            f"{field} is not a TOP time (yyyy-MM-dd HH:mm:ss): {value!r}"
            ) from None
    return parsed.replace(tzinfo=BEIJING).astimezone(dt.UTC)


def top_time_text(value: dt.datetime) -> str:
    "TOP's text of an aware datetime (Beijing time)"
    return value.astimezone(BEIJING).strftime(TOP_TIME)


def unwrap(raw: dict[str, Any]) -> dict[str, Any]:
    """The trade of a ``…_response`` answer (``{"trade": …}``), or the
    trade itself"""
    if len(raw) == 1:
        [(name, inner)] = raw.items()
        if name.endswith('_response') and isinstance(inner, dict):
            raw = inner
    trade = raw.get('trade')
    if isinstance(trade, dict) and 'tid' not in raw and 'tid_str' not in raw:
        return trade
    return raw


def listed(container: Any, name: str) -> list[Any]:
    """The items of one of TOP's nested lists (``{"orders": {"order":
    […]}}``), or of a flat one (``simplify=true``)"""
    if isinstance(container, dict):
        container = container.get(name)
    if container is None:
        return []
    if not isinstance(container, list):
        raise PayloadError(f"{name} is not a list")
    return container


def _id(raw: dict[str, Any], name: str) -> str | None:
    "An id from its text twin (tid_str) where given, else the number"
    value = raw.get(f'{name}_str')
    if value in (None, ''):
        value = raw.get(name)
    if isinstance(value, bool) or value in (None, ''):
        return None
    return str(value).strip() or None


def channel_status(raw: dict[str, Any]) -> str:
    "The trade's status in TOP's words (for `statuses:` mappings)"
    return word(unwrap(raw).get('status'))


def external_id(raw: dict[str, Any]) -> str | None:
    "The trade's id, read as leniently as possible (for rejected orders)"
    return _id(unwrap(raw), 'tid')


def normalize_order(raw: dict[str, Any], channel: str | None = None) -> Order:
    """The canonical order of a TOP trade (see the module's docstring).
    Raises PayloadError naming the field it cannot read."""
    trade = unwrap(raw)
    tid = _id(trade, 'tid')
    if tid is None:
        raise PayloadError("tid is missing")
    status_word = word(trade.get('status'))
    status = STATUSES.get(status_word)
    if status is None:
        raise PayloadError(f"status {trade.get('status')!r} is unknown")
    items = listed(trade.get('orders'), 'order')
    if not items:
        raise PayloadError("orders is missing")
    total = money(trade.get('payment'), 'payment')
    shipping = money(trade.get('post_fee') or '0', 'post_fee')
    lines, refunds = [], []
    for position, (item, paid) in enumerate(zip(items, _line_amounts(
                items, total - shipping), strict=True)):
        line = _line(item, position, paid)
        lines.append(line)
        refund = word(item.get('refund_status'))
        if (refund and refund not in NO_REFUND and status in BEFORE_SHIPPING
                and word(item.get('status')) not in LINE_SHIPPED):
            refunds.append(f"{line.sku or line.title}: {refund}")
    created = top_time(trade.get('created'), 'created')
    return Order(
        channel=channel or KIND, kind=KIND, external_id=tid, number=tid,
        status=status, created_at=created,
        updated_at=top_time(trade['modified'], 'modified')
        if trade.get('modified') else created,
        currency=CURRENCY,
        total=total,
        shipping_price=shipping,
        customer=_customer(trade, tid),
        shipping_address=_address(trade),
        lines=lines,
        notes=text(trade.get('buyer_message')),
        raw=trade,
        hold_reason=_hold_reason(status_word, refunds))


def _hold_reason(status_word: str, refunds: list[str]) -> str | None:
    "Why Taobao says not to ship yet (§5.3)"
    reasons = []
    if status_word == FORBIDDEN_TO_SHIP:
        reasons.append("Taobao forbids shipping this order for now "
            "(PAID_FORBID_CONSIGN, 已付款禁止发货: a group buy not yet "
            "formed, or an order under review)")
    if refunds:
        reasons.append("The buyer asked for a refund (退款) of lines not "
            "shipped yet: " + '; '.join(refunds))
    return '\n'.join(reasons) or None


def _line_amounts(items: list[dict[str, Any]], goods: Decimal
        ) -> list[Decimal]:
    """What the buyer pays for each line: the trade's payment less the
    postage, shared by the lines' goods amounts (``total_fee``: price ×
    num less the line's own discounts), the last taking the cents left.
    TOP's line ``payment`` cannot serve: a single line's includes the
    postage, several lines' do not."""
    if goods < 0:
        raise PayloadError(f"post_fee exceeds payment by {-goods}")
    weights = []
    for position, item in enumerate(items):
        field = f'orders[{position}]'
        # The line's price is what the ERP shows beside what was paid:
        # read, and bounded, even where its total gives the share
        weight = _amount(item.get('price'), f'{field}.price') \
            * _quantity(item, field)
        if item.get('total_fee') not in (None, ''):
            weight = _amount(item['total_fee'], f'{field}.total_fee')
        weights.append(weight)
    whole = sum(weights)
    amounts = [(goods * weight / whole if whole else goods / len(items)
            ).quantize(CENT) for weight in weights[:-1]]
    return [*amounts, goods - sum(amounts)]


def _amount(value: Any, field: str) -> Decimal:
    "An amount the ERP can store (Amount's bounds)"
    amount = money(value, field)
    if not 0 <= amount < MAX_AMOUNT:
        raise PayloadError(f"{field} is out of range: {value!r}")
    return amount


def _quantity(item: dict[str, Any], field: str) -> int:
    quantity = item.get('num')
    if isinstance(quantity, str) and quantity.strip().isdigit():
        quantity = int(quantity)  # TOP's XML-born numbers, as text
    if isinstance(quantity, bool) or not isinstance(quantity, int) \
            or quantity <= 0:
        raise PayloadError(f"{field}.num is not a positive integer: "
            f"{quantity!r}")
    return quantity


def _line(item: dict[str, Any], position: int, paid: Decimal) -> OrderLine:
    field = f'orders[{position}]'
    oid = _id(item, 'oid')
    if oid is None:
        raise PayloadError(f"{field}.oid is missing")
    quantity = _quantity(item, field)
    if paid < 0:
        raise PayloadError(f"{field}: the lines' amounts exceed payment")
    unit = paid / quantity
    if unit != unit.quantize(UNIT_PRICE):
        unit = unit.quantize(UNIT_PRICE)
    return OrderLine(
        external_id=oid,
        sku=text(item.get('outer_sku_id')) or text(item.get('outer_iid')),
        title=' '.join(filter(None, (text(item.get('title')),
                    text(item.get('sku_properties_name'))))),
        quantity=quantity,
        unit_price=unit)


def _customer(trade: dict[str, Any], tid: str) -> Customer:
    """The buyer: TOP serves the nick masked (t**1) or encrypted, and a
    stable id (buyer_open_uid) to know a returning buyer by"""
    nick = text(trade.get('buyer_nick'))
    shown = nick if nick and not is_encrypted(nick) else None
    plain_nick = shown if shown and '*' not in shown else None
    return Customer(
        external_id=text(trade.get('buyer_open_uid')) or plain_nick,
        name=shown or f"Taobao buyer of {tid}")


def subdivision(province: str | None) -> str | None:
    """The ISO 3166-2 code of a province as TOP names it (浙江省 → CN-ZJ);
    the name itself when unknown (the ERP then matches it by name)"""
    if not province:
        return None
    for name, code in _BY_PREFIX:
        if province.startswith(name):
            return code
    return province


def _address(trade: dict[str, Any]) -> Address | None:
    """Where the trade ships; None where TOP serves no receiver (a list
    asked without its fields)"""
    detail = trade.get('receiver_address')
    city = text(trade.get('receiver_city'))
    if not detail and not city:
        return None
    values = {name: trade.get(f'receiver_{name}')
        for name in ('name', 'address', 'mobile')}
    protected = {name: value for name, value in values.items()
        if is_encrypted(value)}
    oaid = text(trade.get('oaid'))
    landline = trade.get('receiver_phone')

    def shown(name: str) -> str | None:
        return MASK if name in protected else text(values[name])
    # TOP's detail address holds neither the province, the city nor the
    # district: the district and town lead the street
    country = (text(trade.get('receiver_country')) or '').upper()
    return Address(
        name=shown('name') or '',
        street=street(' '.join(filter(None, (
                        text(trade.get('receiver_district')),
                        text(trade.get('receiver_town'))))),
            shown('address')),
        city=city or '',
        zip=text(trade.get('receiver_zip')) or '',
        country_code=country if re.fullmatch(r'[A-Z]{2}', country) else 'CN',
        subdivision=subdivision(text(trade.get('receiver_state'))),
        # No masked phone: it would be taken for a number to text
        phone=None if 'mobile' in protected or is_encrypted(landline)
        else text(values['mobile']) or text(landline),
        protected=ProtectedReceiver(
            oaid=oaid, name=protected.get('name'),
            street=protected.get('address'),
            phone=protected.get('mobile')) if protected or oaid else None)


# -- Refunds and returns (taobao.refunds.receive.get) ----------------------

# A refund with goods (退货退款) is a return while under way; money alone
# (仅退款) is reported once it is paid: until then the line's open
# refund_status holds its order.
RETURN_STATUSES = {
    'WAIT_SELLER_AGREE': ReturnStatus.requested,
    'WAIT_BUYER_RETURN_GOODS': ReturnStatus.open,
    'WAIT_SELLER_CONFIRM_GOODS': ReturnStatus.open,
    'SELLER_REFUSE_BUYER': ReturnStatus.declined,
    'CLOSED': ReturnStatus.cancelled,
    'SUCCESS': ReturnStatus.closed,
    }
REFUNDED = 'SUCCESS'


def refund_id(raw: dict[str, Any]) -> str | None:
    return _id(raw, 'refund_id')


def normalize_returns(raw: dict[str, Any], channel: str | None = None,
        problems: list[Unreadable] | None = None) -> list[ChannelReturn]:
    """A TOP refund as return requests: a refund with goods
    (``has_good_return``) is a return, with the buyer's return waybill;
    once Taobao paid it (``SUCCESS``) a refund settling it follows. A
    refund of money alone is reported once paid. Raises PayloadError
    naming the field it cannot read; or, given `problems`, notes it there
    and returns nothing."""
    found = read_each([raw], lambda refund: _returns(refund, channel),
        lambda refund: ('refund', refund_id(refund),
            _id(refund, 'tid')), problems)
    return found[0] if found else []


def _returns(raw: dict[str, Any], channel: str | None) -> list[ChannelReturn]:
    number = refund_id(raw)
    if number is None:
        raise PayloadError("refund_id is missing")
    tid = _id(raw, 'tid')
    if tid is None:
        raise PayloadError("tid is missing")
    status_word = word(raw.get('status'))
    if status_word not in RETURN_STATUSES:
        raise PayloadError(f"status {raw.get('status')!r} is unknown")
    goods = raw.get('has_good_return') in (True, 'true')
    if not goods and status_word != REFUNDED:
        return []
    created = top_time(raw.get('created'), 'created')
    updated = top_time(raw['modified'], 'modified') \
        if raw.get('modified') else created
    amount = money(raw.get('refund_fee'), 'refund_fee')
    quantity = raw.get('num') or 1
    if isinstance(quantity, bool) or not isinstance(quantity, int) \
            or quantity <= 0:
        raise PayloadError(f"num is not a positive integer: {quantity!r}")
    line = ReturnLine(line_external_id=_id(raw, 'oid'),
        sku=text(raw.get('outer_id')), quantity=quantity,
        restock=goods, amount=amount)
    reason = street(text(raw.get('reason')), text(raw.get('desc'))) or None
    common = {'channel': channel or KIND, 'order_external_id': tid,
        'created_at': created, 'updated_at': updated, 'currency': CURRENCY,
        'reason': reason, 'lines': [line], 'raw': raw}
    found = []
    if goods:
        found.append(ChannelReturn(kind=ReturnKind.return_,
                external_id=number, status=RETURN_STATUSES[status_word],
                return_carrier=text(raw.get('company_name')),
                return_tracking_number=text(raw.get('sid')), **common))
    if status_word == REFUNDED:
        found.append(ChannelReturn(kind=ReturnKind.refund,
                external_id=f'{number}-paid' if goods else number,
                status=ReturnStatus.refunded, amount=amount,
                return_external_id=number if goods else None, **common))
    return found
