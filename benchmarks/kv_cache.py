"""KV cache: greedy generation of 256 tokens with the decoder's key/value cache vs recomputing the
whole prefix at every step, on the tiny configuration (d_model=128, 4 heads, 2+2 layers, d_ff=512).

Both runs must produce the same tokens. Prints the median wall time of a few runs and the ratio,
measured in this one run. Target: the cache is at least 5x faster.

    python benchmarks/kv_cache.py [--tokens 256] [--batch 1 8] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from transformer_lib import Transformer, TransformerConfig
from transformer_lib.decoding import greedy_decode

PAD, BOS, EOS = 0, 1, 2


def make_model(vocab_size: int, max_len: int, device: torch.device) -> Transformer:
    """The tiny configuration with random weights. The <eos> row of the output layer is zeroed so
    that its logit is 0 while the best other logit is positive: generation never stops early."""
    torch.manual_seed(0)
    config = TransformerConfig.tiny(vocab_size, dropout=0.0, max_len=max_len, tie_output=False)
    model = Transformer(config).to(device).eval()
    with torch.no_grad():
        model.output.weight[EOS] = 0.0
    return model


def median_time(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=256, help="tokens to generate (default 256)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes (default 1 8)")
    parser.add_argument("--src-len", type=int, default=32, help="source length (default 32)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per setting (default 5)")
    parser.add_argument("--vocab", type=int, default=1000, help="vocabulary size (default 1000)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    device = torch.device(args.device)
    model = make_model(args.vocab, max(300, args.tokens), device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"greedy decoding of {args.tokens} tokens, tiny config, median of {args.repeats} runs")
    print(f"{'batch':>5} | {'no cache (s)':>12} | {'cache (s)':>9} | {'speed-up':>8} | same output")
    for B in args.batch:
        generator = torch.Generator().manual_seed(B)
        src = torch.randint(3, args.vocab, (B, args.src_len), generator=generator).to(device)  # (B, S)

        def run(use_cache: bool, src=src) -> torch.Tensor:
            return greedy_decode(model, src, args.tokens, BOS, EOS, use_cache=use_cache)  # (B, tokens)

        with_cache, without = run(True), run(False)  # also warms up
        assert with_cache.shape == (B, args.tokens), "generation stopped early"
        assert torch.equal(with_cache, without), "the cache changed the output"
        slow = median_time(lambda: run(False), args.repeats, device)
        fast = median_time(lambda: run(True), args.repeats, device)
        print(f"{B:>5} | {slow:>12.3f} | {fast:>9.3f} | {slow / fast:>7.1f}x | True")


if __name__ == "__main__":
    main()
