"""Backbone weights: from the local torch hub cache or a file, never a surprise download.

``weights`` in a model config is one of:

* ``none``: random initialisation;
* ``imagenet`` / ``imagenet-v2``: torchvision's ImageNet weights (``IMAGENET1K_V1``, the
  original release the papers used, or ``IMAGENET1K_V2``), read from the torch hub cache
  (``$TORCH_HOME/hub/checkpoints``). When the file is absent the error names the exact file
  and folder, and the URL to fetch it from on a machine with internet access;
* ``synthetic``: the tiny backbone pretrained on the synthetic shapes (``scac.engine.pretrain``);
* any other string: a path to a state dict, loaded with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models import get_model_weights

from scac.models.backbones import BACKBONES, Backbone


def imagenet_checkpoint(backbone: str, version: str = "IMAGENET1K_V1") -> tuple[Path, str]:
    """(expected local file, download URL) of torchvision's ImageNet weights for ``backbone``."""
    try:
        enum = get_model_weights(backbone)
    except ValueError:
        raise ValueError(f"no torchvision ImageNet weights for backbone {backbone!r}") from None
    url = enum[version].url
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return folder / os.path.basename(url), url


def resolve_weights(weights: str, backbone: str) -> Path | None:
    """The state-dict file that ``weights`` names for ``backbone`` (None for random init).

    Raises:
        FileNotFoundError: the file is not on disk; the message says where it must go.
        ValueError: ``synthetic`` (resolved by the engine, which trains it on first use).
    """
    if weights == "none":
        return None
    if weights in ("imagenet", "imagenet-v2"):
        version = "IMAGENET1K_V1" if weights == "imagenet" else "IMAGENET1K_V2"
        path, url = imagenet_checkpoint(backbone, version)
        if not path.is_file():
            raise FileNotFoundError(
                f"ImageNet weights for {backbone} are not in the local torch hub cache: expected "
                f"{path.name} in {path.parent}. Offline, nothing is downloaded: fetch {url} on a "
                f"machine with internet access and copy it there (or set TORCH_HOME), or pass a "
                f"path with model.weights=PATH."
            )
        return path
    if weights == "synthetic":
        raise ValueError(
            "weights 'synthetic' are produced by scac.engine.pretrain, not resolved here"
        )
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights file not found: {path}")
    return path


def load_failure(err: Exception) -> str:
    """One line saying why a weights-only ``torch.load`` failed. torch's own message spans
    many lines and advises loading again with ``weights_only=False``, which would run the
    file's code: only the unpickler's complaint is kept, never that advice."""
    text = str(err)
    marker = "WeightsUnpickler error:"
    if marker in text:  # the first sentence of the unpickler's own complaint
        detail = text.split(marker, 1)[1].strip().split("\n", 1)[0].split(". ", 1)[0]
        return f"torch's weights-only unpickler refused it: {detail.rstrip('.')}"
    if "weights_only" in text:  # the advice without the complaint: say what it means
        return "it holds objects a weights-only load refuses (it could run code)"
    detail = " ".join(text.split())[:200]
    return f"truncated or not a torch file: {type(err).__name__}" + (
        f": {detail}" if detail else ""
    )


def load_state_dict_file(path: Path) -> dict:
    """A state dict read weights-only (no code in the file runs); an error names the file.

    Raises:
        ValueError: the file is not a state dict torch's weights-only unpickler accepts.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - truncated, foreign or unsafe: all unreadable
        raise ValueError(f"cannot read state dict {path} safely ({load_failure(err)})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def load_backbone_weights(backbone: nn.Module, path: Path) -> None:
    """Load a state dict into ``backbone``, accepting torchvision's own key layout.

    A torchvision classification checkpoint (``conv1.weight``, ..., ``fc.weight``) loads into
    the trunk; the classifier keys are dropped since the trunk has none. Any other mismatch
    raises, listing the missing and unexpected keys.
    """
    state = load_state_dict_file(path)
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    # batch-norm counters have no frozen-batch-norm counterpart (torchvision drops them too)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    own = backbone.state_dict()
    if hasattr(backbone, "body") and not any(k.startswith("body.") for k in state):
        state = {f"body.{k}": v for k, v in state.items() if not k.startswith("fc.")}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:

        def show(keys: list[str]) -> str:
            return (
                ", ".join(keys[:8]) + (f" ... ({len(keys)} in all)" if len(keys) > 8 else "")
                or "none"
            )

        raise ValueError(
            f"state dict {path} does not match the backbone: missing keys: {show(missing)}; "
            f"unexpected keys: {show(unexpected)}"
        )
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        k = bad[0]
        raise ValueError(
            f"state dict {path}: {k} has shape {tuple(state[k].shape)}, "
            f"the backbone expects {tuple(own[k].shape)} ({len(bad)} mismatched)"
        )
    backbone.load_state_dict(state)


def build_backbone(name: str, weights_path: Path | None = None) -> Backbone:
    """A registered backbone (frozen batch norm), with weights loaded from ``weights_path``."""
    backbone = BACKBONES.get(name)()
    if weights_path is not None:
        load_backbone_weights(backbone, weights_path)
    return backbone


def load_parts(model: nn.Module, path: Path, parts: tuple[str, ...]) -> None:
    """Load a state dict that holds exactly the named top-level ``parts`` of ``model``."""
    state = load_state_dict_file(path)
    own = {k for k in model.state_dict() if k.split(".")[0] in parts}
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise ValueError(
            f"state dict {path} does not hold the model's {'/'.join(parts)}: "
            f"missing keys: {', '.join(missing[:8]) or 'none'}; "
            f"unexpected keys: {', '.join(unexpected[:8]) or 'none'}"
        )
    model.load_state_dict(state, strict=False)
