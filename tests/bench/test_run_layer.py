"""The run layer end to end: claims across invocations, variants, selection, exit codes, errors.

Each test reproduces one of the failures issue 15 found with a new user's faults and bad input.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bench.cli.main import app
from bench.runs.claimed import RunContext
from bench.runs.execute import run_plan
from bench.runs.plan import plan_study
from bench.store import Store
from bench.store.owner import Owner
from bench.studies.files import load_study
from bench.studies.selection import study_runs
from scac import numerics as scac_numerics
from tests.bench.holds import Hold

runner = CliRunner()

STUDY = """question = "Does the run layer keep its word?"
recipe = "synth"
seeds = [0]
set = { "data.synth.train" = 12, "data.synth.val" = 8 }
reference = "a"
metrics = ["mAP", "CF1"]
[[arms]]
name = "a"
reason = "first"
set = { "model.context_ratio" = 1.0 }
[[arms]]
name = "b"
reason = "second"
set = { "model.context_ratio" = 2.0 }
[[arms]]
name = "c"
reason = "third"
set = { "model.context_ratio" = 3.0 }
"""
PG_URL = os.environ.get("BENCH_TEST_PG_URL")


@pytest.fixture
def study_file(tmp_path) -> str:
    path = tmp_path / "layer.toml"
    path.write_text(STUDY)
    return str(path)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.cli.main", *args]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "s.sqlite")
    if not PG_URL:
        pytest.skip("set BENCH_TEST_PG_URL to test the run layer on PostgreSQL")
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return PG_URL


def test_two_invocations_on_one_store_train_each_run_once(tmp_path, study_file, store_url, spawn):
    """Issue 15: two `bench run study` started together each trained every run (attempts 2)."""
    hold = Hold(tmp_path / "hold")  # both hold their first claimed run, so they overlap
    env = {
        **os.environ,
        **hold.env,
        "PYTHONUNBUFFERED": "1",
        "BENCH_POLL": "0.2",
        "BENCH_ARTIFACTS": str(tmp_path / "runs"),
    }
    args = _cli("run", "study", study_file, "--smoke", "--store", store_url)
    procs = [
        spawn(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    first, second = hold.wait_for(0, *procs), hold.wait_for(1, *procs)
    assert first[0] != second[0] and first[1] != second[1]  # one run each, at the same time
    hold.release()
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = Store(store_url, artifacts_root=tmp_path / "runs").list_runs(study="layer")
    assert len(runs) == 3 and {r["state"] for r in runs} == {"finished"}
    assert [r["attempts"] for r in runs] == [1, 1, 1]
    assert any("this command waits for it" in out for out in outs)
    assert all(out.count("(smoke): Does the run layer") == 1 for out in outs)  # both tables


def test_a_stopped_holder_is_taken_over_on_its_own_host(tmp_path, study_file, spawn):
    """Issue 33: a SIGSTOPped holder of a run blocked a second command on the same host for
    good (only its pid's liveness was checked); its silent heartbeat now says it is stopped."""
    hold = Hold(tmp_path / "hold")
    env = {**os.environ, **hold.env, "PYTHONUNBUFFERED": "1", "BENCH_POLL": "0.2",
           "BENCH_HEARTBEAT_INTERVAL": "0.2", "BENCH_HEARTBEAT_GRACE": "2"}  # fmt: skip
    store = str(tmp_path / "s.sqlite")
    args = _cli("run", "study", study_file, "--smoke", "--store", store)
    victim = spawn(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pid, key = hold.wait_for(0, victim)
    os.kill(pid, signal.SIGSTOP)  # alive, but silent
    try:
        (hold.folder / "free").write_text("100")  # the second command's runs go on
        second = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=600
        )  # fmt: skip
        assert second.returncode == 0, second.stdout + second.stderr
        run = Store(store).get(key)
        assert run.state == "finished" and run.attempts == 2  # taken over, trained once more
    finally:
        os.kill(pid, signal.SIGKILL)
        victim.wait()


def _table(study_file, store, *extra):
    """``bench table coco --study ... --smoke --format csv`` (plus ``extra`` options)."""
    args = ["table", "coco", "--study", study_file, "--smoke", "--format", "csv", *extra]
    return runner.invoke(app, [*args, "--store", store])


def _variant_rows(store, variant):
    return {r["arm"]: r["run_key"] for r in store.list_runs(study="layer", variant=variant)}


def test_a_set_on_a_study_is_a_variant_beside_the_plain_study(tmp_path, study_file):
    """Issue 15: `--set model.fusion=max` re-pointed the study's arms to the new runs."""
    store = str(tmp_path / "s.sqlite")
    plain = runner.invoke(app, ["run", "study", study_file, "--smoke", "--store", store])
    assert plain.exit_code == 0, plain.output
    st = Store(store)
    before = _variant_rows(st, "")
    table = _table(study_file, store)
    varied = runner.invoke(
        app, ["run", "study", study_file, "--smoke", "--set", "model.fusion=max", "--store", store]
    )
    assert varied.exit_code == 0, varied.output
    assert "model.fusion=max" in varied.output and "3 to run" in varied.output
    assert _variant_rows(st, "") == before  # the plain study still shows its own runs
    after = _variant_rows(st, "model.fusion=max")
    assert set(after) == {"a", "b", "c"} and not set(after.values()) & set(before.values())
    assert all(st.get(k).config["model"]["fusion"] == "max" for k in after.values())
    assert _table(study_file, store).output == table.output
    named = _table(study_file, store, "--variant", "model.fusion=max")
    assert named.exit_code == 0 and "a [model.fusion=max]" in named.output
    listing = runner.invoke(app, ["results", "list", "--study", "layer", "--store", store])
    assert listing.output.count("model.fusion=max") >= 3
    # a name may not be reused for other overrides
    clash = runner.invoke(
        app,
        ["run", "study", study_file, "--smoke", "--set", "model.fusion=product", "--variant",
         "model.fusion=max", "--store", store],
    )  # fmt: skip
    assert clash.exit_code == 2 and "was recorded with overrides" in clash.output


def _finished(store, study, arm, seed, key, map_value, *, smoke=True, status="finished"):
    """A run record made by hand: study membership, claim, and an outcome."""
    store.link(study, arm, seed, key, "scac", {"seed": seed, "data": {"format": "synth"}}, smoke)
    owner = Owner.this_process()
    store.claim(key, owner, git_commit=None, versions={}, device="cpu")
    if status == "finished":
        store.finish(key, owner, metrics={"mAP": map_value, "CF1": 1.0}, per_class_ap={},
                     wall_seconds=1.0)  # fmt: skip
    else:
        store.fail(key, owner, "Traceback ...\nValueError: long ago")


def test_one_selection_for_tables_plots_and_the_exit_code(tmp_path, study_file):
    """Issue 15: the printed table used the study's seeds, `bench table` and `bench plot` every
    seed in the store, and an old failure of another seed made a clean run exit 1."""
    store = str(tmp_path / "s.sqlite")
    first = runner.invoke(app, ["run", "study", study_file, "--smoke", "--store", store])
    assert first.exit_code == 0, first.output
    st = Store(store)
    _finished(st, "layer", "a", 7, "extra7", 0.0)  # a seed the study does not have
    _finished(st, "layer", "b", 8, "broken8", 0.0, status="failed")
    again = runner.invoke(app, ["run", "study", study_file, "--smoke", "--store", store])
    assert again.exit_code == 0, again.output  # the old failure is not this invocation's
    assert "3 runs, 3 already finished, 0 to run" in again.output
    selected = study_runs(st, load_study(study_file), smoke=True)
    assert selected.seeds == (0,) and len(selected.finished) == 3
    table = _table(study_file, store)
    a_row = next(line for line in table.output.splitlines() if line.startswith("a,"))
    assert a_row.split(",")[2] == "1"  # one seed, not the extra seed 7 with mAP 0
    with_seven = _table(study_file, store, "--seeds", "0,7")
    assert (
        next(x for x in with_seven.output.splitlines() if x.startswith("a,")).split(",")[2] == "2"
    )


def test_shared_run_keys_are_counted_once(tmp_path):
    text = STUDY.replace(
        'set = { "model.context_ratio" = 3.0 }', 'set = { "model.context_ratio" = 1.0 }'
    )
    path = tmp_path / "shared.toml"
    path.write_text(text)
    plan = plan_study(load_study(str(path)), smoke=True)
    assert len(plan.runs) == 3 and len(plan.distinct) == 2
    store = Store(str(tmp_path / "s.sqlite"))
    outcome = run_plan(plan, store, RunContext(device="cpu"))
    assert [o.status for o in outcome.outcomes] == ["finished", "finished", "finished"]
    result = runner.invoke(app, ["run", "study", str(path), "--smoke", "--store", store.url])
    assert "3 runs (2 distinct configurations), 2 already finished, 0 to run" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "synth", "--set", "foo"], "override 'foo' must look like key=value"),
        (["run", "study", "branches", "--seeds", "0,x"], "--seeds must be comma-separated"),
        (["run", "study", "branches", "--set", "train.amp=fp8"], "'train.amp' must be one of"),
        (["run", "study", "branches", "--set", "model.context_ratio=-2"], "must be >= 1, got -2"),
        (["run", "study", "context_ratio", "--set", "model.context_ratio=2"], "arms set this key"),
        (["results", "list", "--status", "runing"], "unknown status 'runing'; known:"),
        (["results", "list", "--study", "brnaches"], "no run of study 'brnaches'"),
        (["results", "show", "abc"], "no results store at"),
        (["table", "coco", "--study", "branches"], "no results store at"),
        (["plot", "study", "context_ratio"], "no results store at"),
    ],
)
def test_bad_input_is_one_line_a_non_zero_exit_and_no_change(tmp_path, args, message):
    """Issue 15: tracebacks, messages that named nothing, studies that failed run by run, and
    read-only commands that created an empty store at a mistyped path."""
    store = tmp_path / "typo.sqlite"
    if args[:2] == ["results", "list"]:
        _finished(Store(str(store)), "branches", "a", 0, "k0", 50.0)
    before = _content(store)
    result = runner.invoke(app, [*args, "--store", str(store)])
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " ") and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3
    assert _content(store) == before  # the store unchanged (or still absent)


