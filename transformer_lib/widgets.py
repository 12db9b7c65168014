"""Interactive explorers: thin ipywidgets wrappers over the plots of `transformer_lib.viz`.

Each explorer is an `ipywidgets.interactive`: display it in a notebook and move its controls. Its
callback draws a figure and returns what it computed, so `explorer.result` holds the numbers behind
the picture and a test can set a control's `.value` without a browser. Explained in
notebooks/01_tokens_embeddings_positions (positions), 02_scaled_dot_product_attention (temperature),
03_masking (masks) and 09_inference (attention and decoding).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import ipywidgets as W
import torch
from IPython.display import Image, display
from matplotlib.figure import Figure
from torch import Tensor

from ._checks import check_positive_int, check_tensor
from .attention import causal_mask, padding_mask
from .decoding import Hypothesis, beam_is_done, beam_search, gnmt_length_penalty, greedy_decode, sample_decode
from .embedding import sinusoidal_positional_encoding
from .model import Transformer, device_of
from .viz import (
    BeamNode,
    plot_attention,
    plot_attention_row,
    plot_beam_tree,
    plot_distribution,
    plot_masks,
    plot_positional_encoding,
    softmax_with_temperature,
)

WIDE = {"description_width": "initial"}


def show(fig: Figure) -> None:
    """Display a figure as a PNG image (works with any matplotlib backend, inside widgets too)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    display(Image(data=buffer.getvalue(), format="png"))


def controls(explorer: W.interactive) -> dict[str, W.Widget]:
    """The explorer's controls by argument name, e.g. controls(ui)["temperature"].value = 2.0."""
    return {widget._kwarg: widget for widget in explorer.kwargs_widgets}


# --- 01: positional encoding -------------------------------------------------------------------------


def positional_encoding_explorer(max_len: int = 100, d_model: int = 64) -> W.interactive:
    """Dimension and position sliders over the sinusoidal table (paper §3.5): one dimension as a wave
    over the positions, and the dot product PE_pos . PE_j of the chosen position with every other."""
    check_positive_int("max_len", max_len)
    check_positive_int("d_model", d_model)
    pe = sinusoidal_positional_encoding(max_len, d_model, dtype=torch.float64)  # (max_len, d_model)

    def draw(dimension: int, position: int) -> dict:
        fig = plot_positional_encoding(pe, dimension, position)
        similarity = pe @ pe[position]  # (max_len,)
        show(fig)
        print(
            f"PE_{position} . PE_{position} = {float(similarity[position]):.4f} (= d_model / 2, the largest)"
        )
        return {"similarity": similarity, "figure": fig}

    return W.interactive(
        draw,
        dimension=W.IntSlider(value=0, min=0, max=d_model - 1, description="dimension", style=WIDE),
        position=W.IntSlider(value=min(10, max_len - 1), min=0, max=max_len - 1, description="position pos"),
    )


# --- 02: softmax temperature -------------------------------------------------------------------------


def softmax_temperature_explorer(
    logits: Sequence[float] = (2.0, 1.0, 0.5, 0.0, -1.0, 1.5), labels: Sequence[str] | None = None
) -> W.interactive:
    """Editable logits and a temperature slider: softmax(logits / tau) and its entropy. A small tau
    approaches one-hot (entropy 0), a large tau approaches uniform (entropy log V)."""
    start = ", ".join(f"{float(x):g}" for x in logits)

    def draw(logits: str, temperature: float) -> dict | None:
        try:
            values = torch.tensor([float(x) for x in logits.replace(",", " ").split()], dtype=torch.float64)
        except ValueError:
            print(f"logits must be numbers separated by commas, got {logits!r}")
            return None
        if values.numel() == 0:
            print("type at least one logit")
            return None
        names = list(labels) if labels is not None and len(labels) == values.numel() else None
        probs, entropy = softmax_with_temperature(values, temperature)
        V = values.numel()
        max_entropy = float(torch.log(torch.tensor(float(V))))
        ax = plot_distribution(
            probs,
            names,
            title=f"softmax(logits / {temperature:.2f}): entropy {entropy:.3f} of at most {max_entropy:.3f} nats",
        )
        show(ax.figure)
        print("probabilities:", [round(p, 4) for p in probs.tolist()])
        return {"probs": probs, "entropy": entropy, "figure": ax.figure}

    return W.interactive(
        draw,
        logits=W.Text(value=start, description="logits", continuous_update=False),
        temperature=W.FloatLogSlider(
            value=1.0, base=10, min=-1.5, max=1.5, step=0.05, description="temperature"
        ),
    )


