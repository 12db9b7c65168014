"""Tests of transformer_lib.decoding: logit filters against brute force, decoders with and without the
KV cache, beam search against greedy and against exhaustive search over a tiny vocabulary."""

import itertools
import math

import pytest
import torch

from transformer_lib import Transformer, TransformerConfig
from transformer_lib.attention import causal_mask
from transformer_lib.decoding import (
    Hypothesis,
    beam_is_done,
    beam_search,
    filter_logits,
    gnmt_length_penalty,
    greedy_decode,
    sample_decode,
    sample_token,
    translate,
)
from transformer_lib.widgets import beam_search_tree

PAD, BOS, EOS = 0, 1, 2


def tiny_model(vocab: int = 9, seed: int = 2, max_len: int = 32) -> Transformer:
    """A random post-LN model whose greedy outputs vary from row to row and step to step."""
    torch.manual_seed(seed)
    config = TransformerConfig(
        vocab,
        vocab,
        d_model=16,
        n_heads=2,
        n_layers=2,
        d_ff=32,
        dropout=0.0,
        tie_output=False,
        max_len=max_len,
    )
    model = Transformer(config)
    with torch.no_grad():
        model.output.weight.mul_(2.0)  # sharper next-token distributions
    return model.eval()


def make_src(B: int = 5, S: int = 6, vocab: int = 9, seed: int = 2) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randint(3, vocab, (B, S))  # (B, S) no <pad>, <bos>, <eos>


def cut_at_eos(row: list[int], eos_id: int) -> list[int]:
    return row[: row.index(eos_id) + 1] if eos_id in row else row


# --- filter_logits and sample_token ---------------------------------------------------------------


def test_top_k_keeps_exactly_the_k_largest_logits():
    torch.manual_seed(0)
    logits = torch.randn(6, 7)  # (B, V) no ties
    for k in range(1, 9):
        kept = torch.isfinite(filter_logits(logits, top_k=k))  # (B, V)
        for b in range(6):
            for v in range(7):
                n_larger = int((logits[b] > logits[b, v]).sum())
                assert bool(kept[b, v]) == (n_larger < k)
    filtered = filter_logits(logits, top_k=3)  # (B, V)
    kept = torch.isfinite(filtered)  # (B, V)
    torch.testing.assert_close(filtered[kept], logits[kept], atol=0, rtol=0)  # kept logits unchanged
    assert (filtered[~kept] == float("-inf")).all()


def minimal_nucleus(probs: list[float], p: float) -> set[int]:
    """Brute force over all subsets: the smallest set with mass >= p (the heaviest among equals)."""
    V = len(probs)
    for size in range(1, V + 1):
        best = max(itertools.combinations(range(V), size), key=lambda s: sum(probs[i] for i in s))
        if sum(probs[i] for i in best) >= p:
            return set(best)
    return set(range(V))


def test_top_p_keeps_the_smallest_set_whose_mass_reaches_p():
    torch.manual_seed(1)
    logits = torch.randn(8, 6) * 2  # (B, V)
    probs = torch.softmax(logits.double(), dim=-1)  # (B, V)
    for p in (1e-6, 0.2, 0.5, 0.75, 0.9, 0.99, 1.0):
        kept = torch.isfinite(filter_logits(logits, top_p=p))  # (B, V)
        for b in range(8):
            expected = minimal_nucleus(probs[b].tolist(), p)
            assert set(torch.nonzero(kept[b]).flatten().tolist()) == expected, (p, b)


def test_top_p_stops_as_soon_as_the_mass_reaches_p_exactly():
    uniform = torch.zeros(1, 4)  # (1, V) probabilities 0.25 each, sums exact in binary
    for p, n_kept in ((0.25, 1), (0.5, 2), (0.75, 3), (0.76, 4), (1.0, 4)):
        assert int(torch.isfinite(filter_logits(uniform, top_p=p)).sum()) == n_kept


