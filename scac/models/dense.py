"""Linear layers whose matrix products run on oneDNN on the CPU, forward and backward.

On the CPU torch computes ``nn.Linear`` with MKL, and MKL picks its kernels by the CPU's vendor
as well as its instruction set: on an AMD CPU it ignores ``MKL_CBWR=AVX2``, so the same product
gives other last bits than on an Intel CPU. The pinned numerics path (:mod:`scac.numerics`) puts
MKL on its vendor-neutral ``COMPATIBLE`` branch, which is SSE2 code: SCAC's patch heads then
took 2.4x longer (``benchmarks/numerics_paths.py``). oneDNN's matrix product chooses by
instruction set only (its AVX2 results did not move when the CPU answered as another vendor
with other cache sizes), and on AVX2 it is as fast as MKL's own AVX2 kernels. So a model's
linear layers compute through oneDNN on the CPU, in every numerics mode, and through
``F.linear`` elsewhere; parameters, initialisation and state dicts are ``nn.Linear``'s.

:func:`use_onednn` turns a built model's ``nn.Linear`` layers into :class:`Linear` in place.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


def _product(a: torch.Tensor, b_t: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``a @ b_t.T + bias`` on oneDNN: a (N, K), b_t (M, K), bias (M,) -> (N, M)."""
    if a.shape[0] == 0 or a.shape[1] == 0:  # oneDNN refuses empty operands
        out = a.new_zeros(a.shape[0], b_t.shape[0])
        return out + bias if bias is not None else out
    a, b_t = a.contiguous(), b_t.contiguous()
    return torch.ops.mkldnn._linear_pointwise(a, b_t, bias, "none", [], "")


class _OneDNNLinear(torch.autograd.Function):
    """y = x W^T + b with every product (and both of its gradients) on oneDNN."""

    @staticmethod
    def forward(ctx, x, weight, bias):  # x (N, K), weight (M, K), bias (M,) or None
        ctx.save_for_backward(x, weight)
        ctx.with_bias = bias is not None
        return _product(x, weight, bias)  # (N, M)

    @staticmethod
    def backward(ctx, grad):  # grad (N, M)
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = _product(grad, weight.t(), None) if need_x else None  # (N, M) (M, K) -> (N, K)
        grad_w = _product(grad.t(), x.t(), None) if need_w else None  # (M, N) (N, K) -> (M, K)
        grad_b = grad.sum(0) if need_b and ctx.with_bias else None  # (M,)
        return grad_x, grad_w, grad_b


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear``, through oneDNN for float32 tensors on the CPU.

    Args:
        x: (..., K) inputs.
        weight: (M, K).
        bias: (M,) or None.
    """
    if x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32:
        return F.linear(x, weight, bias)
    lead = x.shape[:-1]
    out = _OneDNNLinear.apply(x.reshape(-1, x.shape[-1]), weight, bias)  # (N, M)
    return out.reshape(*lead, weight.shape[0])


M = TypeVar("M", bound=nn.Module)


class Linear(nn.Linear):
    """``nn.Linear`` computed by :func:`linear` (same parameters, same initialisation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def use_onednn(model: M) -> M:
    """Make every plain ``nn.Linear`` of ``model`` a :class:`Linear`, in place; returns it.

    Subclasses of ``nn.Linear`` (the projections inside ``nn.MultiheadAttention``, read by
    their owner rather than called) are left as they are.
    """
    for module in model.modules():
        if type(module) is nn.Linear:
            module.__class__ = Linear
    return model
