"""Customer shipments carry who took them (carrier) and the parcel's
tracking number, which reach the channel and the customer once the
shipment is done; an order held short of stock lets go of what they
reserved."""
from itertools import groupby

from trytond.model import ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval


class ShipmentOut(metaclass=PoolMeta):
    __name__ = 'stock.shipment.out'

    oms_carrier = fields.Many2One(
        'oms.carrier', "Carrier", ondelete='RESTRICT',
        states={'readonly': Eval('state').in_(['done', 'cancelled'])})
    oms_tracking_number = fields.Char(
        "Tracking Number", strip=True,
        states={'readonly': Eval('state').in_(['done', 'cancelled'])})
    oms_tracking_url = fields.Function(
        fields.Char("Tracking URL"), 'get_oms_tracking_url')

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def do(cls, shipments):
        # Tell the channels of their orders' parcels (models/fulfilment.py)
        Fulfilment = Pool().get('oms.fulfilment')
        Fulfilment.check_tracking(shipments)
        super().do(shipments)
        Fulfilment.create_for_shipments(shipments)

    def get_oms_tracking_url(self, name):
        if self.oms_carrier:
            return self.oms_carrier.tracking_url_for(self.oms_tracking_number)

    @property
    def oms_tracking(self):
        "What the customer needs to follow the parcel, None when unknown"
        if not self.oms_carrier and not self.oms_tracking_number:
            return None
        return {
            'carrier': self.oms_carrier.name if self.oms_carrier else None,
            'number': self.oms_tracking_number,
            'url': self.oms_tracking_url,
            'date': self.effective_date,
            }

    @classmethod
    def oms_unassign(cls, shipments):
        """Put back what the shipments reserved, one move per line again as
        before Tryton split them to reserve part of a line"""
        Move = Pool().get('stock.move')
        # Tryton's reset makes the inventory moves anew, each whole.
        cls.assign_reset(shipments)
        # Without inventory moves (storage is output), the outgoing moves
        # are the ones split: merge them back.
        to_save, to_delete = [], []
        for shipment in cls.browse(shipments):
            if shipment.warehouse_storage != shipment.warehouse_output:
                continue
            moves = sorted(
                (m for m in shipment.outgoing_moves
                    if m.state == 'draft' and m.origin),
                key=lambda m: (cls._oms_split_key(m), m.id))
            for _, split in groupby(moves, key=cls._oms_split_key):
                move, *others = split
                if others:
                    move.quantity = move.unit.round(
                        move.quantity + sum(m.quantity for m in others))
                    move.from_location = shipment.warehouse_output
                    to_save.append(move)
                    to_delete.extend(others)
        Move.delete(to_delete)
        Move.save(to_save)

    @staticmethod
    def _oms_split_key(move):
        "What the parts of one move split by a partial reservation share"
        return (str(move.origin), move.product.id, move.unit.id)