# --- 03: masks ---------------------------------------------------------------------------------------


def batch_mask(lengths: Sequence[int], causal: bool = True) -> tuple[Tensor, Tensor]:
    """A right-padded batch of sentences of the given lengths (ids 1..n, pad 0) and its mask:
    padding, AND causal if asked. Returns (tokens (B, T), mask (B, 1, T, T) or (B, 1, 1, T))."""
    if isinstance(lengths, (str, bytes)) or not lengths:
        raise ValueError(f"lengths must be a non-empty list of positive ints, got {lengths!r}")
    for i, n in enumerate(lengths):
        check_positive_int(f"lengths[{i}]", n)
    T = max(lengths)
    tokens = torch.tensor([list(range(1, n + 1)) + [0] * (T - n) for n in lengths])  # (B, T)
    mask = padding_mask(tokens, pad_id=0)  # (B, 1, 1, T)
    if causal:
        mask = mask & causal_mask(T)  # (B, 1, T, T)
    return tokens, mask


def mask_builder(lengths: Sequence[int] = (3, 6, 2), max_length: int = 8) -> W.interactive:
    """One length slider per sentence of a batch and a causal switch: the padded batch and the
    combined mask every query row sees (paper §3.2.3; True = may attend)."""
    check_positive_int("max_length", max_length)
    sliders = {
        f"length_{b}": W.IntSlider(
            value=n, min=1, max=max_length, description=f"sentence {b} length", style=WIDE
        )
        for b, n in enumerate(lengths)
    }

    def draw(causal: bool, **chosen: int) -> dict:
        sizes = [chosen[f"length_{b}"] for b in range(len(lengths))]
        tokens, mask = batch_mask(sizes, causal)  # (B, T), (B, 1, T or 1, T)
        T = tokens.shape[1]
        full = mask.expand(len(sizes), 1, T, T)  # (B, 1, T, T) what each query row may see
        labels = [[f"w{i + 1}" if i < n else "<pad>" for i in range(T)] for n in sizes]
        title = "Padding AND causal mask" if causal else "Padding mask"
        fig = plot_masks(full, labels, title=title)
        show(fig)
        print(f"batch {tuple(tokens.shape)}; mask {tuple(mask.shape)} broadcasts to {tuple(full.shape)}")
        return {"tokens": tokens, "mask": full, "figure": fig}

    return W.interactive(draw, causal=W.Checkbox(value=True, description="causal"), **sliders)


# --- 09: attention of a trained model ----------------------------------------------------------------

KINDS = ("encoder self-attention", "decoder self-attention", "cross-attention")


