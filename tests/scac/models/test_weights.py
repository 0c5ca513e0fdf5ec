"""Weights never download by surprise; mismatched state dicts say which keys."""

from __future__ import annotations

import pytest
import torch

from scac.models import build_backbone
from scac.models.weights import imagenet_checkpoint, resolve_weights

# models are built with random weights and fed random inputs from the global generators
pytestmark = pytest.mark.own_rng


def test_imagenet_weights_absent_names_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected, url = imagenet_checkpoint("resnext101_32x8d")
    assert expected.parent == tmp_path / "hub" / "checkpoints"
    with pytest.raises(FileNotFoundError) as err:
        resolve_weights("imagenet", "resnext101_32x8d")
    assert (
        expected.name in str(err.value)
        and str(expected.parent) in str(err.value)
        and url in str(err.value)
    )


def test_imagenet_weights_present_in_the_cache_load(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    path, _ = imagenet_checkpoint("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(net.state_dict(), path)  # torchvision's layout, classifier included
    backbone = build_backbone("resnet18", resolve_weights("imagenet", "resnet18"))
    assert torch.equal(backbone.body.conv1.weight, net.conv1.weight)


def test_mismatched_state_dict_lists_missing_and_unexpected_keys(tmp_path):
    state = build_backbone("tiny").state_dict()
    state.pop("stem.0.weight")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(
        ValueError, match=r"missing keys: stem.0.weight; unexpected keys: extra.weight"
    ):
        build_backbone("tiny", path)
    with pytest.raises(FileNotFoundError, match="backbone weights file not found"):
        resolve_weights(str(tmp_path / "none.pt"), "tiny")
