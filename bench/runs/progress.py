"""Progress display for long work: rich bars on a terminal, one plain line per run otherwise."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from scac.config import PhaseConfig
from scac.engine.callbacks import Callbacks

if TYPE_CHECKING:
    from bench.runs.plan import RunSpec


class _Epochs(Callbacks):
    """Where a run is among all its epochs, from the phase it is in: a resumed run starts in
    the middle, and counting only the epochs seen here would say "epoch 4/6 (1/7)"."""

    def __init__(self, phase_epochs: tuple[int, ...]) -> None:
        self.phase_epochs, self.index = phase_epochs, 0
        self.total = sum(phase_epochs)

    def on_phase_start(self, phase: PhaseConfig, index: int, steps_per_epoch: int) -> None:
        self.index = index

    def done(self, epoch: int) -> int:
        """Epochs finished once ``epoch`` (counted in its phase, from 0) ends."""
        return sum(self.phase_epochs[: self.index]) + epoch + 1


class _RunBar(_Epochs):
    """Advances the per-run bar as training steps finish."""

    def __init__(self, progress: Progress, task, phase_epochs: tuple[int, ...]) -> None:
        super().__init__(phase_epochs)
        self.progress, self.task, self.steps_per_epoch = progress, task, 0

    def on_phase_start(self, phase: PhaseConfig, index: int, steps_per_epoch: int) -> None:
        super().on_phase_start(phase, index, steps_per_epoch)
        self.steps_per_epoch = steps_per_epoch
        self.progress.update(self.task, total=steps_per_epoch * self.total)

    def on_step(self, phase: PhaseConfig, epoch: int, step: int, loss: float) -> None:
        self.progress.update(
            self.task, advance=1, info=f"{phase.name} ep {epoch + 1} loss {loss:.3f}"
        )

    def on_epoch_end(self, phase: PhaseConfig, epoch: int, mean_loss: float) -> None:
        self.progress.update(self.task, completed=self.steps_per_epoch * self.done(epoch))


class _EpochLines(_Epochs):
    """Plain mode: one line per epoch of a run (phase, epoch, mean loss, recent images/s)."""

    def __init__(self, reporter: Reporter, label: str, phase_epochs: tuple[int, ...]) -> None:
        super().__init__(phase_epochs)
        self.reporter, self.label = reporter, label
        self.speed: float | None = None

    def on_log(self, phase: PhaseConfig, epoch: int, step: int, values: dict[str, float]) -> None:
        self.speed = values.get("images_per_s")

    def on_epoch_end(self, phase: PhaseConfig, epoch: int, mean_loss: float) -> None:
        speed = f", {self.speed:.0f} images/s" if self.speed is not None else ""
        self.reporter.line(
            f"  {self.label}: {phase.name} epoch {epoch + 1}/{phase.epochs} "
            f"({self.done(epoch)}/{self.total}), loss {mean_loss:.4f}{speed}"
        )


class _Tenths:
    """Plain mode: a line each time work crosses another tenth of its steps, with the mean of
    the figure (a loss) told since the line before."""

    def __init__(self, reporter: Reporter, what: str) -> None:
        self.reporter, self.what = reporter, what
        self.tenth, self.values = 0, list[float]()

    def __call__(self, done: int, total: int, value: float | None = None) -> None:
        if value is not None:
            self.values.append(value)
        tenth = done * 10 // max(total, 1)
        if tenth <= self.tenth:
            return
        self.tenth = tenth
        figure = f", loss {sum(self.values) / len(self.values):.4f}" if self.values else ""
        self.values = []
        self.reporter.line(f"  {self.what}: {tenth * 10}% ({done}/{total}){figure}")


class Reporter:
    """Shows a study's progress.

    Args:
        console: where to print.
        live: rich progress bars (a terminal) or plain lines (a log file, CI).
        quiet: print nothing.
    """

    def __init__(
        self, console: Console | None = None, live: bool | None = None, quiet: bool = False
    ) -> None:
        self.console = console or Console()
        self.live = sys.stdout.isatty() if live is None else live
        self.quiet = quiet
        self.progress: Progress | None = None
        self._overall: TaskID | None = None
        self._cache_task: TaskID | None = None
        self._cache_start: float | None = None
        self._cache_tenths: _Tenths | None = None

    @classmethod
    def silent(cls) -> Reporter:
        return cls(live=False, quiet=True)

    def line(self, text: str) -> None:
        """Print one plain line (above the bars when they are drawn)."""
        if not self.quiet:
            (self.progress.console if self.progress else self.console).print(
                text, markup=False, highlight=False
            )

    @contextlib.contextmanager
    def study(self, name: str, runs: int, distinct: int, todo: int) -> Iterator[None]:
        """Around a whole study: an overall bar, and a first line saying what is to do.

        Args:
            name: the study's title.
            runs: its arm x seed runs.
            distinct: how many distinct configurations (run keys) they ask for.
            todo: how many of those are not finished yet.
        """
        shared = f" ({distinct} distinct configurations)" if distinct != runs else ""
        self.line(
            f"study {name}: {runs} runs{shared}, {distinct - todo} already finished, {todo} to run"
        )
        total = distinct
        if self.live and not self.quiet:
            self.progress = Progress(
                TextColumn("{task.description}", markup=False),  # names are users' text
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}", markup=False),
                console=self.console,
                transient=False,
            )
            with self.progress:
                self._overall = self.progress.add_task(
                    f"{name}", total=total, completed=total - todo, info=""
                )
                yield
            self.progress = None
        else:
            yield

    @contextlib.contextmanager
    def stage(self, what: str) -> Iterator[Callable[[int, int, float], None]]:
        """Around one piece of one-time work (generating the dataset, a pretraining): a bar on
        a terminal; in plain mode a line when it starts, one per tenth of its steps (with the
        mean loss since the line before) and one with its duration. Yields the function the
        work tells its progress to: ``(steps done, steps in all, loss)``."""
        start = time.perf_counter()
        if self.progress is not None:
            task = self.progress.add_task(what, total=None, info="")
            bar = self.progress

            def shown(done: int, total: int, loss: float) -> None:
                bar.update(task, completed=done, total=total, info=f"loss {loss:.4f}")

            try:
                yield shown
            finally:
                self.progress.remove_task(task)
        else:
            self.line(f"{what} ...")
            yield _Tenths(self, what)
        self.line(f"{what}: done in {time.perf_counter() - start:.1f} s")

    def cache_progress(self, done: int, total: int) -> None:
        """The frozen-feature cache filling (once per frozen weights and images): a bar, or in
        plain mode a line per tenth of the images and one at the end."""
        if self._cache_start is None:
            self._cache_start = time.perf_counter()
            self._cache_tenths = _Tenths(self, "filling the frozen-feature cache")
        if self.progress is None and done < total and self._cache_tenths is not None:
            self._cache_tenths(done, total)
        if self.progress is not None:
            if self._cache_task is None:
                self._cache_task = self.progress.add_task(
                    "  filling the frozen-feature cache", total=total, info=""
                )
            self.progress.update(self._cache_task, completed=done)
            if done >= total:
                self.progress.remove_task(self._cache_task)
                self._cache_task = None
        if done >= total:
            seconds = time.perf_counter() - self._cache_start
            self._cache_start = None
            self.line(f"frozen-feature cache filled: {total} images in {seconds:.1f} s")

    def run_callbacks(self, spec: RunSpec) -> Callbacks:
        """Callbacks that draw a bar for one run (a line per epoch in plain mode)."""
        epochs = tuple(p.epochs for p in spec.config.train.phases)
        if self.progress is None:
            if self.quiet:
                return Callbacks()
            return _EpochLines(self, f"{spec.arm} seed {spec.seed}", epochs)
        for task in list(self.progress.task_ids):
            if task != self._overall:
                self.progress.remove_task(task)
        task = self.progress.add_task(f"  {spec.arm} seed {spec.seed}", total=None, info="")
        return _RunBar(self.progress, task, epochs)

    def run_finished(self, done: int, total: int, text: str) -> None:
        """One line per run that ended (``text`` describes it); the overall bar advances."""
        self.line(f"[{done}/{total}] {text}")
        if self.progress is not None and self._overall is not None:
            self.progress.update(self._overall, advance=1)
