"""The one Jinja environment: autoescape on everywhere, SVG included.

Feature names, models and session ids come from telemetry that anyone can
send, so every value is escaped by default; nothing in the templates marks
data as safe.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from costper.server import formatting

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _fmt_as(v: Any, fmt: str) -> str:
    return formatting.FORMATS[fmt](v)


def code_spans(text: Any) -> Markup:
    """`code` in API descriptions as <code>; every part escaped first."""
    parts = str(text or "").split("`")
    return Markup("").join(
        Markup("<code>%s</code>") % p if i % 2 else escape(p) for i, p in enumerate(parts)
    )


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        money=formatting.money,
        count=formatting.count,
        percent=formatting.percent,
        compact=formatting.compact,
        interval=formatting.interval,
        fmt_as=_fmt_as,
        urlpart=lambda s: quote(str(s), safe=""),
        ticks=code_spans,
        when=lambda s: str(s or "").replace("T", " ")[:19],
    )
    return env


ENV = _environment()


def render(template: str, **context: Any) -> str:
    context.setdefault("nav", "")
    context.setdefault("generated_at", datetime.now(UTC).strftime("%Y-%m-%d %H:%M"))
    return ENV.get_template(template).render(**context)
