"""A local SMTP server's handler keeping what it receives, for the tests
that read the e-mails the ERP sends."""
import email
import threading
import time
from contextlib import contextmanager
from email import policy

from aiosmtpd.controller import Controller

from harness.server import free_port


class Inbox:
    "An aiosmtpd handler keeping what it receives"

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(
            envelope.original_content, policy=policy.default)
        with self.lock:
            self.messages.append((sorted(envelope.rcpt_tos), message))
        return '250 Message accepted for delivery'

    def take(self):
        "The messages received since the last take"
        with self.lock:
            messages, self.messages = self.messages, []
        return messages

    def wait(self, count=1, timeout=20):
        """The messages received since the last take, once there are count
        of them (or what came within timeout seconds)"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    break
            time.sleep(0.1)
        return self.take()


@contextmanager
def smtp_inbox():
    "A local SMTP server on a free port: its Inbox, whose .uri says where"
    inbox = Inbox()
    controller = Controller(inbox, hostname='127.0.0.1', port=free_port())
    controller.start()
    inbox.uri = f'smtp://127.0.0.1:{controller.port}'
    try:
        yield inbox
    finally:
        controller.stop()
