"""A decoder-only language model (GPT): the Transformer's decoder without cross-attention, trained to
predict the next character of CPython's reference manual. Explained in notebooks/10_decoder_only_gpt.

Data flow: ids (B, T) -> scaled token embedding + learned positions -> N pre-LN blocks (causal
self-attention, feed-forward) -> final LayerNorm -> output layer tied to the token embedding ->
logits (B, T, vocab_size). Also here: a character tokenizer, the corpus, unigram and bigram
baselines, and a small training loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_positive_int, check_probability, check_tensor, check_tokens
from .attention import KVCache, causal_mask
from .decoding import sample_token
from .embedding import TokenEmbedding
from .layers import EncoderLayer, LayerNorm


@dataclass(frozen=True)
class GPTConfig:
    """Hyper-parameters with the paper's names; `block_size` is the longest context (positions)."""

    vocab_size: int
    block_size: int = 128
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "d_model", "n_heads", "n_layers", "d_ff"):
            check_positive_int(name, getattr(self, name))
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} must be divisible by n_heads={self.n_heads} "
                f"(each head gets d_model // n_heads dims)"
            )
        check_probability("dropout", self.dropout)

    @classmethod
    def small(cls, vocab_size: int, **overrides) -> GPTConfig:
        """Trains in about two minutes on a 2-core CPU: N=4, d_model=128, h=4, d_ff=512, context 128."""
        settings = dict(block_size=128, d_model=128, n_heads=4, n_layers=4, d_ff=512, dropout=0.0)
        return cls(vocab_size, **{**settings, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


class Block(EncoderLayer):
    """One pre-LN GPT block: the library's EncoderLayer (norm_first=True) whose self-attention can
    also use a key/value cache. forward(x (B, T, d_model), mask to (B, h, T, T_k), cache) -> (B, T, d_model)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__(d_model, n_heads, d_ff, dropout, norm_first=True, activation="gelu")

    def forward(self, x: Tensor, mask: Tensor | None = None, cache: KVCache | None = None) -> Tensor:
        x = self._sublayer(x, self.norm1, lambda h: self.self_attn(h, h, h, mask, cache))  # (B, T, d_model)
        return self._sublayer(x, self.norm2, self.feed_forward)  # (B, T, d_model)


class GPT(nn.Module):
    """A decoder-only Transformer language model. forward(idx (B, T)) -> logits (B, T, vocab_size).

    Positions are learned (one vector per position, as in GPT-2): the context is short and fixed, so
    a table of block_size vectors is cheap and lets the model shape its own notion of position.
    The price is that no position past block_size exists; `generate` slides a window instead.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        c = self.config = config
        self.embedding = TokenEmbedding(c.vocab_size, c.d_model)
        self.positions = nn.Embedding(c.block_size, c.d_model)
        self.dropout = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c.d_model, c.n_heads, c.d_ff, c.dropout) for _ in range(c.n_layers))
        self.norm = LayerNorm(c.d_model)
        self.output = nn.Linear(c.d_model, c.vocab_size, bias=False)
        for name, p in self.named_parameters():
            if p.dim() > 1 and "embedding" not in name:
                nn.init.xavier_uniform_(p)
        nn.init.normal_(self.positions.weight, std=0.1)
        self.output.weight = self.embedding.embedding.weight  # tied: logits = h E^T (paper §3.4)

    def _check_idx(self, idx: object, past: int | None = 0) -> Tensor:
        """idx must be (B, T) long ids in [0, vocab_size); with `past`, past + T must fit block_size."""
        check_tokens("idx", idx)
        B, T = idx.shape
        if B == 0 or T == 0:
            raise ValueError(f"idx must have shape (B, T) with B, T >= 1, got {(B, T)}")
        low, high = int(idx.min()), int(idx.max())
        if low < 0 or high >= self.config.vocab_size:
            raise ValueError(
                f"idx must be ids in [0, vocab_size={self.config.vocab_size}), got values in [{low}, {high}]"
            )
        if past is not None and past + T > self.config.block_size:
            raise ValueError(
                f"idx holds {T} tokens after {past} cached ones, more than block_size="
                f"{self.config.block_size}; crop it to the last {self.config.block_size - past} tokens"
            )
        return idx

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, cache: list[KVCache] | None = None
    ) -> Tensor | tuple[Tensor, Tensor]:
        """idx (B, T) -> logits (B, T, vocab_size); with targets (B, T), (logits, mean cross-entropy).

        With a cache (from `new_cache()`), idx holds only the new positions after the cached ones."""
        past = len(cache[0]) if cache else 0
        B, T = self._check_idx(idx, past).shape
        pos = torch.arange(past, past + T, device=idx.device)  # (T,)
        x = self.dropout(self.embedding(idx) + self.positions(pos))  # (B, T, d_model)
        mask = causal_mask(past + T, device=idx.device)[past:] if T > 1 else None  # (T, past + T)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, cache[i] if cache else None)  # (B, T, d_model)
        logits = self.output(self.norm(x))  # (B, T, vocab_size)
        if targets is None:
            return logits
        check_tokens("targets", targets)
        if targets.shape != idx.shape:
            raise ValueError(f"targets must have the shape of idx {(B, T)}, got {tuple(targets.shape)}")
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())  # () mean over B * T
        return logits, loss

    def new_cache(self) -> list[KVCache]:
        """An empty key/value cache, one per block, for `forward(..., cache=...)`."""
        return [KVCache() for _ in self.blocks]

    def record_attention(self, enabled: bool = True) -> None:
        """Keep each block's attention weights of the last call in `.self_attn.last_weights` (B, h, T, T)."""
        for block in self.blocks:
            block.self_attn.record_weights = enabled
            block.self_attn.last_weights = None

    @torch.no_grad()
    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> Tensor:
        """Continue the prompts idx (B, T) by max_new_tokens sampled tokens -> (B, T + max_new_tokens).

        Each step samples with `sample_token` (temperature, top-k, top-p; top_k=1 is greedy). The model
        only sees the last block_size tokens. With the cache each step feeds one new token; once the
        cache holds block_size positions, every further step recomputes that sliding window, exactly
        as use_cache=False does, so both give the same tokens. Runs in eval mode."""
        self._check_idx(idx, past=None)  # any length: the model sees the last block_size tokens
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        sample_token(torch.zeros(1, 2), temperature, top_k, top_p)  # checks the sampling settings early
        was_training, block_size = self.training, self.config.block_size
        self.eval()
        cache, new = None, idx[:, -block_size:]  # (B, T') what the next forward must see
        for _ in range(max_new_tokens):
            if use_cache and (cache is None or len(cache[0]) == block_size):
                cache, new = self.new_cache(), idx[:, -block_size:]  # (B, T') prefill a fresh cache
            logits = self(new, cache=cache if use_cache else None)[:, -1]  # (B, vocab_size)
            token = sample_token(logits, temperature, top_k, top_p, generator)  # (B,)
            idx = torch.cat([idx, token[:, None]], dim=1)  # (B, T + 1)
            new = token[:, None] if use_cache else idx[:, -block_size:]  # (B, 1) or (B, T')
        self.train(was_training)
        return idx


