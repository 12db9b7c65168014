"""The explorers, driven as a learner drives them: set a control's value, check what the callback
computed against a formula, brute force or the library's own decoders. No browser needed."""

import math

import pytest
import torch

import transformer_lib as tl
from transformer_lib import widgets
from transformer_lib.data import Vocab
from transformer_lib.widgets import controls

SRC_WORDS = ["the", "dog", "cat", "sees", "a"]
TGT_WORDS = ["inu", "neko", "ga", "o", "miru"]


@pytest.fixture(scope="module")
def tiny():
    """A small untrained model and its vocabularies (dropout 0, so every call gives the same numbers)."""
    torch.manual_seed(0)
    src_vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *SRC_WORDS])
    tgt_vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *TGT_WORDS])
    config = tl.TransformerConfig.tiny(
        len(src_vocab), len(tgt_vocab), d_model=16, n_heads=2, n_layers=2, d_ff=32, dropout=0.0, max_len=32
    )
    return tl.Transformer(config), src_vocab, tgt_vocab


def test_positional_explorer_shows_the_dot_products_of_the_chosen_position():
    ui = widgets.positional_encoding_explorer(max_len=40, d_model=8)
    controls(ui)["position"].value = 13
    omega = [10000 ** (-2 * i / 8) for i in range(4)]
    expected = [sum(math.cos(w * (13 - j)) for w in omega) for j in range(40)]
    torch.testing.assert_close(
        ui.result["similarity"], torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-10
    )
    before = ui.result["figure"].axes[0].lines[0].get_ydata().copy()
    controls(ui)["dimension"].value = 6
    after = ui.result["figure"].axes[0].lines[0].get_ydata()
    assert not torch.allclose(torch.tensor(before), torch.tensor(after))
    assert ui.result["figure"].axes[0].lines[1].get_xdata()[0] == 13


def test_temperature_explorer_gives_the_tempered_softmax_and_its_entropy():
    ui = widgets.softmax_temperature_explorer(logits=[1.0, 3.0, 0.0])
    entropies = []
    for tau in (0.1, 1.0, 10.0):
        controls(ui)["temperature"].value = tau
        z = sum(math.exp(x / tau) for x in (1.0, 3.0, 0.0))
        expected = [math.exp(x / tau) / z for x in (1.0, 3.0, 0.0)]
        torch.testing.assert_close(
            ui.result["probs"], torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-9
        )
        entropies.append(ui.result["entropy"])
    assert entropies == sorted(entropies)  # hotter is flatter
    assert entropies[0] < 0.01 and entropies[-1] > 0.99 * math.log(3)


def test_temperature_explorer_reads_new_logits_and_reports_unreadable_ones(capsys):
    ui = widgets.softmax_temperature_explorer()
    controls(ui)["temperature"].value = 1.0
    controls(ui)["logits"].value = "0, 0, 0, 0"
    torch.testing.assert_close(
        ui.result["probs"], torch.full((4,), 0.25, dtype=torch.float64), rtol=0, atol=1e-12
    )
    controls(ui)["logits"].value = "1, two"
    assert ui.result is None
    assert "logits must be numbers separated by commas, got '1, two'" in capsys.readouterr().out


def test_mask_builder_combines_padding_and_causality_like_brute_force():
    ui = widgets.mask_builder(lengths=(2, 5, 3), max_length=6)
    controls(ui)["length_2"].value = 6
    lengths, T = (2, 5, 6), 6
    mask = ui.result["mask"]
    assert tuple(mask.shape) == (3, 1, T, T)
    for b, n in enumerate(lengths):
        for i in range(T):
            for j in range(T):
                assert bool(mask[b, 0, i, j]) == (j <= i and j < n), (b, i, j)
    controls(ui)["causal"].value = False
    mask = ui.result["mask"]
    for b, n in enumerate(lengths):
        assert mask[b, 0].tolist() == [[j < n for j in range(T)]] * T


def test_batch_mask_rejects_a_zero_length():
    with pytest.raises(ValueError, match=r"lengths\[1\] must be a positive integer, got 0"):
        widgets.batch_mask([3, 0])


def test_attention_maps_match_the_formula_on_the_first_encoder_layer(tiny):
    model, src_vocab, tgt_vocab = tiny
    src = torch.tensor([src_vocab.encode("the dog sees a cat")])  # (1, S)
    tgt_in = torch.tensor([[tgt_vocab.bos_id, *tgt_vocab.encode("inu ga neko o miru")]])  # (1, T)
    maps = widgets.attention_maps(model, src, tgt_in)
    layer = model.encoder.layers[0].self_attn
    with torch.no_grad():
        x = model.encoder.positions(model.encoder.embedding(src))  # (1, S, d_model) the layer's input
        q = layer.split_heads(layer.w_q(x))  # (1, h, S, d_k)
        k = layer.split_heads(layer.w_k(x))  # (1, h, S, d_k)
        expected = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(layer.d_k), dim=-1)[0]  # (h, S, S)
    torch.testing.assert_close(maps["encoder self-attention"][0], expected, rtol=1e-5, atol=1e-6)
    S, T = src.shape[1], tgt_in.shape[1]
    for weights in maps["decoder self-attention"]:
        assert weights.shape == (2, T, T)
        assert bool((weights.triu(diagonal=1) == 0).all())  # no query sees its future
    for weights in maps["cross-attention"]:
        assert weights.shape == (2, T, S)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, T), rtol=0, atol=1e-6)
    assert all(not m.record_weights for m in model.modules() if isinstance(m, tl.MultiHeadAttention))


