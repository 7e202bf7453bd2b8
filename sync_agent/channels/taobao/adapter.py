"""The Taobao/Tmall adapter: all of TOP's HTTP detail (marketplace-apis.md
§5), with its parts: ``router`` (signing, the answers and the platform's
error codes, call limits) and ``items`` (stock).

- Orders: ``taobao.trades.sold.increment.get`` over windows of at most 30
  minutes (the API takes a day; the platform advises 30 minutes) from the
  cursor less the overlap to a whole second `settle_seconds` ago. Its
  results are sorted by ``modified`` descending, so each window is read
  from its last page back to the first (a trade modified meanwhile leaves
  the window and shifts the rest towards page 1, where it is read again,
  never skipped; none may enter it, see `_settled_end`); then
  ``taobao.trade.fullinfo.get`` for each trade, for what the list omits
  (kept in memory by modification time: a trade read again in the overlap
  costs no second call).
- Shipments: ``taobao.logistics.offline.send`` (self-arranged carrier),
  whole trades or split by line (``is_split``, ``sub_tid``), after
  reading the trade: lines showing the waybill already are not sent
  again.
- Refunds and returns: ``taobao.refunds.receive.get`` by modification
  window. Taobao takes no refund from the agent (the buyer asks, the
  seller agrees in 千牛): staff refund there.

The receiver's name, mobile and street arrive encrypted and are passed on
so (mapper.py): nothing here decrypts. Where a decrypted value is needed
(a carrier's own label system), `decrypt_receiver` is the hook.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..base import (
    Adapter,
    FulfilmentResult,
    FulfilmentUpdate,
    OrderPage,
    ReturnPage,
)
from ..transport import ChannelError
from .items import Items
from .mapper import KIND, listed, word
from .router import Router, TopError

logger = logging.getLogger(__name__)

# What the list serves (fullinfo fills the rest)
LIST_FIELDS = ('tid,tid_str,status,type,created,modified,pay_time,payment,'
    'total_fee,post_fee,discount_fee,buyer_nick,receiver_name,receiver_state,'
    'receiver_city,receiver_district,receiver_address,receiver_zip,'
    'receiver_mobile,oaid,orders')
FULL_FIELDS = ('tid,tid_str,status,type,created,modified,pay_time,end_time,'
    'consign_time,payment,total_fee,post_fee,discount_fee,adjust_fee,'
    'buyer_nick,buyer_open_uid,buyer_message,step_trade_status,step_paid_fee,'
    'receiver_name,receiver_mobile,receiver_phone,receiver_address,'
    'receiver_state,receiver_city,receiver_district,receiver_town,'
    'receiver_zip,receiver_country,oaid,orders')
REFUND_FIELDS = ('refund_id,tid,oid,title,num,total_fee,refund_fee,status,'
    'created,modified,good_status,has_good_return,reason,desc,company_name,'
    'sid,order_status,refund_phase,outer_id')
SHIPPING_FIELDS = 'tid,tid_str,status,orders'
# A trade may be sent only in these (and its unsent lines only)
SENDABLE = {'WAIT_SELLER_SEND_GOODS', 'SELLER_CONSIGNED_PART'}
SENT = {'WAIT_BUYER_CONFIRM_GOODS', 'TRADE_BUYER_SIGNED', 'TRADE_FINISHED'}
# taobao.logistics.companies.get's codes of the common carriers (SF, ZTO,
# YTO, STO, YUNDA are unconfirmed); another carrier goes as OTHER
COMPANY_CODES = frozenset({'POST', 'EMS', 'SF', 'ZTO', 'YTO', 'STO',
    'YUNDA', 'ZJS', 'JD', 'HTKY', 'DBL', 'OTHER'})
OTHER_CARRIER = 'OTHER'
FULL_TRADES_KEPT = 20_000  # fullinfo answers remembered (a peak hour's)


class TaobaoSettings(BaseModel):
    "The `settings:` of a Taobao channel (none of them secret)"
    model_config = ConfigDict(extra='forbid')

    sign_method: Literal['md5', 'hmac', 'hmac-sha256'] = 'hmac'
    # The modification window of one list call: the API takes a day, the
    # platform advises 30 minutes
    window_minutes: Annotated[float, Field(gt=0, le=1440)] = 30
    # A window ends this long before now: no trade may enter a window
    # while it is read (see TaobaoAdapter._scan). How late TOP indexes a
    # modification is unconfirmed: 10 s is a guess with room.
    settle_seconds: Annotated[float, Field(ge=0)] = 10
    # The first scan (no cursor) reads this far back (TOP: 3 months)
    backfill_days: Annotated[float, Field(gt=0, le=90)] = 3
    # The trade types to ask for; None: TOP's default (guarantee_trade,
    # auto_delivery, ec, cod, step)
    trade_types: list[str] | None = None
    refund_window_hours: Annotated[float, Field(gt=0, le=24)] = 24


class TaobaoAdapter(Items, Adapter):
    kind = KIND
    default_page_size = 50  # TOP advises 40–50 (100 at most)
    capabilities = frozenset({'refund_reports', 'returns'})
    Settings = TaobaoSettings
    settings: TaobaoSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page_size = min(self.page_size, 100)
        self.router = Router(self.config.base_url, self.credentials,
            self.transport, self.settings.sign_method)
        self.places = self.load_cache('places')
        self._full: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def now(self) -> dt.datetime:
        return self.router.clock()

    # -- orders --------------------------------------------------------------

    def fetch_orders(self, since: dt.datetime | None
            ) -> Iterator[OrderPage]:
        for listed_trades, end, total in self._scan(
                'taobao.trades.sold.increment.get', 'trades', 'trade', since,
                dt.timedelta(minutes=self.settings.window_minutes),
                fields=LIST_FIELDS, type=self.settings.trade_types):
            yield OrderPage([self._full_trade(t) for t in listed_trades],
                total=total, until=end)

    def _full_trade(self, trade: dict[str, Any]) -> dict[str, Any]:
        """The trade with every field (fullinfo), once per modification;
        the list's copy where fullinfo refuses (it still reads)"""
        tid = str(trade.get('tid_str') or trade.get('tid'))
        kept = self._full.get(tid)
        if kept is not None and kept.get('modified') == trade.get(
                'modified'):
            self._full.move_to_end(tid)
            return kept
        try:
            full = self.router.call('taobao.trade.fullinfo.get', tid=tid,
                fields=FULL_FIELDS).get('trade')
        except TopError as error:
            logger.warning("%s: trade %s read from the list only: %s", self,
                tid, error, extra={'channel': self.config.code})
            return trade
        if not isinstance(full, dict):
            return trade
        self._full[tid] = full
        if len(self._full) > FULL_TRADES_KEPT:
            self._full.popitem(last=False)
        return full

    def _scan(self, method: str, container: str, item: str,
            since: dt.datetime | None, window: dt.timedelta,
            **arguments: Any
            ) -> Iterator[tuple[list[dict[str, Any]], dt.datetime | None,
                int | None]]:
        """The records modified from `since` to now, window by window,
        each read from its last page back to its first; yields (records,
        the window's end once it is all read, else None, the window's
        size)"""
        end_of_scan = self._settled_end()
        oldest = end_of_scan - dt.timedelta(days=self.settings.backfill_days
            if since is None else 90)
        start = oldest if since is None else max(since, oldest)
        if since is not None and since < oldest:
            logger.warning("%s: the cursor is older than TOP's 3 months: "
                "reading from %s", self, start.isoformat(),
                extra={'channel': self.config.code})
        while start < end_of_scan:
            end = min(start + window, end_of_scan)
            yield from self._window(method, container, item, start, end,
                arguments)
            start = end

    def _settled_end(self) -> dt.datetime:
        """Where a scan ends: `settle_seconds` ago, at a whole second that
        is over. A window's content may only shrink while it is read (a
        trade modified meanwhile leaves it): one entering it (TOP's times
        are whole seconds, the end is inclusive) would push the rows read
        last back onto pages read already, and one of them would be
        missed for good. So when the end is this very second, wait for it
        to pass."""
        end = (self.now() - dt.timedelta(
                seconds=self.settings.settle_seconds)).replace(microsecond=0)
        wait = (end + dt.timedelta(seconds=1) - self.now()).total_seconds()
        if wait > 0:
            # Really: a second not over cannot be made over by a test's
            # sleep, and the transport's sleep is the rate limits'
            time.sleep(wait)
        return end

    def _window(self, method: str, container: str, item: str,
            start: dt.datetime, end: dt.datetime, arguments: dict[str, Any]
            ) -> Iterator[tuple[list[dict[str, Any]], dt.datetime | None,
                int | None]]:
        def page(number: int) -> tuple[list[dict[str, Any]], int]:
            answer = self.router.call(method, start_modified=start,
                end_modified=end, page_no=number, page_size=self.page_size,
                use_has_next=False, **arguments)
            records = listed(answer.get(container), item)
            return records, int(answer.get('total_results') or 0)
        first, total = page(1)
        pages = -(-total // self.page_size)
        if pages <= 1:
            yield first, end, total
            return
        for number in range(pages, 1, -1):
            records, _ = page(number)
            yield records, None, total
        # Page 1 again, last: what moved up while the others were read
        records, _ = page(1)
        yield records, end, total

    # -- shipments -----------------------------------------------------------

    def push_fulfilment(self, update: FulfilmentUpdate) -> FulfilmentResult:
        """Send the parcel's lines with its waybill: the whole trade at
        once where it ships every line, else split by line. Taobao ships
        whole lines: a line goes with the first parcel carrying it. The
        trade is read first: lines already sent are not sent again."""
        if not update.tracking_number:
            return FulfilmentResult(error=(
                    "Taobao needs the waybill number (运单号) to mark an "
                    "order sent: the shipment has none"))
        trade = self.router.call('taobao.trade.fullinfo.get',
            tid=update.order_id, fields=SHIPPING_FIELDS).get('trade') or {}
        lines = listed(trade.get('orders'), 'order')
        oid = {str(line.get('oid_str') or line.get('oid')): line
            for line in lines}
        wanted = [item.external_id for item in update.items
            if item.external_id in oid]
        unknown = [item.name for item in update.items
            if item.external_id not in oid]
        if unknown:
            return FulfilmentResult(error=(
                    f"trade {update.order_id} on Taobao has no line "
                    f"{', '.join(unknown)}"))
        unsent = [o for o in wanted if not _sent(oid[o])]
        if not unsent:
            return FulfilmentResult(external_id=_shipment_id(update),
                already=True)
        status = word(trade.get('status'))
        if status not in SENDABLE:
            return FulfilmentResult(error=(
                    f"Taobao does not take a shipment for trade "
                    f"{update.order_id} in status {status or '?'}"
                    + (" (已付款禁止发货: shipping forbidden)"
                        if status == 'PAID_FORBID_CONSIGN' else '')))
        company = (update.carrier or '').upper()
        if company not in COMPANY_CODES:
            logger.warning("%s: carrier %r is not a Taobao company code: "
                "sent as %s (map it in the mapping's carriers:)", self,
                update.carrier, OTHER_CARRIER,
                extra={'channel': self.config.code})
            company = OTHER_CARRIER
        whole = len(unsent) == len(lines) and status != \
            'SELLER_CONSIGNED_PART'
        try:
            # Not idempotent: a lost answer is found by the read above at
            # the next push, never by sending again blindly
            answer = self.router.call('taobao.logistics.offline.send',
                attempts=1, tid=update.order_id,
                out_sid=update.tracking_number, company_code=company,
                **({} if whole else {'is_split': 1, 'sub_tid': unsent}))
        except TopError as error:
            return FulfilmentResult(error=str(error))
        if not (answer.get('shipping') or {}).get('is_success'):
            raise ChannelError(f"trade {update.order_id}: Taobao did not "
                f"confirm the shipment: {answer}")
        return FulfilmentResult(external_id=_shipment_id(update))

    # -- refunds and returns -------------------------------------------------

    def fetch_returns(self, since: dt.datetime | None
            ) -> Iterator[ReturnPage]:
        for refunds, end, total in self._scan(
                'taobao.refunds.receive.get', 'refunds', 'refund', since,
                dt.timedelta(hours=self.settings.refund_window_hours),
                fields=REFUND_FIELDS):
            yield ReturnPage(refunds, newest=end, total=total)

    # -- the decryption hook -------------------------------------------------

    def decrypt_receiver(self, oaid: str, ciphertexts: dict[str, str]
            ) -> dict[str, str]:
        """The receiver's plaintext, where a process must have it (an
        address check, a carrier without Taobao's e-waybill). Taobao
        decrypts only inside its own approved environments (聚石塔, the
        OAID decryption service), under quotas and audit; the agent never
        stores or logs what this returns. Not implemented: a deployment
        that is approved for it overrides this."""
        raise NotImplementedError(
            "decrypting Taobao's receiver data needs the platform's "
            "approved decryption service (OAID): none is configured")


def _sent(line: dict[str, Any]) -> bool:
    "Whether a trade's line shows it left already"
    return bool(line.get('invoice_no') or line.get('consign_time')) or word(
        line.get('status')) in SENT


def _shipment_id(update: FulfilmentUpdate) -> str:
    return f'{update.order_id}:{update.tracking_number}'