class CharTokenizer:
    """One token per character: the vocabulary is the sorted set of characters seen in the text."""

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        if not chars or any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("chars must be a non-empty sequence of single characters")
        if len(set(chars)) != len(chars):
            raise ValueError("chars must not repeat a character")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def build(cls, text: str) -> CharTokenizer:
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty str, got {type(text).__name__}")
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            raise ValueError(f"text holds characters outside the vocabulary: {unknown[:10]!r}")
        return [self.index[c] for c in text]

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        ids = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        bad = [i for i in ids if not isinstance(i, int) or not 0 <= i < len(self.chars)]
        if bad:
            raise ValueError(f"ids must be ints in [0, vocab_size={len(self.chars)}), got {bad[:5]!r}")
        return "".join(self.chars[i] for i in ids)

    def to_dict(self) -> dict:
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_dict(cls, d: dict) -> CharTokenizer:
        return cls(list(d["chars"]))


def pydoc_corpus(held_out_fraction: float = 0.1) -> tuple[str, str]:
    """CPython's reference manual text (`pydoc_data.topics`, topics joined in sorted key order, about
    465,000 characters), split into (train, held_out): the last held_out_fraction is held out."""
    from pydoc_data.topics import topics

    if not 0.0 < check_probability("held_out_fraction", held_out_fraction):
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    text = "".join(topics[key] for key in sorted(topics))
    split = int((1.0 - held_out_fraction) * len(text))
    return text[:split], text[split:]


def _check_ids(name: str, ids: object, vocab_size: int) -> Tensor:
    tensor = check_tensor(name, ids)
    if tensor.dtype != torch.long or tensor.dim() != 1 or len(tensor) < 2:
        raise ValueError(
            f"{name} must be a 1-D long tensor of at least 2 ids, got {tensor.dtype} {tuple(tensor.shape)}"
        )
    if int(tensor.min()) < 0 or int(tensor.max()) >= vocab_size:
        raise ValueError(f"{name} must be ids in [0, vocab_size={vocab_size})")
    return tensor


