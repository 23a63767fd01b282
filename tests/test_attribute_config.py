"""`[attributes]`: an app's own span attribute keys, tried before the built-in ones,
including fields of a JSON metadata attribute; a wrong shape is a config error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from costper.config import load_config, parse_config
from costper.errors import ConfigError
from costper.store._store import open_store
from costper.telemetry._traces import ingest_request

CONFIG = """
[attributes]
session = ["app.conversation"]
feature = ["metadata.product", "app.feature"]
tenant = ["account.id"]
"""
CALL = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 10,
    "gen_ai.usage.output_tokens": 5,
    "session.id": "built-in-session",
    "costper.feature": "built-in-feature",
}

BARE = {k: v for k, v in CALL.items() if k not in ("session.id", "costper.feature")}


def test_configured_keys_win_over_built_ins(tmp_path: Path) -> None:
    (tmp_path / "costper.toml").write_text(CONFIG)
    cfg = load_config(tmp_path / "costper.toml")
    assert cfg.attributes["feature"] == ("metadata.product", "app.feature")
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tp.get_tracer("app")
    root = {"app.conversation": "conv-7", "metadata": json.dumps({"product": "search"})}
    with tracer.start_as_current_span("turn", attributes=root):
        with tracer.start_as_current_span("chat", attributes={**BARE, "account.id": "acme"}):
            pass
    own = {**CALL, "app.feature": "faq", "app.conversation": "conv-8"}
    with tracer.start_as_current_span("chat", attributes=own):
        pass
    tp.shutdown()
    try:
        with open_store(":memory:") as store:
            for span in exporter.get_finished_spans():
                ingest_request(store, cfg, encode_spans([span]))
            rows = store.sql(
                "SELECT session_id, feature, tenant FROM calls ORDER BY start_time"
            ).to_pylist()
    finally:
        from costper.telemetry._spans import use_attributes

        use_attributes({})
    # Inherited from the root (a configured key and a field of its JSON metadata); and,
    # on one span, the configured keys before the built-in `session.id`/`costper.feature`.
    assert rows == [
        {"session_id": "conv-7", "feature": "search", "tenant": "acme"},
        {"session_id": "conv-8", "feature": "faq", "tenant": None},
    ]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[attributes]\nfeature = "app.feature"', "attributes.feature: expected a list"),
        ("[attributes]\nfeature = [3]", "attributes.feature: not an attribute key: 3"),
        ('[attributes]\nfeature = [" x"]', "attributes.feature: not an attribute key: ' x'"),
        ('[attributes]\nteam = ["x"]', "attributes.team: unknown key"),
    ],
)
def test_wrong_shapes_name_the_key(toml: str, message: str) -> None:
    import tomllib

    with pytest.raises(ConfigError, match="^" + message.replace("[", r"\[").replace("(", r"\(")):
        parse_config(tomllib.loads(toml))
