"""Tables that fit the terminal: columns are dropped, least useful first, until the
rest fits, so a narrow terminal gets fewer columns instead of wrapped rows. Used by
the live view and the summary (rich Table, no borders, so rows start with their name).
"""

from __future__ import annotations

from rich import box
from rich.table import Table

GAP = 2  # padding (0, 1) between neighbouring cells, none at the edges


def natural_width(headers: list[str], rows: list[list[str]]) -> int:
    widths = [max([len(header)] + [len(row[i]) for row in rows]) for i, header in enumerate(headers)]
    return sum(widths) + GAP * (len(widths) - 1)


def fitted_table(headers: list[str], rows: list[list[str]], width: int | None, drop_order: list[str],
                 title: str | None = None) -> Table:
    """A Table of `rows` under `headers`; with a `width`, columns named in
    `drop_order` go first to last until the rest fits (the first column never goes).
    Cells are strings; every column but the first is right-aligned."""
    keep = list(range(len(headers)))
    for name in drop_order:
        shown = [[row[i] for i in keep] for row in rows]
        if width is None or natural_width([headers[i] for i in keep], shown) <= width:
            break
        if name in headers:
            keep.remove(headers.index(name))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), title=title,
                  title_justify="left", collapse_padding=True)
    for position, i in enumerate(keep):
        # no_wrap and ellipsis are the last guard: a cell is never folded onto a second line
        table.add_column(headers[i], justify="left" if position == 0 else "right", no_wrap=True,
                         overflow="ellipsis")
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table
