"""Checkers of notebooks/09_inference (length penalty, greedy decoding, top-p filter, a beam-search
step, the KV cache)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..attention import MultiHeadAttention, causal_mask
from ..decoding import filter_logits, gnmt_length_penalty, greedy_decode
from ..model import Transformer, TransformerConfig
from ._core import (
    _call,
    _checker,
    _close,
    _Fail,
    _kind,
    _need_callable,
    _randn,
    _shape,
    _tensor,
)

# ---------------------------------------------------------------------------------------------------
# 09 · Inference
# ---------------------------------------------------------------------------------------------------


@_checker("length penalty")
def check_length_penalty(length_penalty: Callable) -> str:
    """length_penalty(length, alpha) -> ((5 + length) / 6) ** alpha."""
    _need_callable(length_penalty)
    for length, alpha in ((1, 0.6), (10, 0.6), (7, 0.0), (25, 1.0)):
        expected = gnmt_length_penalty(length, alpha)
        got = _call(length_penalty, length, alpha)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise _Fail(f"your function returned {_kind(got)}, expected a float")
        if not math.isclose(got, expected, rel_tol=1e-6):
            raise _Fail(f"length={length}, alpha={alpha}: your penalty is {got:.4g}, expected {expected:.4g}")
    return "4 cases match ((5 + |Y|) / 6) ** alpha"


BOS_ID, EOS_ID, PAD_ID = 1, 2, 0


def _decoding_model() -> tuple[Transformer, Tensor]:
    """A tiny random model and a batch whose greedy outputs end with <eos> in one row only
    (seed chosen so; tests/test_checks.py pins this property)."""
    config = TransformerConfig(
        8, 7, d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.0, max_len=32, tie_output=False
    )
    torch.manual_seed(168)
    model = Transformer(config).eval()
    src = torch.tensor([[3, 4, 5, 6], [7, 3, 0, 0], [5, 5, 4, 0]])  # (3, 4)
    return model, src


def _until_eos(row: list[int]) -> list[int]:
    return row[: row.index(EOS_ID) + 1] if EOS_ID in row else row


@_checker("greedy decoding")
def check_greedy_decode(greedy: Callable) -> str:
    """greedy(model, src (B, S), max_len, bos_id, eos_id) -> (B, L) ids without <bos>, L <= max_len,
    each row stopping at its <eos> and padded with pad_id (0) after it."""
    _need_callable(greedy)
    model, src = _decoding_model()
    max_len = 8
    expected = greedy_decode(model, src, max_len, BOS_ID, EOS_ID).tolist()  # (B, L)
    with torch.no_grad():
        got = _tensor(_call(greedy, model, src.clone(), max_len, BOS_ID, EOS_ID))
    if got.dim() != 2 or got.shape[0] != src.shape[0]:
        raise _Fail(f"the result has shape {tuple(got.shape)}, expected (B, L) = ({src.shape[0]}, L)")
    if got.shape[1] > max_len:
        first = got[:, 0].tolist()
        hint = ": leave out the <bos> you started with" if all(t == BOS_ID for t in first) else ""
        raise _Fail(f"the result has {got.shape[1]} tokens per row, more than max_len={max_len}{hint}")
    for b, (mine, ref) in enumerate(zip(got.long().tolist(), expected, strict=True)):
        ref = _until_eos(ref)
        if mine[0] == BOS_ID and ref[0] != BOS_ID:
            raise _Fail(f"row {b} starts with <bos> (id {BOS_ID}): return only the generated tokens")
        head = _until_eos(mine)
        if head != ref:
            if ref[-1] == EOS_ID and mine[: len(ref) - 1] == ref[:-1] and EOS_ID not in mine:
                raise _Fail(
                    f"row {b}: expected {ref}, got {mine}: the row must end at the model's first <eos>"
                )
            raise _Fail(f"row {b}: expected {ref}, got {head}: pick the most probable token at every step")
        rest = mine[len(head) :]
        if any(t != PAD_ID for t in rest):
            raise _Fail(
                f"row {b} goes on after <eos> with {rest}: once a row has produced <eos> (id {EOS_ID}), "
                f"fill the rest with pad_id ({PAD_ID})"
            )
    return "3 sentences match the library's greedy_decode, stopping at <eos>"


@_checker("top-p filter")
def check_top_p_filter(top_p_filter: Callable) -> str:
    """top_p_filter(logits (B, V), top_p) -> (B, V): -inf outside the smallest set of most probable
    tokens whose probability mass is >= top_p."""
    _need_callable(top_p_filter)
    peaked = torch.log(torch.tensor([[0.5, 0.3, 0.1, 0.06, 0.04], [0.04, 0.06, 0.1, 0.3, 0.5]]))
    cases = (
        ("probabilities (0.5, 0.3, 0.1, 0.06, 0.04), top_p=0.85", peaked, 0.85),
        ("top_p=0.5 (only the top token: its mass reaches p)", peaked, 0.5),
        ("logits (3, 10), top_p=0.9", 2 * _randn(3, 10), 0.9),
        ("top_p=1.0 keeps everything", _randn(1, 4), 1.0),
    )
    for case, logits, p in cases:
        expected = filter_logits(logits, top_p=p)  # (B, V)
        got = _tensor(_call(top_p_filter, logits.clone(), p))
        _shape("the logits", got, tuple(logits.shape), case)
        kept, want = torch.isfinite(got), torch.isfinite(expected)
        if not torch.equal(kept, want):
            b = int((kept != want).any(dim=1).nonzero()[0])
            got_n, want_n = int(kept[b].sum()), int(want[b].sum())
            hint = (
                "keep the token whose probability takes the mass past top_p"
                if got_n < want_n
                else "keep only the most probable tokens until their mass reaches top_p"
            )
            raise _Fail(f"{case}: row {b} keeps {got_n} tokens, expected {want_n}: {hint}")
        _close("the kept logits", torch.where(want, got, 0.0), torch.where(want, expected, 0.0), case)
    return f"{len(cases)} cases match the library's nucleus filter"


@_checker("beam search step")
def check_beam_step(beam_step: Callable) -> str:
    """beam_step(beam_scores (K,), log_probs (K, V), beam_size) -> (scores (K,), beams (K,), tokens (K,)),
    the beam_size best extensions over all K * V, best first."""
    _need_callable(beam_step)
    cases = (
        ("K=3 beams, V=5", torch.tensor([-0.2, -0.9, -1.6]), 3, 5),
        ("K=2 beams, V=7", torch.tensor([-0.1, -3.0]), 2, 7),
        ("K=1 beam (greedy)", torch.tensor([0.0]), 1, 4),
    )
    for case, scores, K, V in cases:
        log_probs = torch.log_softmax(2 * _randn(K, V), dim=-1)  # (K, V)
        if K == 3:
            log_probs[0] = torch.log_softmax(
                torch.tensor([3.0, 2.9, 2.8, -2.0, -2.0]), -1
            )  # beam 0 keeps several children
        total = (scores[:, None] + log_probs).view(-1)  # (K*V,)
        best, index = total.topk(K)  # (K,), (K,)
        result = _call(beam_step, scores.clone(), log_probs.clone(), K)
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            raise _Fail(f"your function returned {_kind(result)}, expected a tuple (scores, beams, tokens)")
        got_scores, beams, tokens = (_tensor(t) for t in result)
        for name, t in (("scores", got_scores), ("beams", beams), ("tokens", tokens)):
            _shape(name, t, (K,), case)
        per_beam = (scores + log_probs.max(-1).values).sort(descending=True).values  # (K,)
        _close(
            "the scores",
            got_scores,
            best,
            case,
            diagnoses=(
                (per_beam, "it keeps the best token of each beam; rank all K * V extensions together"),
            ),
        )
        if not (torch.equal(beams.long(), index // V) and torch.equal(tokens.long(), index % V)):
            raise _Fail(
                f"{case}: beams {beams.tolist()} and tokens {tokens.tolist()} do not match the scores; expected beams {(index // V).tolist()} and tokens {(index % V).tolist()}"
            )
    return f"{len(cases)} cases match the top beam_size of all K * V extensions"


@_checker("KV cache")
def check_kv_cache_step(attend_step: Callable) -> str:
    """attend_step(mha, x_new (B, 1, d_model), cache: dict) -> (B, 1, d_model); cache["k"], cache["v"]
    grow to (B, h, t, d_k); step by step the outputs equal causal self-attention over the whole sequence."""
    _need_callable(attend_step)
    for case, B, T, d_model, h in (
        ("B=2, 5 steps, d_model=16, h=4", 2, 5, 16, 4),
        ("a batch of one, 3 steps, one head", 1, 3, 8, 1),
    ):
        mha = MultiHeadAttention(d_model, h).eval()
        x = _randn(B, T, d_model)
        with torch.no_grad():
            expected = mha(x, x, x, causal_mask(T))  # (B, T, d_model)
        cache: dict = {}
        for t in range(T):
            with torch.no_grad():
                got = _tensor(_call(attend_step, mha, x[:, t : t + 1].clone(), cache))
            step = f"{case}, step {t}"
            _shape("the output", got, (B, 1, d_model), step)
            for key in ("k", "v"):
                held = cache.get(key)
                if not isinstance(held, torch.Tensor):
                    raise _Fail(
                        f"{step}: cache[{key!r}] holds {_kind(held)}, expected the keys/values so far as a tensor"
                    )
                if tuple(held.shape) != (B, h, t + 1, d_model // h):
                    raise _Fail(
                        f"{step}: cache[{key!r}] has shape {tuple(held.shape)}, expected {(B, h, t + 1, d_model // h)}: "
                        f"append the new position along the time axis (dim 2)"
                    )
            _close("the output", got, expected[:, t : t + 1], step)
    return "every step matches causal self-attention over the whole sequence"
