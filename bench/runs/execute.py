"""Running a plan: every run it asks for, each once across processes, then the ones others hold.

:func:`run_plan` is ``bench run study`` (and ``bench train`` through :func:`run_single`):
record the plan's runs in the store, prepare the data and weights once, execute each
unfinished run through the run layer (:mod:`bench.runs.claimed`), then wait for the runs another
live process holds, taking them over if their owner dies.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.runs.claimed import (
    RunContext,
    RunOutcome,
    claim,
    execute,
    finished_metrics,
    run_claimed,
    wait_for,
)
from bench.runs.plan import Plan, RunSpec
from bench.runs.progress import Reporter
from bench.store import Store
from bench.store.owner import Owner
from scac.config import to_dict


@dataclass
class PlanOutcome:
    """Every run of one plan, in the plan's order, as this invocation left it."""

    plan: Plan
    outcomes: list[RunOutcome]


def record_spec(spec: RunSpec, store: Store, reporter: Reporter | None = None) -> None:
    """Record which run a study (variant) arm and seed asks for, creating the run's row."""
    before = store.link(
        spec.study,
        spec.arm,
        spec.seed,
        spec.key,
        spec.config.model.name,
        to_dict(spec.config),
        spec.smoke,
        spec.variant,
    )
    if before and reporter is not None:
        reporter.line(
            f"{spec.label()}: asks for run {spec.key[:10]} now, not {before[:10]} "
            f"(the study file, its recipe or the code changed)"
        )


def record(plan: Plan, store: Store, reporter: Reporter | None = None) -> None:
    """Record the plan's variant and which run each of its arm x seed asks for."""
    if plan.variant:
        store.record_variant(plan.study, plan.variant, plan.overrides)
    for spec in plan.runs:
        record_spec(spec, store, reporter)


def run_plan(plan: Plan, store: Store, ctx: RunContext) -> PlanOutcome:
    """Run every run of ``plan`` that is not finished, each once across processes.

    Runs another live process holds are waited for at the end: finished there, they count as
    finished here; if their owner dies (or is interrupted) they are run here; failed there,
    they count as failed.
    """
    reporter = ctx.reporter
    distinct = plan.distinct
    status = {s.key: store.status(s.key) for s in distinct}
    todo = [s for s in distinct if status[s.key] != "finished"]
    outcomes = {
        s.key: RunOutcome(s, "skipped", metrics=finished_metrics(store, s.key))
        for s in distinct
        if status[s.key] == "finished"
    }
    done = len(outcomes)
    with reporter.study(plan.title(), runs=len(plan.runs), distinct=len(distinct), todo=len(todo)):
        if todo:  # before anything is recorded: a missing dataset leaves the store unchanged
            from scac.engine.assets import ensure_assets  # the engine loads when runs are to train

            ensure_assets(todo[0].config, ctx.cache_dir, announce=reporter.stage)
        record(plan, store, reporter)
        held = []
        for spec in todo:
            outcome = execute(spec, store, ctx)
            if outcome.status == "held":
                reporter.line(f"{spec.label()}: {outcome.error}; this command waits for it")
                held.append(spec)
                continue
            outcomes[spec.key] = outcome
            done += 1
            reporter.run_finished(done, len(distinct), outcome.describe())
        for outcome in wait_for(held, store, ctx):
            outcomes[outcome.run_key] = outcome
            done += 1
            reporter.run_finished(done, len(distinct), outcome.describe())
    return PlanOutcome(plan, [outcomes[s.key] for s in plan.runs])


def run_single(plan: Plan, store: Store | None, ctx: RunContext) -> RunOutcome:
    """The one run of a plan (``bench train``), also as one rank of a ``torchrun`` job.

    Under torchrun rank 0 claims the run and records it (``store`` is None on the other
    ranks); its decision (run, already finished, held elsewhere) is broadcast, so every rank
    trains together or none does.
    """
    from scac.engine.assets import ensure_assets
    from scac.engine.distributed import broadcast_object, init_distributed
    from scac.engine.run import resolve_device

    (spec,) = plan.runs
    dist = init_distributed(resolve_device(ctx.device))
    if dist is None:
        assert store is not None, "a run outside torchrun has a store"
        return run_plan(plan, store, ctx).outcomes[0]
    owner, decision = Owner.this_process(), None
    if dist.is_main:
        assert store is not None, "rank 0 has the store"
        ensure_assets(spec.config, ctx.cache_dir, announce=ctx.reporter.stage)
        record(plan, store, ctx.reporter)
        decision = claim(spec, store, owner, ctx)
    decision = broadcast_object(decision, dist)
    if decision.result == "finished":
        return RunOutcome(spec, "skipped")
    if decision.result == "held":
        return RunOutcome(spec, "held", error=f"run by {decision.holder}")
    return run_claimed(spec, store if dist.is_main else None, owner, ctx)
