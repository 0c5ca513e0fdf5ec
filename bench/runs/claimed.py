"""The run layer: every run of every command is claimed, executed and recorded here, and only here.

``bench run study`` (sequential, or its workers), ``bench worker``, ``bench train``, each sweep
trial and ``bench sweep test`` all go through :func:`execute`:

1. **claim** the run in the store (:meth:`bench.store.Store.claim`): a finished run is skipped,
   a run a live process holds is left to it (and waited for), a pending, failed, interrupted or
   stale one is taken, atomically, with this process as its owner;
2. **run** it (``scac.engine.run_experiment``) while a heartbeat thread tells the store the owner
   lives; the run's :class:`scac.RunWarning` (a damaged cache rebuilt, a checkpoint set aside)
   are kept with it;
3. **record** the outcome as the claim's owner: finished with its metrics, details and
   provenance, or failed with its traceback, interrupted (Ctrl-C, SIGTERM) or pruned.

:func:`bench.runs.execute.run_plan` does that for every run of a :class:`bench.runs.plan.Plan`, then
waits for the runs other processes held, so two invocations of one study train each run once.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.runs import points
from bench.runs.beats import beating
from bench.runs.plan import RunSpec
from bench.runs.progress import Reporter
from bench.runs.provenance import git_commit, versions
from bench.store import LostClaim, Store, StoreError, check_run_key
from bench.store.owner import HEARTBEAT_INTERVAL, Owner
from bench.telemetry.history import recording
from scac import RunWarning
from scac.cache import default_cache_dir
from scac.engine.callbacks import Callbacks, ForwardingCallbacks


class Pruned(Exception):  # noqa: N818 - an outcome, as optuna.TrialPruned
    """Raised by a run's callback to stop it early (a sweep's pruner); recorded as pruned."""


@dataclass
class RunContext:
    """How runs are executed: nothing here changes their numbers.

    Attributes:
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        cache_dir: datasets and pretrained weights (``scac.cache.default_cache_dir()``).
        reporter: progress display.
        feature_cache: train frozen phases from the frozen-feature cache beside the store.
        num_workers: DataLoader workers.
        resume: continue from the epoch checkpoint an earlier attempt left.
        poll: seconds between looks at a run another process holds.
        tensorboard: a folder to write each run's TensorBoard event files into as it trains
            (one subfolder per run, :func:`bench.telemetry.tensorboard.run_logdir`); None: none.
    """

    device: str = "auto"
    cache_dir: Path = field(default_factory=default_cache_dir)
    reporter: Reporter = field(default_factory=Reporter.silent)
    feature_cache: bool = True
    num_workers: int = 0
    resume: bool = True
    poll: float = float(os.environ.get("BENCH_POLL", "2"))
    tensorboard: Path | None = None


@dataclass
class RunOutcome:
    """What happened to one requested run in this invocation.

    Attributes:
        spec: the run.
        status: ``finished`` (here), ``skipped`` (finished before, or by another process),
            ``failed``, ``interrupted``, ``pruned``, ``held`` (a live process runs it) or
            ``lost`` (another process took it over; this attempt's outcome was not recorded).
        seconds: wall time here.
        metrics: the run's metrics, when it finished.
        error: the last line of the error, or why it was not run here.
        warnings: what the run worked around (:class:`scac.RunWarning`).
    """

    spec: RunSpec
    status: str
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def run_key(self) -> str:
        return self.spec.key

    @property
    def ok(self) -> bool:
        return self.status in ("finished", "skipped")

    def describe(self) -> str:
        """One line about what happened to the run in this invocation."""
        head = f"{self.spec.label()} | {self.run_key[:10]}"
        if self.status == "finished":
            shown = " ".join(f"{k} {v:.1f}" for k, v in list(self.metrics.items())[:3])
            return f"{head}: finished in {self.seconds:.1f} s, {shown}"
        if self.status in ("failed", "lost"):
            return f"{head}: {self.status.upper()} after {self.seconds:.1f} s: {self.error}"
        if self.status == "skipped":
            return f"{head}: finished"
        return f"{head}: {self.status}" + (f" ({self.error})" if self.error else "")


# -- one run -----------------------------------------------------------------------------------


def feature_cache_dir(store: Store) -> Path:
    """The frozen-feature cache beside the store (``feature-cache/`` next to ``runs/``)."""
    return store.artifacts_root.parent / "feature-cache"


def shared_artifacts_dir(run_key: str) -> Path:
    """Where a non-zero torchrun rank finds the run's artifacts (rank 0's store says the same)."""
    return Store.artifacts_root_for(os.environ.get("BENCH_STORE")) / check_run_key(run_key)


@contextlib.contextmanager
def _heartbeat(store: Store | None, run_key: str, owner: Owner) -> Iterator[None]:
    """Tell the store every ``BENCH_HEARTBEAT_INTERVAL`` seconds that the owner lives."""
    if store is None:
        yield
        return

    def beat() -> bool:
        try:
            store.heartbeat(run_key, owner)
        except LostClaim:
            return False  # taken over: recording the outcome will say so
        except StoreError:
            pass  # a busy or unreachable database: try again next beat
        return True

    with beating(beat, HEARTBEAT_INTERVAL, name=f"heartbeat-{run_key[:8]}"):
        yield


def claim(spec: RunSpec, store: Store, owner: Owner, ctx: RunContext):
    """Claim ``spec``'s run for ``owner`` (see :meth:`bench.store.Store.claim`)."""
    from scac.engine.numerics import numerics  # the engine loads when a run is to train
    from scac.engine.run import resolve_device

    device = resolve_device(ctx.device)
    return store.claim(
        spec.key,
        owner,
        git_commit=git_commit(),
        versions=versions(),
        device=str(device),
        provenance={"host": socket.gethostname(), "numerics": numerics(device)},
    )


