"""The HTML of the reports (:mod:`bench.report.page`): a page with its style sheet, tables, figures.

A report is one file that holds everything it shows: the style sheet is inline, figures are PNG
data URIs and no element names a URL, so it opens the same offline, attached to a message or
archived beside a draft. Every text that comes from a store or a config passes through
:func:`esc` (a class name or a config value is data, never markup).
"""

from __future__ import annotations

import base64
import html
import io
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

DPI = 200  # figures are drawn at this resolution and shown at 96 CSS px per inch: sharp on HiDPI

CSS = """
body { font-family: Charter, "Bitstream Charter", "Sitka Text", Cambria, Georgia, serif;
  color: #1d1d1d; background: #fff; max-width: 1120px; margin: 2.2em auto 4em; padding: 0 1.6em;
  line-height: 1.45; font-size: 16px; }
h1 { font-size: 1.75em; font-weight: 600; margin: 0 0 .15em; }
h2 { font-size: 1.22em; font-weight: 600; margin: 2.1em 0 .5em; padding-bottom: .15em;
  border-bottom: 1px solid #bbb; }
h3 { font-size: 1.02em; font-weight: 600; margin: 1.4em 0 .3em; }
p { margin: .45em 0; }
.question { font-size: 1.2em; font-style: italic; margin: .1em 0 .6em; }
.meta { color: #555; font-size: .88em; }
.note { color: #555; font-style: italic; }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .84em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .7em 0 1em; font-size: .9em;
  border-top: 2px solid #1d1d1d; border-bottom: 2px solid #1d1d1d; }
thead th { border-bottom: 1px solid #1d1d1d; }
th { font-weight: 600; text-align: left; padding: .32em .75em; vertical-align: bottom; }
td { padding: .2em .75em; vertical-align: top; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.wrap { overflow-wrap: anywhere; max-width: 38em; }
table.long tbody tr:nth-child(even) { background: #f6f6f4; }
table.pairs td:nth-child(2n+3), table.pairs th:nth-child(2n+3) { padding-left: 2.2em; }
caption { caption-side: bottom; text-align: left; font-size: .84em; color: #555;
  padding-top: .45em; white-space: pre-line; }
figure { margin: .9em 0 1.3em; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .86em; color: #444; margin-top: .35em; max-width: 52em; }
details { margin: .6em 0; }
summary { cursor: pointer; color: #333; }
pre { background: #f6f6f4; padding: .7em 1em; overflow-x: auto; font-size: .82em; }
"""


def esc(value: Any) -> str:
    """Text as HTML: ``<``, ``>``, ``&`` and quotes escaped."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Cell:
    """A table cell: its text (plain, escaped when written), right-aligned if ``num``, ``bold``."""

    text: str
    num: bool = False
    bold: bool = False


def _cell(value: Cell | str, tag: str) -> str:
    cell = value if isinstance(value, Cell) else Cell(str(value))
    text = f"<b>{esc(cell.text)}</b>" if cell.bold else esc(cell.text)
    return f'<{tag} class="{"num" if cell.num else "wrap"}">{text}</{tag}>'


def table(
    header: Sequence[Cell | str],
    rows: Iterable[Sequence[Cell | str]],
    *,
    caption: str = "",
    long: bool = False,
    pairs: bool = False,
) -> str:
    """A booktabs-like table (rules above, below and under the header), inside a scroller.

    Args:
        header: the column headings (a :class:`Cell` with ``num`` right-aligns its column head).
        rows: the rows, each a sequence of cells or plain strings.
        caption: text under the table (line breaks kept).
        long: shade every other row (for long lists).
        pairs: the columns are key/value pairs side by side: space between the pairs.
    """
    head = "".join(_cell(h, "th") for h in header)
    body = "\n".join("<tr>" + "".join(_cell(c, "td") for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    names = " ".join(n for n, on in (("long", long), ("pairs", pairs)) if on)
    cls = f' class="{names}"' if names else ""
    return (
        f'<div class="scroll"><table{cls}>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def key_values(
    values: dict[str, str], *, caption: str = "", numbers: bool = False, per_row: int = 1
) -> str:
    """Keys and their values, for provenance, metrics and configs.

    Args:
        values: key -> the value as text.
        caption: text under the table.
        numbers: every value is a number: right-align them, so their decimals line up.
        per_row: pairs side by side in a row, so that a long list of short values stays short;
            the keys run down the first column, then the next.
    """
    items = list(values.items())
    height = -(-len(items) // per_row)  # ceil: rows of the table
    columns = [items[i : i + height] for i in range(0, len(items), height)]
    rows: list[list[Cell | str]] = [
        [cell for col in columns if r < len(col) for cell in (Cell(col[r][0]),
                                                              Cell(col[r][1], num=numbers))]
        for r in range(height)
    ]  # fmt: skip
    head: list[Cell | str] = ["key", Cell("value", num=numbers)] * len(columns)
    return table(head, rows, caption=caption, long=height > 6, pairs=len(columns) > 1)


def png(fig: Figure) -> tuple[str, int]:
    """A figure as a base64 PNG and its display width in CSS pixels (96 per inch)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    data = buffer.getvalue()
    (width,) = struct.unpack(">I", data[16:20])  # IHDR: the width follows the 8-byte signature
    return base64.b64encode(data).decode("ascii"), round(width * 96 / DPI)


def figure(fig: Figure, caption: str, alt: str) -> str:
    """A figure embedded as a PNG data URI, at its natural size (narrower on a small screen)."""
    data, width = png(fig)
    return (
        f'<figure><img alt="{esc(alt)}" width="{width}" '
        f'src="data:image/png;base64,{data}"><figcaption>{esc(caption)}</figcaption></figure>'
    )


def note(text: str) -> str:
    """A remark in place of something the store has not got (no curves, no parameter)."""
    return f'<p class="note">{esc(text)}</p>'


def section(title: str, *parts: str) -> str:
    """A heading and its parts (already HTML)."""
    return f"<section><h2>{esc(title)}</h2>\n" + "\n".join(parts) + "\n</section>"


def folded(summary: str, body: str) -> str:
    """A part that opens on a click (no script: the browser's ``<details>``)."""
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def page(title: str, header: str, sections: Iterable[str]) -> str:
    """The whole document: head with the inline style sheet, the header, then the sections."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style></head>\n"
        f"<body>\n<header>{header}</header>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