def test_top_k_then_top_p_renormalises_over_the_top_k():
    torch.manual_seed(2)
    logits = torch.randn(5, 6) * 2  # (B, V)
    kept = torch.isfinite(filter_logits(logits, top_k=3, top_p=0.8))  # (B, V)
    for b in range(5):
        top3 = logits[b].topk(3).indices.tolist()
        renormalised = torch.softmax(logits[b, top3].double(), dim=-1).tolist()
        expected = {top3[i] for i in minimal_nucleus(renormalised, 0.8)}
        assert set(torch.nonzero(kept[b]).flatten().tolist()) == expected


def test_filters_always_keep_the_most_probable_token():
    torch.manual_seed(3)
    logits = torch.randn(4, 10)  # (B, V)
    for kwargs in ({"top_k": 1}, {"top_p": 1e-9}, {"top_k": 1, "top_p": 1e-9}):
        out = filter_logits(logits, **kwargs)  # (B, V)
        assert torch.isfinite(out).sum(dim=-1).tolist() == [1, 1, 1, 1]
        assert torch.equal(out.argmax(-1), logits.argmax(-1))
    assert torch.equal(filter_logits(logits), logits)  # no filter: unchanged


def test_sample_token_frequencies_match_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).expand(20000, 4)  # (N, V)
    generator = torch.Generator().manual_seed(0)
    tokens = sample_token(logits, temperature=1.5, generator=generator)  # (N,)
    freq = torch.bincount(tokens, minlength=4).double() / 20000  # (V,)
    torch.testing.assert_close(freq, torch.softmax(logits[0].double() / 1.5, dim=-1), atol=0.015, rtol=0)
    top2 = sample_token(logits, top_k=2, generator=generator)  # (N,)
    assert set(top2.tolist()) == {0, 1}


def test_sample_token_is_reproducible_with_a_seed():
    torch.manual_seed(4)
    logits = torch.randn(16, 12)  # (B, V)
    a = sample_token(logits, generator=torch.Generator().manual_seed(7))
    b = sample_token(logits, generator=torch.Generator().manual_seed(7))
    c = sample_token(logits, generator=torch.Generator().manual_seed(8))
    assert a.dtype == torch.long and a.shape == (16,)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# --- greedy and sampling --------------------------------------------------------------------------


def test_greedy_with_cache_equals_recomputation():
    model, src = tiny_model(), make_src()
    cached = greedy_decode(model, src, 12, BOS, EOS)
    recomputed = greedy_decode(model, src, 12, BOS, EOS, use_cache=False)
    assert cached.shape == (5, 12)
    assert torch.equal(cached, recomputed)
    assert len(set(map(tuple, cached.tolist()))) > 1  # the rows really differ


def test_greedy_picks_the_argmax_of_the_full_model_at_every_step():
    model, src = tiny_model(), make_src()
    out = greedy_decode(model, src, 6, BOS, EOS, use_cache=False)  # (B, 6), no row reaches <eos>=2
    tgt = torch.cat([torch.full((5, 1), BOS), out[:, :-1]], dim=1)  # (B, 6) teacher forcing
    assert torch.equal(model(src, tgt).argmax(-1), out)


def test_greedy_stops_each_sentence_at_its_eos_and_pads_after_it():
    model, src = tiny_model(), make_src()
    eos = 4  # a token this model emits at different steps in different rows
    batch = greedy_decode(model, src, 10, BOS, eos)  # (B, L)
    alone = [greedy_decode(model, src[b : b + 1], 10, BOS, eos)[0].tolist() for b in range(5)]
    stops = [len(row) for row in alone]
    assert len(set(stops)) > 1 and min(stops) < batch.shape[1]  # the test needs early and late stops
    assert batch.shape[1] == max(stops) < 10  # the loop ends once every row is done
    for b, row in enumerate(alone):
        assert batch[b].tolist() == row + [PAD] * (batch.shape[1] - len(row))
        if eos in row:
            assert row.index(eos) == len(row) - 1  # alone, a sentence ends right at its <eos>


