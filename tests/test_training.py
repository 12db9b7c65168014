"""Tests of the training module: the loss against F.cross_entropy, the schedule against its formula,
clipping, resuming, evaluation, checkpoints and every bad input."""

import pytest
import sacrebleu
import torch
import torch.nn.functional as F

from transformer_lib import decoding
from transformer_lib.data import TranslationData, collate, load_translation_data, tokenize
from transformer_lib.model import Transformer
from transformer_lib.training import (
    History,
    TrainConfig,
    _train_step,
    default_model_config,
    evaluate,
    global_batch_indices,
    label_smoothed_cross_entropy,
    load_checkpoint,
    load_or_train,
    make_optimizer,
    noam_lr,
    save_checkpoint,
    train,
)


@pytest.fixture(scope="module")
def data() -> TranslationData:
    return load_translation_data("en-ja", n_train=300, n_valid=12, n_test=12, seed=0)


def tiny_model(data, seed=0, **overrides) -> Transformer:
    torch.manual_seed(seed)
    settings = {**dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.1, max_len=64), **overrides}
    return Transformer(default_model_config(data, **settings))


def quick(**changes) -> TrainConfig:
    settings = dict(steps=4, batch_size=16, warmup_steps=2, eval_every=100, eval_samples=4, device="cpu")
    return TrainConfig(**{**settings, **changes})


def saved(tmp_path, data, name="run.pt", **overrides):
    model = tiny_model(data, **overrides)
    optimizer, scheduler = make_optimizer(model, model.config.d_model, 4)
    return save_checkpoint(tmp_path / name, model, optimizer, scheduler, 0, data.src_vocab, data.tgt_vocab)


# --- loss and schedule --------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_equals_torch_cross_entropy(eps):
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11) * 3  # (B, T, V)
    targets = torch.randint(1, 11, (3, 5))  # (B, T)
    targets[0, 3:] = 0  # padding
    targets[2, 1:] = 0
    ours = label_smoothed_cross_entropy(logits, targets, label_smoothing=eps, ignore_index=0)
    torchs = F.cross_entropy(logits.transpose(1, 2), targets, label_smoothing=eps, ignore_index=0)
    torch.testing.assert_close(ours, torchs, rtol=1e-5, atol=1e-6)
    flat = label_smoothed_cross_entropy(logits.reshape(15, 11), targets.reshape(15), eps, 0)  # (N, V)
    torch.testing.assert_close(flat, torchs, rtol=1e-5, atol=1e-6)


def test_label_smoothing_is_the_cross_entropy_with_the_smoothed_distribution():
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0]])  # (1, V=4)
    q = torch.tensor([[0.025, 0.925, 0.025, 0.025]])  # (1 - 0.1) * one_hot(1) + 0.1 / 4
    expected = -(q * logits.log_softmax(-1)).sum()
    torch.testing.assert_close(
        label_smoothed_cross_entropy(logits, torch.tensor([1]), 0.1, ignore_index=-100), expected
    )


def test_padding_labels_do_not_change_the_loss():
    torch.manual_seed(1)
    logits, targets = torch.randn(1, 4, 7), torch.tensor([[3, 5, 0, 0]])  # (1, 4, V), (1, 4)
    changed = logits.clone()
    changed[0, 2:] = torch.randn(2, 7) * 10  # only the padded positions
    torch.testing.assert_close(
        label_smoothed_cross_entropy(logits, targets), label_smoothed_cross_entropy(changed, targets)
    )


def test_noam_lr_follows_its_formula_and_peaks_at_warmup_steps():
    d_model, warmup = 128, 50
    lrs = [noam_lr(s, d_model, warmup, factor=2.0) for s in range(1, 201)]
    assert max(range(200), key=lrs.__getitem__) + 1 == warmup
    assert lrs[9] == pytest.approx(2.0 * 128**-0.5 * 10 * 50**-1.5)  # warm-up: linear
    assert lrs[199] == pytest.approx(2.0 * 128**-0.5 * 200**-0.5)  # then 1/sqrt(step)
    assert lrs[49] == pytest.approx(2.0 * 128**-0.5 * 50**-0.5)


