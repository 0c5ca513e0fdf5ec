"""No dead switch: every field of every model and loss section changes what the model computes.

A config key that changes the run key but not the run would let an ablation report "no effect"
for a switch that is not wired (issue 17 found ``model.gt_patches_in_training``). For every
family and every field of its ``model`` and ``loss`` sections, another value must change the
eval-mode scores or the training loss terms on a fixed batch, from the same random start.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import torch

from scac.config_fields import Registered
from scac.data.batch import Batch
from scac.families import FAMILIES, build_model
from scac.testing import tiny_model

pytestmark = pytest.mark.own_rng  # models with random weights, seeded the same for both values

C = 5
# where halving or flipping would not reach the tiny batch (a handful of patches per image)
ALTERNATIVE = {
    "patch_batch_size": 1,
    "rpn_batch_size": 2,
    "context_ratio": 4.0,
    "rpn_pre_nms_top_n": 1,
    "rpn_nms_thresh": 0.01,
    "patch_fg_iou": 0.05,
    "mask_ratio": 0.5,
    "input_size": 128,
}
# a sampling share matters only when the sample is full: set a small sample in both runs; a
# learnable sigma needs a reading that can learn (a loss weight would vanish)
CONTEXT = {
    "patch_positive_fraction": {"patch_batch_size": 8},
    "rpn_positive_fraction": {"rpn_batch_size": 2},
    "learn_sigma": {"sigma_reading": "logit"},
}
# values that only work together with another change (no partial branch without the full one)
COMPANIONS = {"full": {"partial": False}}


def _alternative(value, tp):
    """Another valid value of a field of type ``tp`` (its choices, range, registry)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *marks = typing.get_args(tp)
        for mark in marks:
            if isinstance(mark, Registered):  # another name of the registry (a small backbone)
                names = [n for n in mark.names() if n != value]
                return "shallow" if "shallow" in names else names[0]
        return _alternative(value, base)
    if origin is typing.Literal:
        return next(c for c in typing.get_args(tp) if c != value)
    if origin is tuple:
        if value and isinstance(value[0], str):
            return value[:1] if len(value) > 1 else None
        return tuple(type(v)(v / 2) if v / 2 >= 1 or isinstance(v, float) else v + 1 for v in value)
    if tp is bool:
        return not value
    if tp is int:
        return value // 2 if value >= 2 else value + 1
    if tp is float:
        return value / 2 if value > 0 else 0.5
    return None


def _batch(side: int) -> Batch:
    g = torch.Generator().manual_seed(0)
    labels = torch.zeros(2, C)
    labels[0, [0, 3]] = 1
    labels[1, 1] = 1
    boxes = [
        torch.tensor([[4.0, 4.0, 28.0, 30.0], [30.0, 20.0, 60.0, 50.0]]),
        torch.tensor([[10.0, 12.0, 40.0, 44.0]]),
    ]
    return Batch(
        images=torch.randn(2, 3, side, side, generator=g),
        boxes=boxes,
        box_labels=[torch.tensor([0, 3]), torch.tensor([1])],
        labels=labels,
        label_mask=torch.ones(2, C, dtype=torch.bool),
        image_ids=torch.arange(2),
        flipped=torch.zeros(2, dtype=torch.bool),
        indices=torch.arange(2),
    )


def _computes(name: str, model_cfg, loss_cfg) -> list[torch.Tensor]:
    """(eval scores, every training loss term, which parameters train) on the fixed batch."""
    family = FAMILIES.get(name)
    side = getattr(model_cfg, "input_size", 64)
    batch = _batch(side)
    torch.manual_seed(0)
    model = build_model(model_cfg, C, _pretrained(model_cfg))
    torch.manual_seed(1)
    terms = family.objective(model.train()(batch.images, batch.boxes), batch, loss_cfg)
    scores = model.eval()(batch.images).scores
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    learnt = torch.tensor([hash(n) % 2**31 for n in trained])  # a learnable scale is a switch too
    return [scores.detach(), learnt, *(terms[k].detach() for k in sorted(terms))]


def _pretrained(model_cfg) -> dict[str, Path]:
    """The files a ``weights`` / ``detector_weights`` path names, by part."""
    out = {}
    for field, part in (("weights", "backbone"), ("detector_weights", "detector")):
        value = getattr(model_cfg, field, "none")
        if value != "none":
            out[part] = Path(value)
    return out


def _weights_files(tmp: Path, name: str, model_cfg) -> dict[str, Path]:
    """Files for the ``weights`` / ``detector_weights`` alternatives: another random start."""
    torch.manual_seed(7)
    other = build_model(model_cfg, C)
    backbone = tmp / f"{name}-backbone.pt"
    torch.save(other.backbone.state_dict(), backbone)
    files = {"weights": backbone}
    if hasattr(other, "neck"):
        detector = tmp / f"{name}-detector.pt"
        parts = ("neck", "object_patches")
        state = {k: v for k, v in other.state_dict().items() if k.split(".")[0] in parts}
        torch.save(state, detector)
        files["detector_weights"] = detector
    return files


def _cases():
    for name in FAMILIES.names():
        family = FAMILIES.get(name)
        for section, cls in (("model", family.config), ("loss", family.loss_config)):
            for f in dataclasses.fields(cls):
                if f.name != "name":
                    yield pytest.param(name, section, f.name, id=f"{name}-{section}.{f.name}")


@pytest.mark.parametrize(("name", "section", "key"), list(_cases()))
def test_every_field_changes_what_the_model_computes(name, section, key, tmp_path):
    family = FAMILIES.get(name)
    model_cfg, loss_cfg = tiny_model(name), family.loss_config()
    if section == "loss":
        loss_cfg = dataclasses.replace(loss_cfg, **CONTEXT.get(key, {}))
    else:
        model_cfg = dataclasses.replace(model_cfg, **CONTEXT.get(key, {}))
    base = _computes(name, model_cfg, loss_cfg)
    target = model_cfg if section == "model" else loss_cfg
    hints = typing.get_type_hints(type(target), include_extras=True)
    value = getattr(target, key)
    if key in ("weights", "detector_weights"):
        other = str(_weights_files(tmp_path, name, model_cfg)[key])
    else:
        other = ALTERNATIVE.get(key, _alternative(value, hints[key]))
    assert other is not None and other != value, f"no alternative value for {section}.{key}"
    changed = dataclasses.replace(target, **{key: other, **COMPANIONS.get(key, {})})
    now = _computes(name, *((changed, loss_cfg) if section == "model" else (model_cfg, changed)))
    same = len(now) == len(base) and all(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(base, now, strict=True)
    )
    assert not same, f"{name}: {section}.{key} = {other!r} instead of {value!r} changes nothing"
