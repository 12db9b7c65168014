"""Training the Transformer (paper §5): teacher forcing, label-smoothed cross-entropy, Adam with the
warm-up learning-rate schedule, gradient clipping, held-out evaluation (token accuracy, exact match,
BLEU from sacrebleu), checkpoints that resume exactly, and data parallelism with torch.distributed.
Explained in notebooks/08_training.

Teacher forcing: the decoder reads <bos> + target and learns to predict target + <eos> at every
position at once (`Batch.tgt_in`, `Batch.tgt_out` from transformer_lib.data).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_float, check_positive_int, check_probability, check_tensor
from .data import TranslationData, TranslationDataset, Vocab, collate, load_translation_data, tokenize
from .model import Transformer, TransformerConfig, device_of


def label_smoothed_cross_entropy(
    logits: Tensor, targets: Tensor, label_smoothing: float = 0.1, ignore_index: int = 0
) -> Tensor:
    """Cross-entropy against the smoothed target distribution (paper §5.4, eps_ls):
    q = (1 - eps_ls) * one_hot(target) + eps_ls / V, averaged over the positions whose label is not
    `ignore_index` (padding). logits (B, T, V) or (N, V), targets (B, T) or (N,) -> a scalar.
    Equal to F.cross_entropy(logits, targets, label_smoothing=eps_ls, ignore_index=ignore_index)."""
    check_float("logits", logits)
    check_tensor("targets", targets)
    check_probability("label_smoothing", label_smoothing)
    if logits.dim() not in (2, 3) or targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"logits (B, T, V) or (N, V) and targets (B, T) or (N,) must agree, got logits "
            f"{tuple(logits.shape)} and targets {tuple(targets.shape)}"
        )
    if targets.is_floating_point():
        raise TypeError(f"targets must hold integer class ids (torch.long), got dtype {targets.dtype}")
    V = logits.shape[-1]
    log_probs = F.log_softmax(logits.reshape(-1, V).float(), dim=-1)  # (N, V)
    targets = targets.reshape(-1)  # (N,)
    keep = targets != ignore_index  # (N,)
    safe = targets.masked_fill(~keep, 0)  # (N,) any valid id where the label is ignored
    nll = -log_probs.gather(1, safe[:, None]).squeeze(1)  # (N,)  -log p_model(target)
    uniform = -log_probs.mean(dim=-1)  # (N,)  cross-entropy against the uniform distribution
    loss = (1.0 - label_smoothing) * nll + label_smoothing * uniform  # (N,)
    return (loss * keep).sum() / keep.sum().clamp(min=1)  # ()


def noam_lr(step: int, d_model: int, warmup_steps: int, factor: float = 1.0) -> float:
    """The paper's schedule (§5.3): factor * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5),
    steps counted from 1: a linear warm-up for `warmup_steps` steps, then decay as 1/sqrt(step)."""
    check_positive_int("step", step)
    check_positive_int("d_model", d_model)
    check_positive_int("warmup_steps", warmup_steps)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
        raise ValueError(f"factor must be a positive number, got {factor!r}")
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


def make_optimizer(
    model: nn.Module, d_model: int, warmup_steps: int, factor: float = 1.0
) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam(beta1=0.9, beta2=0.98, eps=1e-9) and a LambdaLR that sets lr = noam_lr(step) (§5.3).
    Call scheduler.step() after every optimizer.step()."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    noam_lr(1, d_model, warmup_steps, factor)  # checks the arguments
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: noam_lr(i + 1, d_model, warmup_steps, factor)
    )
    return optimizer, scheduler


@dataclass
class TrainConfig:
    """Settings of one training run. `steps` counts optimizer steps in all (a resumed run goes on to
    the same total); `batch_size` is the global batch (split over the processes of a distributed run).
    Every `eval_every` steps the model is scored on `eval_samples` validation pairs; training stops
    early once the exact-match rate reaches `target_exact_match` (None: never)."""

    steps: int = 600
    batch_size: int = 128
    warmup_steps: int = 100
    lr_factor: float = 0.6
    label_smoothing: float = 0.1
    clip_norm: float | None = 1.0
    eval_every: int = 100
    eval_samples: int = 1000
    target_exact_match: float | None = None
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "warmup_steps", "eval_every", "eval_samples"):
            check_positive_int(name, getattr(self, name))
        check_probability("label_smoothing", self.label_smoothing)
        if not self.lr_factor > 0:
            raise ValueError(f"lr_factor must be > 0, got {self.lr_factor}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0 or None (no clipping), got {self.clip_norm}")


@dataclass
class History:
    """What a run records: per step the loss and learning rate, per evaluation the held-out metrics."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    evals: list[dict] = field(
        default_factory=list
    )  # {"step", "seconds", "token_accuracy", "exact_match", "bleu", "n"}
    train_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(**d)


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" -> cuda when available (the GPU of this process's LOCAL_RANK under torchrun), else cpu."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def global_batch_indices(step: int, n_items: int, batch_size: int, seed: int) -> Tensor:
    """The dataset indices of optimizer step `step` (counted from 0): a fresh seeded permutation each
    epoch, cut into batches. A function of the step alone, so a resumed run sees the same data."""
    per_epoch = max(1, n_items // batch_size)  # the last partial batch of an epoch is dropped
    epoch, i = divmod(step, per_epoch)
    order = torch.randperm(n_items, generator=torch.Generator().manual_seed(seed + epoch))  # (n_items,)
    return order[i * batch_size : (i + 1) * batch_size]  # (batch_size,)


def _train_step(model, batch, optimizer, scheduler, config, world) -> float:
    """One step on this process's share of the global batch. The loss is a sum over this share's
    labels divided by the global label count (times world, because DDP averages the gradients), so
    the gradient equals that of the mean over the whole global batch."""
    model.train()
    logits = model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)  # (b, T, V)
    n_local = (batch.tgt_out != batch.pad_id).sum()  # ()
    n_global = n_local.clone()  # ()
    if world > 1:
        dist.all_reduce(n_global)
    per_token = label_smoothed_cross_entropy(logits, batch.tgt_out, config.label_smoothing, batch.pad_id)
    loss_sum = per_token * n_local  # () summed over this share's labels
    optimizer.zero_grad(set_to_none=True)
    (loss_sum * world / n_global).backward()
    if config.clip_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
    optimizer.step()
    scheduler.step()
    report = (loss_sum / n_global).detach()  # ()
    if world > 1:
        dist.all_reduce(report)
    return float(report)


