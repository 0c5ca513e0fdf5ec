"""What names a run: its key, from its config, its data, its weights and its numerics path.

Every name here is computed without torch (and without reading an image or training a
weight), so planning a study, checking what is finished and printing a table stay light:

* :func:`data_identity`: the synthetic generator's settings, or the hash of the annotation files;
* :func:`weights_identity`: the pretrained parts a run loads (their settings, or their files'
  digests), as the model family declares them;
* :func:`run_identity`: the run key, a hash of the resolved config with the two above, the
  numerics path (:func:`scac.numerics.identity`) and ``scac.RESULTS_VERSION``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import scac
from scac.config import RunConfig, config_hash
from scac.data.errors import DatasetError
from scac.data.version import GENERATOR_VERSION
from scac.engine.pretrain_settings import DetectorPretrainSettings, PretrainSettings
from scac.families import FAMILIES, PretrainedPart
from scac.sections import DataConfig

_DIGESTS: dict[tuple, str] = {}
_FINGERPRINTS: dict[tuple, str] = {}


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


def annotations_fingerprint(*sources: Path) -> str:
    """Hash of the annotation files (a VOC folder: its split lists and XML files), memoised."""
    files = []
    for src in dict.fromkeys(sources):
        if src.is_dir():
            files += sorted([*src.glob("ImageSets/Main/*.txt"), *src.glob("Annotations/*.xml")])
        else:
            files.append(src)
    key = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if key not in _FINGERPRINTS:
        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
        _FINGERPRINTS[key] = h.hexdigest()[:16]
    return _FINGERPRINTS[key]


def configured_root(cfg: DataConfig) -> Path:
    """The dataset folder ``data.root`` names; a missing one is a ``DatasetError`` saying so."""
    if not cfg.root:
        raise DatasetError(
            f"data.root must name the dataset folder for data.format={cfg.format!r} "
            f"(bench train RECIPE --data PATH)"
        )
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    return root


def data_fingerprint(cfg: DataConfig, root: Path | None = None) -> str:
    """What identifies a run's data: the synthetic generator's settings (the default benchmark,
    generated from them), or the hash of the annotation files under ``root`` (default: the
    configured ``data.root``)."""
    if cfg.format == "synth" and not cfg.root:
        s = cfg.synth
        return f"synth-v{GENERATOR_VERSION}-{s.seed}-{s.train}-{s.val}-{s.canvas}"
    if root is None:
        root = configured_root(cfg)
    if cfg.format == "voc":
        return annotations_fingerprint(root)
    splits = (cfg.train_split, cfg.val_split)
    return annotations_fingerprint(*(root / "annotations" / f"instances_{s}.json" for s in splits))


def data_identity(cfg: RunConfig) -> str:
    """What identifies the data of ``cfg`` (part of its run key)."""
    return data_fingerprint(cfg.data)


def pretrained_parts(cfg: RunConfig) -> tuple[PretrainedPart, ...]:
    """The pretrained parts ``cfg``'s model loads, as its family declares them."""
    return FAMILIES.get(cfg.model.name).pretrained_parts(cfg.model, cfg.data)


def source_identity(source: str) -> str:
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
    for part in pretrained_parts(cfg):
        if part.part == "backbone":
            texts.append(source_identity(part.source))
        elif part.source == "synthetic":
            settings = json.dumps(asdict(DetectorPretrainSettings()), sort_keys=True)
            shape = json.dumps(part.shape, sort_keys=True)
            texts.append(f"detector-synthetic-{shape}-{settings}")
        else:
            texts.append(f"{part.part}-{source_identity(part.source)}")
    return "|".join(texts)


def run_identity(cfg: RunConfig, numerics: str) -> str:
    """The run key: a hash of the resolved config, the data, the weights, the numerics path and
    the results version.

    Args:
        cfg: the resolved config.
        numerics: the numerics path it computes on (:func:`scac.numerics.identity` of the run's
            device): the same config on another path gives other numbers, so another key.

    ``scac.RESULTS_VERSION`` changes whenever a code change alters the numbers of a config, so
    runs of an older version are not mistaken for current ones.
    """
    return config_hash(
        cfg,
        data_identity(cfg),
        weights_identity(cfg),
        f"numerics {numerics}",
        f"results-v{scac.RESULTS_VERSION}",
    )
