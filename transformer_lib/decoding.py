"""Turning a trained model into text: greedy decoding, sampling (temperature, top-k, top-p) and beam
search with the length penalty of Wu et al. (2016) that the paper uses (§6.1: beam 4, alpha 0.6).
Explained in notebooks/09_inference.

Every decoder runs the model in eval mode without gradients and, by default, with the decoder's
key/value cache: each step feeds only the newest token, the self-attention keys and values of the
earlier positions are kept, and the cross-attention keys and values are computed once from the memory.
`use_cache=False` recomputes the whole prefix at every step instead; both give the same tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_tensor


def _check_top_k(top_k: object) -> None:
    if top_k is None:
        return
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise TypeError(f"top_k must be an int or None, got {type(top_k).__name__} {top_k!r}")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1 (the number of tokens kept), got {top_k}")


def _check_top_p(top_p: object) -> None:
    if top_p is None:
        return
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)):
        raise TypeError(f"top_p must be a float in (0, 1] or None, got {type(top_p).__name__} {top_p!r}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (the probability mass kept), got {top_p}")


def _check_temperature(temperature: object) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(
            f"temperature must be a positive float, got {type(temperature).__name__} {temperature!r}"
        )
    if not temperature > 0.0:
        raise ValueError(
            f"temperature must be > 0 (small values approach greedy decoding), got {temperature}"
        )
    return float(temperature)


def _check_logits(logits: object) -> Tensor:
    tensor = check_tensor("logits", logits)
    if not tensor.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got dtype {tensor.dtype}")
    if tensor.dim() != 2 or tensor.shape[-1] == 0:
        raise ValueError(f"logits must have shape (B, V) with V >= 1, got {tuple(tensor.shape)}")
    return tensor


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set to -inf every logit outside the top-k tokens and outside the nucleus (top-p), row by row.

    logits (B, V) -> (B, V). top-k keeps the k largest logits (and any tied with the k-th);
    top-p (Holtzman et al., 2020) keeps the smallest set of most probable tokens whose probability
    mass is >= p. With both, top-k is applied first and top-p on what is left. The most probable
    token is always kept.
    """
    _check_logits(logits)
    _check_top_k(top_k)
    _check_top_p(top_p)
    V = logits.shape[-1]
    if top_k is not None and top_k < V:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1) the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))  # (B, V)
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V), (B, V)
        probs = torch.softmax(sorted_logits.float(), dim=-1)  # (B, V) most probable first
        mass_before = probs.cumsum(dim=-1) - probs  # (B, V) mass of the tokens ranked above
        drop_sorted = mass_before >= top_p  # (B, V) the set is already big enough without it
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # (B, V) back in vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))  # (B, V)
    return logits


def sample_token(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one token per row from softmax(logits / temperature), after `filter_logits`.

    logits (B, V) -> token ids (B,) long. A seeded `torch.Generator` (on the device of the logits)
    makes the draw reproducible. Temperature < 1 sharpens the distribution, > 1 flattens it.
    """
    _check_logits(logits)
    temperature = _check_temperature(temperature)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    scaled = logits.float() / temperature  # (B, V)
    filtered = filter_logits(scaled, top_k=top_k, top_p=top_p)  # (B, V)
    if not torch.isfinite(filtered).any(dim=-1).all():
        raise ValueError("logits must have at least one finite value in every row, got a row of -inf/nan")
    probs = torch.softmax(filtered, dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B,)
