"""``bench report``: a study or a run as one self-contained HTML page, to show colleagues."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from bench.cli.common import (
    CI_OPTION,
    SEEDS_OPTION,
    STORE_OPTION,
    VARIANT_OPTION,
    console,
    errors_as_messages,
    parse_seeds,
)

app = typer.Typer(
    help="HTML reports: a study's table, figures and provenance, or one run's, in one file.",
    no_args_is_help=True,
)

OUT_OPTION = typer.Option(..., "--out", help="The HTML file to write (replaced if it exists).")


def _write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a reader (or a crash) never sees half a page.

    The page goes to a temporary file beside ``path`` (same file system, permissions from the
    umask as for any new file), then replaces ``path`` in one rename.
    """
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(
            f"cannot write {path}: a report is an HTML page, its name must end in .html"
        )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise ValueError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(tmp: Path) -> None:
    """Remove a temporary file if there is one; a folder that refuses even that is left as is
    (the error that brought us here is the one to report)."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


@app.command("study")
def study(
    name: str = typer.Argument(..., help="Study name (studies/NAME.toml) or path to a study file."),
    out: Path = OUT_OPTION,
    smoke: bool = typer.Option(False, "--smoke", help="The study's smoke-size runs."),
    variant: str = VARIANT_OPTION,
    seeds: str = SEEDS_OPTION,
    ci: str = CI_OPTION,
    store: str = STORE_OPTION,
) -> None:
    """A study as one self-contained HTML file: question, arms, table, figures, provenance.

    The table is the one `bench run study --detail` prints (mean ± std over seeds, each arm's
    difference to its reference with its interval, every seed's difference, P(arm > reference));
    the figures are each arm's differences (interval and seeds), the metrics against the studied
    parameter, AP per class by arm and the training curves; the provenance gives every run's
    key, commit, versions, machine and config. Figures are embedded: the file needs no network.
    """
    from bench.report.page import study_report  # matplotlib and the store load only when it runs
    from bench.store import Store

    with errors_as_messages():
        page = study_report(Store(store, create=False), name, smoke=smoke,
                            variant=variant or "", seeds=parse_seeds(seeds), ci=ci)  # fmt: skip
        path = _write(out, page)
    console.print(f"wrote {path}", highlight=False)


@app.command("run")
def run(
    run_id: str = typer.Argument(..., metavar="RUN", help="Run id (a unique key prefix)."),
    out: Path = OUT_OPTION,
    store: str = STORE_OPTION,
) -> None:
    """A run as one self-contained HTML file: provenance, metrics, AP per class, curves, config."""
    from bench.report.page import run_report
    from bench.store import Store

    with errors_as_messages():
        path = _write(out, run_report(Store(store, create=False), run_id))
    console.print(f"wrote {path}", highlight=False)


def register(root: typer.Typer) -> None:
    """Add `bench report ...` to the command line."""
    root.add_typer(app, name="report")
