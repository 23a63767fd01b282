"""The JSON API: the CLI's reports over HTTP, plus one session laid open.

`GET /api/report` takes `costper report`'s parameters and returns its JSON,
so a script can move between the two without a translation table. Group
keys are checked against DESIGN.md's list and handed to the engine as names
of known columns (never pasted into SQL); anything else is a 400 naming it.
Documentation is served at `/docs` by costper itself, from the OpenAPI
document, because the stock Swagger page loads its code from a CDN.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from costper._json import loads
from costper._time import time_range
from costper.billing._reconcile import KEYS as RECONCILE_KEYS
from costper.billing._reconcile import check_by
from costper.config import Config
from costper.engine._vocabulary import GROUP_KEYS, check_keys
from costper.errors import InputError
from costper.planning._breakeven import breakeven_json
from costper.planning._calculator import EXAMPLES
from costper.planning._scenarios import calc_json, examples_json
from costper.server.params import Filters
from costper.server.queries import Queries
from costper.server.rendering import render
from costper.server.result_cache import cache_of
from costper.signals._spend_rate import check_period

router = APIRouter()

KEYS = ", ".join(GROUP_KEYS)
By = Annotated[str, Query(description=f"Group keys, comma-separated: {KEYS}.")]
Since = Annotated[
    str | None,
    Query(
        description="Sessions whose first call is at or after: 2026-10-01, "
        "2026-10-01T12:00:00Z, or 7d/24h/2w back from now."
    ),
]
Until = Annotated[
    str | None, Query(description="Sessions whose first call is before this (same forms).")
]
Feature = Annotated[str | None, Query(description="Only this feature.")]

REPORT_EXAMPLE = {
    "confidence": 0.95,
    "by": ["feature"],
    "groups": [
        {
            "key": {"feature": "support-chat"}, "sessions": 1200, "labeled_sessions": 1000,
            "pending_sessions": 200, "successes": 950, "escalations": 50,
            "cost_per_success": {"value": 0.80, "low": 0.74, "high": 0.87,
                                 "method": "fieller-skew"},
            "sample_ok": True, "warnings": [], "sessions_needed": 2400,
            "sessions_needed_note": None,
            "...": "see DESIGN.md: tokens, cost parts, cost_sources, intervals",
        }
    ],
    "unpriced_calls": 0,
}  # fmt: skip


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: an unbounded interval end is null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def queries(request: Request) -> Queries:
    state = request.app.state
    return Queries(state.store, state.config, cache_of(state))


def breakeven(params: Any, config: Config) -> dict[str, Any]:
    """Query values to `breakeven_json`; a failure costs the config's escalation cost
    unless `failure_cost` is given, as in `costper breakeven`."""
    values: dict[str, Any] = {k: v for k, v in params.items() if k != "requests" and v != ""}
    values.setdefault("failure_cost", config.costs.escalation_cost)
    volumes = [v for v in params.getlist("requests") if v != ""]
    return breakeven_json({**values, "requests": volumes})


def _keys(by: str) -> list[str]:
    """As the CLI reads --by: an empty value means one group of everything."""
    return check_keys([k for k in by.split(",") if k.strip()])


def _times(q: Queries, since: str | None, until: str | None) -> tuple[Any, Any]:
    return time_range(since, until, q.now)


@router.get(
    "/api/report",
    tags=["reports"],
    summary="The metrics table, as costper report --format json",
    responses={
        200: {"content": {"application/json": {"example": REPORT_EXAMPLE}}},
        400: {"description": "An unknown group key or a bad time, named in `error`."},
    },
)
def api_report(
    request: Request,
    by: By = "feature",
    since: Since = None,
    until: Until = None,
    feature: Feature = None,
) -> JSONResponse:
    """Per group: sessions, outcomes, cost parts, cost per 1M tokens beside cost
    per intent and cost per success with intervals; `warnings` says why an
    interval cannot be trusted (few sessions, successes or failures; heavy
    tail) and `sample_ok` is false when there is any."""
    keys = _keys(by)
    q = queries(request)
    s, u = _times(q, since, until)
    return JSONResponse(finite(q.report(keys, s, u, feature)))


@router.get(
    "/api/compare",
    tags=["reports"],
    summary="Variants against a baseline, as costper compare --format json",
    responses={400: {"description": "Unknown key, or a baseline without sessions."}},
)
def api_compare(
    request: Request,
    by: Annotated[str, Query(description=f"The key whose values are the variants: {KEYS}.")],
    baseline: Annotated[
        str, Query(description="The variant to compare against, e.g. gpt-4o-mini.")
    ],
    feature: Feature = None,
    since: Since = None,
    until: Until = None,
    pool_features: Annotated[
        bool, Query(description="Pool features (refused by default when variants span several).")
    ] = False,
) -> JSONResponse:
    """Difference and ratio of cost per success against the baseline (score test
    at the pooled cost per success); a verdict only when the ratio interval
    excludes 1 and both arms are sample_ok."""
    keys = _keys(by)
    if len(keys) != 1:
        raise InputError(f"by: compare takes one key, got {by!r}", field="by", value=by)
    q = queries(request)
    s, u = _times(q, since, until)
    return JSONResponse(finite(q.compare(keys[0], baseline, feature, s, u, pool_features)))


@router.get(
    "/api/sessions/{session_id:path}",
    tags=["sessions"],
    summary="One session: its calls, cost parts and outcome history",
    responses={404: {"description": "No call of this session is stored."}},
)
def api_session(request: Request, session_id: str) -> JSONResponse:
    """`summary` is the session's row of the cost model (status, parts,
    total); `calls` its inference spans in time order (no content is ever
    stored); `outcomes` every outcome record, oldest first."""
    detail = queries(request).session(session_id)
    if detail is None:
        return JSONResponse({"error": f"no session {session_id!r} in this store"}, status_code=404)
    return JSONResponse(finite(detail))


@router.get(
    "/api/reconcile",
    tags=["billing"],
    summary="Telemetry's estimate against the FOCUS bill, as costper reconcile --format json",
    responses={400: {"description": "An unknown key or a bad time, named in `error`."}},
)
def api_reconcile(
    request: Request,
    by: Annotated[
        str, Query(description=f"Keys, comma-separated: {', '.join(RECONCILE_KEYS)}.")
    ] = "provider,model,day",
    since: Since = None,
    until: Until = None,
) -> JSONResponse:
    """Per key: calls, estimated, billed, effective and allocated cost, unattributed
    spend and calls without a bill line. Read-only: it shows the cost join as of
    the last billing ingest (`costper reconcile` re-runs the join first)."""
    keys = check_by([k for k in by.split(",") if k.strip()])
    q = queries(request)
    s, u = _times(q, since, until)
    return JSONResponse(finite(q.reconcile(keys, s, u)))


@router.get(
    "/api/anomalies",
    tags=["signals"],
    summary="Runaway sessions, wasted spend and spend-rate anomalies, as costper anomalies",
    responses={
        400: {"description": "An unknown feature or period, or a bad time, named in `error`."}
    },
)
def api_anomalies(
    request: Request,
    since: Since = None,
    until: Until = None,
    feature: Feature = None,
    period: Annotated[str, Query(description="Spend-rate period: day or hour.")] = "day",
) -> JSONResponse:
    """`sessions`: sessions far past their feature's baseline (log-scale Tukey fences
    of calls, tokens, cost, LLM time, calls per turn, context growth) or looping
    (repeated identical calls), each with its wasted spend; `wasted` per feature and
    day; `spend`: periods whose spend is a robust-z outlier against the same phase
    of the 14 before; `method` states each rule."""
    q = queries(request)
    s, u = _times(q, since, until)
    return JSONResponse(finite(q.anomalies(s, u, feature, check_period(period))))


@router.get(
    "/api/diagnose",
    tags=["signals"],
    summary="The article's five-symptom self-assessment, as costper diagnose",
    responses={400: {"description": "A bad time, named in `error`."}},
)
def api_diagnose(request: Request, since: Since = None, until: Until = None) -> JSONResponse:
    """Each symptom true, false or null (the data cannot tell) with its evidence;
    `count` of true ones and the verdict (3 or more: no outcome-based visibility)."""
    q = queries(request)
    s, u = _times(q, since, until)
    return JSONResponse(finite(q.diagnose(s, u)))


@router.get(
    "/api/calc",
    tags=["calculator"],
    summary="Scenario calculator, as costper calc --format json",
    responses={400: {"description": "A bad or unknown parameter, named in `error`."}},
)
def api_calc_get(
    request: Request,
    scenario: Annotated[
        list[str] | None,
        Query(description=f"Built-in examples side by side (repeat): {', '.join(EXAMPLES)}."),
    ] = None,
) -> JSONResponse:
    """Cost per intent and per success of one scenario, or of `scenario`
    examples side by side (the first is the baseline). Every other query
    parameter is a calculator parameter applied to all of them: intents,
    input_tokens, output_tokens, price_input, price_output, model, token_cost,
    turns, retry_rate, success_rate, escalation_rate, escalation_cost,
    review_rate, review_cost, orchestration, infra."""
    values = {k: v for k, v in request.query_params.items() if k != "scenario" and v != ""}
    params: dict[str, Any] = values
    if scenario:
        params = {"scenarios": [{"example": n} for n in scenario], "overrides": values}
    return JSONResponse(finite(calc_json(params, config=request.app.state.config)))


@router.post(
    "/api/calc",
    tags=["calculator"],
    summary="Scenario calculator from a JSON body",
    responses={
        400: {"description": "A bad or unknown parameter, named in `error`."},
        413: {"description": "Over max_request_bytes."},
        415: {"description": "Content-Type is not application/json."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def api_calc_post(request: Request) -> JSONResponse:
    """One scenario (`{"example": "chatbot-mini", "escalation_rate": 0.2}`) or
    `{"scenarios": [...], "overrides": {...}}`."""
    body = loads(await request.body(), "POST /api/calc")
    if not isinstance(body, dict):
        raise InputError("POST /api/calc: expected a JSON object", field="body")
    config = request.app.state.config
    return JSONResponse(finite(await run_in_threadpool(calc_json, body, config=config)))


@router.get("/api/calc/examples", tags=["calculator"], summary="The built-in scenarios")
def api_calc_examples() -> JSONResponse:
    return JSONResponse(finite(examples_json()))


@router.get(
    "/api/breakeven",
    tags=["calculator"],
    summary="API against self-hosted: monthly cost and break-even volume",
    responses={400: {"description": "A bad or unknown parameter, named in `error`."}},
)
def api_breakeven(
    request: Request,
    requests: Annotated[
        list[str] | None, Query(description="Volumes to add to 100k, 1M and 10M (repeat).")
    ] = None,
) -> JSONResponse:
    """Parameters as query values: api_price, tokens_per_request, gpu_price, hours,
    throughput, utilisation, ops, api_success_rate, self_success_rate,
    failure_cost (default: the config's escalation cost)."""
    return JSONResponse(finite(breakeven(request.query_params, request.app.state.config)))


@router.get(
    "/api/budgets",
    tags=["reports"],
    summary="Each [[budgets]] entry in its current period, as costper budgets --format json",
)
def api_budgets(request: Request) -> JSONResponse:
    """Value so far, burn, linear projection (spend) or interval (cost per success), status."""
    from costper.budgets._budgets import PROJECTION_METHOD, evaluate_budgets

    q = queries(request)
    rows = q.cached(
        ("budgets", q.now.replace(second=0, microsecond=0)),
        lambda: [s.to_dict() for s in evaluate_budgets(q.store, q.config, q.now)],
    )
    return JSONResponse(finite({"method": PROJECTION_METHOD, "budgets": rows}))


@router.get("/api/features", tags=["sessions"], summary="Feature names seen in calls")
def api_features(request: Request) -> JSONResponse:
    return JSONResponse(queries(request).features())


def _param_row(p: dict[str, Any]) -> dict[str, Any]:
    schema = p.get("schema", {})
    types = (
        [schema["type"]]
        if "type" in schema
        else [a.get("type", "?") for a in schema.get("anyOf", [])]
    )
    default = schema.get("default")
    return {
        "name": p["name"], "in": p.get("in", ""), "required": bool(p.get("required")),
        "type": " | ".join(types), "default": "" if default is None else default,
        "description": p.get("description", ""),
    }  # fmt: skip


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    endpoints = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = [_param_row(p) for p in op.get("parameters", [])]
            responses = [
                (c, r.get("description", "").rstrip("."))
                for c, r in op.get("responses", {}).items()
            ]
            endpoints.append({
                "path": path, "method": method.upper(), "summary": op.get("summary", ""),
                "description": op.get("description", ""), "params": params,
                "body": list(op.get("requestBody", {}).get("content", {})), "responses": responses,
            })  # fmt: skip
    order = ["/api/report", "/api/compare", "/api/sessions/{session_id}"]
    endpoints.sort(
        key=lambda e: (order.index(e["path"]) if e["path"] in order else len(order), e["path"])
    )
    return HTMLResponse(
        render(
            "docs.html",
            title="API",
            nav="docs",
            spec=spec,
            endpoints=endpoints,
            filters=Filters(),
            data_version=request.app.state.store.version(),
        )
    )
