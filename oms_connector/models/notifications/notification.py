"""Customer notifications: the e-mails and text messages telling customers
what became of their order, and the log of every one on the order.

A state change queues its notices in the transaction that makes it, rendered
from the merchant's templates in the customer's language, as `pending`; they
are sent once that transaction commits (a task of Tryton's queue) and, when
sending fails, again later by a cron with a growing delay. Sending never
happens inside the state change, so neither a mail server nor an SMS gateway
can hold it back or undo it."""
import datetime as dt
import logging
import re
from collections import defaultdict, namedtuple
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from urllib.parse import quote, urlsplit

from sql import Literal, Null

import trytond.config as config
from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.transaction import Transaction
from trytond.url import host

from ... import sms
from ...exceptions import NotificationError
from ..backoff import backoff
from .delivery import DeliveryError, Mailer, Texter, html_body
from .notification_template import EVENTS, MEDIUMS

logger = logging.getLogger(__name__)

RETURN_EVENTS = [e for e, _ in EVENTS if e.startswith('return_')]
# The notices of an order going ahead: held back while the order is on hold
# and dropped once it is cancelled or refunded.
FORWARD = {'awaiting_shipment', 'partially_shipped', 'shipped', 'completed'}
CLOSED = {'cancelled', 'refunded'}
# delivery. No text messages until a gateway is set up and wanted.
CHANNEL_EMAIL_EVENTS = [
    'shipped', 'cancelled', 'refunded', 'message', *RETURN_EVENTS]
MANUAL_EMAIL_EVENTS = [
    'shipped', 'completed', 'cancelled', 'refunded', 'message',
    *RETURN_EVENTS]

MAX_ATTEMPTS = 10
MAX_DELAY = dt.timedelta(hours=2)
# How long a sender may take over one message before another may try it:
# longer than any send (SMTP and gateway calls time out well before).
LEASE = dt.timedelta(minutes=10)
DUE_BATCH = 500


def retry_delay(attempts):
    "How long to wait after the attempts failed: 1, 2, 4 ... min, up to 2 h"
    return backoff(attempts, MAX_DELAY)


def _phone(value):
    "A phone number as gateways take it: no spaces, dashes or brackets"
    return re.sub(r'[\s().\-/]', '', value or '')


def tracking_text(parcels, medium):
    """The parcels as the customer reads them: carrier and number, then the
    link; one line per parcel in a text message"""
    lines = []
    for parcel in parcels:
        name = ' '.join(p for p in [parcel['carrier'], parcel['number']] if p)
        if medium == 'sms':
            lines.append(' '.join(p for p in [name, parcel['url']] if p))
        else:
            lines.extend(p for p in [name, parcel['url']] if p)
    return '\n'.join(lines)


# What a sender needs of a message it has claimed
Outgoing = namedtuple('Outgoing', [
        'id', 'medium', 'recipient', 'customer', 'shop', 'subject', 'body',
        'reference'])