def execute(
    spec: RunSpec,
    store: Store,
    ctx: RunContext,
    *,
    callbacks: Callbacks | None = None,
    validate_every_epoch: bool = False,
    wait: bool = False,
) -> RunOutcome:
    """Claim, run and record one run; failures are recorded, Ctrl-C is recorded and re-raised.

    Args:
        spec: the run.
        store: the results store.
        ctx: how to run it.
        callbacks: training hooks (default: the reporter's progress bar).
        validate_every_epoch: score the evaluation split after every epoch (sweeps).
        wait: when a live process holds the run, wait for it (and take it over if its owner
            dies or fails) instead of returning ``held``.
    """
    owner = Owner.this_process()
    got = claim(spec, store, owner, ctx)
    if got.result == "finished":
        return RunOutcome(spec, "skipped", metrics=finished_metrics(store, spec.key))
    if got.result == "claimed":
        return run_claimed(
            spec, store, owner, ctx, callbacks=callbacks, validate=validate_every_epoch
        )
    if not wait:
        return RunOutcome(spec, "held", error=f"run by {got.holder}")
    ctx.reporter.line(f"{spec.label()}: run by {got.holder}; waiting for it")
    waited = wait_for(
        [spec], store, ctx, retry_failed=True, callbacks=callbacks,
        validate_every_epoch=validate_every_epoch,
    )  # fmt: skip
    return next(waited)


def wait_for(
    held: list[RunSpec],
    store: Store,
    ctx: RunContext,
    *,
    retry_failed: bool = False,
    callbacks: Callbacks | None = None,
    validate_every_epoch: bool = False,
) -> Iterator[RunOutcome]:
    """The outcomes of runs other processes hold, as each is released (the run layer's one wait
    loop): finished (its metrics); failed or pruned (reported, or run again here with
    ``retry_failed``); left by a dead or stopped owner (taken over and run here)."""
    waiting = list(held)
    while waiting:
        time.sleep(ctx.poll)
        for spec in list(waiting):
            run = store.get(spec.key)
            if run.state == "running":
                continue
            if run.state == "finished":
                outcome = RunOutcome(spec, "skipped", metrics=finished_metrics(store, spec.key))
            elif run.state in ("failed", "pruned") and not retry_failed:
                last = (run.error or run.state).strip().splitlines()[-1]
                outcome = RunOutcome(spec, "failed", error=f"{run.state} in {run.owner}: {last}")
            else:  # stale, interrupted or pending again (its owner stopped): run it here
                outcome = execute(
                    spec, store, ctx, callbacks=callbacks,
                    validate_every_epoch=validate_every_epoch,
                )  # fmt: skip
                if outcome.status == "held":  # another process took it over first
                    continue
            waiting.remove(spec)
            yield outcome


def finished_metrics(store: Store, run_key: str) -> dict[str, float]:
    return {k: v for k, v in (store.get(run_key).metrics or {}).items() if v is not None}


@contextlib.contextmanager
def _board(inner: Callbacks, spec: RunSpec, root: Path, fresh: bool) -> Iterator[Callbacks]:
    """``inner``, with the run's scalars written as TensorBoard events under ``root``."""
    from bench.telemetry.tensorboard import TensorBoardWriter, run_logdir

    folder = run_logdir(
        root, study=spec.study, arm=spec.arm, seed=spec.seed, run_key=spec.key,
        variant=spec.variant,
    )  # fmt: skip
    writer = TensorBoardWriter(inner, folder, fresh=fresh)
    try:
        yield writer
    finally:
        writer.close()


def _announcing(callbacks: Callbacks, spec: RunSpec) -> Callbacks:
    return _AnnouncingEpochs(callbacks, spec) if points.listening() else callbacks


