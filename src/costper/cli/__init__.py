"""`costper` command line: parse, call the core, render. Nothing else."""

from __future__ import annotations

import sys

import click

from costper.cli.app import app
from costper.cli.options import flag
from costper.errors import CostperError, InputError

# Command modules register themselves on import.
from costper.cli import billing, calc, demo, ingest, report, serve  # noqa: E402,F401  isort: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point; every CostperError becomes one line on stderr and exit code 2."""
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="costper")
    except click.exceptions.UsageError as e:
        e.show()
        return _exit(2, argv)
    except click.exceptions.Exit as e:
        return _exit(e.exit_code, argv)
    except click.exceptions.Abort:
        print("Aborted.", file=sys.stderr)
        return _exit(1, argv)
    except click.exceptions.ClickException as e:
        e.show()
        return _exit(e.exit_code, argv)
    except CostperError as e:
        shown = e.worded(flag) if isinstance(e, InputError) else str(e)
        print(f"costper: error: {shown}", file=sys.stderr)
        return _exit(2, argv)
    except BrokenPipeError:
        return _exit(0, argv)
    return _exit(rv if isinstance(rv, int) else 0, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code
