"""Training curves as TensorBoard event files: live while a run trains, or exported from the store.

The store's run history (:mod:`bench.store.history`) is the one record of a curve, as
detectron2's ``EventStorage`` is; this module only writes it where TensorBoard reads it. Each
logged name is one scalar tag (``loss``, ``loss/Lr``, ``lr``, ``grad_norm``, ``images_per_s``,
``epoch_loss``, ``val/mAP``...) at the optimiser step it was logged at, counted from 1 over the
whole run; an export adds the run's final metrics as ``final/NAME`` at its last step. Each run
has its own folder (:func:`run_logdir`), so ``tensorboard --logdir ROOT`` groups runs by study,
arm and seed. Writing needs the optional ``tensorboard`` package (``scac-bench[tensorboard]``).
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.store import RunRecord, Store
from bench.studies.selection import as_record
from bench.telemetry.history import LoggedValues
from scac import RunWarning
from scac.engine.callbacks import Callbacks

EVENT_FILES = "events.out.tfevents.*"  # what SummaryWriter writes; nothing else is deleted
_UNSAFE = re.compile(r"[^A-Za-z0-9._=@+,-]")
_LONGEST = 100  # characters of one folder name; longer ones are cut and told apart by a digest


def _safe(text: str) -> str:
    """``text`` as one folder name: unsafe characters as ``_``, never hidden, never ``..``."""
    name = _UNSAFE.sub("_", text) or "_"
    if name.startswith("."):
        name = "_" + name[1:]
    if len(name) > _LONGEST:
        name = f"{name[: _LONGEST - 9]}~{hashlib.sha1(text.encode()).hexdigest()[:8]}"
    return name


def _clear(logdir: Path) -> None:
    """Delete the event files in ``logdir`` (only those), so a curve is not written twice."""
    for old in logdir.glob(EVENT_FILES):
        old.unlink()


def _events(store: Store, record: RunRecord) -> list[tuple[int, str, float]] | None:
    """``(step, tag, value)`` of a run in step order, final metrics last (None: nothing)."""
    history = sorted(store.history([record.run_key]), key=lambda r: (r["step"], r["name"]))
    events = [(r["step"], r["name"], r["value"]) for r in history]
    last = events[-1][0] if events else (record.details or {}).get("steps", 0)
    final = [
        (last, f"final/{name}", float(value))
        for name, value in (record.metrics or {}).items()
        if isinstance(value, int | float) and math.isfinite(value)
    ]
    if not events:
        what = "its final metrics alone" if final else "nothing: no curve, no metrics"
        warnings.warn(
            f"run {record.run_key[:10]} has no training curve in the store; exporting {what}",
            RunWarning,
            stacklevel=3,
        )
    return events + final if events or final else None


def require_tensorboard() -> type:
    """TensorBoard's ``SummaryWriter`` class; call it before any run starts to fail early.

    Raises:
        ValueError: the ``tensorboard`` package is not installed.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError(
            "--tensorboard needs the tensorboard package: pip install 'scac-bench[tensorboard]'"
        ) from None
    return SummaryWriter


def run_logdir(
    root: Path,
    *,
    study: str | None,
    arm: str | None,
    seed: int | None,
    run_key: str,
    variant: str = "",
) -> Path:
    """The folder of one run's event files: ``root/STUDY[@VARIANT]/ARM/seedSEED-KEY10``.

    A run outside any study goes to ``root/runs/KEY10``. Characters unsafe in a file name are
    replaced by ``_``; the run key's first 10 characters keep two runs' folders apart.

    Args:
        root: the folder TensorBoard is pointed at.
        study: the study the run belongs to (None: none).
        arm: its arm in that study.
        seed: its seed in that study.
        run_key: the run's key.
        variant: the study's variant (``""``: the plain study).
    """
    key = _safe(run_key[:10])
    if study is None:
        return Path(root) / "runs" / key
    parts = [_safe(f"{study}@{variant}" if variant else study)]
    parts += [_safe(arm)] if arm else []
    parts.append(key if seed is None else f"seed{seed}-{key}")
    return Path(root).joinpath(*parts)