def test_make_optimizer_is_the_papers_adam_with_the_schedule():
    model = torch.nn.Linear(3, 3)
    optimizer, scheduler = make_optimizer(model, d_model=64, warmup_steps=10, factor=1.5)
    group = optimizer.param_groups[0]
    assert group["betas"] == (0.9, 0.98) and group["eps"] == 1e-9
    seen = []
    for _ in range(30):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [noam_lr(s, 64, 10, 1.5) for s in range(1, 31)]
    torch.testing.assert_close(torch.tensor(seen), torch.tensor(expected), rtol=1e-6, atol=0)


# --- the training step and loop ----------------------------------------------------------------------


def first_batch(data, n=16):
    items = [(data.src_vocab.encode(s), data.tgt_vocab.encode(t)) for s, t in data.train[:n]]
    return collate(items, 0, 1, 2)


def test_gradients_are_clipped_to_clip_norm(data):
    batch = first_batch(data)
    grads = {}
    for clip in (None, 0.01):
        model = tiny_model(data, dropout=0.0)
        optimizer, scheduler = make_optimizer(model, 16, 4)
        _train_step(model, batch, optimizer, scheduler, quick(clip_norm=clip), world=1)
        grads[clip] = torch.cat([p.grad.flatten() for p in model.parameters()])  # (n_params,)
    norm = grads[None].norm()
    assert norm > 0.01
    torch.testing.assert_close(grads[0.01].norm(), torch.tensor(0.01), rtol=1e-4, atol=0)
    torch.testing.assert_close(grads[0.01], grads[None] * 0.01 / norm, rtol=1e-4, atol=1e-9)


def test_the_step_loss_is_the_label_smoothed_loss_of_teacher_forcing(data):
    batch = first_batch(data)
    model = tiny_model(data, dropout=0.0)
    with torch.no_grad():
        logits = model(batch.src, batch.tgt_in)  # (B, T, V)
    expected = F.cross_entropy(logits.transpose(1, 2), batch.tgt_out, label_smoothing=0.1, ignore_index=0)
    optimizer, scheduler = make_optimizer(model, 16, 4)
    loss = _train_step(model, batch, optimizer, scheduler, quick(), world=1)
    assert loss == pytest.approx(float(expected), rel=1e-5)


def test_batches_are_a_function_of_the_step_and_cover_an_epoch():
    seen = torch.cat([global_batch_indices(s, 50, 10, seed=3) for s in range(5)])  # (50,)
    assert sorted(seen.tolist()) == list(range(50))
    assert torch.equal(global_batch_indices(7, 50, 10, 3), global_batch_indices(7, 50, 10, 3))
    assert not torch.equal(global_batch_indices(5, 50, 10, 3), global_batch_indices(0, 50, 10, 3))


def test_a_short_run_lowers_the_loss_and_records_its_history(data):
    model = tiny_model(data, dropout=0.0)
    seen = []
    config = quick(steps=30, warmup_steps=10, lr_factor=2.0, eval_every=15)
    history = train(model, data, config, progress=False, on_eval=seen.append)
    assert seen == history.evals
    assert history.steps == list(range(1, 31)) and len(history.losses) == len(history.lrs) == 30
    assert sum(history.losses[-5:]) / 5 < sum(history.losses[:5]) / 5 - 0.5  # nats per token
    assert [e["step"] for e in history.evals] == [15, 30]
    assert set(history.evals[0]) >= {"token_accuracy", "exact_match", "bleu", "seconds"}
    assert history.lrs[9] == pytest.approx(noam_lr(10, 16, 10, 2.0))


def test_training_stops_once_the_target_exact_match_is_reached(data, monkeypatch):
    monkeypatch.setattr(
        "transformer_lib.training.evaluate",
        lambda *args, **kwargs: {"token_accuracy": 1.0, "exact_match": 1.0, "bleu": 100.0, "n": 4},
    )
    history = train(
        tiny_model(data), data, quick(steps=20, eval_every=3, target_exact_match=0.99), progress=False
    )
    assert history.steps[-1] == 3


def test_resumed_training_equals_uninterrupted_training(data, tmp_path):
    config = quick(steps=6, eval_every=3)  # dropout 0.1: the RNG state must be resumed too
    straight = tiny_model(data)
    train(straight, data, config, progress=False)
    first = tiny_model(data)
    train(first, data, quick(steps=3, eval_every=3), checkpoint_path=tmp_path / "half.pt", progress=False)
    resumed = tiny_model(data, seed=123)  # other initial weights: all of it must come from the file
    history = train(resumed, data, config, resume_from=tmp_path / "half.pt", progress=False)
    assert history.steps == [1, 2, 3, 4, 5, 6]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


