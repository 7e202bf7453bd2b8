"""The order management settings: one record for the whole database, as
sale's and stock's configurations are, starting with who hears of stock
alerts."""
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields

from .channels.channel import SHIP_WITHIN


class Configuration(ModelSingleton, ModelSQL, ModelView):
    __name__ = 'oms.configuration'
    __string__ = "Order Management Configuration"

    stock_alert_email = fields.Boolean(
        "E-mail Stock Alerts",
        help="E-mail the recipients below when a stock alert opens.")
    stock_alert_recipients = fields.Many2Many(
        'oms.configuration.stock_alert_recipient', 'configuration', 'user',
        "Stock Alert Recipients",
        help="The staff told of new stock alerts, at their user's e-mail "
        "address; users without one are skipped.")
    complete_after = fields.Integer(
        "Complete After (days)",
        domain=['OR',
            ('complete_after', '=', None),
            ('complete_after', '>=', 0),
            ],
        help="Orders keyed in by hand count as delivered, and are "
        "completed, this many days after their last parcel left; empty: "
        "never (staff complete them). Channels have their own setting.")
    ship_within = fields.Integer(
        "Ship Within (hours)", required=True,
        domain=[('ship_within', '>=', 0)],
        help="Orders keyed in by hand ship within this many hours of "
        "payment, else the fulfilment report counts them late. Channels "
        "have their own setting.")

    @classmethod
    def default_stock_alert_email(cls):
        return True

    @classmethod
    def default_complete_after(cls):
        return 14

    @classmethod
    def default_ship_within(cls):
        return SHIP_WITHIN

    def stock_alert_emails(self):
        "The addresses a new stock alert goes to; empty when none is wanted"
        if not self.stock_alert_email:
            return []
        return sorted({u.email for u in self.stock_alert_recipients
                if u.active and u.email})


class ConfigurationStockAlertRecipient(ModelSQL):
    __name__ = 'oms.configuration.stock_alert_recipient'
    __string__ = "Stock Alert Recipient"

    configuration = fields.Many2One(
        'oms.configuration', "Configuration", required=True,
        ondelete='CASCADE')
    user = fields.Many2One(
        'res.user', "User", required=True, ondelete='CASCADE')
