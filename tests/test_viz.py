"""The plotting functions draw exactly the numbers they are given, with labels, titles and colour bars."""

import math

import pytest
import torch
from matplotlib.figure import Figure

from transformer_lib import sinusoidal_positional_encoding
from transformer_lib.viz import (
    BeamNode,
    plot_attention,
    plot_attention_row,
    plot_beam_tree,
    plot_distribution,
    plot_masks,
    plot_positional_encoding,
    softmax_with_temperature,
    wavelength,
)


def tick_texts(ticks) -> list[str]:
    return [t.get_text() for t in ticks]


def test_attention_heatmap_shows_the_weights_with_token_labels_and_a_colour_bar():
    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(3, 4), dim=-1)  # (T_q, T_k)
    ax = plot_attention(weights, ["a", "b", "c"], ["w", "x", "y", "z"], title="self", highlight_query=1)
    torch.testing.assert_close(torch.tensor(ax.images[0].get_array()), weights, rtol=0, atol=1e-7)
    assert tick_texts(ax.get_xticklabels()) == ["w", "x", "y", "z"]
    assert tick_texts(ax.get_yticklabels()) == ["a", "b", "c"]
    assert ax.get_title() == "self" and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.figure.axes) == 2  # the heatmap and its colour bar
    (box,) = ax.patches
    assert box.get_xy() == (-0.5, 0.5) and box.get_width() == 4  # outlines row 1


def test_attention_heatmap_rejects_wrong_shapes_and_label_counts():
    with pytest.raises(ValueError, match=r"weights must have shape \(T_q, T_k\), got \(1, 2, 2\)"):
        plot_attention(torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match="key_labels must be a list of 2"):
        plot_attention(torch.ones(2, 2), ["a", "b"], ["x"])


def test_attention_row_bars_are_the_weights_of_one_query():
    weights = torch.tensor([0.1, 0.6, 0.3])
    ax = plot_attention_row(weights, ["the", "cat", "sat"], "cat")
    assert [round(p.get_height(), 6) for p in ax.patches] == [0.1, 0.6, 0.3]
    assert "'cat'" in ax.get_title()
    assert tick_texts(ax.get_xticklabels()) == ["the", "cat", "sat"]


