"""Turning a trained model into text: greedy decoding, sampling (temperature, top-k, top-p) and beam
search with the length penalty of Wu et al. (2016) that the paper uses (§6.1: beam 4, alpha 0.6).
Explained in notebooks/09_inference.

Every decoder runs the model in eval mode without gradients and, by default, with the decoder's
key/value cache: each step feeds only the newest token, the self-attention keys and values of the
earlier positions are kept, and the cross-attention keys and values are computed once from the memory.
`use_cache=False` recomputes the whole prefix at every step instead; both give the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._checks import check_tensor
from .model import Transformer, device_of


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


# ---------------------------------------------------------------------------------------------------
# The decoding loop shared by every decoder
# ---------------------------------------------------------------------------------------------------


def _check_id(name: str, value: object, vocab_size: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int token id, got {type(value).__name__} {value!r}")
    if not 0 <= value < vocab_size:
        raise ValueError(f"{name} must be a target token id in [0, {vocab_size}), got {value}")
    return value


def _check_decoder_inputs(model, src, max_len, bos_id, eos_id, src_mask) -> Tensor:
    """Validate the arguments every decoder shares; return the source mask (B, 1, 1, S)."""
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a transformer_lib Transformer, got {type(model).__name__}")
    config = model.config
    src = check_tensor("src", src)
    if src.dtype != torch.long:
        raise TypeError(f"src must hold token ids as torch.long, got dtype {src.dtype}")
    if src.dim() != 2 or src.shape[0] == 0 or src.shape[1] == 0:
        raise ValueError(f"src must have shape (B, S) with B, S >= 1, got {tuple(src.shape)}")
    if src.device != device_of(model):
        raise ValueError(f"src must be on the model's device {device_of(model)}, got {src.device}")
    low, high = int(src.min()), int(src.max())
    if low < 0 or high >= config.src_vocab_size:
        raise ValueError(
            f"src ids must be in [0, src_vocab_size={config.src_vocab_size}), got values in [{low}, {high}]"
        )
    if isinstance(max_len, bool) or not isinstance(max_len, int):
        raise TypeError(f"max_len must be an int, got {type(max_len).__name__} {max_len!r}")
    if not 1 <= max_len <= config.max_len:
        raise ValueError(
            f"max_len (tokens to generate) must be in [1, config.max_len={config.max_len}], got {max_len}"
        )
    _check_id("bos_id", bos_id, config.tgt_vocab_size)
    _check_id("eos_id", eos_id, config.tgt_vocab_size)
    B, S = src.shape
    if src_mask is None:
        return model.src_mask(src)  # (B, 1, 1, S)
    check_tensor("src_mask", src_mask)
    if src_mask.dtype != torch.bool:
        raise TypeError(f"src_mask must be a bool tensor (True = may attend), got dtype {src_mask.dtype}")
    try:
        shape = torch.broadcast_shapes(src_mask.shape, (B, 1, 1, S))
    except RuntimeError:
        shape = None
    if shape != torch.Size((B, 1, 1, S)):
        raise ValueError(
            f"src_mask of shape {tuple(src_mask.shape)} does not broadcast to (B, 1, 1, S) = {(B, 1, 1, S)}"
        )
    return src_mask.expand(B, 1, 1, S)  # (B, 1, 1, S)


class _Stepper:
    """Next-token logits for a batch of growing target prefixes, with or without the KV cache."""

    def __init__(self, model, memory: Tensor, src_mask: Tensor, use_cache: bool) -> None:
        self.model, self.memory, self.src_mask = model, memory, src_mask  # (N, S, d_model), (N, 1, 1, S)
        self.cache = model.new_cache() if use_cache else None

    def __call__(self, prefix: Tensor) -> Tensor:
        """prefix (N, t) starting with <bos> -> logits for position t + 1, (N, V)."""
        if self.cache is None:  # recompute the whole prefix
            logits = self.model.decode(prefix, self.memory, self.src_mask)  # (N, t, V)
        else:  # only the newest token; the cache holds the t - 1 before it
            new = prefix[:, len(self.cache) :]  # (N, 1)
            logits = self.model.decode(new, self.memory, self.src_mask, cache=self.cache)  # (N, 1, V)
        return logits[:, -1].float()  # (N, V)

    def reorder(self, index: Tensor) -> None:
        """Keep rows `index` (N,) of the self-attention cache. Beam search only moves rows within
        one sentence's block, whose memory and cross-attention keys/values are all the same."""
        if self.cache is not None:
            for self_cache, _ in self.cache.layers:
                self_cache.reorder(index)


