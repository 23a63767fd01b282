"""`costper diagnose`: the article's self-assessment, each symptom answered from the data.

"Check all that apply. If 3 or more are true, you lack outcome-based visibility."
Each symptom is True, False or None (the data cannot tell), with the evidence:

1. token_cost_down_bill_flat: cost per 1M tokens fell by more than `MOVE` (5%)
   from the window's first half of days to its second, while the LLM bill per day
   (calls' cost + infra) did not fall by more than 5%.
2. escalations_rose_after_change: after a prompt version or model first appeared
   in a feature (a day later than the feature's first session), its sessions'
   escalation rate is higher than that of the feature's sessions before it, with
   the Newcombe interval of the difference above 0.
3. spend_unexplained: more than `UNEXPLAINED` (20%) of the LLM bill is on calls
   with no feature tag (their feature is only the service name). The features
   that make 80% of the bill are listed either way.
4. no_success_rate: a feature has no outcome record at all (its success rate
   would be implicit successes only: nothing measured).
5. cps_never_calculated: features whose cost per success is `sample_ok` carry
   less than 80% of the LLM bill.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from costper.config import Config
from costper.engine._intervals import rate_difference, wilson
from costper.engine._report import report
from costper.engine._sessions import session_table
from costper.store._dialect import as_int
from costper.store._source import Source, rows

MOVE = 0.05
UNEXPLAINED = 0.20
PARETO = 0.80
VERDICT_AT = 3
VERDICT = "3 or more: you lack outcome-based visibility"


@dataclass(frozen=True)
class Symptom:
    code: str
    question: str
    present: bool | None
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Diagnosis:
    symptoms: list[Symptom]
    currency: str

    @property
    def count(self) -> int:
        return sum(1 for s in self.symptoms if s.present)

    @property
    def verdict(self) -> str:
        if self.count >= VERDICT_AT:
            return f"{self.count} of 5 symptoms: you lack outcome-based visibility"
        return f"{self.count} of 5 symptoms: outcome-based visibility ({VERDICT})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "symptoms": [s.to_dict() for s in self.symptoms],
            "count": self.count,
            "lacks_outcome_visibility": self.count >= VERDICT_AT,
            "verdict": self.verdict,
            "currency": self.currency,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Diagnosis:
        """The inverse of `to_dict` (the answer of a running server's `/api/diagnose`)."""
        return cls([Symptom(**s) for s in d["symptoms"]], d["currency"])

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"code": s.code, "question": s.question, "present": s.present, "summary": s.summary}
            for s in self.symptoms
        ]


def _day_rows(source: Source, config: Config, since: Any, until: Any) -> list[dict[str, Any]]:
    s = session_table(source, config, since=since, until=until)
    labeled = s.success.notnull()
    t = s.group_by(["feature", "prompt_version", "model", "day"]).aggregate(
        sessions=s.count(),
        labeled=as_int(labeled).sum(),
        escalations=as_int(labeled & s.escalated).sum(),
        recorded=as_int(s.o_records.notnull()).sum(),
        bill=(s.llm + s.infra).sum(),
        tokens=s.total_tokens.sum(),
    )
    return rows(source, t)


def diagnose(
    source: Source | str | Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    config: Config | None = None,
) -> Diagnosis:
    from costper.store._store import open_store

    config = config or Config()
    if isinstance(source, str | Path):
        with open_store(source, read_only=True) as store:
            return diagnose(store, since=since, until=until, config=config)
    days = _day_rows(source, config, since, until)
    untagged = _untagged(source, since, until)
    rep = report(source, ["feature"], since=since, until=until, config=config)
    ok = {str(g.key["feature"]): g.sample_ok for g in rep.groups}
    return Diagnosis(
        [
            token_cost_trend(days),
            escalation_changes(days, config.confidence),
            spend_explained(days, untagged),
            success_tracked(days),
            cps_calculated(days, ok),
        ],
        config.currency,
    )


