"""Text messages to customers through an SMS gateway over HTTP.

A gateway is configured in trytond's configuration file::

    [oms_sms]
    gateway = http_json          # or an entry point name, or a dotted path
    url = https://sms.example.com/v1/messages
    sender = MyShop
    timeout = 10

and its token is read from the environment variable ``OMS_SMS_TOKEN``, never
from a file (and never logged).

Another provider plugs in as a class with the interface of `SmsGateway`:
``from_config(options, token)`` builds it from the section's options (all
strings) and ``send(to, text, reference)`` sends one message. Name it in
``gateway`` by a dotted path (``package.module.Class`` or
``package.module:Class``) or register it under the entry point group
``oms_connector.sms_gateways`` and name the entry point.
"""
import importlib
import os
from importlib.metadata import entry_points

import requests

import trytond.config as config

SECTION = 'oms_sms'
TOKEN_VARIABLE = 'OMS_SMS_TOKEN'
ENTRY_POINT_GROUP = 'oms_connector.sms_gateways'
# Statuses after which the same message would fail the same way: a bad
# number or text. Authentication (401, 403), timeouts (408) and throttling
# (429) are the gateway's or the configuration's: they are retried.
_RETRIED_4XX = {401, 403, 408, 429}


class SmsError(Exception):
    """The gateway did not accept the message: `permanent` when sending it
    again cannot succeed, `unreachable` when no message can go now"""

    def __init__(self, message, permanent=False, unreachable=False):
        super().__init__(message)
        self.permanent = permanent
        self.unreachable = unreachable


class SmsGateway:
    "The interface of an SMS provider"

    @classmethod
    def from_config(cls, options, token):
        """The gateway of the `[oms_sms]` options (a dict of strings) and
        the token from the environment (or None)"""
        raise NotImplementedError

    def send(self, to: str, text: str, reference: str) -> str | None:
        """Send `text` to the phone number `to`; `reference` is ours, unique
        per message (a gateway may use it against duplicates). Returns the
        gateway's id of the message, if it gives one; raises SmsError when
        the gateway refuses it or cannot be reached."""
        raise NotImplementedError


class HttpJsonGateway(SmsGateway):
    """A generic HTTP gateway: ``POST {url}`` with the JSON
    ``{"to", "from", "text", "reference"}`` and ``Authorization: Bearer
    <token>``; any 2xx accepts the message and its JSON ``id``, if any, is
    the gateway's reference."""

    def __init__(self, url, token=None, sender=None, timeout=10.0,
            session=None):
        self.url = url
        self.token = token
        self.sender = sender
        self.timeout = timeout
        self.session = session or requests.Session()

    @classmethod
    def from_config(cls, options, token):
        if not options.get('url'):
            raise SmsError(f"[{SECTION}] url is not set", unreachable=True)
        return cls(
            options['url'], token=token, sender=options.get('sender'),
            timeout=float(options.get('timeout') or 10))

    def send(self, to, text, reference):
        headers = {'Accept': 'application/json'}
        if self.token:
            headers['Authorization'] = f'Bearer {self.token}'
        try:
            response = self.session.post(self.url, json={
                    'to': to,
                    'from': self.sender,
                    'text': text,
                    'reference': reference,
                    }, headers=headers, timeout=self.timeout)
        except requests.Timeout as error:
            raise SmsError(
                f"The SMS gateway did not answer within {self.timeout:g} s",
                unreachable=True) from error
        except requests.RequestException as error:
            # The exception names the URL, never the headers (the token).
            raise SmsError(f"The SMS gateway cannot be reached: {error}",
                unreachable=True) from error
        if not 200 <= response.status_code < 300:
            raise SmsError(
                f"The SMS gateway answered {response.status_code}: "
                f"{_gateway_message(response)}",
                permanent=(400 <= response.status_code < 500
                    and response.status_code not in _RETRIED_4XX))
        try:
            answer = response.json()
        except ValueError:
            return None
        if isinstance(answer, dict) and answer.get('id') is not None:
            return str(answer['id'])
        return None


def _gateway_message(response):
    "What the gateway said about a refusal, short"
    try:
        answer = response.json()
    except ValueError:
        message = response.text
    else:
        message = answer
        if isinstance(answer, dict):
            error = answer.get('error', answer)
            if isinstance(error, dict):
                error = error.get('message') or error
            message = answer.get('message') or error
    message = str(message).strip() or response.reason or ''
    return message[:500]


GATEWAYS = {
    'http_json': HttpJsonGateway,
    }


def configured():
    "Whether an SMS gateway is configured"
    return bool(config.get(SECTION, 'url')
        or config.get(SECTION, 'gateway'))


def get_gateway():
    "The configured gateway; raises SmsError when there is none"
    if not configured():
        raise SmsError(f"No SMS gateway is configured ([{SECTION}])",
            unreachable=True)
    options = {name: config.get(SECTION, name)
        for name in config.options(SECTION)}
    name = options.get('gateway') or 'http_json'
    return gateway_class(name).from_config(
        options, os.environ.get(TOKEN_VARIABLE) or None)


def gateway_class(name):
    "The provider class named by `gateway`"
    if name in GATEWAYS:
        return GATEWAYS[name]
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == name:
            return entry_point.load()
    module, sep, attribute = name.partition(':')
    if not sep:
        module, _, attribute = name.rpartition('.')
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError):
        raise SmsError(
            f"Unknown SMS gateway {name!r}", unreachable=True) from None