# --- evaluation ------------------------------------------------------------------------------------------


def test_evaluate_gives_exact_match_one_and_bleu_100_for_identical_outputs(data, monkeypatch):
    pairs = data.valid[:6]
    monkeypatch.setattr(decoding, "translate", lambda model, sv, tv, sentences, **kw: [
        " ".join(tokenize(t)) for s, t in pairs if s in sentences
    ])  # fmt: skip
    scores = evaluate(tiny_model(data), pairs, data.src_vocab, data.tgt_vocab, batch_size=4)
    assert scores["exact_match"] == 1.0 and scores["bleu"] == pytest.approx(100.0) and scores["n"] == 6


def test_evaluate_scores_hand_checked_outputs(data, monkeypatch):
    pairs = [("a", "inu ga neko o miru"), ("b", "neko ga inu o mita")]
    outputs = ["inu ga neko o miru", "neko ga neko o mita"]  # right, one word wrong
    monkeypatch.setattr(decoding, "translate", lambda *args, **kwargs: outputs)
    scores = evaluate(tiny_model(data), pairs, data.src_vocab, data.tgt_vocab)
    assert scores["exact_match"] == 0.5
    # 1-grams 9/10, 2-grams 6/8, 3-grams 3/6, 4-grams 2/4, equal lengths: the geometric mean
    expected = 100 * (9 / 10 * 6 / 8 * 3 / 6 * 2 / 4) ** 0.25
    assert scores["bleu"] == pytest.approx(expected, rel=1e-6)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(outputs, [[p[1] for p in pairs]]).score)


def test_evaluate_token_accuracy_is_the_teacher_forced_argmax_rate(data):
    model = tiny_model(data).eval()
    pairs = data.valid[:5]
    items = [(data.src_vocab.encode(s), data.tgt_vocab.encode(t)) for s, t in pairs]
    right = total = 0
    for src, tgt in items:  # one sentence at a time: no padding at all
        with torch.no_grad():
            logits = model(torch.tensor([src]), torch.tensor([[1, *tgt]]))  # (1, T, V)
        right += int((logits.argmax(-1)[0] == torch.tensor([*tgt, 2])).sum())
        total += len(tgt) + 1
    scores = evaluate(model, pairs, data.src_vocab, data.tgt_vocab, batch_size=2)
    assert scores["token_accuracy"] == pytest.approx(right / total)
    assert 0.0 <= scores["exact_match"] <= 1.0 and 0.0 <= scores["bleu"] <= 100.0


# --- checkpoints ---------------------------------------------------------------------------------------------


