"""Tables that fit the terminal: key figures first, the rest dropped with a note.

A table wider than the terminal is worse than a narrower one: Rich squeezes
every column and cuts names to `gp…`. Here each column has a rank: names (the
group keys) and the key figures come first; when the table is too wide the
lowest-ranked columns are dropped (a one-line note names them and `--wide`
shows all), then long names are elided in the middle (`gpt-4o-mi…07-18`),
never below `MIN_KEY` characters. The values shown are never rounded further:
a column is either shown whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from costper.cli.render import console, safe, table

MIN_KEY = 12  # a name cut shorter than this stops being recognisable


@dataclass(frozen=True)
class Col:
    """A column: `key` for names (elided, never dropped), `rank` for the rest:
    the highest rank is dropped first; rank 1, the key figure, never."""

    name: str
    justify: str = "right"
    key: bool = False
    rank: int = 1


def overhead(n: int) -> int:
    """Characters a Rich table with `pad_edge=False` spends besides its cells:
    n + 1 rules and one space each side of a cell but the outer two."""
    return 3 * n - 1 if n else 0


def elide(text: str, size: int) -> str:
    """`text` in at most `size` cells, its middle replaced by `…` (names differ at
    both ends: `gpt-4o-2024-08-06` against `gpt-4o-2024-05-13`)."""
    if cell_len(text) <= size:
        return text
    head, tail = text[: (size + 1) // 2], text[len(text) - (size - 1) // 2 :]
    while cell_len(head) + 1 + cell_len(tail) > size and (head or tail):
        if cell_len(head) >= cell_len(tail):
            head = head[:-1]
        else:
            tail = tail[1:]
    return f"{head}…{tail}"


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


class FitTable:
    """Collects rows, then prints the columns that fit (all with `wide`).

    Columns ranked above `key_figures` are dropped before any name is elided;
    the key figures (ranks 2..key_figures) only after the names are at MIN_KEY."""

    def __init__(
        self, title: str, cols: list[Col], *, wide: bool = False, key_figures: int = 1
    ) -> None:
        self.title, self.cols, self.wide, self.key_figures = title, cols, wide, key_figures
        self.rows: list[tuple[list[Any], dict[str, Any]]] = []

    def add_row(self, *cells: Any, **kwargs: Any) -> None:
        if len(cells) != len(self.cols):
            raise ValueError(f"{len(cells)} cells for {len(self.cols)} columns")
        self.rows.append((list(cells), kwargs))

    def natural(self, i: int) -> int:
        return max([cell_len(self.cols[i].name)] + [cell_len(_plain(r[i])) for r, _ in self.rows])

    def layout(self, room: int) -> tuple[list[int], dict[int, int]]:
        """The columns shown (indices) and the width each key column is elided to."""
        shown = list(range(len(self.cols)))
        sizes = {i: self.natural(i) for i in shown}
        if self.wide:
            return shown, {}

        def need() -> int:
            return sum(sizes[i] for i in shown) + overhead(len(shown))

        def drop(min_rank: int) -> None:
            while need() > room:
                ranked = [i for i in shown if not self.cols[i].key and self.cols[i].rank > min_rank]
                if not ranked:
                    return
                shown.remove(max(ranked, key=lambda i: (self.cols[i].rank, i)))

        drop(self.key_figures)  # everything but the names and the key figures
        keys = [i for i in shown if self.cols[i].key]
        while need() > room:  # then the names, widest first, down to MIN_KEY
            wider = [i for i in keys if sizes[i] > max(MIN_KEY, cell_len(self.cols[i].name))]
            if not wider:
                break
            i = max(wider, key=lambda i: sizes[i])
            sizes[i] -= 1
        drop(1)  # then the key figures but the first, the least important first
        for i in sorted(keys, key=lambda i: sizes[i]):  # room freed by a drop goes to names
            sizes[i] = min(self.natural(i), sizes[i] + max(0, room - need()))
        return shown, {i: sizes[i] for i in keys if sizes[i] < self.natural(i)}

    def print(self, con: Console) -> list[str]:
        """Print the table (and the note on hidden columns); returns the hidden names."""
        room = con.width  # the terminal's, $COLUMNS, or render.PIPED_WIDTH
        shown, cut = self.layout(room)
        t = table(self.title, [(self.cols[i].name, self.cols[i].justify) for i in shown])
        for cells, kwargs in self.rows:
            t.add_row(
                *(elide(_plain(cells[i]), cut[i]) if i in cut else cells[i] for i in shown),
                **kwargs,
            )
        total = sum(self.natural(i) for i in shown) + overhead(len(shown))
        # --wide: as wide as the table needs, the terminal wrapping the lines (or `less -S`)
        (console(total) if self.wide and total > room else con).print(t)
        hidden = [self.cols[i].name for i in range(len(self.cols)) if i not in shown]
        if hidden:
            con.print(
                f"[dim]{len(hidden)} column{'s' if len(hidden) != 1 else ''} hidden: "
                f"{safe(', '.join(hidden))} (--wide shows all)[/dim]"
            )
        return hidden
