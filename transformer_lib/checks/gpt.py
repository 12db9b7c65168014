"""Checkers of notebooks/10_decoder_only_gpt (next-character windows, the bigram baseline, a pre-LN
block, temperature and top-k, generation with a sliding window)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..attention import causal_mask
from ..decoding import filter_logits
from ..gpt import GPT, Block, GPTConfig, bigram_loss, unigram_loss
from ._core import (
    _build,
    _call,
    _checker,
    _close,
    _copy_weights,
    _Fail,
    _kind,
    _need_callable,
    _pair,
    _shape,
    _tensor,
)

# ---------------------------------------------------------------------------------------------------
# 10 · A decoder-only GPT
# ---------------------------------------------------------------------------------------------------


@_checker("next-character windows")
def check_windows(windows: Callable) -> str:
    """windows(data (N,), starts (B,), block_size) -> (x, y), each (B, block_size): x = data[s : s + T]
    and y = data[s + 1 : s + T + 1] for every start s."""
    _need_callable(windows)
    data = torch.randint(0, 20, (50,))  # (N,) ids
    cases = (
        ("starts (0, 7, 31), block_size 8", torch.tensor([0, 7, 31]), 8),
        ("one window, block_size 1", torch.tensor([12]), 1),
    )
    for case, starts, T in cases:
        offsets = torch.arange(T)  # (T,)
        x = data[starts[:, None] + offsets]  # (B, T)
        y = data[starts[:, None] + offsets + 1]  # (B, T)
        got_x, got_y = _pair(_call(windows, data.clone(), starts.clone(), T), "x", "y")
        _shape("x", got_x, tuple(x.shape), case)
        _shape("y", got_y, tuple(y.shape), case)
        if torch.equal(got_x, y) and torch.equal(got_y, x):
            raise _Fail(f"{case}: x and y are swapped: return (inputs, targets)")
        if not torch.equal(got_x.long(), x):
            raise _Fail(f"{case}: x is not data[s : s + block_size] for every start s")
        if torch.equal(got_y.long(), x):
            raise _Fail(f"{case}: y equals x: the targets are the inputs shifted one position to the left")
        if not torch.equal(got_y.long(), y):
            raise _Fail(f"{case}: y is not data[s + 1 : s + block_size + 1], the character after each input")
    return "windows and their next characters match, for several starts and lengths"


@_checker("bigram baseline")
def check_bigram_loss(bigram: Callable) -> str:
    """bigram(train (N,), held_out (M,), vocab_size, alpha) -> float: mean -log p(b | a) over the pairs
    of held_out, with p(b | a) = (count(a b) + alpha) / (count(a .) + alpha * vocab_size)."""
    _need_callable(bigram)
    V = 6
    train = torch.randint(0, V - 1, (300,))  # (N,) the last id never occurs: smoothing matters
    held_out = torch.randint(0, V, (60,))  # (M,)
    for alpha in (1.0, 0.5):
        case = f"vocab_size {V}, alpha {alpha}"
        expected = bigram_loss(train, held_out, V, alpha)
        got = _call(bigram, train.clone(), held_out.clone(), V, alpha)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise _Fail(f"your function returned {_kind(got)}, expected a float (nats per character)")
        if math.isclose(got, expected, rel_tol=1e-5):
            continue
        if not math.isfinite(got):
            raise _Fail(f"{case}: your loss is {got}: add alpha to every count, so no pair has probability 0")
        counts = torch.bincount(train[:-1] * V + train[1:], minlength=V * V).view(V, V).double() + alpha
        by_column = -(counts / counts.sum(dim=0, keepdim=True)).log()[held_out[:-1], held_out[1:]].mean()
        if math.isclose(got, float(by_column), rel_tol=1e-5):
            raise _Fail(f"{case}: you normalised over the first character: p(b | a) divides by count(a .)")
        if math.isclose(got, unigram_loss(train, held_out, V, alpha), rel_tol=1e-5):
            raise _Fail(f"{case}: your loss is the unigram one: condition on the previous character")
        if math.isclose(got, expected / math.log(2), rel_tol=1e-5):
            raise _Fail(f"{case}: your loss is in bits: use the natural log (nats)")
        raise _Fail(f"{case}: your loss is {got:.4f} nats per character, expected {expected:.4f}")
    return "the held-out loss matches the library's bigram_loss for two smoothing strengths"


@_checker("pre-LN block")
def check_gpt_block(block_class: Callable) -> str:
    """block_class(d_model, n_heads, d_ff) -> module with norm1, self_attn, norm2, feed_forward;
    forward(x (B, T, d_model), mask) -> x + attn(norm1(x)), then + feed_forward(norm2(.))."""
    mine = _build(block_class, 16, 4, 32)
    reference = Block(16, 4, 32).eval()
    with torch.no_grad():  # LayerNorm weights away from 1 and 0, so that a misplaced norm shows
        for name, p in reference.named_parameters():
            if name.startswith("norm"):
                p.add_(0.3 * torch.randn_like(p))
    _copy_weights(mine, reference, "block")
    mine.eval()
    x = 2.0 * torch.randn(2, 5, 16) + 1.0  # (B, T, d_model)
    for case, mask in (("causal mask", causal_mask(5)), ("no mask", None)):
        expected = reference(x, mask)  # (B, T, d_model)
        with torch.no_grad():
            got = _tensor(_call(mine, x.clone(), mask), "your block")
            r = reference
            post_ln = r.norm1(x + r.self_attn(x, x, x, mask))  # (B, T, d_model)
            post_ln = r.norm2(post_ln + r.feed_forward(post_ln))
            h = r.norm1(x)  # (B, T, d_model)
            no_residual = r.self_attn(h, h, h, mask)  # (B, T, d_model)
            no_residual = r.feed_forward(r.norm2(no_residual))
        _close(
            "the output",
            got,
            expected,
            case,
            diagnoses=(
                (post_ln, "that is post-LN, norm(x + f(x)): a GPT block normalises before each sublayer"),
                (no_residual, "add each sublayer's output to its input (the residual connection)"),
            ),
        )
    return "the output matches the library's pre-LN GPT block, with and without the causal mask"


@_checker("temperature and top-k")
def check_next_token_probs(next_token_probs: Callable) -> str:
    """next_token_probs(logits (B, V), temperature, top_k) -> (B, V) probabilities: softmax of
    logits / temperature over the top_k most likely tokens (all when top_k is None), 0 elsewhere."""
    _need_callable(next_token_probs)
    logits = 3.0 * torch.randn(3, 10)  # (B, V)
    for temperature, top_k in ((1.0, None), (0.5, None), (2.0, 3), (0.7, 1)):
        case = f"temperature {temperature}, top_k {top_k}"
        expected = torch.softmax(filter_logits(logits / temperature, top_k=top_k), dim=-1)  # (B, V)
        got = _tensor(_call(next_token_probs, logits.clone(), temperature, top_k))
        _shape("the probabilities", got, tuple(logits.shape), case)
        multiplied = torch.softmax(filter_logits(logits * temperature, top_k=top_k), dim=-1)
        not_renormalised = torch.softmax(logits / temperature, dim=-1).masked_fill(expected == 0, 0.0)
        _close(
            "the probabilities",
            got,
            expected,
            case,
            diagnoses=(
                (multiplied, "divide the logits by the temperature, do not multiply"),
                (not_renormalised, "renormalise after keeping the top_k tokens: each row must sum to 1"),
            ),
            atol=1e-5,
        )
    return "4 settings match softmax(logits / temperature) over the top-k tokens"


def _tiny_gpt() -> GPT:
    torch.manual_seed(10)
    return GPT(GPTConfig(vocab_size=11, block_size=8, d_model=16, n_heads=2, n_layers=2, d_ff=32)).eval()


@_checker("generation")
def check_generate_greedy(generate: Callable) -> str:
    """generate(model (GPT), idx (B, T), max_new_tokens) -> (B, T + max_new_tokens): each new token
    the most probable one given at most the last block_size tokens."""
    _need_callable(generate)
    model = _tiny_gpt()
    for case, T, n in (
        ("a prompt of 3 tokens, 4 new ones", 3, 4),
        ("a prompt longer than block_size 8", 10, 6),
    ):
        idx = torch.randint(0, 11, (2, T))  # (B, T)
        expected = model.generate(idx, n, top_k=1)  # (B, T + n) top_k = 1 is greedy
        got = _tensor(_call(generate, model, idx.clone(), n))
        _shape("the result", got, tuple(expected.shape), case, " (the prompt, then the new tokens)")
        if not torch.equal(got[:, :T].long(), idx):
            raise _Fail(f"{case}: the result must start with the prompt, unchanged")
        if not torch.equal(got.long(), expected):
            column = int((got.long() != expected).any(dim=0).nonzero()[0])
            raise _Fail(
                f"{case}: new token {column - T + 1} differs: feed the model the last block_size tokens "
                f"and take the most probable next token"
            )
    return "the tokens match GPT.generate with top_k=1, also once the prompt outgrows the context"
