"""The assembled Transformer: against nn.Transformer, by property, and the paper's parameter counts."""

import pytest
import torch
from reference import reference_transformer
from torch.testing import assert_close

from transformer_lib import Transformer, TransformerConfig, causal_mask, count_parameters

TOL = dict(atol=1e-5, rtol=1e-5)


def tiny(**overrides):
    torch.manual_seed(0)
    settings = dict(d_model=32, n_heads=4, n_layers=2, d_ff=64, dropout=0.0, max_len=64)
    return Transformer(TransformerConfig(23, 29, **{**settings, **overrides})).eval()


@pytest.mark.filterwarnings("ignore:enable_nested_tensor")  # nn.Transformer's note about its own fast path
@pytest.mark.parametrize("norm_first", [False, True])
def test_matches_nn_transformer_with_the_same_weights(norm_first):
    model = tiny(norm_first=norm_first, final_norm=True)
    ref = reference_transformer(model)
    src = torch.tensor([[5, 6, 7, 8, 0, 0], [5, 6, 7, 8, 9, 10]])
    tgt = torch.tensor([[1, 4, 5, 6, 0], [1, 4, 5, 6, 7]])
    src_emb = model.encoder.positions(model.encoder.embedding(src))  # (B, S, d_model)
    tgt_emb = model.decoder.positions(model.decoder.embedding(tgt))  # (B, T, d_model)
    hidden = ref(
        src_emb,
        tgt_emb,
        tgt_mask=~causal_mask(5),  # nn.Transformer: True = blocked
        src_key_padding_mask=(src == 0),
        memory_key_padding_mask=(src == 0),
    )
    expected = model.output(hidden)  # (B, T, V)
    got = model(src, tgt, tgt_mask=causal_mask(5))  # the same masks as given to nn.Transformer
    assert got.shape == (2, 5, 29)
    assert_close(got, expected, **TOL)


def test_forward_equals_encode_then_decode():
    model = tiny()
    src, tgt = torch.randint(1, 23, (3, 7)), torch.randint(1, 29, (3, 5))
    memory = model.encode(src)
    assert memory.shape == (3, 7, 32)
    assert_close(model(src, tgt), model.decode(tgt, memory, model.src_mask(src), model.tgt_mask(tgt)), **TOL)


def test_changing_a_future_token_never_changes_earlier_decoder_outputs():
    model = tiny()
    src, tgt = torch.randint(1, 23, (2, 6)), torch.randint(1, 29, (2, 7))
    changed = tgt.clone()
    changed[:, 4] = (changed[:, 4] % 28) + 1
    a, b = model(src, tgt), model(src, changed)
    assert_close(a[:, :4], b[:, :4], **TOL)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_padding_the_source_does_not_change_the_output():
    model = tiny()
    src, tgt = torch.randint(1, 23, (1, 5)), torch.randint(1, 29, (1, 4))
    padded = torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    assert_close(model(padded, tgt), model(src, tgt), **TOL)


