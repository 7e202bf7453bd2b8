"""Structured logs: one JSON object a line (or plain text), with every
known secret value masked wherever it would appear (messages, exception
texts, URLs)."""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable

MASK = '***'
# Fields the standard LogRecord has: anything else was passed as extra.
_STANDARD = set(vars(logging.LogRecord(
            '', 0, '', 0, '', (), None))) | {'message', 'asctime'}


class SecretMasker:
    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, values: Iterable[str]) -> None:
        # Short values would mask ordinary words: secrets are long.
        self.secrets.update(v for v in values if v and len(v) >= 6)

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text


masker = SecretMasker()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            'time': dt.datetime.fromtimestamp(
                record.created, dt.UTC).isoformat(timespec='milliseconds'),
            'level': record.levelname.lower(),
            'logger': record.name,
            'message': record.getMessage(),
            }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith('_'):
                entry[key] = value
        if record.exc_info:
            entry['error'] = self.formatException(record.exc_info)
        return masker(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__('%(asctime)s %(levelname)s %(name)s: %(message)s')

    def format(self, record: logging.LogRecord) -> str:
        return masker(super().format(record))


def setup(form: str = 'json', level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if form == 'json'
        else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # urllib3 logs full URLs at debug level; keep it quiet.
    logging.getLogger('urllib3').setLevel(logging.WARNING)
