"""Parameter counts of a model, per part, for ``bench model summary``."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from scac.models.contract import MultiLabelModel


@dataclass(frozen=True)
class PartCount:
    """Parameters of one top-level part of a model."""

    part: str
    parameters: int
    trainable: int


def part_counts(model: nn.Module) -> list[PartCount]:
    """One row per top-level part (the units phases freeze), then any direct parameters."""
    rows = [
        PartCount(
            name,
            sum(p.numel() for p in m.parameters()),
            sum(p.numel() for p in m.parameters() if p.requires_grad),
        )
        for name, m in model.named_children()
    ]
    direct = [p for _, p in model.named_parameters(recurse=False)]
    if direct:
        rows.append(
            PartCount(
                "(own parameters)",
                sum(p.numel() for p in direct),
                sum(p.numel() for p in direct if p.requires_grad),
            )
        )
    return rows


def extra_parameter_rows(model: MultiLabelModel) -> list[tuple[str, tuple[int, ...], int]]:
    """Layer-by-layer parameters a model adds over its baseline (e.g. SRN; none for most)."""
    return list(model.extra_parameter_rows())


def extra_parameter_notes(model: MultiLabelModel) -> list[str]:
    """How those extra parameters compare with the paper's figure (SRN; none for most)."""
    return list(model.extra_parameter_notes())
