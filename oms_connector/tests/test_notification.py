"""Customer notifications: queued with the state change that causes them,
sent after it commits by e-mail (a real SMTP server here) and text message
(the gateway caught by `responses`), retried when sending fails, and logged
on the order (these tests commit: the class drops its database afterwards)."""
import datetime as dt
import json
import os
from decimal import Decimal
from unittest.mock import patch

import responses

import trytond.config as config
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.currency.tests import create_currency
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME,
    TestCase,
    activate_module,
    drop_db,
    with_transaction,
)
from trytond.transaction import Transaction

from harness.mailbox import smtp_inbox
from harness.server import free_port
from oms_connector.exceptions import NotificationError
from oms_connector.models.notifications.notification import retry_delay
from oms_connector.models.notifications.notification_template import (
    render_text,
)
from oms_connector.tests.records import committed, create_goods
from oms_connector.tests.tools import order_payload
from oms_contract.models import OrderBatch

GATEWAY = 'https://sms.example.com/v1/messages'
FRESH = 'fresh'  # an order the channel has just updated


class NotificationTestCase(TestCase):
    "Test customer notifications"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module('oms_connector')
        cls.addClassCleanup(drop_db)
        cls.inbox = cls.enterClassContext(smtp_inbox())
        cls.smtp_uri = cls.inbox.uri
        for section, option, value in [
                ('email', 'uri', cls.smtp_uri),
                ('oms_sms', 'url', GATEWAY),
                ('oms_sms', 'sender', 'ACME'),
                ]:
            if not config.has_section(section):
                config.add_section(section)
            cls.addClassCleanup(
                config.set, section, option, config.get(section, option, ''))
            config.set(section, option, value)
        environ = patch.dict(os.environ, {'OMS_SMS_TOKEN': 's3cret'})
        environ.start()
        cls.addClassCleanup(environ.stop)
        cls.world = cls.committed(cls._world)

    def setUp(self):
        super().setUp()
        self.inbox.take()

    # -- running as trytond does ------------------------------------------

    @classmethod
    def committed(cls, func, *args, **kwargs):
        "Run func as a request does (see records.committed), in the world"
        return committed(
            func, *args, context=getattr(cls, 'context', None), **kwargs)

    @classmethod
    def _world(cls):
        """A company, a kettle in stock (listed as KETTLE on each channel
        made), a carrier with a tracking page and the customer site URL"""
        pool = Pool()
        Carrier = pool.get('oms.carrier')
        Location = pool.get('stock.location')
        Move = pool.get('stock.move')
        Configuration = pool.get('oms.configuration')
        company = create_company(currency=create_currency('USD'))
        with set_company(company):
            kettle = create_goods("Kettle")
            supplier, = Location.search([('code', '=', 'SUP')])
            warehouse, = Location.search([('type', '=', 'warehouse')])
            move = Move(product=kettle, unit=kettle.default_uom,
                quantity=1000, from_location=supplier,
                to_location=warehouse.storage_location, company=company,
                unit_price=Decimal(10), currency=company.currency)
            move.save()
            with Transaction().set_context(_skip_warnings=True):
                Move.do([move])  # stock from nowhere: it's a test
            dhl = Carrier(name="DHL", code='dhl', tracking_url=(
                    'https://www.dhl.com/track?AWB={number}'))
            dhl.save()
        Configuration.write([Configuration(1)], {
                'customer_site_url': 'https://shop.example.com/erp/',
                })
        cls.context = {'company': company.id, 'companies': [company.id]}
        return {'company': company.id, 'kettle': kettle.id,
            'carrier': dhl.id}

    # -- the world ---------------------------------------------------------

    def channel(self, code, **values):
        "A channel selling the kettle as KETTLE; values are its settings"
        pool = Pool()
        Channel = pool.get('oms.channel')
        Listing = pool.get('oms.listing')
        Company = pool.get('company.company')
        company = Company(self.world['company'])
        channel = Channel(name=code.title(), code=code, company=company,
            currency=company.currency, **values)
        channel.save()
        Listing(channel=channel, product=self.world['kettle'],
            sku='KETTLE').save()
        return channel.id

    def lang(self, code):
        Lang = Pool().get('ir.lang')
        lang, = Lang.search([('code', '=', code)])
        return lang

    def import_orders(self, channel_id, *orders):
        "Import orders as the agent's batch; their sales' ids"
        pool = Pool()
        Channel = pool.get('oms.channel')
        Importer = pool.get('oms.order.importer')
        batch = OrderBatch.model_validate({'orders': list(orders)})
        return [r['sale_id']
            for r in Importer.import_batch(Channel(channel_id), batch)]

    def order(self, channel, external_id, status='awaiting_shipment',
            updated=FRESH, phone=None, sku='KETTLE'):
        "A canonical order of one kettle, from a customer of its own"
        if updated == FRESH:
            updated = dt.datetime.now(dt.UTC)
        order = order_payload(channel, external_id, status=status,
            lines=[(sku, 1, '35.00')], updated_at=updated,
            email=f'{external_id.lower()}@example.com',
            customer_id=f'C-{external_id}')
        order['customer']['phone'] = phone
        return order

    def manual_sale(self, name="Grace Hopper", email='grace@example.com',
            lang=None, confirm=True):
        """A sale keyed in by hand, confirmed (paid): it awaits shipment;
        else a draft awaiting payment"""
        pool = Pool()
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        Product = pool.get('product.product')
        party, = Party.create([{
                    'name': name,
                    'lang': lang,
                    'addresses': [('create', [{
                                    'street_unstructured': "1 Harbour St",
                                    'city': "Arlington"}])],
                    'contact_mechanisms': [('create', [
                                {'type': 'email', 'value': email}]
                            if email else [])],
                    }])
        kettle = Product(self.world['kettle'])
        sale = Sale(party=party)
        sale.on_change_party()
        sale.invoice_method = 'manual'
        sale.save()
        Sale.write([sale], {'lines': [('create', [{
                            'product': kettle.id, 'quantity': 1,
                            'unit': kettle.sale_uom.id,
                            'unit_price': Decimal('35.00'),
                            }])]})
        if confirm:
            Sale.quote([sale])
            Sale.confirm([sale])
        return sale.id

    def ship(self, sale_id, number='JD014600003828'):
        "The warehouse ships the sale's shipment with DHL's tracking number"
        pool = Pool()
        Sale = pool.get('sale.sale')
        Shipment = pool.get('stock.shipment.out')
        shipment, = Sale(sale_id).shipments
        shipment.oms_carrier = self.world['carrier']
        shipment.oms_tracking_number = number
        shipment.save()
        Shipment.pick([shipment])
        Shipment.pack([shipment])
        Shipment.do([shipment])

    def notifications(self, sale_id=None):
        "The notifications (of the sale), oldest first"
        Notification = Pool().get('oms.notification')
        domain = [('sale', '=', sale_id)] if sale_id else []
        return [{
                'event': n.event, 'medium': n.medium, 'state': n.state,
                'recipient': n.recipient, 'language': n.language,
                'subject': n.subject, 'body': n.body,
                'attempts': n.attempts, 'error': n.error,
                'reference': n.provider_reference,
                'next_attempt': n.next_attempt, 'id': n.id,
                } for n in Notification.search(
                domain, order=[('id', 'ASC')])]

    def sale_values(self, sale_id):
        Sale = Pool().get('sale.sale')
        sale = Sale(sale_id)
        return {'number': sale.number, 'state': sale.oms_state,
            'url': sale.oms_status_url, 'token': sale.oms_access_token,
            'exception': sale.oms_exception}

    def make_due(self, notification_id):
        "As if the wait before the next attempt were over"
        Notification = Pool().get('oms.notification')
        Notification.write([Notification(notification_id)], {
                'next_attempt': dt.datetime.now() - dt.timedelta(seconds=1),
                })

    def run_cron(self):
        "Run the notification cron once, as trytond-cron does"
        Cron = Pool().get('ir.cron')
        cron, = Cron.search([('method', '=', 'oms.notification|send_due')])
        self.assertEqual(
            (cron.interval_number, cron.interval_type), (1, 'minutes'))
        Cron.run_once([cron])

    def mail(self):
        "The one message received since the last look: (to, message)"
        (to, message), = self.inbox.take()
        return to, message

    # -- tests -------------------------------------------------------------

    def test_shipped_order_mails_tracking_in_english(self):
        "A shipped order's customer gets carrier, number and tracking link"
        sale_id = self.committed(self.manual_sale)
        self.assertEqual(self.inbox.take(), [])  # confirmed: off by default

        self.committed(self.ship, sale_id)

        to, message = self.mail()
        sale = self.committed(self.sale_values, sale_id)
        self.assertEqual(sale['state'], 'shipped')
        self.assertEqual(to, ['grace@example.com'])
        self.assertEqual(message['To'].addresses[0].display_name,
            "Grace Hopper")
        self.assertEqual(
            message['Subject'], f"Your order {sale['number']} has shipped")
        self.assertTrue(message.is_multipart())
        body = message.get_body(('plain',)).get_content().replace(
            '\r\n', '\n')
        self.assertEqual(body.rstrip('\n'), (
                "Hello Grace Hopper,\n"
                "\n"
                f"Good news: your order {sale['number']} is on its way.\n"
                "\n"
                "DHL JD014600003828\n"
                "https://www.dhl.com/track?AWB=JD014600003828\n"
                "\n"
                f"Follow your order: {sale['url']}\n"
                "\n"
                "Dunder Mifflin"))
        self.assertEqual(sale['url'],
            f"https://shop.example.com/erp/{DB_NAME.replace(':', '%3A')}"
            f"/oms/status?token={sale['token']}")
        self.assertIn(
            '<a href="https://www.dhl.com/track?AWB=JD014600003828">',
            message.get_body(('html',)).get_content())

        # The log shows exactly what was sent.
        logged, = self.committed(self.notifications, sale_id)
        self.assertEqual(
            {k: logged[k] for k in ['event', 'medium', 'state', 'recipient',
                    'language', 'subject', 'attempts', 'error']},
            {'event': 'shipped', 'medium': 'email', 'state': 'sent',
                'recipient': 'grace@example.com', 'language': 'en',
                'subject': message['Subject'], 'attempts': 1,
                'error': None})
        self.assertEqual(logged['body'], body.rstrip('\n'))
        self.assertEqual(logged['reference'], message['Message-ID'])

    def test_chinese_customer_gets_the_chinese_template(self):
        "A channel's customers get its language, and its templates"
        def world():
            return self.channel('tmall', customer_lang=self.lang('zh_CN'),
                notify_email_events=['awaiting_shipment', 'shipped'])
        channel = self.committed(world)

        sale_id, = self.committed(
            self.import_orders, channel, self.order('tmall', 'T1'))

        to, message = self.mail()
        self.assertEqual(message['Subject'], "您在Tmall的订单#T1已确认")
        body = message.get_body(('plain',)).get_content()
        self.assertIn("Ada Lovelace，您好！", body)
        self.assertIn("感谢您的订购。我们已收到订单#T1的付款", body)
        logged, = self.committed(self.notifications, sale_id)
        self.assertEqual((logged['language'], logged['state']),
            ('zh_CN', 'sent'))

    def test_language_falls_back_to_base_then_english(self):
        "zh_TW reads the zh_CN template; a language without any, English"
        def check():
            Template = Pool().get('oms.notification.template')
            templates = Template.search([
                    ('event', '=', 'shipped'), ('medium', '=', 'email')])
            return {code: Template.choose(templates, code).language
                for code in ['zh_CN', 'zh_TW', 'zh', 'fr', None]}
        self.assertEqual(self.committed(check), {
                'zh_CN': 'zh_CN', 'zh_TW': 'zh_CN', 'zh': 'zh_CN',
                'fr': 'en', None: 'en'})

    @responses.activate
    def test_channel_switches_choose_email_and_sms_per_event(self):
        "E-mail off and SMS on for shipping: one text message, no mail"
        responses.post(GATEWAY, json={'id': 'msg-42'}, status=202)
        channel = self.committed(self.channel, 'market',
            notify_email_events=['cancelled'],
            notify_sms_events=['shipped'])
        sale_id, = self.committed(self.import_orders, channel,
            self.order('market', 'M1', phone='+44 20 7946 0018'))
        self.assertEqual(self.inbox.take(), [])

        self.committed(self.ship, sale_id, number='1Z999')

        self.assertEqual(self.inbox.take(), [])
        call, = responses.calls
        self.assertEqual(
            call.request.headers['Authorization'], 'Bearer s3cret')
        sent = json.loads(call.request.body)
        logged, = self.committed(self.notifications, sale_id)
        self.assertEqual(sent, {
                'to': '+442079460018',
                'from': 'ACME',
                'text': "Market: your order #M1 has shipped.\n"
                "DHL 1Z999 https://www.dhl.com/track?AWB=1Z999",
                'reference': f"oms-{DB_NAME}-{logged['id']}",
                })
        self.assertEqual(
            (logged['medium'], logged['state'], logged['reference'],
                logged['body']),
            ('sms', 'sent', 'msg-42', sent['text']))

    def test_smtp_down_keeps_the_change_and_the_cron_sends_later(self):
        "No mail server: the order ships, its notice waits for the server"
        sale_id = self.committed(self.manual_sale, "Alan Turing",
            'alan@example.com')
        config.set('email', 'uri', f'smtp://127.0.0.1:{free_port()}')
        try:
            self.committed(self.ship, sale_id)
        finally:
            config.set('email', 'uri', self.smtp_uri)

        self.assertEqual(
            self.committed(self.sale_values, sale_id)['state'], 'shipped')
        logged, = self.committed(self.notifications, sale_id)
        self.assertEqual((logged['state'], logged['attempts']),
            ('pending', 1))
        self.assertIn("The mail server cannot be reached", logged['error'])
        wait = logged['next_attempt'] - dt.datetime.now()
        self.assertTrue(dt.timedelta(0) < wait <= dt.timedelta(minutes=1))

        self.committed(self.run_cron)  # not due yet: nothing happens
        self.assertEqual(self.inbox.take(), [])

        self.committed(self.make_due, logged['id'])
        self.committed(self.run_cron)

        to, message = self.mail()
        self.assertEqual(to, ['alan@example.com'])
        logged, = self.committed(self.notifications, sale_id)
        self.assertEqual(
            (logged['state'], logged['attempts'], logged['error']),
            ('sent', 2, None))
        self.committed(self.run_cron)
        self.assertEqual(self.inbox.take(), [])

    @responses.activate
    def test_gateway_error_is_retried_refusal_fails_and_retry_now(self):
        "A gateway 500 is tried again later; a 400 fails; Retry Now resends"
        responses.post(GATEWAY, status=500,
            json={'error': {'message': 'upstream timeout'}})
        responses.post(GATEWAY, status=200, json={'id': 'ok-1'})
        responses.post(GATEWAY, status=400,
            json={'message': 'invalid number'})
        responses.post(GATEWAY, status=200, json={'id': 'ok-2'})
        channel = self.committed(self.channel, 'texts',
            notify_email_events=[], notify_sms_events=['cancelled'])
        first, second = self.committed(self.import_orders, channel,
            self.order('texts', 'X1', phone='+15550101'),
            self.order('texts', 'X2', phone='+15550102'))

        def cancel(sale_id):
            Sale = Pool().get('sale.sale')
            Sale.oms_cancel([Sale(sale_id)])
        self.committed(cancel, first)

        logged, = self.committed(self.notifications, first)
        self.assertEqual((logged['state'], logged['attempts'],
                logged['error']),
            ('pending', 1,
                "The SMS gateway answered 500: upstream timeout"))
        self.committed(self.make_due, logged['id'])
        self.committed(self.run_cron)
        logged, = self.committed(self.notifications, first)
        self.assertEqual((logged['state'], logged['attempts'],
                logged['reference']), ('sent', 2, 'ok-1'))

        self.committed(cancel, second)
        logged, = self.committed(self.notifications, second)
        self.assertEqual((logged['state'], logged['attempts'],
                logged['error']),
            ('failed', 1, "The SMS gateway answered 400: invalid number"))

        def retry(notification_id):
            Notification = Pool().get('oms.notification')
            Notification.retry([Notification(notification_id)])
        self.committed(retry, logged['id'])
        logged, = self.committed(self.notifications, second)
        self.assertEqual((logged['state'], logged['attempts'],
                logged['reference']), ('sent', 1, 'ok-2'))
        self.assertEqual(len(responses.calls), 4)

    def test_backfilled_old_orders_are_not_notified(self):
        "Orders a backfill brings in, and their changes, notify nobody"
        channel = self.committed(self.channel, 'history',
            notify_email_events=['awaiting_shipment', 'shipped'])
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)

        old, new = self.committed(self.import_orders, channel,
            self.order('history', 'H1', updated=long_ago),
            self.order('history', 'H2'))
        self.committed(self.import_orders, channel, self.order(
                'history', 'H1', status='shipped',
                updated=long_ago + dt.timedelta(hours=1)))

        (_, message), = self.inbox.take()
        self.assertIn("#H2", message['Subject'])
        self.assertEqual(self.committed(self.notifications, old), [])
        self.assertEqual(
            [n['event'] for n in self.committed(self.notifications, new)],
            ['awaiting_shipment'])

        # What the ERP itself does to an old order is news.
        self.committed(self.ship, new)
        (_, message), = self.inbox.take()
        self.assertIn("has shipped", message['Subject'])

    def test_held_order_notices_wait_for_its_release(self):
        "A held order's news waits; staff messages do not"
        channel = self.committed(self.channel, 'held',
            notify_email_events=['awaiting_shipment', 'message'])
        sale_id, = self.committed(self.import_orders, channel,
            self.order('held', 'Q1', sku='TEAPOT'))
        self.assertTrue(
            self.committed(self.sale_values, sale_id)['exception'])
        logged, = self.committed(self.notifications, sale_id)
        self.assertEqual(
            (logged['event'], logged['state'], logged['attempts']),
            ('awaiting_shipment', 'pending', 0))
        self.committed(self.run_cron)
        self.assertEqual(self.inbox.take(), [])

        def message(sale_id):
            pool = Pool()
            Notification = pool.get('oms.notification')
            Sale = pool.get('sale.sale')
            Notification.notify([Sale(sale_id)], 'message', {
                    'message': "Your teapot is on back order."})
        self.committed(message, sale_id)
        (_, mail), = self.inbox.take()
        self.assertIn("Your teapot is on back order.\r\n",
            mail.get_body(('plain',)).get_content())

        def map_and_reprocess(sale_id):
            pool = Pool()
            Listing = pool.get('oms.listing')
            Sale = pool.get('sale.sale')
            Listing(channel=channel, product=self.world['kettle'],
                sku='TEAPOT').save()
            Sale.oms_reprocess([Sale(sale_id)])
        self.committed(map_and_reprocess, sale_id)

        (_, mail), = self.inbox.take()
        self.assertEqual(mail['Subject'], "Your Held order #Q1 is confirmed")

    def test_refund_tells_its_amount_unpaid_cancellation_nothing(self):
        """The refunder gives the amount (in the test currency, whose
        symbol is USD); an order never paid goes quietly"""
        paid = self.committed(self.manual_sale, "Bo", 'bo@example.com')
        unpaid = self.committed(
            self.manual_sale, "Cy", 'cy@example.com', confirm=False)

        def refund_and_cancel():
            Sale = Pool().get('sale.sale')
            with Transaction().set_context(
                    oms_notify_values={'amount': Decimal('35.00')}):
                Sale.oms_refund([Sale(paid)])
            Sale.oms_cancel([Sale(unpaid)])
        self.committed(refund_and_cancel)

        (to, message), = self.inbox.take()
        self.assertEqual(to, ['bo@example.com'])
        self.assertIn("has been refunded.\r\nAmount refunded: USD35.00\r\n",
            message.get_body(('plain',)).get_content())
        self.assertEqual(self.committed(self.notifications, unpaid), [])

    def test_no_address_cancels_with_the_reason(self):
        "A customer without e-mail: logged as cancelled, and why"
        sale_id = self.committed(self.manual_sale, "No Mail", None)
        self.committed(self.ship, sale_id)

        self.assertEqual(self.inbox.take(), [])
        logged, = self.committed(self.notifications, sale_id)
        self.assertEqual((logged['state'], logged['error']),
            ('cancelled', 'Customer "No Mail" has no e-mail address.'))
        self.assertIn("has shipped", logged['subject'])

    def test_a_claimed_notification_is_sent_once(self):
        "Of two senders, the one that claimed it sends; the other skips"
        sale_id = self.committed(
            self.manual_sale, "Ann", 'ann@example.com', confirm=False)

        def queue_and_claim(sale_id):
            pool = Pool()
            Notification = pool.get('oms.notification')
            Sale = pool.get('sale.sale')
            notification, = Notification.notify([Sale(sale_id)], 'message',
                {'message': "Hello"})
            Transaction().tasks.clear()  # a sender of our own, below
            return notification.id
        notification_id = self.committed(queue_and_claim, sale_id)

        def claim(notification_id):
            Notification = Pool().get('oms.notification')
            return Notification._claim(notification_id)
        self.assertIsNotNone(self.committed(claim, notification_id))

        def deliver(notification_id):
            Notification = Pool().get('oms.notification')
            Notification.deliver([notification_id])
        self.committed(deliver, notification_id)  # claimed: skipped
        self.committed(self.run_cron)
        self.assertEqual(self.inbox.take(), [])
        self.assertIsNone(self.committed(claim, notification_id))

    @with_transaction()
    def test_template_placeholders_are_checked_on_save(self):
        "A template naming an unknown placeholder is refused, clearly"
        Template = Pool().get('oms.notification.template')
        template, = Template.search([
                ('event', '=', 'shipped'), ('medium', '=', 'email'),
                ('language', '=', 'en')])

        with self.assertRaises(NotificationError) as raised:
            template.body = "Track it: ${tracking_number}"
            template.save()
        self.assertEqual(raised.exception.message,
            'The Body of notification template "Shipped / E-mail / en" '
            'uses ${tracking_number}, which is not a placeholder: use '
            '${number}, ${customer}, ${shop}, ${state}, ${total}, '
            '${amount}, ${tracking}, ${status_url}, ${message}, ${rma}, '
            '${replacement}.')

        with self.assertRaises(NotificationError) as raised:
            template.body = "Shipping was $5"
            template.save()
        self.assertIn('write placeholders as ${name} and a dollar sign as '
            '$$', raised.exception.message)

        template.body = "Paid $$5. ${tracking}"
        template.save()

    def test_render_leaves_out_lines_of_empty_placeholders(self):
        "A line whose placeholders are all empty goes, with its blank line"
        self.assertEqual(render_text(
                "Hello ${customer},\n\n${tracking}\n\nLink: ${status_url}"
                "\n\n${shop} ${unknown}",
                {'customer': "Ada", 'tracking': '', 'status_url': '',
                    'shop': "ACME"}),
            "Hello Ada,\n\nACME ${unknown}")
        self.assertEqual(
            [retry_delay(n).total_seconds() / 60 for n in [1, 2, 3, 8, 9]],
            [1, 2, 4, 120, 120])
