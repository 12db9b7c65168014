"""Attention: the scaled dot-product (paper §3.2.1), masks, and multi-head attention (§3.2.2) with a
key/value cache for incremental decoding. Explained in notebooks/02_scaled_dot_product_attention,
03_masking, 04_multi_head_attention and 05_cross_attention.

Masks are boolean and True means "may attend"; they broadcast to (B, h, T_q, T_k). A query row with
nothing to attend to gives an output of zeros, never NaN.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import (
    check_float,
    check_mask,
    check_positive_int,
    check_probability,
    check_same_dtype,
    check_tensor,
    check_tokens,
)


def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    """(T, T) bool, True on and below the diagonal: position i may attend to positions j <= i."""
    check_positive_int("T", T)
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()  # (T, T)


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """(B, 1, 1, T) bool, True at real tokens: every query may attend to every non-pad key."""
    check_tokens("tokens", tokens)
    if isinstance(pad_id, bool) or not isinstance(pad_id, numbers.Integral):
        raise TypeError(f"pad_id must be an int, got {type(pad_id).__name__}")
    return (tokens != pad_id)[:, None, None, :]  # (B, 1, 1, T)


def combine_masks(*masks: Tensor | None) -> Tensor | None:
    """Logical AND of boolean masks that broadcast together (None entries are skipped)."""
    result = None
    for i, mask in enumerate(masks):
        if mask is None:
            continue
        check_tensor(f"masks[{i}]", mask)
        if mask.dtype != torch.bool:
            raise TypeError(f"masks[{i}] must be a bool tensor (True = may attend), got dtype {mask.dtype}")
        if result is not None:
            try:
                torch.broadcast_shapes(result.shape, mask.shape)
            except RuntimeError:
                raise ValueError(
                    f"masks[{i}] of shape {tuple(mask.shape)} does not broadcast with the masks before it, "
                    f"of shape {tuple(result.shape)}"
                ) from None
        result = mask if result is None else result & mask
    return result


def scaled_dot_product_attention(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None, dropout_p: float = 0.0
) -> tuple[Tensor, Tensor]:
    """softmax(Q K^T / sqrt(d_k)) V, written out (paper equation 1).

    query (..., T_q, d_k), key (..., T_k, d_k), value (..., T_k, d_v); mask bool, True = may attend,
    broadcasting to (..., T_q, T_k). Returns (output (..., T_q, d_v), weights (..., T_q, T_k)); the
    weights are those before dropout.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_float(name, t)
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., T, d), got {tuple(t.shape)}")
        check_same_dtype(name, t, query.dtype, "query")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"query and key must have the same last dimension d_k, got query {tuple(query.shape)} "
            f"and key {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"key and value must have the same length T_k, got key {tuple(key.shape)} and value {tuple(value.shape)}"
        )
    try:
        batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the leading (batch) dimensions of query {tuple(query.shape)}, key {tuple(key.shape)} and "
            f"value {tuple(value.shape)} do not broadcast"
        ) from None
    check_probability("dropout_p", dropout_p)
    T_q, T_k, d_k = query.shape[-2], key.shape[-2], query.shape[-1]
    scores = query @ key.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, T_k)
    if mask is not None:
        check_mask("mask", mask, (*batch, T_q, T_k), "(..., T_q, T_k)")
        row_has_key = mask.any(dim=-1, keepdim=True)  # (..., T_q, 1) False where nothing is allowed
        scores = scores.masked_fill(~mask, float("-inf"))  # (..., T_q, T_k) exp(-inf) = 0
        scores = scores.masked_fill(~row_has_key, 0.0)  # (..., T_q, T_k) keep empty rows finite
        weights = torch.softmax(scores, dim=-1).masked_fill(~row_has_key, 0.0)  # (..., T_q, T_k)
    else:
        weights = torch.softmax(scores, dim=-1)  # (..., T_q, T_k) each row sums to one
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights  # (..., T_q, T_k)
    return dropped @ value, weights  # (..., T_q, d_v), (..., T_q, T_k)


class KVCache:
    """Keys and values of one attention layer kept between decoding steps, each (B, h, T_past, d_k).

    A self-attention cache grows by the new positions at every call. A static cache (for
    cross-attention) is filled once from the encoder memory and then reused unchanged.
    """

    def __init__(self, static: bool = False) -> None:
        self.static = static
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def reorder(self, index: Tensor) -> None:
        """Keep the batch rows `index` (B_new,), e.g. the surviving hypotheses of beam search."""
        check_tensor("index", index)
        if index.dtype not in (torch.long, torch.int32) or index.dim() != 1:
            raise TypeError(
                f"index must be a 1-d integer tensor of batch rows, got {index.dtype} {tuple(index.shape)}"
            )
        if self.k is not None:
            B = self.k.shape[0]
            if index.numel() and (int(index.min()) < 0 or int(index.max()) >= B):
                raise ValueError(
                    f"index must hold batch rows in [0, {B}), got values in [{int(index.min())}, {int(index.max())}]"
                )
            self.k = self.k.index_select(0, index)  # (B_new, h, T_past, d_k)
            self.v = self.v.index_select(0, index)  # (B_new, h, T_past, d_k)


def _stacked(x: Tensor, *layers: nn.Linear) -> tuple[Tensor, ...]:
    """The outputs of several Linear layers on the same input x (..., d_in), as one matrix product with
    their weights stacked: the same numbers as calling each layer."""
    weight = torch.cat([layer.weight for layer in layers])  # (sum of d_out, d_in)
    bias = None if layers[0].bias is None else torch.cat([layer.bias for layer in layers])
    return F.linear(x, weight, bias).chunk(len(layers), dim=-1)  # len(layers) x (..., d_out)


