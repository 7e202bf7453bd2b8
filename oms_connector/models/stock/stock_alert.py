"""Stock alerts: a product fallen below its safety stock, or a channel found
showing another quantity than the one it accepted (DESIGN.md §7).

One alert per product and warehouse (per listing and warehouse for drift)
until the condition clears, so repeated readings raise no storm; staff hear
of each new alert by e-mail once the transaction that opened it commits."""
import datetime as dt
from email.message import EmailMessage

from sql import Column, Literal

import trytond.config as config
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.sendmail import send_message_transactional
from trytond.transaction import Transaction

KINDS = [
    ('low_stock', "Low Stock"),
    ('drift', "Channel Drift"),
    ]


class StockAlert(Workflow, ModelSQL, ModelView):
    __name__ = 'oms.stock.alert'
    __string__ = "Stock Alert"

    kind = fields.Selection(KINDS, "Kind", required=True, readonly=True)
    kind_string = kind.translated('kind')
    state = fields.Selection([
            ('open', "Open"),
            ('resolved', "Resolved"),
            ], "State", required=True, readonly=True, sort=False)
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    product = fields.Many2One(
        'product.product', "Product", required=True, readonly=True,
        ondelete='CASCADE',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    warehouse = fields.Many2One(
        'stock.location', "Warehouse", readonly=True, ondelete='CASCADE',
        domain=[('type', '=', 'warehouse')],
        help="The warehouse whose stock is counted; empty when the stock "
        "of all warehouses is.")
    listing = fields.Many2One(
        'oms.listing', "Listing", readonly=True, ondelete='CASCADE',
        states={
            'invisible': Eval('kind') != 'drift',
            },
        help="The listing whose quantity the channel shows otherwise.")
    channel = fields.Many2One(
        'oms.channel', "Channel", readonly=True, ondelete='CASCADE',
        states={
            'invisible': Eval('kind') != 'drift',
            })
    quantity = fields.Integer(
        "Quantity", readonly=True,
        help="Low stock: the quantity available, the lowest since the "
        "alert opened.\n"
        "Drift: what the channel shows.")
    safety_stock = fields.Integer(
        "Safety Stock", readonly=True,
        states={
            'invisible': Eval('kind') != 'low_stock',
            },
        help="The stock kept back from the channels, which the quantity "
        "available fell below.")
    expected = fields.Integer(
        "Expected", readonly=True,
        states={
            'invisible': Eval('kind') != 'drift',
            },
        help="What the ERP expected the channel to show: the quantity it "
        "last accepted, less its own sales since.")
    message = fields.Text("Message", readonly=True)
    opened_at = fields.Timestamp("Opened At", required=True, readonly=True)
    resolved_at = fields.Timestamp(
        "Resolved At", readonly=True,
        states={
            'invisible': Eval('state') != 'resolved',
            })
    notified_at = fields.Timestamp(
        "Notified At", readonly=True,
        help="When the staff were e-mailed; empty if nobody was.")
    cleared = fields.Boolean(
        "Cleared", readonly=True,
        help="The stock recovered (or the channel came back in step). "
        "Until then this stays the product's alert, even once resolved by "
        "staff, so no other opens.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.product, Index.Range()),
                    (t.kind, Index.Equality(cardinality='low')),
                    where=t.cleared == Literal(False)),
                Index(t,
                    (t.listing, Index.Range()),
                    where=t.cleared == Literal(False)),
                Index(t,
                    (t.state, Index.Equality(cardinality='low')),
                    where=t.state == 'open'),
                })
        cls._order = [
            ('state', 'ASC'),
            ('opened_at', 'DESC'),
            ('id', 'DESC'),
            ]
        cls._transitions |= {
            ('open', 'resolved'),
            }
        cls._buttons.update({
                'resolve': {
                    'invisible': Eval('state') != 'open',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        threshold = table_h.column_exist('threshold')

        super().__register__(module)

        # Migration from 8.0.0: the threshold meant the safety stock of a
        # low-stock alert and the quantity a drift alert expected
        if threshold:
            old = Column(table, 'threshold')
            for kind, column in [
                    ('low_stock', table.safety_stock),
                    ('drift', table.expected)]:
                cursor.execute(*table.update(
                        [column], [old], where=table.kind == kind))
            table_h.drop_column('threshold')

    @classmethod
    def default_state(cls):
        return 'open'

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_opened_at(cls):
        return dt.datetime.now()

    @classmethod
    def default_cleared(cls):
        return False

    def get_rec_name(self, name):
        return f'{self.kind_string}: {self.product.rec_name}'

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            # What the quantity is depends on the kind of alert
            ('//label[@id="available"]', 'states', {
                    'invisible': Eval('kind') != 'low_stock',
                    }),
            ('//label[@id="shown"]', 'states', {
                    'invisible': Eval('kind') != 'drift',
                    }),
            ('/tree', 'visual', If(Eval('state') == 'open',
                    If(Eval('kind') == 'drift', 'danger', 'warning'),
                    'muted')),
            ]

    @classmethod
    @ModelView.button
    @Workflow.transition('resolved')
    def resolve(cls, alerts):
        cls.write(alerts, {'resolved_at': dt.datetime.now()})

    @classmethod
    def check_low_stock(cls, readings):
        """Open or resolve the context company's low-stock alerts from
        readings {(product id, warehouse id or None): (available, safety
        stock)}: one alert per product and warehouse below its safety stock
        until it recovers. Readings that change nothing cost one search."""
        company = Transaction().context.get('company')
        readings = {
            (int(p), _id(w)): (available, safety)
            for (p, w), (available, safety) in readings.items()
            if safety is not None}
        if not readings:
            return
        current = {
            (a.product.id, _id(a.warehouse)): a
            for a in cls.search([
                    ('kind', '=', 'low_stock'),
                    ('company', '=', company),
                    ('product', 'in', list({p for p, _ in readings})),
                    ('cleared', '=', False),
                    ])}
        new, lower, recovered = [], [], []
        for key, (available, safety) in readings.items():
            alert = current.get(key)
            if available >= safety:
                if alert:
                    recovered.append(alert)
            elif not alert:
                product, warehouse = key
                new.append(cls(kind='low_stock', company=company,
                        product=product, warehouse=warehouse,
                        quantity=available, safety_stock=safety))
            elif alert.state == 'open' and (
                    available < alert.quantity
                    or safety != alert.safety_stock):
                alert.quantity = min(available, alert.quantity)
                alert.safety_stock = safety
                lower.append(alert)
        cls._clear(recovered)
        cls._describe(lower)
        cls.save(lower)
        cls._open(new)

    @classmethod
    def report_drift(cls, drifts):
        """Open a drift alert for each level a reconciliation found the
        channel showing otherwise than the ERP expected, unless one is
        already open: drifts are [{'listing', 'warehouse', 'expected',
        'found'}]."""
        drifts = {(d['listing'].id, _id(d['warehouse'])): d for d in drifts}
        if not drifts:
            return
        current = cls._drift_alerts(drifts)
        new, changed = [], []
        for key, drift in drifts.items():
            alert = current.get(key)
            if not alert:
                listing = drift['listing']
                new.append(cls(kind='drift',
                        company=listing.channel.company,
                        product=listing.product, listing=listing,
                        channel=listing.channel, warehouse=drift['warehouse'],
                        quantity=drift['found'], expected=drift['expected']))
            elif alert.state == 'open' and (
                    (alert.quantity, alert.expected)
                    != (drift['found'], drift['expected'])):
                alert.quantity = drift['found']
                alert.expected = drift['expected']
                changed.append(alert)
        cls._describe(changed)
        cls.save(changed)
        cls._open(new)

    @classmethod
    def resolve_drift(cls, listings_warehouses):
        """Resolve the drift alerts of the levels a reconciliation found in
        step: listings_warehouses are (listing, warehouse or None) pairs,
        records or ids."""
        keys = {(int(li), _id(w)) for li, w in listings_warehouses}
        if keys:
            current = cls._drift_alerts(keys)
            cls._clear([a for k, a in current.items() if k in keys])

    @classmethod
    def _drift_alerts(cls, keys):
        "The uncleared drift alerts of these (listing, warehouse), by key"
        return {
            (a.listing.id, _id(a.warehouse)): a
            for a in cls.search([
                    ('kind', '=', 'drift'),
                    ('listing', 'in', list({li for li, _ in keys})),
                    ('cleared', '=', False),
                    ])}

    @classmethod
    def _open(cls, alerts):
        "Record new alerts and e-mail them"
        if alerts:
            cls._describe(alerts)
            cls.save(alerts)
            cls.notify(alerts)

    @classmethod
    def _clear(cls, alerts):
        "Resolve the alerts whose condition cleared; a new one may now open"
        if alerts:
            cls.resolve([a for a in alerts if a.state == 'open'])
            cls.write(alerts, {'cleared': True})

    @classmethod
    def _describe(cls, alerts):
        for alert in alerts:
            alert.message = alert.describe()

    def describe(self):
        "The alert as a sentence for staff"
        msg_id = f'oms_connector.msg_stock_alert_{self.kind}'
        if self.warehouse:
            msg_id += '_warehouse'
        return gettext(msg_id, **self._words())

    def email_subject(self):
        "The subject of a message telling only of this alert"
        return gettext(
            f'oms_connector.msg_stock_alert_{self.kind}_subject',
            **self._words())

    def _words(self):
        "What the messages of the alert's kind say"
        words = {
            'product': self.product.rec_name,
            'warehouse': self.warehouse.rec_name if self.warehouse else None,
            'quantity': _quantity(self.quantity),
            }
        if self.kind == 'drift':
            words.update(channel=self.channel.rec_name, sku=self.listing.sku,
                expected=_quantity(self.expected))
        else:
            words['safety_stock'] = _quantity(self.safety_stock)
        return words

    @classmethod
    def notify(cls, alerts):
        """E-mail the configured staff one message listing the alerts, sent
        when the transaction commits"""
        Configuration = Pool().get('oms.configuration')
        to = Configuration(1).stock_alert_emails()
        if not alerts or not to:
            return
        msg = EmailMessage()
        msg['From'] = config.get('email', 'from')
        msg['To'] = to
        if len(alerts) == 1:
            alert, = alerts
            msg['Subject'] = alert.email_subject()
        else:
            msg['Subject'] = gettext(
                'oms_connector.msg_stock_alerts_subject', count=len(alerts))
        msg.set_content(cls.email_body(alerts))
        send_message_transactional(msg)
        cls.write(alerts, {'notified_at': dt.datetime.now()})

    @classmethod
    def email_body(cls, alerts):
        lines = [gettext('oms_connector.msg_stock_alerts_body'), '']
        for alert in alerts:
            lines += [
                f'- {alert.message}',
                '  ' + gettext('oms_connector.msg_stock_alert_opened',
                    opened=_utc(alert.opened_at), url=alert.__href__),
                '']
        lines.append(gettext('oms_connector.msg_stock_alerts_footer'))
        return '\n'.join(lines)


def _id(record):
    "The id of a record, an id, or None"
    return int(record) if record is not None else None


def _quantity(value):
    return value if value is not None else gettext(
        'oms_connector.msg_stock_alert_no_quantity')


def _utc(timestamp):
    "A stored (naive UTC) time as staff read it, marked UTC"
    return timestamp.replace(tzinfo=dt.UTC).strftime(
        '%Y-%m-%d %H:%M %Z')
