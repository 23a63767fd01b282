"""One small exception tree, translated once at each edge.

The CLI maps every `CostperError` to a one-line message and exit code 2; the
HTTP server maps `InputError` to 400, `AuthError` to 401, `TooLarge` to 413.
Messages name the bad value so a user can fix it without reading code.
"""

from __future__ import annotations


class CostperError(Exception):
    """Anything costper refuses, with a message fit to show a user as is."""


class InputError(CostperError):
    """Bad data or a bad parameter: names the file, line/row, field and value."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        value: object = None,
    ) -> None:
        self.file, self.line, self.field, self.value = file, line, field, value
        where = ""
        if file is not None:
            where = file + (f":{line}" if line is not None else "") + ": "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(where + message)


class ConfigError(InputError):
    """The config file or a COSTPER_* variable is wrong; names the key."""


class StoreError(CostperError):
    """The store cannot be opened or is of an unknown schema version."""


class AuthError(CostperError):
    """A request without a valid API key."""


class TooLarge(InputError):
    """A request body over the size limit (also after decompression)."""
