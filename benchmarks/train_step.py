"""One training step (forward, label-smoothed loss, backward, Adam step) of our Transformer against
nn.Transformer of the same size, with the same embeddings and output layer, on the same batch.

The default configuration: d_model=128, 4 heads, 2+2 layers, d_ff=512, final LayerNorms on both
stacks (as nn.Transformer has), a batch of 128 en-ja sentence pairs. Both models start from the same
weights (checked: the same loss with dropout 0); they are then timed with dropout 0.1, in
alternation within this one run, and we print the median of each and the ratio ours / torch
(below 1.0: ours is faster), to three decimals: runs differ by about 1%, so compare
several. Target: <= 1.0.

    python benchmarks/train_step.py [--repeats 20] [--batch-size 128] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from reference import copy_decoder_layer, copy_encoder_layer, copy_norm  # noqa: E402

from transformer_lib.attention import causal_mask  # noqa: E402
from transformer_lib.data import collate, load_translation_data  # noqa: E402
from transformer_lib.model import Transformer, count_parameters  # noqa: E402
from transformer_lib.training import default_model_config, label_smoothed_cross_entropy  # noqa: E402


class TorchTranslator(nn.Module):
    """nn.Transformer between our model's embeddings (with positions) and output layer."""

    def __init__(self, ours: Transformer, dropout: float) -> None:
        super().__init__()
        c = ours.config
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nn.Transformer's note about its inference fast path
            self.core = nn.Transformer(
                c.d_model, c.n_heads, c.n_layers, c.n_layers, c.d_ff, dropout, batch_first=True
            )
        for mine, theirs in zip(ours.encoder.layers, self.core.encoder.layers, strict=True):
            copy_encoder_layer(mine, theirs)
        for mine, theirs in zip(ours.decoder.layers, self.core.decoder.layers, strict=True):
            copy_decoder_layer(mine, theirs)
        copy_norm(ours.encoder.norm, self.core.encoder.norm)
        copy_norm(ours.decoder.norm, self.core.decoder.norm)
        self.src_embed = copy.deepcopy(nn.Sequential(ours.encoder.embedding, ours.encoder.positions))
        self.tgt_embed = copy.deepcopy(nn.Sequential(ours.decoder.embedding, ours.decoder.positions))
        self.output = nn.Linear(c.d_model, c.tgt_vocab_size, bias=False)
        self.output.weight = self.tgt_embed[0].embedding.weight  # tied, as in ours
        self.pad_id = c.pad_id

    def forward(self, src, tgt):
        pad_src, pad_tgt = src == self.pad_id, tgt == self.pad_id  # (B, S), (B, T)
        hidden = self.core(
            self.src_embed(src),
            self.tgt_embed(tgt),
            tgt_mask=~causal_mask(tgt.shape[1], device=tgt.device),  # True = blocked, in nn's convention
            src_key_padding_mask=pad_src,
            tgt_key_padding_mask=pad_tgt,
            memory_key_padding_mask=pad_src,
        )  # (B, T, d_model)
        return self.output(hidden)  # (B, T, V)


def make_step(model, forward, batch):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)

    def step() -> float:
        start = time.perf_counter()
        logits = forward(batch)  # (B, T, V)
        loss = label_smoothed_cross_entropy(logits, batch.tgt_out, 0.1, batch.pad_id)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    return step


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="a batch of 8 and 3 repeats, for a smoke test")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batch_size, repeats = (8, 3) if args.quick else (args.batch_size, args.repeats)

    data = load_translation_data("en-ja", n_train=2000, n_valid=10, n_test=10)
    items = [(data.src_vocab.encode(s), data.tgt_vocab.encode(t)) for s, t in data.train[:batch_size]]
    batch = collate(items, 0, 1, 2)

    def pair(dropout: float) -> tuple[Transformer, TorchTranslator]:
        torch.manual_seed(0)
        ours = Transformer(default_model_config(data, dropout=dropout, final_norm=True)).train()
        theirs = TorchTranslator(ours, dropout).train()
        assert count_parameters(ours) == count_parameters(theirs)
        return ours, theirs

    ours, theirs = pair(dropout=0.0)
    with torch.no_grad():
        a = ours(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)  # (B, T, V)
        b = theirs(batch.src, batch.tgt_in)  # (B, T, V)
    same = torch.allclose(a, b, atol=1e-4, rtol=1e-4)

    ours, theirs = pair(dropout=0.1)
    step_ours = make_step(ours, lambda x: ours(x.src, x.tgt_in, x.src_mask, x.tgt_mask), batch)
    step_theirs = make_step(theirs, lambda x: theirs(x.src, x.tgt_in), batch)
    step_ours(), step_theirs()  # warm-up
    results = {"ours": [], "torch": []}
    for i in range(repeats):  # alternate, and flip who goes first, so load falls on both alike
        order = [("ours", step_ours), ("torch", step_theirs)][:: 1 if i % 2 == 0 else -1]
        for name, step in order:
            results[name].append(step())
    ours_ms, torch_ms = (1e3 * statistics.median(results[k]) for k in ("ours", "torch"))
    print(
        f"training step, d_model=128, h=4, N=2+2, d_ff=512, dropout 0.1, batch {batch_size} "
        f"({tuple(batch.src.shape)} source, {tuple(batch.tgt_in.shape)} target), "
        f"{count_parameters(ours):,} parameters, {torch.get_num_threads()} threads, median of {repeats}"
    )
    print("| model | ms per step |")
    print("|---|---:|")
    print(f"| ours (transformer_lib.Transformer) | {ours_ms:.1f} |")
    print(f"| nn.Transformer + the same embeddings and output | {torch_ms:.1f} |")
    print(f"ours / torch = {ours_ms / torch_ms:.3f}; same logits with the same weights: {same}")


if __name__ == "__main__":
    main()
