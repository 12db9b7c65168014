"""Scaled dot-product attention, masks and multi-head attention, against PyTorch's own and by property."""

import math

import pytest
import torch
import torch.nn.functional as F
from reference import copy_attention
from torch import nn
from torch.testing import assert_close

from transformer_lib import (
    KVCache,
    MultiHeadAttention,
    causal_mask,
    combine_masks,
    padding_mask,
    scaled_dot_product_attention,
)

TOL = dict(atol=1e-5, rtol=1e-5)


def qkv(B=2, h=3, T_q=5, T_k=7, d_k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, h, T, d_k, generator=g) for T in (T_q, T_k, T_k))


def test_causal_mask_hides_future_tokens():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    assert m.tolist() == [[i >= j for j in range(4)] for i in range(4)]


def test_padding_mask_marks_real_tokens_with_broadcast_shape():
    tokens = torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]])
    m = padding_mask(tokens, pad_id=0)
    assert m.shape == (2, 1, 1, 4)
    assert m[:, 0, 0].tolist() == [[True, True, False, False], [True, False, False, False]]


def test_combine_masks_is_a_broadcast_and():
    tokens = torch.tensor([[5, 6, 0], [7, 8, 9]])
    m = combine_masks(padding_mask(tokens, 0), causal_mask(3), None)
    assert m.shape == (2, 1, 3, 3)
    assert torch.equal(m[0, 0], torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 0]], dtype=torch.bool))
    assert combine_masks(None) is None


def test_matches_the_formula_written_with_softmax():
    q, k, v = qkv()
    out, weights = scaled_dot_product_attention(q, k, v)
    expected_weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(4), dim=-1)
    assert_close(weights, expected_weights, **TOL)
    assert_close(out, expected_weights @ v, **TOL)


@pytest.mark.parametrize("kind", ["none", "causal", "padding", "both"])
def test_matches_torch_scaled_dot_product_attention(kind):
    q, k, v = qkv(T_q=6, T_k=6)
    tokens = torch.tensor([[3, 4, 5, 6, 0, 0], [3, 4, 5, 6, 7, 8]])
    mask = {
        "none": None,
        "causal": causal_mask(6),
        "padding": padding_mask(tokens, 0),
        "both": combine_masks(padding_mask(tokens, 0), causal_mask(6)),
    }[kind]
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL)


def test_attention_rows_sum_to_one_and_masked_weights_are_exactly_zero():
    q, k, v = qkv(T_q=6, T_k=6)
    _, weights = scaled_dot_product_attention(q, k, v, causal_mask(6))
    assert_close(weights.sum(-1), torch.ones(2, 3, 6), **TOL)
    assert torch.all(weights.masked_select(~causal_mask(6)) == 0)


@pytest.mark.parametrize("record", [True, False])
def test_a_row_with_nothing_to_attend_gives_zeros_and_finite_gradients(record):
    mha = MultiHeadAttention(8, 2).eval()
    mha.record_weights = record
    x = torch.randn(1, 3, 8, requires_grad=True)
    mask = torch.tensor([[True, False, False], [False, False, False], [True, True, True]])
    out = mha(x, x, x, mask)
    assert torch.isfinite(out).all()
    assert_close(out[0, 1], mha.w_o.bias, **TOL)  # zeros from attention, then only W^O's bias
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in mha.parameters())
    q, k, v = qkv(T_q=3, T_k=3)
    o, w = scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(o[:, :, 1] == 0) and torch.all(w[:, :, 1] == 0)


def test_self_attention_without_positions_is_permutation_equivariant():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4).eval()
    x = torch.randn(2, 6, 16)
    perm = torch.randperm(6)
    assert_close(mha(x, x, x)[:, perm], mha(x[:, perm], x[:, perm], x[:, perm]), **TOL)


def fused_and_explicit(mha, query, key_value, mask):
    """Output and input gradients of the fused path (record_weights=False) and of the explicit one."""
    results = []
    for record in (False, True):
        mha.record_weights = record
        q, kv = query.clone().requires_grad_(True), key_value.clone().requires_grad_(True)
        out = mha(q, kv, kv, mask)  # (B, T_q, d_model)
        out.square().sum().backward()
        results.append((out.detach(), q.grad, kv.grad))
    return results


