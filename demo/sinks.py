"""Where the demo's customer messages end up: a local SMTP server keeping
every e-mail the ERP sends (as .eml files) and a local SMS gateway
keeping every text, so the demo shows what customers would receive."""
from __future__ import annotations

import email
import json
import logging
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

# aiosmtpd logs each SMTP command: not the demo's story
logging.getLogger('mail.log').setLevel(logging.WARNING)


class MailSink:
    "An SMTP server on loopback writing each message to directory/NNNN.eml"

    def __init__(self, directory: Path, port: int):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = len(list(self.directory.glob('*.eml')))
        self.last_subject: str | None = None
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname='127.0.0.1', port=port)

    @property
    def uri(self) -> str:
        return f'smtp://127.0.0.1:{self.controller.port}'

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        message = email.message_from_bytes(
            envelope.content, policy=policy.default)
        with self.lock:
            self.count += 1
            path = self.directory / f'{self.count:04d}.eml'
            self.last_subject = f"{message['To']}: {message['Subject']}"
        path.write_bytes(envelope.content)
        return '250 Message accepted for delivery'

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class SmsSink:
    """A generic HTTP/JSON SMS gateway on loopback: accepts every text and
    appends it to directory/sms.jsonl"""

    def __init__(self, directory: Path, port: int):
        self.path = directory / 'sms.jsonl'
        directory.mkdir(parents=True, exist_ok=True)
        self.texts: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get('Content-Length') or 0)
                text = json.loads(self.rfile.read(length) or b'{}')
                sink.texts.append(text)
                with sink.path.open('a') as stream:
                    stream.write(json.dumps(text, ensure_ascii=False) + '\n')
                body = json.dumps({'id': f'sms-{len(sink.texts)}'}).encode()
                self.send_response(201)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', port), Handler)

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.server.server_address[1]}/messages'

    def start(self) -> SmsSink:
        threading.Thread(target=self.server.serve_forever,
            daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