def train(
    model: Transformer,
    data: TranslationData,
    config: TrainConfig,
    *,
    resume_from: str | os.PathLike | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool = True,
    on_eval: Callable[[dict], None] | None = None,
) -> History:
    """Train `model` on `data.train` with teacher forcing and return the History.

    The device comes from `config.device` ("auto": the GPU if there is one). Under torchrun (after
    `init_distributed()`) the model is wrapped in DistributedDataParallel, each process trains on its
    share of every global batch, and only rank 0 shows progress, evaluates and saves. `resume_from`
    continues a saved run exactly (same weights as an uninterrupted run); `checkpoint_path` is
    written at the end. A checkpoint that does not fit is refused before anything is written.
    `on_eval(metrics)` is called (on rank 0) after each evaluation, e.g. to print a log line."""
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a Transformer, got {type(model).__name__}")
    if not isinstance(data, TranslationData):
        raise TypeError(f"data must be a TranslationData, got {type(data).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    rank, world = _rank_and_world()
    if config.batch_size % world:
        raise ValueError(f"batch_size={config.batch_size} must be divisible by the {world} processes")
    device = pick_device(config.device)
    model.to(device)
    optimizer, scheduler = make_optimizer(model, model.config.d_model, config.warmup_steps, config.lr_factor)
    history, start = History(), 0
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from, map_location=device, expected_config=model.config)
        if ckpt["src_vocab"].itos != data.src_vocab.itos or ckpt["tgt_vocab"].itos != data.tgt_vocab.itos:
            raise ValueError(f"the checkpoint {resume_from} was trained with other vocabularies than data's")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start, history = ckpt["step"], ckpt["history"] or History()
        if ckpt.get("rng") is not None:
            torch.set_rng_state(ckpt["rng"].cpu())
        if ckpt.get("cuda_rng") is not None and device.type == "cuda":
            torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu(), device)
    else:
        torch.manual_seed(config.seed)  # dropout masks
    train_set = TranslationDataset(data.train, data.src_vocab, data.tgt_vocab, model.config.max_len)
    if len(train_set) < config.batch_size:
        raise ValueError(f"batch_size={config.batch_size} is more than the {len(train_set)} training pairs")
    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None
        )
    eval_pairs = data.valid[: config.eval_samples]
    v = data.tgt_vocab
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=start, desc="training", unit="step")
    clock = time.perf_counter()
    for step in range(start, config.steps):
        idx = global_batch_indices(step, len(train_set), config.batch_size, config.seed)[rank::world]
        batch = collate([train_set[int(i)] for i in idx], v.pad_id, v.bos_id, v.eos_id).to(device)
        lr = scheduler.get_last_lr()[0]
        loss = _train_step(net, batch, optimizer, scheduler, config, world)
        history.steps.append(step + 1)
        history.losses.append(loss)
        history.lrs.append(lr)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")
        stop = torch.zeros((), device=device)
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            history.train_seconds += time.perf_counter() - clock
            if rank == 0:
                metrics = evaluate(model, eval_pairs, data.src_vocab, data.tgt_vocab)
                history.evals.append({"step": step + 1, "seconds": history.train_seconds, **metrics})
                if on_eval is not None:
                    on_eval(history.evals[-1])
                if bar is not None:
                    bar.set_postfix(loss=f"{loss:.3f}", exact=f"{metrics['exact_match']:.3f}")
                target = config.target_exact_match
                stop.fill_(float(target is not None and metrics["exact_match"] >= target))
            if world > 1:
                dist.broadcast(stop, src=0)
            clock = time.perf_counter()
        if stop.item():
            break
    if bar is not None:
        bar.close()
    if checkpoint_path is not None and rank == 0:
        last = history.steps[-1] if history.steps else start
        save_checkpoint(
            checkpoint_path, model, optimizer, scheduler, last, data.src_vocab, data.tgt_vocab, history
        )
    return history


