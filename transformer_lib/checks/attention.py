"""Checkers of notebooks/02_scaled_dot_product_attention (scores, softmax, attention, self-attention)
and notebooks/03_masking (causal and padding masks, masked attention, the decoder's mask)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..attention import causal_mask, scaled_dot_product_attention
from ._core import (
    _bool_mask,
    _call,
    _checker,
    _close,
    _Fail,
    _need_callable,
    _pair,
    _randn,
    _shape,
    _tensor,
)

# ---------------------------------------------------------------------------------------------------
# 02 · Scaled dot-product attention
# ---------------------------------------------------------------------------------------------------

_ATTENTION_SHAPES = (
    ("batch of 2, 5 queries and 5 keys, d_k=8", (2, 5, 8), (2, 5, 8), 8),
    ("3 queries and 6 keys (T_q != T_k)", (2, 3, 4), (2, 6, 4), 4),
    ("a batch of one, 1 query, 7 keys, d_v=3", (1, 1, 16), (1, 7, 16), 3),
    ("4-d input (B, h, T, d_k) = (2, 3, 5, 6)", (2, 3, 5, 6), (2, 3, 5, 6), 6),
)


@_checker("attention scores")
def check_attention_scores(attention_scores: Callable) -> str:
    """attention_scores(query (..., T_q, d_k), key (..., T_k, d_k)) -> Q K^T / sqrt(d_k) (..., T_q, T_k)."""
    _need_callable(attention_scores)
    for case, q_shape, k_shape, _ in _ATTENTION_SHAPES:
        q, k = _randn(*q_shape), _randn(*k_shape)
        expected = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
        got = _tensor(_call(attention_scores, q.clone(), k.clone()))
        _close(
            "the scores",
            got,
            expected,
            case,
            diagnoses=(
                (q @ k.transpose(-2, -1), "they equal Q K^T without the scaling by 1 / sqrt(d_k)"),
                (q @ k.transpose(-2, -1) / q.shape[-1], "they are divided by d_k; divide by sqrt(d_k)"),
            ),
        )
    return f"{len(_ATTENTION_SHAPES)} cases match Q K^T / sqrt(d_k)"


@_checker("softmax")
def check_softmax(softmax: Callable) -> str:
    """softmax(scores (..., T_k)) -> weights of the same shape, each row summing to one."""
    _need_callable(softmax)
    cases = (
        ("scores of shape (2, 4, 5)", _randn(2, 4, 5)),
        ("a single row of 3 scores", _randn(1, 3)),
        ("large scores (around 1000)", 1000 + 10 * _randn(2, 6)),
        ("scores of -inf (masked keys)", torch.tensor([[0.5, float("-inf"), 1.5, float("-inf")]])),
    )
    for case, scores in cases:
        got = _tensor(_call(softmax, scores.clone()))
        _shape("the output", got, tuple(scores.shape), case)
        if not torch.isfinite(got).all():
            raise _Fail(
                f"{case}: the output holds NaN or inf; subtract each row's maximum before exp "
                f"(softmax(s) = softmax(s - max s))"
            )
        _close(
            "the weights",
            got,
            torch.softmax(scores, dim=-1),
            case,
            diagnoses=(
                (torch.softmax(scores, dim=0), "it normalises over the first dimension; use the last"),
            ),
        )
    return f"{len(cases)} cases match torch.softmax over the last dimension, large scores included"


@_checker("attention")
def check_attention(attention: Callable) -> str:
    """attention(query, key, value) -> (output (..., T_q, d_v), weights (..., T_q, T_k))."""
    _need_callable(attention)
    for case, q_shape, k_shape, d_v in _ATTENTION_SHAPES:
        q, k = _randn(*q_shape), _randn(*k_shape)
        v = _randn(*k_shape[:-1], d_v)
        out, weights = scaled_dot_product_attention(q, k, v)  # (..., T_q, d_v), (..., T_q, T_k)
        got_out, got_weights = _pair(_call(attention, q.clone(), k.clone(), v.clone()), "output", "weights")
        unscaled = torch.softmax(q @ k.transpose(-2, -1), dim=-1)  # (..., T_q, T_k)
        wrong_dim = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-2)  # (..., T_q, T_k)
        _close(
            "the weights",
            got_weights,
            weights,
            case,
            diagnoses=(
                (unscaled, "they are softmax(Q K^T) without the scaling by 1 / sqrt(d_k)"),
                (wrong_dim, "the softmax runs over the queries; each query's row must sum to one (dim=-1)"),
            ),
        )
        _close("the output", got_out, out, case, diagnoses=((unscaled @ v, "the scores were not scaled"),))
    return f"{len(_ATTENTION_SHAPES)} cases match the library (T_q != T_k, d_v != d_k, batch of one, heads)"


@_checker("self-attention")
def check_self_attention(self_attention: Callable) -> str:
    """self_attention(x (B, T, d_model), w_q, w_k, w_v) -> (B, T, d_v); w_* are nn.Linear layers."""
    _need_callable(self_attention)
    cases = (
        ("batch of 2, T=5, d_model=16, d_k=8", 2, 5, 16, 8, 8),
        ("a batch of one, T=3, d_v=4", 1, 3, 12, 6, 4),
    )
    for case, B, T, d_model, d_k, d_v in cases:
        x = _randn(B, T, d_model)
        w_q, w_k = nn.Linear(d_model, d_k, bias=False), nn.Linear(d_model, d_k, bias=False)
        w_v = nn.Linear(d_model, d_v, bias=False)
        with torch.no_grad():
            expected, _ = scaled_dot_product_attention(w_q(x), w_k(x), w_v(x))  # (B, T, d_v)
            swapped, _ = scaled_dot_product_attention(w_k(x), w_q(x), w_v(x))  # (B, T, d_v)
        got = _call(self_attention, x.clone(), w_q, w_k, w_v)
        if isinstance(got, (tuple, list)) and len(got) == 2:
            got = got[0]  # (output, weights) is fine too
        _close(
            "the output",
            _tensor(got),
            expected,
            case,
            diagnoses=((swapped, "the query and key projections are swapped (Q = x W_q, K = x W_k)"),),
        )
    return f"{len(cases)} cases match softmax((x W_q)(x W_k)^T / sqrt(d_k)) (x W_v)"


# ---------------------------------------------------------------------------------------------------
# 03 · Masking
# ---------------------------------------------------------------------------------------------------


def _mask_errors(got: Tensor, expected: Tensor, case: str, future: Tensor | None, pad: Tensor | None) -> None:
    """Name the first entry where two (B, ..., T_q, T_k) masks differ, in the words of attention."""
    wrong = (got != expected).nonzero()
    if not len(wrong):
        return
    index = tuple(int(i) for i in wrong[0])
    i, j = index[-2], index[-1]
    row = f"row {index[0]}: " if len(index) > 2 else ""
    if bool(got[index]):
        if future is not None and bool(future[index]):
            raise _Fail(f"{case}: {row}position {i} attends to position {j}: the mask lets the future leak")
        if pad is not None and bool(pad[index]):
            raise _Fail(f"{case}: {row}position {i} attends to position {j}, which is padding")
        raise _Fail(f"{case}: {row}position {i} attends to position {j}, which the mask should hide")
    raise _Fail(
        f"{case}: {row}position {i} cannot attend to position {j}, which it may see: the mask hides too much"
    )


@_checker("causal mask")
def check_causal_mask(causal_mask_fn: Callable) -> str:
    """causal_mask(T) -> (T, T) bool, True where position i may attend to position j (j <= i)."""
    _need_callable(causal_mask_fn)
    for T in (4, 1, 7):
        case = f"T={T}"
        got = _tensor(_call(causal_mask_fn, T))
        _shape("the mask", got, (T, T), case)
        _bool_mask(got, case)
        expected = causal_mask(T)  # (T, T)
        _mask_errors(got, expected, case, future=~expected, pad=None)
    return "T = 4, 1 and 7 match: every position sees itself and the past, never the future"


def _padded_tokens() -> list[tuple[str, Tensor, int]]:
    return [
        ("tokens with padding (pad_id=0)", torch.tensor([[5, 7, 9, 3, 0, 0], [4, 4, 2, 0, 0, 0]]), 0),
        ("pad_id=1 and a row without padding", torch.tensor([[3, 2, 5, 6, 1], [0, 4, 8, 9, 7]]), 1),
        ("a batch of one, no padding", torch.tensor([[2, 3, 4]]), 0),
    ]


@_checker("padding mask")
def check_padding_mask(padding_mask_fn: Callable) -> str:
    """padding_mask(tokens (B, T), pad_id) -> (B, 1, 1, T) bool, True at real tokens."""
    _need_callable(padding_mask_fn)
    for case, tokens, pad_id in _padded_tokens():
        B, T = tokens.shape
        got = _tensor(_call(padding_mask_fn, tokens.clone(), pad_id))
        hint = ": add the two broadcast dimensions, e.g. mask[:, None, None, :]" if got.dim() == 2 else ""
        _shape("the mask", got, (B, 1, 1, T), case, hint)
        _bool_mask(got, case)
        expected = (tokens != pad_id)[:, None, None, :]  # (B, 1, 1, T)
        _mask_errors(got, expected, case, future=None, pad=~expected)
    return "3 batches match: True at real tokens, False at padding, shape (B, 1, 1, T)"


def _masked_attention_cases() -> list[tuple[str, Tensor, Tensor, Tensor, Tensor | None]]:
    tokens = torch.tensor([[5, 6, 7, 8, 0], [5, 6, 0, 0, 0]])  # (2, 5)
    pad = (tokens != 0)[:, None, None, :]  # (2, 1, 1, 5)
    empty = torch.ones(2, 1, 4, 5, dtype=torch.bool)  # (2, 1, 4, 5)
    empty[1, :, 2] = False  # query 2 of sentence 1 may attend to nothing
    cases = [
        ("no mask", (2, 4, 8), (2, 4, 8), None),
        ("a causal mask (T=5)", (2, 5, 8), (2, 5, 8), causal_mask(5)),
        ("a padding mask (B, 1, 1, T) on heads (2, 2, 5, 4)", (2, 2, 5, 4), (2, 2, 5, 4), pad),
        ("causal AND padding", (2, 2, 5, 4), (2, 2, 5, 4), pad & causal_mask(5)),
        ("a row where every key is masked", (2, 1, 4, 6), (2, 1, 5, 6), empty),
    ]
    return [(case, _randn(*qs), _randn(*ks), _randn(*ks), mask) for case, qs, ks, mask in cases]


@_checker("masked attention")
def check_masked_attention(masked_attention: Callable) -> str:
    """masked_attention(query, key, value, mask=None) -> (output, weights); mask True = may attend."""
    _need_callable(masked_attention)
    for case, q, k, v, mask in _masked_attention_cases():
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        args = (q.clone(), k.clone(), v.clone(), None if mask is None else mask.clone())
        got_out, got_weights = _pair(_call(masked_attention, *args), "output", "weights")
        _shape("the weights", got_weights, tuple(weights.shape), case)
        _shape("the output", got_out, tuple(out.shape), case)
        if torch.isnan(got_weights).any() or torch.isnan(got_out).any():
            raise _Fail(
                f"{case}: the result holds NaN; a row with nothing to attend to must give weights and "
                f"output of zeros (softmax of a row of -inf is 0/0)"
            )
        if mask is not None:
            leak = (got_weights.detach().abs() > 1e-6) & ~mask.expand_as(weights)  # (..., T_q, T_k)
            if leak.any():
                index = tuple(int(i) for i in leak.nonzero()[0])
                i, j = index[-2], index[-1]
                w = float(got_weights[index])
                what = (
                    "the mask lets the future leak" if j > i and "causal" in case else "the mask forbids it"
                )
                raise _Fail(f"{case}: query {i} gives weight {w:.2f} to key {j}: {what}")
        _close("the weights", got_weights, weights, case)
        _close("the output", got_out, out, case)
    return "5 cases match the library: no mask, causal, padding, both, and a fully masked row (zeros)"


@_checker("decoder mask")
def check_decoder_mask(decoder_mask: Callable) -> str:
    """decoder_mask(tokens (B, T), pad_id) -> (B, 1, T, T) bool: causal AND padding of the keys."""
    _need_callable(decoder_mask)
    for case, tokens, pad_id in _padded_tokens():
        B, T = tokens.shape
        got = _tensor(_call(decoder_mask, tokens.clone(), pad_id))
        _bool_mask(got, case)
        try:
            broadcast = torch.broadcast_shapes(got.shape, (B, 1, T, T))
        except RuntimeError:
            broadcast = None
        if broadcast != torch.Size((B, 1, T, T)):
            raise _Fail(
                f"{case}: the mask has shape {tuple(got.shape)}, which does not broadcast to (B, 1, T, T) = {(B, 1, T, T)}"
            )
        future = ~causal_mask(T).expand(B, 1, T, T)  # (B, 1, T, T)
        pad = (tokens == pad_id)[:, None, None, :].expand(B, 1, T, T)  # (B, 1, T, T)
        _mask_errors(got.expand(B, 1, T, T), ~future & ~pad, case, future=future, pad=pad)
    return "3 batches match: no position sees the future or a padded key"
