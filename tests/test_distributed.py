"""Distributed data parallel on CPU: two processes with the gloo backend train a tiny model for a few
steps; both must hold the same weights, and the losses and weights must match one process that sees
the whole global batch (dropout 0, so the only difference is how the batch is split)."""

import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from transformer_lib.data import load_translation_data
from transformer_lib.model import Transformer
from transformer_lib.training import TrainConfig, default_model_config, train

CONFIG = dict(
    steps=3, batch_size=16, warmup_steps=2, lr_factor=2.0, eval_every=100, eval_samples=2, device="cpu"
)


def setup():
    data = load_translation_data("en-ja", n_train=200, n_valid=8, n_test=8, seed=0)
    torch.manual_seed(0)
    settings = dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.0, max_len=64)
    return Transformer(default_model_config(data, **settings)), data


def worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        model, data = setup()
        history = train(model, data, TrainConfig(**CONFIG), progress=False)
        torch.save({"weights": model.state_dict(), "losses": history.losses}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process_over_the_same_global_batch(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, value in ranks[0]["weights"].items():
        torch.testing.assert_close(ranks[1]["weights"][name], value, rtol=0, atol=0, msg=name)
    assert ranks[0]["losses"] == ranks[1]["losses"]  # the reported loss is the global one on both

    model, data = setup()
    history = train(model, data, TrainConfig(**CONFIG), progress=False)
    torch.testing.assert_close(
        torch.tensor(ranks[0]["losses"]), torch.tensor(history.losses), rtol=1e-5, atol=1e-6
    )
    for name, value in model.state_dict().items():
        if name.endswith("w_k.bias"):
            # A key bias adds the same q.b to every score of a row, which softmax ignores: its true
            # gradient is 0, its computed one rounding noise, and Adam scales noise up to full steps.
            continue
        torch.testing.assert_close(ranks[0]["weights"][name], value, rtol=1e-4, atol=1e-4, msg=name)
    assert history.losses[0] != history.losses[-1]  # the weights moved: the comparison means something
