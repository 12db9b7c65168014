"""The checkers that the exercise notebooks call after each task (exercises/ and solutions/).

A checker runs the learner's function or class on several small cases (masks, padding, a batch of
one, odd lengths) against the library's reference and prints one line: `[passed] task: ...` or
`[failed] task: <the first thing wrong, in words>`. It never raises: a stub that raises
NotImplementedError, an exception inside the learner's code and a wrong return type each get their
own message. It also returns a `CheckResult(passed, message)`.

Everything a learner's code prints while it is checked is swallowed, so the line is always one line.
The random numbers of the cases come from the checker's own seed; the notebook's random state is
left as it was.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from .decoding import filter_logits, gnmt_length_penalty, greedy_decode
from .embedding import sinusoidal_positional_encoding
from .layers import DecoderLayer, EncoderLayer, FeedForward, LayerNorm
from .model import Transformer, TransformerConfig, count_parameters

PASSED, FAILED = "[passed]", "[failed]"


@dataclass(frozen=True)
class CheckResult:
    """What a checker found: `passed` and the one-line `message` it printed."""

    task: str
    passed: bool
    message: str

    def __str__(self) -> str:
        return f"{PASSED if self.passed else FAILED} {self.task}: {self.message}"

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """The line is already printed; a check cell that ends with the call shows nothing more."""


class _Fail(Exception):
    """Raised inside a checker to report the first thing wrong."""


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _checker(task: str):
    """Turn `body(*args) -> success message` (raising _Fail) into a checker that prints one line."""

    def wrap(body: Callable[..., str]) -> Callable[..., CheckResult]:
        @functools.wraps(body)
        def run(*args, **kwargs) -> CheckResult:
            try:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    result = CheckResult(task, True, body(*args, **kwargs))
            except _Fail as failure:
                result = CheckResult(task, False, _one_line(failure.args[0]))
            except Exception as exc:  # noqa: BLE001  an object so odd that the checker tripped on it
                result = CheckResult(task, False, _one_line(f"the check could not run: {_describe(exc)}"))
            print(result)
            return result

        return run

    return wrap


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _kind(value: object) -> str:
    if value is None:
        return "None (did you forget `return`?)"
    name = type(value).__name__
    return f"an {name}" if name[0].lower() in "aeiou" else f"a {name}"


def _call(fn: Callable, *args, **kwargs):
    """Run the learner's code with its printing swallowed; its exceptions become failures."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return fn(*args, **kwargs)
    except NotImplementedError:
        raise _Fail(
            "your code raised NotImplementedError: fill in the cell above, then run it again"
        ) from None
    except Exception as exc:  # noqa: BLE001  the learner's own error, reported in words
        raise _Fail(f"your code raised {_describe(exc)}") from None


def _need_callable(fn: object, what: str = "a function") -> None:
    if not callable(fn):
        raise _Fail(f"expected {what}, got {_kind(fn)}")


def _tensor(value: object, what: str = "your function") -> Tensor:
    if not isinstance(value, torch.Tensor):
        raise _Fail(f"{what} returned {_kind(value)}, expected a torch.Tensor")
    return value


def _pair(value: object, first: str, second: str) -> tuple[Tensor, Tensor]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise _Fail(f"your function returned {_kind(value)}, expected a tuple ({first}, {second})")
    return _tensor(value[0], f"the {first} your function"), _tensor(value[1], f"the {second} your function")


def _shape(name: str, got: Tensor, expected: tuple[int, ...], case: str, hint: str = "") -> None:
    if tuple(got.shape) != tuple(expected):
        raise _Fail(f"{case}: {name} has shape {tuple(got.shape)}, expected {tuple(expected)}{hint}")


def _close(
    name: str,
    got: Tensor,
    expected: Tensor,
    case: str,
    diagnoses: tuple[tuple[Tensor, str], ...] = (),
    atol: float = 1e-4,
    rtol: float = 1e-4,
) -> None:
    """Compare values; name a known mistake when the learner's values match it."""
    _shape(name, got, tuple(expected.shape), case)
    got = got.detach()
    if got.is_complex() or got.dtype == torch.bool:
        raise _Fail(f"{case}: {name} has dtype {got.dtype}, expected floating-point values")
    got = got.double()
    expected = expected.detach().double()
    if torch.isnan(got).any() and not torch.isnan(expected).any():
        raise _Fail(f"{case}: {name} contains NaN")
    if torch.allclose(got, expected, atol=atol, rtol=rtol, equal_nan=True):
        return
    for wrong, hint in diagnoses:
        if wrong.shape == got.shape and torch.allclose(got, wrong.double(), atol=atol, rtol=rtol):
            raise _Fail(f"{case}: {name} is wrong: {hint}")
    finite = torch.isfinite(got) & torch.isfinite(expected)
    if not torch.equal(torch.isfinite(got), torch.isfinite(expected)):
        raise _Fail(f"{case}: {name} has infinite values in other places than expected")
    diff = float((got - expected).abs()[finite].max())
    raise _Fail(f"{case}: {name} values differ from the reference by up to {diff:.4g}")


def _bool_mask(mask: Tensor, case: str) -> None:
    if mask.dtype != torch.bool:
        raise _Fail(
            f"{case}: the mask has dtype {mask.dtype}, expected torch.bool (True = may attend); "
            f"a comparison such as `tokens != pad_id` gives one"
        )


def _randn(*shape: int) -> Tensor:
    return torch.randn(*shape)


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


def _build(cls: object, *args) -> nn.Module:
    _need_callable(cls, "a class")
    module = _call(cls, *args)
    if not isinstance(module, nn.Module):
        raise _Fail(f"your class built {_kind(module)}, expected an nn.Module (subclass nn.Module)")
    return module


def _copy_weights(mine: nn.Module, reference: nn.Module, what: str) -> None:
    """Load the reference's weights into the learner's module (same attribute names)."""
    expected, have = set(reference.state_dict()), set(mine.state_dict())
    if expected - have:
        missing = ", ".join(sorted(expected - have)[:4])
        raise _Fail(f"your {what} lacks the parameters {missing}: use the attribute names given in the task")
    if have - expected:
        extra = ", ".join(sorted(have - expected)[:4])
        raise _Fail(f"your {what} has parameters the task does not ask for: {extra}")
    try:
        mine.load_state_dict(reference.state_dict())
    except RuntimeError as exc:
        first = _one_line(str(exc).split("\n\t", 1)[-1], 160)
        raise _Fail(f"your {what} has parameters of the wrong shape ({first})") from None


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