def attention_maps(model: Transformer, src: Tensor, tgt_in: Tensor) -> dict[str, list[Tensor]]:
    """Run the model once on src (1, S) and tgt_in (1, T) (starting with <bos>) and return, per kind
    in KINDS, one tensor (h, T_q, T_k) of attention weights per layer."""
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a transformer_lib Transformer, got {type(model).__name__}")
    for name, t in (("src", src), ("tgt_in", tgt_in)):
        check_tensor(name, t)
        if t.dim() != 2 or t.shape[0] != 1:
            raise ValueError(f"{name} must be one sentence of shape (1, T), got {tuple(t.shape)}")
    was_training = model.training
    model.eval()
    model.record_attention(True)
    try:
        with torch.no_grad():
            model(src, tgt_in)  # (1, T, V), the weights are recorded on the way
        enc, dec = model.encoder.layers, model.decoder.layers
        return {
            KINDS[0]: [layer.self_attn.last_weights[0].cpu() for layer in enc],  # (h, S, S) each
            KINDS[1]: [layer.self_attn.last_weights[0].cpu() for layer in dec],  # (h, T, T) each
            KINDS[2]: [layer.cross_attn.last_weights[0].cpu() for layer in dec],  # (h, T, S) each
        }
    finally:
        model.record_attention(False)
        model.train(was_training)


def _encode_pair(model, src_vocab, tgt_vocab, source: str, target: str | None) -> tuple[Tensor, Tensor]:
    device = device_of(model)
    src = torch.tensor([src_vocab.encode(source)], dtype=torch.long, device=device)  # (1, S)
    if src.shape[1] == 0:
        raise ValueError(f"source must hold at least one word, got {source!r}")
    if target is None:
        max_len = min(model.config.max_len - 1, 2 * src.shape[1] + 10)
        out = greedy_decode(model, src, max_len, tgt_vocab.bos_id, tgt_vocab.eos_id)[0].tolist()
        ids = out[: out.index(tgt_vocab.eos_id)] if tgt_vocab.eos_id in out else out
    else:
        ids = tgt_vocab.encode(target)
    tgt_in = torch.tensor([[tgt_vocab.bos_id, *ids]], dtype=torch.long, device=device)  # (1, T)
    return src, tgt_in


def attention_explorer(
    model: Transformer, src_vocab, tgt_vocab, source: str, target: str | None = None
) -> W.interactive:
    """Pick the kind of attention, the layer, the head and the query token; see that query's weights
    over the keys of a trained model. `target` defaults to the model's greedy translation; the
    decoder's queries are <bos> and the target words (each predicts the next word)."""
    src, tgt_in = _encode_pair(model, src_vocab, tgt_vocab, source, target)
    maps = attention_maps(model, src, tgt_in)
    src_labels = [src_vocab.itos[i] for i in src[0].tolist()]
    tgt_labels = [tgt_vocab.itos[i] for i in tgt_in[0].tolist()]
    sides = {
        KINDS[0]: (src_labels, src_labels),
        KINDS[1]: (tgt_labels, tgt_labels),
        KINDS[2]: (tgt_labels, src_labels),
    }
    config = model.config
    kind_box = W.Dropdown(options=KINDS, value=KINDS[2], description="attention", style=WIDE)
    query_box = W.Dropdown(options=_query_options(tgt_labels), value=0, description="query token", style=WIDE)

    def follow_kind(change) -> None:
        query_box.options = _query_options(sides[change["new"]][0])  # resets the query to the first token

    kind_box.observe(follow_kind, names="value")

    def draw(kind: str, layer: int, head: int, query: int) -> dict:
        query_labels, key_labels = sides[kind]
        query = min(query, len(query_labels) - 1)
        weights = maps[kind][layer][head]  # (T_q, T_k)
        fig = Figure(figsize=(11, 3.8), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=[1.2, 1])
        title = f"{kind}, layer {layer}, head {head}"
        plot_attention(weights, query_labels, key_labels, title=title, ax=left, highlight_query=query)
        plot_attention_row(weights[query], key_labels, query_labels[query], ax=right)
        show(fig)
        top = int(weights[query].argmax())
        print(
            f"{query_labels[query]!r} attends most to {key_labels[top]!r} (weight {float(weights[query, top]):.4f})"
        )
        return {"weights": weights[query], "figure": fig}

    return W.interactive(
        draw,
        kind=kind_box,
        layer=W.IntSlider(value=0, min=0, max=config.n_layers - 1, description="layer"),
        head=W.IntSlider(value=0, min=0, max=config.n_heads - 1, description="head"),
        query=query_box,
    )


