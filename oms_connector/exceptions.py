from trytond.exceptions import UserError, UserWarning
from trytond.model.exceptions import ValidationError


class OrderHold(UserError):
    """An order that cannot go ahead as is: it is kept on hold with this
    message as its reason (unknown SKU, invalid address, ...)."""


class TransitionError(ValidationError):
    pass


class ChannelCodeError(ValidationError):
    pass


class OrderPointError(UserError):
    pass


class CarrierError(ValidationError):
    pass


class NotificationError(ValidationError):
    pass


class UntrackedShipmentWarning(UserWarning):
    pass


class FulfilmentError(ValidationError):
    pass


class ReturnError(ValidationError):
    pass
