"""What an import does not check twice.

Tryton validates every record it creates or writes field by field: each
relation's domain (a search per field and batch, after evaluating its PYSON
per record), required states, sizes, digits and selections. For the records
an import builds, those checks repeat what was already checked: the order
by the contract (oms_contract.models) and the importer (SKU, currency,
address, salable product: see OrderImporter._fill), the sale's shipments,
moves and reservations by Tryton's own workflow from that checked sale.
They cost more than half of an import's time.

Within `checked_import()`, the models below skip those generic checks.
What still runs: each model's own `pre_validate`, `validate` and
`validate_fields` (Tryton's business rules: a sale's lines, a move's
period, a shipment's warehouse ...), the workflow's own checks
(`check_for_quotation`, transitions) and every constraint of the database
(not null, unique, foreign keys, checks). Records written by anything else
(staff, other modules' crons) are checked in full."""
from contextlib import contextmanager

from trytond.pool import PoolMeta
from trytond.transaction import Transaction

CONTEXT_KEY = '_oms_checked_import'


@contextmanager
def checked_import():
    "Skip Tryton's generic field checks on the import's records"
    with Transaction().set_context(**{CONTEXT_KEY: True}):
        yield


class CheckedOnImport:
    "A model whose records an import builds from what it has checked"
    __slots__ = ()

    @classmethod
    def _validate(cls, records, field_names=None):
        if not Transaction().context.get(CONTEXT_KEY):
            super()._validate(records, field_names=field_names)
            return
        if field_names is None:
            field_names = cls._fields.keys()
        # As ModelStorage._validate ends, without its field checks
        for record in records:
            record.pre_validate()
        cls.validate(records)
        cls.validate_fields(records, field_names)


class Sale(CheckedOnImport, metaclass=PoolMeta):
    __name__ = 'sale.sale'


class SaleLine(CheckedOnImport, metaclass=PoolMeta):
    __name__ = 'sale.line'


class Party(CheckedOnImport, metaclass=PoolMeta):
    __name__ = 'party.party'


class Address(CheckedOnImport, metaclass=PoolMeta):
    __name__ = 'party.address'


class ContactMechanism(CheckedOnImport, metaclass=PoolMeta):
    __name__ = 'party.contact_mechanism'


class ShipmentOut(CheckedOnImport, metaclass=PoolMeta):
    __name__ = 'stock.shipment.out'


class Move(CheckedOnImport, metaclass=PoolMeta):
    __name__ = 'stock.move'


class ModelLog(CheckedOnImport, metaclass=PoolMeta):
    "The sales' and shipments' transitions Tryton logs"
    __name__ = 'ir.model.log'
