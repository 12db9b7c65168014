"""The sublayers around attention: layer normalisation, the position-wise feed-forward network, and
the encoder and decoder layers that wrap each sublayer in a residual connection (paper §3.1, §3.3).
Explained in notebooks/06_residuals_layernorm_feedforward and 07_the_full_transformer.

`norm_first=False` is the paper's post-LN, x = LayerNorm(x + Sublayer(x)); `norm_first=True` is
pre-LN, x = x + Sublayer(LayerNorm(x)), which most modern models use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ._checks import check_float, check_last_dim, check_positive_int, check_probability
from .attention import KVCache, MultiHeadAttention

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _normalise(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """x (..., d) -> (x_hat (..., d), rstd (..., 1)): x_hat = (x - mu) * rstd, rstd = 1 / sqrt(var + eps)."""
    centred = x - x.mean(dim=-1, keepdim=True)  # (..., d) x - mu
    rstd = torch.rsqrt((centred * centred).mean(dim=-1, keepdim=True) + eps)  # (..., 1) biased variance
    return centred.mul_(rstd), rstd  # (..., d) zero mean, unit variance (in place: centred is not kept)


class _LayerNormFunction(torch.autograd.Function):
    """LayerNorm over the last dimension, forward pass and gradient written out by hand.

    Forward, each statistic taken over the d numbers of one row (one position):
        mu = mean(x),  rstd = 1 / sqrt(mean((x - mu)^2) + eps),  x_hat = (x - mu) * rstd,
        y = gamma * x_hat + beta.
    Backward, given dy = dL/dy and g = dy * gamma = dL/dx_hat:
        dL/dbeta = sum of dy over the rows,  dL/dgamma = sum of dy * x_hat over the rows,
        dL/dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)).
    The last line comes from x_hat = (x - mu) * rstd: moving one input also moves the mean of its
    row (the mean(g) term) and its variance (the x_hat * mean(g * x_hat) term). Autograd would find
    the same gradient by replaying the forward's small steps one by one; written out, it takes
    fewer passes over memory and no bookkeeping.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
        x_hat, rstd = _normalise(x, eps)  # (..., d), (..., 1)
        ctx.save_for_backward(x_hat, rstd, weight)
        return torch.addcmul(bias, weight, x_hat)  # (..., d) beta + gamma * x_hat

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: Tensor) -> tuple[Tensor, Tensor, Tensor, None]:
        x_hat, rstd, weight = ctx.saved_tensors  # (..., d), (..., 1), (d,)
        g = dy * weight  # (..., d) dL/dx_hat
        mean_g = g.mean(dim=-1, keepdim=True)  # (..., 1)
        mean_g_x_hat = (g * x_hat).mean(dim=-1, keepdim=True)  # (..., 1)
        dx = (g - mean_g).addcmul_(x_hat, mean_g_x_hat, value=-1.0).mul_(rstd)  # (..., d)
        d = x_hat.shape[-1]
        d_weight = (dy * x_hat).reshape(-1, d).sum(dim=0)  # (d,) summed over every row
        return dx, d_weight, dy.reshape(-1, d).sum(dim=0), None  # (..., d), (d,), (d,)


class LayerNorm(nn.Module):
    """Layer normalisation over the last dimension: gamma * (x - mean) / sqrt(var + eps) + beta,
    with the biased variance. Input and output (..., d_model). The forward pass and its gradient
    are written out in `_LayerNormFunction` (equal to nn.LayerNorm's, tested)."""

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.d_model = check_positive_int("d_model", d_model)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)):
            raise TypeError(f"eps must be a positive float, got {type(eps).__name__} {eps!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps}")
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))  # gamma (d_model,)
        self.bias = nn.Parameter(torch.zeros(d_model))  # beta (d_model,)

    def forward(self, x: Tensor) -> Tensor:
        check_float("x", x)
        check_last_dim("x", x, self.d_model)
        if torch.is_grad_enabled():
            return _LayerNormFunction.apply(x, self.weight, self.bias, float(self.eps))  # (..., d_model)
        x_hat, _ = _normalise(x, float(self.eps))  # (..., d_model) no gradient to keep: no Function
        return torch.addcmul(self.bias, self.weight, x_hat)  # (..., d_model)