@torch.no_grad()
def evaluate(
    model: Transformer,
    pairs: list[tuple[str, str]],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    batch_size: int = 250,
    max_len: int | None = None,
) -> dict:
    """Held-out scores: token_accuracy (teacher-forced argmax = label, over non-pad labels),
    exact_match (greedy output = reference, as token strings) and corpus BLEU from sacrebleu
    (0-100) of the greedy outputs. Returns {"token_accuracy", "exact_match", "bleu", "n"}."""
    import sacrebleu

    from .decoding import translate

    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a Transformer, got {type(model).__name__}")
    if isinstance(pairs, str) or not isinstance(pairs, (list, tuple)) or not pairs:
        raise ValueError(f"pairs must be a non-empty list of (source, target) sentence pairs, got {pairs!r}")
    check_positive_int("batch_size", batch_size)
    was_training, device = model.training, device_of(model)
    model.eval()
    correct = labels = 0
    hypotheses, references = [], []
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        encoded = [(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t in chunk]
        batch = collate(encoded, tgt_vocab.pad_id, tgt_vocab.bos_id, tgt_vocab.eos_id).to(device)
        logits = model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)  # (b, T, V)
        real = batch.tgt_out != tgt_vocab.pad_id  # (b, T)
        correct += int(((logits.argmax(-1) == batch.tgt_out) & real).sum())
        labels += int(real.sum())
        hypotheses += translate(model, src_vocab, tgt_vocab, [s for s, _ in chunk], max_len=max_len)
        references += [" ".join(tokenize(t)) for _, t in chunk]
    model.train(was_training)
    exact = sum(h == r for h, r in zip(hypotheses, references, strict=True)) / len(pairs)
    bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
    return {"token_accuracy": correct / labels, "exact_match": exact, "bleu": bleu, "n": len(pairs)}


# --- checkpoints --------------------------------------------------------------------------------------

CHECKPOINT_KEYS = ("model", "config", "src_vocab", "tgt_vocab", "optimizer", "scheduler", "step")


