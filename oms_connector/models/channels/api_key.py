"""API keys for the sync agent: Tryton user-application keys of the
application "oms", each limited to the channels it may touch."""
from trytond.model import ModelSQL, fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval


class UserApplication(metaclass=PoolMeta):
    __name__ = 'res.user.application'

    oms_name = fields.Char(
        "Name",
        states={
            'invisible': Eval('application') != 'oms',
            },
        help="What the key is for: the agent, host or person given it.")
    oms_channels = fields.Many2Many(
        'res.user.application-oms.channel', 'application', 'channel',
        "OMS Channels",
        states={
            'invisible': Eval('application') != 'oms',
            },
        help="The channels this key may read and write; none means none.")
    oms_channel_codes = fields.Function(fields.Char(
            "Channels",
            help="The codes of the channels this key may use."),
        'get_oms_channel_codes')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        application = ('oms', "OMS Connector")
        if application not in cls.application.selection:
            cls.application.selection.append(application)

    def get_oms_channel_codes(self, name):
        return ', '.join(sorted(c.code for c in self.oms_channels))

    def may_use_channel(self, channel):
        return channel in self.oms_channels


class UserApplicationChannel(ModelSQL):
    __name__ = 'res.user.application-oms.channel'
    __string__ = "Agent API Key Channel"
    application = fields.Many2One(
        'res.user.application', "Application", required=True,
        ondelete='CASCADE')
    channel = fields.Many2One(
        'oms.channel', "Channel", required=True, ondelete='CASCADE')
