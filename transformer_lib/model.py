"""The assembled encoder-decoder Transformer (paper §3, Figure 1) and its configuration.
Explained in notebooks/07_the_full_transformer.

Data flow: source ids -> scaled embedding + positions -> N encoder layers -> memory;
target ids -> scaled embedding + positions -> N decoder layers (masked self-attention,
cross-attention over the memory, feed-forward) -> linear "unembedding" -> logits over the vocabulary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import Tensor, nn

from ._checks import check_bool, check_float, check_mask, check_positive_int, check_probability, check_tokens
from .attention import KVCache, MultiHeadAttention, causal_mask, padding_mask
from .embedding import PositionalEncoding, TokenEmbedding
from .layers import ACTIVATIONS, DecoderLayer, EncoderLayer, LayerNorm


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters with the paper's names. `share_embeddings` ties the source and target
    embeddings (needs one shared vocabulary); `tie_output` ties the target embedding and the output
    layer (§3.4). `final_norm` adds a LayerNorm after each stack (needed for pre-LN; None = same as
    `norm_first`)."""

    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 512
    n_heads: int = 8
    n_layers: int = 6
    d_ff: int = 2048
    dropout: float = 0.1
    max_len: int = 5000
    norm_first: bool = False
    final_norm: bool | None = None
    activation: str = "relu"
    share_embeddings: bool = False
    tie_output: bool = True
    pad_id: int = 0

    def __post_init__(self) -> None:
        for name in ("src_vocab_size", "tgt_vocab_size", "d_model", "n_heads", "n_layers", "d_ff", "max_len"):
            check_positive_int(name, getattr(self, name))
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} must be divisible by n_heads={self.n_heads} "
                f"(each head gets d_model // n_heads dims)"
            )
        check_probability("dropout", self.dropout)
        for name in ("norm_first", "share_embeddings", "tie_output"):
            check_bool(name, getattr(self, name))
        if self.final_norm is not None:
            check_bool("final_norm", self.final_norm)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                "share_embeddings=True needs one shared vocabulary, got src_vocab_size="
                f"{self.src_vocab_size} and tgt_vocab_size={self.tgt_vocab_size}"
            )
        smallest = min(self.src_vocab_size, self.tgt_vocab_size)
        if (
            isinstance(self.pad_id, bool)
            or not isinstance(self.pad_id, int)
            or not 0 <= self.pad_id < smallest
        ):
            raise ValueError(f"pad_id must be a token id in [0, {smallest}), got {self.pad_id!r}")
        if self.final_norm is None:
            object.__setattr__(self, "final_norm", self.norm_first)

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def base(
        cls, src_vocab_size: int = 37000, tgt_vocab_size: int | None = None, **overrides
    ) -> TransformerConfig:
        """The paper's base model (Table 3): N=6, d_model=512, d_ff=2048, h=8, P_drop=0.1."""
        shared = tgt_vocab_size is None or tgt_vocab_size == src_vocab_size
        settings = dict(d_model=512, n_heads=8, n_layers=6, d_ff=2048, dropout=0.1, share_embeddings=shared)
        return cls(src_vocab_size, tgt_vocab_size or src_vocab_size, **{**settings, **overrides})

    @classmethod
    def big(
        cls, src_vocab_size: int = 37000, tgt_vocab_size: int | None = None, **overrides
    ) -> TransformerConfig:
        """The paper's big model (Table 3): N=6, d_model=1024, d_ff=4096, h=16, P_drop=0.3."""
        return cls.base(
            src_vocab_size,
            tgt_vocab_size,
            **{"d_model": 1024, "d_ff": 4096, "n_heads": 16, "dropout": 0.3, **overrides},
        )

    @classmethod
    def tiny(cls, src_vocab_size: int, tgt_vocab_size: int | None = None, **overrides) -> TransformerConfig:
        """A model that trains in minutes on a laptop CPU: N=2, d_model=128, d_ff=512, h=4 (~1M params)."""
        settings = dict(d_model=128, n_heads=4, n_layers=2, d_ff=512, dropout=0.1, max_len=512)
        return cls(src_vocab_size, tgt_vocab_size or src_vocab_size, **{**settings, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> TransformerConfig:
        return replace(self, **changes)


class DecoderCache:
    """The decoder's key/value caches: per layer, a growing self-attention cache and a static
    cross-attention cache filled once from the memory. `len(cache)` is the number of positions done."""

    def __init__(self, n_layers: int) -> None:
        self.layers = [(KVCache(), KVCache(static=True)) for _ in range(n_layers)]

    def __len__(self) -> int:
        return len(self.layers[0][0])

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows `index` (B_new,) in every cache (beam search)."""
        for self_cache, cross_cache in self.layers:
            self_cache.reorder(index)
            cross_cache.reorder(index)


def check_config(config: object) -> TransformerConfig:
    if not isinstance(config, TransformerConfig):
        raise TypeError(f"config must be a TransformerConfig, got {type(config).__name__}")
    return config


class _Stack(nn.Module):
    """What the encoder and the decoder share: scaled embedding, positions, N layers of one kind, and
    a final LayerNorm when the config asks for one."""

    def __init__(self, config: TransformerConfig, vocab_size: int, layer: type[nn.Module]) -> None:
        super().__init__()
        c = check_config(config)
        self.embedding = TokenEmbedding(vocab_size, c.d_model)
        self.positions = PositionalEncoding(c.d_model, c.max_len, c.dropout)
        self.layers = nn.ModuleList(
            layer(c.d_model, c.n_heads, c.d_ff, c.dropout, c.norm_first, c.activation)
            for _ in range(c.n_layers)
        )
        self.norm = LayerNorm(c.d_model) if c.final_norm else nn.Identity()


class Encoder(_Stack):
    """Embedding, positional encoding and a stack of N encoder layers. (B, S) ids -> (B, S, d_model)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config, check_config(config).src_vocab_size, EncoderLayer)

    def forward(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        check_tokens("src", src)
        x = self.positions(self.embedding(src))  # (B, S, d_model)
        for layer in self.layers:
            x = layer(x, src_mask)  # (B, S, d_model)
        return self.norm(x)  # (B, S, d_model)


class Decoder(_Stack):
    """Embedding, positional encoding and a stack of N decoder layers.
    (B, T) ids and memory (B, S, d_model) -> (B, T, d_model)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config, check_config(config).tgt_vocab_size, DecoderLayer)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        cache: DecoderCache | None = None,
    ) -> Tensor:
        check_tokens("tgt", tgt)
        offset = len(cache) if cache is not None else 0
        x = self.positions(self.embedding(tgt), offset=offset)  # (B, T, d_model)
        for i, layer in enumerate(self.layers):
            x = layer(
                x, memory, src_mask, tgt_mask, cache.layers[i] if cache is not None else None
            )  # (B, T, d_model)
        return self.norm(x)  # (B, T, d_model)


class Transformer(nn.Module):
    """The encoder-decoder Transformer. forward(src (B, S), tgt (B, T)) -> logits (B, T, tgt_vocab_size).

    Default masks: the source padding mask (B, 1, 1, S) and, for the target, causal AND padding
    (B, 1, T, T). Pass masks explicitly to override them.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = check_config(config)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.output = nn.Linear(config.d_model, config.tgt_vocab_size, bias=False)  # the "unembedding"
        self._init_weights()
        if config.share_embeddings:
            self.decoder.embedding.embedding.weight = self.encoder.embedding.embedding.weight
        if config.tie_output:
            self.output.weight = self.decoder.embedding.embedding.weight

    def _init_weights(self) -> None:
        """Xavier-uniform for every projection matrix (as nn.Transformer does); embeddings keep
        N(0, 1/d_model), so that embedding * sqrt(d_model) has unit scale."""
        for name, p in self.named_parameters():
            if p.dim() > 1 and "embedding" not in name:
                nn.init.xavier_uniform_(p)

    def src_mask(self, src: Tensor) -> Tensor:
        """(B, 1, 1, S): may attend to every real source token."""
        return padding_mask(src, self.config.pad_id)

    def tgt_mask(self, tgt: Tensor) -> Tensor:
        """(B, 1, T, T): causal AND target padding."""
        return padding_mask(tgt, self.config.pad_id) & causal_mask(tgt.shape[1], device=tgt.device)

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """Source ids (B, S) -> memory (B, S, d_model)."""
        check_tokens("src", src)
        B, S = src.shape
        if src_mask is None:
            src_mask = self.src_mask(src)
        check_mask("src_mask", src_mask, (B, self.config.n_heads, S, S), "(B, h, S, S)")
        return self.encoder(src, src_mask)

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        cache: DecoderCache | None = None,
    ) -> Tensor:
        """Target ids (B, T) and memory (B, S, d_model) -> logits (B, T, tgt_vocab_size).

        tgt_mask=None means causal. With a cache, `tgt` holds only the new positions and the causal
        mask covers the cached ones too."""
        check_tokens("tgt", tgt)
        check_float("memory", memory)
        if memory.dim() != 3 or memory.shape[-1] != self.config.d_model:
            raise ValueError(
                f"memory must have shape (B, S, d_model={self.config.d_model}), got {tuple(memory.shape)}"
            )
        if memory.shape[0] != tgt.shape[0]:
            raise ValueError(
                f"tgt and memory must have the same batch size, got tgt {tuple(tgt.shape)} and memory {tuple(memory.shape)}"
            )
        if cache is not None and not isinstance(cache, DecoderCache):
            raise TypeError(f"cache must be a DecoderCache from new_cache(), got {type(cache).__name__}")
        (B, T), S, h = tgt.shape, memory.shape[1], self.config.n_heads
        past = len(cache) if cache is not None else 0
        if tgt_mask is None and T > 1:
            tgt_mask = causal_mask(past + T, device=tgt.device)[past:]  # (T, past + T)
        if src_mask is not None:
            check_mask("src_mask", src_mask, (B, h, T, S), "(B, h, T, S)")
        if tgt_mask is not None:
            check_mask("tgt_mask", tgt_mask, (B, h, T, past + T), "(B, h, T, T)")
        h = self.decoder(tgt, memory, src_mask, tgt_mask, cache)  # (B, T, d_model)
        return self.output(h)  # (B, T, tgt_vocab_size)

    def forward(
        self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None, tgt_mask: Tensor | None = None
    ) -> Tensor:
        check_tokens("src", src)
        check_tokens("tgt", tgt)
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(
                f"src and tgt must have the same batch size, got src {tuple(src.shape)} and tgt {tuple(tgt.shape)}"
            )
        if src_mask is None:
            src_mask = self.src_mask(src)
        if tgt_mask is None:
            tgt_mask = self.tgt_mask(tgt)
        memory = self.encode(src, src_mask)  # (B, S, d_model)
        return self.decode(tgt, memory, src_mask, tgt_mask)  # (B, T, tgt_vocab_size)

    def new_cache(self) -> DecoderCache:
        """An empty key/value cache for incremental decoding with `decode(..., cache=...)`."""
        return DecoderCache(self.config.n_layers)

    def record_attention(self, enabled: bool = True) -> None:
        """Keep the attention weights of every layer's last call in `.last_weights` (for plots)."""
        for module in self.modules():
            if isinstance(module, MultiHeadAttention):
                module.record_weights = enabled
                module.last_weights = None


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters; a tensor shared between places (tied embeddings) counts once."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def device_of(module: nn.Module) -> torch.device:
    """The device that holds the module's parameters."""
    return next(module.parameters()).device