def unigram_loss(train: Tensor, held_out: Tensor, vocab_size: int, alpha: float = 1.0) -> float:
    """Held-out loss (nats per character) of p(c) = (count(c) + alpha) / (N + alpha V), counted on
    train (N,) and scored on held_out[1:], the characters a language model predicts."""
    check_positive_int("vocab_size", vocab_size)
    train, held_out = _check_ids("train", train, vocab_size), _check_ids("held_out", held_out, vocab_size)
    counts = torch.bincount(train, minlength=vocab_size).double() + alpha  # (V,)
    log_p = (counts / counts.sum()).log()  # (V,)
    return -log_p[held_out[1:]].mean().item()


def bigram_loss(train: Tensor, held_out: Tensor, vocab_size: int, alpha: float = 1.0) -> float:
    """Held-out loss (nats per character) of p(b | a) = (count(a b) + alpha) / (count(a .) + alpha V),
    counted over the pairs of train and scored on the pairs of held_out."""
    check_positive_int("vocab_size", vocab_size)
    train, held_out = _check_ids("train", train, vocab_size), _check_ids("held_out", held_out, vocab_size)
    V = vocab_size
    pairs = torch.bincount(train[:-1] * V + train[1:], minlength=V * V).view(V, V).double() + alpha  # (V, V)
    log_p = (pairs / pairs.sum(dim=1, keepdim=True)).log()  # (V, V) row a: p(. | a)
    return -log_p[held_out[:-1], held_out[1:]].mean().item()


def get_batch(
    data: Tensor, batch_size: int, block_size: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """batch_size random windows of data (N,): inputs x (B, block_size) and next tokens y (B, block_size)."""
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
    offsets = torch.arange(block_size + 1)  # (block_size + 1,)
    windows = data[starts[:, None] + offsets]  # (B, block_size + 1)
    return windows[:, :-1], windows[:, 1:]  # (B, block_size), (B, block_size)


@torch.no_grad()
def evaluate(model: GPT, data: Tensor, batch_size: int = 64) -> float:
    """Mean next-token loss (nats) over data (N,) cut into consecutive windows of block_size."""
    was_training, block_size = model.training, model.config.block_size
    model.eval()
    device = next(model.parameters()).device
    n = (len(data) - 1) // block_size
    x = data[: n * block_size].view(n, block_size)  # (n, block_size)
    y = data[1 : n * block_size + 1].view(n, block_size)  # (n, block_size)
    total = 0.0
    for i in range(0, n, batch_size):
        logits = model(x[i : i + batch_size].to(device))  # (b, block_size, V)
        total += F.cross_entropy(
            logits.flatten(0, 1), y[i : i + batch_size].flatten().to(device), reduction="sum"
        ).item()
    model.train(was_training)
    return total / (n * block_size)


def train_gpt(
    model: GPT,
    train_data: Tensor,
    held_out_data: Tensor,
    steps: int,
    batch_size: int = 32,
    lr: float = 3e-3,
    warmup_steps: int = 100,
    weight_decay: float = 0.01,
    eval_every: int = 100,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, list]:
    """Train on random windows of train_data (N,) with AdamW, linear warm-up then cosine decay to
    lr / 10; returns the history {"step", "train_loss", "held_out_step", "held_out_loss"}."""
    from tqdm.auto import tqdm

    for name, value in (("steps", steps), ("batch_size", batch_size), ("eval_every", eval_every)):
        check_positive_int(name, value)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)

    def lr_factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress_ = (step - warmup_steps) / max(1, steps - warmup_steps)
        return 0.1 + 0.45 * (1.0 + math.cos(math.pi * progress_))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    history: dict[str, list] = {"step": [], "train_loss": [], "held_out_step": [], "held_out_loss": []}
    model.train()
    bar = tqdm(range(1, steps + 1), desc="training", disable=not progress)
    for step in bar:
        x, y = get_batch(train_data, batch_size, model.config.block_size, generator)  # (B, T), (B, T)
        _, loss = model(x.to(device), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        history["step"].append(step)
        history["train_loss"].append(loss.item())
        if step % eval_every == 0 or step == steps:
            history["held_out_step"].append(step)
            history["held_out_loss"].append(evaluate(model, held_out_data))
            bar.set_postfix(train=f"{loss.item():.3f}", held_out=f"{history['held_out_loss'][-1]:.3f}")
    model.eval()
    return history