class TensorBoardWriter(LoggedValues):
    """The run's ``inner`` callbacks, plus what it logs written live to ``logdir``.

    It writes what :class:`bench.telemetry.history.HistoryRecorder` records, with the same steps,
    and flushes at every epoch end and validation, so a killed run keeps its events up to there.
    The training loop has no end-of-run hook: call :meth:`close` when the run ends. A folder
    that cannot be written costs the event files, never the run: one ``RunWarning``.

    Args:
        inner: the callbacks wrapped.
        logdir: the run's folder (:func:`run_logdir`).
        fresh: the run starts from its first epoch: earlier event files there are deleted.
            Otherwise (a resumed run) the events from the step it resumes at on are purged
            when TensorBoard reads the folder, so a step is never drawn twice.

    Raises:
        ValueError: the ``tensorboard`` package is not installed.
    """

    def __init__(self, inner: Callbacks, logdir: Path, *, fresh: bool = True) -> None:
        super().__init__(inner)
        self._summary_writer = require_tensorboard()
        self.logdir, self.fresh = Path(logdir), fresh
        self.writer: Any = None  # opened at the first value: a resumed run's first step is known
        self.steps_seen, self.failed = 0, False

    def on_step(self, phase, epoch, step, loss) -> None:
        self.inner.on_step(phase, epoch, step, loss)
        self.steps_seen += 1  # ``step`` counts within the epoch; on_log's counts the run's

    def record(self, values: dict[str, float]) -> None:
        def add() -> None:
            writer = self.writer if self.writer is not None else self._open()
            for name, value in values.items():
                writer.add_scalar(name, value, self.step)

        self._guard(add)

    def _open(self) -> Any:
        """The event writer, opened now (a fresh run's earlier events cleared first)."""
        if self.fresh:
            _clear(self.logdir)
        # this attempt's first step: what an earlier attempt logged from there on is purged
        first = max(self.step - self.steps_seen + 1, 1)
        purge = None if self.fresh else first
        self.writer = self._summary_writer(str(self.logdir), purge_step=purge)
        return self.writer

    def flush(self) -> None:
        """Write the queued events to disk."""
        if self.writer is not None:
            self._guard(self.writer.flush)

    def close(self) -> None:
        """Flush and close the event file (the run ended, or stopped)."""
        if self.writer is not None:
            self._guard(self.writer.close)

    def _guard(self, action) -> None:
        if self.failed:
            return
        try:
            action()
        except OSError as err:
            self.failed = True
            warnings.warn(
                f"TensorBoard events not written to {self.logdir} ({err})", RunWarning, stacklevel=3
            )


def export_runs(
    store: Store, runs: Iterable[str | RunRecord | dict[str, Any]], root: Path
) -> list[Path]:
    """Write the event files of finished (or stopped) runs from the store's history.

    Each run gets its curve and its final metrics (``final/NAME`` at its last step) in the
    folder of each of its study memberships (:func:`run_logdir`); a run that two studies ask
    for is written twice, so each study's folder is complete. Event files already in a folder
    are deleted first: exporting again replaces an export (or a live writer's events).

    Args:
        store: the results store.
        runs: run keys (or unique prefixes), records, or run rows as :meth:`Store.list_runs`
            and :func:`bench.studies.selection.study_runs` give them; a row is written under its own
            membership only, a key or record under every membership it has.
        root: the folder TensorBoard is pointed at.

    Returns:
        The folders written, in the order of ``runs``. A run without a training curve is
        written with its final metrics alone, and told as a ``RunWarning``; one with neither
        is skipped, with a warning.

    Raises:
        ValueError: the ``tensorboard`` package is not installed, or ``root`` cannot be
            written (a file, a read-only folder: the message names it).
        KeyError: an unknown or ambiguous run key.
    """
    summary_writer = require_tensorboard()
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"cannot export into {root}: it is a file, not a folder")
    members: dict[str, list[dict[str, Any]]] = {}
    for row in store.list_runs():
        members.setdefault(row["run_key"], []).append(row)
    written = []
    for run in runs:
        record = as_record(run) if isinstance(run, dict) else run
        record = store.get(record) if isinstance(record, str) else record
        rows = [run] if isinstance(run, dict) else members.get(record.run_key, [])
        events = _events(store, record)
        if events is None:
            continue
        for row in rows or [{"study": None, "arm": None, "seed": None, "variant": ""}]:
            where = {k: row[k] for k in ("study", "arm", "seed")} | {
                "variant": row["variant"] or ""
            }
            logdir = run_logdir(root, run_key=record.run_key, **where)
            try:
                logdir.mkdir(parents=True, exist_ok=True)
                _clear(logdir)
                writer = summary_writer(str(logdir))
                for step, name, value in events:
                    writer.add_scalar(name, value, step)
                writer.close()
            except OSError as err:
                raise ValueError(f"cannot write into {logdir}: {err.strerror or err}") from None
            written.append(logdir)
    return written
