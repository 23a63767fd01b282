"""A tiny OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1, for end-to-end tests.

It answers `POST /v1/chat/completions` and `/v1/embeddings` the way the OpenAI
API does, with a `usage` block (cached prompt tokens included), and
`POST /v1/messages` the way Anthropic's does (input tokens not counting the
cache reads and writes, which come apart). What it answers is chosen by
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
    cache_write_tokens: int = 0
    """Anthropic only: `prompt_tokens` is then the uncached input, as Anthropic reports it."""
    service_tier: str = "default"
    """OpenAI chat completions: the tier that served the request, as the response says."""


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

    def reply(self, body: dict[str, Any]) -> Reply:
        self.requests.append(body)
        m = re.search(r"SCRIPT:(\w+)", json.dumps(body))
        return self.replies.get(m.group(1) if m else "", Reply(status=400))

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        reply = self.reply(body)
        if reply.status != 200:
            kind = "rate_limit_exceeded" if reply.status == 429 else "invalid_request_error"
            return reply.status, {"error": {"message": "scripted failure", "type": kind}}
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": "fp_test",
            "service_tier": reply.service_tier,
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

    def embed(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        reply = self.reply(body)
        if reply.status != 200:
            return reply.status, {"error": {"message": "scripted failure", "type": "invalid"}}
        inputs = body.get("input")
        n = len(inputs) if isinstance(inputs, list) else 1
        return 200, {
            "object": "list",
            "model": body.get("model", self.model),
            "data": [
                {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(n)
            ],
            "usage": {"prompt_tokens": reply.prompt_tokens, "total_tokens": reply.prompt_tokens},
        }

    def message(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        reply = self.reply(body)
        if reply.status != 200:
            kind = "rate_limit_error" if reply.status == 429 else "invalid_request_error"
            return reply.status, {
                "type": "error",
                "error": {"type": kind, "message": "scripted failure"},
            }
        return 200, {
            "id": f"msg_{len(self.requests):04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-3-5-haiku-20241022"),
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": reply.prompt_tokens,
                "output_tokens": reply.completion_tokens,
                "cache_creation_input_tokens": reply.cache_write_tokens,
                "cache_read_input_tokens": reply.cached_tokens,
            },
        }

    def converse(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Bedrock Runtime Converse: input tokens leave out the cache reads and writes."""
        reply = self.reply(body)
        if reply.status != 200:
            return reply.status, {"message": "scripted failure"}
        return 200, {
            "output": {"message": {"role": "assistant", "content": [{"text": reply.text}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": reply.prompt_tokens,
                "outputTokens": reply.completion_tokens,
                "totalTokens": reply.prompt_tokens
                + reply.completion_tokens
                + reply.cached_tokens
                + reply.cache_write_tokens,
                "cacheReadInputTokens": reply.cached_tokens,
                "cacheWriteInputTokens": reply.cache_write_tokens,
            },
            "metrics": {"latencyMs": 120},
        }

    def generate(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Gemini generateContent: promptTokenCount includes the cached tokens."""
        reply = self.reply(body)
        if reply.status != 200:
            status = "RESOURCE_EXHAUSTED" if reply.status == 429 else "INVALID_ARGUMENT"
            return reply.status, {
                "error": {"code": reply.status, "message": "scripted failure", "status": status}
            }
        usage = {
            "promptTokenCount": reply.prompt_tokens,
            "candidatesTokenCount": reply.completion_tokens,
            "totalTokenCount": reply.prompt_tokens + reply.completion_tokens,
        }
        if reply.cached_tokens:
            usage["cachedContentTokenCount"] = reply.cached_tokens
        return 200, {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": reply.text}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": usage,
            "modelVersion": self.model,
            "responseId": f"gem-{len(self.requests)}",
        }


_ROUTES = {
    "/v1/chat/completions": FakeOpenAI.answer,
    "/v1/embeddings": FakeOpenAI.embed,
    "/v1/messages": FakeOpenAI.message,
}
_SUFFIXES = {
    # Bedrock Runtime: /model/{modelId}/converse and /model/{modelId}/invoke
    "/converse": FakeOpenAI.converse,
    "/invoke": FakeOpenAI.message,
    # Gemini: /v1beta/models/{model}:generateContent
    ":generateContent": FakeOpenAI.generate,
}


def _route(path: str) -> Any:
    path = path.split("?")[0].rstrip("/")
    if path in _ROUTES:
        return _ROUTES[path]
    return next((r for suffix, r in _SUFFIXES.items() if path.endswith(suffix)), None)


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            route = _route(self.path)
            if route is None:
                status, doc = 404, {"error": {"message": f"no route {self.path}"}}
            else:
                status, doc = route(fake, body)
            payload = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status == 429:  # Bedrock (botocore) reads the error's kind from this header
                self.send_header("x-amzn-ErrorType", "ThrottlingException")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler
