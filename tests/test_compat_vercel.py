"""Compatibility: the Vercel AI SDK (npm `ai` + `@ai-sdk/openai`), run with Node.

`tests/compat_vercel/app.mjs` exports every span twice: one export per span to
a real `costper serve`, and batched to a capture server here whose bodies are
written as the Collector's protobuf file for `costper ingest traces`. Both
stores must hold the same calls: the AI SDK's `ai.generateText.doGenerate`
and `ai.embed.doEmbed` spans (never the `ai.generateText` wrapper), a failed
doGenerate with no usage, session and user from `ai.telemetry.metadata.*`,
feature from `ai.telemetry.functionId`, provider `openai.chat` as `openai`.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from compat_harness import COMPLETION, PROMPT, no_text_stored, price, stored_calls
from fake_openai import FakeOpenAI, Reply
from serve_process import ServeProcess
from test_compat_openai import check

pytestmark = pytest.mark.compat
APP = Path(__file__).parent / "compat_vercel"
REPLIES = {
    "a1": Reply(prompt_tokens=1200, cached_tokens=1024, completion_tokens=300, text=COMPLETION),
    "b1": Reply(prompt_tokens=800, completion_tokens=150, text=COMPLETION),
    "limited": Reply(status=429),
    "e1": Reply(prompt_tokens=40),
}


class Capture:
    """An OTLP/HTTP endpoint on 127.0.0.1 that keeps the protobuf bodies it is sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    body = b""
                    while size := int(self.rfile.readline().strip() or b"0", 16):
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                capture.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1/traces"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_vercel_ai_sdk(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Vercel AI SDK runs on Node")
    if not (APP / "node_modules" / "ai").exists():
        pytest.skip("run `npm install` in tests/compat_vercel (.ci/run does)")
    live = tmp_path / "vercel-live.duckdb"
    capture = Capture()
    try:
        with ServeProcess(live) as server, FakeOpenAI(REPLIES) as api:
            env = {
                **os.environ,
                "LIVE_URL": server.url + "/v1/traces",
                "CAPTURE_URL": capture.url,
                "FAKE_URL": api.url,
                "PROMPT": PROMPT,
            }
            out = subprocess.run(
                [node, str(APP / "app.mjs")], env=env, capture_output=True, text=True, timeout=120
            )
            assert out.returncode == 0, out.stderr
            server.stop()
    finally:
        capture.close()
    assert capture.bodies, "the batch exporter sent nothing"
    file = tmp_path / "vercel.pb"
    with file.open("wb") as f:
        for body in capture.bodies:
            f.write(len(body).to_bytes(4, "big") + body)
    from_file = tmp_path / "vercel-file.duckdb"
    out = subprocess.run(
        [
            shutil.which("costper") or "costper",
            "ingest",
            "traces",
            str(file),
            "--db",
            str(from_file),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    calls = stored_calls(live)
    assert stored_calls(from_file) == calls
    no_text_stored(live)
    no_text_stored(from_file)
    chats = [c for c in calls if c["operation"] != "embeddings"]
    check(chats)
    [emb] = [c for c in calls if c["operation"] == "embeddings"]
    assert (emb["session_id"], emb["feature"], emb["input_tokens"]) == ("s-2", "billing", 40)
    assert emb["provider"] == "openai" and emb["model"].startswith("text-embedding-3-small")
    expected = price("text-embedding-3-small", "openai", input_tokens=40, output_tokens=0)
    assert emb["estimated_cost"] == pytest.approx(float(expected))
