"""Keeps openapi.yaml's schemas equal to the canonical models they describe.

``python -m oms_contract.openapi`` rewrites the document's generated
schemas from oms_contract.models; the test suite fails when they differ or
when a route is missing from the document.
"""
import sys
from pathlib import Path

import yaml

from oms_contract.models import (
    Fulfilment,
    FulfilmentAck,
    Lease,
    LeaseRequest,
    LookupRequest,
    MessageRequest,
    OrderBatch,
    Refund,
    RefundAck,
    ReturnBatch,
    ReturnRequest,
    StockAck,
    StockLevel,
)

DOCUMENT = Path(__file__).with_name('openapi.yaml')
REF = '#/components/schemas/{model}'
# The bodies the agent sends, the stock level, fulfilment, refund and
# lease it reads; the customer's lookup bodies.
CANONICAL = [
    OrderBatch, StockAck, StockLevel, Fulfilment, FulfilmentAck,
    ReturnBatch, Refund, RefundAck, LeaseRequest, Lease,
    LookupRequest, MessageRequest, ReturnRequest]


def canonical_schemas():
    "The JSON schemas of the canonical models and their parts, by name"
    schemas = {}
    for model in CANONICAL:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop('$defs', {}))
        schemas[model.__name__] = schema
    return schemas


def load():
    with DOCUMENT.open(encoding='utf-8') as stream:
        return yaml.safe_load(stream)


def main():
    document = load()
    document['components']['schemas'].update(canonical_schemas())
    with DOCUMENT.open('w', encoding='utf-8') as stream:
        yaml.safe_dump(
            document, stream, sort_keys=False, allow_unicode=True, width=79)
    print(f"wrote {DOCUMENT}", file=sys.stderr)


if __name__ == '__main__':
    main()
