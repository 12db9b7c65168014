"""Our MultiHeadAttention against nn.MultiheadAttention: forward + backward time on the CPU.

Both modules hold the same weights and run self-attention on the same float32 input. The two are
timed in alternation within this one run; we report the median of each and the ratio ours / torch
(below 1.0: ours is faster). Our module takes the fused F.scaled_dot_product_attention path whenever
the attention weights are not recorded, as here.

    python benchmarks/attention.py            # B=32, d_model=512, h=8, T in {64, 256, 1024}
    python benchmarks/attention.py --quick    # small sizes, a few seconds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from reference import copy_attention  # noqa: E402

from transformer_lib import MultiHeadAttention  # noqa: E402


def step(module: nn.Module, x: torch.Tensor, ours: bool) -> float:
    """Seconds of one forward + backward pass."""
    x.grad = None
    module.zero_grad(set_to_none=True)
    start = time.perf_counter()
    out = module(x, x, x) if ours else module(x, x, x, need_weights=False)[0]  # (B, T, d_model)
    out.sum().backward()
    return time.perf_counter() - start


def paired_times(ours: nn.Module, ref: nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Median seconds of ours and of torch, measured in alternation (which one goes first flips every
    round), so that a burst of load from other processes falls on both alike."""
    step(ours, x, True), step(ref, x, False)  # warm-up
    ours_times, ref_times = [], []
    for i in range(repeats):
        order = (True, False) if i % 2 == 0 else (False, True)
        for is_ours in order:
            if is_ours:
                ours_times.append(step(ours, x, True))
            else:
                ref_times.append(step(ref, x, False))
    return statistics.median(ours_times), statistics.median(ref_times)


def run(batch: int, d_model: int, n_heads: int, lengths: list[int], repeats: int) -> list[dict]:
    torch.manual_seed(0)
    ours = MultiHeadAttention(d_model, n_heads)
    ref = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    copy_attention(ours, ref)
    rows = []
    for T in lengths:
        x = torch.randn(batch, T, d_model, requires_grad=True)  # (B, T, d_model)
        with torch.no_grad():
            same = torch.allclose(ours(x, x, x), ref(x, x, x, need_weights=False)[0], atol=1e-4)
        n = max(3, repeats // max(1, T // 256))
        ours_t, torch_t = paired_times(ours, ref, x, n)
        rows.append(
            {
                "T": T,
                "ours_ms": 1e3 * ours_t,
                "torch_ms": 1e3 * torch_t,
                "ratio": ours_t / torch_t,
                "same_output": same,
                "runs": n,
            }
        )
    return rows


def table(rows: list[dict], batch: int, d_model: int, n_heads: int) -> str:
    lines = [
        f"MultiHeadAttention forward+backward, B={batch}, d_model={d_model}, h={n_heads}, float32, "
        f"{torch.get_num_threads()} threads, median of the runs shown",
        "",
        "| T | runs | ours (ms) | nn.MultiheadAttention (ms) | ours / torch | same output |",
        "|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['T']} | {r['runs']} | {r['ours_ms']:.1f} | {r['torch_ms']:.1f} | {r['ratio']:.2f} | "
            f"{'yes' if r['same_output'] else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    if args.quick:
        batch, d_model, n_heads, lengths, repeats = 2, 32, 4, [8, 16], 3
    else:
        batch, d_model, n_heads, lengths, repeats = 32, 512, 8, [64, 256, 1024], args.repeats
    rows = run(batch, d_model, n_heads, lengths, repeats)
    print(table(rows, batch, d_model, n_heads))
    return 0 if all(r["same_output"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
