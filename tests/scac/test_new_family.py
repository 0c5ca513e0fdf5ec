"""A new model family is one file: this test file alone registers one, and it joins the contract
suite and trains through a smoke study with the toolkit, touching nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from bench.cli.main import app
from bench.store import Store
from scac.config_fields import Backbone, Positive
from scac.families import FAMILIES, LossConfig, ModelConfig, ModelFamily
from scac.losses import label_loss, with_total
from scac.models.baseline import ClassifierOutput
from scac.models.contract import MultiLabelModel
from scac.models.weights import build_backbone
from tests.scac.models import test_contract as contract

# models are built with random weights and fed random inputs from the global generators
pytestmark = pytest.mark.own_rng


@dataclass(frozen=True)
class ToyConfig(ModelConfig):
    """C5, max-pooled, then a hidden layer: a model no paper has."""

    name: str = "toy"
    backbone: Backbone = "tiny"
    hidden: Positive = 8


@dataclass(frozen=True)
class ToyLossConfig(LossConfig):
    pass


class ToyModel(MultiLabelModel):
    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head
        self.level = backbone.features[-1].name

    def forward(self, images, gt_boxes=None) -> ClassifierOutput:
        logits = self.head(self.backbone(images)[self.level].amax(dim=(2, 3)))  # (B, C)
        return ClassifierOutput(logits=logits, scores=torch.sigmoid(logits))


class ToyFamily(ModelFamily):
    name = "toy"
    config = ToyConfig
    loss_config = ToyLossConfig
    tiny = {"model.hidden": 4}

    def build(self, cfg, num_classes, pretrained=None):
        backbone = build_backbone(cfg.backbone, (pretrained or {}).get("backbone"))
        width = backbone.features[-1].channels
        head = nn.Sequential(
            nn.Linear(width, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, num_classes)
        )
        return ToyModel(backbone, head)

    def objective(self, output, batch, settings):
        y, mask = batch.labels, batch.label_mask
        return with_total({"cls": label_loss(output.logits, y, mask, settings.label_reduction)})


@pytest.fixture
def toy():
    """The toy family, registered for one test."""
    FAMILIES.add("toy", ToyFamily())
    yield
    FAMILIES.remove("toy")


def test_the_new_family_passes_the_contract_suite(toy):
    contract.test_every_family_has_its_configs_and_a_tiny_model()
    for mode in ("train", "eval"):
        contract.test_output_is_probabilities_of_every_class("toy", mode)
    for fill in (0.0, 1.0):
        contract.test_losses_are_finite_and_total_is_the_sum("toy", fill)
    contract.test_every_trainable_parameter_receives_a_gradient("toy")
    contract.test_unknown_labels_count_neither_way("toy")


def test_the_new_family_trains_in_a_smoke_study(toy, tmp_path):
    study = tmp_path / "toy.toml"
    study.write_text(
        'question = "Does a new family run?"\nrecipe = "synth"\nseeds = [0]\n'
        'set = { "data.synth.train" = 12, "data.synth.val" = 8, '
        '"train.phases.0.freeze" = ["backbone"] }\n'
        '[[arms]]\nname = "toy"\nreason = "the new family"\nset = { "model.name" = "toy" }\n'
        '[[arms]]\nname = "wider"\nreason = "its own key"\n'
        'set = { "model.name" = "toy", "model.hidden" = 16 }\n'
    )
    store = str(tmp_path / "s.sqlite")
    result = CliRunner().invoke(app, ["run", "study", str(study), "--smoke", "--store", store])
    assert result.exit_code == 0, result.output
    runs = {r["arm"]: r for r in Store(store).list_runs(study="toy")}
    assert {r["state"] for r in runs.values()} == {"finished"}
    assert runs["wider"]["config"]["model"] == {
        "name": "toy",
        "backbone": "tiny",
        "weights": "none",
        "hidden": 16,
    }
    assert Path(runs["toy"]["artifacts"], "predictions.npz").is_file()


class Unkept(ToyFamily):
    """A family whose model does not implement the contract."""

    def build(self, cfg, num_classes, pretrained=None):
        return nn.Linear(2, num_classes)


def test_a_model_outside_the_contract_is_refused_naming_its_family(toy):
    from scac.families import build_model

    FAMILIES.remove("toy")
    FAMILIES.add("toy", Unkept())
    with pytest.raises(TypeError, match="family 'toy' built a Linear, which is not a "):
        build_model(ToyConfig(), 3)
