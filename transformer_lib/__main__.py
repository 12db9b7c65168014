"""The command line: train the default model, or translate with a trained one.

    python -m transformer_lib train [--out checkpoints] [--steps 800] [--data en-ja|numbers-de|PATH.tsv]
    python -m transformer_lib translate --checkpoint checkpoints/en-ja.pt "the old man helps a child"
    torchrun --nproc_per_node=2 -m transformer_lib train        # data parallel, one process per core/GPU

Explained in notebooks/08_training (training) and notebooks/09_inference (decoding).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .data import load_translation_data
from .decoding import translate
from .model import Transformer
from .training import (
    TrainConfig,
    default_model_config,
    evaluate,
    init_distributed,
    load_checkpoint,
    model_from_checkpoint,
    pick_device,
    train,
)

# Split sizes per bundled data set ("numbers-de" has only 10000 numbers in all).
DATA_SIZES = {"en-ja": {"n_train": 20000}, "numbers-de": {"n_train": 8000}}
EXAMPLES = {"en-ja": ["the old man helps a child", "a big dog chased the white cat in the park yesterday"]}


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m transformer_lib",
        description="Train the course's Transformer on a translation task, or translate with it.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,translate}")

    t = commands.add_parser(
        "train",
        help="train the default model and save a checkpoint",
        description="Train the tiny Transformer (d_model=128, 4 heads, 2+2 layers) with a progress bar, "
        "print held-out metrics and a few translations, and save a checkpoint (.pt). Run it under "
        "`torchrun --nproc_per_node=N` for distributed data parallel training.",
    )
    t.add_argument("--out", default="checkpoints", help="folder for the checkpoint (default: %(default)s)")
    t.add_argument("--name", help="checkpoint file name (default: the data set's name + .pt)")
    t.add_argument(
        "--data",
        default="en-ja",
        help="en-ja, numbers-de or a PATH.tsv of source<TAB>target lines (default: %(default)s)",
    )
    t.add_argument("--steps", type=int, default=defaults.steps, help="optimizer steps (default: %(default)s)")
    t.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="global batch (default: %(default)s)"
    )
    t.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps, help="(default: %(default)s)")
    t.add_argument("--lr-factor", type=float, default=defaults.lr_factor, help="(default: %(default)s)")
    t.add_argument(
        "--label-smoothing", type=float, default=defaults.label_smoothing, help="(default: %(default)s)"
    )
    t.add_argument("--dropout", type=float, default=0.1, help="(default: %(default)s)")
    t.add_argument("--eval-every", type=int, default=defaults.eval_every, help="(default: %(default)s)")
    t.add_argument(
        "--eval-samples",
        type=int,
        default=defaults.eval_samples,
        help="validation pairs scored (default: %(default)s)",
    )
    t.add_argument(
        "--target-exact-match", type=float, help="stop once validation exact match reaches this (e.g. 0.99)"
    )
    t.add_argument("--valid", type=int, default=1000, help="validation pairs held out (default: %(default)s)")
    t.add_argument("--test", type=int, default=1000, help="test pairs held out (default: %(default)s)")
    t.add_argument("--seed", type=int, default=defaults.seed, help="(default: %(default)s)")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (default: %(default)s)")
    t.add_argument("--resume", action="store_true", help="continue the run saved at the checkpoint path")
    t.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint with a new run")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    r = commands.add_parser(
        "translate",
        help="translate sentences with a trained checkpoint",
        description="Translate sentences with a checkpoint saved by `train` (greedy, or beam search with --beam N).",
    )
    r.add_argument("sentences", nargs="+", help="sentences to translate, each one argument in quotes")
    r.add_argument(
        "--checkpoint",
        default="checkpoints/en-ja.pt",
        help="a .pt file saved by train (default: %(default)s)",
    )
    r.add_argument("--beam", type=int, default=0, help="beam width; 0 = greedy (default: %(default)s)")
    r.add_argument("--max-len", type=int, help="most output tokens (default: 2 x source + 10)")
    r.add_argument("--device", default="auto", help="(default: %(default)s)")
    return parser


def load_data(name: str, n_valid: int, n_test: int, seed: int):
    if name in DATA_SIZES:
        return load_translation_data(name, n_valid=n_valid, n_test=n_test, seed=seed, **DATA_SIZES[name])
    if not Path(name).is_file():
        raise FileNotFoundError(
            f"--data must be one of {sorted(DATA_SIZES)} or an existing .tsv file, got {name!r}"
        )
    return load_translation_data(name, n_valid=n_valid, n_test=n_test, seed=seed)


def run_train(args: argparse.Namespace) -> int:
    rank, world = init_distributed()
    say = print if rank == 0 else (lambda *a, **k: None)
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        warmup_steps=args.warmup_steps,
        lr_factor=args.lr_factor,
        label_smoothing=args.label_smoothing,
        eval_every=args.eval_every,
        eval_samples=args.eval_samples,
        target_exact_match=args.target_exact_match,
        seed=args.seed,
        device=args.device,
    )
    data = load_data(args.data, args.valid, args.test, args.seed)
    name = args.name or f"{Path(args.data).stem}.pt"
    path = Path(args.out) / name
    if path.exists() and not (args.resume or args.overwrite):
        raise FileExistsError(
            f"{path} exists: pass --resume to continue that run, --overwrite to replace it, or --name"
        )
    torch.manual_seed(args.seed)
    model = Transformer(default_model_config(data, dropout=args.dropout))
    say(
        f"training on {len(data.train)} {args.data} pairs ({len(data.src_vocab)} source / "
        f"{len(data.tgt_vocab)} target words), {world} process(es), device {pick_device(args.device)}"
    )
    history = train(
        model,
        data,
        config,
        resume_from=path if args.resume and path.exists() else None,
        checkpoint_path=path,
        progress=not args.no_progress,
    )
    if rank == 0:
        scores = evaluate(model, data.test, data.src_vocab, data.tgt_vocab)
        say(
            f"{history.steps[-1] if history.steps else 0} steps in {history.train_seconds:.1f} s; "
            f"test: exact match {scores['exact_match']:.4f}, BLEU {scores['bleu']:.2f}, "
            f"token accuracy {scores['token_accuracy']:.4f} ({scores['n']} pairs)"
        )
        sources = EXAMPLES.get(args.data, []) + [s for s, _ in data.test[:3]]
        for source, output in zip(
            sources, translate(model, data.src_vocab, data.tgt_vocab, sources), strict=True
        ):
            say(f"  {source}  ->  {output}")
        say(f"saved {path}")
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


def run_translate(args: argparse.Namespace) -> int:
    if args.beam < 0:
        raise ValueError(f"--beam must be 0 (greedy) or a beam width >= 1, got {args.beam}")
    device = pick_device(args.device)
    ckpt = load_checkpoint(args.checkpoint, map_location=device)
    model = model_from_checkpoint(ckpt, device)
    method = {"method": "beam", "beam_size": args.beam} if args.beam else {"method": "greedy"}
    outputs = translate(
        model, ckpt["src_vocab"], ckpt["tgt_vocab"], args.sentences, max_len=args.max_len, **method
    )
    for output in outputs:
        print(output)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m transformer_lib` and of the `transformer-course` script. Returns the
    exit status: 0, or 2 with a one-line error for a bad file, argument or checkpoint."""
    args = build_parser().parse_args(argv)
    try:
        return run_train(args) if args.command == "train" else run_translate(args)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
