from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class OmsConnectorTestCase(CompanyTestMixin, ModuleTestCase):
    "Test OMS Connector module"
    module = 'oms_connector'


del ModuleTestCase
