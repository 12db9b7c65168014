"""Checkers of notebooks/04_multi_head_attention (split and merge heads, the multi-head module) and
notebooks/05_cross_attention (cross-attention, its layer, alignment)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from ._core import (
    _build,
    _call,
    _checker,
    _close,
    _copy_weights,
    _Fail,
    _need_callable,
    _pair,
    _randn,
    _shape,
    _tensor,
)

# ---------------------------------------------------------------------------------------------------
# 04 · Multi-head attention
# ---------------------------------------------------------------------------------------------------

_HEAD_CASES = (
    ("(B, T, d_model) = (2, 5, 12) into h=3 heads", 2, 5, 12, 3),
    ("a batch of one, T=1, d_model=8, h=2", 1, 1, 8, 2),
    ("T=7, d_model=6, h=1 (one head)", 2, 7, 6, 1),
)


@_checker("split heads")
def check_split_heads(split_heads: Callable) -> str:
    """split_heads(x (B, T, d_model), n_heads) -> (B, h, T, d_k)."""
    _need_callable(split_heads)
    for case, B, T, d_model, h in _HEAD_CASES:
        x = _randn(B, T, d_model)
        expected = x.view(B, T, h, d_model // h).transpose(1, 2)  # (B, h, T, d_k)
        got = _tensor(_call(split_heads, x.clone(), h))
        _close(
            "the heads",
            got,
            expected,
            case,
            diagnoses=(
                (
                    x.reshape(B, h, T, d_model // h),
                    "the values are in the wrong places: view as (B, T, h, d_k) first, then swap T and h",
                ),
            ),
        )
    return f"{len(_HEAD_CASES)} cases match: head i holds dimensions i*d_k .. (i+1)*d_k - 1 of every position"


@_checker("merge heads")
def check_merge_heads(merge_heads: Callable) -> str:
    """merge_heads(x (B, h, T, d_k)) -> (B, T, h * d_k), the concatenation of the heads."""
    _need_callable(merge_heads)
    for case, B, T, d_model, h in _HEAD_CASES:
        x = _randn(B, h, T, d_model // h)
        expected = x.transpose(1, 2).reshape(B, T, d_model)  # (B, T, d_model)
        got = _tensor(_call(merge_heads, x.clone()))
        _close(
            "the merged heads",
            got,
            expected,
            case,
            diagnoses=(
                (
                    x.reshape(B, T, d_model),
                    "the values are in the wrong places: swap h and T back before reshaping",
                ),
            ),
        )
    return f"{len(_HEAD_CASES)} cases match the concatenation of the heads"


@_checker("multi-head attention")
def check_multi_head_attention(cls: Callable) -> str:
    """cls(d_model, n_heads) with w_q, w_k, w_v, w_o = nn.Linear(d_model, d_model);
    forward(query (B, T_q, d_model), key, value (B, T_k, d_model), mask=None) -> (B, T_q, d_model)."""
    pad = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)[:, None, None, :]
    cases = (
        ("self-attention, d_model=16, h=4", 16, 4, 2, 5, 5, None),
        ("self-attention with a causal mask", 16, 4, 2, 5, 5, causal_mask(5)),
        ("cross-attention T_q=3, T_k=6 with padding", 12, 3, 2, 3, 6, pad),
        ("a batch of one, one head", 8, 1, 1, 4, 4, None),
    )
    for case, d_model, h, B, T_q, T_k, mask in cases:
        reference = MultiHeadAttention(d_model, h).eval()
        mine = _build(cls, d_model, h)
        _copy_weights(mine, reference, "module")
        mine.eval()
        q, kv = _randn(B, T_q, d_model), _randn(B, T_k, d_model)
        with torch.no_grad():
            expected = reference(q, kv, kv, mask)  # (B, T_q, d_model)
        got = _tensor(_call(mine, q.clone(), kv.clone(), kv.clone(), mask), "your module")
        _close("the output", got, expected, case)
    return f"{len(cases)} cases match the library's MultiHeadAttention with the same weights"


# ---------------------------------------------------------------------------------------------------
# 05 · Cross-attention
# ---------------------------------------------------------------------------------------------------


@_checker("cross-attention")
def check_cross_attention(cross_attention: Callable) -> str:
    """cross_attention(x (B, T, d_model), memory (B, S, d_model), w_q, w_k, w_v, src_mask=None)
    -> (output (B, T, d_v), weights (B, T, S)); src_mask broadcasts to (B, T, S)."""
    _need_callable(cross_attention)
    src_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], dtype=torch.bool)[
        :, None, :
    ]  # (2, 1, 6)
    cases = (
        ("T=4 target and S=6 source positions", 2, 4, 6, None),
        ("a source padding mask (B, 1, S)", 2, 4, 6, src_mask),
        ("a batch of one, T=1, S=3", 1, 1, 3, None),
    )
    d_model, d_k = 8, 4
    for case, B, T, S, mask in cases:
        x, memory = _randn(B, T, d_model), _randn(B, S, d_model)
        w_q, w_k, w_v = (nn.Linear(d_model, d_k, bias=False) for _ in range(3))
        with torch.no_grad():
            out, weights = scaled_dot_product_attention(w_q(x), w_k(memory), w_v(memory), mask)
        args = (x.clone(), memory.clone(), w_q, w_k, w_v, None if mask is None else mask.clone())
        got_out, got_weights = _pair(_call(cross_attention, *args), "output", "weights")
        if tuple(got_weights.shape) != (B, T, S):
            hint = ""
            if tuple(got_weights.shape) in ((B, T, T), (B, S, S), (B, S, T)):
                hint = ": queries come from the decoder (x), keys and values from the encoder's memory"
            _shape("the weights", got_weights, (B, T, S), case, hint)
        if mask is not None:
            leak = (got_weights.detach().abs() > 1e-6) & ~mask.expand(B, T, S)
            if leak.any():
                b, i, j = (int(n) for n in leak.nonzero()[0])
                raise _Fail(
                    f"{case}: row {b}: target position {i} attends to source position {j}, which is padding"
                )
        _close("the weights", got_weights, weights, case)
        _close("the output", got_out, out, case)
    return f"{len(cases)} cases match: T != S, source padding, a batch of one"


@_checker("cross-attention layer")
def check_cross_attention_layer(cross_attend: Callable) -> str:
    """cross_attend(mha, x (B, T, d_model), memory (B, S, d_model), src (B, S), pad_id) -> (B, T, d_model)."""
    _need_callable(cross_attend)
    cases = (
        (
            "T=3 target and S=5 source positions with padding",
            torch.tensor([[4, 5, 6, 7, 8], [4, 5, 0, 0, 0]]),
            3,
            0,
        ),
        ("pad_id=2, a batch of one", torch.tensor([[5, 6, 7, 2]]), 6, 2),
    )
    d_model, h = 16, 4
    for case, src, T, pad_id in cases:
        B, S = src.shape
        mha = MultiHeadAttention(d_model, h).eval()
        x, memory = _randn(B, T, d_model), _randn(B, S, d_model)
        with torch.no_grad():
            expected = mha(x, memory, memory, (src != pad_id)[:, None, None, :])  # (B, T, d_model)
            unmasked = mha(x, memory, memory)  # (B, T, d_model)
        got = _tensor(_call(cross_attend, mha, x.clone(), memory.clone(), src.clone(), pad_id))
        hint = (
            ": the output has one row per target position (queries come from x)"
            if got.shape[1:2] == (S,)
            else ""
        )
        _shape("the output", got, (B, T, d_model), case, hint)
        _close(
            "the output",
            got,
            expected,
            case,
            diagnoses=((unmasked, "it matches attention without the source padding mask"),),
        )
    return f"{len(cases)} cases match the library with the source padding mask"


@_checker("alignment")
def check_alignment(alignment: Callable) -> str:
    """alignment(weights (B, T, S)) -> (B, T) long: the source position each target position attends to most."""
    _need_callable(alignment)
    cases = (
        ("weights (2, 4, 6)", torch.softmax(3 * _randn(2, 4, 6), dim=-1)),
        ("weights (1, 1, 3)", torch.softmax(_randn(1, 1, 3), dim=-1)),
    )
    for case, weights in cases:
        got = _tensor(_call(alignment, weights.clone()))
        expected = weights.argmax(dim=-1)  # (B, T)
        if got.dim() == 2 and got.shape[1] == weights.shape[2] != weights.shape[1]:
            raise _Fail(
                f"{case}: the result has shape {tuple(got.shape)}: take the maximum over the source axis (dim=-1)"
            )
        _shape("the result", got, tuple(expected.shape), case)
        if got.is_floating_point():
            raise _Fail(
                f"{case}: the result has dtype {got.dtype}, expected integer positions (argmax gives them)"
            )
        if not torch.equal(got.long(), expected):
            b, i = (int(n) for n in (got.long() != expected).nonzero()[0])
            raise _Fail(
                f"{case}: row {b}, target position {i}: got source position {int(got[b, i])}, expected {int(expected[b, i])}"
            )
    return f"{len(cases)} cases match the most attended source position"
