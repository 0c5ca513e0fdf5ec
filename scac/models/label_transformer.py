"""Transformer blocks over label tokens (one token per class), for the latent-context model.

* :class:`GroupLinear`: one linear classifier per label token, (B, C, D) -> (B, C).
* :class:`CrossAttentionLayer`: a Transformer decoder layer without self-attention (label
  queries attend to image positions, then an FFN), as latent-context §3.3 specifies.
* :func:`transformer_encoder`: the standard Transformer encoder of latent-context §3.4.

Both layers are post-norm (Vaswani et al.), PyTorch's default; the paper names no variant.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class GroupLinear(nn.Module):
    """A separate linear classifier for each label token: y^c = <w_c, t_c> + b_c.

    Args:
        num_classes: number of labels C (tokens).
        dim: features per token D.
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(dim)  # nn.Linear's initialisation, per class
        self.weight = nn.Parameter(torch.empty(num_classes, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_classes).uniform_(-bound, bound))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens * self.weight).sum(-1) + self.bias  # (B, C, D) -> (B, C)


class CrossAttentionLayer(nn.Module):
    """Queries attend to a memory, then a feed-forward network; no self-attention.

    Args:
        dim: query and memory features D.
        heads: attention heads (must divide ``dim``).
        ffn_dim: hidden width of the feed-forward network.
        dropout: dropout on attention weights and both residual branches.
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(ffn_dim, dim),
        )
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """(B, C, D) queries, (B, N, D) memory -> (B, C, D)."""
        attended, _ = self.attn(queries, memory, memory, need_weights=False)
        q = self.norm1(queries + self.drop1(attended))
        return self.norm2(q + self.drop2(self.ffn(q)))


def transformer_encoder(
    dim: int, heads: int, ffn_dim: int, dropout: float, layers: int
) -> nn.TransformerEncoder:
    """A standard (post-norm) Transformer encoder over (B, N, dim) token sequences."""
    layer = nn.TransformerEncoderLayer(dim, heads, ffn_dim, dropout, batch_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
