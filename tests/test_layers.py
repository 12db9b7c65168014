"""LayerNorm, FeedForward, EncoderLayer and DecoderLayer against PyTorch's modules with copied weights."""

import pytest
import torch
import torch.nn.functional as F
from reference import copy_decoder_layer, copy_encoder_layer, copy_norm
from torch import nn
from torch.testing import assert_close

from transformer_lib import DecoderLayer, EncoderLayer, FeedForward, LayerNorm, causal_mask, padding_mask

TOL = dict(atol=1e-5, rtol=1e-5)


def test_layernorm_matches_nn_layernorm():
    torch.manual_seed(0)
    ours = LayerNorm(12)
    with torch.no_grad():
        ours.weight.normal_()
        ours.bias.normal_()
    ref = nn.LayerNorm(12)
    copy_norm(ours, ref)
    x = torch.randn(3, 5, 12) * 4 + 2
    assert_close(ours(x), ref(x), **TOL)
    x.requires_grad_(True)
    ours(x).square().sum().backward()
    grad = x.grad.clone()
    x.grad = None
    ref(x).square().sum().backward()
    assert_close(grad, x.grad, **TOL)


@pytest.mark.parametrize("shape", [(12,), (5, 12), (2, 3, 4, 12)])
def test_layernorm_gradients_equal_nn_layernorm_for_input_weight_and_bias(shape):
    """The hand-written backward against autograd through torch's own layer norm, in float64."""
    torch.manual_seed(1)
    ours, ref = LayerNorm(12).double(), nn.LayerNorm(12).double()
    with torch.no_grad():
        ours.weight.normal_()
        ours.bias.normal_()
    copy_norm(ours, ref)
    x = (torch.randn(shape, dtype=torch.float64) * 3 + 1).requires_grad_(True)
    dy = torch.randn(shape, dtype=torch.float64)  # an arbitrary upstream gradient
    got = torch.autograd.grad(ours(x), [x, ours.weight, ours.bias], dy)
    want = torch.autograd.grad(ref(x), [x, ref.weight, ref.bias], dy)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert_close(g, w, atol=1e-10, rtol=1e-10)


def test_layernorm_gradient_passes_gradcheck_and_refuses_a_second_derivative():
    torch.manual_seed(2)
    norm = LayerNorm(6).double()
    with torch.no_grad():
        norm.weight.normal_()
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(norm, (x,))  # finite differences against the written-out gradient
    (grad,) = torch.autograd.grad(norm(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        grad.sum().backward()  # the backward is written for one derivative, and says so


def test_layernorm_output_has_zero_mean_and_unit_variance_per_position():
    y = LayerNorm(64)(torch.randn(4, 7, 64) * 10 + 3)
    assert_close(y.mean(-1), torch.zeros(4, 7), atol=1e-5, rtol=0)
    assert_close(y.var(-1, unbiased=False), torch.ones(4, 7), atol=1e-3, rtol=0)


@pytest.mark.parametrize("activation, fn", [("relu", F.relu), ("gelu", F.gelu)])
def test_feed_forward_is_the_two_layer_formula(activation, fn):
    ff = FeedForward(8, 32, activation=activation)
    x = torch.randn(2, 3, 8)
    expected = fn(x @ ff.w_1.weight.T + ff.w_1.bias) @ ff.w_2.weight.T + ff.w_2.bias
    assert_close(ff(x), expected, **TOL)


def test_feed_forward_acts_on_each_position_alone():
    ff = FeedForward(8, 32)
    x = torch.randn(1, 5, 8)
    assert_close(ff(x)[:, 2], ff(x[:, 2:3])[:, 0], **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_nn_transformerencoderlayer(norm_first, activation):
    torch.manual_seed(0)
    ours = EncoderLayer(16, 4, 32, norm_first=norm_first, activation=activation).eval()
    ref = nn.TransformerEncoderLayer(
        16, 4, 32, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first
    ).eval()
    copy_encoder_layer(ours, ref)
    x = torch.randn(2, 6, 16)
    tokens = torch.tensor([[4, 4, 4, 4, 0, 0], [4] * 6])
    expected = ref(x, src_key_padding_mask=(tokens == 0))
    got = ours(x, padding_mask(tokens, 0))
    assert_close(got[0, :4], expected[0, :4], **TOL)  # nn's fast path may zero padded rows; compare real ones
    assert_close(got[1], expected[1], **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_nn_transformerdecoderlayer(norm_first):
    torch.manual_seed(0)
    ours = DecoderLayer(16, 4, 32, norm_first=norm_first).eval()
    ref = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first).eval()
    copy_decoder_layer(ours, ref)
    x, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    src = torch.tensor([[3] * 5 + [0] * 2, [3] * 7])
    expected = ref(x, memory, tgt_mask=~causal_mask(5), memory_key_padding_mask=(src == 0))
    assert_close(ours(x, memory, padding_mask(src, 0), causal_mask(5)), expected, **TOL)


def test_post_ln_output_is_normalised_and_pre_ln_output_is_not():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16) * 5
    post = EncoderLayer(16, 4, 32, norm_first=False).eval()(x)
    pre = EncoderLayer(16, 4, 32, norm_first=True).eval()(x)
    assert_close(post.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)
    assert pre.mean(-1).abs().max() > 0.1  # the residual stream passes through un-normalised


def test_decoder_layer_never_lets_a_future_token_change_earlier_outputs():
    torch.manual_seed(0)
    layer = DecoderLayer(16, 4, 32).eval()
    x, memory = torch.randn(1, 6, 16), torch.randn(1, 4, 16)
    changed = x.clone()
    changed[:, 4:] = torch.randn(1, 2, 16)
    a = layer(x, memory, tgt_mask=causal_mask(6))
    b = layer(changed, memory, tgt_mask=causal_mask(6))
    assert_close(a[:, :4], b[:, :4], **TOL)
    assert not torch.allclose(a[:, 4:], b[:, 4:])
