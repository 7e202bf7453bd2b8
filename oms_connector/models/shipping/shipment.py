"""Customer shipments carry who took them (carrier) and the parcel's
tracking number, which reach the channel and the customer once the
shipment is done."""
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
