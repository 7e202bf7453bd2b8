"""The return importer: writes a batch of the channel's refunds and returns
(oms_contract.models.ReturnBatch) as return requests, with the channel's
returns cursor, in one transaction.

Each refund or return is bound to its request by (channel, its id): pulled
again, it updates the request, never makes a second one. A refund the ERP
pushed is found by the refund id its push recorded; a refund settling a
channel return lands on that return's request. What cannot be matched (an
order not imported yet, a line of another SKU, more than was sold) is kept
on the request, flagged for staff with the reason, never refused."""
import datetime as dt
import json
import logging
from collections import Counter
from decimal import Decimal

import pydantic

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import Model, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from ..orders.order_import import savepoint

logger = logging.getLogger(__name__)


def dump_return(item):
    "The channel's refund or return as kept on the request"
    return json.dumps(item.model_dump(mode='json'), indent=1, sort_keys=True)


class ReturnImporter(Model):
    __name__ = 'oms.return.importer'
    __string__ = "Return Importer"

    @classmethod
    def import_batch(cls, channel, batch):
        """Import the refunds and returns of a batch and store its cursor.
        Returns one result per item, in order."""
        pool = Pool()
        Importer = pool.get('oms.order.importer')
        Importer._lock_channel(channel)
        results = []
        with Transaction().set_context(
                oms_source=f'channel: {channel.code}',
                oms_importing=True,
                company=channel.company.id):
            for item in batch.returns:
                try:
                    with savepoint('oms_return'):
                        rma, result = cls.import_return(channel, item)
                except UserError as error:
                    # What the request cannot take (a state the channel
                    # skipped past): kept, flagged, with the reason.
                    with savepoint('oms_return'):
                        rma, result = cls.hold(channel, item, error.message)
                results.append(cls.result(item, rma, result))
            for item in batch.rejected:
                with savepoint('oms_return'):
                    rma, result = cls.hold(channel, item, item.reason)
                results.append(cls.result(item, rma, result))
        if batch.cursor is not None:
            channel.store_returns_cursor(batch.cursor)
        logger.info("channel %s: %d return(s) %s", channel.code,
            len(results), dict(Counter(r['result'] for r in results)))
        return results

    @staticmethod
    def result(item, rma, result):
        "What the route answers for a refund or return"
        return {
            'external_id': item.external_id,
            'kind': item.kind.value,
            'result': result,
            'rma': rma.number,
            'state': rma.state,
            }

    @classmethod
    def import_return(cls, channel, item):
        Return = Pool().get('oms.return')
        known = Return.search([
                ('channel', '=', channel.id),
                ['OR',
                    ('external_id', '=', item.external_id),
                    ('refund_external_id', '=', item.external_id),
                    ],
                ], limit=1)
        if known:
            rma, = known
            if rma.channel_payload == dump_return(item) or (
                    rma.refund_external_id == item.external_id
                    and rma.external_id != item.external_id):
                # Seen as is, or the refund the ERP pushed itself
                return rma, 'unchanged'
            return cls.update(rma, item), 'updated'
        if item.kind == 'refund' and item.return_external_id:
            settled = Return.search([
                    ('channel', '=', channel.id),
                    ('external_id', '=', item.return_external_id),
                    ], limit=1)
            if settled:
                rma, = settled
                cls.record_refund(rma, item)
                return rma, 'updated'
        return cls.create(channel, item), 'created'

    @classmethod
    def create(cls, channel, item):
        pool = Pool()
        Return = pool.get('oms.return')
        Sale = pool.get('sale.sale')
        sale = Sale.search_oms(channel, item.order_external_id)
        lines, problems = cls.lines(channel, sale, item)
        values = {
            'company': channel.company.id,
            'source': 'channel',
            'channel': channel.id,
            'external_id': item.external_id,
            'order_external_id': item.order_external_id,
            'sale': sale.id if sale else None,
            'party': sale.party.id if sale else None,
            'resolution': 'refund',
            'return_goods': (item.kind == 'return'
                or any(line.restock for line in item.lines)),
            'description': item.reason,
            **cls._return_shipment_values(item),
            'channel_payload': dump_return(item),
            'lines': [('create', lines)],
            'held': bool(problems),
            'hold_reason': '\n'.join(problems) or None,
            }
        if item.kind == 'refund':
            values.update(cls._refund_values(item))
        rma, = Return.create([values])
        if not rma.held:
            cls.follow(rma, item)
        return rma

    @classmethod
    def _return_shipment_values(cls, item):
        "The goods' way back, where the channel tells it"
        return {name: getattr(item, name) for name in (
                'return_carrier', 'return_tracking_number')
            if getattr(item, name)}

    @classmethod
    def _refund_values(cls, item):
        return {
            'refund_amount': item.amount,
            'refunded_amount': item.amount,
            'refund_state': 'channel',
            'refund_external_id': item.external_id,
            }

    @classmethod
    def lines(cls, channel, sale, item):
        """The request lines of the channel's lines, matched to the order's
        lines by the channel's line id, else by SKU; and what could not be
        matched"""
        pool = Pool()
        Listing = pool.get('oms.listing')
        Reason = pool.get('oms.return.reason')
        problems = []
        if sale is None:
            problems.append(gettext(
                    'oms_connector.msg_return_order_unknown',
                    order=item.order_external_id))
        sale_lines = sale.line_lines if sale else []
        lines = []
        for line in item.lines:
            sale_line = next((sl for sl in sale_lines
                    if line.line_external_id
                    and sl.oms_external_id == line.line_external_id), None)
            if sale_line is None and line.sku:
                sale_line = next((sl for sl in sale_lines
                        if sl.product and sl.product.code == line.sku), None)
            product = sale_line.product if sale_line else (
                Listing.product_for_sku(channel, line.sku)
                if line.sku else None)
            name = line.sku or line.line_external_id or '?'
            if product is None:
                problems.append(gettext(
                        'oms_connector.msg_return_line_unknown', line=name))
                continue
            if sale and sale_line is None:
                problems.append(gettext(
                        'oms_connector.msg_return_line_not_in_order',
                        product=product.rec_name, sale=sale.rec_name))
            elif sale_line and line.quantity > sale_line.quantity:
                problems.append(gettext(
                        'oms_connector.msg_return_more_than_sold',
                        quantity=line.quantity, product=product.rec_name,
                        sale=sale.rec_name, limit=f'{sale_line.quantity:g}',
                        others=0))
            unit_price = sale_line.unit_price if sale_line else (
                line.amount / line.quantity if line.amount is not None
                else Decimal(0))
            reason = Reason.from_channel(line.reason or item.reason)
            lines.append({
                    'sale_line': sale_line.id if sale_line else None,
                    'product': product.id,
                    'quantity': line.quantity,
                    'unit_price': unit_price,
                    'reason': reason.id if reason else None,
                    'external_id': line.line_external_id,
                    })
        return lines, problems

    @classmethod
    def update(cls, rma, item):
        "Bring a request up to date with what its channel reports now"
        Return = Pool().get('oms.return')
        rma.channel_payload = dump_return(item)
        for name, value in cls._return_shipment_values(item).items():
            setattr(rma, name, value)
        if item.kind == 'refund':
            for name, value in cls._refund_values(item).items():
                setattr(rma, name, value)
        rma.save()
        if rma.held:
            cls.relink(rma)
            rma = Return(rma.id)
        if not rma.held:
            cls.follow(rma, item)
        return rma

    @classmethod
    def record_refund(cls, rma, item):
        "The channel refunded a return it reported before"
        Return = Pool().get('oms.return')
        Return.write([rma], cls._refund_values(item))
        cls.follow(Return(rma.id), item)

    @classmethod
    def follow(cls, rma, item):
        """Move the request on as far as the channel's status says: never
        back, and never past what the ERP must see itself (goods are
        received here)"""
        Return = Pool().get('oms.return')
        channel = gettext('oms_connector.msg_return_by_channel',
            status=item.status.value)
        if item.kind == 'return':
            if item.status in {'open', 'closed'} and rma.state == 'requested':
                Return._set_state([rma], 'approved', channel)
                Return.expect_goods([rma])
            elif (item.status in {'declined', 'cancelled'}
                    and rma.state in {'requested', 'approved'}
                    and not rma.return_received):
                Return.reject([rma])
            return
        # A refund: the money is back with the customer.
        if rma.state in {'requested', 'approved'} and rma.return_goods:
            if rma.state == 'requested':
                Return._set_state([rma], 'approved', channel)
            Return.expect_goods([rma])
            # Refunded once the goods are in (Return.goods_received)
            Return.goods_received([Return(rma.id)])
        elif rma.state in {'requested', 'approved', 'received'}:
            Return._set_state([rma], 'refunded', gettext(
                    'oms_connector.msg_return_refunded_by_channel'))

    @classmethod
    def hold(cls, channel, item, reason):
        """Keep a refund or return the request could not take, or the
        agent could not read, flagged with the reason and the payload; a
        readable copy pulled later updates it"""
        pool = Pool()
        Return = pool.get('oms.return')
        known = Return.search([
                ('channel', '=', channel.id),
                ('external_id', '=', item.external_id),
                ], limit=1)
        if known and not known[0].held:
            return known[0], 'unchanged'  # read well before: keep that
        values = {
            'channel_payload': dump_return(item),
            'held': True,
            'hold_reason': reason,
            }
        if known:
            Return.write(known, values)
            return known[0], 'held'
        rma, = Return.create([{
                    'company': channel.company.id,
                    'source': 'channel',
                    'channel': channel.id,
                    'external_id': item.external_id,
                    'order_external_id': item.order_external_id,
                    **values,
                    }])
        return rma, 'held'

    @classmethod
    def relink(cls, rma):
        """Give a request held for its order, or unreadable, the order
        and the lines its channel payload names now; it stays held for
        what still cannot be matched"""
        pool = Pool()
        Return = pool.get('oms.return')
        Line = pool.get('oms.return.line')
        Sale = pool.get('sale.sale')
        from oms_contract.models import ChannelReturn
        try:
            item = ChannelReturn.model_validate_json(rma.channel_payload)
        except pydantic.ValidationError:
            return None  # unreadable: waits for a readable copy
        sale = Sale.search_oms(rma.channel, rma.order_external_id)
        lines, problems = cls.lines(rma.channel, sale, item)
        if rma.lines:
            Line.delete(list(rma.lines))
        Return.write([rma], {
                'sale': sale.id if sale else None,
                'party': sale.party.id if sale else None,
                'return_goods': (item.kind == 'return'
                    or any(line.restock for line in item.lines)),
                'description': item.reason,
                'lines': [('create', lines)],
                'held': bool(problems),
                'hold_reason': '\n'.join(problems) or None,
                **(cls._refund_values(item) if item.kind == 'refund'
                    else {}),
                })
        Return._apply_policy([rma])
        return item

    @classmethod
    def link_orders(cls, channel, sales):
        "Relink the requests held for these orders, just imported"
        Return = Pool().get('oms.return')
        held = Return.search([
                ('channel', '=', channel.id),
                ('sale', '=', None),
                ('held', '=', True),
                ('order_external_id', 'in',
                    [s.oms_external_id for s in sales]),
                ])
        for rma in held:
            item = cls.relink(rma)
            rma = Return(rma.id)
            if item is not None and not rma.held:
                cls.follow(rma, item)


class Channel(metaclass=PoolMeta):
    __name__ = 'oms.channel'

    returns_cursor = fields.Char(
        "Returns Cursor", readonly=True,
        help="Where the agent's next pull of refunds and returns starts.")
    returns_cursor_updated = fields.Timestamp(
        "Returns Cursor Updated", readonly=True)

    def store_returns_cursor(self, cursor):
        self.returns_cursor = cursor
        self.returns_cursor_updated = dt.datetime.now()
        self.save()


class OrderImporter(metaclass=PoolMeta):
    __name__ = 'oms.order.importer'

    @classmethod
    def orders_imported(cls, channel, sales):
        super().orders_imported(channel, sales)
        # Refunds and returns that arrived before their order
        Pool().get('oms.return.importer').link_orders(channel, sales)
