"""Pictures of the Transformer's parts: pure plotting functions that return matplotlib objects.

Every function draws on the `ax` it is given or, without one, on a new Figure that is not registered
with pyplot (so a loop of plots leaks nothing); show a returned figure with `display(fig)` or save it
with `fig.savefig(...)`. The interactive explorers in `transformer_lib.widgets` wire sliders to these.
Explained in notebooks/01_tokens_embeddings_positions, 02_scaled_dot_product_attention, 03_masking and
09_inference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from ._checks import check_tensor


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        return Figure(figsize=figsize).subplots()
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def _check_labels(name: str, labels: Sequence[str] | None, n: int) -> list[str]:
    if labels is None:
        return [str(i) for i in range(n)]
    if isinstance(labels, str) or len(labels) != n:
        raise ValueError(f"{name} must be a list of {n} token labels, got {labels!r:.80}")
    return [str(label) for label in labels]


# --- attention ---------------------------------------------------------------------------------------


def plot_attention(
    weights: Tensor,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    title: str = "Attention weights",
    ax: Axes | None = None,
    highlight_query: int | None = None,
) -> Axes:
    """Heatmap of attention weights (T_q, T_k): rows are queries, columns are keys, with token labels
    and a colour bar. `highlight_query` outlines one row."""
    check_tensor("weights", weights)
    if weights.dim() != 2:
        raise ValueError(f"weights must have shape (T_q, T_k), got {tuple(weights.shape)}")
    T_q, T_k = weights.shape
    query_labels = _check_labels("query_labels", query_labels, T_q)
    key_labels = _check_labels("key_labels", key_labels, T_k)
    ax = _new_axes(ax, (6, 4))
    image = ax.imshow(weights.detach().float().cpu().numpy(), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(T_k), key_labels, rotation=45, ha="right")
    ax.set_yticks(range(T_q), query_labels)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, label="weight")
    if highlight_query is not None:
        ax.add_patch(_row_box(highlight_query, T_k))
    return ax


def _row_box(row: int, width: int):
    from matplotlib.patches import Rectangle

    return Rectangle((-0.5, row - 0.5), width, 1, fill=False, edgecolor="red", linewidth=2)


def plot_attention_row(
    weights: Tensor, key_labels: Sequence[str] | None = None, query_label: str = "", ax: Axes | None = None
) -> Axes:
    """Bar chart of one query's attention weights over the keys, (T_k,)."""
    check_tensor("weights", weights)
    if weights.dim() != 1:
        raise ValueError(f"weights must have shape (T_k,), got {tuple(weights.shape)}")
    key_labels = _check_labels("key_labels", key_labels, weights.shape[0])
    ax = _new_axes(ax, (6, 3))
    ax.bar(range(len(key_labels)), weights.detach().float().cpu().numpy(), color="tab:blue")
    ax.set_xticks(range(len(key_labels)), key_labels, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("weight")
    ax.set_title(f"Where {query_label!r} looks" if query_label else "Attention weights of one query")
    return ax


# --- positional encoding -----------------------------------------------------------------------------


def plot_positional_encoding(pe: Tensor, dimension: int, position: int) -> Figure:
    """Two panels for a sinusoidal table pe (max_len, d_model): the chosen dimension as a function of
    position (the chosen position marked), and the dot products PE_position . PE_j for every j."""
    check_tensor("pe", pe)
    if pe.dim() != 2:
        raise ValueError(f"pe must have shape (max_len, d_model), got {tuple(pe.shape)}")
    max_len, d_model = pe.shape
    if not 0 <= dimension < d_model:
        raise ValueError(f"dimension must be in [0, d_model={d_model}), got {dimension}")
    if not 0 <= position < max_len:
        raise ValueError(f"position must be in [0, max_len={max_len}), got {position}")
    table = pe.detach().double().cpu()  # (max_len, d_model)
    similarity = table @ table[position]  # (max_len,)
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    kind = "sin" if dimension % 2 == 0 else "cos"
    left.plot(table[:, dimension].numpy(), color="tab:blue")
    left.plot([position], [float(table[position, dimension])], "o", color="tab:red")
    left.set_title(f"Dimension {dimension} ({kind}, wavelength {wavelength(dimension, d_model):.1f})")
    left.set_xlabel("position pos")
    left.set_ylabel("PE value")
    right.plot(similarity.numpy(), color="tab:green")
    right.axvline(position, color="tab:red", linestyle="--")
    right.set_title(f"Dot product of PE_{position} with every position")
    right.set_xlabel("position j")
    right.set_ylabel(f"PE_{position} . PE_j")
    return fig


def wavelength(dimension: int, d_model: int) -> float:
    """2 pi * 10000^(2i / d_model): the period, in positions, of dimension 2i or 2i + 1 (paper §3.5)."""
    return 2 * math.pi * 10000.0 ** (2 * (dimension // 2) / d_model)


# --- softmax temperature -----------------------------------------------------------------------------


def softmax_with_temperature(logits: Tensor, temperature: float) -> tuple[Tensor, float]:
    """softmax(logits / temperature) for logits (V,), and its entropy in nats."""
    check_tensor("logits", logits)
    if logits.dim() != 1 or logits.numel() == 0 or not logits.is_floating_point():
        raise ValueError(f"logits must be a non-empty float tensor of shape (V,), got {tuple(logits.shape)}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    probs = torch.softmax(logits.double() / temperature, dim=-1)  # (V,)
    entropy = -(probs * probs.clamp_min(1e-300).log()).sum()  # () in nats; 0 log 0 = 0
    return probs, float(entropy)


def plot_distribution(
    probs: Tensor, labels: Sequence[str] | None = None, title: str = "Distribution", ax: Axes | None = None
) -> Axes:
    """Bar chart of a probability distribution (V,)."""
    check_tensor("probs", probs)
    if probs.dim() != 1:
        raise ValueError(f"probs must have shape (V,), got {tuple(probs.shape)}")
    labels = _check_labels("labels", labels, probs.shape[0])
    ax = _new_axes(ax, (6, 3.5))
    ax.bar(range(len(labels)), probs.detach().float().cpu().numpy(), color="tab:purple")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylim(0, 1)
    ax.set_xlabel("token")
    ax.set_ylabel("probability")
    ax.set_title(title)
    return ax


# --- masks -------------------------------------------------------------------------------------------


def plot_masks(mask: Tensor, labels: Sequence[Sequence[str]] | None = None, title: str = "Mask") -> Figure:
    """One heatmap per sentence of a boolean mask (B, 1, T_q, T_k) or (B, T_q, T_k); True = may attend."""
    check_tensor("mask", mask)
    if mask.dtype != torch.bool or mask.dim() not in (3, 4) or (mask.dim() == 4 and mask.shape[1] != 1):
        raise ValueError(
            f"mask must be bool (B, 1, T_q, T_k) or (B, T_q, T_k), got {mask.dtype} {tuple(mask.shape)}"
        )
    grid = mask[:, 0] if mask.dim() == 4 else mask  # (B, T_q, T_k)
    B, T_q, T_k = grid.shape
    fig = Figure(figsize=(3.4 * B + 1, 3.5), layout="constrained")
    axes = fig.subplots(1, B, squeeze=False)[0]
    for b, ax in enumerate(axes):
        names = labels[b] if labels is not None else None
        image = ax.imshow(grid[b].float().cpu().numpy(), cmap="Greys", vmin=0, vmax=1)
        ax.set_xticks(range(T_k), _check_labels(f"labels[{b}]", names, T_k), rotation=45, ha="right")
        ax.set_yticks(range(T_q), _check_labels(f"labels[{b}]", names, T_q))
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        ax.set_title(f"sentence {b}")
    fig.colorbar(image, ax=list(axes), label="may attend (1) / hidden (0)")
    fig.suptitle(title)
    return fig


# --- beam search tree --------------------------------------------------------------------------------


@dataclass
class BeamNode:
    """One prefix considered by beam search: `parent` is the index of the node it extends (-1 for
    <bos>), `step` its length, `log_prob` the sum over its tokens; status is "kept" (stays in the
    beam), "finished" (ended with <eos>) or "pruned" (among the candidates, then dropped)."""

    token: str
    parent: int
    step: int
    log_prob: float
    status: str


STATUS_STYLE = {"kept": "tab:blue", "finished": "tab:green", "pruned": "lightgray", "root": "black"}


def plot_beam_tree(
    nodes: Sequence[BeamNode], title: str = "Beam search tree", ax: Axes | None = None
) -> Axes:
    """Draw beam-search prefixes as a tree: x is the step, each node labelled with its token and its
    log-probability; kept prefixes blue, finished green, pruned grey."""
    if not nodes:
        raise ValueError("nodes must hold at least the root node, got an empty list")
    children: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        if not isinstance(node, BeamNode):
            raise TypeError(f"nodes[{i}] must be a BeamNode, got {type(node).__name__}")
        if node.parent >= i:
            raise ValueError(f"nodes[{i}].parent={node.parent} must refer to an earlier node")
        children.setdefault(node.parent, []).append(i)
    y: dict[int, float] = {}
    n_leaves = 0

    def place(i: int) -> float:  # leaves get consecutive rows, a parent sits at its children's mean
        nonlocal n_leaves
        kids = children.get(i, [])
        if kids:
            y[i] = sum(place(k) for k in kids) / len(kids)
        else:
            y[i], n_leaves = float(n_leaves), n_leaves + 1
        return y[i]

    for root in children.get(-1, []):
        place(root)
    ax = _new_axes(ax, (10, max(3.0, 0.3 * n_leaves + 1)))
    for i, node in enumerate(nodes):
        if node.parent >= 0:
            ax.plot([nodes[node.parent].step, node.step], [y[node.parent], y[i]], color="silver", zorder=1)
    for status, colour in STATUS_STYLE.items():
        members = [i for i, n in enumerate(nodes) if (n.status if n.parent >= 0 else "root") == status]
        if members:
            ax.scatter(
                [nodes[i].step for i in members],
                [y[i] for i in members],
                color=colour,
                label=status,
                zorder=2,
            )
    for i, node in enumerate(nodes):
        text = node.token if node.parent < 0 else f"{node.token} ({node.log_prob:.2f})"
        ax.annotate(text, (node.step, y[i]), xytext=(4, 3), textcoords="offset points", fontsize=8)
    ax.set_xlabel("step (tokens generated)")
    ax.set_ylabel("prefix")
    ax.set_yticks([])
    ax.invert_yaxis()
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
    return ax
