"""`costper` command line: parse, call the core, render. Nothing else."""

from __future__ import annotations

import os
import sys

import typer

from costper.cli.app import app
from costper.cli.options import flag
from costper.errors import CostperError, InputError

# Command modules register themselves on import.
from costper.cli import (  # noqa: E402,F401  isort: skip
    billing,
    breakeven,
    budgets,
    calc,
    commit,
    compare,
    demo,
    info,
    ingest,
    report,
    serve,
    whatif,
    anomalies,
    diagnose,
    prices,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point: every error a user can cause is one line on stderr and exit code 2.

    Typer (0.29) bundles its own copy of click, so usage errors are caught as
    `typer.TyperException`, the base of that copy's exceptions, never by
    importing `click` (a different package whose exceptions are never raised).
    """
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="costper")
    except typer.Exit as e:
        rv = e.exit_code
    except typer.Abort:
        print("costper: aborted", file=sys.__stderr__)
        return _exit(130, argv)
    except KeyboardInterrupt:
        print("costper: interrupted", file=sys.__stderr__)  # a progress bar may own sys.stderr
        return _exit(130, argv)
    except typer.TyperException as e:
        return _exit(_usage_error(e), argv)
    except CostperError as e:
        shown = e.worded(flag) if isinstance(e, InputError) else str(e)
        print(f"costper: error: {shown}", file=sys.stderr)
        return _exit(2, argv)
    except BrokenPipeError:
        return _exit(0, argv)
    except Exception as e:  # the last line of defence: never a traceback for a user
        if os.environ.get("COSTPER_DEBUG"):
            raise
        from costper.cli.render import clean

        print(
            f"costper: error: unexpected {type(e).__name__}: {clean(e)} "
            "(a bug in costper: please report it with the command; COSTPER_DEBUG=1 shows where)",
            file=sys.stderr,
        )
        return _exit(1, argv)
    code = rv if isinstance(rv, int) else 0
    if code == 130:  # Typer turns KeyboardInterrupt into Exit(130) and returns its code
        print("costper: interrupted", file=sys.__stderr__)
    return _exit(code, argv)


def _usage_error(e: typer.TyperException) -> int:
    """Bare `costper` (or a group without a command) shows help; anything else is one line."""
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
        print(ctx.get_help())
        return 2
    message = e.format_message() if hasattr(e, "format_message") else str(e)
    hint = f" (see '{ctx.command_path if ctx is not None else 'costper'} --help')"
    print(f"costper: error: {' '.join(message.split())}{hint}", file=sys.stderr)
    return int(getattr(e, "exit_code", 2) or 2)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code
