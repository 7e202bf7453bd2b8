from lxml import etree

from trytond.model.exceptions import SQLConstraintError
from trytond.modules.company.tests import (
    CompanyTestMixin,
    create_company,
    set_company,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

from oms_connector.exceptions import TransitionError
from sync_agent.models import Customer


class OmsConnectorTestCase(CompanyTestMixin, ModuleTestCase):
    "Test OMS Connector module"
    module = 'oms_connector'

    def _channel_and_party(self, company):
        pool = Pool()
        Channel = pool.get('oms.channel')
        Party = pool.get('party.party')
        channel = Channel(name="Shop", code='shop', company=company,
            currency=company.currency)
        channel.save()
        party = Party(name="Customer")
        party.save()
        return channel, party

    @with_transaction()
    def test_lists_show_times_the_way_clients_can(self):
        "Tryton's clients draw date-times in lists only as date and time"
        pool = Pool()
        View = pool.get('ir.ui.view')
        for view in View.search([
                    ('module', '=', 'oms_connector'),
                    ('type', '=', 'tree'),
                    ]):
            Model = pool.get(view.model)
            for node in etree.fromstring(view.arch).iter('field'):
                field = Model._fields[node.get('name')]
                if field._type in {'datetime', 'timestamp'}:
                    self.assertIn(node.get('widget'), {'date', 'time'},
                        msg=f"{view.rec_name}: {node.get('name')}")

    @with_transaction()
    def test_channel_order_is_bound_once_by_the_database(self):
        "The same channel order id cannot exist twice, even bypassing Python"
        Sale = Pool().get('sale.sale')
        company = create_company()
        with set_company(company):
            channel, party = self._channel_and_party(company)
            Sale(party=party, oms_channel=channel,
                oms_external_id='1001').save()
            Sale(party=party, oms_channel=channel,
                oms_external_id='1002').save()
            # Hand-keyed sales have no channel id: any number of them.
            Sale(party=party).save()
            Sale(party=party).save()

            with self.assertRaises(SQLConstraintError):
                Sale(party=party, oms_channel=channel,
                    oms_external_id='1001').save()

    @with_transaction()
    def test_customers_match_by_channel_id_then_exact_email(self):
        "Case-blind e-mail match, where '_' is not a wildcard"
        Binding = Pool().get('oms.customer')
        company = create_company()
        with set_company(company):
            channel, _ = self._channel_and_party(company)

            jo = Binding.party_for(channel, Customer(
                    external_id='C1', name="Jo E", email='jo_e@example.com'))
            again = Binding.party_for(channel, Customer(
                    external_id='C1', name="Jo", email='new@example.com'))
            by_email = Binding.party_for(channel, Customer(
                    external_id='C2', name="Jo", email='JO_E@example.com'))
            lookalike = Binding.party_for(channel, Customer(
                    external_id=None, name="Joxe",
                    email='joxe@example.com'))

            self.assertEqual(again, jo)
            self.assertEqual(by_email, jo)
            self.assertNotEqual(lookalike, jo)
            self.assertEqual(
                Binding.party_for(channel, Customer(
                        external_id='C2', name="Jo")), jo)

    @with_transaction()
    def test_closed_orders_do_not_reopen(self):
        "A cancelled order refuses to go back to awaiting shipment"
        Sale = Pool().get('sale.sale')
        company = create_company()
        with set_company(company):
            _, party = self._channel_and_party(company)
            sale = Sale(party=party, oms_state='cancelled')
            sale.save()

            with self.assertRaises(TransitionError):
                Sale._oms_set_state([sale], 'awaiting_shipment')
            self.assertEqual(sale.oms_events, ())

    @with_transaction()
    def test_transitions_are_logged(self):
        "Each transition writes one history entry, from, to and who"
        Sale = Pool().get('sale.sale')
        company = create_company()
        with set_company(company):
            _, party = self._channel_and_party(company)
            sale = Sale(party=party)
            sale.save()

            Sale.oms_hold([sale])
            Sale._oms_set_state([sale], 'cancelled')

            sale = Sale(sale.id)
            self.assertEqual(
                [(e.kind, e.from_state, e.to_state)
                    for e in reversed(sale.oms_events)],
                [('hold', None, 'pending_payment'),
                    ('transition', 'pending_payment', 'cancelled')])
            self.assertEqual(sale.oms_events[0].source, 'user: Administrator')
            self.assertTrue(sale.oms_exception)
            self.assertEqual(sale.oms_exception_kind, 'manual')


del ModuleTestCase
