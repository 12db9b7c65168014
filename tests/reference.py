"""Copy our weights into PyTorch's own modules, so that tests can compare the two with the same
parameters."""

import torch
from torch import nn

from transformer_lib import DecoderLayer, EncoderLayer, MultiHeadAttention, Transformer


@torch.no_grad()
def copy_attention(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    """nn.MultiheadAttention stacks W^Q, W^K, W^V into one in_proj_weight (3 d_model, d_model)."""
    ref.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
    ref.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
    ref.out_proj.weight.copy_(ours.w_o.weight)
    ref.out_proj.bias.copy_(ours.w_o.bias)


@torch.no_grad()
def copy_norm(ours, ref: nn.LayerNorm) -> None:
    ref.weight.copy_(ours.weight)
    ref.bias.copy_(ours.bias)


@torch.no_grad()
def copy_feed_forward(ours, ref) -> None:
    ref.linear1.load_state_dict(ours.w_1.state_dict())
    ref.linear2.load_state_dict(ours.w_2.state_dict())


def copy_encoder_layer(ours: EncoderLayer, ref: nn.TransformerEncoderLayer) -> None:
    copy_attention(ours.self_attn, ref.self_attn)
    copy_feed_forward(ours.feed_forward, ref)
    copy_norm(ours.norm1, ref.norm1)
    copy_norm(ours.norm2, ref.norm2)


def copy_decoder_layer(ours: DecoderLayer, ref: nn.TransformerDecoderLayer) -> None:
    copy_attention(ours.self_attn, ref.self_attn)
    copy_attention(ours.cross_attn, ref.multihead_attn)
    copy_feed_forward(ours.feed_forward, ref)
    copy_norm(ours.norm1, ref.norm1)
    copy_norm(ours.norm2, ref.norm2)
    copy_norm(ours.norm3, ref.norm3)


def reference_transformer(model: Transformer) -> nn.Transformer:
    """An nn.Transformer (eval mode) holding the weights of our model's encoder and decoder stacks."""
    c = model.config
    ref = nn.Transformer(
        d_model=c.d_model,
        nhead=c.n_heads,
        num_encoder_layers=c.n_layers,
        num_decoder_layers=c.n_layers,
        dim_feedforward=c.d_ff,
        dropout=0.0,
        activation=c.activation,
        batch_first=True,
        norm_first=c.norm_first,
    ).eval()
    for ours, theirs in zip(model.encoder.layers, ref.encoder.layers, strict=True):
        copy_encoder_layer(ours, theirs)
    for ours, theirs in zip(model.decoder.layers, ref.decoder.layers, strict=True):
        copy_decoder_layer(ours, theirs)
    copy_norm(model.encoder.norm, ref.encoder.norm)
    copy_norm(model.decoder.norm, ref.decoder.norm)
    return ref
