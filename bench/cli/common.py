"""What every command shares: the store option, error handling, the console.

The command line starts in a fraction of a second because no ``bench/cli`` module imports the
library at its top: torch, the data stack and the store load inside the commands that use them
(``tests/bench/test_cli_startup.py`` holds that; ``benchmarks/cli_startup.py`` times it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from bench.store import StoreError

# a log file or CI gets wide lines rather than rich's 80-column default
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

NO_CACHE_OPTION = typer.Option(
    False,
    "--no-cache",
    help="Compute frozen parts' features every step instead of once into the frozen-feature "
    "cache beside the store (the numbers are the same either way).",
)
STORE_OPTION = typer.Option(
    None,
    "--store",
    help="Results store: an SQLAlchemy URL or an SQLite path "
    "\\[default: $BENCH_STORE or results/store.sqlite]",
    show_default=False,
)

VARIANT_OPTION = typer.Option(
    None,
    "--variant",
    help="A variant of the study: the name its --set runs are kept under "
    "\\[default: the overrides written out, e.g. model.fusion=max].",
    show_default=False,
)
TENSORBOARD_OPTION = typer.Option(
    None,
    "--tensorboard",
    envvar="BENCH_TENSORBOARD",
    help="Also write every run's TensorBoard event files under this folder as it trains, one "
    "subfolder per study/arm/seed-run (needs the tensorboard extra) "
    "\\[default: $BENCH_TENSORBOARD, else none].",
    show_default=False,
)
NUMERICS_OPTION = typer.Option(
    None,
    "--numerics",
    help="Numerics path: pinned (the same numbers on every x86-64 CPU with AVX2), native (this "
    "CPU's own kernels: faster on some, numbers for this CPU model only, other run keys) or "
    "deterministic (pinned, and PyTorch's strict deterministic mode on a GPU) "
    "\\[default: $SCAC_NUMERICS, else pinned].",
    show_default=False,
)
CI_OPTION = typer.Option(
    "seeds+images",
    "--ci",
    help="The interval of each arm's difference to its reference: seeds+images (run-to-run "
    "chance and the test images'), images (the test images' only, seeds averaged) or two-level "
    "(a bootstrap of seeds, then images).",
)
SEEDS_OPTION = typer.Option(
    None, "--seeds", help="Comma-separated seeds replacing the study's, e.g. 0,1."
)


# the library's errors that are the user's to fix: a message, not a traceback (scac's
# ConfigError and DatasetError are ValueErrors, so naming them would load torch for nothing)
EXPECTED = (StoreError, KeyError, FileNotFoundError, ValueError)


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    """``"0,1,2"`` -> (0, 1, 2); an error names the option."""
    from scac.config import ConfigError

    if not text:
        return None
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ConfigError(
            f"--seeds must be comma-separated integers, e.g. 0,1,2; got {text!r}"
        ) from None


def use_numerics(mode: str | None) -> None:
    """Take the numerics path ``--numerics`` asks for; call it before anything loads torch."""
    from scac import numerics

    numerics.select(mode)


def parse_overrides(texts: list[str]) -> dict:
    """``--set key=value`` options as a dict (a malformed one names itself)."""
    from scac.config import parse_override

    return dict(parse_override(t) for t in texts)


def tensorboard_root(folder: Path | None) -> Path | None:
    """``--tensorboard``'s folder, once the tensorboard package is known to be there (else a
    ``ValueError`` saying how to install it, before any run starts)."""
    if folder is None:
        return None
    from bench.telemetry.tensorboard import require_tensorboard

    require_tensorboard()
    return folder


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextlib.contextmanager
def errors_as_messages() -> Iterator[None]:
    """Turn the library's expected errors into one clear line and a non-zero exit code."""
    try:
        yield
    except EXPECTED as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        fail(str(message))


def _raise_interrupt(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


# set by `bench run study --workers` in the workers it starts: their coordinator says it once
WORKER_OF = "BENCH_WORKER_OF"


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM behaves as Ctrl-C (schedulers stop jobs with it); both exit with code 130.

    A worker that a ``bench run study`` started (``$BENCH_WORKER_OF``) leaves the message to
    that command: Ctrl-C reaches the whole process group, and one line is enough.
    """
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        if not os.environ.get(WORKER_OF):
            err_console.print(
                "[yellow]interrupted[/]: the run in progress is marked 'interrupted'; "
                "run the same command again to finish the rest"
            )
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