class Notification(ModelSQL, ModelView):
    __name__ = 'oms.notification'
    __string__ = "Customer Notification"

    sale = fields.Many2One(
        'sale.sale', "Order", required=True, readonly=True,
        ondelete='CASCADE')
    event = fields.Selection(
        EVENTS, "Event", required=True, readonly=True, sort=False)
    medium = fields.Selection(MEDIUMS, "Medium", required=True, readonly=True)
    recipient = fields.Char(
        "Recipient", readonly=True,
        help="The e-mail address or phone number it goes to.")
    language = fields.Char("Language", readonly=True)
    subject = fields.Char(
        "Subject", readonly=True,
        states={
            'invisible': Eval('medium') != 'email',
            })
    body = fields.Text(
        "Body", readonly=True,
        help="The message exactly as sent (rendered when it was queued).")
    state = fields.Selection([
            ('pending', "Pending"),
            ('sent', "Sent"),
            ('failed', "Failed"),
            ('cancelled', "Cancelled"),
            ], "State", required=True, readonly=True, sort=False)
    attempts = fields.Integer("Attempts", required=True, readonly=True)
    error = fields.Text(
        "Error", readonly=True,
        help="Why the last attempt failed, or why nothing could be sent.")
    next_attempt = fields.Timestamp(
        "Next Attempt", readonly=True,
        states={
            'invisible': Eval('state') != 'pending',
            })
    sent_at = fields.Timestamp("Sent At", readonly=True)
    provider_reference = fields.Char(
        "Provider Reference", readonly=True,
        help="The SMS gateway's id of the message, or the e-mail's "
        "Message-ID.")
    claimed_until = fields.Timestamp(
        "Claimed Until", readonly=True,
        help="A sender is working on it until then.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.sale, Index.Range())),
                Index(t,
                    (t.next_attempt, Index.Range()),
                    where=t.state == 'pending'),
                })
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'retry': {
                    'invisible': ~Eval('state').in_(['failed', 'cancelled']),
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def default_attempts(cls):
        return 0

    def get_rec_name(self, name):
        event, medium = dict(EVENTS)[self.event], dict(MEDIUMS)[self.medium]
        return f'{self.sale.rec_name}: {event} ({medium})'

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('state') == 'failed', 'danger',
                    If(Eval('state') == 'cancelled', 'muted', ''))),
            ]

    # Queuing: in the transaction that changes the order.

    @classmethod
    def notify(cls, sales, event, values=None):
        """Queue the `event` notice to the customer of each sale, by e-mail
        and text message as the sale's channel (the configuration, for
        orders keyed in by hand) switches them on for it, and send them once
        the transaction commits. `values` are more template values, e.g.
        {'message': text} or {'amount': Decimal}; a state change passes
        them in the context as `oms_notify_values` (e.g. a refund's amount
        around `Sale.oms_refund`). Returns the notifications, those that
        cannot be sent cancelled with the reason."""
        pool = Pool()
        Configuration = pool.get('oms.configuration')
        Template = pool.get('oms.notification.template')
        if not sales:
            return []
        values = {
            **(Transaction().context.get('oms_notify_values') or {}),
            **(values or {}),
            }
        configuration = Configuration(1)
        templates = defaultdict(list)
        for template in Template.search([('event', '=', event)]):
            templates[template.medium].append(template)
        notifications = []
        for sale in sales:
            if cls._too_old(sale, configuration):
                continue
            settings = sale.oms_channel or configuration
            for medium, events in [
                    ('email', settings.notify_email_events),
                    ('sms', settings.notify_sms_events)]:
                if event in (events or ()):
                    notification = cls(
                        sale=sale, event=event, medium=medium,
                        state='pending', attempts=0,
                        next_attempt=dt.datetime.now())
                    notification.compose(templates[medium], values)
                    notifications.append(notification)
        cls.save(notifications)
        cls.send_soon(notifications)
        return notifications

    @classmethod
    def notify_events(cls, events):
        """Queue the notices of order events just logged (oms.order.event):
        a transition to a state the customer hears of, or an order arriving
        from its channel already paid"""
        sales = defaultdict(list)
        for event in events:
            if event.kind == 'transition':
                if (event.to_state == 'cancelled'
                        and event.from_state == 'pending_payment'):
                    continue  # never confirmed to the customer
            elif event.kind == 'import':
                if event.to_state not in FORWARD:
                    # Unpaid, or closed before we knew of it: the channel
                    # told the customer, if anyone did.
                    continue
            else:
                continue
            if event.to_state in dict(EVENTS):
                sales[event.to_state].append(event.sale)
        for state, state_sales in sales.items():
            cls.notify(state_sales, state)

    @classmethod
    def _too_old(cls, sale, configuration):
        """Whether an import reports the change of an order its channel last
        updated too long ago to tell the customer of.

        A backfill (a new channel's history, a cursor moved back) brings in
        old orders and their old changes: their customers heard of those
        from the marketplace long ago, and a mail now ("your order has
        shipped", months later) would puzzle or alarm them. Changes made in
        the ERP (a shipment done, staff cancelling) are news however old
        the order, so only what an import does is checked."""
        hours = configuration.notify_max_age
        if (not Transaction().context.get('oms_importing')
                or not sale.oms_channel or hours is None
                or not sale.oms_channel_updated):
            return False
        return (sale.oms_channel_updated
            < dt.datetime.now() - dt.timedelta(hours=hours))

    def compose(self, templates=None, values=None):
        """Address the notification and render it (unless it already is)
        from the templates of its event and medium; cancel it with the
        reason when it cannot be sent."""
        Template = Pool().get('oms.notification.template')
        sale = self.sale
        if not getattr(self, 'body', None):
            if templates is None:
                templates = Template.search([
                        ('event', '=', self.event),
                        ('medium', '=', self.medium),
                        ])
            template = Template.choose(templates, self.customer_language())
            if template:
                self.language = template.language
                self.subject, self.body = template.render(
                    self.template_values(template.language, values))
        self.recipient = self.customer_address()
        if not getattr(self, 'body', None):
            reason = gettext('oms_connector.msg_notification_no_template',
                event=dict(EVENTS)[self.event],
                medium=dict(MEDIUMS)[self.medium],
                language=self.customer_language())
        elif not self.recipient:
            reason = gettext(
                f'oms_connector.msg_notification_no_{self.medium}',
                customer=sale.party.rec_name)
        elif self.medium == 'sms' and not sms.configured():
            reason = gettext('oms_connector.msg_notification_no_gateway')
        else:
            return
        self.state = 'cancelled'
        self.next_attempt = None
        self.error = reason

    def customer_language(self):
        "The ir.lang code of the customer's language"
        sale = self.sale
        if sale.party.lang:
            return sale.party.lang.code
        if sale.oms_channel and sale.oms_channel.customer_lang:
            return sale.oms_channel.customer_lang.code
        return 'en'

    def customer_address(self):
        "The customer's e-mail address or phone number, None if unknown"
        sale = self.sale
        if self.medium == 'email':
            types = ['email']
        else:
            types = ['mobile', 'phone']
        mechanisms = []
        if sale.contact and sale.contact.type in types:
            mechanisms.append(sale.contact)
        mechanisms.extend(filter(None,
                (sale.party.contact_mechanism_get(t) for t in types)))
        values = [m.value for m in mechanisms]
        if self.medium == 'sms':
            # Marketplaces often give a phone with the address only.
            order = sale.oms_order if sale.oms_payload else None
            if order and order.shipping_address:
                values.append(order.shipping_address.phone)
            values = [_phone(v) for v in values]
        for value in values:
            if value and value.strip():
                return value.strip()
        return None

    def template_values(self, language, values=None):
        "What the placeholders stand for, in the language, as text"
        pool = Pool()
        Sale = pool.get('sale.sale')
        Lang = pool.get('ir.lang')
        lang = Lang.get(language)
        with Transaction().set_context(language=language):
            sale = Sale(self.sale.id)
            state = sale.oms_state_string
        currency = sale.currency

        def text(value):
            if value is None:
                return ''
            if isinstance(value, Decimal) and currency:
                return lang.currency(value, currency)
            return str(value)

        result = {
            'number': (sale.reference if sale.oms_channel and sale.reference
                else sale.number) or '',
            'customer': sale.party.name or '',
            'shop': (sale.oms_channel.name if sale.oms_channel
                else sale.company.rec_name),
            'state': state or '',
            'total': text(sale.total_amount),
            'amount': '',
            'tracking': tracking_text(sale.oms_tracking_info, self.medium),
            'status_url': sale.oms_status_url or '',
            'message': '',
            'rma': '',
            'replacement': '',
            }
        result.update((k, text(v)) for k, v in (values or {}).items())
        return result

    @classmethod
    def send_soon(cls, notifications):
        "Send the pending notifications once the transaction commits"
        pending = [n for n in notifications if n.state == 'pending']
        if pending:
            with Transaction().set_context(queue_name='oms_notification'):
                cls.__queue__.send(pending)

    @classmethod
    def send_held(cls, sales):
        """Send the notices held back while the sales were on hold (called
        as they are released)"""
        cls.send_soon(cls.search([
                    ('sale', 'in', [s.id for s in sales]),
                    ('state', '=', 'pending'),
                    ]))

    @classmethod
    @ModelView.button
    def retry(cls, notifications):
        """Send failed or cancelled notifications again now, to the
        customer's current address or number, with a new round of
        attempts"""
        retried = [n for n in notifications
            if n.state in {'failed', 'cancelled'}]
        for notification in retried:
            notification.state = 'pending'
            notification.attempts = 0
            notification.error = None
            notification.next_attempt = dt.datetime.now()
            notification.claimed_until = None
            notification.compose()
        cls.save(retried)
        cls.send_soon(retried)

    # Sending: after the commit, each outcome in a transaction of its own.

    @classmethod
    def send(cls, notifications):
        "Send those of the notifications that are due (a queue task)"
        cls.deliver([n.id for n in notifications])

    @classmethod
    def send_due(cls):
        "Send the pending notifications whose next attempt is due (the cron)"
        now = dt.datetime.now()
        due = cls.search([
                ('state', '=', 'pending'),
                ('next_attempt', '<=', now),
                ['OR',
                    ('claimed_until', '=', None),
                    ('claimed_until', '<', now),
                    ],
                # Held orders' notices wait for their release.
                ['OR',
                    ('event', 'not in', list(FORWARD)),
                    ('sale.oms_exception', '=', False),
                    ('sale.oms_state', 'in', list(CLOSED)),
                    ],
                ], order=[('next_attempt', 'ASC'), ('id', 'ASC')],
            limit=DUE_BATCH)
        cls.deliver([n.id for n in due])

    @classmethod
    def deliver(cls, ids):
        """Send the notifications of ids that are due and that no other
        sender has taken, each claimed, sent and its outcome written in
        transactions of their own: a send is never undone by a rollback nor
        made twice. A medium found unreachable is not tried again in this
        run: its messages wait for the next."""
        senders = {'email': Mailer(), 'sms': Texter()}
        down = set()
        try:
            for id_ in ids:
                try:
                    cls._deliver_one(id_, senders, down)
                except Exception:
                    # One notification's trouble never stops the others.
                    logger.exception("notification %s: sending failed", id_)
        finally:
            senders['email'].close()

    @classmethod
    def _deliver_one(cls, id_, senders, down):
        outgoing = cls._claim(id_)
        if outgoing is None:
            return
        if outgoing.medium in down:
            cls._unclaim(id_)
            return
        try:
            sender = senders[outgoing.medium]
            if outgoing.medium == 'email':
                reference = sender.send(cls._email(outgoing))
            else:
                reference = sender.send(outgoing)
        except DeliveryError as error:
            logger.info("notification %s not sent: %s", id_, error)
            if error.unreachable:
                down.add(outgoing.medium)
            cls._write_outcome(
                id_, error=str(error), permanent=error.permanent)
        except Exception as error:
            logger.exception("notification %s not sent", id_)
            cls._write_outcome(id_, error=str(error) or repr(error))
        else:
            cls._write_outcome(id_, reference=reference)

    @classmethod
    def _claim(cls, id_):
        """Take the notification for sending if it is still to send and no
        one else has; returns what to send, else None. Notices of an order
        going ahead wait while the order is on hold, and are dropped once it
        is cancelled or refunded."""
        now = dt.datetime.now()
        with Transaction().new_transaction() as transaction:
            try:
                notifications = cls.search([('id', '=', id_)])
                if not notifications:
                    return None
                notification, = notifications
                if (notification.state != 'pending'
                        or (notification.next_attempt
                            and notification.next_attempt > now)
                        or (notification.claimed_until
                            and notification.claimed_until > now)):
                    return None
                sale = notification.sale
                if notification.event in FORWARD:
                    if sale.oms_state in CLOSED:
                        if cls._take(id_, now):
                            cls.write([notification], {
                                    'state': 'cancelled',
                                    'next_attempt': None,
                                    'claimed_until': None,
                                    'error': gettext(
                                        'oms_connector'
                                        '.msg_notification_superseded',
                                        state=sale.oms_state_string),
                                    })
                        return None
                    if sale.oms_exception:
                        return None  # sent when the order is released
                if not cls._take(id_, now):
                    transaction.rollback()
                    return None
                return Outgoing(
                    id=id_,
                    medium=notification.medium,
                    recipient=notification.recipient,
                    customer=sale.party.name,
                    shop=(sale.oms_channel.name if sale.oms_channel
                        else sale.company.rec_name),
                    subject=notification.subject,
                    body=notification.body,
                    reference=f'oms-{transaction.database.name}-{id_}')
            except backend.DatabaseOperationalError:
                # Another sender took it meanwhile (PostgreSQL could not
                # serialize): it is theirs.
                transaction.rollback()
                return None

    @classmethod
    def _take(cls, id_, now):
        """Claim the row for LEASE, if still pending and unclaimed: one
        conditional update, so of two senders only one succeeds (on
        PostgreSQL, the other skips the row while it is locked)"""
        transaction = Transaction()
        database = transaction.database
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        where = ((table.id == id_) & (table.state == 'pending')
            & ((table.claimed_until == Null)
                | (table.claimed_until <= now)))
        if database.has_select_for():
            query = table.select(Literal(1), where=where)
            query.for_ = database.get_select_for_skip_locked()('UPDATE')
            cursor.execute(*query)
            if cursor.fetchone() is None:
                return False
        cursor.execute(*table.update(
                [table.claimed_until], [now + LEASE], where=where))
        return cursor.rowcount == 1

    @classmethod
    def _unclaim(cls, id_):
        with Transaction().new_transaction():
            cls.write([cls(id_)], {'claimed_until': None})

    @classmethod
    def _write_outcome(
            cls, id_, reference=None, error=None, permanent=False):
        "Write the outcome of an attempt and release the claim"
        now = dt.datetime.now()
        retry = config.getint('database', 'retry')
        for count in range(retry + 1):
            with Transaction().new_transaction() as transaction:
                try:
                    notification = cls(id_)
                    attempts = notification.attempts + 1
                    values = {
                        'attempts': attempts,
                        'claimed_until': None,
                        'error': error,
                        }
                    if error is None:
                        values.update(state='sent', sent_at=now,
                            next_attempt=None, provider_reference=reference)
                    elif permanent or attempts >= MAX_ATTEMPTS:
                        values.update(state='failed', next_attempt=None)
                    else:
                        values['next_attempt'] = now + retry_delay(attempts)
                    cls.write([notification], values)
                    return
                except backend.DatabaseOperationalError:
                    transaction.rollback()
                    if count >= retry:
                        raise

    @classmethod
    def _email(cls, outgoing):
        "The e-mail of a notification: plain text, with an HTML copy"
        msg = EmailMessage()
        sender = config.get('email', 'from')
        name, address = parseaddr(sender)
        msg['From'] = sender if name else formataddr((outgoing.shop, address))
        msg['To'] = formataddr((outgoing.customer or '', outgoing.recipient))
        msg['Subject'] = outgoing.subject or ''
        msg['Message-ID'] = make_msgid(domain=host())
        msg.set_content(outgoing.body)
        msg.add_alternative(html_body(outgoing.body), subtype='html')
        return msg


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.sale'

    oms_notifications = fields.One2Many(
        'oms.notification', 'sale', "Customer Notifications", readonly=True)

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('oms_notifications', None)
        return super().copy(sales, default=default)

    @classmethod
    def _oms_logged(cls, events):
        super()._oms_logged(events)
        Pool().get('oms.notification').notify_events(events)

    @classmethod
    def oms_release(cls, sales, reason):
        # The notices held back while they were on hold go now
        held = [s for s in sales if s.oms_exception]
        super().oms_release(sales, reason)
        Pool().get('oms.notification').send_held(held)

    @property
    def oms_status_url(self):
        """The customer's page of this order (its access token in the link),
        None until the configuration gives the customer site URL"""
        Configuration = Pool().get('oms.configuration')
        base = Configuration(1).customer_site_url
        if not base or not self.oms_access_token:
            return None
        database = quote(Transaction().database.name, safe='')
        token = quote(self.oms_access_token, safe='')
        return f"{base.rstrip('/')}/{database}/oms/status?token={token}"


