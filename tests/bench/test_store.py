"""The results store: claims, transactional records, clear errors, consistency on failed writes."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa

from bench.store import LostClaim, Store, StoreError, masked_url
from bench.store.owner import Owner

CLAIM = {"git_commit": None, "versions": {}, "device": "cpu"}


def _store(tmp_path) -> Store:
    return Store(str(tmp_path / "s.sqlite"))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path) -> Store:
    """An empty store on SQLite, and on PostgreSQL when BENCH_TEST_PG_URL names a database."""
    if request.param == "sqlite":
        return _store(tmp_path)
    url = os.environ.get("BENCH_TEST_PG_URL")
    if not url:
        pytest.skip("set BENCH_TEST_PG_URL to test the store on PostgreSQL")
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a fresh database for each test
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return Store(url, artifacts_root=tmp_path / "runs")


def _dead_owner() -> Owner:
    """An owner whose process has exited (and been reaped)."""
    pid = subprocess.Popen([sys.executable, "-c", "pass"]).pid
    os.waitpid(pid, 0)
    return Owner(socket.gethostname(), pid, None, "dead" * 8)


def test_run_lifecycle_and_lookup_by_prefix(any_store):
    st = any_store
    st.link("study", "arm a", 0, "abc123", "scac", {"seed": 0})
    assert st.status("abc123") == "pending"
    me = Owner.this_process()
    claim = st.claim("abc123", me, git_commit="deadbeef", versions={"torch": "x"}, device="cpu")
    assert (claim.result, claim.attempt) == ("claimed", 1)
    assert st.status("abc123") == "running" and st.get("abc123").state == "running"
    st.finish(
        "abc123", me, metrics={"mAP": 50.0, "CF1": math.nan}, per_class_ap={"a": 50.0},
        wall_seconds=1.5, provenance={"numerics": {"threads": 2}},
    )  # fmt: skip
    r = st.get("abc")
    assert (r.status, r.attempts, r.metrics, r.git_commit) == (
        "finished",
        1,
        {"mAP": 50.0, "CF1": None},
        "deadbeef",
    )
    assert r.artifacts.endswith("runs/abc123") and r.provenance == {"numerics": {"threads": 2}}
    assert st.claim("abc123", Owner.this_process(), **CLAIM).result == "finished"
    # a second study asking for the same run shares it
    st.link("other", "x", 0, "abc123", "scac", {"seed": 0})
    assert {(m["study"], m["arm"]) for m in st.list_runs()} == {("study", "arm a"), ("other", "x")}


def test_a_live_owner_keeps_its_run_and_a_dead_one_loses_it(any_store):
    st = any_store
    st.link("s", "a", 0, "k1", "scac", {})
    holder = Owner.this_process()
    assert st.claim("k1", holder, **CLAIM).result == "claimed"
    other = Owner.this_process()  # another token, same live process
    held = st.claim("k1", other, **CLAIM)
    assert held.result == "held" and f"pid {os.getpid()}" in held.holder
    with pytest.raises(LostClaim, match="no longer held"):
        st.finish("k1", other, metrics={}, per_class_ap={}, wall_seconds=1.0)

    st.link("s", "b", 0, "k2", "scac", {})
    dead = _dead_owner()
    assert st.claim("k2", dead, **CLAIM).result == "claimed"
    assert st.get("k2").state == "stale"  # running, but nobody runs it
    assert [r["arm"] for r in st.list_runs(status="stale")] == ["b"]
    taken = st.claim("k2", holder, **CLAIM)
    assert (taken.result, taken.attempt, st.get("k2").state) == ("claimed", 2, "running")
    with pytest.raises(LostClaim):  # the dead owner cannot record over the new one
        st.fail("k2", dead, "late")


def test_concurrent_claims_give_the_run_to_exactly_one(any_store, tmp_path):
    any_store.link("s", "a", 0, "k1", "scac", {})
    results, start = [], threading.Barrier(4)

    def claim():
        st = Store(any_store.url, artifacts_root=tmp_path / "runs")  # its own connections
        start.wait()
        results.append(st.claim("k1", Owner.this_process(), **CLAIM).result)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["claimed", "held", "held", "held"]
    assert any_store.get("k1").attempts == 1


def test_unknown_and_ambiguous_ids(any_store):
    st = any_store
    for key in ("aa11", "aa22"):
        st.link("s", key, 0, key, "scac", {})
    with pytest.raises(KeyError, match="no run 'zz'"):
        st.get("zz")
    with pytest.raises(KeyError, match="ambiguous"):
        st.get("aa")
    assert st.get("aa11").run_key == "aa11"


def test_failed_interrupted_and_released_runs_keep_their_reason(any_store):
    st = any_store
    st.link("s", "a", 0, "k1", "scac", {})
    me = Owner.this_process()
    st.claim("k1", me, **CLAIM)
    st.fail("k1", me, "Traceback ...\nValueError: boom")
    assert st.get("k1").status == "failed" and "boom" in st.get("k1").error
    st.fail("k1", me, "interrupted", status="interrupted")
    assert st.get("k1").status == "interrupted"
    with pytest.raises(ValueError, match="status must be"):
        st.fail("k1", me, "x", status="finished")
    st.link("s", "b", 0, "k2", "scac", {})
    st.claim("k2", _dead_owner(), **CLAIM)
    assert st.release_stale("k2") and st.get("k2").status == "interrupted"
    assert "died during the run" in st.get("k2").error
    assert not st.release_stale("k2")


def test_variants_are_recorded_beside_the_plain_study(any_store):
    st = any_store
    st.link("s", "a", 0, "plain1", "scac", {})
    st.record_variant("s", "fusion=max", {"model.fusion": "max"})
    st.link("s", "a", 0, "max1", "scac", {}, variant="fusion=max")
    members = {(r["variant"], r["run_key"]) for r in st.list_runs(study="s")}
    assert members == {("", "plain1"), ("fusion=max", "max1")}
    assert [r["run_key"] for r in st.list_runs(study="s", variant="")] == ["plain1"]
    st.record_variant("s", "fusion=max", {"model.fusion": "max"})  # the same again: fine
    with pytest.raises(ValueError, match="was recorded with overrides"):
        st.record_variant("s", "fusion=max", {"model.fusion": "product"})
    with pytest.raises(ValueError, match="has no variant 'nope'"):
        st.list_runs(study="s", variant="nope")
    with pytest.raises(ValueError, match="no run of study 'z'.*studies there: s"):
        st.list_runs(study="z")
    # the study file changed: the plain member asks for another run, and the store says so
    assert st.link("s", "a", 0, "plain2", "scac", {}) == "plain1"
    assert st.link("s", "a", 0, "plain2", "scac", {}) is None


def test_crafted_keys_and_paths_never_leave_the_artifacts_folder(tmp_path):
    st = _store(tmp_path)
    for key in ("../evil", "/etc", "a/b", "..", ""):
        with pytest.raises(ValueError, match="not a run key"):
            st.link("s", "a", 0, key, "scac", {})
        with pytest.raises(ValueError, match="not a run key"):
            st.artifacts_dir(key)
    st.link("s", "a", 0, "k1", "scac", {})
    st.claim("k1", Owner.this_process(), **CLAIM)
    with st.engine.begin() as conn:  # someone with write access to the database
        conn.execute(sa.text("UPDATE runs SET artifacts = '/etc' WHERE run_key = 'k1'"))
    assert st.get("k1").artifacts == str(tmp_path / "runs" / "k1")
    assert st.list_runs()[0]["artifacts"] == str(tmp_path / "runs" / "k1")


def test_commands_that_read_never_create_a_store(tmp_path):
    missing = tmp_path / "typo.sqlite"
    with pytest.raises(StoreError, match=r"no results store at .*typo.sqlite"):
        Store(str(missing), create=False)
    assert not missing.exists()


def test_a_store_of_the_first_version_is_brought_up_to_date(tmp_path):
    path = tmp_path / "old.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE runs (run_key VARCHAR(32) PRIMARY KEY, model VARCHAR(64) NOT NULL, "
                "status VARCHAR(16) NOT NULL, config JSON NOT NULL, metrics JSON, "
                "attempts INTEGER NOT NULL, created_at DATETIME NOT NULL, "
                "updated_at DATETIME NOT NULL)"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TABLE members (study VARCHAR(200), arm VARCHAR(200), seed INTEGER, "
                "smoke BOOLEAN, run_key VARCHAR(32), PRIMARY KEY (study, arm, seed, smoke))"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO runs VALUES ('k1', 'scac', 'finished', '{}', '{\"mAP\": 1.0}', 1, "
                "'2026-11-30 10:00:00', '2026-11-30 10:00:00')"
            )
        )
        conn.execute(sa.text("INSERT INTO members VALUES ('s', 'a', 0, 0, 'k1')"))
    engine.dispose()
    st = Store(str(path), create=False)
    (row,) = st.list_runs(study="s")
    assert (row["variant"], row["arm"], row["state"], row["metrics"]) == (
        "",
        "a",
        "finished",
        {"mAP": 1.0},
    )
    assert "members" not in sa.inspect(st.engine).get_table_names()


def test_store_in_an_impossible_place_names_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create the store's folder .*a-file"):
        Store(str(blocker / "sub" / "s.sqlite"))
    with pytest.raises(StoreError, match="cannot open store"):
        Store("nosuchdialect://host/db")


def test_full_disk_leaves_the_store_consistent(tmp_path):
    st = _store(tmp_path)
    st.link("s", "a", 0, "k1", "scac", {})
    me = Owner.this_process()
    st.claim("k1", me, **CLAIM)

    @sa.event.listens_for(st.engine, "connect")
    def _tiny_disk(conn, _record):
        conn.execute("PRAGMA max_page_count = 1")  # every write that needs a new page fails

    st.engine.dispose()
    with pytest.raises(StoreError, match="cannot write to store .*full"):
        st.finish(
            "k1",
            me,
            metrics={f"m{i}": float(i) for i in range(5000)},
            per_class_ap={},
            wall_seconds=1.0,
        )
    sa.event.remove(st.engine, "connect", _tiny_disk)
    st.engine.dispose()
    r = st.get("k1")
    assert r.status == "running" and r.metrics is None  # the failed transaction left nothing behind


def test_passwords_are_masked():
    assert (
        masked_url("postgresql+psycopg://me:secret@db:5432/x")
        == "postgresql+psycopg://me:***@db:5432/x"
    )


def test_history_keeps_the_latest_attempt_per_step_and_drops_on_a_fresh_start(any_store):
    st = any_store
    st.link("study", "a", 0, "hist1", "scac", {"seed": 0})

    def rows(steps, value, name="loss"):
        return [{"step": s, "epoch": 1, "phase": "p", "name": name, "value": value} for s in steps]

    st.add_history("hist1", 1, rows([1, 2, 3], 1.0))
    st.add_history("hist1", 1, rows([3], 1.5))  # a step logged again: replaced, not doubled
    st.add_history("hist1", 2, rows([3, 4], 2.0))  # a resumed attempt from step 3 on
    got = [(r["step"], r["value"]) for r in st.history(["hist1"])]
    assert got == [(1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0)]
    st.drop_history("hist1", 2)  # attempt 2 started afresh: attempt 1's rows go
    assert [(r["step"], r["value"]) for r in st.history(["hist1"])] == [(3, 2.0), (4, 2.0)]
    assert st.history(["nothing"]) == []


def test_two_processes_linking_the_same_run_at_once_both_succeed(any_store, monkeypatch):
    """Found by tests/stress.sh: a second command inserted the run row between the first's read
    and insert, and the first crashed on the unique key instead of finding the row."""
    import bench.store.database as database

    st = any_store
    other = Store(st.url, artifacts_root=st.artifacts_root)  # another process's connection
    real_now, raced = database.now, []

    def racing_now():
        if not raced:  # between this command's read (no row) and its insert
            raced.append("started")
            raced.append(other.link("s", "a", 0, "race1", "scac", {"seed": 0}))
        return real_now()

    monkeypatch.setattr(database, "now", racing_now)
    assert st.link("s", "a", 0, "race1", "scac", {"seed": 0}) is None
    assert raced == ["started", None] and st.status("race1") == "pending"
    assert [r["run_key"] for r in st.list_runs(study="s")] == ["race1"]


def test_a_store_in_a_folder_it_cannot_write_is_read_immutable(tmp_path, monkeypatch):
    """Issue 33: a good store on a read-only file system failed with 'unable to open database
    file' (SQLite's write-ahead log needs its -shm file beside the store); commands that only
    read now open it immutable, and write nothing."""
    st = _store(tmp_path)
    st.link("study", "arm", 0, "abc123", "scac", {"seed": 0})
    st.engine.dispose()
    before = sorted(p.name for p in tmp_path.iterdir())
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: mode != os.W_OK and real(p, mode))
    ro = Store(str(tmp_path / "s.sqlite"), create=False)
    assert ro.readonly and "immutable=1" in ro.url
    assert [r["run_key"] for r in ro.list_runs()] == ["abc123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
