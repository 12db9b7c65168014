"""transformer_lib: the Transformer of "Attention Is All You Need", built one part per notebook.

Each module names the notebook that explains it; the notebooks import from here once they have
built a part in the open.
"""

from .attention import (
    KVCache,
    MultiHeadAttention,
    causal_mask,
    combine_masks,
    padding_mask,
    scaled_dot_product_attention,
)
from .decoding import (
    Hypothesis,
    beam_search,
    filter_logits,
    gnmt_length_penalty,
    greedy_decode,
    sample_decode,
    sample_token,
    translate,
)
from .embedding import PositionalEncoding, TokenEmbedding, sinusoidal_positional_encoding
from .layers import DecoderLayer, EncoderLayer, FeedForward, LayerNorm
from .model import (
    Decoder,
    DecoderCache,
    Encoder,
    Transformer,
    TransformerConfig,
    count_parameters,
    device_of,
)

__version__ = "0.1.0"
from .data import Batch, TranslationData, Vocab, load_pairs, load_translation_data, tokenize
from .gpt import GPT, CharTokenizer, GPTConfig
from .moe import MixtureOfExperts, load_balancing_loss
from .training import (
    TrainConfig,
    evaluate,
    label_smoothed_cross_entropy,
    load_checkpoint,
    load_or_train,
    noam_lr,
    save_checkpoint,
    train,
)
