"""Results as data: a store's runs and curves as pandas DataFrames, for notebooks and scripts.

As MLflow's ``search_runs`` or Optuna's ``trials_dataframe``: one row per run (and study
membership), the config flattened to dotted columns (``config.model.context_ratio``), the
metrics (``metrics.mAP``), the AP of every class (``ap.ball``), the provenance
(``provenance.numerics.path``) and the state; one row per logged value for the curves. Nothing
here loads torch; predictions load (with numpy) only when asked for.

    from bench.api import open_store
    store = open_store("results/store.sqlite")       # or any SQLAlchemy URL
    runs = store.runs(study="context_ratio")         # a DataFrame, one row per run
    runs.groupby("arm")["metrics.mAP"].agg(["mean", "std"])
    curves = store.history(runs["run_key"])          # step, name, value per run
    preds = store.predictions(runs["run_key"][0])    # scac.predictions.Predictions
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.store import Store
from bench.store.diff import flat

if TYPE_CHECKING:
    import pandas as pd

    from scac.predictions import Predictions

# the record's own columns, first in every frame
RECORD = (
    "run_key", "study", "variant", "arm", "seed", "smoke", "state", "model", "protocol",
    "wall_seconds", "git_commit", "device", "host", "attempts", "created_at", "updated_at",
)  # fmt: skip
FORMATS = ("csv", "parquet", "jsonl")


class ResultsStore:
    """A results store read as data (see the module).

    Args:
        store: an SQLAlchemy URL or an SQLite path (default: ``$BENCH_STORE`` or
            ``results/store.sqlite``); it must exist.
    """

    def __init__(self, store: str | None = None) -> None:
        self.store = Store(store, create=False)

    def runs(
        self,
        study: str | None = None,
        *,
        variant: str | None = None,
        state: str | None = None,
        smoke: bool | None = None,
    ) -> pd.DataFrame:
        """One row per run and study membership (a run outside any study: one row, study None).

        Args:
            study: only this study's members.
            variant: only this variant (``""``: the plain study); None: every variant.
            state: only runs in this state (``finished``, ``failed``, ``stale``...).
            smoke: only smoke-size (True) or full-size (False) members; None: both.
        """
        import pandas as pd

        rows = self.store.list_runs(study=study, status=state, variant=variant)
        if smoke is not None:
            rows = [r for r in rows if r["smoke"] is not None and bool(r["smoke"]) == smoke]
        records = []
        for r in rows:
            record: dict[str, Any] = {k: r.get(k) for k in RECORD}
            record["smoke"] = None if r.get("smoke") is None else bool(r["smoke"])
            for section in ("config", "metrics", "provenance", "details"):
                record.update({f"{section}.{k}": v for k, v in flat(r.get(section) or {}).items()})
            record.update({f"ap.{k}": v for k, v in (r.get("per_class_ap") or {}).items()})
            records.append(record)
        return pd.DataFrame.from_records(records, columns=_columns(records))

    def history(self, run_keys: Iterable[str]) -> pd.DataFrame:
        """Every value the runs logged while training (the latest attempt's): ``run_key``,
        ``step``, ``epoch``, ``phase``, ``name`` (``loss``, ``loss/Ll_ctx``, ``lr``...),
        ``value``."""
        import pandas as pd

        rows = self.store.history([self.store.get(k).run_key for k in run_keys])
        columns = ["run_key", "step", "epoch", "phase", "name", "value"]
        return pd.DataFrame.from_records(rows, columns=columns)

    def predictions(self, run_key: str) -> Predictions:
        """A run's stored predictions (scores, logits, targets per image and class)."""
        from scac.predictions import Predictions

        run = self.store.get(run_key)
        return Predictions.load(Path(run.artifacts or "") / "predictions.npz")

    def export(self, path: str | Path, fmt: str | None = None, **selection: Any) -> Path:
        """Write :meth:`runs` (with ``selection``, its arguments) to ``path`` as CSV, Parquet or
        JSON lines (``fmt``, else the file's suffix).

        Raises:
            ValueError: an unknown format, or Parquet without pyarrow (or fastparquet).
        """
        path = Path(path)
        fmt = fmt or path.suffix.lstrip(".").lower()
        if fmt not in FORMATS:
            raise ValueError(f"export format must be one of {', '.join(FORMATS)}; got {fmt!r}")
        frame = self.runs(**selection)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "csv":
                frame.to_csv(path, index=False)
            elif fmt == "jsonl":
                frame.to_json(path, orient="records", lines=True, date_format="iso")
            else:
                try:
                    frame.to_parquet(path, index=False)
                except ImportError as err:
                    raise ValueError(
                        f"Parquet needs pyarrow: pip install pyarrow ({err})"
                    ) from None
        except OSError as err:
            raise ValueError(f"cannot write {path}: {err.strerror or err}") from None
        return path


def _columns(records: list[dict[str, Any]]) -> list[str]:
    """The record's columns, then every other column in order of first appearance."""
    seen = dict.fromkeys(RECORD)
    for r in records:
        seen.update(dict.fromkeys(r))
    return list(seen)


def open_store(store: str | None = None) -> ResultsStore:
    """A results store read as data (:class:`ResultsStore`)."""
    return ResultsStore(store)