def test_sampling_with_cache_equals_recomputation_for_the_same_seed():
    model, src = tiny_model(), make_src()
    for kwargs in ({}, {"temperature": 0.7, "top_k": 4}, {"top_p": 0.9}):
        cached = sample_decode(model, src, 12, BOS, EOS, generator=torch.Generator().manual_seed(3), **kwargs)
        again = sample_decode(model, src, 12, BOS, EOS, generator=torch.Generator().manual_seed(3), **kwargs)
        recomputed = sample_decode(
            model, src, 12, BOS, EOS, generator=torch.Generator().manual_seed(3), use_cache=False, **kwargs
        )
        assert torch.equal(cached, again)
        assert torch.equal(cached, recomputed)


def test_sampling_depends_on_the_seed_and_approaches_greedy_as_temperature_goes_to_zero():
    model, src = tiny_model(), make_src()
    a = sample_decode(model, src, 12, BOS, EOS, generator=torch.Generator().manual_seed(0))
    b = sample_decode(model, src, 12, BOS, EOS, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(a, b)
    greedy = greedy_decode(model, src, 12, BOS, EOS)
    cold = sample_decode(
        model, src, 12, BOS, EOS, temperature=1e-4, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(cold, greedy)
    assert not torch.equal(a, greedy)


def test_decoders_restore_the_training_mode():
    model, src = tiny_model(), make_src()
    model.train()
    greedy_decode(model, src, 3, BOS, EOS)
    beam_search(model, src, 3, BOS, EOS, beam_size=2)
    assert model.training


# --- beam search ----------------------------------------------------------------------------------


def test_beam_width_one_equals_greedy():
    model, src = tiny_model(), make_src()
    for eos in (EOS, 4):
        greedy = greedy_decode(model, src, 10, BOS, eos).tolist()
        beams = beam_search(model, src, 10, BOS, eos, beam_size=1, length_penalty=0.0)
        assert [h[0].tokens for h in beams] == [cut_at_eos(row, eos) for row in greedy]


def test_beam_width_one_with_a_length_penalty_scores_at_least_greedy():
    """With alpha > 0 a longer output can outscore greedy's, so width 1 keeps searching after
    greedy's output ends: it returns greedy's output or a longer one that scores higher."""
    model, src = tiny_model(), make_src()
    for eos in (4, 6):
        greedy = [cut_at_eos(row, eos) for row in greedy_decode(model, src, 10, BOS, eos).tolist()]
        beams = beam_search(model, src, 10, BOS, eos, beam_size=1, length_penalty=0.6)
        for b, (hyps, tokens) in enumerate(zip(beams, greedy, strict=True)):
            (greedy_lp,) = sequence_log_probs(model, src[b : b + 1], [tokens])
            greedy_score = greedy_lp / gnmt_length_penalty(len(tokens), 0.6)
            if hyps[0].tokens == tokens:
                assert math.isclose(hyps[0].score, greedy_score, abs_tol=1e-5)
            else:
                assert hyps[0].score > greedy_score and len(hyps[0].tokens) > len(tokens)


class ScriptedModel(Transformer):
    """A Transformer whose next-token probabilities are a fixed function of the target prefix
    (without <bos>), to set up a search by hand. Tokens: 0 <pad>, 1 <bos>, 2 <eos>, 3 "a", 4 "b"."""

    def __init__(self, next_probs) -> None:
        super().__init__(TransformerConfig(5, 5, d_model=8, n_heads=2, n_layers=1, d_ff=8, max_len=16))
        self.next_probs = next_probs

    def decode(self, tgt, memory, src_mask=None, tgt_mask=None, cache=None):
        assert cache is None, "run with use_cache=False"
        rows = [[self.next_probs(row[1 : t + 1]) for t in range(len(row))] for row in tgt.tolist()]
        return torch.tensor(rows).clamp_min(1e-30).log()  # (N, T, V) log-probabilities as logits


def weak_outputs_end_first(body: list[int]) -> list[float]:
    """After "a" x n (n < 4): "a" 0.9, "b" 0.06, <eos> 0.04; after "a a a a": <eos> 0.95. A prefix
    with a "b" ends: <eos> 0.99. The best output is "a a a a <eos>" (greedy's), while the weak "b
    <eos>" and "a b <eos>" end earlier, ranked among the 2 best candidates of their steps."""
    if 4 in body:
        return [0.0025, 0.0025, 0.99, 0.0025, 0.0025]
    if len(body) >= 4:
        return [0.0, 0.0, 0.95, 0.025, 0.025]
    return [0.0, 0.0, 0.04, 0.9, 0.06]


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_search_does_not_stop_before_the_best_prefix_ends(alpha):
    """Stopping as soon as 2 outputs are finished would return "b <eos>", far worse than greedy."""
    model, src = ScriptedModel(weak_outputs_end_first).eval(), torch.tensor([[3]])
    assert greedy_decode(model, src, 8, BOS, EOS, use_cache=False).tolist()[0] == [3, 3, 3, 3, EOS]
    (hyps,) = beam_search(
        model, src, 8, BOS, EOS, beam_size=2, n_best=2, length_penalty=alpha, use_cache=False
    )
    assert hyps[0].tokens == [3, 3, 3, 3, EOS]
    assert math.isclose(hyps[0].log_prob, 4 * math.log(0.9) + math.log(0.95), rel_tol=1e-6)
    if alpha == 0.0:
        assert hyps[1].tokens == [4, EOS]  # the runner-up by probability: 0.06 * 0.99
    _, finished = beam_search_tree(model, src, 8, BOS, EOS, beam_size=2, length_penalty=alpha)
    assert [h.tokens for h in finished[:2]] == [h.tokens for h in hyps]  # the explorer follows the same rule


def a_longer_output_wins_with_a_penalty(body: list[int]) -> list[float]:
    """First "a" 0.9; then <eos> 0.55 or "a" 0.45; after "a a": <eos> 0.999. Greedy stops at
    "a <eos>" (log-prob -0.70); "a a <eos>" (-0.91) scores higher once alpha = 2 rewards length."""
    if not body:
        return [0.0, 0.0, 0.05, 0.9, 0.05]
    if body == [3]:
        return [0.0, 0.0, 0.55, 0.45, 0.0]
    return [0.0, 0.0, 0.999, 0.0005, 0.0005]


def test_beam_width_one_goes_past_greedy_only_when_a_longer_output_can_score_higher():
    model, src = ScriptedModel(a_longer_output_wins_with_a_penalty).eval(), torch.tensor([[3]])
    assert greedy_decode(model, src, 8, BOS, EOS, use_cache=False).tolist()[0] == [3, EOS]
    (hyps,) = beam_search(model, src, 8, BOS, EOS, beam_size=1, length_penalty=0.0, use_cache=False)
    assert hyps[0].tokens == [3, EOS]  # alpha = 0: greedy
    (hyps,) = beam_search(model, src, 8, BOS, EOS, beam_size=1, length_penalty=2.0, use_cache=False)
    assert hyps[0].tokens == [3, 3, EOS]
    greedy_score = math.log(0.9 * 0.55) / gnmt_length_penalty(2, 2.0)
    assert math.isclose(
        hyps[0].score, math.log(0.9 * 0.45 * 0.999) / gnmt_length_penalty(3, 2.0), rel_tol=1e-6
    )
    assert hyps[0].score > greedy_score


def test_beam_is_done_only_when_no_live_prefix_can_win():
    # K = 2 finished scores -1.0 and -3.0; the 2nd best (-3.0) is what a live prefix must beat
    assert not beam_is_done([-1.0], -0.5, K=2, alpha=0.0, max_len=10)  # fewer than K finished
    assert beam_is_done([-1.0, -3.0], -3.0, K=2, alpha=0.0, max_len=10)  # a tie cannot win
    assert not beam_is_done([-1.0, -3.0], -2.9, K=2, alpha=0.0, max_len=10)
    lp = gnmt_length_penalty(10, 0.6)  # the largest penalty an output of <= 10 tokens gets
    assert not beam_is_done([-1.0, -3.0], -3.0 * lp + 0.01, K=2, alpha=0.6, max_len=10)
    assert beam_is_done([-1.0, -3.0], -3.0 * lp - 0.01, K=2, alpha=0.6, max_len=10)
    assert beam_is_done([-1.0, -3.0], float("-inf"), K=2, alpha=0.6, max_len=10)  # nothing alive


def test_beam_with_cache_equals_recomputation():
    model, src = tiny_model(), make_src()
    cached = beam_search(model, src, 10, BOS, 4, beam_size=3, n_best=3)
    recomputed = beam_search(model, src, 10, BOS, 4, beam_size=3, n_best=3, use_cache=False)
    for a, b in zip(cached, recomputed, strict=True):
        assert [h.tokens for h in a] == [h.tokens for h in b]
        torch.testing.assert_close([h.score for h in a], [h.score for h in b], atol=1e-5, rtol=0)


def sequence_log_probs(model, src: torch.Tensor, sequences: list[list[int]]) -> list[float]:
    """log P(y | x) of each sequence, teacher-forced through the whole model in one call per length."""
    result = {}
    for n in sorted({len(y) for y in sequences}):
        group = [y for y in sequences if len(y) == n]
        ys = torch.tensor(group)  # (N, n)
        tgt = torch.cat([torch.full((len(group), 1), BOS), ys[:, :-1]], dim=1)  # (N, n)
        srcs = src.expand(len(group), -1)  # (N, S)
        with torch.no_grad():
            memory = model.encode(srcs)  # (N, S, d_model)
            logits = model.decode(tgt, memory, model.src_mask(srcs), causal_mask(n))  # (N, n, V)
        logp = torch.log_softmax(logits.double(), dim=-1).gather(-1, ys[..., None]).squeeze(-1)  # (N, n)
        result.update({tuple(y): float(lp) for y, lp in zip(group, logp.sum(-1), strict=True)})
    return [result[tuple(y)] for y in sequences]


def all_outputs(V: int, max_len: int, eos: int) -> list[list[int]]:
    """Every output a decoder can produce: ended by <eos>, or max_len tokens without one."""
    others = [v for v in range(V) if v != eos]
    outputs = [[*body, eos] for n in range(max_len) for body in itertools.product(others, repeat=n)]
    return outputs + [list(body) for body in itertools.product(others, repeat=max_len)]


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_a_wide_beam_finds_the_exhaustive_optimum(alpha):
    V, max_len = 5, 4
    model = tiny_model(vocab=V, seed=5)
    src = make_src(B=1, S=4, vocab=V, seed=5)
    outputs = all_outputs(V, max_len, EOS)  # 1 + 4 + 16 + 64 + 256 = 341 sequences
    assert len(outputs) == 341
    log_probs = sequence_log_probs(model, src, outputs)
    scores = [lp / ((5 + len(y)) / 6) ** alpha for y, lp in zip(outputs, log_probs, strict=True)]
    best = max(range(len(outputs)), key=scores.__getitem__)
    hyps = beam_search(model, src, max_len, BOS, EOS, beam_size=341, n_best=341, length_penalty=alpha)[0]
    assert hyps[0].tokens == outputs[best]
    torch.testing.assert_close(hyps[0].score, scores[best], atol=1e-5, rtol=0)
    torch.testing.assert_close(hyps[0].log_prob, log_probs[best], atol=1e-5, rtol=0)
    assert sorted(tuple(h.tokens) for h in hyps) == sorted(map(tuple, outputs))  # every output, once
    torch.testing.assert_close([h.score for h in hyps], sorted(scores, reverse=True), atol=1e-5, rtol=0)


def test_a_small_beam_returns_sorted_n_best_lists_with_consistent_scores():
    model, src = tiny_model(), make_src()
    lists = beam_search(model, src, 8, BOS, EOS, beam_size=4, n_best=3, length_penalty=0.6)
    assert len(lists) == 5
    for b, hyps in enumerate(lists):
        assert len(hyps) == 3 and all(isinstance(h, Hypothesis) for h in hyps)
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        exact = sequence_log_probs(model, src[b : b + 1], [h.tokens for h in hyps])
        torch.testing.assert_close([h.log_prob for h in hyps], exact, atol=1e-5, rtol=0)
        for h in hyps:
            assert math.isclose(h.score, h.log_prob / gnmt_length_penalty(len(h.tokens), 0.6), rel_tol=1e-12)
            assert EOS not in h.tokens[:-1]


def test_gnmt_length_penalty_formula():
    assert gnmt_length_penalty(1, 0.6) == 1.0
    assert math.isclose(gnmt_length_penalty(7, 0.6), 2.0**0.6)
    assert gnmt_length_penalty(30, 0.0) == 1.0


# --- translate ------------------------------------------------------------------------------------


class WordVocab:
    """The interface translate needs, over a fixed word list (ids 0-3 are the special tokens)."""

    pad_id, bos_id, eos_id = 0, 1, 2

    def __init__(self, words: list[str]) -> None:
        self.itos = ["<pad>", "<bos>", "<eos>", "<unk>", *words]

    def encode(self, text: str) -> list[int]:
        return [self.itos.index(w) if w in self.itos else 3 for w in text.split()]

    def decode(self, ids: list[int]) -> str:
        ids = ids[: ids.index(self.eos_id)] if self.eos_id in ids else ids
        return " ".join(self.itos[i] for i in ids if i > 3)


def test_translate_matches_the_decoders_on_the_padded_batch():
    vocab = WordVocab(["a", "b", "c", "d", "e"])
    model = tiny_model(vocab=9)
    sentences = ["a b c", "e d", "c c c c a"]
    src = torch.tensor([[4, 5, 6, 0, 0], [8, 7, 0, 0, 0], [6, 6, 6, 6, 4]])  # (B, S)
    greedy = greedy_decode(model, src, 6, BOS, EOS).tolist()
    assert translate(model, vocab, vocab, sentences, max_len=6) == [vocab.decode(row) for row in greedy]
    beams = beam_search(model, src, 6, BOS, EOS, beam_size=3)
    assert translate(model, vocab, vocab, sentences, method="beam", beam_size=3, max_len=6) == [
        vocab.decode(h[0].tokens) for h in beams
    ]
    sampled = sample_decode(model, src, 6, BOS, EOS, top_k=3, generator=torch.Generator().manual_seed(0))
    assert translate(
        model,
        vocab,
        vocab,
        sentences,
        "sample",
        max_len=6,
        top_k=3,
        generator=torch.Generator().manual_seed(0),
    ) == [vocab.decode(row) for row in sampled.tolist()]
    assert translate(model, vocab, vocab, []) == []


# --- bad inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"src": torch.ones(2, 3)}, TypeError, "src must hold token ids"),
        ({"src": torch.ones(3, dtype=torch.long)}, ValueError, r"src must have shape \(B, S\)"),
        ({"src": [[3, 4]]}, TypeError, "src must be a torch.Tensor"),
        ({"src": torch.full((1, 3), 9)}, ValueError, "src ids must be in"),
        ({"src": torch.full((1, 3), -1)}, ValueError, "src ids must be in"),
        ({"max_len": 0}, ValueError, "max_len"),
        ({"max_len": 33}, ValueError, "max_len"),
        ({"max_len": 2.0}, TypeError, "max_len"),
        ({"bos_id": 9}, ValueError, "bos_id"),
        ({"eos_id": -1}, ValueError, "eos_id"),
        ({"eos_id": "2"}, TypeError, "eos_id"),
        ({"src_mask": torch.ones(1, 1, 1, 3)}, TypeError, "src_mask must be a bool"),
        ({"src_mask": torch.ones(1, 1, 1, 4, dtype=torch.bool)}, ValueError, "src_mask of shape"),
        ({"use_cache": 1}, TypeError, "use_cache"),
        ({"model": torch.nn.Linear(2, 2)}, TypeError, "model must be a transformer_lib Transformer"),
    ],
)
def test_every_decoder_rejects_bad_shared_inputs(kwargs, error, match):
    base = {
        "model": tiny_model(),
        "src": torch.tensor([[3, 4, 5]]),
        "max_len": 4,
        "bos_id": BOS,
        "eos_id": EOS,
    }
    args = {**base, **kwargs}
    for decoder in (greedy_decode, sample_decode, beam_search):
        with pytest.raises(error, match=match):
            decoder(**args)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"beam_size": 0}, ValueError, "beam_size must be at least 1"),
        ({"beam_size": 2.5}, TypeError, "beam_size"),
        ({"n_best": 0}, ValueError, "n_best must be at least 1"),
        ({"beam_size": 2, "n_best": 3}, ValueError, "n_best=3 must be <= beam_size=2"),
        ({"length_penalty": -0.1}, ValueError, "length_penalty"),
        ({"length_penalty": None}, TypeError, "length_penalty"),
    ],
)
def test_beam_search_rejects_bad_inputs(kwargs, error, match):
    with pytest.raises(error, match=match):
        beam_search(tiny_model(), torch.tensor([[3, 4]]), 4, BOS, EOS, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"temperature": 0.0}, ValueError, "temperature must be > 0"),
        ({"temperature": -1.0}, ValueError, "temperature must be > 0"),
        ({"temperature": "hot"}, TypeError, "temperature"),
        ({"top_k": 0}, ValueError, "top_k must be at least 1"),
        ({"top_k": 1.5}, TypeError, "top_k"),
        ({"top_p": 0.0}, ValueError, r"top_p must be in \(0, 1\]"),
        ({"top_p": 1.5}, ValueError, r"top_p must be in \(0, 1\]"),
        ({"generator": 0}, TypeError, "generator must be a torch.Generator"),
    ],
)
def test_sampling_rejects_bad_inputs(kwargs, error, match):
    with pytest.raises(error, match=match):
        sample_decode(tiny_model(), torch.tensor([[3, 4]]), 4, BOS, EOS, **kwargs)
    with pytest.raises(error, match=match):
        sample_token(torch.zeros(2, 5), **kwargs)


