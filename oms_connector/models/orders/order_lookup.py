"""The customer's order-status lookup: an order found by its number and the
customer's e-mail address, or by the access token in the customer's
e-mails; what the customer is shown of it (state, history, tracking and
nothing else); and the attempts that rate-limit guessing."""
import datetime as dt
from contextlib import contextmanager

from sql.aggregate import Count

import trytond.config as config
from trytond import backend
from trytond.model import Index, Model, ModelSQL, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from .order import OMS_STATES

MIN_TOKEN_LENGTH = 16


def limits():
    """(attempts per client, failures per order number, window seconds)
    from trytond's [oms] section: per client address, any lookup or
    message; per order number, the failed lookups, so that guessing a
    customer's e-mail from many addresses is slowed down as well"""
    return (
        config.getint('oms', 'lookup_per_client', default=30),
        config.getint('oms', 'lookup_failures_per_number', default=10),
        config.getint('oms', 'lookup_window', default=600))


class RateLimited(Exception):
    "Too many attempts: try again after `retry_after` seconds"

    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


def normalize_number(number):
    return number.strip().lstrip('#').strip()


class LookupAttempt(ModelSQL):
    __name__ = 'oms.order.lookup.attempt'
    __string__ = "Order Lookup Attempt"

    key = fields.Char("Key", required=True)
    date = fields.Timestamp("Date", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t,
                (t.key, Index.Equality()), (t.date, Index.Range())))

    @classmethod
    def check(cls, key, limit):
        """Count an attempt under key and return its id, or raise
        RateLimited when the window already holds limit of them"""
        window = dt.timedelta(seconds=limits()[2])
        now = dt.datetime.now()
        with cls._attempts() as commit:
            attempt = cls._add_attempt(key, now, window)
            commit()
            cls._refuse_beyond(limit, key, attempt, now, window)
            return attempt

    @classmethod
    def forget(cls, attempt):
        "Take back an attempt that should not count (a lookup that found)"
        with cls._attempts():
            cls.delete([cls(attempt)])

    @classmethod
    @contextmanager
    def _attempts(cls):
        """Where attempts are written, given how to commit them there.

        On PostgreSQL concurrent transactions would each count before the
        others commit: an attempt is committed first, in a transaction of
        its own, then counted with every attempt committed before it, so
        no more than the limit get through. SQLite has one writer at a
        time: the first write waits for the others to commit, so this
        transaction counts exactly (and its tests share one connection,
        which a commit would commit whole)."""
        if backend.name == 'sqlite':
            yield lambda: None
            return
        with Transaction().new_transaction() as transaction:
            try:
                yield transaction.commit
            finally:
                transaction.commit()

    @classmethod
    def _add_attempt(cls, key, now, window):
        "Forget attempts older than the window and record this one: its id"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.delete(where=table.date < now - window))
        attempt, = cls.create([{'key': key, 'date': now}])
        return attempt.id

    @classmethod
    def _refuse_beyond(cls, limit, key, attempt, now, window):
        """Raise RateLimited, taking the attempt back (refused attempts do
        not count: the limit is on answers), when the window holds more
        than limit attempts under key"""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(Count(table.id),
                where=(table.key == key) & (table.date >= now - window)))
        count, = cursor.fetchone()
        if count > limit:
            cls.delete([cls(attempt)])
            raise RateLimited(int(window.total_seconds()))


class OrderLookup(Model):
    "What a customer may see of their order"
    __name__ = 'oms.order.lookup'
    __string__ = "Order Lookup"

    @classmethod
    def find(cls, client, number=None, email=None, token=None):
        """The order of these details, or None: a wrong pair and an unknown
        order are the same None. Raises RateLimited."""
        Attempt = Pool().get('oms.order.lookup.attempt')
        Attempt.check(f'client:{client}', limits()[0])
        if token:
            return cls._by_token(token)
        number = normalize_number(number or '')
        if not number or not email:
            return None
        # Failed lookups of one number are limited, from any address
        attempt = Attempt.check(f'number:{number}', limits()[1])
        sale = cls._by_number(number, email)
        if sale is not None:
            Attempt.forget(attempt)
        return sale

    @classmethod
    def _by_token(cls, token):
        Sale = Pool().get('sale.sale')
        if len(token) < MIN_TOKEN_LENGTH:
            return None
        sales = Sale.search([('oms_access_token', '=', token)], limit=1)
        return sales[0] if sales else None

    @classmethod
    def _by_number(cls, number, email):
        Sale = Pool().get('sale.sale')
        numbers = [number, f'#{number}']
        sales = Sale.search(['OR',
                ('reference', 'in', numbers),
                ('number', 'in', numbers),
                ], limit=20, order=[('id', 'DESC')])
        email = email.strip().casefold()
        for sale in sales:
            if email in cls._emails(sale):
                return sale
        return None

    @classmethod
    def _emails(cls, sale):
        "The addresses the order's customer is known by"
        emails = set()
        if sale.party:
            emails.update(m.value.casefold()
                for m in sale.party.contact_mechanisms
                if m.type == 'email' and m.value)
        order = sale.oms_channel and sale.oms_order
        if order and order.customer.email:
            emails.add(order.customer.email.casefold())
        return emails

    @classmethod
    def status(cls, sale):
        """What the customer is shown: state, history, tracking, what may
        be returned and the returns asked for"""
        Reason = Pool().get('oms.return.reason')
        labels = dict(OMS_STATES)
        history = []
        for event in sorted(sale.oms_events, key=lambda e: (e.date, e.id)):
            if event.kind not in {'import', 'transition'}:
                continue  # holds and their reasons are the staff's
            if history and history[-1]['state'] == event.to_state:
                continue
            history.append({
                    'state': event.to_state,
                    'label': labels[event.to_state],
                    'date': _utc(event.date),
                    })
        return {
            'number': sale.reference or sale.number,
            'date': sale.sale_date.isoformat() if sale.sale_date else None,
            'shop': (sale.oms_channel.name if sale.oms_channel
                else sale.company.rec_name),
            'state': sale.oms_state,
            'label': labels[sale.oms_state],
            'history': history,
            'tracking': [{
                    'carrier': t['carrier'],
                    'number': t['number'],
                    'url': t['url'],
                    'date': t['date'].isoformat() if t['date'] else None,
                    } for t in sale.oms_tracking_info],
            'lines': cls.returnable_lines(sale),
            'returns': [r.customer_view() for r in sorted(
                    sale.oms_returns, key=lambda r: r.id)],
            'reasons': [{'code': r.code, 'name': r.name}
                for r in Reason.search([])],
            }

    @classmethod
    def returnable_lines(cls, sale):
        """The order's lines as the customer may ask to return them: by
        position, with how many were shipped and are not already in a
        return request"""
        Line = Pool().get('oms.return.line')
        lines = []
        for position, line in enumerate(sale.line_lines, 1):
            shipped = Line.shipped_quantity(line)
            asked = Line.asked_quantity(line)
            lines.append({
                    'line': position,
                    'title': line.description or (
                        line.product.rec_name if line.product else ''),
                    'quantity': line.quantity,
                    'returnable': max(0, shipped - asked),
                    })
        return lines


def _utc(timestamp):
    "A naive UTC timestamp from the database, as ISO 8601 with Z"
    return timestamp.replace(microsecond=0).isoformat() + 'Z'
