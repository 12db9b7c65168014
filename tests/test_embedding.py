"""Token embedding and sinusoidal positional encoding (paper §3.4, §3.5)."""

import math

import pytest
import torch
from torch.testing import assert_close

from transformer_lib import PositionalEncoding, TokenEmbedding, sinusoidal_positional_encoding


def test_table_matches_the_formula_elementwise():
    pe = sinusoidal_positional_encoding(20, 10, dtype=torch.float64)
    assert pe.shape == (20, 10)
    for pos in range(20):
        for i in range(5):
            angle = pos / 10000 ** (2 * i / 10)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-12)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-12)


def test_odd_d_model_follows_the_same_formula():
    pe = sinusoidal_positional_encoding(8, 7, dtype=torch.float64)
    pos = torch.arange(8, dtype=torch.float64)
    for dim in range(7):
        angle = pos / 10000 ** ((dim - dim % 2) / 7)
        assert_close(pe[:, dim], torch.sin(angle) if dim % 2 == 0 else torch.cos(angle), atol=1e-12, rtol=0)


def test_shift_by_k_is_a_fixed_linear_map():
    d, k = 16, 5
    pe = sinusoidal_positional_encoding(64, d, dtype=torch.float64)
    # PE(pos + k) = M_k PE(pos) with M_k block-diagonal 2x2 rotations by k * w_i, the same for every pos
    M = torch.zeros(d, d, dtype=torch.float64)
    for i in range(d // 2):
        w = 1 / 10000 ** (2 * i / d)
        c, s = math.cos(k * w), math.sin(k * w)
        M[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    assert_close(pe[k:], pe[:-k] @ M.T, atol=1e-10, rtol=0)


def test_positional_encoding_adds_the_table_and_supports_offsets():
    module = PositionalEncoding(d_model=8, max_len=30).eval()
    x = torch.randn(2, 5, 8)
    assert_close(module(x), x + sinusoidal_positional_encoding(30, 8)[:5])
    assert_close(module(x, offset=7), x + sinusoidal_positional_encoding(30, 8)[7:12])


def test_positional_encoding_dropout_is_active_only_in_training():
    module = PositionalEncoding(d_model=8, max_len=30, dropout=0.5)
    x = torch.ones(4, 10, 8)
    torch.manual_seed(0)
    train_out = module.train()(x)
    assert (train_out == 0).float().mean().item() == pytest.approx(0.5, abs=0.1)
    assert_close(module.eval()(x), x + module.pe[:10])


def test_token_embedding_is_scaled_by_sqrt_d_model():
    emb = TokenEmbedding(vocab_size=11, d_model=16)
    tokens = torch.tensor([[1, 2, 3], [10, 0, 5]])
    assert_close(emb(tokens), emb.embedding.weight[tokens] * 4.0)
    assert emb(tokens).shape == (2, 3, 16)


def test_gradient_reaches_only_the_rows_used():
    emb = TokenEmbedding(vocab_size=6, d_model=4)
    emb(torch.tensor([[1, 3]])).sum().backward()
    used = emb.embedding.weight.grad.abs().sum(-1) > 0
    assert used.tolist() == [False, True, False, True, False, False]