def test_logit_filters_reject_bad_inputs():
    with pytest.raises(ValueError, match=r"logits must have shape \(B, V\)"):
        filter_logits(torch.zeros(5))
    with pytest.raises(TypeError, match="logits must be a floating-point"):
        filter_logits(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="logits must be a torch.Tensor"):
        filter_logits([[0.0, 1.0]])
    with pytest.raises(ValueError, match="top_p"):
        filter_logits(torch.zeros(2, 5), top_p=-0.5)
    with pytest.raises(ValueError, match="at least one finite value"):
        sample_token(torch.full((2, 3), float("-inf")))


def test_translate_rejects_bad_inputs():
    vocab, model = WordVocab(["a", "b"]), tiny_model()
    with pytest.raises(TypeError, match="sentences must be a list of str"):
        translate(model, vocab, vocab, "a b")
    with pytest.raises(TypeError, match=r"sentences\[1\] must be a str"):
        translate(model, vocab, vocab, ["a", 3])
    with pytest.raises(ValueError, match="method must be one of"):
        translate(model, vocab, vocab, ["a"], method="topk")
    with pytest.raises(TypeError, match="does not take the option"):
        translate(model, vocab, vocab, ["a"], method="greedy", temperature=0.5)


def test_decoder_outputs_are_ordinary_tensors_a_learner_may_edit():
    """The decoders run under torch.inference_mode; what they return must not be an inference tensor
    (those refuse in-place edits outside that mode)."""
    model, src = tiny_model(), make_src()
    for ids in (
        greedy_decode(model, src, 5, BOS, EOS),
        sample_decode(model, src, 5, BOS, EOS, generator=torch.Generator().manual_seed(0)),
    ):
        assert not ids.is_inference()
        ids[ids == EOS] = PAD  # an in-place edit, as a learner might make
