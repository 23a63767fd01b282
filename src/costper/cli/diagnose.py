"""`costper diagnose`: the article's five-symptom self-assessment, answered from the data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from costper.cli import render
from costper.cli.app import app
from costper.cli.options import (
    ConfigOption,
    DbOption,
    FormatOption,
    SinceOption,
    UntilOption,
    check_format,
    config,
    source_for,
    time_range,
)
from costper.cli.remote import ServerOption, get_json, server_for

if TYPE_CHECKING:  # the signals read the store (Ibis): loaded when the command runs
    from costper.signals._diagnose import Diagnosis

_MARK = {True: "yes", False: "no", None: "?"}


@app.command("diagnose")
def diagnose_cmd(
    since: SinceOption = None,
    until: UntilOption = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
    config_file: ConfigOption = None,
    server: ServerOption = None,
) -> None:
    """Are you optimising the wrong metric? The five symptoms, each with its evidence.

    While `costper serve` holds the store, the answer is read through it."""
    from costper.signals._diagnose import Diagnosis, diagnose

    check_format(fmt)
    cfg = config(db, config_file)
    s, u = time_range(since, until)
    url = server_for(cfg, server)
    if url is not None:
        params = {"since": since, "until": until}
        result = Diagnosis.from_dict(get_json(url, "/api/diagnose", params, cfg))
    else:
        with source_for(cfg) as store:
            result = diagnose(store, since=s, until=u, config=cfg)
    if fmt == "json":
        render.write_json(result.to_dict())
    elif fmt == "csv":
        render.write_csv(result.rows())
    else:
        print_diagnosis(result)


def print_diagnosis(d: Diagnosis) -> None:
    con = render.console()
    t = render.table(
        "Self-assessment (the article's five symptoms, from the data)",
        [("true?", "left"), ("symptom", "left"), ("evidence", "left")],
    )
    for col in t.columns[1:]:
        col.no_wrap = False
        col.ratio = 1
    for s in d.symptoms:
        t.add_row(_MARK[s.present], s.question, s.summary)
    con.print(t)
    style = "bold red" if d.count >= 3 else "bold"
    con.print(f"[{style}]{render.safe(d.verdict)}[/{style}]")
