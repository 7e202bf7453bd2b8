"""A local SMTP server's handler keeping what it receives, for the tests
that read the e-mails the ERP sends."""
import email
import threading
import time
from email import policy


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
