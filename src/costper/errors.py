"""One small exception tree, translated once at each edge.

The CLI maps every `CostperError` to a one-line message and exit code 2; the
HTTP server maps `InputError` to 400, `AuthError` to 401, `TooLarge` to 413.
Messages name the bad value so a user can fix it without reading code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_PARAMETER = re.compile(r"[a-z][a-z0-9_]*")


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
        self.message = message
        where = ""
        if file is not None:
            where = file + (f":{line}" if line is not None else "") + ": "
        elif line is not None:
            where = f"line {line}: "
        self.where = where
        super().__init__(where + message)

    def worded(self, name_of: Callable[[str], str]) -> str:
        """The message with a parameter's core name (`gpu_price`) as an edge spells it.

        The core names parameters as Python does; the CLI says `--gpu-price`,
        HTTP the query parameter. Only a message about a parameter (no line,
        starting with its field) is reworded; data errors stay as they are.
        """
        field = self.field
        if (
            self.line is None
            and field
            and _PARAMETER.fullmatch(field)
            and self.message.startswith(field + ":")
        ):
            return self.where + name_of(field) + self.message[len(field) :]
        return str(self)


def one_of(field: str, value: str, allowed: Iterable[str]) -> str:
    """`value` if it is one of `allowed`; else the InputError every edge words the
    same way ("period: expected one of day, hour, got 'week'")."""
    choices = list(allowed)
    if value not in choices:
        raise InputError(
            f"{field}: expected one of {', '.join(choices)}, got {value!r}",
            field=field,
            value=value,
        )
    return value


class ConfigError(InputError):
    """The config file or a COSTPER_* variable is wrong; names the key."""

    def worded(self, name_of: Callable[[str], str]) -> str:
        return str(self)


class StoreError(CostperError):
    """The store cannot be opened or is of an unknown schema version."""


class ReadOnlyStore(StoreError):
    """A write asked of a source costper only reads (a warehouse by URL); names the backend."""


class AuthError(CostperError):
    """A request without a valid API key."""


class TooLarge(InputError):
    """A request body over the size limit (also after decompression)."""
