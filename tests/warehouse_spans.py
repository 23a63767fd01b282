"""One set of real OTel SDK spans covering the warehouse mapping's rules, as requests.

Several providers (OpenAI, Anthropic, Bedrock, Vertex by alias, one named by
model only), a framework LLM span wrapping the SDK's (innermost wins), the
session and feature on the root span only, a call whose parent was never
exported (root fallback), a failed call with an exception event, cache and
reasoning tokens, and a model no price source knows.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import Status, StatusCode
from otlp_payloads import cached_chat, genai_chat, openinference_llm, record, span

DROPPED = "lost-middle"
"""The span removed before export: its child's chain of ancestors is broken."""


def _body(t: Tracer) -> None:
    with span(t, "agent", {"gen_ai.operation.name": "invoke_agent", "session.id": "sess-A"}):
        with span(t, "workflow", {"traceloop.span.kind": "workflow", "costper.feature": "support"}):
            with span(
                t,
                "ChatOpenAI",
                openinference_llm(
                    **{"llm.token_count.prompt": 1000, "llm.token_count.completion": 100}
                ),
            ):
                with span(
                    t,
                    "chat gpt-4o-mini",
                    cached_chat(),
                ):
                    pass
            with span(
                t,
                "chat claude",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "anthropic",
                    "gen_ai.request.model": "claude-3-5-sonnet-20241022",
                    "gen_ai.usage.input_tokens": 50,
                    "gen_ai.usage.output_tokens": 300,
                    "gen_ai.usage.cache_read_input_tokens": 2000,
                    "gen_ai.usage.cache_creation_input_tokens": 500,
                    "costper.tenant": "acme-corp",
                },
            ):
                pass
    with span(t, "root", {"session.id": "sess-B", "costper.feature": "search"}):
        with span(t, DROPPED, {"costper.feature": "lost-feature"}):
            with span(t, "tool", {"gen_ai.operation.name": "execute_tool"}):
                with span(
                    t,
                    "bedrock",
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.system": "aws_bedrock",
                        "gen_ai.request.model": "anthropic.claude-3-haiku-20240307-v1:0",
                        "gen_ai.usage.input_tokens": 700,
                        "gen_ai.usage.output_tokens": 70,
                    },
                ):
                    pass
        with span(
            t,
            "reasoning",
            genai_chat(
                "o3-mini",
                **{
                    "gen_ai.usage.input_tokens": 200,
                    "gen_ai.usage.output_tokens": 900,
                    "gen_ai.usage.reasoning.output_tokens": 600,
                    "openai.response.service_tier": "default",
                },
            ),
        ):
            pass
    with span(t, "failing", genai_chat("gpt-4o"), error=False) as s:
        s.record_exception(TimeoutError("upstream timed out"))
        s.set_status(Status(StatusCode.ERROR, "timeout"))
    with span(
        t,
        "vertex",
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.system": "vertex_ai",
            "gen_ai.request.model": "gemini-1.5-flash",
            "gen_ai.usage.input_tokens": 12000,
            "gen_ai.usage.output_tokens": 800,
            "gen_ai.conversation.id": '"sess-C"',
        },
    ):
        pass
    with span(
        t,
        "bare",
        {
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 30,
            "gen_ai.usage.output_tokens": 7,
            "traceloop.association.properties.session_id": "sess-D",
        },
    ):
        pass
    with span(
        t,
        "unknown",
        genai_chat(
            "acme-llm-9000",
            **{
                "gen_ai.provider.name": "acme",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 5,
                "costper.prompt.version": "v7",
            },
        ),
    ):
        pass


def requests() -> list[ExportTraceServiceRequest]:
    """The spans as exported, minus `DROPPED`: 9 inference spans, 8 calls."""
    request = record(_body)
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            keep = [s for s in ss.spans if s.name != DROPPED]
            del ss.spans[:]
            ss.spans.extend(keep)
    return [request]
