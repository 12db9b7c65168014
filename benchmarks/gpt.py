"""The character-level GPT of notebook 10 against counting baselines on CPython's reference manual.

Trains GPTConfig.small from scratch (N=4, d_model=128, h=4, d_ff=512, context 128) for a fixed number
of steps of 32 windows, exactly as the notebook does, and prints the held-out loss of the unigram and
bigram count models and of the GPT, in nats and bits per character, the GPT's ratio to the bigram, the
steps and the wall time. Target: held-out loss at least 30% below the bigram baseline in about two
minutes on 2 CPU cores.

    python benchmarks/gpt.py [--steps 600] [--device cpu]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from transformer_lib import count_parameters
from transformer_lib.gpt import (
    GPT,
    CharTokenizer,
    GPTConfig,
    bigram_loss,
    pydoc_corpus,
    train_gpt,
    unigram_loss,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=600, help="training steps (default 600, as notebook 10)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    args = parser.parse_args()

    train_text, held_out_text = pydoc_corpus(held_out_fraction=0.1)
    tokenizer = CharTokenizer.build(train_text + held_out_text)
    train_ids = torch.tensor(tokenizer.encode(train_text))  # (N_train,)
    held_out_ids = torch.tensor(tokenizer.encode(held_out_text))  # (N_held_out,)
    V = tokenizer.vocab_size

    torch.manual_seed(0)
    model = GPT(GPTConfig.small(V)).to(args.device)
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(
        f"corpus: {len(train_text):,} train / {len(held_out_text):,} held-out characters, V={V}; "
        f"model: {count_parameters(model):,} parameters"
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    history = train_gpt(
        model,
        train_ids,
        held_out_ids,
        steps=args.steps,
        batch_size=32,
        lr=3e-3,
        warmup_steps=100,
        eval_every=100,
        progress=args.progress,
    )
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start

    results = {
        "unigram": unigram_loss(train_ids, held_out_ids, V),
        "bigram": bigram_loss(train_ids, held_out_ids, V),
        "GPT": history["held_out_loss"][-1],
    }
    print(f"{'model':8} | {'nats/char':>9} | {'bits/char':>9} | {'/ bigram':>8}")
    for name, nats in results.items():
        print(f"{name:8} | {nats:9.3f} | {nats / math.log(2):9.3f} | {nats / results['bigram']:8.3f}")
    ratio = results["GPT"] / results["bigram"]
    print(
        f"GPT: {args.steps} steps in {seconds:.1f} s wall ({args.steps / seconds:.2f} steps/s, "
        f"{cpu_seconds:.1f} s CPU), {1 - ratio:.1%} below the bigram baseline "
        f"(target >= 30%: {'met' if ratio <= 0.7 else 'missed'})"
    )


if __name__ == "__main__":
    main()
