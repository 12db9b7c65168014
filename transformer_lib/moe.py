"""A mixture-of-experts feed-forward layer: a drop-in replacement for `FeedForward` that holds several
expert FFNs and sends each token to only `top_k` of them. Explained in notebooks/11_going_further.

A router (one linear map, d_model -> n_experts) scores the experts for each token; the token goes to
its top_k experts, and its output is their outputs mixed by the gates, the router's softmax
probabilities of the chosen experts renormalised to sum to one:

    p = softmax(x W_r)                       (n_experts,)
    y = sum over chosen e of g_e * FFN_e(x),  g_e = p_e / sum over chosen e' of p_e'

The parameters grow with n_experts while the work per token stays that of top_k FFNs. Left alone, a
router tends to send most tokens to a few experts, so training adds the load-balancing loss of the
Switch Transformer (Fedus et al., 2021), here averaged over the top_k choices:

    load_balancing_loss = n_experts * sum over e of f_e * P_e

where f_e is the fraction of the token-to-expert assignments that went to expert e and P_e the mean
router probability of expert e. It equals 1 whenever the assignments are spread evenly, and grows
towards n_experts as the router collapses onto one expert.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._checks import check_float, check_last_dim, check_positive_int
from .layers import FeedForward


class MixtureOfExperts(nn.Module):
    """Top-k routed mixture of `n_experts` FeedForward experts. Input and output (B, T, d_model)
    (any leading shape works, as for FeedForward).

    After each forward call: `load_balancing_loss` (a scalar tensor that carries gradient to the
    router; add a small multiple of it, e.g. 0.01, to the training loss), `tokens_per_expert`
    (n_experts,) how many tokens each expert received, and `last_choices` (..., top_k) the experts
    each token was sent to.
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        n_experts: int = 8,
        top_k: int = 2,
    ) -> None:
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("d_ff", d_ff)
        check_positive_int("n_experts", n_experts)
        check_positive_int("top_k", top_k)
        if top_k > n_experts:
            raise ValueError(
                f"top_k={top_k} must be at most n_experts={n_experts} (each token picks top_k experts)"
            )
        self.d_model, self.n_experts, self.top_k = d_model, n_experts, top_k
        self.router = nn.Linear(d_model, n_experts, bias=False)  # W_r
        self.experts = nn.ModuleList(
            FeedForward(d_model, d_ff, dropout, activation) for _ in range(n_experts)
        )
        self.load_balancing_loss: Tensor | None = None
        self.tokens_per_expert: Tensor | None = None
        self.last_choices: Tensor | None = None

    def route(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Router probabilities (N, n_experts), the chosen experts (N, top_k) and their gates
        (N, top_k), which sum to one for each token."""
        probs = torch.softmax(self.router(tokens), dim=-1)  # (N, n_experts)
        top_probs, choices = probs.topk(self.top_k, dim=-1)  # (N, top_k), (N, top_k)
        gates = top_probs / top_probs.sum(dim=-1, keepdim=True)  # (N, top_k) renormalised
        return probs, choices, gates

    def forward(self, x: Tensor) -> Tensor:
        check_float("x", x)
        check_last_dim("x", x, self.d_model)
        tokens = x.reshape(-1, self.d_model)  # (N, d_model), N = B * T
        probs, choices, gates = self.route(tokens)  # (N, n_experts), (N, top_k), (N, top_k)
        out = torch.zeros_like(tokens)  # (N, d_model)
        for e, expert in enumerate(self.experts):
            token_idx, slot = (choices == e).nonzero(as_tuple=True)  # (n_e,), (n_e,) tokens sent to e
            if token_idx.numel() == 0:
                continue
            y = expert(tokens[token_idx])  # (n_e, d_model) only this expert's tokens
            out = out.index_add(0, token_idx, gates[token_idx, slot, None] * y)  # (N, d_model)
        assigned = torch.zeros(self.n_experts, device=x.device, dtype=probs.dtype)  # (n_experts,)
        assigned = assigned.index_add(
            0, choices.flatten(), torch.ones_like(choices.flatten(), dtype=probs.dtype)
        )
        fraction = assigned / choices.numel()  # (n_experts,) f_e, sums to one
        mean_prob = probs.mean(dim=0)  # (n_experts,) P_e, sums to one
        self.load_balancing_loss = self.n_experts * (fraction * mean_prob).sum()  # () equals 1 when balanced
        self.tokens_per_expert = assigned.detach().long()  # (n_experts,)
        self.last_choices = choices.detach().reshape(*x.shape[:-1], self.top_k)  # (..., top_k)
        return out.reshape(x.shape)  # (B, T, d_model)


def load_balancing_loss(model: nn.Module) -> Tensor:
    """The sum of `load_balancing_loss` over every MixtureOfExperts inside `model` after its last
    forward call (a zero tensor if it has none)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    losses = [m.load_balancing_loss for m in model.modules() if isinstance(m, MixtureOfExperts)]
    losses = [loss for loss in losses if loss is not None]
    if not losses:
        return torch.zeros(())  # ()
    return torch.stack(losses).sum()  # ()