def _content(path) -> list[str] | None:
    """An SQLite store's content as SQL statements, or None when there is no file."""
    if not path.exists():
        return None
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated"], ids=["empty", "truncated"])
def test_a_damaged_predictions_file_is_named(tmp_path, content):
    path = tmp_path / "predictions.npz"
    path.write_bytes(content)
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"not a readable predictions file: {path}" in result.output.replace("\n", "")


def test_a_corrupt_checkpoint_is_set_aside_and_the_run_restarts(tmp_path, study_file):
    """Issue 15: a corrupt epoch checkpoint made every re-run fail until deleted by hand."""
    store = Store(str(tmp_path / "s.sqlite"))
    plan = plan_study(load_study(study_file), smoke=True)
    spec = plan.runs[0]
    folder = store.artifacts_dir(spec.key)
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"\x80\x04 not a checkpoint")
    outcome = run_plan(plan, store, RunContext(device="cpu"))
    assert outcome.outcomes[0].status == "finished"
    (note,) = outcome.outcomes[0].warnings
    assert "checkpoint.pt" in note and "restarts from its first epoch" in note
    assert store.get(spec.key).details["warnings"] == [note]
    assert list(folder.glob("checkpoint.pt.unreadable-*"))
    shown = runner.invoke(app, ["results", "show", spec.key, "--store", store.url])
    assert "restarts from its first epoch" in shown.output


