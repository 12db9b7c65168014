"""From token ids to vectors: the scaled token embedding and the sinusoidal positional encoding
(paper §3.4 and §3.5). Explained in notebooks/01_tokens_embeddings_positions."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._checks import check_float, check_positive_int, check_probability, check_tokens


def sinusoidal_positional_encoding(
    max_len: int, d_model: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """The table PE of paper §3.5, shape (max_len, d_model):

    PE[pos, 2i] = sin(pos / 10000^(2i / d_model)),  PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model)).
    """
    check_positive_int("max_len", max_len)
    check_positive_int("d_model", d_model)
    dtype = dtype or torch.get_default_dtype()
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point dtype (sines lie in [-1, 1]), got {dtype}")
    position = torch.arange(max_len, device=device, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, device=device, dtype=torch.float64)  # (ceil(d_model / 2),)
    angle = position / (10000.0 ** (two_i / d_model))  # (max_len, ceil(d_model / 2))
    pe = torch.zeros(max_len, d_model, device=device, dtype=torch.float64)  # (max_len, d_model)
    pe[:, 0::2] = torch.sin(angle)  # even dimensions
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])  # odd dimensions
    return pe.to(dtype)


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal table to token vectors, then applies dropout (paper §3.5 and §5.4).

    Input and output (B, T, d_model). `offset` shifts the positions, for incremental decoding.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model = check_positive_int("d_model", d_model)
        self.max_len = check_positive_int("max_len", max_len)
        self.dropout = nn.Dropout(check_probability("dropout", dropout))
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        check_float("x", x)
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, T, d_model={self.d_model}), got {tuple(x.shape)}")
        T = x.shape[1]
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise TypeError(f"offset must be an int (the position of x's first token), got {offset!r}")
        if offset < 0 or offset + T > self.max_len:
            raise ValueError(
                f"positions {offset}..{offset + T - 1} do not fit the positional table of max_len="
                f"{self.max_len}; sequences must be at most max_len={self.max_len} tokens long"
            )
        pe = self.pe[offset : offset + T].to(x.dtype)  # (T, d_model)
        return self.dropout(x + pe)  # (B, T, d_model)


class TokenEmbedding(nn.Module):
    """A learned lookup table from token ids to d_model-dim vectors, multiplied by sqrt(d_model)
    (paper §3.4). Input (B, T) ids, output (B, T, d_model)."""

    def __init__(self, vocab_size: int, d_model: int) -> None:
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.d_model = check_positive_int("d_model", d_model)
        self.embedding = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embedding.weight, mean=0.0, std=d_model**-0.5)

    @property
    def weight(self) -> nn.Parameter:
        return self.embedding.weight

    def forward(self, tokens: Tensor) -> Tensor:
        check_tokens("tokens", tokens)
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(
                f"tokens must be ids in [0, vocab_size={self.vocab_size}), "
                f"got values in [{int(tokens.min())}, {int(tokens.max())}]"
            )
        return self.embedding(tokens) * math.sqrt(self.d_model)  # (B, T, d_model)