class MultiHeadAttention(nn.Module):
    """Multi-head attention (paper §3.2.2): h heads of size d_k = d_model / h, run in parallel on
    projected queries, keys and values, concatenated and projected by W^O.

    forward(query (B, T_q, d_model), key (B, T_k, d_model), value (B, T_k, d_model), mask) returns
    (B, T_q, d_model). With `record_weights = True` it also keeps the attention weights of the last
    call in `last_weights` (B, h, T_q, T_k), through the explicit formula; otherwise it takes the fused
    `F.scaled_dot_product_attention`. Both give the same output.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("n_heads", n_heads)
        if d_model % n_heads:
            raise ValueError(
                f"d_model={d_model} must be divisible by n_heads={n_heads} (each head gets d_model // n_heads dims)"
            )
        self.d_model, self.n_heads, self.d_k = d_model, n_heads, d_model // n_heads
        self.dropout = check_probability("dropout", dropout)
        self.w_q = nn.Linear(d_model, d_model, bias=bias)
        self.w_k = nn.Linear(d_model, d_model, bias=bias)
        self.w_v = nn.Linear(d_model, d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)
        self.record_weights = False
        self.last_weights: Tensor | None = None

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, d_model) -> (B, h, T, d_k)."""
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.d_k).transpose(1, 2)  # (B, h, T, d_k)

    def merge_heads(self, x: Tensor) -> Tensor:
        """(B, h, T, d_k) -> (B, T, d_model), the concatenation of the heads."""
        B, _, T, _ = x.shape
        return x.transpose(1, 2).reshape(B, T, self.d_model)  # (B, T, d_model)

    def project(
        self, query: Tensor, key: Tensor, value: Tensor, fuse: bool = True
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Q = query W^Q, K = key W^K, V = value W^V, split into heads. Products that share an input run
        as one, on the stacked matrices (the same numbers, one bigger matrix product): all three in
        self-attention, K and V in cross-attention, where both come from the encoder memory.
        `fuse=False` keeps them apart, for one new token at a time, where stacking would cost more."""
        if fuse and query is key and key is value:
            q, k, v = _stacked(query, self.w_q, self.w_k, self.w_v)  # 3 x (B, T, d_model)
        elif fuse and key is value:
            q = self.w_q(query)  # (B, T_q, d_model)
            k, v = _stacked(key, self.w_k, self.w_v)  # 2 x (B, T_k, d_model)
        else:
            q, k, v = self.w_q(query), self.w_k(key), self.w_v(value)
        heads = self.split_heads
        return heads(q), heads(k), heads(v)  # (B, h, T_q, d_k), 2 x (B, h, T_k, d_k)

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        inputs = [("query", query)]  # each distinct tensor once: self-attention passes one for all three
        if key is not query:
            inputs.append(("key", key))
        if value is not key and value is not query:
            inputs.append(("value", value))
        weight_dtype = self.w_q.weight.dtype
        for name, t in inputs:
            check_float(name, t)
            if t.dim() != 3 or t.shape[-1] != self.d_model:
                raise ValueError(
                    f"{name} must have shape (B, T, d_model={self.d_model}), got {tuple(t.shape)}"
                )
            check_same_dtype(name, t, weight_dtype, "the layer's weights")
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(
                f"query, key and value must have the same batch size B, got {query.shape[0]}, "
                f"{key.shape[0]} and {value.shape[0]}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value must have the same length T_k, got {key.shape[1]} and {value.shape[1]}"
            )

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        mask: Tensor | None = None,
        cache: KVCache | None = None,
    ) -> Tensor:
        self._check_inputs(query, key, value)
        B, T_q, _ = query.shape
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"cache must be a KVCache or None, got {type(cache).__name__}")
        if cache is not None and cache.k is not None and cache.k.shape[0] != B:
            raise ValueError(f"the cache holds batch size {cache.k.shape[0]} but query has batch size {B}")
        if cache is not None and cache.static and cache.k is not None:
            q = self.split_heads(self.w_q(query))  # (B, h, T_q, d_k)
            k, v = cache.k, cache.v  # (B, h, T_k, d_k) computed once from the encoder memory
        else:
            q, k, v = self.project(
                query, key, value, fuse=cache is None or cache.static
            )  # (B, h, T_q, d_k), 2 x (B, h, T_new, d_k)
            if cache is not None and not cache.static and cache.k is not None:
                k = torch.cat([cache.k, k], dim=2)  # (B, h, T_past + T_new, d_k)
                v = torch.cat([cache.v, v], dim=2)  # (B, h, T_past + T_new, d_k)
            if cache is not None:
                cache.k, cache.v = k, v
        T_k = k.shape[2]
        if mask is not None:
            check_mask("mask", mask, (B, self.n_heads, T_q, T_k), "(B, h, T_q, T_k)")
        dropout_p = self.dropout if self.training else 0.0
        if self.record_weights:
            out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p)  # (B, h, T_q, d_k)
            self.last_weights = weights.detach()  # (B, h, T_q, T_k)
        else:  # a query row with no key gets the output 0 here too (torch >= 2.5), tested
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout_p
            )  # (B, h, T_q, d_k)
        return self.w_o(self.merge_heads(out))  # (B, T_q, d_model)
