"""Tag an instrumented app's spans with session and feature; record outcomes.

Instrumentations (OpenTelemetry's OpenAI one, OpenInference, OpenLLMetry)
start the LLM spans themselves, so the app never holds them to set
attributes. `session()` puts the tags in OTel baggage for a block of work and
`CostperSpanProcessor` copies them onto every span started inside it,
whoever starts it. Baggage also crosses process boundaries with the W3C
propagator, so a downstream service's spans are tagged too.

`record_outcome` sends one outcome record to a `costper serve` (`endpoint`)
or writes it into a local store. The store, and with it DuckDB, is imported
only on that path, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import baggage, context
    from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
except ImportError as e:  # pragma: no cover - exercised in a venv without the extra
    raise ImportError(
        f"costper.sdk needs OpenTelemetry's SDK ({e.name} is missing): pip install 'costper[sdk]'"
    ) from e

from costper.errors import AuthError, CostperError, InputError

if TYPE_CHECKING:
    from costper.store._store import Store

_log = logging.getLogger("costper")

SESSION_ID = "costper.session.id"
FEATURE = "costper.feature"
PROMPT_VERSION = "costper.prompt.version"
TAGS = (SESSION_ID, FEATURE, PROMPT_VERSION)


@contextmanager
def session(
    session_id: str, *, feature: str | None = None, prompt_version: str | None = None
) -> Iterator[None]:
    """Every span started inside the block belongs to this session (and feature)."""
    if not session_id:
        raise ValueError("session_id must be a non-empty string")
    ctx = baggage.set_baggage(SESSION_ID, str(session_id))
    if feature is not None:
        ctx = baggage.set_baggage(FEATURE, str(feature), ctx)
    if prompt_version is not None:
        ctx = baggage.set_baggage(PROMPT_VERSION, str(prompt_version), ctx)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


class CostperSpanProcessor(SpanProcessor):
    """Copies costper's baggage entries onto each span as it starts.

    Attributes the span already carries win, so an instrumentation or the
    app can still say something more specific.
    """

    def on_start(self, span: Span, parent_context: context.Context | None = None) -> None:
        present = span.attributes or {}
        for key in TAGS:
            value = baggage.get_baggage(key, parent_context)
            if value is not None and key not in present:
                span.set_attribute(key, str(value))


def configure(
    endpoint: str,
    *,
    service_name: str | None = None,
    api_key: str | None = None,
    tracer_provider: TracerProvider | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """A tracer provider that tags spans and exports them to a `costper serve`.

    With `set_global`, installs it as the global provider when none is set
    yet, so instrumentors called without `tracer_provider=` use it too.
    """
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if tracer_provider is None:
        attrs = {"service.name": service_name} if service_name else {}
        tracer_provider = TracerProvider(resource=Resource.create(attrs))
    tracer_provider.add_span_processor(CostperSpanProcessor())
    exporter = OTLPSpanExporter(
        endpoint=_url(endpoint, "/v1/traces"), headers=_auth_headers(api_key)
    )
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    if set_global and not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(tracer_provider)
    return tracer_provider


def record_outcome(
    session_id: str,
    *,
    success: bool | None = None,
    escalated: bool | None = None,
    reviewed: bool | None = None,
    signal: str | None = None,
    at: datetime | str | None = None,
    endpoint: str | None = None,
    store: Store | str | Path | None = None,
    api_key: str | None = None,
    timeout: float = 10.0,
    strict: bool = False,
) -> int:
    """Record how a session ended; returns 1 if stored now, 0 if it already was (or not sent).

    Goes to `endpoint` (a `costper serve` base URL, or $COSTPER_ENDPOINT),
    else into `store` (a Store or a DuckDB path, or $COSTPER_DB, or
    ./costper.duckdb). `at` defaults to now, taken here rather than by the
    server, so a retried call is the same record and is stored once.

    Measuring must not break the app it measures: a server that is down or
    failing is retried once, then logged on the `costper` logger as a warning
    and the call returns 0, as OpenTelemetry exporters do; `strict=True`
    raises instead. A wrong API key or a bad record always raises, since
    those are mistakes a developer must see on the first call.
    """
    record: dict[str, Any] = {"session_id": session_id, "at": _timestamp(at), "source": "explicit"}
    for name, value in (("success", success), ("escalated", escalated), ("reviewed", reviewed)):
        if value is not None:
            record[name] = bool(value)
    if signal is not None:
        record["signal"] = str(signal)
    endpoint = endpoint or (None if store is not None else os.environ.get("COSTPER_ENDPOINT"))
    if endpoint:
        key = api_key if api_key is not None else os.environ.get("COSTPER_API_KEY")
        url = _url(endpoint, "/v1/outcomes")
        for attempt in (1, 2):
            try:
                return int(_post(url, record, key, timeout).get("new", 0))
            except _Unavailable as e:
                if strict and attempt == 2:
                    raise CostperError(str(e)) from None
                if attempt == 2:
                    _log.warning("costper: outcome of session %r not recorded: %s", session_id, e)
        return 0
    return _write_local(record, store)


def _timestamp(at: datetime | str | None) -> str:
    if at is None:
        at = datetime.now(UTC)
    if isinstance(at, datetime):
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(at)


def _url(endpoint: str, path: str) -> str:
    base = endpoint.rstrip("/")
    for known in ("/v1/traces", "/v1/logs", "/v1/outcomes"):
        if base.endswith(known):
            base = base[: -len(known)]
    return base + path


def _auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _post(url: str, record: dict[str, Any], api_key: str | None, timeout: float) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **_auth_headers(api_key)}
    req = urllib.request.Request(url, data=json.dumps(record).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        message = _error_text(e)
        if e.code == 401:
            raise AuthError(f"{url}: {message}") from None
        if 400 <= e.code < 500:
            raise InputError(f"{url}: {message}") from None
        raise _Unavailable(f"{url}: HTTP {e.code}: {message}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise _Unavailable(f"{url}: cannot reach costper serve ({reason})") from None


class _Unavailable(Exception):
    """The server is down or failing: worth one retry, never worth breaking the app."""


def _error_text(e: urllib.error.HTTPError) -> str:
    body = e.read()
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace").strip() or str(e.reason)


def _write_local(record: dict[str, Any], store: Store | str | Path | None) -> int:
    from costper.store._store import Store, open_store
    from costper.telemetry._outcome_records import outcome_rows

    rows = outcome_rows([record], source="record_outcome")
    if isinstance(store, Store):
        return store.insert("outcomes", rows)
    target = store if store is not None else os.environ.get("COSTPER_DB", "costper.duckdb")
    with open_store(target) as opened:
        return opened.insert("outcomes", rows)
