"""Model families from other packages (issue 32, part 4): a throwaway package that declares a
``scac_bench.families`` entry point is pip-installed into a folder of the test's own; with that
folder on the path, its family is listed with its package, trains through ``bench run grid`` and
appears in ``bench report``. A second, broken package is one warning naming it, and every command
goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.store import Store

FAMILY = '''
"""A model family no paper has, from a package of its own."""

from dataclasses import dataclass

from scac.config_fields import Backbone, Positive
from scac.families import LossConfig, ModelConfig, ModelFamily


@dataclass(frozen=True)
class ToyConfig(ModelConfig):
    name: str = "toy"
    backbone: Backbone = "shallow"
    weights: str = "none"
    hidden: Positive = 8


@dataclass(frozen=True)
class ToyLossConfig(LossConfig):
    pass


class ToyFamily(ModelFamily):
    """A toy from another package: C5 max-pooled, then one hidden layer."""

    name = "toy"
    config = ToyConfig
    loss_config = ToyLossConfig
    tiny = {"model.hidden": 4, "model.backbone": "tiny"}

    def build(self, cfg, num_classes, pretrained=None):
        from toy_family_model import build

        return build(cfg, num_classes, pretrained)

    def objective(self, output, batch, settings):
        from scac.losses import label_loss, with_total

        y, mask = batch.labels, batch.label_mask
        return with_total({"cls": label_loss(output.logits, y, mask, settings.label_reduction)})
'''

MODEL = '''
"""The toy's modules: loaded when a model is built, not with its config."""

import torch
from torch import nn

from scac.models.baseline import ClassifierOutput
from scac.models.contract import MultiLabelModel
from scac.models.weights import build_backbone


class ToyModel(MultiLabelModel):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.level = backbone.features[-1].name

    def forward(self, images, gt_boxes=None):
        logits = self.head(self.backbone(images)[self.level].amax(dim=(2, 3)))  # (B, C)
        return ClassifierOutput(logits=logits, scores=torch.sigmoid(logits))


def build(cfg, num_classes, pretrained=None):
    backbone = build_backbone(cfg.backbone, (pretrained or {}).get("backbone"))
    width = backbone.features[-1].channels
    hidden = nn.Linear(width, cfg.hidden)
    head = nn.Sequential(hidden, nn.ReLU(), nn.Linear(cfg.hidden, num_classes))
    return ToyModel(backbone, head)
'''


def _package(root: Path, name: str, modules: dict[str, str], entry: str) -> Path:
    folder = root / name
    folder.mkdir()
    listed = ", ".join(f'"{m}"' for m in modules)
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name}"
            version = "0.1"

            [project.entry-points."scac_bench.families"]
            {entry}

            [tool.setuptools]
            py-modules = [{listed}]
            """)
    )
    for module, text in modules.items():
        (folder / f"{module}.py").write_text(text)
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder holding two installed plugin packages: a toy family, and a broken one."""
    root = tmp_path_factory.mktemp("plugins")
    toy = _package(
        root, "toy-family", {"toy_family": FAMILY, "toy_family_model": MODEL},
        'toy = "toy_family:ToyFamily"',
    )  # fmt: skip
    broken = _package(
        root, "broken-family",
        {"broken_family": 'raise ImportError("this family needs libfoo")\n'},
        'broken = "broken_family:Family"',
    )  # fmt: skip
    target = root / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(toy), str(broken)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def _bench(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "BENCH_STUDIES": str(cwd / "studies")}
    return subprocess.run(
        [sys.executable, "-m", "bench.cli.main", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_a_plugin_family_is_listed_with_its_package_and_a_broken_one_warns(site, tmp_path):
    done = _bench(site, tmp_path, "model", "list")
    assert done.returncode == 0, done.stderr
    assert "toy-family 0.1" in done.stdout and "toy_family:ToyFamily" in done.stdout
    assert "built in: scac.families.spatial_context" in done.stdout  # the others still there
    warned = [line for line in done.stderr.splitlines() if "PluginWarning" in line]
    assert len(warned) == 1 and "'broken'" in warned[0] and "broken-family 0.1" in warned[0]
    assert "this family needs libfoo" in warned[0] and "Traceback" not in done.stderr


def test_a_plugin_family_trains_through_a_grid_and_appears_in_the_report(site, tmp_path):
    store = str(tmp_path / "s.sqlite")
    done = _bench(
        site, tmp_path, "run", "grid", "baseline-synth", "--vary", "model.hidden=4,8",
        "--set", "model.name=toy", "--name", "toys", "--smoke", "--store", store,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "studies" / "toys.toml").is_file()
    runs = Store(store).list_runs(study="toys")
    assert len(runs) == 2 and {r["state"] for r in runs} == {"finished"}
    assert {r["config"]["model"]["name"] for r in runs} == {"toy"}
    assert sorted(r["config"]["model"]["hidden"] for r in runs) == [4, 8]
    page = tmp_path / "toys.html"
    report = _bench(site, tmp_path, "report", "study", "toys", "--smoke", "--store", store,
                    "--out", str(page))  # fmt: skip
    assert report.returncode == 0, report.stdout + report.stderr
    text = page.read_text()
    assert "hidden=4" in text and "hidden=8" in text and "model.name" in text
