"""``bench plot``: figures for a paper, written as PNG, PDF or SVG.

Every command imports what it draws with (matplotlib, seaborn, torch) when it runs.
"""

from __future__ import annotations

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
    help="Figures: per-class AP gains, study curves, PR curves, patches.", no_args_is_help=True
)

OUT_HELP = "Output file; the suffix picks the format: .png, .pdf or .svg."


def _names(values: list[str]) -> list[str]:
    return [v.strip() for text in values for v in text.split(",") if v.strip()]


@app.command("voc-gains")
def voc_gains(
    target: str = typer.Argument(..., help="A row of the table (e.g. 'The Proposed') or a run id."),
    baseline: str = typer.Option(..., "--baseline", help="A row of the table or a run id."),
    table: str = typer.Option("voc", "--table", help="The per-class table."),
    version: str = typer.Option(None, "--version", help="Paper version (icassp2022, preprint)."),
    out: Path = typer.Option(Path("voc-gains.png"), "--out", help=OUT_HELP),
    store: str = STORE_OPTION,
) -> None:
    """Per-class AP gain of TARGET over --baseline, bars sorted by gain (SRN Fig. 7, top)."""
    from bench.plots.figures import ap_gains
    from bench.store import Store

    with errors_as_messages():
        plot = ap_gains(
            target, baseline, table=table, version=version, store=lambda: Store(store, create=False)
        )
        path = plot.save(out)
    mean = plot.data["gain"].mean()
    console.print(f"wrote {path}: {len(plot.data)} classes, mean gain {mean:+.2f} points")


@app.command("study")
def study(
    name: str = typer.Argument(..., help="A study with a parameter (e.g. context_ratio)."),
    metric: list[str] = typer.Option(
        [], "--metric", help="Metric(s) to plot; repeat or comma-separate \\[default: the first]."
    ),
    per_class: bool = typer.Option(False, "--per-class", help="Add one line per class AP."),
    smoke: bool = typer.Option(False, "--smoke", help="The study's smoke-size runs."),
    variant: str = VARIANT_OPTION,
    seeds: str = SEEDS_OPTION,
    differences: bool = typer.Option(
        False,
        "--differences",
        help="Instead: each arm's difference to its reference, with its interval and every "
        "seed's own difference (any study with a reference arm).",
    ),
    ci: str = CI_OPTION,
    out: Path = typer.Option(None, "--out", help=OUT_HELP + " \\[default: study-NAME.png]"),
    store: str = STORE_OPTION,
) -> None:
    """A study's metric against its parameter: mean over seeds with a ±1 std band; or, with
    --differences, each arm against its reference (interval, mean, every seed)."""
    from bench.plots.figures import study_curve
    from bench.store import Store
    from bench.studies.files import load_study
    from bench.studies.selection import study_runs

    with errors_as_messages():
        selected = study_runs(
            Store(store, create=False),
            load_study(name),
            variant=variant or "",
            seeds=parse_seeds(seeds),
            smoke=smoke,
        )
        if differences:
            from bench.report.figures import difference_figure
            from bench.tables.study import study_table

            plot = difference_figure(study_table(selected, ci=ci))
        else:
            plot = study_curve(selected, metrics=_names(metric) or None, per_class=per_class)
        path = plot.save(out or Path(f"study-{Path(name).stem}.png"))
    console.print(f"wrote {path}: {plot.data['arm'].nunique()} arms")


@app.command("pr")
def pr(
    run: str = typer.Argument(..., help="Run id (a unique key prefix)."),
    classes: list[str] = typer.Option(
        [], "--classes", help="Classes to draw; repeat or comma-separate \\[default: all, <= 10]."
    ),
    out: Path = typer.Option(None, "--out", help=OUT_HELP + " \\[default: pr-RUN.png]"),
    store: str = STORE_OPTION,
) -> None:
    """Precision-recall curves of a run's stored predictions, one per class, AP in the legend."""
    from bench.plots.pr import pr_curves
    from bench.store import Store

    with errors_as_messages():
        plot = pr_curves(run, Store(store, create=False), classes=_names(classes) or None)
        path = plot.save(out or Path(f"pr-{run}.png"))
    console.print(f"wrote {path}: {plot.data['class'].nunique()} classes")


def _ratios(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"--ratios takes numbers like 1,3,5,10; got {text!r}") from None