def save_checkpoint(
    path: str | os.PathLike,
    model: Transformer,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    history: History | None = None,
) -> Path:
    """Write weights, config, vocabularies, optimizer and scheduler state, step, history and the RNG
    state to `path`, atomically: into a temporary file beside it, then renamed over it, so a crash
    never leaves a half-written file where a good checkpoint was."""
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a Transformer, got {type(model).__name__}")
    for name, vocab in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab)):
        if not isinstance(vocab, Vocab):
            raise TypeError(f"{name} must be a Vocab, got {type(vocab).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": "transformer_lib checkpoint 1",
        "model": model.state_dict(),
        "config": model.config.to_dict(),
        "src_vocab": src_vocab.to_dict(),
        "tgt_vocab": tgt_vocab.to_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": int(step),
        "history": history.to_dict() if history is not None else None,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(
    path: str | os.PathLike,
    map_location: str | torch.device | None = None,
    expected_config: TransformerConfig | None = None,
) -> dict:
    """Read a checkpoint with torch.load(weights_only=True). Returns a dict with "model" (state dict),
    "config" (TransformerConfig), "src_vocab"/"tgt_vocab" (Vocab), "optimizer", "scheduler", "step",
    "history" (History or None) and "rng". Raises FileNotFoundError for a missing file, ValueError for
    a file that is not a checkpoint and, with `expected_config`, for one trained with another config.
    Nothing is ever written."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train one with `python -m transformer_lib train`")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ValueError(
            f"{path} is not a readable checkpoint (corrupt, truncated or another kind of file): {first_line}"
        ) from error
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path} is not a transformer_lib checkpoint: it lacks {missing}")
    config = TransformerConfig(**state["config"])
    if expected_config is not None and config != expected_config:
        ours, theirs = expected_config.to_dict(), config.to_dict()
        diff = {k: (theirs[k], ours[k]) for k in ours if ours[k] != theirs.get(k)}
        raise ValueError(
            f"{path} holds a model with another config; (checkpoint, requested) differ in {diff}. "
            "Use another path or the checkpoint's config; nothing was overwritten."
        )
    history = state.get("history")
    return {
        **state,
        "config": config,
        "src_vocab": Vocab.from_dict(state["src_vocab"]),
        "tgt_vocab": Vocab.from_dict(state["tgt_vocab"]),
        "history": History.from_dict(history) if history is not None else None,
    }


def model_from_checkpoint(ckpt: dict, device: str | torch.device = "cpu") -> Transformer:
    """A Transformer built from a loaded checkpoint's config, with its weights, in eval mode."""
    model = Transformer(ckpt["config"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()


def default_model_config(data: TranslationData, **overrides) -> TransformerConfig:
    """The course's default model for a data set: TransformerConfig.tiny sized to its vocabularies."""
    return TransformerConfig.tiny(len(data.src_vocab), len(data.tgt_vocab), **overrides)


def load_or_train(
    path: str | os.PathLike = "checkpoints/en-ja.pt",
    data_name: str = "en-ja",
    config: TrainConfig | None = None,
    progress: bool = True,
) -> tuple[Transformer, TranslationData]:
    """The trained default model and its data: loaded from `path` if that checkpoint exists and fits
    the default model of `data_name`, else trained with the default TrainConfig and saved there (a
    checkpoint that does not fit is first renamed to NAME.old.pt, never overwritten)."""
    config = config or TrainConfig()
    data = load_translation_data(data_name)
    device = pick_device(config.device)
    model_config = default_model_config(data)
    if Path(path).is_file():
        try:
            ckpt = load_checkpoint(path, map_location=device, expected_config=model_config)
        except ValueError:
            ckpt = None
        if ckpt is not None and ckpt["tgt_vocab"].itos == data.tgt_vocab.itos:
            return model_from_checkpoint(ckpt, device), data
        os.replace(path, Path(path).with_suffix(".old.pt"))  # kept, not overwritten
    torch.manual_seed(config.seed)
    model = Transformer(model_config)
    train(model, data, config, checkpoint_path=path, progress=progress)
    return model.eval(), data


# --- data parallelism ---------------------------------------------------------------------------------


def init_distributed() -> tuple[int, int]:
    """Join the process group that torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in
    the environment): nccl on GPUs, gloo on CPU. Returns (rank, world_size); (0, 1) outside torchrun."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1 or dist.is_initialized():
        return _rank_and_world()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()
