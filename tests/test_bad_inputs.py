"""Every public class and function of the core library rejects bad input with a ValueError or
TypeError whose message names the argument, what was expected and what was given."""

import re

import pytest
import torch

from transformer_lib import (
    Decoder,
    DecoderLayer,
    Encoder,
    EncoderLayer,
    FeedForward,
    LayerNorm,
    MultiHeadAttention,
    PositionalEncoding,
    TokenEmbedding,
    Transformer,
    TransformerConfig,
    causal_mask,
    combine_masks,
    count_parameters,
    padding_mask,
    scaled_dot_product_attention,
    sinusoidal_positional_encoding,
)

torch.manual_seed(0)
MHA = MultiHeadAttention(16, 4).eval()
MODEL = Transformer(TransformerConfig(20, 20, d_model=16, n_heads=4, n_layers=1, d_ff=32, max_len=10)).eval()
X = torch.randn(2, 5, 16)
TOKENS = torch.randint(1, 20, (2, 5))
Q = torch.randn(2, 4, 5, 8)
MEMORY = MODEL.encode(TOKENS)  # (2, 5, 16)


def filled_cache():
    """A decoder cache that holds two positions of a batch of two."""
    cache = MODEL.new_cache()
    MODEL.decode(TOKENS[:, :2], MEMORY, cache=cache)
    return cache


def decode_one_at_a_time(steps: int) -> None:
    """Feed the decoder one token per call through a cache, `steps` times."""
    cache = MODEL.new_cache()
    for _ in range(steps):
        MODEL.decode(TOKENS[:, :1], MEMORY, cache=cache)


