"""The checkers of the exercise notebooks: each passes the library's reference, rejects deliberately
broken answers with a message that names the mistake, and never raises."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import transformer_lib as tl
from transformer_lib import checks

# ---------------------------------------------------------------------------------------------------
# Reference answers, written from the library
# ---------------------------------------------------------------------------------------------------


def split_heads(x, n_heads):
    B, T, d_model = x.shape
    return x.view(B, T, n_heads, d_model // n_heads).transpose(1, 2)  # (B, h, T, d_k)


def merge_heads(x):
    B, h, T, d_k = x.shape
    return x.transpose(1, 2).reshape(B, T, h * d_k)  # (B, T, d_model)


def kv_step(mha, x_new, cache):
    k, v = mha.split_heads(mha.w_k(x_new)), mha.split_heads(mha.w_v(x_new))  # (B, h, 1, d_k) each
    if "k" in cache:
        k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)  # (B, h, t, d_k)
    cache["k"], cache["v"] = k, v
    out, _ = tl.scaled_dot_product_attention(mha.split_heads(mha.w_q(x_new)), k, v)  # (B, h, 1, d_k)
    return mha.w_o(mha.merge_heads(out))  # (B, 1, d_model)


def beam_step(scores, log_probs, beam_size):
    V = log_probs.shape[-1]
    best, index = (scores[:, None] + log_probs).view(-1).topk(beam_size)  # (K,), (K,)
    return best, index // V, index % V


def shared_count(V, d_model, n_heads, d_ff, n_layers):
    config = tl.TransformerConfig(V, V, d_model, n_heads, n_layers, d_ff, share_embeddings=True)
    return tl.count_parameters(tl.Transformer(config))


def teacher_forcing(targets, bos_id, eos_id, pad_id):
    T = max(len(t) for t in targets) + 1
    tgt_in = torch.full((len(targets), T), pad_id)  # (B, T)
    tgt_out = torch.full((len(targets), T), pad_id)  # (B, T)
    for row, t in enumerate(targets):
        tgt_in[row, : len(t) + 1] = torch.tensor([bos_id, *t])
        tgt_out[row, : len(t) + 1] = torch.tensor([*t, eos_id])
    return tgt_in, tgt_out


def windows(data, starts, block_size):
    positions = starts[:, None] + torch.arange(block_size)  # (B, block_size)
    return data[positions], data[positions + 1]


def next_token_probs(logits, temperature, top_k):
    return torch.softmax(tl.filter_logits(logits / temperature, top_k=top_k), dim=-1)  # (B, V)


def generate_greedy(model, idx, n):
    return model.generate(idx, n, top_k=1)  # (B, T + n)


REFERENCES = {
    "check_attention_scores": lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]),
    "check_softmax": lambda s: torch.softmax(s, dim=-1),
    "check_attention": tl.scaled_dot_product_attention,
    "check_self_attention": lambda x, w_q, w_k, w_v: tl.scaled_dot_product_attention(w_q(x), w_k(x), w_v(x)),
    "check_causal_mask": tl.causal_mask,
    "check_padding_mask": tl.padding_mask,
    "check_masked_attention": tl.scaled_dot_product_attention,
    "check_decoder_mask": lambda t, pad_id: tl.padding_mask(t, pad_id) & tl.causal_mask(t.shape[1]),
    "check_split_heads": split_heads,
    "check_merge_heads": merge_heads,
    "check_multi_head_attention": tl.MultiHeadAttention,
    "check_cross_attention": lambda x, m, w_q, w_k, w_v, mask=None: tl.scaled_dot_product_attention(
        w_q(x), w_k(m), w_v(m), mask
    ),
    "check_cross_attention_layer": lambda mha, x, m, src, pad_id: mha(x, m, m, tl.padding_mask(src, pad_id)),
    "check_alignment": lambda w: w.argmax(dim=-1),
    "check_layer_norm": lambda x, g, b, eps=1e-5: F.layer_norm(x, x.shape[-1:], g, b, eps),
    "check_feed_forward": lambda x, w_1, b_1, w_2, b_2: F.relu(x @ w_1 + b_1) @ w_2 + b_2,
    "check_residual_sublayer": lambda x, sub, norm, first: x + sub(norm(x)) if first else norm(x + sub(x)),
    "check_embed": lambda t, emb, pe: emb(t) * math.sqrt(emb.embedding_dim) + pe[: t.shape[1]],
    "check_encoder_layer": tl.EncoderLayer,
    "check_decoder_layer": tl.DecoderLayer,
    "check_parameter_count": shared_count,
    "check_teacher_forcing": teacher_forcing,
    "check_smoothed_targets": lambda t, V, eps: (1 - eps) * F.one_hot(t, V) + eps / V,
    "check_label_smoothed_loss": lambda logits, t, eps, ignore: F.cross_entropy(
        logits, t, label_smoothing=eps, ignore_index=ignore
    ),
    "check_noam_lr": lambda step, d, w: d**-0.5 * min(step**-0.5, step * w**-1.5),
    "check_length_penalty": tl.gnmt_length_penalty,
    "check_greedy_decode": tl.greedy_decode,
    "check_top_p_filter": lambda logits, p: tl.filter_logits(logits, top_p=p),
    "check_beam_step": beam_step,
    "check_kv_cache_step": kv_step,
    "check_windows": windows,
    "check_bigram_loss": tl.gpt.bigram_loss,
    "check_gpt_block": lambda d_model, n_heads, d_ff: tl.gpt.Block(d_model, n_heads, d_ff),
    "check_next_token_probs": next_token_probs,
    "check_generate_greedy": generate_greedy,
}
CHECKERS = sorted(name for name in dir(checks) if name.startswith("check_"))


def test_every_checker_has_a_reference():
    assert sorted(REFERENCES) == CHECKERS


@pytest.mark.parametrize("name", CHECKERS)
def test_checker_passes_the_library_reference(name, capsys):
    result = getattr(checks, name)(REFERENCES[name])
    printed = capsys.readouterr().out
    assert result.passed, result.message
    assert printed == str(result) + "\n"
    assert printed.startswith("[passed] ")


# ---------------------------------------------------------------------------------------------------
# Stubs, errors and wrong types: a message each, never an exception
# ---------------------------------------------------------------------------------------------------


def stub(*args, **kwargs):
    raise NotImplementedError()


def crashes(*args, **kwargs):
    return [1, 2][5]


class StubModule(nn.Module):
    def __init__(self, *args):
        super().__init__()
        raise NotImplementedError()


@pytest.mark.parametrize("name", CHECKERS)
def test_checker_reports_a_stub_without_raising(name, capsys):
    result = getattr(checks, name)(stub)
    assert not result.passed
    assert "raised NotImplementedError: fill in the cell above" in result.message
    assert capsys.readouterr().out.count("\n") == 1


@pytest.mark.parametrize("name", CHECKERS)
def test_checker_reports_an_error_inside_the_learners_code(name):
    result = getattr(checks, name)(crashes)
    assert not result.passed
    assert "your code raised IndexError: list index out of range" in result.message


@pytest.mark.parametrize("name", ["check_multi_head_attention", "check_encoder_layer", "check_decoder_layer"])
def test_class_checker_reports_a_stub_constructor(name):
    result = getattr(checks, name)(StubModule)
    assert "raised NotImplementedError" in result.message


@pytest.mark.parametrize(
    "name",
    [n for n in CHECKERS if n not in {"check_parameter_count", "check_noam_lr", "check_length_penalty"}],
)
def test_checker_reports_a_wrong_return_type(name):
    result = getattr(checks, name)(lambda *args, **kwargs: [[0.0]])
    assert not result.passed
    assert "returned a list" in result.message or "built a list" in result.message


def test_checker_reports_a_missing_return():
    result = checks.check_attention_scores(lambda q, k: None)
    assert result.message == "your function returned None (did you forget `return`?), expected a torch.Tensor"


def test_checker_reports_something_that_is_not_a_function():
    assert checks.check_softmax(42).message == "expected a function, got an int"


def test_number_checkers_report_a_wrong_return_type():
    assert "returned a str, expected an int" in checks.check_parameter_count(lambda *a: "many").message
    assert "returned a list, expected a float" in checks.check_noam_lr(lambda *a: [1.0]).message


def test_learner_printing_is_swallowed_and_the_result_is_one_line(capsys):
    def noisy(scores):
        print("[passed] debugging output\nmore lines")
        return torch.softmax(scores, dim=-1)

    result = checks.check_softmax(noisy)
    assert capsys.readouterr().out == str(result) + "\n"


def test_checker_leaves_the_notebooks_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_attention(tl.scaled_dot_product_attention)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)


def test_result_repr_is_deterministic_and_bool_is_passed():
    result = checks.CheckResult("softmax", False, "rows do not sum to one")
    assert repr(result) == "CheckResult(task='softmax', passed=False, message='rows do not sum to one')"
    assert str(result) == "[failed] softmax: rows do not sum to one"
    assert not result
    assert result._ipython_display_() is None


# ---------------------------------------------------------------------------------------------------
# Deliberately broken answers, each with the message that names its mistake
# ---------------------------------------------------------------------------------------------------


def unscaled_attention(q, k, v, mask=None):
    weights = torch.softmax(q @ k.transpose(-2, -1), dim=-1)  # (..., T_q, T_k)
    return weights @ v, weights


def attention_over_queries(q, k, v):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-2)  # (..., T_q, T_k)
    return weights @ v, weights


def attention_without_mask(q, k, v, mask=None):
    return tl.scaled_dot_product_attention(q, k, v)


def attention_with_nan_rows(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., T_q, T_k) NaN in an all-masked row
    return weights @ v, weights


class MHATransposedHeads(tl.MultiHeadAttention):
    def split_heads(self, x):
        B, T, _ = x.shape
        return x.reshape(B, self.n_heads, T, self.d_k)  # the values land in the wrong heads

    def forward(self, query, key, value, mask=None):
        q, k, v = (self.split_heads(w(t)) for w, t in ((self.w_q, query), (self.w_k, key), (self.w_v, value)))
        out, _ = tl.scaled_dot_product_attention(q, k, v, mask)
        return self.w_o(self.merge_heads(out))


class MHAWithoutOutputProjection(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.w_q, self.w_k, self.w_v = (nn.Linear(d_model, d_model) for _ in range(3))
        self.n_heads = n_heads


class DecoderLayerWithoutCausalMask(tl.DecoderLayer):
    def forward(self, x, memory, src_mask=None, tgt_mask=None):
        return super().forward(x, memory, src_mask, None)


class DecoderLayerCrossFromX(tl.DecoderLayer):
    def forward(self, x, memory, src_mask=None, tgt_mask=None):
        x = self.norm1(x + self.self_attn(x, x, x, tgt_mask))  # (B, T, d_model)
        x = self.norm2(x + self.cross_attn(x, x, x))  # (B, T, d_model) reads x, not the memory
        return self.norm3(x + self.feed_forward(x))  # (B, T, d_model)


class PreLNEncoderLayer(tl.EncoderLayer):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__(d_model, n_heads, d_ff, norm_first=True)


def greedy_ignoring_eos(model, src, max_len, bos_id, eos_id):
    memory = model.encode(src)
    ys = torch.full((src.shape[0], 1), bos_id)  # (B, 1)
    for _ in range(max_len):
        next_token = model.decode(ys, memory, model.src_mask(src))[:, -1].argmax(-1)  # (B,)
        ys = torch.cat([ys, next_token[:, None]], dim=1)  # (B, t + 1)
    return ys[:, 1:]


def greedy_keeping_bos(model, src, max_len, bos_id, eos_id):
    out = tl.greedy_decode(model, src, max_len, bos_id, eos_id)  # (B, L)
    return torch.cat([torch.full((src.shape[0], 1), bos_id), out], dim=1)


def top_p_dropping_the_crossing_token(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    drop = (cumulative > p).scatter(-1, order, cumulative > p)
    return logits.masked_fill(drop, float("-inf"))


def unnormalised_smoothing(logits, targets, eps, ignore_index):
    log_probs = torch.log_softmax(logits, dim=-1)  # (N, V)
    smoothed = (1 - eps) * F.one_hot(targets, logits.shape[-1]) + eps  # (N, V) eps not divided by V
    keep = targets != ignore_index  # (N,)
    return -(smoothed * log_probs).sum(-1)[keep].mean()


def beam_step_per_beam(scores, log_probs, beam_size):
    best, token = (scores[:, None] + log_probs).max(dim=-1)  # (K,), (K,)
    best, beams = best.sort(descending=True)
    return best, beams, token[beams]


def kv_step_without_growing(mha, x_new, cache):
    cache["k"] = mha.split_heads(mha.w_k(x_new))
    cache["v"] = mha.split_heads(mha.w_v(x_new))
    out, _ = tl.scaled_dot_product_attention(mha.split_heads(mha.w_q(x_new)), cache["k"], cache["v"])
    return mha.w_o(mha.merge_heads(out))


class PostLNBlock(tl.gpt.Block):
    def forward(self, x, mask=None):
        x = self.norm1(x + self.self_attn(x, x, x, mask))  # (B, T, d_model)
        return self.norm2(x + self.feed_forward(x))


class BlockWithoutResiduals(tl.gpt.Block):
    def forward(self, x, mask=None):
        h = self.norm1(x)  # (B, T, d_model)
        return self.feed_forward(self.norm2(self.self_attn(h, h, h, mask)))


class BlockWithExtraParameters(tl.gpt.Block):
    def __init__(self, *args):
        super().__init__(*args)
        self.gate = nn.Linear(4, 4)


def bigram_unsmoothed(train, held_out, V, alpha=1.0):
    return tl.gpt.bigram_loss(train, held_out, V, alpha=0.0)


def bigram_by_column(train, held_out, V, alpha=1.0):
    counts = torch.bincount(train[:-1] * V + train[1:], minlength=V * V).view(V, V).double() + alpha
    return -(counts / counts.sum(dim=0, keepdim=True)).log()[held_out[:-1], held_out[1:]].mean().item()


def generate_without_window(model, idx, n):
    for _ in range(n):
        token = model(idx)[:, -1].argmax(-1)  # (B,) fails once idx outgrows block_size
        idx = torch.cat([idx, token[:, None]], dim=1)
    return idx


def generate_from_the_first_token(model, idx, n):
    for _ in range(n):
        token = model(idx[:, -model.config.block_size :])[:, 0].argmax(-1)  # (B,) the wrong position
        idx = torch.cat([idx, token[:, None]], dim=1)
    return idx


BROKEN = [
    ("check_attention_scores", lambda q, k: q @ k.transpose(-2, -1), "without the scaling by 1 / sqrt(d_k)"),
    ("check_attention_scores", lambda q, k: q @ k.transpose(-2, -1) / q.shape[-1], "divided by d_k"),
    ("check_attention_scores", lambda q, k: q @ k.transpose(-2, -1)[..., :1], "has shape"),
    ("check_softmax", lambda s: s.exp() / s.exp().sum(-1, keepdim=True), "subtract each row's maximum"),
    ("check_softmax", lambda s: torch.softmax(s, dim=0), "normalises over the first dimension"),
    ("check_attention", unscaled_attention, "without the scaling by 1 / sqrt(d_k)"),
    ("check_attention", attention_over_queries, "the softmax runs over the queries"),
    (
        "check_attention",
        lambda q, k, v: tl.scaled_dot_product_attention(q, k, v)[0],
        "expected a tuple (output, weights)",
    ),
    (
        "check_self_attention",
        lambda x, w_q, w_k, w_v: tl.scaled_dot_product_attention(w_k(x), w_q(x), w_v(x)),
        "swapped",
    ),
    (
        "check_causal_mask",
        lambda T: torch.ones(T, T, dtype=torch.bool).triu(),
        "position 0 attends to position 1: the mask lets the future leak",
    ),
    ("check_causal_mask", lambda T: torch.ones(T, T).tril(), "dtype torch.float32, expected torch.bool"),
    (
        "check_causal_mask",
        lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1),
        "position 0 cannot attend to position 0",
    ),
    (
        "check_padding_mask",
        lambda t, p: t != p,
        "has shape (2, 6), expected (2, 1, 1, 6): add the two broadcast",
    ),
    (
        "check_padding_mask",
        lambda t, p: (t == p)[:, None, None, :],
        "row 0: position 0 cannot attend to position 0",
    ),
    (
        "check_padding_mask",
        lambda t, p: (t != 0)[:, None, None, :],
        "pad_id=1 and a row without padding: row 0: position 0 attends to position 4, which is padding",
    ),
    (
        "check_masked_attention",
        attention_without_mask,
        "to key 1: the mask lets the future leak",
    ),
    (
        "check_masked_attention",
        attention_with_nan_rows,
        "a row where every key is masked: the result holds NaN",
    ),
    (
        "check_decoder_mask",
        lambda t, p: tl.causal_mask(t.shape[1]),
        "row 0: position 4 attends to position 4, which is padding",
    ),
    (
        "check_decoder_mask",
        lambda t, p: tl.padding_mask(t, p),
        "row 0: position 0 attends to position 1: the mask lets the future leak",
    ),
    (
        "check_decoder_mask",
        lambda t, p: tl.padding_mask(t, p)[:, 0] & tl.causal_mask(t.shape[1]),
        "does not broadcast to (B, 1, T, T)",
    ),
    (
        "check_split_heads",
        lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1),
        "view as (B, T, h, d_k) first, then swap T and h",
    ),
    (
        "check_split_heads",
        lambda x, h: x.view(x.shape[0], x.shape[1], h, -1),
        "has shape (2, 5, 3, 4), expected (2, 3, 5, 4)",
    ),
    (
        "check_merge_heads",
        lambda x: x.reshape(x.shape[0], x.shape[2], -1),
        "swap h and T back before reshaping",
    ),
    ("check_multi_head_attention", MHATransposedHeads, "values differ from the reference by up to"),
    (
        "check_multi_head_attention",
        MHAWithoutOutputProjection,
        "lacks the parameters w_o.bias, w_o.weight: use the attribute names given in the task",
    ),
    (
        "check_cross_attention",
        lambda x, m, w_q, w_k, w_v, mask=None: tl.scaled_dot_product_attention(w_q(x), w_k(x), w_v(x)),
        "queries come from the decoder (x), keys and values from the encoder's memory",
    ),
    (
        "check_cross_attention",
        lambda x, m, w_q, w_k, w_v, mask=None: tl.scaled_dot_product_attention(w_q(x), w_k(m), w_v(m)),
        "row 1: target position 0 attends to source position 3, which is padding",
    ),
    (
        "check_cross_attention_layer",
        lambda mha, x, m, src, p: mha(x, m, m),
        "without the source padding mask",
    ),
    (
        "check_cross_attention_layer",
        lambda mha, x, m, src, p: mha(m, x, x),
        "has shape (2, 5, 16), expected (2, 3, 16)",
    ),
    ("check_alignment", lambda w: w.argmax(dim=1), "take the maximum over the source axis"),
    ("check_alignment", lambda w: w.max(dim=-1).values, "expected integer positions"),
    (
        "check_layer_norm",
        lambda x, g, b, eps=1e-5: (
            g * (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) + b
        ),
        "unbiased variance",
    ),
    (
        "check_layer_norm",
        lambda x, g, b, eps=1e-5: F.layer_norm(x, x.shape[-1:], eps=eps),
        "gamma and beta are not applied",
    ),
    (
        "check_layer_norm",
        lambda x, g, b, eps=1e-5: g * (x - x.mean(-1, keepdim=True)) + b,
        "not divided by sqrt(variance + eps)",
    ),
    (
        "check_layer_norm",
        lambda x, g, b, eps=1e-5: (
            g * (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True, unbiased=False) + b
        ),
        "contains NaN",
    ),
    (
        "check_feed_forward",
        lambda x, w_1, b_1, w_2, b_2: (x @ w_1 + b_1) @ w_2 + b_2,
        "the ReLU between the two layers is missing",
    ),
    (
        "check_feed_forward",
        lambda x, w_1, b_1, w_2, b_2: F.relu(F.relu(x @ w_1 + b_1) @ w_2 + b_2),
        "after the second layer",
    ),
    (
        "check_residual_sublayer",
        lambda x, sub, norm, first: norm(x + sub(x)) if first else x + sub(norm(x)),
        "it is the other arrangement",
    ),
    (
        "check_residual_sublayer",
        lambda x, sub, norm, first: sub(norm(x)) if first else norm(sub(x)),
        "the residual connection (adding x back) is missing",
    ),
    ("check_embed", lambda t, emb, pe: emb(t) + pe[: t.shape[1]], "not multiplied by sqrt(d_model)"),
    (
        "check_embed",
        lambda t, emb, pe: emb(t) * math.sqrt(emb.embedding_dim),
        "the positional encoding is not added",
    ),
    ("check_encoder_layer", PreLNEncoderLayer, "values differ from the reference by up to"),
    (
        "check_decoder_layer",
        DecoderLayerWithoutCausalMask,
        "the output at position 0 changes when position 3 changes: the mask lets the future leak",
    ),
    (
        "check_decoder_layer",
        DecoderLayerCrossFromX,
        "cross-attention must take its keys and values from the memory",
    ),
    ("check_parameter_count", lambda V, d, h, f, N: shared_count(V, d, h, f, N) + V * d, "off by +1,600"),
    ("check_teacher_forcing", lambda t, b, e, p: teacher_forcing(t, b, e, p)[::-1], "swapped or not shifted"),
    (
        "check_teacher_forcing",
        lambda t, b, e, p: (teacher_forcing(t, b, e, p)[0],) * 2,
        "swapped or not shifted",
    ),
    (
        "check_teacher_forcing",
        lambda t, b, e, p: (teacher_forcing(t, b, e, p)[0], teacher_forcing(t, b, e, p)[0].roll(-2, 1)),
        "tgt_out row 0 is [6, 7, 1, 5], expected [5, 6, 7, 2]",
    ),
    (
        "check_smoothed_targets",
        lambda t, V, eps: (1 - eps) * F.one_hot(t, V) + eps,
        "rows sum to 1.5000, expected 1: the distribution is not normalised",
    ),
    (
        "check_smoothed_targets",
        lambda t, V, eps: F.one_hot(t, V) * (1 - eps) + (1 - F.one_hot(t, V)) * eps / (V - 1),
        "spreads eps over the V - 1 wrong classes",
    ),
    (
        "check_label_smoothed_loss",
        lambda logits, t, eps, ignore: F.cross_entropy(logits, t, label_smoothing=eps),
        "the padded targets (ignore_index) are counted",
    ),
    (
        "check_label_smoothed_loss",
        lambda logits, t, eps, ignore: F.cross_entropy(
            logits, t, label_smoothing=eps, ignore_index=ignore, reduction="sum"
        ),
        "it is the sum over tokens",
    ),
    (
        "check_label_smoothed_loss",
        unnormalised_smoothing,
        "eps is not divided by V",
    ),
    (
        "check_label_smoothed_loss",
        lambda logits, t, eps, ignore: F.cross_entropy(logits, t, ignore_index=ignore, reduction="none"),
        "expected a scalar",
    ),
    (
        "check_noam_lr",
        lambda s, d, w: d**-0.5 * min(s**-0.5, s * w**-0.5),
        "step=1, d_model=512, warmup_steps=4000: your rate is",
    ),
    (
        "check_noam_lr",
        lambda s, d, w: d**-0.5 * min(s**-0.5, s * w**-1.5) * (d**0.5 if s > w else 1),
        "step=8000",
    ),
    (
        "check_length_penalty",
        lambda n, a: ((5 + n) / 6) ** -a,
        "length=10, alpha=0.6: your penalty is 0.5771, expected 1.733",
    ),
    ("check_greedy_decode", greedy_ignoring_eos, "goes on after <eos>"),
    ("check_greedy_decode", greedy_keeping_bos, "leave out the <bos> you started with"),
    (
        "check_greedy_decode",
        lambda m, s, n, b, e: tl.greedy_decode(m, s, n, b, e).flip(1),
        "pick the most probable token",
    ),
    (
        "check_top_p_filter",
        top_p_dropping_the_crossing_token,
        "keep the token whose probability takes the mass past top_p",
    ),
    (
        "check_top_p_filter",
        lambda logits, p: tl.filter_logits(logits, top_k=4),
        "keep only the most probable tokens until their mass reaches top_p",
    ),
    ("check_beam_step", beam_step_per_beam, "keeps the best token of each beam"),
    (
        "check_beam_step",
        lambda s, lp, k: (beam_step(s, lp, k)[0], beam_step(s, lp, k)[2], beam_step(s, lp, k)[1]),
        "do not match the scores",
    ),
    ("check_kv_cache_step", kv_step_without_growing, "append the new position along the time axis (dim 2)"),
    ("check_kv_cache_step", lambda mha, x, cache: mha(x, x, x), "cache['k'] holds None"),
    ("check_windows", lambda d, s, T: windows(d, s, T)[::-1], "x and y are swapped"),
    ("check_windows", lambda d, s, T: (windows(d, s, T)[0],) * 2, "y equals x"),
    ("check_windows", lambda d, s, T: windows(d, s + 1, T), "x is not data[s : s + block_size]"),
    ("check_bigram_loss", bigram_unsmoothed, "add alpha to every count"),
    ("check_bigram_loss", bigram_by_column, "you normalised over the first character"),
    ("check_bigram_loss", lambda t, h, V, a=1.0: tl.gpt.unigram_loss(t, h, V, a), "the unigram one"),
    ("check_bigram_loss", lambda t, h, V, a=1.0: tl.gpt.bigram_loss(t, h, V, a) / math.log(2), "in bits"),
    ("check_bigram_loss", lambda *a: "low", "expected a float"),
    ("check_gpt_block", PostLNBlock, "that is post-LN"),
    ("check_gpt_block", BlockWithoutResiduals, "the residual connection"),
    ("check_gpt_block", BlockWithExtraParameters, "parameters the task does not ask for: gate.bias"),
    ("check_gpt_block", lambda d, h, f: nn.Linear(d, d), "lacks the parameters"),
    (
        "check_next_token_probs",
        lambda logits, t, k: next_token_probs(logits * t * t, t, k),
        "divide the logits by the temperature",
    ),
    (
        "check_next_token_probs",
        lambda logits, t, k: torch.softmax(logits / t, -1).masked_fill(
            next_token_probs(logits, t, k) == 0, 0.0
        ),
        "renormalise after keeping the top_k tokens",
    ),
    ("check_next_token_probs", lambda logits, t, k: torch.softmax(logits, -1), "values differ"),
    ("check_generate_greedy", generate_without_window, "more than block_size=8"),
    ("check_generate_greedy", generate_from_the_first_token, "new token 1 differs"),
    ("check_generate_greedy", lambda m, idx, n: generate_greedy(m, idx, n)[:, -n:], "the result has shape"),
    (
        "check_generate_greedy",
        lambda m, idx, n: torch.cat([idx.flip(1), generate_greedy(m, idx, n)[:, idx.shape[1] :]], 1),
        "must start with the prompt",
    ),
]


@pytest.mark.parametrize(
    ("name", "broken", "message"), BROKEN, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BROKEN)]
)
def test_checker_rejects_a_broken_answer_with_the_right_message(name, broken, message, capsys):
    result = getattr(checks, name)(broken)
    printed = capsys.readouterr().out
    assert not result.passed
    assert message in result.message
    assert printed.startswith("[failed] ") and printed.count("\n") == 1


def test_every_checker_rejects_at_least_one_broken_answer():
    assert {name for name, _, _ in BROKEN} == set(CHECKERS)


def test_decoding_model_has_rows_that_stop_and_rows_that_run_to_max_len():
    model, src = checks._decoding_model()
    rows = tl.greedy_decode(model, src, 8, checks.BOS_ID, checks.EOS_ID).tolist()
    stops = [checks.EOS_ID in row for row in rows]
    assert any(stops) and not all(stops)
    for row in rows:
        body = row[: row.index(checks.EOS_ID)] if checks.EOS_ID in row else row
        assert len(body) >= 2 and all(t not in (checks.PAD_ID, checks.BOS_ID) for t in body)
