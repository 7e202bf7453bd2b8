"""Refunds and returns of the Shopify shop, and the GraphQL roots serving
them: ``refundCreate``."""
from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from ..web import iso_z
from .model import (
    MUTATION_COST,
    RETURN_STATUSES,
    Call,
    gid,
    gid_number,
    invalid_variable,
    line_unit_price,
    money,
)


class Refunds:
    "The shop's refunds (a part of ShopifyShop)"

    def refunds(self, order_id: int | str) -> list[dict[str, Any]]:
        "The order's refunds, as its ``refunds`` field lists them"
        return self.order(order_id)['refunds']

    def refund(self, order_id: int | str, amount: Decimal | str | None = None,
            lines: dict[str, int] | list | None = None,
            note: str | None = None, restock: bool = False,
            return_id: str | None = None) -> dict:
        """A refund made in Shopify's admin: lines as {sku: quantity} (or
        [(sku, quantity)]), the amount defaulting to those lines' price
        (or all that is left), back to the sale; return_id: the return it
        settles. Updates financial status, current quantities,
        updatedAt."""
        with self.lock:
            number = self._lookup(order_id)
            node = self._orders[number]
            wanted = list((lines or {}).items()) if isinstance(
                lines, dict | None) else list(lines)
            picked = []
            for sku, quantity in wanted:
                line = next((li for li in node['lineItems']['nodes']
                        if li['sku'] == sku
                        and li['currentQuantity'] >= quantity), None)
                if line is None:
                    raise ValueError(f"no line of {sku!r} with {quantity} "
                        "left to refund")
                picked.append((line, quantity, restock))
            if amount is None:
                total = Decimal(node['totalPriceSet']['shopMoney']['amount'])
                refunded = Decimal(
                    node['totalRefundedSet']['shopMoney']['amount'])
                amount = sum((line_unit_price(line) * quantity
                        for line, quantity, _ in picked), Decimal(0)
                    ) if picked else total - refunded
            sale = node['transactions'][0]
            transactions = [{'parentId': sale['id'], 'amount': str(amount),
                    'gateway': sale['gateway'], 'kind': 'REFUND'}]
            if return_id is not None and not any(
                    r['id'] == return_id for r in node['returns']['nodes']):
                raise KeyError(f"no return {return_id} on order {order_id}")
            return self._refund(number, picked, transactions, note,
                return_id)

    def _refund(self, number: int, picked: list[tuple[dict, int, bool]],
            transactions: list[dict[str, Any]], note: str | None,
            return_id: str | None = None) -> dict[str, Any]:
        """Record a refund: (line, quantity, restock) picked, the money
        back through REFUND transactions against the order's payments"""
        node = self._orders[number]
        currency = node['currencyCode'] or self.currency
        refund_lines = []
        for line, quantity, restock in picked:
            line['currentQuantity'] -= quantity
            self._unfulfillable(node, line['id'], quantity, restock)
            refund_lines.append({
                'id': gid('RefundLineItem', self._next('RefundLineItem')),
                'quantity': quantity,
                'restockType': 'RETURN' if restock else 'NO_RESTOCK',
                'restocked': restock,
                'lineItem': {'id': line['id'], 'sku': line['sku']},
                'subtotalSet': money(line_unit_price(line) * quantity,
                    currency)})
        when = self._bump(number)
        made = []
        for values in transactions:
            made.append({
                'id': gid('OrderTransaction', self._next('OrderTransaction')),
                'kind': 'REFUND', 'status': 'SUCCESS',
                'gateway': values.get('gateway'),
                'parentTransaction': {'id': values['parentId']},
                'createdAt': iso_z(when),
                'amountSet': money(Decimal(str(values['amount'])),
                    currency)})
        amount = sum((Decimal(t['amountSet']['shopMoney']['amount'])
                for t in made), Decimal(0))
        node['transactions'].extend(made)
        refund = {
            'id': gid('Refund', self._next('Refund')),
            'createdAt': iso_z(when), 'updatedAt': iso_z(when),
            'note': note,
            'totalRefundedSet': money(amount, currency),
            'return': {'id': return_id} if return_id else None,
            'transactions': {'nodes': made},
            'refundLineItems': {'nodes': refund_lines}}
        node['refunds'].append(refund)
        total = Decimal(node['totalPriceSet']['shopMoney']['amount'])
        refunded = Decimal(
            node['totalRefundedSet']['shopMoney']['amount']) + amount
        node['totalRefundedSet'] = money(refunded, currency)
        node['currentTotalPriceSet'] = money(total - refunded, currency)
        node['displayFinancialStatus'] = (
            'REFUNDED' if refunded >= total else 'PARTIALLY_REFUNDED')
        return copy.deepcopy(refund)

    def request_return(self, order_id: int | str,
            lines: dict[str, int] | list, reason: str = 'OTHER',
            note: str | None = None) -> dict[str, Any]:
        """A customer asks to return units (lines as {sku: quantity}):
        a return REQUESTED, the order modified. Shopify only lets
        fulfilled units be returned; the sandbox does not check."""
        with self.lock:
            number = self._lookup(order_id)
            node = self._orders[number]
            wanted = list(lines.items()) if isinstance(lines, dict) \
                else list(lines)
            items = []
            for sku, quantity in wanted:
                line = next((li for li in node['lineItems']['nodes']
                        if li['sku'] == sku), None)
                if line is None:
                    raise ValueError(f"no line of {sku!r} in {order_id}")
                items.append({
                    'id': gid('ReturnLineItem', self._next('ReturnLineItem')),
                    'quantity': int(quantity), 'returnReason': reason,
                    'returnReasonNote': note,
                    'fulfillmentLineItem': {'lineItem': {
                            'id': line['id'], 'sku': line['sku']}}})
            when = iso_z(self._bump(number))
            returns = node['returns']['nodes']
            node_return = {
                'id': gid('Return', self._next('Return')),
                'name': f"{node['name']}-R{len(returns) + 1}",
                'status': 'REQUESTED', 'createdAt': when, 'closedAt': None,
                'returnLineItems': {'nodes': items}}
            returns.append(node_return)
            return copy.deepcopy(node_return)

    def set_return_status(self, return_id: str, status: str
            ) -> dict[str, Any]:
        """Move a return (approved: OPEN, received: CLOSED, DECLINED,
        CANCELED), as the merchant does; the order is modified"""
        with self.lock:
            status = status.upper()
            if status not in RETURN_STATUSES:
                raise ValueError(f"unknown return status {status!r}")
            for number, node in self._orders.items():
                for found in node['returns']['nodes']:
                    if found['id'] == return_id:
                        when = iso_z(self._bump(number))
                        found['status'] = status
                        if status in ('CLOSED', 'DECLINED', 'CANCELED'):
                            found['closedAt'] = when
                        return copy.deepcopy(found)
            raise KeyError(f"no return {return_id}")

    def m_refund_create(self, call: Call) -> tuple[dict, int]:
        values = call.arg('input')
        if not isinstance(values, dict) or not values.get('orderId'):
            raise invalid_variable('input', 'RefundInput!',
                "orderId (Expected value to not be null)")
        result = self._once(call, lambda: self._create_refund(values),
            {'refund': None, 'order': None}, required=True)
        return result, MUTATION_COST

    def _create_refund(self, values: dict[str, Any]) -> dict[str, Any]:
        def failed(field: list[str], text: str) -> dict[str, Any]:
            return {'refund': None, 'order': None,
                'userErrors': [{'field': field, 'message': text}]}

        number = gid_number(values['orderId'], 'Order')
        node = self._orders.get(number or 0)
        if node is None:
            return failed(['orderId'], "Order does not exist.")
        lines = {line['id']: line for line in node['lineItems']['nodes']}
        picked = []
        for n, item in enumerate(values.get('refundLineItems') or []):
            line = lines.get(item.get('lineItemId'))
            quantity = item.get('quantity')
            field = ['refundLineItems', str(n)]
            if line is None:
                return failed(field + ['lineItemId'],
                    "Line item does not exist.")
            if not isinstance(quantity, int) or not (
                    0 < quantity <= line['currentQuantity']):
                return failed(field + ['quantity'], "Quantity cannot "
                    "refund more items than were purchased.")
            picked.append((line, quantity,
                    item.get('restockType') == 'RETURN'))
        payments = {t['id']: t for t in node['transactions']}
        refunded: dict[str, Decimal] = {}
        for t in node['transactions']:
            if t['kind'] == 'REFUND':
                parent = t['parentTransaction']['id']
                refunded[parent] = refunded.get(parent, Decimal(0)) + (
                    Decimal(t['amountSet']['shopMoney']['amount']))
        transactions = values.get('transactions') or []
        for n, t in enumerate(transactions):
            field = ['transactions', str(n)]
            parent = payments.get(t.get('parentId'))
            if t.get('kind') != 'REFUND' or parent is None or (
                    parent['kind'] not in ('SALE', 'CAPTURE')
                    or parent['status'] != 'SUCCESS'):
                return failed(field + ['parentId'], "A refund needs a "
                    "successful sale or capture as its parent.")
            amount = Decimal(str(t.get('amount')))
            left = Decimal(parent['amountSet']['shopMoney']['amount']) - (
                refunded.get(parent['id'], Decimal(0)))
            if not 0 < amount <= left:
                return failed(field + ['amount'], f"Amount {amount} is "
                    f"more than the {left} left to refund.")
            refunded[parent['id']] = refunded.get(
                parent['id'], Decimal(0)) + amount
        note = values.get('note')
        refund = self._refund(number, picked, transactions,
            note if isinstance(note, str) else None)
        return {'refund': refund, 'order': {'id': node['id']},
            'userErrors': []}
