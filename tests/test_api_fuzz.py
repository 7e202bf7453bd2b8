"""The API fuzzed from its own document: schemathesis generates requests
for every operation of the OpenAPI document the ERP serves, valid and
not, and sends them to a real trytond (the PostgreSQL leg runs it there
too). No answer may be a server error, and every answer is the API's JSON.
Bounded in examples, so it costs seconds."""
import os
import uuid

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from oms_contract import openapi

# Per operation; the same examples every run (derandomized), so that CI
# cannot fail by chance. OMS_FUZZ_EXAMPLES=500 explores further, at random.
EXAMPLES = int(os.environ.get('OMS_FUZZ_EXAMPLES', 0)) or 25
OPERATIONS = [(path, method) for path, item in openapi.load()['paths'].items()
    for method in item if method in {'get', 'post', 'delete', 'put'}]


@pytest.fixture
def served_document(erp):
    """The document as trytond serves it, its database and channel fixed
    to the world's (random ones would only meet 404s): the channel 'other',
    which the other route tests leave alone (its leases, its orders)"""
    document = requests.get(
        f'{erp.url}/{erp.database}/oms/v1/openapi.json', timeout=30).json()
    parameters = document['components']['parameters']
    parameters['database_name']['schema'] = {'enum': [erp.database]}
    parameters['channel_code']['schema'] = {'enum': ['other']}
    document['servers'] = [{'url': erp.url}]
    return schemathesis.openapi.from_dict(document)


def answers_json(ctx, response, case):
    "Every answer, errors too, is JSON (the API's, not a web page)"
    content_type = {name.lower(): value
        for name, value in response.headers.items()}.get('content-type', '')
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ''
    assert content_type.startswith('application/json'), (
        f"{response.status_code} answered as {content_type!r}")


@pytest.mark.parametrize(('path', 'method'), OPERATIONS)
def test_no_request_the_document_describes_fails_the_server(
        served_document, erp, path, method):
    operation = served_document[path][method.upper()]
    headers = {'Authorization': f"Bearer {erp.world['other_key']}",
        # A client of its own: its lookups spend no other test's limit
        'X-Forwarded-For': f'fuzz-{uuid.uuid4()}'}

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
        derandomize='OMS_FUZZ_EXAMPLES' not in os.environ,
        suppress_health_check=list(HealthCheck))
    def fuzz(case):
        case.call_and_validate(base_url=erp.url, headers=headers,
            checks=[not_a_server_error, answers_json])
    fuzz()
