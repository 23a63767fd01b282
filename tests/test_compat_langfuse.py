"""Compatibility: the Langfuse SDK (v3+), its OpenAI drop-in, exporting to costper.

Langfuse's exporter posts to `/api/public/otel/v1/traces` with HTTP Basic
auth (public key, secret key); `usage_details` carries OpenAI's raw usage,
nested objects included; session, user and metadata come from
`propagate_attributes`, the metadata values JSON-encoded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from compat_harness import _Collect, _spans, all_modes, stored_calls
from fake_openai import FakeOpenAI
from opentelemetry.sdk.trace import TracerProvider
from serve_process import ServeProcess
from test_compat_openai import PROMPT, REPLIES, check

langfuse = pytest.importorskip("langfuse")
pytestmark = pytest.mark.compat

PUBLIC, SECRET = "pk-lf-compat", "sk-lf-compat"


def _unpatch_openai() -> None:
    """`langfuse.openai` wraps the `openai` SDK's methods process-wide (wrapt): put the
    originals back, so the other compat tests see only their own instrumentation."""
    import importlib

    from langfuse.openai import OPENAI_METHODS_V1

    for m in OPENAI_METHODS_V1:
        try:
            owner = getattr(importlib.import_module(m.module), m.object)
        except (ImportError, AttributeError):
            continue
        method = owner.__dict__.get(m.method)
        original = getattr(method, "__wrapped__", None)
        if original is not None:
            setattr(owner, m.method, original)


@pytest.fixture(autouse=True)
def _restore_openai():
    yield
    _unpatch_openai()


def test_langfuse_openai_drop_in(tmp_path: Path) -> None:
    live = tmp_path / "langfuse-live.duckdb"
    _spans.clear()
    with ServeProcess(live, "--api-key", f"{PUBLIC}:{SECRET}") as server:
        tp = TracerProvider()
        tp.add_span_processor(_Collect())
        client = langfuse.Langfuse(
            public_key=PUBLIC, secret_key=SECRET, host=server.url, tracer_provider=tp
        )
        from langfuse.openai import openai

        with FakeOpenAI(REPLIES) as api:
            oa = openai.OpenAI(base_url=api.url, api_key="sk-fake", max_retries=0)

            def ask(script: str) -> None:
                oa.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"{PROMPT} SCRIPT:{script}"}],
                )

            meta = {"feature": "support"}
            with langfuse.propagate_attributes(session_id="s-1", user_id="acme", metadata=meta):
                ask("a1")
                ask("a1")
                with pytest.raises(openai.RateLimitError):
                    ask("limited")
            with langfuse.propagate_attributes(session_id="s-2", metadata={"feature": "billing"}):
                ask("b1")
        client.flush()
        client.shutdown()
        server.stop()
    spans = list(_spans)
    _spans.clear()
    through_langfuse_path = stored_calls(live)
    check(through_langfuse_path, failed_source="reported")  # Langfuse reports its zero cost
    assert all_modes(spans, tmp_path) == through_langfuse_path
