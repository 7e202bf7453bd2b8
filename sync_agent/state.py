"""What the agent remembers between runs, per channel: when each job last
succeeded (and what it did), and its last error. Kept in a JSON file in the
state directory so that `oms-sync status` can show it from another
process; the cursor itself lives in the ERP, committed with the orders."""
from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec='seconds')


class AgentState:
    def __init__(self, directory: Path):
        self.path = directory / 'state.json'
        self.lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding='utf-8'))
        except (OSError, ValueError):
            return {}

    def channel(self, code: str) -> dict[str, Any]:
        return self.read().get(code, {})

    def succeeded(self, code: str, job: str, summary: dict[str, Any]
            ) -> None:
        def change(channel: dict[str, Any]) -> None:
            channel.setdefault('last_success', {})[job] = {
                'at': now(), **summary}
            if (channel.get('last_error') or {}).get('job') == job:
                channel['last_error']['resolved'] = True
            (channel.get('waiting') or {}).pop(job, None)
        self._update(code, change)

    def resolved(self, code: str, job: str) -> None:
        """The job's last error no longer holds (a channel set up since its
        setup failed), though the job records no success"""
        error = self.channel(code).get('last_error') or {}
        if error.get('job') == job and not error.get('resolved'):
            def change(channel: dict[str, Any]) -> None:
                channel['last_error']['resolved'] = True
            self._update(code, change)

    def waiting(self, code: str, job: str, holder: str) -> None:
        "The job was skipped: another agent holds its lease"
        def change(channel: dict[str, Any]) -> None:
            channel.setdefault('waiting', {})[job] = {
                'at': now(), 'holder': holder}
        self._update(code, change)

    def failed(self, code: str, job: str, error: str) -> None:
        def change(channel: dict[str, Any]) -> None:
            channel['last_error'] = {'at': now(), 'job': job,
                'error': error, 'resolved': False}
        self._update(code, change)

    def _update(self, code: str, change) -> None:
        with self.lock:
            data = self.read()
            change(data.setdefault(code, {}))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix('.tmp')
            temporary.write_text(
                json.dumps(data, indent=1, sort_keys=True),
                encoding='utf-8')
            temporary.replace(self.path)
