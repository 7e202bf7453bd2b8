"""Records for the module's unit tests, made with the pool inside a test
transaction (tools.py makes them through proteus)."""
from decimal import Decimal

from trytond.pool import Pool


def create_goods(name, type='goods'):
    "A salable product of the type (goods, kit, ...), sold by the unit"
    pool = Pool()
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    unit, = Uom.search([('name', '=', 'Unit')])
    template, = Template.create([{
                'name': name,
                'type': type,
                'salable': True,
                'default_uom': unit.id,
                'sale_uom': unit.id,
                'list_price': Decimal(10),
                'products': [('create', [{}])],
                }])
    product, = template.products
    return product
