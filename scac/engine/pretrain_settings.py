"""How the synthetic backbone and detector are pretrained: settings as plain data.

They are part of the pretrained weights' cache key and of every synthetic run key
(:mod:`scac.engine.identity`), which are computed without torch; the pretrainings themselves are
in :mod:`scac.engine.pretrain` and :mod:`scac.engine.pretrain_detector`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PretrainSettings:
    """How the synthetic backbone is pretrained (part of the cache key)."""

    images: int = 4000
    epochs: int = 3
    batch_size: int = 32
    lr: float = 0.1
    seed: int = 0
    canvas: int = 128
    threads: int = 2  # CPU threads: they change the weights' last bits (scac.engine.numerics)


@dataclass(frozen=True)
class DetectorPretrainSettings:
    """How the synthetic detector is pretrained (part of the cache key)."""

    images: int = 3000
    epochs: int = 2
    batch_size: int = 16
    lr: float = 0.02
    seed: int = 0
    canvas: int = 128
    held_out: int = 200  # scenes after the training ones, to measure proposal recall
    threads: int = 2  # CPU threads: they change the weights' last bits (scac.engine.numerics)