def _check_use_cache(use_cache: object) -> None:
    if not isinstance(use_cache, bool):
        raise TypeError(f"use_cache must be a bool, got {type(use_cache).__name__} {use_cache!r}")


def _decode_loop(model, src, max_len, bos_id, eos_id, src_mask, use_cache, choose) -> Tensor:
    """Generate token by token with `choose(logits (B, V)) -> (B,)`, stopping per row at <eos>."""
    src_mask = _check_decoder_inputs(model, src, max_len, bos_id, eos_id, src_mask)
    _check_use_cache(use_cache)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            B = src.shape[0]
            memory = model.encode(src, src_mask)  # (B, S, d_model)
            step = _Stepper(model, memory, src_mask, use_cache)
            ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)  # (B, 1)
            done = torch.zeros(B, dtype=torch.bool, device=src.device)  # (B,)
            for _ in range(max_len):
                token = choose(step(ys))  # (B,)
                token = token.masked_fill(done, model.config.pad_id)  # (B,) finished rows pad
                ys = torch.cat([ys, token[:, None]], dim=1)  # (B, t + 1)
                done = done | (token == eos_id)  # (B,)
                if bool(done.all()):
                    break
    finally:
        model.train(was_training)
    generated = ys[:, 1:]  # (B, <= max_len) without <bos>
    return generated.clone()  # copied outside inference mode: an ordinary tensor the caller may edit


