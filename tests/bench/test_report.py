"""``bench report``: one self-contained HTML page per study or run, read back as text, as
images, and in a real headless browser."""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from rich.text import Text
from typer.testing import CliRunner

from bench.cli import report, study_table
from bench.cli.main import app as bench
from bench.store import Store
from bench.store.owner import Owner
from bench.studies.files import load_study
from bench.studies.selection import study_runs
from bench.tables.study import study_table as table_of
from tests.bench.test_tables import study_store  # noqa: F401 - fixture

runner = CliRunner()
app = typer.Typer()  # `bench report` alone
report.register(app)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, finished_smoke) -> str:
    """A store holding study context_ratio run in smoke form: 5 tiny runs, with their curves."""
    return finished_smoke(tmp_path_factory.mktemp("report"))


class Tables(HTMLParser):
    """Every ``<table>`` of a page as rows of (text, bold) cells, the header row first."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[tuple[str, bool]]]] = []
        self.cell: list[str] | None = None
        self.bold = False

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell, self.bold = [], False
        elif tag == "b":
            self.bold = True

    def handle_endtag(self, tag) -> None:
        if tag in ("td", "th"):
            self.tables[-1][-1].append(("".join(self.cell or []), self.bold))
            self.cell = None

    def handle_data(self, data) -> None:
        if self.cell is not None:
            self.cell.append(data)


def tables(page: str) -> list[list[list[tuple[str, bool]]]]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


def terminal_rows(store: str, study: str, smoke: bool) -> list[list[tuple[str, bool]]]:
    """The study table as ``bench run study --detail`` prints it: (text, bold) per cell, header
    first."""
    selected = study_runs(Store(store, create=False), load_study(study), smoke=smoke)
    printed = study_table.study_table(table_of(selected), detail=True)
    head = [(str(c.header), False) for c in printed.columns]
    cells = [[Text.from_markup(str(v)) for v in c._cells] for c in printed.columns]  # rich's own
    body = [
        [(t.plain, any("bold" in str(s.style) for s in t.spans)) for t in row]
        for row in zip(*cells, strict=True)
    ]
    return [head, *body]


def study_page(store: str, out: Path, *args: str) -> str:
    """``bench report study ARGS --out OUT``: the page written."""
    result = runner.invoke(app, ["report", "study", *args, "--store", store, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in " ".join(result.output.split())
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def smoke_page(smoke, tmp_path_factory) -> Path:
    """The report of the smoke study, written once for the tests that read it."""
    out = tmp_path_factory.mktemp("page") / "pages" / "study.html"
    study_page(smoke, out, "context_ratio", "--smoke")
    return out


def assert_self_contained(page: str, images: int) -> None:
    """No URL, script, link or font to fetch; every image a PNG data URI that decodes."""
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(script|link|iframe|object|embed)\b|@import|url\(", page, re.I)
    sources = re.findall(r"\b(?:src|href)\s*=\s*[\"']?([^\"'\s>]*)", page, re.I)
    assert len(sources) == images and all(s.startswith("data:image/png;base64,") for s in sources)
    for s in sources:
        data = base64.b64decode(s.split(",", 1)[1], validate=True)
        assert data.startswith(PNG)
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            assert min(image.size) > 200 and np.asarray(image.convert("L")).std() > 10


def test_study_report_is_the_printed_table_and_its_figures(smoke, smoke_page):
    page = smoke_page.read_text(encoding="utf-8")
    printed = terminal_rows(smoke, "context_ratio", smoke=True)
    (shown,) = [
        t for t in tables(page) if t[0][:3] == [("arm", False), ("seeds", False), ("mAP", False)]
    ]
    assert shown == printed  # every cell, and which ones are bold
    maps = [row[2][0] for row in printed[1:]]
    assert len(maps) == 5 and all(re.fullmatch(r"\d+\.\d", m) for m in maps)
    assert load_study("context_ratio").question in html.unescape(page)
    titles = ("Arms", "Results", "Differences to the reference", "Against the studied parameter",
              "AP per class", "Training curves", "Provenance", "Configs")  # fmt: skip
    for title in titles:
        assert f"<h2>{title}</h2>" in page
    assert "No training curves" not in page
    runs = study_runs(Store(smoke), load_study("context_ratio"), smoke=True).finished
    assert all(r["run_key"] in page for r in runs)
    # differences (interval and seeds), study curve, AP per class, training curves
    assert_self_contained(page, images=4)
    assert [p.name for p in smoke_page.parent.iterdir()] == ["study.html"]  # no temp file left


def test_run_report(smoke, tmp_path):
    record = Store(smoke).list_runs()[0]
    out = tmp_path / "run.html"
    result = runner.invoke(
        app, ["report", "run", record["run_key"][:8], "--store", smoke, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert f"<h1>Run {record['run_key']}</h1>" in page
    assert f"{record['metrics']['mAP']:.2f}" in page and record["git_commit"] in page
    assert "model.context_ratio" in page and "member of study context_ratio (smoke)" in page
    assert_self_contained(page, images=2)  # AP per class, training curves


def test_a_study_without_curves_says_so(study_store, tmp_path):  # noqa: F811
    store, study, metrics = study_store
    page = study_page(store.url, tmp_path / "fake.html", str(study.path))
    assert "No training curves were recorded for these runs" in page
    weak = [metrics["weak", s]["mAP"] for s in (0, 1, 2)]
    assert f"{np.mean(weak):.1f} ± {np.std(weak, ddof=1):.1f}" in page
    assert_self_contained(page, images=3)  # differences, AP per class, study curve


def test_text_from_the_store_is_escaped_and_a_failed_run_reported(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"))
    config = {"seed": 0, "model": {"name": "<script>alert(1)</script>"}}
    store.link("s", "<i>arm</i>", 0, "bad0", "scac", config)
    owner = Owner.this_process()
    store.claim("bad0", owner, git_commit=None, versions={}, device="cpu")
    store.fail("bad0", owner, "RuntimeError: <b>out of memory</b>")
    out = tmp_path / "run.html"
    result = runner.invoke(app, ["report", "run", "bad0", "--store", store.url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "<script" not in page and "<i>" not in page and "<b>out" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "arm &lt;i&gt;arm&lt;/i&gt;" in page
    assert (
        "RuntimeError: &lt;b&gt;out of memory&lt;/b&gt;" in page and "No metrics recorded" in page
    )
    assert_self_contained(page, images=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["study", "no_such_study"], "unknown study 'no_such_study'"),
        (["study", "context_ratio"], "no finished run of study context_ratio"),  # only smoke runs
        (["study", "context_ratio", "--smoke", "--variant", "v9"], "has no variant 'v9'"),
        (["run", "zzzz"], "no run 'zzzz'"),
    ],
)
def test_errors_name_what_is_missing_and_write_nothing(smoke, tmp_path, args, message):
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", *args, "--store", smoke, "--out", str(out)])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser, or a skip (before the smoke study is run for nothing)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("headless Chromium not installed (apt-get install chromium; .ci/run installs it)")


def browse(chromium: str, page: Path, profile: Path, *args: str) -> str:
    """Chromium, headless and offline (every host name fails to resolve), on ``page``."""
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", *args,
        page.resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_in_a_browser_the_table_reads_and_the_page_is_drawn(chromium, smoke, smoke_page, tmp_path):
    dom = browse(chromium, smoke_page, tmp_path / "profile", "--dump-dom")
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())
    for row in terminal_rows(smoke, "context_ratio", smoke=True)[1:]:
        # the page collapses white space, so the reference row's empty cells leave none
        assert " ".join(" ".join(cell for cell, _ in row).split()) in text
    shot = tmp_path / "shot.png"
    browse(
        chromium,
        smoke_page,
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
    )
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.shape == (2000, 1280)
    assert (pixels < 240).mean() > 0.01 and pixels.std() > 20  # text, rules and figures drawn


def test_a_smoke_study_leaves_a_curve_per_run_and_plots_them_per_arm(smoke, tmp_path):
    """Issue 18: every run of `bench run study context_ratio --smoke` has its curve in the
    store (SCAC's terms, steps rising) and `bench plot curves --study ... --smoke` draws it."""
    store = Store(smoke, create=False)
    runs = store.list_runs(study="context_ratio")
    assert len(runs) == 5
    terms = {f"loss/{t}" for t in ("rpn_objectness", "rpn_box", "Lr", "Lp", "Ll_obj", "Ll_ctx")}
    for run in runs:
        rows = store.history([run["run_key"]])
        assert terms | {"loss", "lr", "grad_norm", "images_per_s", "epoch_loss"} <= {
            r["name"] for r in rows
        }
        steps = [r["step"] for r in rows if r["name"] == "loss"]
        assert len(steps) >= 2 and steps == sorted(set(steps))
    out = tmp_path / "curves.png"
    result = runner.invoke(bench, ["plot", "curves", "--study", "context_ratio", "--smoke",
                                   "--store", smoke, "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG) and out.stat().st_size > 20_000
