"""What a run needs on disk before it trains, and what identifies it: data and pretrained weights.

:func:`ensure_assets` makes sure both exist, once per run and on rank 0 first under torchrun:
the synthetic dataset is generated on first use, synthetic pretrained weights are trained on
first use (``scac.engine.pretrain``, ``scac.engine.pretrain_detector``), the others are found
(a file, or torchvision's ImageNet weights in the local hub cache). A model family declares the
parts it loads (:meth:`scac.families.ModelFamily.pretrained_parts`); this module knows how each
kind of part is made. :func:`weights_identity` and :func:`data_identity` say what the run key
holds of them without making them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scac.announce import Announce, quiet
from scac.config import RunConfig
from scac.engine.datasets import dataset_root
from scac.engine.identity import (  # noqa: F401 - data_identity ... are this module's API too
    data_identity,
    file_digest,
    pretrained_parts,
    source_identity,
    weights_identity,
)
from scac.engine.pretrain import synthetic_backbone_weights
from scac.engine.pretrain_detector import synthetic_detector_weights
from scac.models.weights import resolve_weights


@dataclass(frozen=True)
class Assets:
    """A run's files on disk.

    Attributes:
        data_root: the dataset folder.
        pretrained: the pretrained state-dict files, by part (``backbone``, ``detector``).
    """

    data_root: Path
    pretrained: dict[str, Path]


def pretrained_files(
    cfg: RunConfig,
    cache_dir: Path,
    progress: Callable[[int, int, float], None] | None = None,
    announce: Announce = quiet,
) -> dict[str, Path]:
    """The pretrained state-dict files of ``cfg`` by part, training synthetic ones on first use
    (each inside ``announce(what)``).

    Raises:
        FileNotFoundError: a named file is missing (ImageNet weights: the file and folder
            expected, and where to fetch them).
    """
    out: dict[str, Path] = {}
    for part in pretrained_parts(cfg):
        if part.source == "none":
            continue
        path: Path | None
        if part.part == "backbone":
            if part.source == "synthetic":
                path = synthetic_backbone_weights(
                    part.backbone, cache_dir, progress=progress, announce=announce
                )
            else:
                path = resolve_weights(part.source, part.backbone)
        elif part.source == "synthetic":
            assert part.model is not None, "a synthetic detector names the model it trains"
            backbone = out.get("backbone")
            identity = source_identity(cfg.model.weights)
            path = synthetic_detector_weights(
                part.model,
                part.shape,
                cache_dir,
                backbone,
                identity,
                progress=progress,
                announce=announce,
            )
        else:
            path = Path(part.source).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"{part.part} weights file not found: {path}")
        if path is not None:
            out[part.part] = path
    return out


def ensure_assets(
    cfg: RunConfig,
    cache_dir: Path,
    announce: Announce = quiet,
) -> Assets:
    """The dataset folder and pretrained files of ``cfg``, made on first use (cheap after);
    ``announce(what)`` wraps each thing made (a progress display)."""
    root = dataset_root(cfg.data, cache_dir, announce)
    return Assets(root, pretrained_files(cfg, cache_dir, announce=announce))
