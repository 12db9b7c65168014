"""The decoder-only GPT: shapes, the causal property, the KV cache against recomputation, seeded
generation, tied weights, the count baselines against hand-computed numbers, the tokenizer and bad input."""

import math
import re

import pytest
import torch
import torch.nn.functional as F

from transformer_lib.gpt import (
    GPT,
    CharTokenizer,
    GPTConfig,
    bigram_loss,
    evaluate,
    get_batch,
    pydoc_corpus,
    train_gpt,
    unigram_loss,
)

V = 11


def make_model(seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    settings = dict(block_size=8, d_model=16, n_heads=2, n_layers=2, d_ff=32, dropout=0.0)
    return GPT(GPTConfig(V, **{**settings, **overrides})).eval()


def test_forward_gives_logits_of_shape_b_t_vocab():
    model = make_model()
    idx = torch.randint(V, (3, 5))
    assert model(idx).shape == (3, 5, V)


def test_loss_is_mean_cross_entropy_of_the_logits():
    model = make_model()
    idx, targets = torch.randint(V, (2, 6)), torch.randint(V, (2, 6))
    logits, loss = model(idx, targets)
    log_probs = logits.log_softmax(dim=-1)  # (B, T, V)
    expected = -log_probs.gather(-1, targets[..., None]).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


def test_changing_a_future_token_leaves_earlier_logits_equal():
    model = make_model()
    idx = torch.randint(V, (2, 8))
    changed = idx.clone()
    changed[:, 5] = (idx[:, 5] + 1) % V
    before, after = model(idx), model(changed)
    torch.testing.assert_close(after[:, :5], before[:, :5], rtol=0, atol=1e-6)
    assert not torch.allclose(after[:, 5:], before[:, 5:], atol=1e-3)


def test_cached_forward_one_token_at_a_time_matches_full_forward():
    model = make_model()
    idx = torch.randint(V, (2, 8))
    full = model(idx)  # (B, T, V)
    cache = model.new_cache()
    steps = [model(idx[:, :3], cache=cache)] + [model(idx[:, t : t + 1], cache=cache) for t in range(3, 8)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("prompt_len, new", [(3, 4), (2, 15)])  # the second runs past block_size=8
def test_greedy_generation_with_cache_equals_recomputation(prompt_len, new):
    model = make_model()
    idx = torch.randint(V, (2, prompt_len))
    cached = model.generate(idx, new, top_k=1, use_cache=True)
    recomputed = model.generate(idx, new, top_k=1, use_cache=False)
    assert cached.shape == (2, prompt_len + new)
    assert torch.equal(cached[:, :prompt_len], idx)
    assert torch.equal(cached, recomputed)
    # greedy by brute force: the argmax of a full forward over the last block_size tokens
    seq = idx
    for _ in range(new):
        seq = torch.cat([seq, model(seq[:, -8:])[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(cached, seq)


def test_seeded_sampling_with_cache_equals_recomputation():
    model = make_model(seed=1)
    idx = torch.randint(V, (3, 2))
    cached = model.generate(idx, 14, temperature=1.3, top_p=0.95, generator=torch.Generator().manual_seed(5))
    recomputed = model.generate(
        idx, 14, temperature=1.3, top_p=0.95, generator=torch.Generator().manual_seed(5), use_cache=False
    )
    assert torch.equal(cached, recomputed)


def test_generation_is_reproducible_with_a_seed():
    model = make_model()
    idx = torch.zeros(4, 1, dtype=torch.long)
    runs = [model.generate(idx, 20, generator=torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_generate_restores_training_mode_and_keeps_the_prompt():
    model = make_model().train()
    idx = torch.randint(V, (1, 4))
    out = model.generate(idx, 0)
    assert torch.equal(out, idx) and model.training


def test_output_layer_is_tied_to_the_token_embedding():
    model = make_model()
    assert model.output.weight is model.embedding.embedding.weight
    n_params = sum(p.numel() for p in model.parameters())
    n_untied = sum(p.numel() for p in model.state_dict().values())  # lists the shared matrix twice
    assert n_untied - n_params == V * 16


def test_record_attention_keeps_causal_weights_of_every_block():
    model = make_model()
    model.record_attention()
    model(torch.randint(V, (2, 6)))
    for block in model.blocks:
        w = block.self_attn.last_weights  # (B, h, T, T)
        assert w.shape == (2, 2, 6, 6)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 6), rtol=0, atol=1e-5)
        assert torch.all(w.triu(diagonal=1) == 0)


def test_baselines_match_hand_computed_numbers():
    # train "abab", held out "abb", vocabulary a, b, c; add-one smoothing
    train, held_out = torch.tensor([0, 1, 0, 1]), torch.tensor([0, 1, 1])
    # unigram: counts + 1 = (3, 3, 1) of 7; held_out[1:] = "bb"
    assert unigram_loss(train, held_out, 3) == pytest.approx(-math.log(3 / 7), abs=1e-12)
    # bigram rows + 1: after a (1, 3, 1) of 5, after b (2, 1, 1) of 4; held-out pairs ab, bb
    expected = -(math.log(3 / 5) + math.log(1 / 4)) / 2
    assert bigram_loss(train, held_out, 3) == pytest.approx(expected, abs=1e-12)


def test_bigram_beats_unigram_on_a_text_with_structure():
    tok = CharTokenizer.build("the cat sat on the mat. ")
    ids = torch.tensor(tok.encode("the cat sat on the mat. " * 20))
    assert bigram_loss(ids[:400], ids[400:], len(tok)) < unigram_loss(ids[:400], ids[400:], len(tok))


def test_char_tokenizer_round_trip_and_serialisation():
    tok = CharTokenizer.build("hello, world")
    assert tok.chars == sorted(set("hello, world")) and len(tok) == tok.vocab_size == 9
    ids = tok.encode("low hello")
    assert tok.decode(ids) == "low hello" == tok.decode(torch.tensor(ids))
    again = CharTokenizer.from_dict(tok.to_dict())
    assert again.chars == tok.chars and again.encode("world") == tok.encode("world")


def test_pydoc_corpus_splits_the_manual_in_order():
    train, held_out = pydoc_corpus(0.1)
    from pydoc_data.topics import topics

    assert train + held_out == "".join(topics[k] for k in sorted(topics))
    assert len(held_out) == pytest.approx(0.1 * (len(train) + len(held_out)), abs=1)


def test_get_batch_targets_are_inputs_shifted_by_one_and_seeded():
    data = torch.arange(100)
    x, y = get_batch(data, 4, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 10)
    assert torch.equal(y, x + 1)
    x2, _ = get_batch(data, 4, 10, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)


def test_evaluate_is_the_mean_loss_over_consecutive_windows():
    model = make_model()
    data = torch.randint(V, (30,))  # 3 windows of 8 (24 predictions), the tail is left out
    logits = model(data[:24].view(3, 8))
    expected = F.cross_entropy(logits.flatten(0, 1), data[1:25])
    assert evaluate(model, data) == pytest.approx(expected.item(), abs=1e-5)


def test_training_lowers_the_held_out_loss_on_a_repeating_text():
    data = torch.arange(5).repeat(60)  # 0 1 2 3 4 0 1 ...: every next token is predictable
    model = make_model()
    start = evaluate(model, data)
    history = train_gpt(
        model, data, data, steps=40, batch_size=8, lr=1e-2, warmup_steps=5, eval_every=20, progress=False
    )
    assert history["held_out_step"] == [20, 40] and len(history["train_loss"]) == 40
    assert history["held_out_loss"][-1] < 0.2 * start


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda m: m(torch.rand(2, 3)), TypeError, "idx"),
        (lambda m: m(torch.zeros(5, dtype=torch.long)), ValueError, "(B, T)"),
        (lambda m: m(torch.zeros(1, 9, dtype=torch.long)), ValueError, "block_size=8"),
        (lambda m: m(torch.full((1, 3), V)), ValueError, "idx must be ids in [0, vocab_size=11)"),
        (
            lambda m: m(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)),
            ValueError,
            "targets",
        ),
        (lambda m: m.generate(torch.full((1, 3), -1), 2), ValueError, "idx"),
        (
            lambda m: m.generate(torch.zeros(1, 3, dtype=torch.long), 2, temperature=0.0),
            ValueError,
            "temperature",
        ),
        (lambda m: m.generate(torch.zeros(1, 3, dtype=torch.long), 2, top_k=0), ValueError, "top_k"),
        (lambda m: m.generate(torch.zeros(1, 3, dtype=torch.long), 2, top_p=1.5), ValueError, "top_p"),
        (lambda m: m.generate(torch.zeros(1, 3, dtype=torch.long), -1), ValueError, "max_new_tokens"),
    ],
)
def test_bad_model_input_is_rejected_with_a_clear_message(call, error, words):
    with pytest.raises(error, match=re.escape(words)):
        call(make_model())


def test_bad_config_and_data_are_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="d_model=10 must be divisible by n_heads=3"):
        GPTConfig(V, d_model=10, n_heads=3)
    with pytest.raises(TypeError, match="config must be a GPTConfig"):
        GPT({"vocab_size": V})
    with pytest.raises(ValueError, match="outside the vocabulary"):
        CharTokenizer.build("abc").encode("abd")
    with pytest.raises(ValueError, match="vocab_size=3"):
        CharTokenizer.build("abc").decode([0, 3])
    with pytest.raises(ValueError, match="held_out"):
        unigram_loss(torch.tensor([0, 1]), torch.tensor([0, 5]), 3)
