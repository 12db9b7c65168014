"""Tests of transformer_lib.moe: the mixture-of-experts layer against its single experts, against a
brute-force loop over tokens, and its load-balancing loss against the formula."""

import pytest
import torch
from torch import nn

from transformer_lib.layers import EncoderLayer, FeedForward
from transformer_lib.moe import MixtureOfExperts, load_balancing_loss

D_MODEL, D_FF = 8, 16


def make_moe(n_experts: int = 4, top_k: int = 2, seed: int = 0) -> MixtureOfExperts:
    torch.manual_seed(seed)
    moe = MixtureOfExperts(D_MODEL, D_FF, n_experts=n_experts, top_k=top_k)
    with torch.no_grad():
        moe.router.weight.mul_(3.0)  # sharper routing, so tokens pick different experts
    return moe


def test_output_has_the_input_shape():
    moe = make_moe()
    x = torch.randn(3, 5, D_MODEL)  # (B, T, d_model)
    assert moe(x).shape == (3, 5, D_MODEL)
    assert moe.last_choices.shape == (3, 5, 2)
    assert moe.tokens_per_expert.shape == (4,)
    assert moe.tokens_per_expert.sum().item() == 3 * 5 * 2


def test_one_expert_equals_that_experts_feedforward():
    torch.manual_seed(0)
    moe = MixtureOfExperts(D_MODEL, D_FF, n_experts=1, top_k=1)
    ffn = FeedForward(D_MODEL, D_FF)
    ffn.load_state_dict(moe.experts[0].state_dict())
    x = torch.randn(2, 6, D_MODEL)  # (B, T, d_model)
    torch.testing.assert_close(moe(x), ffn(x), rtol=1e-6, atol=1e-6)
    assert moe.load_balancing_loss.item() == pytest.approx(1.0)


def test_top1_routing_gives_the_chosen_experts_output():
    moe = make_moe(n_experts=4, top_k=1)
    x = torch.randn(2, 7, D_MODEL)  # (B, T, d_model)
    out = moe(x)  # (B, T, d_model)
    chosen = (x @ moe.router.weight.T).argmax(dim=-1)  # (B, T) highest router logit
    assert chosen.unique().numel() > 1, "the test needs tokens routed to different experts"
    for b in range(2):
        for t in range(7):
            expected = moe.experts[chosen[b, t]](x[b, t])  # (d_model,)
            torch.testing.assert_close(out[b, t], expected, rtol=1e-5, atol=1e-6)


def test_each_token_gets_the_gate_weighted_sum_of_its_top_k_experts():
    moe = make_moe(n_experts=5, top_k=2)
    x = torch.randn(3, 4, D_MODEL)  # (B, T, d_model)
    out = moe(x)  # (B, T, d_model)
    for b in range(3):
        for t in range(4):
            logits = moe.router.weight @ x[b, t]  # (n_experts,)
            probs = torch.softmax(logits, dim=0)  # (n_experts,)
            best = sorted(range(5), key=lambda e: -probs[e].item())[:2]
            total = probs[best[0]] + probs[best[1]]
            expected = sum(probs[e] / total * moe.experts[e](x[b, t]) for e in best)  # (d_model,)
            torch.testing.assert_close(out[b, t], expected, rtol=1e-5, atol=1e-6)
            assert sorted(moe.last_choices[b, t].tolist()) == sorted(best)


def test_load_balancing_loss_matches_its_formula():
    moe = make_moe(n_experts=4, top_k=2)
    x = torch.randn(4, 6, D_MODEL)  # (B, T, d_model)
    moe(x)
    tokens = x.reshape(-1, D_MODEL)  # (N, d_model)
    probs = torch.softmax(tokens @ moe.router.weight.T, dim=-1)  # (N, n_experts)
    top2 = probs.topk(2, dim=-1).indices  # (N, 2)
    f = torch.tensor([(top2 == e).sum().item() / top2.numel() for e in range(4)])  # (n_experts,)
    P = probs.mean(dim=0)  # (n_experts,)
    expected = 4 * (f * P).sum()
    torch.testing.assert_close(moe.load_balancing_loss, expected, rtol=1e-6, atol=1e-6)
    counts = torch.tensor([(top2 == e).sum().item() for e in range(4)])
    assert torch.equal(moe.tokens_per_expert, counts)