@app.command("patches")
def patches(
    run: str = typer.Argument(..., help="A finished SCAC run id (a unique key prefix)."),
    image: int = typer.Option(None, "--image", help="An evaluation image id."),
    top: int = typer.Option(5, "--top", min=1, help="Patches drawn, by objectness."),
    versus: str = typer.Option(
        None, "--versus", help="A second run to draw beside RUN (with --images)."
    ),
    images: int = typer.Option(
        None, "--images", min=1, help="With --versus: the N images where the runs disagree most."
    ),
    out: Path = typer.Option(None, "--out", help=OUT_HELP + " \\[default: patches-RUN.png]"),
    store: str = STORE_OPTION,
) -> None:
    """A run's top object patches (solid, numbered) and their context patches (dashed) on an
    image, what each patch's branches say, which patch decides each predicted label, and the
    image-level scores against the truth. With --versus RUN2 --images N: the N images where the
    two runs disagree most on the ambiguous classes, side by side. For an SRN run: its attention
    maps of the true and best-scored labels."""
    from bench.plots import patches as pp
    from bench.store import Store
    from scac.cache import default_cache_dir
    from scac.engine.inspect import attention_view, patch_view

    with errors_as_messages():
        if (versus is None) != (images is None) or (versus is None and image is None):
            raise ValueError("give --image ID, or --versus RUN2 with --images N")
        db = Store(store, create=False)
        record, parts = pp.load_run(db, run, default_cache_dir())
        if versus is None and parts.model.shows == "attention":  # SRN's equivalent of patches
            view = attention_view(parts.model, parts.data.val, image)
            plot = pp.attention_figure(view, top, label=pp.run_label(record) + ": ")
        elif versus is None:
            view = patch_view(parts.model, parts.data.val, image)
            plot = pp.patches_figure(view, top, label=pp.run_label(record) + ": ")
        else:
            other, other_parts = pp.load_run(db, versus, default_cache_dir())
            ids = pp.disagreements(_predictions(db, record), _predictions(db, other), images)
            pairs = [
                (patch_view(parts.model, parts.data.val, i),
                 patch_view(other_parts.model, other_parts.data.val, i))
                for i in ids
            ]  # fmt: skip
            labels = (pp.run_label(record), pp.run_label(other))
            plot = pp.pairs_figure(pairs, labels)
        path = plot.save(out or Path(f"patches-{run}.png"))
    drawn = plot.data["kind"].isin(["patch", "context", "attention"]).sum()
    console.print(f"wrote {path}: {drawn} boxes or maps drawn")


def _predictions(store, record):
    from scac.predictions import Predictions

    return Predictions.load(store.artifacts_dir(record.run_key) / "predictions.npz")


@app.command("context")
def context(
    run: str = typer.Argument(..., help="A finished SCAC run id: whose patches are expanded."),
    image: int = typer.Option(..., "--image", help="An evaluation image id."),
    ratios: str = typer.Option("1,3,5,10", "--ratios", help="Expansion ratios, comma-separated."),
    top: int = typer.Option(3, "--top", min=1, help="Patches drawn, by objectness."),
    out: Path = typer.Option(None, "--out", help=OUT_HELP + " \\[default: context-IMAGE.png]"),
    store: str = STORE_OPTION,
) -> None:
    """One image, the run's top object patches expanded at several ratios side by side: what
    each arm of the context_ratio study hands the context branch."""
    from bench.plots import patches as pp
    from bench.store import Store
    from scac.cache import default_cache_dir
    from scac.engine.inspect import patch_view

    with errors_as_messages():
        chosen = pp.check_ratios(_ratios(ratios))  # before the run and its model load
        _, parts = pp.load_run(Store(store, create=False), run, default_cache_dir())
        view = patch_view(parts.model, parts.data.val, image)
        plot = pp.context_figure(view, chosen, top)
        path = plot.save(out or Path(f"context-{image}.png"))
    console.print(f"wrote {path}: ratios {ratios}")


@app.command("curves")
def curves(
    runs: list[str] = typer.Argument(None, help="Run ids (unique key prefixes)."),
    study: str = typer.Option(None, "--study", help="A study: per arm, mean ± std over seeds."),
    names: list[str] = typer.Option(
        [], "--names", help="Quantities to draw (loss, loss/*, lr, grad_norm, val/mAP, ...)."
    ),
    smoke: bool = typer.Option(False, "--smoke", help="With --study: its smoke-size runs."),
    variant: str = VARIANT_OPTION,
    out: Path = typer.Option(None, "--out", help=OUT_HELP + " \\[default: curves.png]"),
    store: str = STORE_OPTION,
) -> None:
    """Training curves from the store: total and per-term losses, learning rate, gradient norm,
    validation metrics; one panel each, a line per run (or per arm with --study)."""
    from bench.plots.curves import curves as draw
    from bench.store import Store
    from bench.studies.files import load_study
    from bench.studies.selection import study_runs

    with errors_as_messages():
        db = Store(store, create=False)
        selected = None
        if study:
            selected = study_runs(db, load_study(study), variant=variant or "", smoke=smoke)
        plot = draw(db, runs=None if study else list(runs or []) or None, study=selected,
                    names=_names(names) or None)  # fmt: skip
        path = plot.save(out or Path("curves.png"))
    console.print(f"wrote {path}: {plot.data['name'].nunique()} panels")


def register(root: typer.Typer) -> None:
    """Add `bench plot ...` to the command line."""
    root.add_typer(app, name="plot")
