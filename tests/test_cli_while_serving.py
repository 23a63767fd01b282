"""The CLI while `costper serve` holds the store: reports read through the
server, other commands say so in one line (never DuckDB's lock error), and
SIGTERM stops the server even with a client hanging on a half-sent request."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
from serve_process import COSTPER, ServeProcess


def costper(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTPER_")}
    return subprocess.run(
        [COSTPER, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


def test_report_reads_through_the_server_and_other_commands_say_why_not(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    assert costper("demo", "--sessions", "300", "--db", str(db), cwd=tmp_path).returncode == 0
    sidecar = Path(str(db) + ".server.json")
    with ServeProcess(db) as server:
        info = json.loads(sidecar.read_text())
        assert info == {"url": server.url, "pid": server.proc.pid}
        api = httpx.get(server.url + "/api/report", params={"by": "feature,model"}).json()
        by_feature = httpx.get(server.url + "/api/report").json()
        r = costper("report", "--by", "feature,model", "-f", "json", "--db", str(db), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == api
        table = costper("report", "--db", str(db), cwd=tmp_path)
        assert table.returncode == 0 and "Cost per success" in table.stdout
        explicit = costper(
            "report", "--server", server.url, "-f", "json", "--db", "/nonexistent/x", cwd=tmp_path
        )
        assert explicit.returncode == 0 and json.loads(explicit.stdout)["groups"]
        other = costper("whatif", "--db", str(db), cwd=tmp_path)
        assert other.returncode == 2
        [line] = other.stderr.strip().splitlines()
        assert server.url in line and "in use by `costper serve`" in line
        assert "PID" not in line and "IO Error" not in line and "Traceback" not in other.stderr
        server.stop()
    assert not sidecar.exists()
    after = costper("report", "-f", "json", "--db", str(db), cwd=tmp_path)
    assert after.returncode == 0 and json.loads(after.stdout) == by_feature


def test_sigterm_stops_the_server_with_a_client_stuck_mid_request(tmp_path: Path) -> None:
    with ServeProcess(tmp_path / "t.duckdb") as server:
        host, port = server.url.removeprefix("http://").split(":")
        stuck = socket.create_connection((host, int(port)))
        stuck.sendall(
            b"POST /v1/outcomes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
        )
        time.sleep(0.3)
        began = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=30)
        stuck.close()
        assert time.monotonic() - began < 15
        assert "Traceback" not in "".join(server.stderr)
