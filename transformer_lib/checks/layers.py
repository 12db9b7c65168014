"""Checkers of notebooks/06_residuals_layernorm_feedforward (LayerNorm, feed-forward, residual sublayer)
and notebooks/07_the_full_transformer (embedding, encoder and decoder layers, parameter count)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attention import causal_mask
from ..embedding import sinusoidal_positional_encoding
from ..layers import DecoderLayer, EncoderLayer, FeedForward, LayerNorm
from ..model import Transformer, TransformerConfig, count_parameters
from ._core import (
    _build,
    _call,
    _checker,
    _close,
    _copy_weights,
    _Fail,
    _kind,
    _need_callable,
    _randn,
    _shape,
    _tensor,
)

# ---------------------------------------------------------------------------------------------------
# 06 · Residuals, LayerNorm and the feed-forward network
# ---------------------------------------------------------------------------------------------------


@_checker("layer norm")
def check_layer_norm(layer_norm: Callable) -> str:
    """layer_norm(x (..., d_model), gamma (d_model,), beta (d_model,), eps=1e-5) -> (..., d_model)."""
    _need_callable(layer_norm)
    cases = (
        ("x of shape (2, 5, 16), shifted and scaled", 3 + 4 * _randn(2, 5, 16), 16),
        ("a batch of one, one position, d_model=8", _randn(1, 1, 8), 8),
        ("a constant row (variance 0: eps matters)", torch.full((1, 2, 6), 2.5), 6),
    )
    for case, x, d in cases:
        gamma, beta = 1 + 0.5 * _randn(d), _randn(d)
        expected = F.layer_norm(x, (d,), gamma, beta, eps=1e-5)  # (..., d_model)
        got = _tensor(_call(layer_norm, x.clone(), gamma.clone(), beta.clone(), 1e-5))
        mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=True)
        _close(
            "the output",
            got,
            expected,
            case,
            atol=1e-3,
            diagnoses=(
                (
                    gamma * (x - mean) / torch.sqrt(var + 1e-5) + beta,
                    "it uses the unbiased variance; use unbiased=False",
                ),
                (
                    (x - mean) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5),
                    "gamma and beta are not applied",
                ),
                (gamma * (x - mean) + beta, "x - mean is not divided by sqrt(variance + eps)"),
            ),
        )
    return f"{len(cases)} cases match torch.nn.functional.layer_norm"


@_checker("feed-forward")
def check_feed_forward(feed_forward: Callable) -> str:
    """feed_forward(x (B, T, d_model), w_1 (d_model, d_ff), b_1 (d_ff,), w_2 (d_ff, d_model), b_2 (d_model,))."""
    _need_callable(feed_forward)
    cases = (("x (2, 5, 8), d_ff=32", 2, 5, 8, 32), ("a batch of one, T=1, d_ff=4", 1, 1, 4, 4))
    for case, B, T, d_model, d_ff in cases:
        x = _randn(B, T, d_model)
        w_1, b_1, w_2, b_2 = _randn(d_model, d_ff), _randn(d_ff), _randn(d_ff, d_model), _randn(d_model)
        expected = torch.relu(x @ w_1 + b_1) @ w_2 + b_2  # (B, T, d_model)
        got = _tensor(_call(feed_forward, x.clone(), w_1, b_1, w_2, b_2))
        _close(
            "the output",
            got,
            expected,
            case,
            atol=1e-3,
            diagnoses=(
                ((x @ w_1 + b_1) @ w_2 + b_2, "the ReLU between the two layers is missing"),
                (
                    torch.relu(torch.relu(x @ w_1 + b_1) @ w_2 + b_2),
                    "a ReLU is applied after the second layer too",
                ),
            ),
        )
    return f"{len(cases)} cases match ReLU(x W_1 + b_1) W_2 + b_2"


@_checker("residual sublayer")
def check_residual_sublayer(residual_sublayer: Callable) -> str:
    """residual_sublayer(x (B, T, d_model), sublayer, norm, norm_first) -> (B, T, d_model):
    post-LN norm(x + sublayer(x)) or pre-LN x + sublayer(norm(x))."""
    _need_callable(residual_sublayer)
    d_model = 8
    sublayer = FeedForward(d_model, 16).eval()
    norm = LayerNorm(d_model)
    with torch.no_grad():
        norm.weight.copy_(1 + 0.3 * _randn(d_model))
        norm.bias.copy_(0.3 * _randn(d_model))
    cases = (
        ("post-LN (norm_first=False)", False, 2, 5),
        ("pre-LN (norm_first=True)", True, 2, 5),
        ("post-LN, a batch of one", False, 1, 1),
    )
    for case, norm_first, B, T in cases:
        x = 2 * _randn(B, T, d_model)
        with torch.no_grad():
            post, pre = norm(x + sublayer(x)), x + sublayer(norm(x))  # (B, T, d_model) each
            expected, other = (pre, post) if norm_first else (post, pre)
            no_residual = sublayer(norm(x)) if norm_first else norm(sublayer(x))
        got = _tensor(_call(residual_sublayer, x.clone(), sublayer, norm, norm_first))
        _close(
            "the output",
            got,
            expected,
            case,
            diagnoses=(
                (
                    other,
                    "it is the other arrangement: post-LN normalises after the sum, pre-LN before the sublayer",
                ),
                (no_residual, "the residual connection (adding x back) is missing"),
            ),
        )
    return "post-LN and pre-LN both match the library's arrangement"


# ---------------------------------------------------------------------------------------------------
# 07 · The full Transformer
# ---------------------------------------------------------------------------------------------------


@_checker("embedding")
def check_embed(embed: Callable) -> str:
    """embed(tokens (B, T), embedding nn.Embedding(V, d_model), pe (max_len, d_model)) -> (B, T, d_model)."""
    _need_callable(embed)
    cases = (
        ("tokens (2, 5), d_model=16", 2, 5, 16),
        ("a batch of one, T=1, d_model=6", 1, 1, 6),
        ("T=9, d_model=8", 2, 9, 8),
    )
    for case, B, T, d_model in cases:
        embedding = nn.Embedding(11, d_model)
        pe = sinusoidal_positional_encoding(20, d_model)  # (20, d_model)
        tokens = torch.randint(0, 11, (B, T))
        with torch.no_grad():
            rows = embedding(tokens)  # (B, T, d_model)
        expected = rows * math.sqrt(d_model) + pe[:T]  # (B, T, d_model)
        got = _tensor(_call(embed, tokens.clone(), embedding, pe.clone()))
        _close(
            "the output",
            got,
            expected,
            case,
            diagnoses=(
                (rows + pe[:T], "the embedding is not multiplied by sqrt(d_model)"),
                (rows * math.sqrt(d_model), "the positional encoding is not added"),
            ),
        )
    return f"{len(cases)} cases match embedding * sqrt(d_model) + PE"


def _layer_case(cls: Callable, reference: nn.Module, what: str) -> nn.Module:
    d_model, h, d_ff = (
        reference.self_attn.d_model,
        reference.self_attn.n_heads,
        reference.feed_forward.w_1.out_features,
    )
    mine = _build(cls, d_model, h, d_ff)
    _copy_weights(mine, reference, what)
    return mine.eval()


def _future_leak(module: nn.Module, x: Tensor, rest: tuple, case: str) -> None:
    """Changing the last position of x must leave the outputs at the earlier positions unchanged."""
    T = x.shape[1]
    changed = x.clone()
    changed[:, T - 1] += 3.0
    first = _tensor(_call(module, x, *rest), "your module")  # (B, T, d_model)
    second = _tensor(_call(module, changed, *rest), "your module")  # (B, T, d_model)
    moved = (first[:, : T - 1] - second[:, : T - 1]).abs().amax(dim=(0, 2)) > 1e-5  # (T - 1,)
    if moved.any():
        raise _Fail(
            f"{case}: the output at position {int(moved.nonzero()[0])} changes when position {T - 1} "
            f"changes: the mask lets the future leak"
        )


@_checker("encoder layer")
def check_encoder_layer(cls: Callable) -> str:
    """cls(d_model, n_heads, d_ff) with self_attn, feed_forward, norm1, norm2 (library modules);
    forward(x (B, S, d_model), mask=None) -> (B, S, d_model), post-LN."""
    pad = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)[:, None, None, :]
    cases = (
        ("x (2, 5, 16) without a mask", 2, 5, None),
        ("x (2, 5, 16) with a padding mask", 2, 5, pad),
        ("a batch of one, S=1", 1, 1, None),
    )
    for case, B, S, mask in cases:
        reference = EncoderLayer(16, 4, 32).eval()
        mine = _layer_case(cls, reference, "encoder layer")
        x = _randn(B, S, 16)
        with torch.no_grad():
            expected = reference(x, mask)  # (B, S, d_model)
            got = _tensor(_call(mine, x.clone(), mask), "your module")
        _close("the output", got, expected, case)
    return f"{len(cases)} cases match the library's post-LN EncoderLayer with the same weights"


def _decoder_self_keys(layer: DecoderLayer, x: Tensor, tgt_mask: Tensor | None) -> Tensor:
    """A post-LN decoder layer whose cross-attention wrongly reads x instead of the memory."""
    h = layer.norm1(x + layer.self_attn(x, x, x, tgt_mask))  # (B, T, d_model)
    h = layer.norm2(h + layer.cross_attn(h, h, h))  # (B, T, d_model)
    return layer.norm3(h + layer.feed_forward(h))  # (B, T, d_model)


@_checker("decoder layer")
def check_decoder_layer(cls: Callable) -> str:
    """cls(d_model, n_heads, d_ff) with self_attn, cross_attn, feed_forward, norm1..norm3;
    forward(x (B, T, d_model), memory (B, S, d_model), src_mask=None, tgt_mask=None) -> (B, T, d_model)."""
    src_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)[:, None, None, :]
    cases = (
        ("T=3, S=5 without masks", 2, 3, 5, None, None),
        ("T=4, S=6 with causal and source masks", 2, 4, 6, src_mask, causal_mask(4)),
        ("a batch of one, T=1, S=2", 1, 1, 2, None, causal_mask(1)),
    )
    for case, B, T, S, s_mask, t_mask in cases:
        reference = DecoderLayer(16, 4, 32).eval()
        mine = _layer_case(cls, reference, "decoder layer")
        x, memory = _randn(B, T, 16), _randn(B, S, 16)
        with torch.no_grad():
            expected = reference(x, memory, s_mask, t_mask)  # (B, T, d_model)
            got = _tensor(_call(mine, x.clone(), memory.clone(), s_mask, t_mask), "your module")
            _shape("the output", got, (B, T, 16), case)
            if t_mask is not None and T > 1:
                _future_leak(mine, x, (memory, s_mask, t_mask), case)
            self_keys = _decoder_self_keys(reference, x, t_mask) if s_mask is None else expected
        _close(
            "the output",
            got,
            expected,
            case,
            diagnoses=((self_keys, "cross-attention must take its keys and values from the memory"),),
        )
    return f"{len(cases)} cases match the library's post-LN DecoderLayer with the same weights"


@_checker("parameter count")
def check_parameter_count(parameter_count: Callable) -> str:
    """parameter_count(vocab_size, d_model, n_heads, d_ff, n_layers) -> int, for a Transformer with one
    embedding shared by the encoder, the decoder and the output layer (post-LN, no final LayerNorms)."""
    _need_callable(parameter_count)
    cases = ((100, 16, 4, 64, 1), (37, 8, 2, 32, 3), (1000, 32, 8, 128, 2))
    for V, d_model, h, d_ff, N in cases:
        config = TransformerConfig(V, V, d_model, h, N, d_ff, dropout=0.0, max_len=8, share_embeddings=True)
        expected = count_parameters(Transformer(config))
        got = _call(parameter_count, V, d_model, h, d_ff, N)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, float) and got.is_integer():
            got = int(got)
        if isinstance(got, bool) or not isinstance(got, int):
            raise _Fail(f"your function returned {_kind(got)}, expected an int")
        if got != expected:
            case = f"vocab_size={V}, d_model={d_model}, n_heads={h}, d_ff={d_ff}, n_layers={N}"
            raise _Fail(f"{case}: your count is {got:,}, expected {expected:,} (off by {got - expected:+,})")
    return f"{len(cases)} configurations match count_parameters(Transformer(config))"
