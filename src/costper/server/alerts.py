"""Budget notifications from `costper serve`: a background thread, never in a request's way.

Every `[alerts] interval` (default 60s) the thread evaluates the budgets on
its own read cursor and POSTs each newly crossed threshold as JSON to
`[alerts] webhook_url`. A crossing is sent once: its name is written to
`<store>.alerts.json` after the receiver answered 2xx (a failed POST is tried
again next round). Ingest never waits for it: the thread only reads.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from costper.budgets._alerts import new_crossings
from costper.budgets._budgets import evaluate_budgets
from costper.config import Config
from costper.store._source import Source

log = logging.getLogger("costper.alerts")


def state_path(db: str) -> Path | None:
    if "://" in db or db == ":memory:":
        return None
    return Path(db + ".alerts.json")


class BudgetNotifier:
    def __init__(self, store: Source, config: Config) -> None:
        self.store, self.config = store, config
        self.url = config.alerts.webhook_url
        self.path = state_path(config.db)
        self.sent: set[str] = self._load()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="costper-alerts", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)

    def _run(self) -> None:
        every = self.config.alerts.interval.total_seconds()
        while not self.stop.is_set():
            try:
                self.check_once()
            except Exception as e:  # a bad round is logged; the next one tries again
                log.warning("costper: budget check failed: %s", e)
            self.stop.wait(every)

    def check_once(self) -> int:
        sent = 0
        if not self.url:
            return 0
        for key, body in new_crossings(evaluate_budgets(self.store, self.config), self.sent):
            if self.stop.is_set() or not _post(self.url, body):
                continue
            self.sent.add(key)
            self._save()
            sent += 1
        return sent

    def _load(self) -> set[str]:
        if self.path is None or not self.path.exists():
            return set()
        try:
            return set(json.loads(self.path.read_text()).get("sent", []))
        except (OSError, ValueError, AttributeError):
            return set()

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"sent": sorted(self.sent)}))
        os.replace(tmp, self.path)


def _post(url: str, body: dict[str, Any]) -> bool:
    data = json.dumps(body, default=str).encode()
    req = urllib.request.Request(
        url, data=data, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "costper-alerts"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (configured URL)
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError) as e:
        log.warning("costper: webhook %s failed: %s", url, e)
        return False