CASES = {
    # construction
    "mha d_model not divisible": (
        lambda: MultiHeadAttention(100, 3),
        ValueError,
        r"d_model=100 must be divisible by n_heads=3",
    ),
    "config d_model not divisible": (
        lambda: TransformerConfig(10, 10, d_model=30, n_heads=4),
        ValueError,
        r"d_model=30 must be divisible by n_heads=4",
    ),
    "config negative layers": (
        lambda: TransformerConfig(10, 10, n_layers=0),
        ValueError,
        r"n_layers must be a positive integer, got 0",
    ),
    "config float vocab": (
        lambda: TransformerConfig(10.5, 10),
        TypeError,
        r"src_vocab_size must be an int, got float 10.5",
    ),
    "config dropout": (
        lambda: TransformerConfig(10, 10, dropout=1.5),
        ValueError,
        r"dropout must be in \[0, 1\), got 1.5",
    ),
    "config activation": (
        lambda: TransformerConfig(10, 10, activation="tanh"),
        ValueError,
        r"activation must be one of \['gelu', 'relu'\], got 'tanh'",
    ),
    "config sharing needs one vocabulary": (
        lambda: TransformerConfig(10, 12, share_embeddings=True),
        ValueError,
        r"src_vocab_size=10 and tgt_vocab_size=12",
    ),
    "transformer config type": (
        lambda: Transformer({"d_model": 16}),
        TypeError,
        r"config must be a TransformerConfig, got dict",
    ),
    "feed forward activation": (
        lambda: FeedForward(8, 16, activation="swish"),
        ValueError,
        r"activation must be one of .*got 'swish'",
    ),
    "layer norm eps": (lambda: LayerNorm(8, eps=0.0), ValueError, r"eps must be positive, got 0.0"),
    "encoder layer heads": (
        lambda: EncoderLayer(10, 4, 20),
        ValueError,
        r"d_model=10 must be divisible by n_heads=4",
    ),
    "decoder layer dropout": (
        lambda: DecoderLayer(8, 2, 16, dropout=-0.1),
        ValueError,
        r"dropout must be in \[0, 1\), got -0.1",
    ),
    "table length": (
        lambda: sinusoidal_positional_encoding(0, 8),
        ValueError,
        r"max_len must be a positive integer, got 0",
    ),
    "causal mask length": (lambda: causal_mask(-2), ValueError, r"T must be a positive integer, got -2"),
    "causal mask type": (lambda: causal_mask(2.0), TypeError, r"T must be an int, got float"),
    # tokens
    "float tokens to the model": (
        lambda: MODEL(TOKENS.float(), TOKENS),
        TypeError,
        r"src must hold integer token ids \(torch.long\), got dtype torch.float32",
    ),
    "float target tokens": (
        lambda: MODEL(TOKENS, TOKENS.float()),
        TypeError,
        r"tgt must hold integer token ids \(torch.long\), got dtype torch.float32",
    ),
    "1-d tokens": (lambda: MODEL.encode(TOKENS[0]), ValueError, r"src must have shape \(B, T\), got \(5,\)"),
    "mismatched batch sizes": (
        lambda: MODEL(TOKENS, TOKENS[:1]),
        ValueError,
        r"same batch size, got src \(2, 5\) and tgt \(1, 5\)",
    ),
    "ids out of range": (
        lambda: MODEL(TOKENS + 100, TOKENS),
        ValueError,
        r"tokens must be ids in \[0, vocab_size=20\), got values in \[\d+, \d+\]",
    ),
    "embedding float": (
        lambda: TokenEmbedding(10, 4)(torch.zeros(1, 2)),
        TypeError,
        r"tokens must hold integer token ids .*torch.float32",
    ),
    "padding mask of floats": (
        lambda: padding_mask(TOKENS.float(), 0),
        TypeError,
        r"tokens must hold integer token ids \(torch.long\), got dtype torch.float32",
    ),
    "padding mask pad id": (lambda: padding_mask(TOKENS, "0"), TypeError, r"pad_id must be an int, got str"),
    "too long for the table": (
        lambda: MODEL(torch.ones(1, 11, dtype=torch.long), TOKENS[:1]),
        ValueError,
        r"positions 0\.\.10 do not fit the positional table of max_len=10",
    ),
    "positional encoding input": (
        lambda: PositionalEncoding(8, 10)(torch.randn(2, 3, 6)),
        ValueError,
        r"x must have shape \(B, T, d_model=8\), got \(2, 3, 6\)",
    ),
    "positional offset past the table": (
        lambda: PositionalEncoding(8, 10)(torch.randn(1, 3, 8), offset=9),
        ValueError,
        r"positions 9..11 do not fit .*max_len=10",
    ),
    "memory width": (
        lambda: MODEL.decode(TOKENS, torch.randn(2, 5, 8)),
        ValueError,
        r"memory must have shape \(B, S, d_model=16\), got \(2, 5, 8\)",
    ),
    "memory batch": (
        lambda: MODEL.decode(TOKENS, torch.randn(3, 5, 16)),
        ValueError,
        r"same batch size, got tgt \(2, 5\) and memory \(3, 5, 16\)",
    ),
    # attention
    "sdpa int query": (
        lambda: scaled_dot_product_attention(Q.long(), Q, Q),
        TypeError,
        r"query must be a floating-point tensor .*torch.int64",
    ),
    "sdpa list": (
        lambda: scaled_dot_product_attention([1.0], Q, Q),
        TypeError,
        r"query must be a torch.Tensor, got list",
    ),
    "sdpa d_k mismatch": (
        lambda: scaled_dot_product_attention(Q, Q[..., :4], Q),
        ValueError,
        r"same last dimension d_k, got query \(2, 4, 5, 8\) and key \(2, 4, 5, 4\)",
    ),
    "sdpa length mismatch": (
        lambda: scaled_dot_product_attention(Q, Q, Q[:, :, :3]),
        ValueError,
        r"same length T_k, got key \(2, 4, 5, 8\) and value \(2, 4, 3, 8\)",
    ),
    "sdpa batch mismatch": (
        lambda: scaled_dot_product_attention(Q, Q[:1].expand(3, -1, -1, -1), Q[:1].expand(3, -1, -1, -1)),
        ValueError,
        r"batch\) dimensions of query \(2, 4, 5, 8\), key \(3, 4, 5, 8\) .* do not broadcast",
    ),
    "sdpa int mask": (
        lambda: scaled_dot_product_attention(Q, Q, Q, causal_mask(5).int()),
        TypeError,
        r"mask must be a bool tensor \(True = may attend\), got dtype torch.int32",
    ),
    "sdpa mask shape": (
        lambda: scaled_dot_product_attention(Q, Q, Q, causal_mask(4)),
        ValueError,
        r"mask of shape \(4, 4\) does not broadcast to \(\.\.\., T_q, T_k\) = \(2, 4, 5, 5\)",
    ),
    "sdpa dropout": (
        lambda: scaled_dot_product_attention(Q, Q, Q, dropout_p=1.0),
        ValueError,
        r"dropout_p must be in \[0, 1\), got 1.0",
    ),
    "mha 2-d input": (
        lambda: MHA(X[0], X[0], X[0]),
        ValueError,
        r"query must have shape \(B, T, d_model=16\), got \(5, 16\)",
    ),
    "mha width": (
        lambda: MHA(X, X[..., :8], X),
        ValueError,
        r"key must have shape \(B, T, d_model=16\), got \(2, 5, 8\)",
    ),
    "mha batch": (lambda: MHA(X, X[:1], X[:1]), ValueError, r"same batch size B, got 2, 1 and 1"),
    "mha key value length": (lambda: MHA(X, X, X[:, :3]), ValueError, r"same length T_k, got 5 and 3"),
    "mha int mask": (
        lambda: MHA(X, X, X, causal_mask(5).long()),
        TypeError,
        r"mask must be a bool tensor .*torch.int64",
    ),
    "mha mask shape": (
        lambda: MHA(X, X, X, torch.ones(3, 5, 5, dtype=torch.bool)),
        ValueError,
        r"mask of shape \(3, 5, 5\) does not broadcast to \(B, h, T_q, T_k\) = \(2, 4, 5, 5\)",
    ),
    "mha int activations": (
        lambda: MHA(X.long(), X.long(), X.long()),
        TypeError,
        r"query must be a floating-point tensor \(activations\), got dtype torch.int64",
    ),
    "combine int mask": (
        lambda: combine_masks(causal_mask(3), causal_mask(3).int()),
        TypeError,
        r"masks\[1\] must be a bool tensor .*torch.int32",
    ),
    "combine shapes": (
        lambda: combine_masks(causal_mask(3), causal_mask(4)),
        ValueError,
        r"masks\[1\] of shape \(4, 4\) does not broadcast .*\(3, 3\)",
    ),
    # layers
    "layer norm width": (
        lambda: LayerNorm(8)(torch.randn(2, 6)),
        ValueError,
        r"x must have last dimension d_model=8, got shape \(2, 6\)",
    ),
    "layer norm ints": (
        lambda: LayerNorm(8)(torch.ones(2, 8, dtype=torch.long)),
        TypeError,
        r"x must be a floating-point tensor \(activations\), got dtype torch.int64",
    ),
    "feed forward width": (
        lambda: FeedForward(8, 16)(torch.randn(2, 3, 4)),
        ValueError,
        r"x must have last dimension d_model=8, got shape \(2, 3, 4\)",
    ),
    "encoder layer mask": (
        lambda: EncoderLayer(16, 4, 32)(X, torch.ones(2, 5, dtype=torch.bool)),
        ValueError,
        r"mask of shape \(2, 5\) does not broadcast to \(B, h, T_q, T_k\) = \(2, 4, 5, 5\)",
    ),
    "decoder layer memory": (
        lambda: DecoderLayer(16, 4, 32)(X, torch.randn(2, 5, 8)),
        ValueError,
        r"key must have shape \(B, T, d_model=16\), got \(2, 5, 8\)",
    ),
    "count parameters type": (
        lambda: count_parameters("model"),
        TypeError,
        r"module must be a torch.nn.Module, got str",
    ),
}


