"""Time to quality: the default configuration trained from scratch until the held-out exact-match
rate reaches the target (default 99%), evaluated every 100 steps on the validation split, then
scored once on the test split. Prints steps, training wall time (evaluation excluded, and in all),
exact match and BLEU, and the machine's load average, since other processes slow the run down.

Target: >= 99% exact match in under 2 minutes of training on 2 CPU cores.

    python benchmarks/time_to_quality.py [--data en-ja] [--target 0.99] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from transformer_lib.__main__ import DATA_SIZES
from transformer_lib.data import load_translation_data
from transformer_lib.model import Transformer, count_parameters
from transformer_lib.training import TrainConfig, default_model_config, evaluate, pick_device, train


def main() -> None:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="en-ja", choices=sorted(DATA_SIZES))
    parser.add_argument("--target", type=float, default=0.99, help="validation exact match to reach")
    parser.add_argument("--max-steps", type=int, default=2000)
    parser.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps)
    parser.add_argument("--lr-factor", type=float, default=defaults.lr_factor)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    data = load_translation_data(args.data, **DATA_SIZES[args.data])
    torch.manual_seed(args.seed)
    model = Transformer(default_model_config(data, dropout=args.dropout))
    config = TrainConfig(
        steps=args.max_steps,
        batch_size=args.batch_size,
        warmup_steps=args.warmup_steps,
        lr_factor=args.lr_factor,
        eval_every=args.eval_every,
        target_exact_match=args.target,
        seed=args.seed,
        device=args.device,
    )
    c = model.config
    print(
        f"{args.data}: {len(data.train)} training pairs; model d_model={c.d_model}, h={c.n_heads}, "
        f"N={c.n_layers}+{c.n_layers}, d_ff={c.d_ff}, dropout={c.dropout}, "
        f"{count_parameters(model):,} parameters; batch {config.batch_size}, warmup_steps="
        f"{config.warmup_steps}, lr_factor={config.lr_factor}, label_smoothing={config.label_smoothing}"
    )
    print(
        f"device {pick_device(args.device)}, {torch.get_num_threads()} torch thread(s), "
        f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}"
    )
    start = time.perf_counter()

    def log(e: dict) -> None:
        print(
            f"  step {e['step']:5d}  {e['seconds']:6.1f} s  valid exact match {e['exact_match']:.4f}  "
            f"BLEU {e['bleu']:6.2f}  token accuracy {e['token_accuracy']:.4f}  load {os.getloadavg()[0]:.1f}",
            flush=True,
        )

    history = train(model, data, config, progress=False, on_eval=log)
    total = time.perf_counter() - start
    test = evaluate(model, data.test, data.src_vocab, data.tgt_vocab)
    reached = history.evals[-1]["exact_match"] >= args.target
    print(
        f"{'reached' if reached else 'did NOT reach'} {args.target:.2%} validation exact match after "
        f"{history.steps[-1]} steps: {history.train_seconds:.1f} s of training "
        f"({total:.1f} s with the evaluations)"
    )
    print(
        f"test split ({test['n']} pairs): exact match {test['exact_match']:.4f}, BLEU {test['bleu']:.2f}, "
        f"token accuracy {test['token_accuracy']:.4f}; load average at end {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
