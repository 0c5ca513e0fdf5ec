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


def test_what_changes_the_pretrained_weights_is_in_their_cache_key():
    """The head's trunks are not pretrained, but building them draws from the generator the
    pretraining's sampling reads: separate trunks pretrain to other weights, so the detector's
    shape (its cache key and part of every run key) names them."""
    import dataclasses

    from scac.families.spatial_context import detector_shape

    shared = dataclasses.replace(tiny_model("scac"), head_trunks="shared")
    separate = dataclasses.replace(shared, head_trunks="separate")
    states = [
        pretrain_detector(lambda _p, cfg=cfg: build_model(cfg, 3), 64, None, SETTINGS)[0]
        for cfg in (shared, separate)
    ]
    assert any(not torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert detector_shape(shared, 64) != detector_shape(separate, 64)
    assert "head_trunks" not in detector_shape(shared, 64)  # earlier weights keep their name