CASES.update(
    {
        # constructors and functions not reached above
        "table d_model type": (
            lambda: sinusoidal_positional_encoding(8, 8.0),
            TypeError,
            r"d_model must be an int, got float 8.0",
        ),
        "positional encoding dropout": (
            lambda: PositionalEncoding(8, dropout=1.0),
            ValueError,
            r"dropout must be in \[0, 1\), got 1.0",
        ),
        "positional encoding int input": (
            lambda: PositionalEncoding(8, 10)(torch.ones(1, 3, 8, dtype=torch.long)),
            TypeError,
            r"x must be a floating-point tensor \(activations\), got dtype torch.int64",
        ),
        "positional offset before the table": (
            lambda: PositionalEncoding(8, 10)(torch.randn(1, 3, 8), offset=-1),
            ValueError,
            r"positions -1..1 do not fit the positional table of max_len=10",
        ),
        "embedding vocabulary size": (
            lambda: TokenEmbedding(0, 4),
            ValueError,
            r"vocab_size must be a positive integer, got 0",
        ),
        "embedding negative id": (
            lambda: TokenEmbedding(10, 4)(torch.tensor([[-1, 2]])),
            ValueError,
            r"tokens must be ids in \[0, vocab_size=10\), got values in \[-1, 2\]",
        ),
        "embedding 3-d tokens": (
            lambda: TokenEmbedding(10, 4)(torch.zeros(1, 2, 3, dtype=torch.long)),
            ValueError,
            r"tokens must have shape \(B, T\), got \(1, 2, 3\)",
        ),
        "causal mask bool": (lambda: causal_mask(True), TypeError, r"T must be an int, got bool True"),
        "padding mask 1-d tokens": (
            lambda: padding_mask(TOKENS[0], 0),
            ValueError,
            r"tokens must have shape \(B, T\), got \(5,\)",
        ),
        "combine a list": (
            lambda: combine_masks([True, False]),
            TypeError,
            r"masks\[0\] must be a torch.Tensor, got list",
        ),
        "sdpa 1-d query": (
            lambda: scaled_dot_product_attention(torch.randn(4), Q, Q),
            ValueError,
            r"query must have shape \(\.\.\., T, d\), got \(4,\)",
        ),
        "sdpa float mask": (
            lambda: scaled_dot_product_attention(Q, Q, Q, torch.ones(5, 5)),
            TypeError,
            r"mask must be a bool tensor \(True = may attend\), got dtype torch.float32",
        ),
        "mha no heads": (
            lambda: MultiHeadAttention(16, 0),
            ValueError,
            r"n_heads must be a positive integer, got 0",
        ),
        "mha dropout": (
            lambda: MultiHeadAttention(16, 4, dropout=2),
            ValueError,
            r"dropout must be in \[0, 1\), got 2",
        ),
        "mha mask of another batch": (
            lambda: MHA(X, X, X, torch.ones(3, 1, 1, 5, dtype=torch.bool)),
            ValueError,
            r"mask of shape \(3, 1, 1, 5\) does not broadcast to \(B, h, T_q, T_k\) = \(2, 4, 5, 5\)",
        ),
        "mha cross mask of another source length": (
            lambda: MHA(X, X[:, :3], X[:, :3], padding_mask(TOKENS, 0)),
            ValueError,
            r"mask of shape \(2, 1, 1, 5\) does not broadcast to \(B, h, T_q, T_k\) = \(2, 4, 5, 3\)",
        ),
        "mha 5-d mask": (
            lambda: MHA(X, X, X, torch.ones(1, 2, 4, 5, 5, dtype=torch.bool)),
            ValueError,
            r"mask of shape \(1, 2, 4, 5, 5\) does not broadcast to \(B, h, T_q, T_k\) = \(2, 4, 5, 5\)",
        ),
        "feed forward inner size": (
            lambda: FeedForward(8, 0),
            ValueError,
            r"d_ff must be a positive integer, got 0",
        ),
        "feed forward ints": (
            lambda: FeedForward(8, 16)(torch.ones(2, 8, dtype=torch.long)),
            TypeError,
            r"x must be a floating-point tensor \(activations\), got dtype torch.int64",
        ),
        "encoder layer 2-d input": (
            lambda: EncoderLayer(16, 4, 32)(X[0]),
            ValueError,
            r"query must have shape \(B, T, d_model=16\), got \(5, 16\)",
        ),
        "decoder layer memory batch": (
            lambda: DecoderLayer(16, 4, 32)(X, torch.randn(3, 5, 16)),
            ValueError,
            r"same batch size B, got 2, 3 and 3",
        ),
        "decoder layer target mask": (
            lambda: DecoderLayer(16, 4, 32)(X, X, tgt_mask=causal_mask(4)),
            ValueError,
            r"mask of shape \(4, 4\) does not broadcast to \(B, h, T_q, T_k\) = \(2, 4, 5, 5\)",
        ),
        "config heads": (
            lambda: TransformerConfig(10, 10, n_heads=0),
            ValueError,
            r"n_heads must be a positive integer, got 0",
        ),
        "config max_len type": (
            lambda: TransformerConfig(10, 10, max_len=10.0),
            TypeError,
            r"max_len must be an int, got float 10.0",
        ),
        "base preset vocabulary": (
            lambda: TransformerConfig.base(0),
            ValueError,
            r"src_vocab_size must be a positive integer, got 0",
        ),
        "tiny preset vocabulary": (
            lambda: TransformerConfig.tiny(10.0),
            TypeError,
            r"src_vocab_size must be an int, got float 10.0",
        ),
        "3-d target tokens": (
            lambda: MODEL(TOKENS, TOKENS[..., None]),
            ValueError,
            r"tgt must have shape \(B, T\), got \(2, 5, 1\)",
        ),
        "decode int memory": (
            lambda: MODEL.decode(TOKENS, torch.ones(2, 5, 16, dtype=torch.long)),
            TypeError,
            r"memory must be a floating-point tensor \(activations\), got dtype torch.int64",
        ),
        "decode past the table with a cache": (
            lambda: decode_one_at_a_time(11),
            ValueError,
            r"positions 10..10 do not fit the positional table of max_len=10",
        ),
    }
)