@pytest.mark.parametrize("kind", ["none", "padding", "causal", "empty rows"])
def test_fused_path_equals_the_explicit_formula(kind):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4).eval()
    cross = kind in ("none", "padding")
    x = torch.randn(2, 5, 16)
    kv = torch.randn(2, 7, 16) if cross else x
    pad = padding_mask(torch.tensor([[1, 1, 1, 0, 0, 0, 0], [1] * 7]), 0)  # (2, 1, 1, 7)
    empty = torch.tensor([[True] * 5, [False] * 5, [True, False, True, False, True]] * 2).view(2, 1, 3, 5)
    empty = torch.cat([empty, torch.ones(2, 1, 2, 5, dtype=torch.bool)], dim=2)  # (2, 1, 5, 5) row 1 empty
    mask = {"none": None, "padding": pad, "causal": causal_mask(5), "empty rows": empty}[kind]
    (fused, *fused_grads), (explicit, *explicit_grads) = fused_and_explicit(mha, x, kv, mask)
    assert mha.last_weights.shape == (2, 4, 5, 7 if cross else 5)
    assert_close(fused, explicit, **TOL)
    for g_fused, g_explicit in zip(fused_grads, explicit_grads, strict=True):
        assert torch.isfinite(g_fused).all()
        assert_close(g_fused, g_explicit, **TOL)


def multihead_pair(d_model=16, n_heads=4):
    torch.manual_seed(0)
    ours = MultiHeadAttention(d_model, n_heads).eval()
    ref = nn.MultiheadAttention(d_model, n_heads, dropout=0.0, batch_first=True).eval()
    copy_attention(ours, ref)
    return ours, ref


@pytest.mark.parametrize("record", [False, True])
def test_matches_nn_multiheadattention_in_self_attention(record):
    ours, ref = multihead_pair()
    ours.record_weights = record
    x = torch.randn(3, 6, 16)
    expected, ref_weights = ref(x, x, x, attn_mask=~causal_mask(6), average_attn_weights=False)
    assert_close(ours(x, x, x, causal_mask(6)), expected, **TOL)
    if record:
        assert_close(ours.last_weights, ref_weights, **TOL)


def test_matches_nn_multiheadattention_in_cross_attention_with_key_padding():
    ours, ref = multihead_pair()
    x, memory = torch.randn(2, 4, 16), torch.randn(2, 9, 16)
    src = torch.tensor([[5] * 6 + [0] * 3, [5] * 9])
    expected, _ = ref(x, memory, memory, key_padding_mask=(src == 0))
    assert_close(ours(x, memory, memory, padding_mask(src, 0)), expected, **TOL)


def test_padding_a_batch_does_not_change_real_positions():
    ours, _ = multihead_pair()
    x = torch.randn(1, 4, 16)
    padded = torch.cat([x, torch.randn(1, 3, 16)], dim=1)  # (1, 7, 16), 3 junk positions
    tokens = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    assert_close(ours(padded, padded, padded, padding_mask(tokens, 0))[:, :4], ours(x, x, x), **TOL)


def test_self_attention_cache_equals_full_recomputation():
    ours, _ = multihead_pair()
    x = torch.randn(2, 6, 16)
    full = ours(x, x, x, causal_mask(6))
    cache = KVCache()
    steps = [ours(x[:, t : t + 1], x[:, t : t + 1], x[:, t : t + 1], cache=cache) for t in range(6)]
    assert len(cache) == 6
    assert_close(torch.cat(steps, dim=1), full, **TOL)


def test_static_cross_attention_cache_is_filled_once_and_reused():
    ours, _ = multihead_pair()
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    cache = KVCache(static=True)
    first = ours(x, memory, memory, cache=cache)
    k_before = cache.k
    second = ours(x, memory * 100, memory * 100, cache=cache)  # the cache wins over new memory
    assert cache.k is k_before
    assert_close(first, second, **TOL)
    assert_close(first, ours(x, memory, memory), **TOL)


def test_cache_reorder_keeps_the_chosen_rows():
    cache = KVCache()
    cache.k, cache.v = torch.arange(3.0).view(3, 1, 1, 1), torch.arange(3.0).view(3, 1, 1, 1) * 10
    cache.reorder(torch.tensor([2, 2, 0]))
    assert cache.k.flatten().tolist() == [2, 2, 0] and cache.v.flatten().tolist() == [20, 20, 0]


def test_multihead_has_four_d_model_squared_weights_whatever_h():
    counts = {h: sum(p.numel() for p in MultiHeadAttention(64, h).parameters()) for h in (1, 2, 8)}
    assert set(counts.values()) == {4 * 64 * 64 + 4 * 64}


def test_dropout_on_weights_only_in_training():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, dropout=0.5)
    x = torch.randn(2, 5, 16)
    mha.eval()
    assert_close(mha(x, x, x), mha(x, x, x))
    mha.train()
    assert not torch.allclose(mha(x, x, x), mha(x, x, x))
