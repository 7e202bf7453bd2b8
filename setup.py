"""One distribution: the Tryton module ``oms_connector`` and the
``sync_agent`` with its ``oms-sync`` command."""
from setuptools import find_packages, setup

TRYTON = '>=8.0,<8.1'

setup(
    name='oms-connector',
    version='0.1.0',
    description=(
        "Order management connector: a Tryton module and a sync agent "
        "keeping marketplaces and the ERP in step"),
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='GPL-3.0-or-later',
    python_requires='>=3.11',
    packages=find_packages(include=[
            'oms_connector', 'oms_connector.*',
            'oms_contract', 'oms_contract.*',
            'sync_agent', 'sync_agent.*']),
    package_data={
        'oms_connector': [
            'tryton.cfg', '*.xml', 'views/*.xml', 'views/*/*.xml',
            'tests/*.rst'],
        'oms_contract': ['openapi.yaml'],
        },
    install_requires=[
        f'trytond{TRYTON}',
        f'trytond-company{TRYTON}',
        f'trytond-country{TRYTON}',
        f'trytond-currency{TRYTON}',
        f'trytond-party{TRYTON}',
        f'trytond-product{TRYTON}',
        f'trytond-product-kit{TRYTON}',
        f'trytond-purchase{TRYTON}',
        f'trytond-sale{TRYTON}',
        f'trytond-stock{TRYTON}',
        f'trytond-stock-supply{TRYTON}',
        'pydantic>=2.6,<3',
        'pycountry',
        'PyYAML',
        'requests>=2.28',
        'tenacity>=8',
        'schedule>=1.2',
        ],
    extras_require={
        # psycopg's C implementation: the pure-Python one costs trytond
        # about a third of its time on PostgreSQL
        'postgresql': [f'trytond[postgresql]{TRYTON}', 'psycopg[binary]'],
        'test': [
            'aiosmtpd',
            f'proteus{TRYTON}',
            'pytest>=8',
            'pytest-xdist>=3.5',
            'jsonschema>=4.18',
            'responses>=0.25',
            # the API fuzzer over the served OpenAPI document
            'schemathesis>=4.32',
            # the browser tests, driving Debian's chromium and chromedriver
            'selenium>=4.30',
            'ruff',
            ],
        },
    entry_points={
        'trytond.modules': ['oms_connector = oms_connector'],
        'console_scripts': ['oms-sync = sync_agent.cli:main'],
        },
    )
