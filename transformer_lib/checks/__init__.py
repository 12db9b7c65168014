"""The checkers that the exercise notebooks call after each task (exercises/ and solutions/).

A checker runs the learner's function or class on several small cases (masks, padding, a batch of
one, odd lengths) against the library's reference and prints one line: `[passed] task: ...` or
`[failed] task: <the first thing wrong, in words>`. It never raises: a stub that raises
NotImplementedError, an exception inside the learner's code and a wrong return type each get their
own message. It also returns a `CheckResult(passed, message)`.

Everything a learner's code prints while it is checked is swallowed, so the line is always one line.
The random numbers of the cases come from the checker's own seed; the notebook's random state is
left as it was.

One module per lesson group: `attention` (02, 03), `heads` (04, 05), `layers` (06, 07),
`training` (08), `inference` (09), `gpt` (10), all built on `_core`.
"""

from ._core import CheckResult
from .attention import (
    check_attention,
    check_attention_scores,
    check_causal_mask,
    check_decoder_mask,
    check_masked_attention,
    check_padding_mask,
    check_self_attention,
    check_softmax,
)
from .gpt import (
    check_bigram_loss,
    check_generate_greedy,
    check_gpt_block,
    check_next_token_probs,
    check_windows,
)
from .heads import (
    check_alignment,
    check_cross_attention,
    check_cross_attention_layer,
    check_merge_heads,
    check_multi_head_attention,
    check_split_heads,
)

# The token ids and the model of the decoding checks, for tests/test_checks.py.
from .inference import BOS_ID as BOS_ID
from .inference import EOS_ID as EOS_ID
from .inference import PAD_ID as PAD_ID
from .inference import _decoding_model as _decoding_model
from .inference import (
    check_beam_step,
    check_greedy_decode,
    check_kv_cache_step,
    check_length_penalty,
    check_top_p_filter,
)
from .layers import (
    check_decoder_layer,
    check_embed,
    check_encoder_layer,
    check_feed_forward,
    check_layer_norm,
    check_parameter_count,
    check_residual_sublayer,
)
from .training import check_label_smoothed_loss, check_noam_lr, check_smoothed_targets, check_teacher_forcing

__all__ = [
    "CheckResult",
    # 02 · Scaled dot-product attention
    "check_attention_scores",
    "check_softmax",
    "check_attention",
    "check_self_attention",
    # 03 · Masking
    "check_causal_mask",
    "check_padding_mask",
    "check_masked_attention",
    "check_decoder_mask",
    # 04 · Multi-head attention
    "check_split_heads",
    "check_merge_heads",
    "check_multi_head_attention",
    # 05 · Cross-attention
    "check_cross_attention",
    "check_cross_attention_layer",
    "check_alignment",
    # 06 · Residuals, LayerNorm and the feed-forward network
    "check_layer_norm",
    "check_feed_forward",
    "check_residual_sublayer",
    # 07 · The full Transformer
    "check_embed",
    "check_encoder_layer",
    "check_decoder_layer",
    "check_parameter_count",
    # 08 · Training
    "check_teacher_forcing",
    "check_smoothed_targets",
    "check_label_smoothed_loss",
    "check_noam_lr",
    # 09 · Inference
    "check_length_penalty",
    "check_greedy_decode",
    "check_top_p_filter",
    "check_beam_step",
    "check_kv_cache_step",
    # 10 · A decoder-only GPT
    "check_windows",
    "check_bigram_loss",
    "check_gpt_block",
    "check_next_token_probs",
    "check_generate_greedy",
]