def test_checkpoint_round_trip_with_weights_only(tmp_path, data):
    model = tiny_model(data)
    optimizer, scheduler = make_optimizer(model, 16, 4)
    history = History(steps=[1], losses=[2.5], lrs=[0.01], evals=[{"step": 1, "bleu": 3.0}])
    path = save_checkpoint(
        tmp_path / "sub" / "m.pt", model, optimizer, scheduler, 7, data.src_vocab, data.tgt_vocab, history
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.pt"]  # no temporary file left
    torch.load(path, weights_only=True)  # loads without unpickling code
    ckpt = load_checkpoint(path, expected_config=model.config)
    assert ckpt["config"] == model.config and ckpt["step"] == 7 and ckpt["history"] == history
    assert ckpt["src_vocab"].itos == data.src_vocab.itos and ckpt["tgt_vocab"].itos == data.tgt_vocab.itos
    for name, value in model.state_dict().items():
        torch.testing.assert_close(ckpt["model"][name], value, rtol=0, atol=0)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")


@pytest.mark.parametrize(
    "write",
    [
        lambda p: p.write_bytes(b"this is not a checkpoint"),
        lambda p: p.write_bytes(p.with_name("good.pt").read_bytes()[:300]),  # truncated
        lambda p: torch.save({"weights": torch.zeros(2)}, p),  # a torch file, not a checkpoint
    ],
    ids=["garbage", "truncated", "other-torch-file"],
)
def test_corrupt_or_foreign_files_are_refused(tmp_path, data, write):
    saved(tmp_path, data, "good.pt")
    write(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt is not a (readable|transformer_lib) checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


def test_a_checkpoint_of_another_config_is_refused_and_never_overwritten(tmp_path, data):
    path = saved(tmp_path, data, d_ff=48)
    before = path.read_bytes()
    model = tiny_model(data)  # d_ff=32
    with pytest.raises(ValueError, match=r"another config.*'d_ff': \(48, 32\)"):
        load_checkpoint(path, expected_config=model.config)
    with pytest.raises(ValueError, match="another config"):
        train(model, data, quick(), resume_from=path, checkpoint_path=path, progress=False)
    assert path.read_bytes() == before


def test_a_failed_save_leaves_the_old_checkpoint_intact(tmp_path, data, monkeypatch):
    path = saved(tmp_path, data, "m.pt")
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    model = tiny_model(data)
    optimizer, scheduler = make_optimizer(model, 16, 4)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, optimizer, scheduler, 1, data.src_vocab, data.tgt_vocab)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_load_or_train_trains_once_then_loads(tmp_path, monkeypatch):
    small = load_translation_data("en-ja", n_train=300, n_valid=8, n_test=8)
    monkeypatch.setattr("transformer_lib.training.load_translation_data", lambda name: small)
    config = quick(steps=2, eval_samples=2)
    model, data = load_or_train(tmp_path / "m.pt", config=config, progress=False)
    assert data is small and (tmp_path / "m.pt").is_file() and not model.training
    again, _ = load_or_train(tmp_path / "m.pt", config=config, progress=False)
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    stale = saved(tmp_path, small, "other.pt", d_ff=48)  # a checkpoint that does not fit
    before = stale.read_bytes()
    load_or_train(stale, config=config, progress=False)
    assert (tmp_path / "other.old.pt").read_bytes() == before
    assert load_checkpoint(stale)["config"] == model.config


# --- bad inputs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: label_smoothed_cross_entropy(torch.zeros(2, 3), torch.zeros(3).long()),
            ValueError,
            r"\(2, 3\).*\(3,\)",
        ),
        (
            lambda: label_smoothed_cross_entropy(torch.zeros(2, 3), torch.zeros(2).long(), 1.0),
            ValueError,
            "label_smoothing must be in",
        ),
        (
            lambda: label_smoothed_cross_entropy(torch.zeros(2, 3).long(), torch.zeros(2).long()),
            TypeError,
            "logits must be a floating",
        ),
        (
            lambda: label_smoothed_cross_entropy(torch.zeros(2, 3), torch.zeros(2)),
            TypeError,
            "targets must hold integer",
        ),
        (lambda: noam_lr(0, 128, 10), ValueError, "step must be a positive integer, got 0"),
        (lambda: noam_lr(1, 128, 0), ValueError, "warmup_steps must be a positive integer, got 0"),
        (lambda: noam_lr(1, 128, 10, factor=-1.0), ValueError, "factor must be a positive number, got -1.0"),
        (lambda: make_optimizer("model", 128, 10), TypeError, "model must be a torch.nn.Module, got str"),
        (lambda: TrainConfig(steps=0), ValueError, "steps must be a positive integer, got 0"),
        (lambda: TrainConfig(batch_size=2.5), TypeError, "batch_size must be an int, got float"),
        (lambda: TrainConfig(lr_factor=0), ValueError, "lr_factor must be > 0, got 0"),
        (lambda: TrainConfig(clip_norm=-1.0), ValueError, "clip_norm must be > 0 or None"),
        (lambda: TrainConfig(label_smoothing=1.5), ValueError, "label_smoothing must be in"),
    ],
)
def test_bad_inputs_are_rejected_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_bad_arguments_to_train_and_evaluate_are_named(data):
    model = tiny_model(data)
    with pytest.raises(TypeError, match="model must be a Transformer, got Linear"):
        train(torch.nn.Linear(2, 2), data, quick())
    with pytest.raises(TypeError, match="data must be a TranslationData, got list"):
        train(model, data.train, quick())
    with pytest.raises(TypeError, match="config must be a TrainConfig, got dict"):
        train(model, data, {"steps": 3})
    with pytest.raises(ValueError, match="batch_size=1000 is more than the 300 training pairs"):
        train(model, data, quick(batch_size=1000), progress=False)
    with pytest.raises(ValueError, match="pairs must be a non-empty list"):
        evaluate(model, [], data.src_vocab, data.tgt_vocab)
    with pytest.raises(TypeError, match="src_vocab must be a Vocab, got str"):
        optimizer, scheduler = make_optimizer(model, 16, 4)
        save_checkpoint("x.pt", model, optimizer, scheduler, 0, "vocab", data.tgt_vocab)
