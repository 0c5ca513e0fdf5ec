"""The results store: transactional records, clear errors, consistency when a write fails."""

from __future__ import annotations

import math
import os

import pytest
import sqlalchemy as sa

from bench.store import Store, StoreError, masked_url


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


def test_run_lifecycle_and_lookup_by_prefix(any_store):
    st = any_store
    st.link("study", "arm a", 0, "abc123", "scac", {"seed": 0})
    assert st.status("abc123") == "pending"
    st.start("abc123", git_commit="deadbeef", versions={"torch": "x"}, device="cpu")
    assert st.status("abc123") == "running"
    st.finish(
        "abc123", metrics={"mAP": 50.0, "CF1": math.nan}, per_class_ap={"a": 50.0}, wall_seconds=1.5
    )
    r = st.get("abc")
    assert (r.status, r.attempts, r.metrics, r.git_commit) == (
        "finished",
        1,
        {"mAP": 50.0, "CF1": None},
        "deadbeef",
    )
    assert r.artifacts.endswith("runs/abc123")
    # a second study asking for the same run shares it
    st.link("other", "x", 0, "abc123", "scac", {"seed": 0})
    assert {(m["study"], m["arm"]) for m in st.list_runs()} == {("study", "arm a"), ("other", "x")}


def test_unknown_and_ambiguous_ids(any_store):
    st = any_store
    for key in ("aa11", "aa22"):
        st.link("s", key, 0, key, "scac", {})
    with pytest.raises(KeyError, match="no run 'zz'"):
        st.get("zz")
    with pytest.raises(KeyError, match="ambiguous"):
        st.get("aa")
    assert st.get("aa11").run_key == "aa11"


def test_failed_and_interrupted_runs_keep_their_error(any_store):
    st = any_store
    st.link("s", "a", 0, "k1", "scac", {})
    st.start("k1", git_commit=None, versions={}, device="cpu")
    st.fail("k1", "Traceback ...\nValueError: boom")
    assert st.get("k1").status == "failed" and "boom" in st.get("k1").error
    st.fail("k1", "interrupted", status="interrupted")
    assert st.get("k1").status == "interrupted"
    with pytest.raises(ValueError, match="status must be"):
        st.fail("k1", "x", status="finished")


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
    st.start("k1", git_commit=None, versions={}, device="cpu")

    @sa.event.listens_for(st.engine, "connect")
    def _tiny_disk(conn, _record):
        conn.execute("PRAGMA max_page_count = 1")  # every write that needs a new page fails

    st.engine.dispose()
    with pytest.raises(StoreError, match="cannot write to store .*full"):
        st.finish(
            "k1",
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