def test_positional_plot_draws_the_paper_formula_and_the_dot_products():
    max_len, d_model, dimension, position = 50, 16, 5, 7
    pe = sinusoidal_positional_encoding(max_len, d_model, dtype=torch.float64)  # (max_len, d_model)
    fig = plot_positional_encoding(pe, dimension, position)
    left, right = fig.axes
    omega = [10000 ** (-2 * i / d_model) for i in range(d_model // 2)]
    wave = [math.cos(pos * omega[dimension // 2]) for pos in range(max_len)]  # odd dimension: cosine
    torch.testing.assert_close(
        torch.tensor(left.lines[0].get_ydata()), torch.tensor(wave, dtype=torch.float64), rtol=0, atol=1e-12
    )
    assert list(left.lines[1].get_xdata()) == [position]
    # PE_p . PE_j = sum_i cos(omega_i (p - j)): it depends on the offset only
    dots = [sum(math.cos(w * (position - j)) for w in omega) for j in range(max_len)]
    torch.testing.assert_close(
        torch.tensor(right.lines[0].get_ydata()), torch.tensor(dots, dtype=torch.float64), rtol=0, atol=1e-10
    )
    assert all(ax.get_title() and ax.get_xlabel() and ax.get_ylabel() for ax in (left, right))


def test_positional_plot_rejects_a_dimension_outside_the_table():
    pe = sinusoidal_positional_encoding(10, 8)
    with pytest.raises(ValueError, match=r"dimension must be in \[0, d_model=8\), got 8"):
        plot_positional_encoding(pe, 8, 0)
    with pytest.raises(ValueError, match=r"position must be in \[0, max_len=10\), got -1"):
        plot_positional_encoding(pe, 0, -1)


def test_wavelength_is_the_period_of_the_dimension():
    d_model = 32
    for dimension in (0, 1, 10, 31):
        period = wavelength(dimension, d_model)
        omega = 10000 ** (-2 * (dimension // 2) / d_model)
        for x in (0.3, 2.0, 11.0):
            assert math.isclose(math.sin(omega * (x + period)), math.sin(omega * x), abs_tol=1e-9)
            assert math.isclose(math.sin(omega * (x + period / 2)), -math.sin(omega * x), abs_tol=1e-9)


def test_softmax_with_temperature_matches_the_formula_and_bounds_the_entropy():
    logits = [2.0, 1.0, -0.5, 0.0]
    for tau in (0.3, 1.0, 4.0):
        probs, entropy = softmax_with_temperature(torch.tensor(logits), tau)
        z = sum(math.exp(x / tau) for x in logits)
        expected = [math.exp(x / tau) / z for x in logits]
        torch.testing.assert_close(probs, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)
        assert math.isclose(entropy, -sum(p * math.log(p) for p in expected), abs_tol=1e-12)
    assert softmax_with_temperature(torch.tensor(logits), 1e-3)[1] < 1e-6  # one-hot
    assert math.isclose(softmax_with_temperature(torch.tensor(logits), 1e4)[1], math.log(4), abs_tol=1e-6)


def test_softmax_with_temperature_rejects_a_non_positive_temperature():
    with pytest.raises(ValueError, match="temperature must be a number > 0, got 0"):
        softmax_with_temperature(torch.tensor([1.0, 2.0]), 0)


def test_distribution_bars_are_the_probabilities():
    probs = torch.tensor([0.5, 0.25, 0.25])
    ax = plot_distribution(probs, ["a", "b", "c"], title="p")
    assert [p.get_height() for p in ax.patches] == [0.5, 0.25, 0.25]
    assert ax.get_title() == "p" and ax.get_ylabel() == "probability"


def test_mask_plot_has_one_panel_per_sentence_showing_the_mask():
    mask = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool).expand(2, 1, 3, 3).clone()
    mask[1, :, :, 2] = False  # sentence 1 has a padded last token
    fig = plot_masks(mask, [["a", "b", "c"], ["d", "e", "<pad>"]], title="combined")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    for b, ax in enumerate(panels):
        assert torch.equal(torch.tensor(ax.images[0].get_array()).bool(), mask[b, 0])
    assert tick_texts(panels[1].get_xticklabels()) == ["d", "e", "<pad>"]
    assert fig.get_suptitle() == "combined"


def test_mask_plot_rejects_a_float_mask():
    with pytest.raises(ValueError, match="mask must be bool"):
        plot_masks(torch.ones(1, 1, 2, 2))


def test_beam_tree_puts_every_prefix_at_its_step_under_its_parent():
    nodes = [
        BeamNode("<bos>", -1, 0, 0.0, "kept"),
        BeamNode("a", 0, 1, -0.1, "kept"),
        BeamNode("b", 0, 1, -0.9, "kept"),
        BeamNode("<eos>", 1, 2, -0.5, "finished"),
        BeamNode("c", 1, 2, -0.6, "pruned"),
        BeamNode("d", 2, 2, -1.0, "kept"),
    ]
    ax = plot_beam_tree(nodes)
    assert isinstance(ax.figure, Figure)
    assert len(ax.lines) == len(nodes) - 1  # one edge per non-root node
    for edge, node in zip(ax.lines, nodes[1:], strict=True):
        assert list(edge.get_xdata()) == [nodes[node.parent].step, node.step]
    drawn = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    assert drawn == {"kept": 3, "finished": 1, "pruned": 1, "root": 1}
    assert [t.get_text() for t in ax.texts][:2] == ["<bos>", "a (-0.10)"]


def test_beam_tree_rejects_a_parent_that_comes_later():
    with pytest.raises(ValueError, match=r"nodes\[1\].parent=2 must refer to an earlier node"):
        plot_beam_tree([BeamNode("<bos>", -1, 0, 0.0, "kept"), BeamNode("a", 2, 1, 0.0, "kept")])
