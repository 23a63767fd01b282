"""What other websites and misbehaving clients can do to a server on loopback.

Each case is sent over a real socket to a real uvicorn: DNS rebinding (a
foreign Host), cross-site simple POSTs (text/plain, forms), the API key
echoed into a page, bodies without a limit, slow and vanishing clients.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from live_app import LiveServer

from costper.config import Config
from costper.server import guard
from costper.store._store import Store

KEY = "k-7f3a9c-secret"
OUTCOME = '{"session_id": "s1", "success": true}'


@pytest.fixture
def live(store: Store, cfg: Config) -> Iterator[LiveServer]:
    server = LiveServer(cfg.with_(max_request_bytes=50_000), store)
    yield server
    server.stop()


@pytest.fixture
def keyed(store: Store, cfg: Config) -> Iterator[LiveServer]:
    server = LiveServer(cfg.with_(api_keys=(KEY,)), store)
    yield server
    server.stop()


def raw(server: LiveServer, request: bytes, wait: float = 5.0) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(request)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io", ""])
def test_a_foreign_host_header_is_refused(live: LiveServer, host: str) -> None:
    """DNS rebinding: the attacker's name resolves to 127.0.0.1, the Host header still says it."""
    r = httpx.get(live.url + "/api/report", headers={"host": host})
    assert r.status_code == 421
    assert "allowed_hosts" in r.json()["error"]


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST"]
)
def test_loopback_names_are_answered(live: LiveServer, host: str) -> None:
    port = live.url.rsplit(":", 1)[1]
    r = httpx.get(live.url + "/api/report", headers={"host": host.format(port=port)})
    assert r.status_code == 200


def test_allowed_hosts_is_configurable(store: Store, cfg: Config) -> None:
    server = LiveServer(cfg.with_(allowed_hosts=("costper.internal",)), store)
    try:
        assert httpx.get(server.url + "/healthz", headers={"host": "costper.internal"}).is_success
        assert httpx.get(server.url + "/healthz").status_code == 421
    finally:
        server.stop()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_cross_site_simple_posts_are_refused_and_store_nothing(
    live: LiveServer, store: Store, content_type: str | None
) -> None:
    """A page on any site can POST these without a CORS preflight."""
    headers = {"content-type": content_type} if content_type else {}
    for path in ("/v1/outcomes", "/v1/traces", "/v1/logs", "/api/calc"):
        r = httpx.post(live.url + path, content=OUTCOME.encode(), headers=headers)
        assert r.status_code == 415, path
        assert "Content-Type" in r.json()["error"]
    assert store.count("outcomes") == 0
    ok = httpx.post(
        live.url + "/v1/outcomes", content=OUTCOME, headers={"content-type": "application/json"}
    )
    assert ok.status_code == 200 and store.count("outcomes") == 1


def test_the_api_key_never_appears_in_a_page(keyed: LiveServer) -> None:
    for path in ("/calc", "/", "/docs", "/calc?be_api_price=2"):
        sep = "&" if "?" in path else "?"
        r = httpx.get(keyed.url + path + sep + "api_key=" + KEY)
        assert r.status_code == 200, path
        assert KEY not in r.text, path
        assert r.headers["referrer-policy"] == "no-referrer"
    with httpx.Client(headers={"authorization": f"Bearer {KEY}"}) as c:
        assert KEY not in c.get(keyed.url + "/calc?api_key=" + KEY).text


def test_every_post_has_a_body_limit(live: LiveServer) -> None:
    big = b'{"example": "chatbot-mini", "pad": "' + b"x" * 60_000 + b'"}'
    r = httpx.post(
        live.url + "/api/calc", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "max_request_bytes" in r.json()["error"]

    def chunks() -> Iterator[bytes]:
        yield b'{"example": "chatbot-mini", "pad": "'
        for _ in range(10):
            yield b"x" * 10_000
        yield b'"}'

    r = httpx.post(
        live.url + "/api/calc", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_a_slow_client_is_timed_out_and_nothing_is_logged(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(guard, "READ_TIMEOUT", 1.0)
    began = time.monotonic()
    answer = raw(
        live,
        b"POST /v1/outcomes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{",
    )
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - began < 5
    with caplog.at_level(logging.INFO):
        raw(
            live,
            b"POST /v1/outcomes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{",
            wait=0.2,
        )  # hangs up mid-body
        time.sleep(1.5)
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def test_head_is_answered_like_get_without_a_body(live: LiveServer) -> None:
    for path in ("/", "/healthz", "/api/report", "/static/costper.css"):
        get, head = httpx.get(live.url + path), httpx.head(live.url + path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]


def test_security_headers_on_every_answer(live: LiveServer) -> None:
    for r in (
        httpx.get(live.url + "/"),
        httpx.get(live.url + "/api/report?since=nope"),
        httpx.get(live.url + "/nope"),
        httpx.post(live.url + "/v1/outcomes", content="x", headers={"content-type": "text/plain"}),
    ):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp


def test_openapi_documents_the_ingest_endpoints(live: LiveServer) -> None:
    spec = httpx.get(live.url + "/openapi.json").json()
    for path, types in (
        ("/v1/traces", {"application/x-protobuf", "application/json"}),
        ("/v1/logs", {"application/x-protobuf", "application/json"}),
        ("/v1/outcomes", {"application/json"}),
    ):
        op = spec["paths"][path]["post"]
        assert set(op["requestBody"]["content"]) == types
        assert {"200", "400", "413", "415"} <= set(op["responses"])
    record = spec["paths"]["/v1/outcomes"]["post"]["requestBody"]["content"]["application/json"]
    assert record["schema"]["oneOf"][0]["required"] == ["session_id"]


def test_until_before_since_is_400_on_the_api_as_on_pages(live: LiveServer) -> None:
    q = {"since": "2026-02-01", "until": "2026-01-01"}
    for path in ("/api/report", "/"):
        r = httpx.get(live.url + path, params=q)
        assert r.status_code == 400, path
        assert "until (2026-01-01) must be later than since (2026-02-01)" in r.text


def test_span_session_ids_are_trimmed_like_outcome_ids(live: LiveServer, store: Store) -> None:
    from otlp_payloads import genai_chat, record, span

    def body(tracer):  # type: ignore[no-untyped-def]
        attrs = {**genai_chat(), "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}
        with span(tracer, "chat", {**attrs, "costper.session.id": "  s-1\t"}):
            pass
        with span(tracer, "chat", {**attrs, "costper.session.id": "   "}):
            pass

    request = record(body)
    r = httpx.post(
        live.url + "/v1/traces",
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert r.status_code == 200
    out = httpx.post(
        live.url + "/v1/outcomes",
        json={"session_id": " s-1 ", "success": True},
    )
    assert out.status_code == 200
    rows = store.sql("SELECT session_id, trace_id FROM calls ORDER BY session_id").to_pylist()
    blank = [r for r in rows if r["session_id"] != "s-1"]
    assert [r["session_id"] for r in rows if r["session_id"] == "s-1"] == ["s-1"]
    assert len(blank) == 1 and blank[0]["session_id"] == blank[0]["trace_id"]
    assert store.sql("SELECT session_id FROM outcomes").to_pylist() == [{"session_id": "s-1"}]
