"""A Taobao / Tmall seller: the Taobao Open Platform (TOP) subset the
agent uses (marketplace-apis.md §5), served by TOP's router at
``POST {base}/router/rest`` (form-encoded; GET with a query string too)
where ``{base}`` = ``{sandbox}/shops/{name}``.

- Router: every answer is HTTP 200 JSON: ``{"<method without taobao.,
  dots as _>_response": {..., "request_id"}}`` or ``{"error_response":
  {code, msg, sub_code, sub_msg, request_id}}``. Checked in this order:
  method (40 missing, 22 unknown), app_key (28, 29), timestamp (40
  missing; 31 when not ``yyyy-MM-dd HH:mm:ss`` or more than ``skew_s``
  from the sandbox clock read in GMT+8), v (2.0, else 41), format (json,
  else 21), sign_method (md5, hmac, hmac-sha256, default md5; else 41),
  sign (40 missing, 25 wrong; signing.py), session (26 missing, 27
  wrong), then the call limit, then the method's own parameters (40
  ``isv.missing-parameter:<name>``, 41 ``isv.invalid-parameter:<name>``)
  and its refusals (15 with an ``isv.`` sub_code).
- Call limits: ``calls_per_second`` (0: none) then a ban of ``ban_s``
  seconds: code 7 ``accesscontrol.limited-by-app-access-count``, "This
  ban will last for N more seconds" (N whole, at least 1) on every call
  of the ban. ``throttle_next`` answers the same with N =
  ceil(retry_after_s). ``error_next`` 500 is code 15
  ``isp.top-remote-unknown-error`` (HTTP 200); 502/503 are a proxy's
  HTML pages; ``malformed_next`` and ``slow_ms`` as every shop.
- Times are text ``yyyy-MM-dd HH:mm:ss`` in GMT+8; money text in yuan
  with two decimals; lists nested (``{"trades": {"trade": [...]}}``).
- Trades (trades.py): one record per trade in fullinfo's shape; ``tid``
  and ``oid`` JSON integers above 2**53 (with ``tid_str``/``oid_str``),
  one sequence for both. ``payment`` = total_fee + post_fee −
  discount_fee; line ``total_fee`` = price × num − its discount, line
  ``payment`` its share of the trade's payment (post fee spread by
  total_fee). Statuses as §5.3; generic words: pending WAIT_BUYER_PAY,
  paid WAIT_SELLER_SEND_GOODS, partially_fulfilled SELLER_CONSIGNED_PART,
  fulfilled/shipped WAIT_BUYER_CONFIRM_GOODS (shipped by SF), delivered
  TRADE_BUYER_SIGNED, completed TRADE_FINISHED, cancelled
  TRADE_CLOSED_BY_TAOBAO (a paid trade: refunded in full, TRADE_CLOSED),
  refunded TRADE_CLOSED. 预售 trades (``create_order(step=True)``): type
  step, WAIT_BUYER_PAY with FRONT_PAID_FINAL_NOPAID and the deposit
  (20%) in step_paid_fee until ``pay_final()``. A trade takes its units
  off its SKUs when created, a closed line gives them back.
- ``taobao.trades.sold.increment.get``: start_modified ≤ modified ≤
  end_modified (both included), span ≤ 1 day and end after start, start
  within 90 days; newest first (tid descending among equals) by
  page_no/page_size (1-100, 40), total_results or has_next; a subset of
  fields (no buyer_message, step_paid_fee, buyer_open_uid; lines without
  adjust_fee, discount_fee, sku_properties_name, invoice_no,
  logistics_company). ``taobao.trade.fullinfo.get`` serves every field
  named (``orders``: every line field; ``orders.x``: that one).
- Privacy (privacy.py): receivers drawn in plain text, served only as
  ciphertexts (receiver_name, receiver_mobile, receiver_address), with
  ``oaid``, a masked buyer_nick and buyer_open_uid; ``receiver(tid)``
  and ``decrypt(text)`` give the plaintexts to tests, never over TOP.
- Items (catalog.py): ``taobao.items.custom.get``,
  ``taobao.item.quantity.update`` (type 1 sets, 2 adds, clamped at 0),
  ``taobao.skus.quantity.update`` (≤ 20 SKUs, all or nothing).
- Shipping (logistics.py): ``taobao.logistics.offline.send``, whole or
  split (is_split=1, sub_tid); ``shipments(tid)``.
- Refunds (refunds.py): ``taobao.refunds.receive.get``; ``refund()``,
  ``request_return()``, ``open_refund()``, ``set_refund_status()``,
  ``return_goods()`` play the buyer and the platform.

Options (``add_taobao(**options)``, ``shop.set_options()``, ``PUT
/_sandbox/shops/{name}/options``): calls_per_second, ban_s, skew_s.
Operations counted in ``calls``: the method names.

**Unconfirmed** (chosen here): the messages and sub_codes of the
router's errors (22, 28, 29, 31, 21 without sub_code; 40/41 naming the
parameter), v other than 2.0 as 41, sign_method defaulting to md5, xml
not served (21); the call limit as a one-second bucket and its ban; the
ciphertext layout (``~search~cipher~1~~``, ``$search$cipher$1$$``) and
the cipher itself; oaid served whenever named; ``fixed`` in
increment.get's default types; both modified bounds included; no
``trades`` key when nothing is found; unknown field names ignored; the
line ``payment`` spread (TOP's single-line rule differs from the
contract's example); the deposit share; pay_time set when fully paid;
items.custom.get finding items by a SKU's outer_id too, its 40 codes,
its item fields (num_iid, outer_id, title, num, price, modified, skus:
sku_id as a number, outer_id, quantity, properties_name, price,
modified); item.quantity.update's sub_codes
(``isv.item-quantity-item-update-service-error:sku-required``,
``…:sku-not-exist``) and skus.quantity.update's ``isv.item-sku-not-exist``
(code 15); the carrier list and their names; offline.send's sub_codes
(B04 status, B27 forbidden, B12 line shipped, B13 line closed, B30 not a
line); refund records (no refund_id_str, ``outer_id`` the line's SKU
code, ``total_fee`` the line's payment, ``desc`` empty, sid and
company_name only once goods are sent back), their order by modified
then refund_id descending, a line refunded in full before shipping
closing; cancelling a paid trade refunding each line (SUCCESS, reason
协商一致退款).

Not simulated: xml, ``simplify``, batch calls, other methods (refund
detail, online send, decrypt APIs, logistics companies), trade memos and
flags, Tmall's own calls, sub-accounts, per-session and daily quotas,
TOP pseudo-statuses (ALL_WAIT_PAY, ALL_CLOSED), refunds refused by the
seller through the API.
"""
from .shop import TaobaoShop

__all__ = ['TaobaoShop']
