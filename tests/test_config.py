from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from costper.config import Config, load_config, parse_duration
from costper.errors import ConfigError


def test_precedence_argument_env_file_default(tmp_path: Path) -> None:
    f = tmp_path / "costper.toml"
    f.write_text(
        'db = "file.duckdb"\n[costs]\nescalation_cost = 20.0\nreview_cost = 3.0\n'
        "[stats]\nmin_sessions = 50\n"
    )
    assert Config().costs.escalation_cost == 15.0
    cfg = load_config(None, env={}, cwd=tmp_path)
    assert (cfg.db, cfg.costs.escalation_cost, cfg.costs.review_cost, cfg.min_sessions) == (
        "file.duckdb",
        20.0,
        3.0,
        50,
    )
    cfg = load_config(
        None, env={"COSTPER_DB": "env.duckdb", "COSTPER_ESCALATION_COST": "25"}, cwd=tmp_path
    )
    assert (cfg.db, cfg.costs.escalation_cost, cfg.costs.review_cost) == ("env.duckdb", 25.0, 3.0)
    cfg = load_config(None, db="arg.duckdb", env={"COSTPER_DB": "env.duckdb"}, cwd=tmp_path)
    assert cfg.db == "arg.duckdb"


def test_full_design_example_parses(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("""
[costs]
escalation_cost = 15.0
review_cost = 2.0
per_call_overhead = 0.0
[outcomes]
implicit_success_after = "24h"
[stats]
confidence = 0.95
min_sessions = 100
[prices."openai/my-finetune"]
input = 3.0
output = 12.0
cache_read = 1.5
[features."invoice-extraction".costs]
review_cost = 2.5
[[billing.models]]
match = { ServiceName = "Amazon Bedrock", SkuMeter = "*Claude Sonnet 4*" }
model = "aws.bedrock/claude-sonnet-4"
[[infra]]
resource_id = "i-0abc123"
model = "self/llama-3-8b"
""")
    cfg = load_config(f, env={})
    assert cfg.prices["openai/my-finetune"].cache_read == 1.5
    assert cfg.costs_for("invoice-extraction").review_cost == 2.5
    assert cfg.costs_for("other").review_cost == 2.0
    assert cfg.billing_models[0].match["SkuMeter"] == "*Claude Sonnet 4*"
    assert cfg.infra[0].resource_id == "i-0abc123"
    assert cfg.implicit_success_after == timedelta(hours=24)


@pytest.mark.parametrize(
    "text,message",
    [
        ("[prices.gpt4]\ninput = 1\noutput = 2\n", "expected a 'provider/model' key"),
        ('[prices."a/b"]\ninput = 1\n', 'prices."a/b".output: required'),
        ("[stats]\nconfidence = 1.5\n", "stats.confidence: must be between 0 and 1"),
        ("[stats]\nmin_sessions = 0\n", "stats.min_sessions"),
        ("colour = 'blue'\n", "colour: unknown key"),
        ("[costs]\nreview_cost = -1\n", "costs.review_cost: must be >= 0"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("*", r"\*")):
        load_config(f, env={})


def test_env_errors_and_durations() -> None:
    with pytest.raises(ConfigError, match="COSTPER_ESCALATION_COST: expected a number"):
        load_config(None, env={"COSTPER_ESCALATION_COST": "lots"}, cwd=Path("/nonexistent"))
    assert parse_duration("off") is None
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("7d") == timedelta(days=7)
    with pytest.raises(ConfigError):
        parse_duration("soon")


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", env={})