def test_results_diff_names_every_difference(tmp_path, study_file):
    store = str(tmp_path / "s.sqlite")
    assert (
        runner.invoke(app, ["run", "study", study_file, "--smoke", "--store", store]).exit_code == 0
    )
    a, b = (r["run_key"] for r in Store(store).list_runs()[:2])
    st = Store(store)
    with st.engine.begin() as conn:  # the same run measured on another machine
        provenance = dict(st.get(b).provenance)
        provenance["numerics"] = {**provenance["numerics"], "isa": "AVX512", "threads": 2}
        conn.execute(
            sa.text("UPDATE runs SET provenance = :p WHERE run_key = :k"),
            {"p": json.dumps(provenance), "k": b},
        )
    result = runner.invoke(app, ["results", "diff", a[:8], b[:8], "--store", store])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(
        "config" in x and "model.context_ratio" in x and "1.0" in x and "2.0" in x for x in lines
    )
    assert any("provenance" in x and "numerics.isa" in x and "AVX512" in x for x in lines)
    assert any("numerics.threads" in x for x in lines) and any("metrics" in x for x in lines)
    same = runner.invoke(app, ["results", "diff", a[:8], a[:8], "--store", store])
    assert "0 difference(s)" in same.output and "the same" in same.output


def test_a_run_records_what_its_numbers_depend_on(tmp_path, study_file):
    store = str(tmp_path / "s.sqlite")
    assert (
        runner.invoke(app, ["run", "study", study_file, "--smoke", "--store", store]).exit_code == 0
    )
    run = Store(store).get(Store(store).list_runs()[0]["run_key"])
    numerics = run.provenance["numerics"]
    assert numerics["threads"] == run.config["train"]["cpu_threads"] == 1
    assert {"path", "cpu", "vendor", "isa", "torch", "onednn", "mkl", "cores"} <= set(numerics)
    assert numerics["path"] == scac_numerics.identity("cpu")
    assert len(run.provenance["data"]) == 16 and run.provenance["host"]
    assert np.isfinite(run.metrics["mAP"])
