"""A tiny OpenAI-compatible HTTP server on 127.0.0.1, for end-to-end tests.

It answers `POST /v1/chat/completions` the way the OpenAI API does, with a
`usage` block (cached prompt tokens included). What it answers is chosen by
the test: each user message carries a `SCRIPT:<name>` marker naming a reply
in `replies`, so a test knows the exact token counts of every call.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    text: str = "ok"
    status: int = 200


class FakeOpenAI:
    def __init__(self, replies: dict[str, Reply], model: str = "gpt-4o-mini-2024-07-18") -> None:
        self.replies = replies
        self.model = model
        self.requests: list[dict[str, Any]] = []
        handler = _handler(self)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append(body)
        text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        m = re.search(r"SCRIPT:(\w+)", text)
        reply = self.replies.get(m.group(1) if m else "", Reply(status=400))
        if reply.status != 200:
            kind = "rate_limit_exceeded" if reply.status == 429 else "invalid_request_error"
            return reply.status, {"error": {"message": "scripted failure", "type": kind}}
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": "fp_test",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
        }


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.rstrip("/") != "/v1/chat/completions":
                status, doc = 404, {"error": {"message": f"no route {self.path}"}}
            else:
                status, doc = fake.answer(body)
            payload = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler
