"""Receivers a channel serves encrypted (Taobao): the address keeps the
channel's ciphertexts and its id of the receiver (the OAID) and shows
staff masked values; the sale and its shipments carry the OAID, by which
the channel's own services print the waybill. Nothing here decrypts."""
from trytond.model import fields
from trytond.pool import PoolMeta


class Address(metaclass=PoolMeta):
    __name__ = 'party.address'

    oms_oaid = fields.Char(
        "Receiver ID (OAID)", readonly=True, strip=False,
        help="The channel's id of the receiver, whose name, phone and "
        "street it gives only encrypted: what its services print waybills "
        "and decrypt by.")
    oms_encrypted_name = fields.Char(
        "Encrypted Name", readonly=True, strip=False)
    oms_encrypted_street = fields.Char(
        "Encrypted Street", readonly=True, strip=False)
    oms_encrypted_phone = fields.Char(
        "Encrypted Phone", readonly=True, strip=False)
    oms_protected = fields.Function(
        fields.Boolean("Protected by the Channel"), 'get_oms_protected')

    def get_oms_protected(self, name):
        return bool(self.oms_oaid or self.oms_encrypted_name
            or self.oms_encrypted_street or self.oms_encrypted_phone)

    @staticmethod
    def oms_protected_values(protected):
        "The fields of a canonical ProtectedReceiver (or None)"
        return {
            'oms_oaid': protected.oaid if protected else None,
            'oms_encrypted_name': protected.name if protected else None,
            'oms_encrypted_street': protected.street if protected else None,
            'oms_encrypted_phone': protected.phone if protected else None,
            }

    def oms_same_receiver(self, protected):
        "Whether the address holds this protected receiver (or none)"
        return all(getattr(self, name) == value for name, value in
            self.oms_protected_values(protected).items())


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.sale'

    oms_oaid = fields.Function(
        fields.Char("Receiver ID (OAID)"), 'get_oms_oaid')

    def get_oms_oaid(self, name):
        return self.shipment_address.oms_oaid \
            if self.shipment_address else None


class ShipmentOut(metaclass=PoolMeta):
    __name__ = 'stock.shipment.out'

    oms_oaid = fields.Function(
        fields.Char("Receiver ID (OAID)",
            help="Print the waybill through the channel's e-waybill "
            "service by this id: the receiver's data is encrypted."),
        'get_oms_oaid')

    def get_oms_oaid(self, name):
        return self.delivery_address.oms_oaid \
            if self.delivery_address else None
