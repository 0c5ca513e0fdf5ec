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

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from scac.announce import Announce, quiet
from scac.config import RunConfig
from scac.data.scenes import GENERATOR_VERSION
from scac.engine.datasets import data_fingerprint, dataset_root
from scac.engine.pretrain import PretrainSettings, synthetic_backbone_weights
from scac.engine.pretrain_detector import DetectorPretrainSettings, synthetic_detector_weights
from scac.families import FAMILIES, PretrainedPart
from scac.models.weights import resolve_weights

_DIGESTS: dict[tuple, str] = {}


def file_digest(path: Path) -> str:
    """The first 16 hex digits of a file's SHA-256, memoised while the file is unchanged."""
    st = path.stat()
    signature = (str(path), st.st_size, st.st_mtime_ns)
    if signature not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[signature] = h.hexdigest()[:16]
    return _DIGESTS[signature]


@dataclass(frozen=True)
class Assets:
    """A run's files on disk.

    Attributes:
        data_root: the dataset folder.
        pretrained: the pretrained state-dict files, by part (``backbone``, ``detector``).
    """

    data_root: Path
    pretrained: dict[str, Path]


def _parts(cfg: RunConfig) -> tuple[PretrainedPart, ...]:
    return FAMILIES.get(cfg.model.name).pretrained_parts(cfg.model, cfg.data)


def _source_identity(source: str) -> str:
    """The identity of a backbone's ``weights`` value without making the weights."""
    if source in ("none", "imagenet", "imagenet-v2"):
        return source
    if source == "synthetic":
        settings = json.dumps(asdict(PretrainSettings()), sort_keys=True)
        return f"synthetic-g{GENERATOR_VERSION}-{settings}"
    path = Path(source).expanduser()
    return f"file-{file_digest(path)}" if path.is_file() else f"missing:{path}"


def weights_identity(cfg: RunConfig) -> str:
    """What identifies the pretrained weights of ``cfg`` (part of its run key)."""
    texts = []
    for part in _parts(cfg):
        if part.part == "backbone":
            texts.append(_source_identity(part.source))
        elif part.source == "synthetic":
            settings = json.dumps(asdict(DetectorPretrainSettings()), sort_keys=True)
            shape = json.dumps(part.shape, sort_keys=True)
            texts.append(f"detector-synthetic-{shape}-{settings}")
        else:
            texts.append(f"{part.part}-{_source_identity(part.source)}")
    return "|".join(texts)


def data_identity(cfg: RunConfig) -> str:
    """What identifies the data: the synthetic generator's settings, or the annotations' hash."""
    return data_fingerprint(cfg.data, Path("."))


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
    for part in _parts(cfg):
        if part.source == "none":
            continue
        if part.part == "backbone":
            if part.source == "synthetic":
                path = synthetic_backbone_weights(
                    part.backbone, cache_dir, progress=progress, announce=announce
                )
            else:
                path = resolve_weights(part.source, part.backbone)
        elif part.source == "synthetic":
            backbone = out.get("backbone")
            identity = _source_identity(cfg.model.weights)
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