def greedy_decode(
    model: Transformer,
    src: Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
    src_mask: Tensor | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Pick the most probable next token at every step, for a batch of sources at once.

    src (B, S) long -> ids (B, L), L <= max_len, without <bos>. Each row stops at its <eos> (kept)
    and is padded with `model.config.pad_id` after it; the loop ends when every row is done.
    """
    return _decode_loop(model, src, max_len, bos_id, eos_id, src_mask, use_cache, lambda x: x.argmax(-1))


def sample_decode(
    model: Transformer,
    src: Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    src_mask: Tensor | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Draw every next token from the model's distribution (see `sample_token`).

    src (B, S) long -> ids (B, L), L <= max_len, padded after each row's <eos> as in `greedy_decode`.
    The same seeded `generator` gives the same output, with or without the cache.
    """
    _check_temperature(temperature)
    _check_top_k(top_k)
    _check_top_p(top_p)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")

    def choose(logits: Tensor) -> Tensor:
        return sample_token(logits, temperature, top_k, top_p, generator)  # (B,)

    return _decode_loop(model, src, max_len, bos_id, eos_id, src_mask, use_cache, choose)


# ---------------------------------------------------------------------------------------------------
# Beam search
# ---------------------------------------------------------------------------------------------------


@dataclass
class Hypothesis:
    """One beam-search output: `tokens` without <bos> (ending with <eos> unless max_len cut it),
    `log_prob` = sum of the log-probabilities of its tokens, `score` = log_prob / length penalty."""

    tokens: list[int]
    score: float
    log_prob: float


def gnmt_length_penalty(length: int, alpha: float = 0.6) -> float:
    """lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al., 2016); alpha = 0 ranks by log-probability alone."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_is_done(
    finished_scores: list[float], best_live_log_prob: float, K: int, alpha: float, max_len: int
) -> bool:
    """Whether beam search may stop for one sentence: it has K finished hypotheses and no live prefix
    can still beat the K-th best of them.

    A live prefix's log-probability only falls as it grows (every token adds a log-probability <= 0),
    and its length penalty is at most lp(max_len), so the best score it can still reach is
    best_live_log_prob / lp(max_len). Stopping as soon as K hypotheses are finished would be cheaper
    but can end the search while the best prefix is still growing: weak prefixes that end early fill
    the K places, and beam search then returns a worse translation than greedy decoding.
    """
    if len(finished_scores) < K:
        return False
    if best_live_log_prob == float("-inf"):  # nothing alive
        return True
    kth_best = sorted(finished_scores, reverse=True)[K - 1]
    return kth_best >= best_live_log_prob / gnmt_length_penalty(max_len, alpha)


def beam_search(
    model: Transformer,
    src: Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
    beam_size: int = 4,
    length_penalty: float = 0.6,
    n_best: int = 1,
    src_mask: Tensor | None = None,
    use_cache: bool = True,
) -> list[list[Hypothesis]]:
    """Keep the `beam_size` most probable prefixes of every source sentence, all sentences batched.

    src (B, S) long -> B lists of at most `n_best` hypotheses, best score first. At each step the
    2 * beam_size best one-token extensions are ranked by log-probability; an extension by <eos>
    among the first beam_size finishes a hypothesis, the best beam_size others stay alive. A sentence
    is done when no live prefix can still beat its beam_size-th best finished hypothesis (see
    `beam_is_done`); at max_len the live ones are finished as they are. `length_penalty` is
    alpha >= 0 (the paper uses 0.6). Width 1 with alpha = 0 is greedy decoding; with alpha > 0 it
    finds greedy's output first and keeps going only while a longer output could score higher.
    """
    alpha = length_penalty
    src_mask = _check_decoder_inputs(model, src, max_len, bos_id, eos_id, src_mask)
    _check_use_cache(use_cache)
    K = beam_size
    for name, value in (("beam_size", beam_size), ("n_best", n_best)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if n_best > beam_size:
        raise ValueError(f"n_best={n_best} must be <= beam_size={beam_size} (the beam holds the n-best list)")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"length_penalty must be a float alpha >= 0, got {type(alpha).__name__} {alpha!r}")
    if not alpha >= 0.0:
        raise ValueError(f"length_penalty must be a float alpha >= 0 (the paper uses 0.6), got {alpha}")

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            finished = _beam_loop(model, src, src_mask, max_len, bos_id, eos_id, K, float(alpha), use_cache)
    finally:
        model.train(was_training)
    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in finished]


def _beam_loop(model, src, src_mask, max_len, bos_id, eos_id, K, alpha, use_cache) -> list[list[Hypothesis]]:
    B, device = src.shape[0], src.device
    memory = model.encode(src, src_mask)  # (B, S, d_model)
    step = _Stepper(
        model, memory.repeat_interleave(K, dim=0), src_mask.repeat_interleave(K, dim=0), use_cache
    )  # rows b * K + k: beam k of sentence b
    ys = torch.full((B * K, 1), bos_id, dtype=torch.long, device=device)  # (B*K, 1)
    beam_lp = torch.full((B, K), float("-inf"), device=device)  # (B, K) log P(prefix)
    beam_lp[:, 0] = 0.0  # all beams start as <bos>: keep one so the first step does not repeat
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B

    def finish(b: int, tokens: list[int], log_prob: float) -> None:
        score = log_prob / gnmt_length_penalty(len(tokens), alpha)  # |Y| counts the <eos>
        finished[b].append(Hypothesis(tokens, score, log_prob))

    for _ in range(max_len):
        logp = torch.log_softmax(step(ys), dim=-1)  # (B*K, V)
        V = logp.shape[-1]
        total = (beam_lp[:, :, None] + logp.view(B, K, V)).view(B, K * V)  # (B, K*V)
        top_lp, top_idx = total.topk(min(2 * K, K * V), dim=-1)  # (B, 2K) best extensions
        top_beam, top_tok = top_idx // V, top_idx % V  # (B, 2K), (B, 2K)
        is_eos = top_tok == eos_id  # (B, 2K) at most K of them: one per beam
        ends = is_eos & torch.isfinite(top_lp)  # (B, 2K)
        ends[:, K:] = False  # only an <eos> ranked among the first K finishes a hypothesis
        for b, j in ends.nonzero().tolist():
            if not done[b]:
                prefix = ys[b * K + int(top_beam[b, j]), 1:].tolist()
                finish(b, [*prefix, eos_id], float(top_lp[b, j]))
        live_lp, pick = top_lp.masked_fill(is_eos, float("-inf")).topk(K, dim=-1)  # (B, K), (B, K)
        rows = (torch.arange(B, device=device)[:, None] * K + top_beam.gather(1, pick)).view(-1)  # (B*K,)
        ys = torch.cat([ys[rows], top_tok.gather(1, pick).view(-1, 1)], dim=1)  # (B*K, t + 1)
        step.reorder(rows)
        beam_lp = live_lp  # (B, K)
        best_live = beam_lp.max(dim=-1).values.tolist()  # (B,) the most probable live prefix
        done = [
            d or beam_is_done([h.score for h in hyps], lp, K, alpha, max_len)
            for d, hyps, lp in zip(done, finished, best_live, strict=True)
        ]
        if all(done):
            break
    else:  # max_len reached: the live hypotheses end here, without <eos>
        for b in range(B):
            if not done[b]:
                for k in range(K):
                    if torch.isfinite(beam_lp[b, k]):
                        finish(b, ys[b * K + k, 1:].tolist(), float(beam_lp[b, k]))
    return finished


# ---------------------------------------------------------------------------------------------------
# Text in, text out
# ---------------------------------------------------------------------------------------------------

METHODS = ("greedy", "sample", "beam")


def translate(
    model: Transformer,
    src_vocab,
    tgt_vocab,
    sentences: list[str],
    method: str = "greedy",
    beam_size: int = 4,
    max_len: int | None = None,
    **options,
) -> list[str]:
    """Translate sentences with a trained model: encode, pad into one batch, decode, turn ids into text.

    method "greedy", "sample" (options: temperature, top_k, top_p, generator) or "beam" (options:
    length_penalty; the best hypothesis is kept). max_len defaults to 2 * (longest source) + 10 tokens,
    at most the model's config.max_len. The vocabularies need encode(text), decode(ids), pad_id, bos_id
    and eos_id (see transformer_lib.data.Vocab).
    """
    if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)):
        raise TypeError(f"sentences must be a list of str, got {type(sentences).__name__}")
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise TypeError(f"sentences[{i}] must be a str, got {type(sentence).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    allowed = {"greedy": set(), "sample": {"temperature", "top_k", "top_p", "generator"}}
    allowed["beam"] = {"length_penalty"}
    unknown = sorted(set(options) - allowed[method])
    if unknown:
        raise TypeError(
            f"method={method!r} does not take the option(s) {unknown}; it takes {sorted(allowed[method]) or 'none'}"
        )
    if not sentences:
        return []
    ids = [src_vocab.encode(sentence) for sentence in sentences]
    S = max(1, *(len(x) for x in ids))
    src = torch.full((len(ids), S), src_vocab.pad_id, dtype=torch.long)  # (B, S)
    for row, x in enumerate(ids):
        src[row, : len(x)] = torch.tensor(x, dtype=torch.long)
    src = src.to(device_of(model))  # (B, S)
    src_mask = (src != src_vocab.pad_id)[:, None, None, :]  # (B, 1, 1, S)
    if max_len is None:
        max_len = min(model.config.max_len, 2 * S + 10)
    bos, eos = tgt_vocab.bos_id, tgt_vocab.eos_id
    if method == "beam":
        best = beam_search(model, src, max_len, bos, eos, beam_size, src_mask=src_mask, **options)
        outputs = [hyps[0].tokens for hyps in best]
    elif method == "sample":
        outputs = sample_decode(model, src, max_len, bos, eos, src_mask=src_mask, **options).tolist()
    else:
        outputs = greedy_decode(model, src, max_len, bos, eos, src_mask=src_mask).tolist()
    return [tgt_vocab.decode(tokens) for tokens in outputs]
