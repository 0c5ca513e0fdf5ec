"""Renderings of a :class:`~bench.tables.build.TableView`: rich, Markdown, LaTeX, CSV.

Best value per column in bold, second best underlined (LaTeX and rich; Markdown has no
underline). Audit marks follow a reported row's label, explained in the footnotes. The CSV keeps
the printed strings unchanged, so ``bench table coco --format csv`` reproduces Table 1's digits.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:  # the views are built elsewhere; rendering needs only their attributes
    from bench.tables.build import Row, TableView

FORMATS = ("rich", "markdown", "latex", "csv")


def _groups(view: TableView) -> bool:
    return any(c.group for c in view.columns)


def _has_measured(view: TableView) -> bool:
    return any(r.measured for r in view.rows)


def _delta_header(view: TableView) -> str:
    assert view.significance is not None
    metric, ref = view.significance
    return f"Δ{metric} vs {ref} [95% CI]"


def _delta_cell(row: Row) -> str:
    return row.comparison.text() if row.comparison else ("reference" if row.measured else "")


def _style(view: TableView, i: int, j: int) -> str:
    if i in view.best.get(j, ()):
        return "best"
    return "second" if i in view.second.get(j, ()) else ""


def _rich_cell(view: TableView, i: int, j: int) -> str:
    style = {"best": "bold", "second": "underline"}.get(_style(view, i, j))
    text = escape(view.rows[i].cells[j].text)
    return f"[{style}]{text}[/]" if style else text


def _rich_transposed(view: TableView) -> Table:
    """Per-class tables are wider than a terminal: one line per column, one column per row."""
    t = Table(
        title=f"{view.title}\n[dim]{escape(view.source)}[/]",
        title_justify="left",
        caption="\n".join(escape(n) for n in view.footnotes) or None,
        caption_justify="left",
    )
    t.add_column("")
    for row in view.rows:
        head = escape(row.label + row.marks) + (
            f"\n[dim]{escape(row.protocol)}[/]" if row.measured else ""
        )
        t.add_column(head, justify="right", overflow="fold")
    for j, col in enumerate(view.columns):
        if j and col.metric == "mAP":  # the mean below the classes
            t.add_section()
        t.add_row(escape(col.header), *(_rich_cell(view, i, j) for i in range(len(view.rows))))
    if view.significance:
        t.add_row(escape(_delta_header(view)), *(escape(_delta_cell(r)) for r in view.rows))
    return t


def to_rich(view: TableView) -> Table:
    """A rich table: best bold, second underlined, measured rows after a rule.

    A table of more than 12 columns (per-class AP) is shown transposed, to fit a terminal.
    """
    if len(view.columns) > 12:
        return _rich_transposed(view)
    t = Table(
        title=f"{view.title}\n[dim]{escape(view.source)}[/]",
        title_justify="left",
        caption="\n".join(escape(n) for n in view.footnotes) or None,
        caption_justify="left",
    )
    t.add_column("method")
    if _has_measured(view):
        t.add_column("protocol")
    for col in view.columns:
        t.add_column(escape(col.header), justify="right")
    if view.significance:
        t.add_column(escape(_delta_header(view)), justify="right")
    for i, row in enumerate(view.rows):
        cells = [escape(row.label + row.marks)]
        if _has_measured(view):
            cells.append(escape(row.protocol))
        cells += [_rich_cell(view, i, j) for j in range(len(row.cells))]
        if view.significance:
            cells.append(escape(_delta_cell(row)))
        if row.measured and not view.rows[i - 1].measured:
            t.add_section()  # a rule between reported and measured rows
        t.add_row(*cells)
    return t


def to_markdown(view: TableView) -> str:
    """A GitHub-flavoured Markdown table, best values in bold, footnotes below."""
    headers = ["method"] + (["protocol"] if _has_measured(view) else [])
    headers += [c.header for c in view.columns]
    headers += [_delta_header(view)] if view.significance else []
    lines = [f"**{view.title}** ({view.source})", ""]
    lines.append("| " + " | ".join(h.replace("|", "\\|") for h in headers) + " |")
    lead = 1 + _has_measured(view)
    lines.append("|" + "|".join(["---"] * lead + ["---:"] * (len(headers) - lead)) + "|")
    for i, row in enumerate(view.rows):
        cells = [row.label + row.marks] + ([row.protocol] if _has_measured(view) else [])
        for j, cell in enumerate(row.cells):
            cells.append(f"**{cell.text}**" if _style(view, i, j) == "best" else cell.text)
        cells += [_delta_cell(row)] if view.significance else []
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if view.footnotes:
        lines += [""] + [f"{n}  " for n in view.footnotes]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "×": r"$\times$",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "†": r"$^\dagger$",
    "‡": r"$^\ddagger$",
    "§": r"$^\S$",
    "✓": r"\checkmark{}",
    "–": "--",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped and symbols as math."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _latex_cell(text: str, style: str) -> str:
    body = latex_escape(text)
    return {"best": rf"\textbf{{{body}}}", "second": rf"\underline{{{body}}}"}.get(style, body)


def to_latex(view: TableView) -> str:
    """A booktabs ``table`` environment, ready to paste (needs ``\\usepackage{booktabs}``)."""
    lead = 1 + _has_measured(view)
    n = lead + len(view.columns) + bool(view.significance)
    out = [
        f"% {view.title}; reported rows from {view.source}.",
        f"% Generated by `bench table {view.name}`.",
        "% Needs \\usepackage{booktabs}.",
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{" + "l" * lead + "r" * (n - lead) + "}",
        r"\toprule",
    ]
    if _groups(view):
        spans, rules, start = [], [], lead + 1
        groups = [c.group for c in view.columns]
        k = 0
        while k < len(groups):
            width = 1
            while k + width < len(groups) and groups[k + width] == groups[k]:
                width += 1
            spans.append(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(groups[k])}}}")
            if groups[k]:
                rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
            start, k = start + width, k + width
        pad = " & " * lead
        tail = " &" if view.significance else ""
        out.append(pad + " & ".join(spans) + tail + r" \\")
        out.append(" ".join(rules))
    headers = ["Method"] + (["Protocol"] if _has_measured(view) else [])
    headers += [c.metric if _groups(view) else c.header for c in view.columns]
    headers += [_delta_header(view)] if view.significance else []
    out += [" & ".join(latex_escape(h) for h in headers) + r" \\", r"\midrule"]
    for i, row in enumerate(view.rows):
        if row.measured and not view.rows[i - 1].measured:
            out.append(r"\midrule")
        cells = [latex_escape(row.label + row.marks)]
        cells += [latex_escape(row.protocol)] if _has_measured(view) else []
        cells += [_latex_cell(c.text, _style(view, i, j)) for j, c in enumerate(row.cells)]
        cells += [latex_escape(_delta_cell(row))] if view.significance else []
        out.append(" & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    caption = latex_escape(f"{view.title} ({view.source}). " + " ".join(view.footnotes))
    out += [rf"\caption{{{caption}}}", rf"\label{{tab:{view.name}}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def to_csv(view: TableView) -> str:
    """CSV: the method cell, the values as printed (empty where the paper prints '-')."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    marks = any(r.marks for r in view.rows)
    header = ["method"] + (["protocol", "seeds"] if _has_measured(view) else [])
    header += [c.header for c in view.columns]
    header += ["marks"] if marks else []
    header += [_delta_header(view)] if view.significance else []
    w.writerow(header)
    for row in view.rows:
        cells = [row.label]
        cells += [row.protocol, str(row.seeds) if row.seeds else ""] if _has_measured(view) else []
        cells += ["" if c.text == "-" else c.text for c in row.cells]
        cells += [row.marks] if marks else []
        cells += [_delta_cell(row)] if view.significance else []
        w.writerow(cells)
    return buf.getvalue()


def render(view: TableView, fmt: str) -> str | Table:
    """``view`` in format ``fmt`` (one of ``FORMATS``); rich gives a ``rich.table.Table``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    renderers: dict[str, Callable[[TableView], str | Table]] = {
        "rich": to_rich, "markdown": to_markdown, "latex": to_latex, "csv": to_csv,
    }  # fmt: skip
    return renderers[fmt](view)