def test_attention_explorer_shows_the_chosen_layer_head_and_query(tiny):
    model, src_vocab, tgt_vocab = tiny
    ui = widgets.attention_explorer(model, src_vocab, tgt_vocab, "the dog sees a cat", target="inu ga neko o")
    src = torch.tensor([src_vocab.encode("the dog sees a cat")])
    tgt_in = torch.tensor([[tgt_vocab.bos_id, *tgt_vocab.encode("inu ga neko o")]])
    maps = widgets.attention_maps(model, src, tgt_in)
    c = controls(ui)
    c["layer"].value, c["head"].value, c["query"].value = 1, 1, 3
    torch.testing.assert_close(ui.result["weights"], maps["cross-attention"][1][1, 3], rtol=0, atol=0)
    c["kind"].value = "encoder self-attention"
    assert [label for label, _ in c["query"].options] == ["0: the", "1: dog", "2: sees", "3: a", "4: cat"]
    c["query"].value = 4
    torch.testing.assert_close(ui.result["weights"], maps["encoder self-attention"][1][1, 4], rtol=0, atol=0)


def test_sequence_log_prob_equals_the_log_prob_beam_search_reports(tiny):
    model, src_vocab, tgt_vocab = tiny
    src = torch.tensor([src_vocab.encode("a cat sees the dog")])
    (best,) = tl.beam_search(model, src, 8, tgt_vocab.bos_id, tgt_vocab.eos_id, beam_size=1)[0]
    score = widgets.sequence_log_prob(model, src, best.tokens, tgt_vocab.bos_id, tgt_vocab.eos_id)
    assert math.isclose(score, best.log_prob, rel_tol=1e-5, abs_tol=1e-5)


@pytest.mark.parametrize("beam_size", [1, 2, 3, 5])
def test_beam_search_tree_finds_what_the_library_beam_search_finds(tiny, beam_size):
    model, src_vocab, tgt_vocab = tiny
    bos, eos = tgt_vocab.bos_id, tgt_vocab.eos_id
    for sentence in ("the dog sees a cat", "a cat", "dog"):
        src = torch.tensor([src_vocab.encode(sentence)])
        nodes, hyps = widgets.beam_search_tree(model, src, 6, bos, eos, beam_size)
        (expected,) = tl.beam_search(model, src, 6, bos, eos, beam_size=beam_size)[0]
        assert hyps[0].tokens == expected.tokens
        assert math.isclose(hyps[0].score, expected.score, rel_tol=1e-5, abs_tol=1e-5)
        for step in range(1, 7):
            assert sum(n.step == step and n.status == "kept" for n in nodes) <= beam_size
        assert all(n.parent < i for i, n in enumerate(nodes))
        assert all(n.token == str(eos) for n in nodes if n.status == "finished")


def test_decoding_explorer_greedy_and_beam_agree_with_the_library(tiny):
    model, src_vocab, tgt_vocab = tiny
    sentence = "the cat sees a dog"
    src = torch.tensor([src_vocab.encode(sentence)])
    ui = widgets.decoding_explorer(model, src_vocab, tgt_vocab, sentence, max_len=8)
    (greedy,) = tl.translate(model, src_vocab, tgt_vocab, [sentence], max_len=8)
    assert ui.result["outputs"][0]["text"] == greedy
    controls(ui)["beam_size"].value = 3
    controls(ui)["strategy"].value = "beam search"
    best = tl.beam_search(model, src, 8, tgt_vocab.bos_id, tgt_vocab.eos_id, beam_size=3, n_best=3)[0]
    assert [o["tokens"] for o in ui.result["outputs"]] == [h.tokens for h in best]
    scores = [o["score"] for o in ui.result["outputs"]]
    assert scores == sorted(scores, reverse=True)
    assert ui.result["figure"] is not None


def test_decoding_explorer_sampling_with_top_k_1_is_greedy_and_a_seed_repeats(tiny):
    model, src_vocab, tgt_vocab = tiny
    sentence = "a dog sees the cat"
    ui = widgets.decoding_explorer(model, src_vocab, tgt_vocab, sentence, max_len=8, n_samples=3)
    greedy = ui.result["outputs"][0]["text"]
    c = controls(ui)
    c["top_k"].value = 1
    c["strategy"].value = "sampling"
    assert [o["text"] for o in ui.result["outputs"]] == [greedy] * 3
    c["top_k"].value, c["temperature"].value, c["seed"].value = 0, 2.0, 7
    first = [o["tokens"] for o in ui.result["outputs"]]
    c["seed"].value = 8
    c["seed"].value = 7
    assert [o["tokens"] for o in ui.result["outputs"]] == first
    for o in ui.result["outputs"]:
        expected = widgets.sequence_log_prob(
            model, torch.tensor([src_vocab.encode(sentence)]), o["tokens"], 1, 2
        )
        assert math.isclose(o["log_prob"], expected, rel_tol=1e-6)


def test_decoding_explorer_asks_for_a_sentence_when_the_source_is_empty(tiny, capsys):
    model, src_vocab, tgt_vocab = tiny
    ui = widgets.decoding_explorer(model, src_vocab, tgt_vocab, "the dog")
    controls(ui)["sentence"].value = ""
    assert ui.result is None
    assert "type a source sentence" in capsys.readouterr().out