def mentions(*parts: str) -> str:
    """A pattern that matches a message naming every part, in any order."""
    return "(?s)" + "".join(f"(?=.*{re.escape(part)})" for part in parts)


# Inputs that once reached torch (a crash inside it, an error naming another argument, or silent
# acceptance); the fourth entry says what happened before the boundary check was added.
BOUNDARY_CASES = {
    "sdpa query and key of different float dtypes": (
        lambda: scaled_dot_product_attention(Q, Q.double(), Q),
        TypeError,
        mentions("key", "torch.float64", "torch.float32"),
        "RuntimeError from the matmul inside torch",
    ),
    "mha input dtype differs from its weights": (
        lambda: MHA(X.double(), X.double(), X.double()),
        TypeError,
        mentions("query", "torch.float64", "torch.float32"),
        "RuntimeError from nn.Linear inside torch",
    ),
    "embedding uint8 token ids": (
        lambda: TokenEmbedding(10, 4)(torch.zeros(1, 2, dtype=torch.uint8)),
        TypeError,
        mentions("tokens", "torch.uint8", "torch.long"),
        "check_tokens accepts every integer dtype; F.embedding raises RuntimeError for uint8/int16",
    ),
    "model int16 source ids": (
        lambda: MODEL(TOKENS.to(torch.int16), TOKENS),
        TypeError,
        mentions("src", "torch.int16", "torch.long"),
        "RuntimeError from F.embedding inside torch",
    ),
    "cache reorder with a float index": (
        lambda: filled_cache().reorder(torch.tensor([0.0, 1.0])),
        TypeError,
        mentions("index", "torch.float32"),
        "RuntimeError from index_select inside torch",
    ),
    "cache reorder with an index past the batch": (
        lambda: filled_cache().reorder(torch.tensor([5])),
        ValueError,
        mentions("index", "5", "2"),
        "IndexError from index_select inside torch",
    ),
    "encoder built from a dict": (
        lambda: Encoder({"d_model": 16}),
        TypeError,
        mentions("config", "TransformerConfig", "dict"),
        "AttributeError inside Encoder.__init__",
    ),
    "decoder built from None": (
        lambda: Decoder(None),
        TypeError,
        mentions("config", "TransformerConfig", "NoneType"),
        "AttributeError inside Decoder.__init__",
    ),
    "decode with a cache of another batch size": (
        lambda: MODEL.decode(TOKENS[:1, 2:3], MEMORY[:1], cache=filled_cache()),
        ValueError,
        mentions("cache", "batch size 2", "1"),
        "RuntimeError from torch.cat inside MultiHeadAttention (the batch check comes after the cat)",
    ),
    "mha cache of the wrong type": (
        lambda: MHA(X, X, X, cache=(None, None)),
        TypeError,
        mentions("cache", "KVCache", "tuple"),
        "AttributeError inside MultiHeadAttention.forward",
    ),
    "positional offset not an int": (
        lambda: PositionalEncoding(8, 10)(torch.randn(1, 3, 8), offset=1.5),
        TypeError,
        mentions("offset", "1.5"),
        "TypeError from slicing, which does not name offset",
    ),
    "layer norm eps of the wrong type": (
        lambda: LayerNorm(8, eps="small"),
        TypeError,
        mentions("eps", "str"),
        "TypeError from the comparison eps > 0, which does not name eps",
    ),
    "model source mask named as src_mask": (
        lambda: MODEL(TOKENS, TOKENS, src_mask=torch.ones(3, 5, dtype=torch.bool)),
        ValueError,
        mentions("src_mask", "(3, 5)"),
        "the message says 'mask of shape (3, 5)', not src_mask",
    ),
    "model target mask named as tgt_mask": (
        lambda: MODEL(TOKENS, TOKENS, tgt_mask=causal_mask(5).long()),
        TypeError,
        mentions("tgt_mask", "torch.int64"),
        "the message says 'mask must be a bool tensor', not tgt_mask",
    ),
    "encoder float source named as src": (
        lambda: MODEL.encoder(TOKENS.float()),
        TypeError,
        mentions("src", "torch.float32"),
        "the message names tokens (TokenEmbedding's argument), not src",
    ),
    "empty target": (
        lambda: MODEL(TOKENS, TOKENS[:, :0]),
        ValueError,
        mentions("tgt", "(2, 0)"),
        "the message is 'T must be a positive integer, got 0' from causal_mask",
    ),
    "config pad_id out of range": (
        lambda: TransformerConfig(10, 10, pad_id=50),
        ValueError,
        mentions("pad_id", "50", "10"),
        "the message gives 50 but not the valid range [0, 10)",
    ),
    "config norm_first not a bool": (
        lambda: TransformerConfig(10, 10, norm_first="yes"),
        TypeError,
        mentions("norm_first", "bool", "'yes'"),
        "accepted silently",
    ),
    "table of an integer dtype": (
        lambda: sinusoidal_positional_encoding(4, 4, dtype=torch.long),
        TypeError,
        mentions("dtype", "torch.int64"),
        "accepted silently: the sines are truncated to 0 and 1",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_rejected_with_a_clear_message(name):
    call, error, message = CASES[name]
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("name", list(BOUNDARY_CASES))
def test_input_that_once_reached_torch_is_rejected_at_the_boundary(name):
    call, error, message, _ = BOUNDARY_CASES[name]
    with pytest.raises(error, match=message):
        call()
