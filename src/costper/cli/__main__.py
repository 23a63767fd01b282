"""`python -m costper.cli`, the same as the `costper` command."""

from costper.cli import main

main()
