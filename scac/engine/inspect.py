"""What a finished SCAC run sees in one image: its patches, their context, their scores.

The model returns everything a drawing needs (patches, context patches, per-patch logits,
objectness); this module runs it on one image of the evaluation split and turns the output into
plain arrays (:class:`PatchView`). Drawing lives in the toolkit (``bench/plots/patches.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch

from scac.config import RunConfig
from scac.data.batch import collate
from scac.engine.run import Assembly, assemble, own_random_state
from scac.models.contract import MultiLabelModel
from scac.models.patches import ExpandPatches
from scac.models.pooling import AGGREGATIONS

if TYPE_CHECKING:
    from scac.models.scac import SCAC


@dataclass
class PatchView:
    """One image as a SCAC run saw it. Boxes are (x1, y1, x2, y2) pixels of ``image``.

    Attributes:
        image: (H, W, 3) uint8, the image at the model's input size.
        image_id: its id in the dataset.
        classes: the C class names; ``class_groups`` their groups (synthetic: ambiguous or
            distinct; empty strings elsewhere).
        targets: (C,) 0/1 ground-truth labels; ``gt_boxes`` (G, 4) and ``gt_labels`` (G,) the
            annotated boxes and their class indices.
        patches: (P, 4) the patches the label predictors read (the object branch's).
        context_patches: (P, 4) each patch expanded by ``ratio`` (None without a context branch).
        objectness: (P,) the patch classifier's probability that a patch holds an object.
        patch_probs: branch -> (P, C) each patch's label probability as pooled (after sigma and
            the patch score, e.g. gated by objectness).
        image_probs: branch -> (C,) the branch's image-level probabilities; ``fused`` (C,) the
            prediction.
        deciding: branch -> (C,) index of the patch with the highest score per class: the one
            that decides the label under ``max`` pooling (the largest term under the others).
        ratio: the context expansion ratio; ``aggregation`` the pooling.
    """

    image: np.ndarray
    image_id: int
    classes: list[str]
    class_groups: list[str]
    targets: np.ndarray
    gt_boxes: np.ndarray
    gt_labels: np.ndarray
    patches: np.ndarray
    context_patches: np.ndarray | None
    objectness: np.ndarray
    patch_probs: dict[str, np.ndarray]
    image_probs: dict[str, np.ndarray]
    fused: np.ndarray
    deciding: dict[str, np.ndarray]
    ratio: float | None
    aggregation: str


def load_finished(cfg: RunConfig, artifacts_dir: Path, cache_dir: Path) -> Assembly:
    """A finished run's model (its ``model.pt``, in eval mode, on the CPU) and datasets.

    Raises:
        FileNotFoundError: the run has no ``model.pt`` (not finished, or its artifacts gone).
    """
    weights = Path(artifacts_dir) / "model.pt"
    if not weights.is_file():
        raise FileNotFoundError(f"no trained model at {weights}: is the run finished?")
    with own_random_state():  # seeding the rebuild leaves the caller's generators alone
        parts = assemble(cfg, cache_dir, torch.device("cpu"))
    state = torch.load(weights, map_location="cpu", weights_only=True)
    parts.model.load_state_dict(state)
    parts.model.eval()
    return parts


def dataset_index(dataset, image_id: int) -> int:
    """The position of ``image_id`` in ``dataset`` (a clear error naming a few valid ids)."""
    ids = dataset.image_ids
    if image_id not in ids:
        raise KeyError(
            f"no image {image_id} in the evaluation split ({len(ids)} images, ids "
            f"{', '.join(map(str, ids[:5]))}, ...)"
        )
    return ids.index(image_id)


@torch.no_grad()
def patch_view(model: MultiLabelModel, dataset, image_id: int) -> PatchView:
    """Run ``model`` (a SCAC) on evaluation image ``image_id`` and keep what it saw.

    Raises:
        ValueError: a model without patches (the peer families).
        KeyError: no such image.
    """
    if model.shows != "patches":  # the model contract (scac.models.contract)
        raise ValueError(
            f"{type(model).__name__} has no object or context patches to draw; patch drawings "
            "are for models that show patches (SCAC)"
        )
    sample = dataset.sample(dataset_index(dataset, image_id), flip=False)
    if sample is None:
        raise KeyError(f"image {image_id} could not be read")
    batch = collate([sample])
    assert batch is not None
    scac = cast("SCAC", model)  # what a model that shows patches computes (the contract)
    model.eval()
    out = scac(batch.images)
    branches = {"object": out.object_logits, "context": out.context_logits}
    image_logits = {"object": out.image_object_logits, "context": out.image_context_logits}
    patch_probs, image_probs, deciding = {}, {}, {}
    for name, logits in branches.items():
        if logits is None:
            continue
        scores = scac.scoring.patch_scores(logits, out.patch_logits)  # (P, C) as pooled
        patch_probs[name] = torch.sigmoid(scores).numpy()
        image_probs[name] = torch.sigmoid(image_logits[name][0]).numpy()
        deciding[name] = scores.argmax(0).numpy() if len(scores) else np.zeros(0, np.int64)
    expand = scac.context_patches
    return PatchView(
        image=sample.image.permute(1, 2, 0).numpy(),
        image_id=int(image_id),
        classes=list(dataset.classes),
        class_groups=list(dataset.class_groups),
        targets=sample.labels.numpy().astype(np.uint8),
        gt_boxes=sample.boxes.numpy(),
        gt_labels=sample.box_labels.numpy(),
        patches=out.label_patches[0].numpy(),
        context_patches=None if out.context_patches is None else out.context_patches[0].numpy(),
        objectness=torch.sigmoid(out.patch_logits).numpy(),
        patch_probs=patch_probs,
        image_probs=image_probs,
        fused=out.scores[0].numpy(),
        deciding=deciding,
        ratio=None if expand is None else float(expand.ratio),
        aggregation=next(
            (n for n in AGGREGATIONS.names() if AGGREGATIONS.get(n) is scac.scoring.aggregation),
            "custom",
        ),
    )


@dataclass
class AttentionView:
    """One image as an SRN run saw it: its per-label attention maps (eq. 4).

    Attributes:
        image, image_id, classes, targets: as in :class:`PatchView`.
        attention: (C, h, w) the attention map of every label over the C4 grid.
        scores: (C,) the predicted probabilities.
    """

    image: np.ndarray
    image_id: int
    classes: list[str]
    targets: np.ndarray
    attention: np.ndarray
    scores: np.ndarray


@torch.no_grad()
def attention_view(model: MultiLabelModel, dataset, image_id: int) -> AttentionView:
    """Run an SRN on evaluation image ``image_id`` and keep its attention maps.

    Raises:
        ValueError: a model without attention maps; KeyError: no such image.
    """
    if model.shows != "attention":
        raise ValueError(f"{type(model).__name__} has no attention maps to draw")
    sample = dataset.sample(dataset_index(dataset, image_id), flip=False)
    if sample is None:
        raise KeyError(f"image {image_id} could not be read")
    model.eval()
    batch = collate([sample])
    assert batch is not None
    out = model(batch.images)
    return AttentionView(
        image=sample.image.permute(1, 2, 0).numpy(),
        image_id=int(image_id),
        classes=list(dataset.classes),
        targets=sample.labels.numpy().astype(np.uint8),
        attention=out.attention[0].float().numpy(),
        scores=out.scores[0].float().numpy(),
    )


def expanded(patches: np.ndarray, ratio: float, size: tuple[int, int]) -> np.ndarray:
    """(P, 4) ``patches`` expanded by ``ratio`` as the context branch does (``ExpandPatches``),
    clipped to an image of ``size`` (height, width)."""
    (out,) = ExpandPatches(ratio)([torch.from_numpy(patches).float()], [size])
    return out.numpy()