def test_padding_the_target_does_not_change_real_positions():
    model = tiny()
    src, tgt = torch.randint(1, 23, (1, 5)), torch.randint(1, 29, (1, 4))
    padded = torch.cat([tgt, torch.zeros(1, 2, dtype=torch.long)], dim=1)
    assert_close(model(src, padded)[:, :4], model(src, tgt), **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_incremental_decoding_equals_full_decoding(norm_first):
    model = tiny(norm_first=norm_first)
    src, tgt = torch.randint(1, 23, (2, 6)), torch.randint(1, 29, (2, 7))
    full = model(src, tgt)
    memory, cache = model.encode(src), model.new_cache()
    steps = [model.decode(tgt[:, t : t + 1], memory, model.src_mask(src), cache=cache) for t in range(7)]
    assert len(cache) == 7
    assert_close(torch.cat(steps, dim=1), full, **TOL)
    # two tokens at a time, with the causal mask covering the cached positions
    cache = model.new_cache()
    chunks = [model.decode(tgt[:, t : t + 2], memory, model.src_mask(src), cache=cache) for t in (0, 2, 4)]
    assert_close(torch.cat(chunks, dim=1), full[:, :6], **TOL)


def test_reordered_cache_follows_the_chosen_rows():
    model = tiny()
    src, tgt = torch.randint(1, 23, (3, 6)), torch.randint(1, 29, (3, 4))
    memory, cache = model.encode(src), model.new_cache()
    model.decode(tgt[:, :3], memory, model.src_mask(src), cache=cache)
    index = torch.tensor([2, 0])
    cache.reorder(index)
    step = model.decode(tgt[index, 3:4], memory[index], model.src_mask(src)[index], cache=cache)
    assert_close(step, model(src[index], tgt[index])[:, 3:4], **TOL)


def test_shared_and_tied_embeddings_are_one_tensor():
    model = Transformer(TransformerConfig.tiny(50, share_embeddings=True))
    e, d, o = model.encoder.embedding.weight, model.decoder.embedding.weight, model.output.weight
    assert e is d and d is o
    untied = Transformer(TransformerConfig.tiny(50, 60, tie_output=False))
    assert untied.output.weight is not untied.decoder.embedding.weight
    assert (
        count_parameters(untied) - count_parameters(Transformer(TransformerConfig.tiny(50, 60))) == 60 * 128
    )


def test_record_attention_keeps_weights_without_changing_the_output():
    model = tiny()
    src, tgt = torch.randint(1, 23, (2, 6)), torch.randint(1, 29, (2, 5))
    before = model(src, tgt)
    model.record_attention(True)
    after = model(src, tgt)
    assert_close(before, after, **TOL)
    assert model.decoder.layers[0].cross_attn.last_weights.shape == (2, 4, 5, 6)
    assert model.encoder.layers[1].self_attn.last_weights.shape == (2, 4, 6, 6)


def test_base_model_parameter_count_follows_the_papers_arithmetic():
    V, d, d_ff, N = 37000, 512, 2048, 6
    attention = 4 * (d * d + d)  # W^Q, W^K, W^V, W^O with biases
    feed_forward = (d * d_ff + d_ff) + (d_ff * d + d)  # W_1, b_1, W_2, b_2
    layer_norm = 2 * d  # gamma and beta
    encoder_layer = attention + feed_forward + 2 * layer_norm
    decoder_layer = 2 * attention + feed_forward + 3 * layer_norm
    embedding = V * d  # one matrix shared by source, target and output (paper §3.4)
    expected = embedding + N * encoder_layer + N * decoder_layer
    assert expected == 63_082_496  # the paper rounds its own count to "65M"
    assert count_parameters(Transformer(TransformerConfig.base())) == expected


def test_big_model_parameter_count():
    V, d, d_ff, N = 37000, 1024, 4096, 6
    attention, feed_forward, layer_norm = 4 * (d * d + d), 2 * d * d_ff + d_ff + d, 2 * d
    expected = (
        V * d
        + N * (attention + feed_forward + 2 * layer_norm)
        + N * (2 * attention + feed_forward + 3 * layer_norm)
    )
    assert expected == 214_245_376  # the paper: "213M"
    assert count_parameters(Transformer(TransformerConfig.big())) == expected


def test_presets_follow_table_3():
    base, big = TransformerConfig.base(), TransformerConfig.big()
    assert (base.d_model, base.d_ff, base.n_heads, base.n_layers, base.dropout) == (512, 2048, 8, 6, 0.1)
    assert (big.d_model, big.d_ff, big.n_heads, big.n_layers, big.dropout) == (1024, 4096, 16, 6, 0.3)
    assert base.d_k == 64 and big.d_k == 64
    assert TransformerConfig.tiny(100).d_model == 128


def test_count_parameters_can_skip_frozen_ones():
    model = tiny()
    total = count_parameters(model)
    model.encoder.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == total - count_parameters(model.encoder)