def test_load_balancing_loss_is_one_for_uniform_routing_and_larger_otherwise():
    moe = make_moe(n_experts=4, top_k=2)
    x = torch.randn(2, 8, D_MODEL)  # (B, T, d_model)
    with torch.no_grad():
        moe.router.weight.zero_()  # every token: probability 1/4 for every expert
    moe(x)
    uniform = moe.load_balancing_loss.item()
    assert uniform == pytest.approx(1.0, abs=1e-6)
    # When every token shares one router distribution p, the loss is n_experts / top_k times the
    # sum of p's top_k entries, at least 1, with 1 only at the uniform p.
    generator = torch.Generator().manual_seed(1)
    shared = MixtureOfExperts(D_MODEL, D_FF, n_experts=4, top_k=2)
    shared.router = nn.Linear(D_MODEL, 4, bias=True)
    for _ in range(20):
        bias = torch.randn(4, generator=generator) * 2  # (n_experts,) one preference for all tokens
        with torch.no_grad():
            shared.router.weight.zero_()
            shared.router.bias.copy_(bias)
        shared(x)
        p = torch.softmax(bias, dim=0)  # (n_experts,)
        expected = 4 / 2 * p.topk(2).values.sum().item()
        assert shared.load_balancing_loss.item() == pytest.approx(expected, rel=1e-6)
        assert shared.load_balancing_loss.item() > uniform


def test_collapsed_router_gives_a_loss_near_n_experts():
    moe = MixtureOfExperts(D_MODEL, D_FF, n_experts=4, top_k=1)
    moe.router = nn.Linear(D_MODEL, 4, bias=True)
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.bias.copy_(torch.tensor([20.0, 0.0, 0.0, 0.0]))  # everything to expert 0
    moe(torch.randn(2, 5, D_MODEL))
    assert moe.tokens_per_expert.tolist() == [10, 0, 0, 0]
    assert moe.load_balancing_loss.item() == pytest.approx(4.0, abs=1e-6)


def test_gradients_reach_the_router_from_the_output_and_from_the_balancing_loss():
    moe = make_moe(n_experts=4, top_k=2)
    x = torch.randn(2, 5, D_MODEL)  # (B, T, d_model)
    moe(x).pow(2).sum().backward()
    assert moe.router.weight.grad is not None and moe.router.weight.grad.abs().sum() > 0
    moe.zero_grad()
    moe(x)
    moe.load_balancing_loss.backward()
    assert moe.router.weight.grad.abs().sum() > 0
    for e, expert in enumerate(moe.experts):  # the balancing loss alone does not touch the experts
        assert expert.w_1.weight.grad is None or expert.w_1.weight.grad.abs().sum() == 0, e


def test_is_a_drop_in_replacement_inside_an_encoder_layer():
    torch.manual_seed(0)
    layer = EncoderLayer(D_MODEL, 2, D_FF, norm_first=True)
    layer.feed_forward = MixtureOfExperts(D_MODEL, D_FF, n_experts=3, top_k=2)
    x = torch.randn(2, 5, D_MODEL)  # (B, T, d_model)
    out = layer(x)  # (B, T, d_model)
    assert out.shape == x.shape
    total = load_balancing_loss(layer)
    torch.testing.assert_close(total, layer.feed_forward.load_balancing_loss)
    (out.sum() + 0.01 * total).backward()
    used = layer.feed_forward.tokens_per_expert > 0  # (n_experts,)
    for e, expert in enumerate(layer.feed_forward.experts):
        assert (expert.w_1.weight.grad is not None) == bool(used[e]), e
    assert layer.feed_forward.router.weight.grad.abs().sum() > 0


def test_load_balancing_loss_of_a_model_without_experts_is_zero():
    assert load_balancing_loss(FeedForward(D_MODEL, D_FF)).item() == 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        (dict(n_experts=0), ValueError, "n_experts"),
        (dict(top_k=0), ValueError, "top_k"),
        (dict(n_experts=2, top_k=3), ValueError, "top_k=3"),
        (dict(n_experts=2.0), TypeError, "n_experts"),
        (dict(dropout=1.5), ValueError, "dropout"),
        (dict(activation="tanh"), ValueError, "activation"),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, error, words):
    with pytest.raises(error, match=words):
        MixtureOfExperts(D_MODEL, D_FF, **kwargs)


def test_bad_input_is_named():
    moe = make_moe()
    with pytest.raises(ValueError, match="d_model=8"):
        moe(torch.randn(2, 3, 5))
    with pytest.raises(TypeError, match="floating-point"):
        moe(torch.ones(2, 3, D_MODEL, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        moe([[0.0] * D_MODEL])
    with pytest.raises(TypeError, match="model"):
        load_balancing_loss("not a model")