class FeedForward(nn.Module):
    """The position-wise feed-forward network FFN(x) = act(x W_1 + b_1) W_2 + b_2 (paper §3.3),
    applied to each position alone. Input and output (B, T, d_model); inside (B, T, d_ff)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu") -> None:
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("d_ff", d_ff)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.d_model, self.activation = d_model, activation
        self.w_1 = nn.Linear(d_model, d_ff)
        self.w_2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(check_probability("dropout", dropout))

    def forward(self, x: Tensor) -> Tensor:
        check_float("x", x)
        check_last_dim("x", x, self.d_model)
        hidden = ACTIVATIONS[self.activation](self.w_1(x))  # (B, T, d_ff)
        if self.training:
            hidden = self.dropout(hidden)  # (B, T, d_ff); dropout is the identity in eval mode
        return self.w_2(hidden)  # (B, T, d_model)


class ResidualBlock(nn.Module):
    """What encoder and decoder layers share: residual connections around sublayers, each with
    LayerNorm (post-LN or pre-LN) and dropout on the sublayer's output (paper §5.4)."""

    def __init__(self, d_model: int, dropout: float, norm_first: bool) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.dropout = nn.Dropout(check_probability("dropout", dropout))

    def _sublayer(self, x: Tensor, norm: LayerNorm, fn) -> Tensor:
        if self.norm_first:
            return x + self._drop(fn(norm(x)))  # (B, T, d_model) pre-LN
        return norm(x + self._drop(fn(x)))  # (B, T, d_model) post-LN

    def _drop(self, x: Tensor) -> Tensor:
        return self.dropout(x) if self.training else x  # dropout is the identity in eval mode


class EncoderLayer(ResidualBlock):
    """Self-attention then feed-forward, each inside a residual connection with LayerNorm (§3.1).
    forward(x (B, T, d_model), mask broadcasting to (B, h, T, T)) -> (B, T, d_model)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "relu",
        eps: float = 1e-5,
    ) -> None:
        super().__init__(d_model, dropout, norm_first)
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = LayerNorm(d_model, eps)
        self.norm2 = LayerNorm(d_model, eps)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = self._sublayer(x, self.norm1, lambda h: self.self_attn(h, h, h, mask))  # (B, T, d_model)
        return self._sublayer(x, self.norm2, self.feed_forward)  # (B, T, d_model)


class DecoderLayer(ResidualBlock):
    """Masked self-attention, cross-attention over the encoder output (memory), then feed-forward,
    each inside a residual connection with LayerNorm (§3.1).

    forward(x (B, T, d_model), memory (B, S, d_model), src_mask to (B, h, T, S), tgt_mask to
    (B, h, T, T)) -> (B, T, d_model). With a cache (self, cross) x holds only the new positions.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "relu",
        eps: float = 1e-5,
    ) -> None:
        super().__init__(d_model, dropout, norm_first)
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = LayerNorm(d_model, eps)
        self.norm2 = LayerNorm(d_model, eps)
        self.norm3 = LayerNorm(d_model, eps)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        cache: tuple[KVCache, KVCache] | None = None,
    ) -> Tensor:
        self_cache, cross_cache = cache if cache is not None else (None, None)
        x = self._sublayer(
            x, self.norm1, lambda h: self.self_attn(h, h, h, tgt_mask, self_cache)
        )  # (B, T, d_model)
        x = self._sublayer(
            x, self.norm2, lambda h: self.cross_attn(h, memory, memory, src_mask, cross_cache)
        )  # (B, T, d_model) queries from the decoder, keys and values from the encoder
        return self._sublayer(x, self.norm3, self.feed_forward)  # (B, T, d_model)
