"""Stored predictions: the scores of every image x class of a run, re-scorable under any protocol.

Saved as one ``.npz`` file (``scores`` float32 probabilities, ``logits`` float32 log-odds,
``targets`` uint8, ``mask`` bool, ``image_ids`` int64, ``classes`` and ``class_groups`` as
strings), readable without the library. The logits carry the exact order: float32
probabilities tie at 1.0 above a logit of about 17, so ranking them can lose what the model
said. Files written before the logits were stored (no ``logits`` entry) still load, with
``logits`` None.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass
class Predictions:
    """Scores of one model on one split.

    Attributes:
        scores: (N, C) float32 probabilities.
        targets: (N, C) uint8 0/1 labels.
        mask: (N, C) bool, False where the label is ignored in evaluation (e.g. VOC difficult).
        image_ids: (N,) int64 dataset image ids.
        classes: C class names.
        class_groups: C group names (e.g. ``ambiguous``), empty strings when the data has none.
        logits: (N, C) float32 log-odds of ``scores``, or None (files from before they were kept).
    """

    scores: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    image_ids: np.ndarray
    classes: list[str]
    class_groups: list[str]
    logits: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, c = self.scores.shape
        shapes = [self.targets.shape, self.mask.shape]
        if self.logits is not None:
            shapes.append(self.logits.shape)
        if any(shape != (n, c) for shape in shapes):
            raise ValueError(
                f"predictions: scores {self.scores.shape}, targets {self.targets.shape}, "
                f"mask {self.mask.shape} and logits "
                f"{None if self.logits is None else self.logits.shape} must all be (N, C)"
            )
        if len(self.classes) != c or len(self.class_groups) != c or len(self.image_ids) != n:
            raise ValueError("predictions: class names, groups and image ids must match the scores")

    def values(self, kind: str = "best") -> tuple[np.ndarray, str]:
        """(N, C) values to score and their kind (``logit`` or ``probability``).

        Args:
            kind: ``best`` (the logits when stored, which keep every order; else the
                probabilities), ``logit`` (raises when the file has none) or ``probability``.
        """
        if kind not in ("best", "logit", "probability"):
            raise ValueError(f"kind must be best, logit or probability; got {kind!r}")
        if kind == "probability" or (kind == "best" and self.logits is None):
            return self.scores, "probability"
        if self.logits is None:
            raise ValueError("these predictions were stored without logits")
        return self.logits, "logit"

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(scores, targets, mask) as torch tensors."""
        import torch

        return (
            torch.from_numpy(self.scores),
            torch.from_numpy(self.targets.astype(np.float32)),
            torch.from_numpy(self.mask),
        )

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` (``.npz``), atomically."""
        path = Path(path)
        tmp = path.with_suffix(".tmp.npz")
        arrays: dict[str, Any] = {}
        if self.logits is not None:
            arrays["logits"] = self.logits.astype(np.float32)
        np.savez_compressed(
            tmp,
            **arrays,
            scores=self.scores.astype(np.float32),
            targets=self.targets.astype(np.uint8),
            mask=self.mask.astype(bool),
            image_ids=self.image_ids.astype(np.int64),
            classes=np.array(self.classes),
            class_groups=np.array(self.class_groups),
        )
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Predictions:
        """Read a file written by :meth:`save`; a missing or malformed file names itself."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"predictions file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as f:
                loaded = cls(
                    scores=f["scores"],
                    targets=f["targets"],
                    mask=f["mask"],
                    image_ids=f["image_ids"],
                    classes=[str(c) for c in f["classes"]],
                    class_groups=[str(g) for g in f["class_groups"]],
                    logits=f["logits"] if "logits" in f.files else None,
                )
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            reason = str(err) or type(err).__name__
            raise ValueError(f"not a readable predictions file: {path} ({reason})") from None
        loaded._check_views(path)
        return loaded

    def _check_views(self, path: Path) -> None:
        """Warn when the logits and the scores say different things: the metrics rank by the
        logits, and a file edited (or written by other code) in one view only would otherwise
        be scored by it without a word."""
        if self.logits is None:
            return
        with np.errstate(over="ignore"):
            implied = 1 / (1 + np.exp(-self.logits.astype(np.float64)))
        gap = np.abs(implied - self.scores.astype(np.float64))
        wrong = gap > 1e-4  # float32 probabilities hold about 7 digits
        if wrong.any():
            warnings.warn(
                f"predictions file {path}: its logits disagree with its scores on "
                f"{int(wrong.sum())} of {wrong.size} entries (largest gap {gap.max():.3g}); the "
                "metrics rank by the logits",
                UserWarning,
                stacklevel=3,
            )
