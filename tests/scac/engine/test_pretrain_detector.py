"""The synthetic detector pretraining (stage 2: the FPN and RPN on a frozen backbone), at a size
that runs in seconds: it trains the detector parts and only them, repeats itself exactly, and
measures its proposals' recall on held-out scenes."""

from __future__ import annotations

import pytest
import torch

from scac.engine.pretrain_detector import pretrain_detector
from scac.engine.pretrain_settings import DetectorPretrainSettings
from scac.families import build_model
from scac.testing import tiny_model

pytestmark = pytest.mark.own_rng  # it seeds the global generator, as a run does

SETTINGS = DetectorPretrainSettings(images=8, epochs=1, batch_size=4, held_out=4)


def _make(_backbone_path):
    return build_model(tiny_model("scac"), 3)


def test_it_trains_the_fpn_and_rpn_and_repeats_itself():
    torch.manual_seed(SETTINGS.seed)
    start = _make(None).state_dict()  # the weights it starts from (it seeds the same way)
    state, report = pretrain_detector(_make, 64, None, SETTINGS)
    assert state and {k.split(".")[0] for k in state} == {"neck", "object_patches"}
    moved = [k for k, v in state.items() if v.is_floating_point() and not torch.equal(v, start[k])]
    assert any(k.startswith("neck.") for k in moved)
    assert any(k.startswith("object_patches.") for k in moved)
    assert 0.0 <= report["proposal_recall@0.5"] <= 1.0
    again, _ = pretrain_detector(_make, 64, None, SETTINGS)
    assert all(torch.equal(state[k], again[k]) for k in state)  # the same bits, run again
