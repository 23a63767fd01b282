"""The attribute names costper reads, per field, in order of precedence.

The project's own `costper.*` keys first, then OTel GenAI (current, then
deprecated names), OpenInference, OpenLLMetry and Langfuse. `WANTED` is every
key read; no other attribute (message content included) is ever decoded.
"""

from __future__ import annotations

SESSION_KEYS = (
    "costper.session.id",
    "gen_ai.conversation.id",
    "session.id",
    "langfuse.session.id",
    "traceloop.association.properties.session_id",
    "ai.telemetry.metadata.sessionId",
    "langfuse.trace.metadata.session_id",
    "metadata.session_id",
    "metadata.sessionId",
)
FEATURE_KEYS = (
    "costper.feature",
    "feature_tag",
    "gen_ai.workflow.name",
    "traceloop.workflow.name",
    "traceloop.association.properties.feature",
    "ai.telemetry.metadata.feature",
    "langfuse.trace.metadata.feature",
    "langfuse.observation.metadata.feature",
    "metadata.feature",
    "ai.telemetry.functionId",
)
PROMPT_VERSION_KEYS = (
    "costper.prompt.version",
    "gen_ai.prompt.version",
    "llm.prompt_template.version",
    "langfuse.observation.prompt.version",
    "traceloop.association.properties.prompt_version",
)
REQUEST_ID_KEYS = ("costper.request.id",)
TENANT_KEYS = (
    "costper.tenant",
    "enduser.id",
    "user.id",
    "langfuse.user.id",
    "ai.telemetry.metadata.userId",
    "traceloop.association.properties.user_id",
    "langfuse.trace.metadata.user_id",
    "metadata.user_id",
    "metadata.userId",
    "metadata.tenant",
)
RESPONSE_ID_KEYS = ("gen_ai.response.id",)
PROVIDER_KEYS = (
    "gen_ai.provider.name",
    "gen_ai.system",
    "llm.provider",
    "llm.system",
    "ai.model.provider",
)
MODEL_KEYS = (
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
    "langfuse.observation.model.name",
    "llm.response.model",
    "llm.request.model",
    "ai.response.model",
    "ai.model.id",
    "embedding.model_name",
    "llm.invocation_parameters.model",
)
INPUT_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
    "ai.usage.inputTokens",
    "ai.usage.promptTokens",
    "ai.usage.tokens",
)
OUTPUT_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
    "ai.usage.outputTokens",
    "ai.usage.completionTokens",
)
TOTAL_KEYS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
    "llm.token_count.prompt_details.cache_read",
    "ai.usage.inputTokenDetails.cacheReadTokens",
    "ai.usage.cachedInputTokens",
)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.input_tokens.cache_write",
    "llm.token_count.prompt_details.cache_write",
    "ai.usage.inputTokenDetails.cacheWriteTokens",
)
REASONING_KEYS = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.usage.output_tokens.reasoning",
    "llm.token_count.completion_details.reasoning",
    "llm.usage.reasoning_tokens",
    "ai.usage.outputTokenDetails.reasoningTokens",
    "ai.usage.reasoningTokens",
)
SERVICE_TIER_KEYS = (
    "costper.service_tier",
    "openai.response.service_tier",
    "gen_ai.openai.response.service_tier",
    "openai.request.service_tier",
    "gen_ai.openai.request.service_tier",
)
"""The tier that served the call (the response's before the request's): OpenAI's
`flex`, `priority`, `scale`; `batch` for batch APIs (say it with `costper.service_tier`)."""
COST_KEYS = ("costper.cost", "gen_ai.usage.cost", "llm.cost.total", "gen_ai.usage.total_cost")
LANGFUSE_USAGE = "langfuse.observation.usage_details"
LANGFUSE_COST = "langfuse.observation.cost_details"
OPERATION = "gen_ai.operation.name"
OI_KIND = "openinference.span.kind"
TRACELOOP_KIND = "traceloop.span.kind"
TRACELOOP_REQUEST_TYPE = "llm.request.type"
LANGFUSE_TYPE = "langfuse.observation.type"
LANGFUSE_LEVEL = "langfuse.observation.level"
VERCEL_OPERATION = "ai.operationId"
ERROR_TYPE = "error.type"
JSON_KEYS = ("metadata", "llm.invocation_parameters")
"""Attributes holding a JSON object whose top-level fields are read as `key.field`
(OpenInference's `metadata`, Pydantic AI's; the invocation parameters' `model`)."""
CALL_VALID = "costper.call.valid"
CALL_KIND = "costper.call.kind"
"""`eval` marks an inference made to evaluate another (LLM-as-judge): its cost is the
`evals` part of the feature it evaluates, not `llm`."""
SERVICE_NAME = "service.name"

TAG_KEYS = frozenset(
    SESSION_KEYS + FEATURE_KEYS + PROMPT_VERSION_KEYS + REQUEST_ID_KEYS + TENANT_KEYS
)
WANTED = frozenset(
    SESSION_KEYS
    + FEATURE_KEYS
    + PROMPT_VERSION_KEYS
    + REQUEST_ID_KEYS
    + TENANT_KEYS
    + RESPONSE_ID_KEYS
    + PROVIDER_KEYS
    + MODEL_KEYS
    + INPUT_KEYS
    + OUTPUT_KEYS
    + TOTAL_KEYS
    + CACHE_READ_KEYS
    + CACHE_WRITE_KEYS
    + REASONING_KEYS
    + COST_KEYS
    + SERVICE_TIER_KEYS
    + (LANGFUSE_USAGE, LANGFUSE_COST, OPERATION, OI_KIND, TRACELOOP_KIND)
    + (TRACELOOP_REQUEST_TYPE, LANGFUSE_TYPE, LANGFUSE_LEVEL, ERROR_TYPE, CALL_VALID, SERVICE_NAME)
    + (CALL_KIND,)
    + (VERCEL_OPERATION,)
    + JSON_KEYS
)
"""Every attribute key costper reads; all others (content included) are skipped unread."""
