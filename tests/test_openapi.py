"""The OpenAPI document and the code agree: every route is described with
its methods, the canonical schemas are the pydantic models', and what the
server answers follows the documented schemas."""
import jsonschema
import pytest
import requests

from trytond.wsgi import app

import oms_connector.routes  # noqa: F401 (registers the routes)
from oms_connector.tests.tools import order_payload
from oms_contract import openapi

METHODS = {'GET', 'POST', 'PUT', 'PATCH', 'DELETE'}


def implemented_routes():
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(oms_connector.routes.PREFIX):
            path = rule.rule.replace('<', '{').replace('>', '}')
            routes |= {(path, m) for m in rule.methods & METHODS}
    return routes


def documented_routes():
    return {(path, method.upper())
        for path, item in openapi.load()['paths'].items()
        for method in item if method.upper() in METHODS}


def test_every_route_is_documented_and_nothing_else():
    assert implemented_routes()
    assert implemented_routes() == documented_routes()


def test_canonical_schemas_are_the_models():
    schemas = openapi.load()['components']['schemas']
    for name, schema in openapi.canonical_schemas().items():
        assert schemas.get(name) == schema, (
            f"schema {name} differs: run python -m oms_contract.openapi")


def validate(answer, schema_name):
    document = openapi.load()
    jsonschema.validate(answer, {
            '$ref': f'#/components/schemas/{schema_name}',
            'components': document['components'],
            })


def test_answers_follow_the_document(erp, shop):
    held = order_payload('shop', 'doc-1', lines=[('UNMAPPED', 1, '2.00')])
    imported = shop.post_orders('shop', [held], 'c-doc')
    validate(imported, 'ImportAnswer')
    validate(shop._call('GET', '/channels/shop/cursor'), 'Cursor')
    validate(shop._call('GET', '/channels'), 'ChannelList')
    validate(shop.stock_levels('shop', all=True), 'StockLevels')
    validate(shop.ack_stock('shop', [], []), 'StockAckAnswer')
    validate(shop._call('GET', '/channels/shop/fulfilments'), 'Fulfilments')
    validate(shop._call('POST', '/channels/shop/fulfilments/ack', {}),
        'FulfilmentAckAnswer')
    summary = shop.summary('shop', external_ids=True)
    validate(summary, 'ChannelSummary')
    assert 'doc-1' in summary['external_ids']
    assert {e['external_id']: e['kind'] for e in summary['exceptions']}[
        'doc-1'] == 'unknown_sku'
    dry = order_payload('shop', 'doc-dry', lines=[('TS-RED-M', 1, '9.00')])
    answer = shop.post_orders('shop', [dry], 'c-dry', dry_run=True)
    validate(answer, 'ImportAnswer')
    assert [r['result'] for r in answer['results']] == ['created']
    # The dry run kept nothing: neither the order nor the cursor.
    assert 'doc-dry' not in shop.summary('shop', True)['external_ids']
    assert shop.cursor('shop') == 'c-doc'
    error = requests.get(
        f'{erp.url}/{erp.database}/oms/v1/channels/shop/cursor', timeout=10)
    validate(error.json(), 'Error')
    served = requests.get(
        f'{erp.url}/{erp.database}/oms/v1/openapi.json', timeout=10).json()
    assert served == openapi.load()


def test_a_wrong_answer_would_fail():
    with pytest.raises(jsonschema.ValidationError):
        validate({'channel': 'shop', 'cursor': None}, 'Cursor')
