"""A real `costper serve` process on 127.0.0.1 and a free port, for tests.

The DuckDB file is locked by the server while it runs, so tests read the
store after `stop()`, which shuts the server down the way an operator would
(SIGTERM) and waits until it has closed the store.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

COSTPER = str(Path(sys.executable).with_name("costper"))


class ServeProcess:
    def __init__(
        self,
        db: Path,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("COSTPER_")}
        self.db = db
        self.proc = subprocess.Popen(
            [COSTPER, "serve", "--port", "0", "--db", str(db), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**clean, **(env or {})},
            cwd=str(cwd or db.parent),
        )
        self.stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.url = self._await_url(timeout=30)
        self._wait_healthy(timeout=30)

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _await_url(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        found: list[str] = []

        def read() -> None:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            found.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        line = found[0] if found else ""
        m = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"costper serve did not start: {line!r} {''.join(self.stderr)}")
        return m.group(1)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("costper serve never answered /healthz")

    def data_version(self) -> int:
        return int(httpx.get(self.url + "/healthz", timeout=5).json()["data_version"])

    def stop(self) -> str:
        """SIGTERM, wait for a clean exit (store closed); returns what it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        out = self.proc.stdout.read() if self.proc.stdout else ""
        assert self.proc.returncode == 0, (self.proc.returncode, "".join(self.stderr))
        return out

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
