"""Checkers of notebooks/08_training (teacher forcing, smoothed targets, the label-smoothed loss, the
warm-up schedule)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ._core import (
    _call,
    _checker,
    _close,
    _Fail,
    _kind,
    _need_callable,
    _pair,
    _randn,
    _shape,
    _tensor,
)

# ---------------------------------------------------------------------------------------------------
# 08 · Training
# ---------------------------------------------------------------------------------------------------


@_checker("teacher forcing")
def check_teacher_forcing(teacher_forcing: Callable) -> str:
    """teacher_forcing(targets: list of id lists, bos_id, eos_id, pad_id) -> (tgt_in (B, T), tgt_out (B, T)):
    tgt_in = <bos> + target, tgt_out = target + <eos>, padded with pad_id to T = longest + 1."""
    _need_callable(teacher_forcing)
    cases = (
        ("targets of lengths 3, 1 and 2", [[5, 6, 7], [8], [9, 5]], 1, 2, 0),
        ("a batch of one (bos=3, eos=4, pad=0)", [[7, 8, 9, 10]], 3, 4, 0),
        ("an empty target", [[6, 7], []], 1, 2, 0),
    )
    for case, targets, bos, eos, pad in cases:
        T = max(len(t) for t in targets) + 1
        tgt_in = torch.full((len(targets), T), pad, dtype=torch.long)
        tgt_out = torch.full((len(targets), T), pad, dtype=torch.long)
        for row, t in enumerate(targets):
            tgt_in[row, : len(t) + 1] = torch.tensor([bos, *t], dtype=torch.long)
            tgt_out[row, : len(t) + 1] = torch.tensor([*t, eos], dtype=torch.long)
        got_in, got_out = _pair(
            _call(teacher_forcing, [list(t) for t in targets], bos, eos, pad), "tgt_in", "tgt_out"
        )
        for name, got, expected in (("tgt_in", got_in, tgt_in), ("tgt_out", got_out, tgt_out)):
            _shape(name, got, tuple(expected.shape), case)
            if got.is_floating_point():
                raise _Fail(f"{case}: {name} has dtype {got.dtype}, expected token ids (torch.long)")
        if torch.equal(got_out.long(), tgt_in) or torch.equal(got_in.long(), tgt_out):
            raise _Fail(
                f"{case}: tgt_in and tgt_out are swapped or not shifted: the decoder reads <bos> + target and predicts target + <eos>"
            )
        for name, got, expected in (("tgt_in", got_in, tgt_in), ("tgt_out", got_out, tgt_out)):
            if not torch.equal(got.long(), expected):
                row = int((got.long() != expected).any(dim=1).nonzero()[0])
                raise _Fail(
                    f"{case}: {name} row {row} is {got[row].tolist()}, expected {expected[row].tolist()}"
                )
    return f"{len(cases)} batches match: the labels are the decoder input shifted left by one"


@_checker("smoothed targets")
def check_smoothed_targets(smoothed_targets: Callable) -> str:
    """smoothed_targets(targets (N,), vocab_size, label_smoothing) -> (N, V): (1 - eps) one-hot + eps / V."""
    _need_callable(smoothed_targets)
    cases = (
        ("N=4, V=6, eps=0.1", torch.tensor([0, 5, 2, 2]), 6, 0.1),
        ("N=1, V=3, eps=0.3", torch.tensor([1]), 3, 0.3),
        ("eps=0 (plain one-hot)", torch.tensor([3, 1]), 4, 0.0),
    )
    for case, targets, V, eps in cases:
        one_hot = F.one_hot(targets, V).double()  # (N, V)
        expected = (1 - eps) * one_hot + eps / V  # (N, V)
        got = _tensor(_call(smoothed_targets, targets.clone(), V, eps))
        _shape("the distribution", got, (len(targets), V), case)
        sums = got.detach().double().sum(-1)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
            raise _Fail(
                f"{case}: rows sum to {float(sums[0]):.4f}, expected 1: the distribution is not normalised; "
                f"give the target 1 - eps and spread eps over all V classes (eps / V each)"
            )
        _close(
            "the distribution",
            got,
            expected,
            case,
            diagnoses=(
                (
                    one_hot * (1 - eps) + (1 - one_hot) * eps / max(V - 1, 1),
                    "it spreads eps over the V - 1 wrong classes; this course spreads eps / V over all V classes, as PyTorch does",
                ),
            ),
        )
    return f"{len(cases)} cases match (1 - eps) one-hot + eps / V"


@_checker("label-smoothed loss")
def check_label_smoothed_loss(loss_fn: Callable) -> str:
    """loss_fn(logits (N, V), targets (N,), label_smoothing, ignore_index) -> scalar mean over non-ignored targets."""
    _need_callable(loss_fn)
    cases = (
        ("N=6, V=5, eps=0.1, no padding", _randn(6, 5), torch.tensor([1, 2, 3, 4, 1, 2]), 0.1, 0),
        (
            "N=8, V=7, eps=0.2, three padded targets",
            2 * _randn(8, 7),
            torch.tensor([3, 0, 5, 6, 0, 1, 0, 4]),
            0.2,
            0,
        ),
        ("eps=0 (plain cross-entropy), ignore_index=3", _randn(4, 6), torch.tensor([3, 2, 1, 3]), 0.0, 3),
    )
    for case, logits, targets, eps, ignore in cases:
        expected = F.cross_entropy(logits, targets, label_smoothing=eps, ignore_index=ignore)
        keep = targets != ignore
        log_probs = torch.log_softmax(logits, dim=-1)  # (N, V)
        per_token = -(
            (1 - eps) * log_probs.gather(1, targets[:, None])[:, 0]
            + eps / logits.shape[-1] * log_probs.sum(-1)
        )  # (N,)
        unnormalised = -(
            (1 - eps) * log_probs.gather(1, targets[:, None])[:, 0] + eps * log_probs.sum(-1)
        )  # (N,)
        got = _tensor(_call(loss_fn, logits.clone(), targets.clone(), eps, ignore))
        if got.numel() != 1:
            raise _Fail(
                f"{case}: the loss has shape {tuple(got.shape)}, expected a scalar (the mean over the tokens)"
            )
        _close(
            "the loss",
            got.reshape(()),
            expected,
            case,
            diagnoses=(
                (
                    per_token.mean(),
                    "the padded targets (ignore_index) are counted; average over real tokens only",
                ),
                (per_token[keep].sum(), "it is the sum over tokens; take the mean over the real tokens"),
                (
                    unnormalised[keep].mean(),
                    "eps is not divided by V: the smoothed distribution does not sum to one",
                ),
            ),
        )
    return f"{len(cases)} cases match F.cross_entropy(..., label_smoothing, ignore_index)"


@_checker("warm-up schedule")
def check_noam_lr(noam_lr: Callable) -> str:
    """noam_lr(step, d_model, warmup_steps) -> d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)."""
    _need_callable(noam_lr)
    cases = (
        (1, 512, 4000),
        (100, 512, 4000),
        (4000, 512, 4000),
        (8000, 512, 4000),
        (100000, 512, 4000),
        (7, 64, 10),
        (50, 128, 10),
    )
    for step, d_model, warmup in cases:
        expected = d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)
        got = _call(noam_lr, step, d_model, warmup)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise _Fail(f"your function returned {_kind(got)}, expected a float")
        if not math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-12):
            case = f"step={step}, d_model={d_model}, warmup_steps={warmup}"
            peak = "the rate must rise linearly for warmup_steps steps, peak there, then decay as step^-0.5"
            raise _Fail(f"{case}: your rate is {got:.6g}, expected {expected:.6g}: {peak}")
    return f"{len(cases)} steps match d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)"