def _untagged(source: Source, since: Any, until: Any) -> float:
    """Calls' cost where the feature is only the service name (no feature tag)."""
    c = source.table("calls")
    if since is not None:
        c = c.filter(c.start_time >= since)
    if until is not None:
        c = c.filter(c.start_time < until)
    c = c.filter(c.feature == c.service_name)
    got = rows(source, c.aggregate(x=(c.cost.fill_null(0.0) + c.infra_cost.fill_null(0.0)).sum()))
    return float(got[0]["x"] or 0.0) if got else 0.0  # type: ignore[arg-type]


def _num(v: Any) -> float:
    return 0.0 if v is None else float(v)


def token_cost_trend(days: list[dict[str, Any]]) -> Symptom:
    q = "Your token costs are down, but the total LLM bill is flat or up."
    by_day: dict[date, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in days:
        by_day[r["day"]][0] += _num(r["bill"])
        by_day[r["day"]][1] += _num(r["tokens"])
    if len(by_day) < 2:
        return Symptom("token_cost_down_bill_flat", q, None, "fewer than 2 days of data")
    ordered = sorted(by_day)
    mid = ordered[0] + (ordered[-1] - ordered[0]) / 2
    halves = [[d for d in ordered if d <= mid], [d for d in ordered if d > mid]]
    ev: dict[str, Any] = {}
    for name, ds in zip(("first", "second"), halves, strict=True):
        bill = sum(by_day[d][0] for d in ds)
        tokens = sum(by_day[d][1] for d in ds)
        span = (ds[-1] - ds[0]).days + 1
        ev[name] = {
            "from": ds[0].isoformat(), "to": ds[-1].isoformat(), "bill": bill,
            "bill_per_day": bill / span, "tokens": tokens,
            "cost_per_1m_tokens": bill / tokens * 1e6 if tokens else None,
        }  # fmt: skip
    a, b = ev["first"], ev["second"]
    if not a["cost_per_1m_tokens"] or b["cost_per_1m_tokens"] is None or not a["bill_per_day"]:
        return Symptom("token_cost_down_bill_flat", q, None, "no tokens or no spend", ev)
    ev["cost_per_1m_change"] = b["cost_per_1m_tokens"] / a["cost_per_1m_tokens"] - 1
    ev["bill_per_day_change"] = b["bill_per_day"] / a["bill_per_day"] - 1
    present = ev["cost_per_1m_change"] < -MOVE and ev["bill_per_day_change"] >= -MOVE
    summary = (
        f"cost per 1M tokens {ev['cost_per_1m_change']:+.0%}, "
        f"bill per day {ev['bill_per_day_change']:+.0%} (second half of the days against the first)"
    )
    return Symptom("token_cost_down_bill_flat", q, present, summary, ev)


def escalation_changes(days: list[dict[str, Any]], confidence: float) -> Symptom:
    q = 'Customer support tickets increased after you "optimized" your prompts.'
    changes = []
    features = sorted({str(r["feature"]) for r in days})
    for feature in features:
        rs = [r for r in days if r["feature"] == feature]
        start = min(r["day"] for r in rs)
        for key in ("prompt_version", "model"):
            firsts: dict[Any, date] = {}
            for r in rs:
                v = r[key]
                firsts[v] = min(firsts.get(v, r["day"]), r["day"])
            for value, t in sorted(firsts.items(), key=lambda kv: (kv[1], str(kv[0]))):
                if t <= start:
                    continue
                n1 = sum(_num(r["labeled"]) for r in rs if r["day"] < t)
                x1 = sum(_num(r["escalations"]) for r in rs if r["day"] < t)
                after = [r for r in rs if r[key] == value and r["day"] >= t]
                n2 = sum(_num(r["labeled"]) for r in after)
                x2 = sum(_num(r["escalations"]) for r in after)
                if not n1 or not n2:
                    continue
                diff = rate_difference(x1, n1, x2, n2, confidence)
                changes.append({
                    "feature": feature, "key": key, "value": value, "since": t.isoformat(),
                    "before": wilson(x1, n1, confidence).to_dict() | {"sessions": int(n1)},
                    "after": wilson(x2, n2, confidence).to_dict() | {"sessions": int(n2)},
                    "difference": diff.to_dict(),
                    "rose": diff.low is not None and diff.low > 0,
                })  # fmt: skip
    rose = [c for c in changes if c["rose"]]
    if not changes:
        return Symptom("escalations_rose_after_change", q, None,
                       "no prompt or model change inside the window", {"changes": []})  # fmt: skip
    if rose:
        c = rose[0]
        summary = (
            f"{c['feature']}: {c['key']} {c['value']} since {c['since']} escalates "
            f"{c['after']['value']:.1%} against {c['before']['value']:.1%} before "
            f"(difference {c['difference']['low']:+.1%} to {c['difference']['high']:+.1%})"
        )
    else:
        summary = f"{len(changes)} change(s), none with a significant rise in escalations"
    return Symptom("escalations_rose_after_change", q, bool(rose), summary, {"changes": changes})


def _bill_by_feature(days: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for r in days:
        out[str(r["feature"])] += _num(r["bill"])
    return out


def spend_explained(days: list[dict[str, Any]], untagged: float) -> Symptom:
    q = "You can't explain which specific product features drive 80% of your AI spend."
    bills = _bill_by_feature(days)
    total = sum(bills.values())
    if total <= 0:
        return Symptom("spend_unexplained", q, None, "no spend in the window")
    top: list[dict[str, Any]] = []
    acc = 0.0
    for feature, bill in sorted(bills.items(), key=lambda kv: (-kv[1], kv[0])):
        if acc >= PARETO * total:
            break
        acc += bill
        top.append({"feature": feature, "bill": bill, "share": bill / total})
    share = untagged / total
    present = share > UNEXPLAINED
    summary = (
        f"{len(top)} feature(s) make {acc / total:.0%} of the bill "
        f"({', '.join(t['feature'] for t in top)}); {share:.0%} is on calls without a feature tag"
    )
    ev = {"top": top, "bill": total, "untagged": untagged, "untagged_share": share}
    return Symptom("spend_unexplained", q, present, summary, ev)


def success_tracked(days: list[dict[str, Any]]) -> Symptom:
    q = 'You do not track a "Success Rate" metric per feature.'
    recorded: dict[str, float] = defaultdict(float)
    for r in days:
        recorded[str(r["feature"])] += _num(r["recorded"])
    if not recorded:
        return Symptom("no_success_rate", q, None, "no sessions in the window")
    bills = _bill_by_feature(days)
    missing: list[dict[str, Any]] = [
        {"feature": f, "bill": bills[f]} for f in sorted(recorded) if not recorded[f]
    ]
    summary = (
        f"{len(missing)} feature(s) without any outcome record: "
        + ", ".join(m["feature"] for m in missing)
        if missing
        else f"all {len(recorded)} features have outcome records"
    )
    return Symptom("no_success_rate", q, bool(missing), summary, {"without_outcomes": missing})


def cps_calculated(days: list[dict[str, Any]], ok: dict[str, bool]) -> Symptom:
    q = "You have never calculated your Cost per Success."
    bills = _bill_by_feature(days)
    total = sum(bills.values())
    if total <= 0:
        return Symptom("cps_never_calculated", q, None, "no spend in the window")
    covered = sum(b for f, b in bills.items() if ok.get(f))
    share = covered / total
    not_ok = sorted(f for f in bills if not ok.get(f))
    summary = (
        f"{share:.0%} of the bill is in features with a cost per success enough to decide on"
        + (f" (not: {', '.join(not_ok)})" if not_ok else "")
    )
    ev = {"covered_share": share, "features_without": not_ok}
    return Symptom("cps_never_calculated", q, share < PARETO, summary, ev)
