"""The module's scheduled work, named in ir.cron's list of methods (the
cron records themselves are in the views' XML)."""
from trytond.pool import PoolMeta


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('oms.listing.level|refresh',
                    "Refresh Channel Stock Levels"),
                ('sale.sale|oms_complete_shipped',
                    "Complete Delivered Orders"),
                ('oms.notification|send_due',
                    "Send Customer Notifications"),
                ('party.party|oms_update_segments',
                    "Update Customer Segments"),
                ])
