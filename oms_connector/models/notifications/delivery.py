"""How a customer notification leaves: by e-mail over trytond's SMTP
server (`Mailer`) or as a text message through the SMS gateway
(`Texter`); a failure is a DeliveryError saying whether to try again."""
import html
import logging
import re
import smtplib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import trytond.config as config
from trytond.sendmail import get_smtp_server, send_message

from ... import sms

logger = logging.getLogger(__name__)
SMTP_TIMEOUT = 30


class DeliveryError(Exception):
    """A message not taken by the mail server or gateway. `permanent`: it
    never will be; `unreachable`: nothing of that medium can go now."""

    def __init__(self, message, permanent=False, unreachable=False):
        super().__init__(message)
        self.permanent = permanent
        self.unreachable = unreachable



def html_body(text):
    "The text as simple HTML: its paragraphs, links clickable"
    escaped = html.escape(text)
    linked = re.sub(
        r'https?://[^\s<>"]*[^\s<>".,;:!?)\]]',
        lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    paragraphs = [p.strip().replace('\n', '<br>\n')
        for p in re.split(r'\n\s*\n', linked.strip()) if p.strip()]
    return ('<!DOCTYPE html>\n<html><body>\n'
        + ''.join(f'<p>{p}</p>\n' for p in paragraphs)
        + '</body></html>\n')


def _smtp_uri():
    "Tryton's SMTP URI, with a timeout unless it sets one"
    uri = config.get('email', 'uri')
    parts = urlsplit(uri)
    query = parse_qsl(parts.query)
    if not any(key == 'timeout' for key, _ in query):
        query.append(('timeout', str(SMTP_TIMEOUT)))
    return urlunsplit(parts._replace(query=urlencode(query)))


class Mailer:
    "One SMTP connection for a run of sends, through Tryton's settings"

    def __init__(self):
        self.server = None

    def send(self, msg):
        "Send the message; returns its Message-ID"
        if self.server is None:
            try:
                self.server = get_smtp_server(_smtp_uri(), strict=True)
            except Exception as error:
                raise DeliveryError(
                    f"The mail server cannot be reached: {error}",
                    unreachable=True) from error
        try:
            self.server = send_message(
                msg, server=self.server, strict=True) or self.server
        except smtplib.SMTPRecipientsRefused as error:
            self.close()
            codes = [code for code, _ in error.recipients.values()]
            raise DeliveryError(
                "The mail server refused the address: " + '; '.join(
                    f'{code} {_text(message)}'
                    for code, message in error.recipients.values()),
                permanent=all(500 <= c < 600 for c in codes)) from error
        except smtplib.SMTPResponseException as error:
            self.close()
            raise DeliveryError(
                f"The mail server answered {error.smtp_code} "
                f"{_text(error.smtp_error)}") from error
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise DeliveryError(
                f"Sending to the mail server failed: {error}",
                unreachable=True) from error
        return msg['Message-ID']

    def close(self):
        if self.server is not None:
            try:
                self.server.quit()
            except Exception:
                pass
            self.server = None


def _text(value):
    return value.decode(errors='replace') if isinstance(value, bytes) \
        else str(value)


class Texter:
    "The configured SMS gateway for a run of sends, made when first needed"

    def __init__(self):
        self.gateway = None

    def send(self, outgoing):
        "Send the text message; returns the gateway's id of it, if any"
        try:
            if self.gateway is None:
                self.gateway = sms.get_gateway()
            return self.gateway.send(
                outgoing.recipient, outgoing.body, outgoing.reference)
        except sms.SmsError as error:
            raise DeliveryError(str(error), permanent=error.permanent,
                unreachable=error.unreachable) from error