class _AnnouncingEpochs(ForwardingCallbacks):
    """The run's callbacks, announcing the ``epoch`` point (:mod:`bench.runs.points`)."""

    def __init__(self, inner: Callbacks, spec: RunSpec) -> None:
        super().__init__(inner)
        self.spec = spec

    def on_epoch_end(self, phase, epoch, mean_loss) -> None:
        self.inner.on_epoch_end(phase, epoch, mean_loss)
        points.announce("epoch", self.spec.key)  # after the epoch's checkpoint is written


def run_claimed(
    spec: RunSpec,
    store: Store | None,
    owner: Owner,
    ctx: RunContext,
    *,
    callbacks: Callbacks | None = None,
    validate: bool = False,
) -> RunOutcome:
    """Run a claimed run and record its outcome as ``owner`` (no store: a torchrun rank > 0)."""
    from scac.engine.run import RunOptions, run_experiment

    artifacts = (
        store.artifacts_dir(spec.key) if store is not None else shared_artifacts_dir(spec.key)
    )
    start = time.perf_counter()
    notes: list[str] = []
    try:
        with (
            _run_warnings(notes, ctx.reporter, spec),
            _heartbeat(store, spec.key, owner),
            contextlib.ExitStack() as closing,
        ):
            points.announce("claimed", spec.key)
            fresh = not (ctx.resume and (artifacts / "checkpoint.pt").is_file())
            hooks = recording(callbacks or ctx.reporter.run_callbacks(spec), store, spec.key, fresh)
            if ctx.tensorboard is not None and store is not None:  # rank 0 only, as the store
                hooks = closing.enter_context(_board(hooks, spec, ctx.tensorboard, fresh))
            options = RunOptions(
                device=ctx.device,
                num_workers=ctx.num_workers,
                callbacks=_announcing(hooks, spec),
                resume=ctx.resume,
                validate_every_epoch=validate,
                feature_cache=feature_cache_dir(store) if ctx.feature_cache and store else None,
                feature_cache_progress=ctx.reporter.cache_progress,
                numerics=spec.numerics,
            )
            result = run_experiment(
                spec.config, artifacts_dir=artifacts, cache_dir=ctx.cache_dir, options=options
            )
    except Pruned as pruned:
        return _stopped(spec, store, owner, "pruned", str(pruned), start, notes)
    except KeyboardInterrupt:
        _stopped(spec, store, owner, "interrupted", "interrupted (Ctrl-C or SIGTERM)", start, notes)
        raise
    except Exception:  # noqa: BLE001 - any failure of a run is recorded, the study goes on
        return _stopped(spec, store, owner, "failed", traceback.format_exc(), start, notes)
    seconds = time.perf_counter() - start
    if store is not None:
        details = {
            "skipped_images": result.skipped_images,
            "world_size": result.world_size,
            "train_seconds": result.train_seconds,
            "eval_seconds": result.eval_seconds,
            "steps": result.log.steps,
            "images_seen": result.log.images,
            "warnings": notes,
        }
        try:
            store.finish(
                spec.key,
                owner,
                metrics=result.metrics,
                per_class_ap=result.per_class_ap,
                wall_seconds=seconds,
                details=details,
                provenance={"host": socket.gethostname(), **result.provenance},
            )
        except LostClaim as err:
            return RunOutcome(spec, "lost", seconds, error=str(err), warnings=notes)
    return RunOutcome(spec, "finished", seconds, metrics=result.metrics, warnings=notes)


_SHOWN: dict = {}  # the registry of warnings passed on, so each is shown once per process


@contextlib.contextmanager
def _run_warnings(notes: list[str], reporter: Reporter, spec: RunSpec) -> Iterator[None]:
    """Keep the run's :class:`scac.RunWarning` in ``notes`` (and print them); pass the other
    warnings on, under the filters that were in force, once the block has ended."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RunWarning)
            yield
    finally:
        for w in caught:  # after the recording: a warning passed on is not recorded again
            if issubclass(w.category, RunWarning):
                notes.append(str(w.message))
                reporter.line(f"{spec.label()}: warning: {w.message}")
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, registry=_SHOWN)


def _stopped(
    spec: RunSpec,
    store: Store | None,
    owner: Owner,
    status: str,
    text: str,
    start: float,
    notes: list[str],
) -> RunOutcome:
    """Record a run that ended without results: failed, interrupted or pruned."""
    seconds = time.perf_counter() - start
    last = text.strip().splitlines()[-1] if text.strip() else status
    if store is not None:
        try:
            details = {"warnings": notes} if notes else None
            store.fail(spec.key, owner, text, status=status, wall_seconds=seconds, details=details)
        except LostClaim as err:
            return RunOutcome(spec, "lost", seconds, error=str(err), warnings=notes)
    return RunOutcome(spec, status, seconds, error=last, warnings=notes)