def _query_options(labels: Sequence[str]) -> list[tuple[str, int]]:
    return [(f"{i}: {label}", i) for i, label in enumerate(labels)]


# --- 09: decoding strategies and the beam-search tree ------------------------------------------------


def sequence_log_prob(
    model: Transformer, src: Tensor, tokens: Sequence[int], bos_id: int, eos_id: int
) -> float:
    """log P(tokens | src) under the model by teacher forcing, src (1, S): the sum over the tokens up
    to and including the first <eos> (padding after it is ignored)."""
    tokens = list(tokens)
    if eos_id in tokens:
        tokens = tokens[: tokens.index(eos_id) + 1]
    if not tokens:
        return 0.0
    device = device_of(model)
    tgt_in = torch.tensor([[bos_id, *tokens[:-1]]], dtype=torch.long, device=device)  # (1, L)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logp = torch.log_softmax(model(src, tgt_in).float(), dim=-1)  # (1, L, V)
    finally:
        model.train(was_training)
    target = torch.tensor(tokens, device=device)  # (L,)
    return float(logp[0].gather(1, target[:, None]).sum())


def beam_search_tree(
    model: Transformer,
    src: Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
    beam_size: int = 4,
    length_penalty: float = 0.6,
    token_label: Callable[[int], str] = str,
) -> tuple[list[BeamNode], list[Hypothesis]]:
    """Beam search on one sentence src (1, S) with the rules of `decoding.beam_search`, keeping every
    candidate it looks at, for drawing. Returns (nodes, finished hypotheses, best score first)."""
    check_positive_int("beam_size", beam_size)
    check_positive_int("max_len", max_len)
    if src.dim() != 2 or src.shape[0] != 1:
        raise ValueError(f"src must be one sentence of shape (1, S), got {tuple(src.shape)}")
    K = beam_size
    nodes = [BeamNode("<bos>", -1, 0, 0.0, "kept")]
    beams = [(0, [], 0.0)]  # (node index, tokens, log-prob) of the live prefixes
    finished: list[Hypothesis] = []

    def finish(tokens: list[int], log_prob: float) -> None:
        finished.append(
            Hypothesis(tokens, log_prob / gnmt_length_penalty(len(tokens), length_penalty), log_prob)
        )

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            src_mask = model.src_mask(src)  # (1, 1, 1, S)
            memory = model.encode(src, src_mask)  # (1, S, d_model)
            for step in range(1, max_len + 1):
                n = len(beams)
                ys = torch.tensor([[bos_id, *b[1]] for b in beams], device=src.device)  # (n, step)
                logits = model.decode(
                    ys, memory.expand(n, -1, -1), src_mask.expand(n, -1, -1, -1)
                )  # (n, step, V)
                logp = torch.log_softmax(logits[:, -1].float(), dim=-1)  # (n, V)
                V = logp.shape[-1]
                total = (torch.tensor([b[2] for b in beams], device=src.device)[:, None] + logp).view(
                    -1
                )  # (n*V,)
                top_lp, top_idx = total.topk(min(2 * K, n * V))  # (<= 2K,)
                survivors = []
                for rank, (lp, idx) in enumerate(zip(top_lp.tolist(), top_idx.tolist(), strict=True)):
                    parent, token = beams[idx // V], idx % V
                    tokens = [*parent[1], token]
                    status = "pruned"
                    if token == eos_id and rank < K:
                        status = "finished"
                        finish(tokens, lp)
                    elif token != eos_id and len(survivors) < K:
                        status = "kept"
                        survivors.append((len(nodes), tokens, lp))
                    nodes.append(BeamNode(token_label(token), parent[0], step, lp, status))
                beams = survivors
                best_live = max((b[2] for b in beams), default=float("-inf"))
                if not beams or beam_is_done(
                    [h.score for h in finished], best_live, K, length_penalty, max_len
                ):
                    break
            else:  # max_len reached: the live prefixes end here, without <eos>
                for _, tokens, lp in beams:
                    finish(tokens, lp)
    finally:
        model.train(was_training)
    return nodes, sorted(finished, key=lambda h: -h.score)


STRATEGIES = ("greedy", "sampling", "beam search")


def decoding_explorer(
    model: Transformer, src_vocab, tgt_vocab, sentence: str, max_len: int | None = None, n_samples: int = 5
) -> W.interactive:
    """Type a source sentence and pick a strategy: greedy, sampling (temperature, top-k, top-p, seed)
    or beam search (width); see the outputs with their log-probabilities, and for beam search the tree
    of prefixes it kept, finished and pruned. top_k = 0 and top_p = 1 switch those filters off."""
    check_positive_int("n_samples", n_samples)
    bos, eos = tgt_vocab.bos_id, tgt_vocab.eos_id

    def draw(
        sentence: str, strategy: str, temperature: float, top_k: int, top_p: float, seed: int, beam_size: int
    ) -> dict | None:
        ids = src_vocab.encode(sentence)
        if not ids:
            print("type a source sentence")
            return None
        src = torch.tensor([ids], dtype=torch.long, device=device_of(model))  # (1, S)
        limit = max_len or min(model.config.max_len, 2 * len(ids) + 10)
        figure = None
        if strategy == "greedy":
            out = greedy_decode(model, src, limit, bos, eos)[0].tolist()
            rows = [(out, sequence_log_prob(model, src, out, bos, eos), None)]
        elif strategy == "sampling":
            generator = torch.Generator(device=src.device).manual_seed(seed)
            outs = sample_decode(
                model,
                src.expand(n_samples, -1),
                limit,
                bos,
                eos,
                temperature=temperature,
                top_k=top_k or None,
                top_p=top_p if top_p < 1.0 else None,
                generator=generator,
            ).tolist()  # n_samples lists of ids
            rows = [(out, sequence_log_prob(model, src, out, bos, eos), None) for out in outs]
        else:
            nodes, _ = beam_search_tree(
                model, src, limit, bos, eos, beam_size, token_label=lambda i: tgt_vocab.itos[i]
            )
            best = beam_search(model, src, limit, bos, eos, beam_size=beam_size, n_best=beam_size)[0]
            rows = [(h.tokens, h.log_prob, h.score) for h in best]
            figure = plot_beam_tree(nodes, title=f"Beam search, width {beam_size}: {sentence}").figure
            show(figure)
        outputs = []
        for tokens, log_prob, score in rows:
            tokens = tokens[: tokens.index(eos) + 1] if eos in tokens else tokens  # drop padding after <eos>
            text = tgt_vocab.decode(tokens)
            outputs.append({"text": text, "tokens": tokens, "log_prob": log_prob, "score": score})
            extra = "" if score is None else f"  score {score:8.4f}"
            print(f"log P = {log_prob:8.4f}{extra}  {text}")
        return {"outputs": outputs, "figure": figure}

    return W.interactive(
        draw,
        sentence=W.Text(
            value=sentence, description="source", continuous_update=False, layout={"width": "60%"}
        ),
        strategy=W.Dropdown(options=STRATEGIES, value="greedy", description="strategy"),
        temperature=W.FloatSlider(
            value=1.0, min=0.1, max=3.0, step=0.1, description="temperature", style=WIDE
        ),
        top_k=W.IntSlider(value=0, min=0, max=20, description="top-k (0 = off)", style=WIDE),
        top_p=W.FloatSlider(
            value=1.0, min=0.05, max=1.0, step=0.05, description="top-p (1 = off)", style=WIDE
        ),
        seed=W.IntSlider(value=0, min=0, max=100, description="seed"),
        beam_size=W.IntSlider(value=4, min=1, max=8, description="beam width", style=WIDE),
    )