class Channel(metaclass=PoolMeta):
    __name__ = 'oms.channel'

    customer_lang = fields.Many2One(
        'ir.lang', "Customer Language", ondelete='RESTRICT',
        help="The language of the customers created from this channel's "
        "orders, for the messages they get (e.g. Chinese for a Chinese "
        "marketplace).")
    notify_email_events = fields.MultiSelection(
        EVENTS, "E-mail Customers Of", sort=False,
        help="What the customers of this channel's orders are e-mailed of. "
        "Some marketplaces forbid merchants to e-mail their buyers.")
    notify_sms_events = fields.MultiSelection(
        EVENTS, "Text Customers Of", sort=False,
        help="What the customers of this channel's orders get a text "
        "message of (through the SMS gateway of the server's "
        "configuration).")

    @classmethod
    def default_notify_email_events(cls):
        return list(CHANNEL_EMAIL_EVENTS)

    @classmethod
    def default_notify_sms_events(cls):
        return []


class Configuration(metaclass=PoolMeta):
    __name__ = 'oms.configuration'

    customer_site_url = fields.Char(
        "Customer Site URL",
        help="The ERP's public address as customers reach it, e.g. "
        "https://erp.example.com: the order links in their messages start "
        "with it. Empty: no links.")
    notify_max_age = fields.Integer(
        "Notify Orders Changed Within (hours)",
        domain=['OR',
            ('notify_max_age', '=', None),
            ('notify_max_age', '>=', 0),
            ],
        help="Changes a channel reports of an order it last updated longer "
        "ago than this are not notified: a backfill of old orders tells "
        "their customers nothing. Empty: no limit.")
    notify_email_events = fields.MultiSelection(
        EVENTS, "E-mail Customers Of", sort=False,
        help="What the customers of orders keyed in by hand are e-mailed "
        "of (channels have their own setting).")
    notify_sms_events = fields.MultiSelection(
        EVENTS, "Text Customers Of", sort=False,
        help="What the customers of orders keyed in by hand get a text "
        "message of (channels have their own setting).")

    @classmethod
    def default_notify_max_age(cls):
        return 24

    @classmethod
    def default_notify_email_events(cls):
        return list(MANUAL_EMAIL_EVENTS)

    @classmethod
    def default_notify_sms_events(cls):
        return []

    @classmethod
    def validate_fields(cls, configurations, field_names):
        super().validate_fields(configurations, field_names)
        if not field_names or 'customer_site_url' in field_names:
            for configuration in configurations:
                url = configuration.customer_site_url
                if url and (urlsplit(url).scheme not in {'http', 'https'}
                        or not urlsplit(url).netloc):
                    raise NotificationError(gettext(
                            'oms_connector.msg_customer_site_url', url=url))

