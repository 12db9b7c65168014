"""Tests of the command line (python -m transformer_lib), called in-process on tiny settings."""

import pytest

from transformer_lib.__main__ import main
from transformer_lib.training import load_checkpoint

TINY = ["--steps", "3", "--batch-size", "8", "--valid", "20", "--test", "20", "--eval-samples", "4"]
TINY += ["--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    assert main(["train", "--out", str(out), *TINY]) == 0
    return out / "en-ja.pt"


def test_train_saves_a_checkpoint_of_the_default_model(checkpoint):
    ckpt = load_checkpoint(checkpoint)
    assert ckpt["step"] == 3 and ckpt["config"].d_model == 128 and ckpt["config"].n_layers == 2
    assert len(ckpt["history"].losses) == 3


def test_train_output_names_the_metrics(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path), "--name", "m.pt", *TINY]) == 0
    out = capsys.readouterr().out
    assert "exact match" in out and "BLEU" in out and "the old man helps a child  ->" in out
    assert f"saved {tmp_path / 'm.pt'}" in out


@pytest.mark.parametrize("beam", [[], ["--beam", "2"]], ids=["greedy", "beam"])
def test_translate_prints_one_line_per_sentence(checkpoint, capsys, beam):
    sentences = ["the old man helps a child", "a dog sees the cat"]
    assert main(["translate", "--checkpoint", str(checkpoint), *beam, *sentences]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(isinstance(line, str) for line in lines)


def test_train_refuses_to_replace_a_checkpoint_and_resume_goes_on(checkpoint, capsys):
    before = checkpoint.read_bytes()
    assert main(["train", "--out", str(checkpoint.parent), *TINY]) == 2
    assert "exists: pass --resume" in capsys.readouterr().err
    assert checkpoint.read_bytes() == before
    resumed = checkpoint.parent / "resumed.pt"
    resumed.write_bytes(before)
    args = ["train", "--out", str(checkpoint.parent), "--name", "resumed.pt", "--resume", *TINY]
    assert main([*args[: -len(TINY)], *TINY[:1], "5", *TINY[2:]]) == 0
    ckpt = load_checkpoint(resumed)
    assert ckpt["step"] == 5 and ckpt["history"].steps == [1, 2, 3, 4, 5]


def test_resuming_with_another_config_is_refused_and_overwrites_nothing(checkpoint, capsys):
    copy = checkpoint.parent / "other.pt"
    copy.write_bytes(checkpoint.read_bytes())
    args = ["train", "--out", str(checkpoint.parent), "--name", "other.pt", "--resume", "--dropout", "0.2"]
    assert main([*args, *TINY]) == 2
    assert "another config" in capsys.readouterr().err
    assert copy.read_bytes() == checkpoint.read_bytes()


def test_train_on_your_own_tsv_file(tmp_path, capsys):
    lines = [f"{a} {b}\t{b} {a}" for a in "abcdefgh" for b in "ijklmnop"]
    (tmp_path / "mine.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = [
        "train",
        "--data",
        str(tmp_path / "mine.tsv"),
        "--out",
        str(tmp_path),
        "--valid",
        "4",
        "--test",
        "4",
    ]
    assert main([*args, "--steps", "2", "--batch-size", "8", "--eval-samples", "2", "--no-progress"]) == 0
    assert load_checkpoint(tmp_path / "mine.pt")["step"] == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["translate", "--checkpoint", "{tmp}/missing.pt", "a dog"], "no checkpoint at"),
        (["translate", "--checkpoint", "{tmp}/corrupt.pt", "a dog"], "not a readable checkpoint"),
        (["train", "--data", "{tmp}/missing.tsv", "--out", "{tmp}"], "--data must be one of"),
        (["train", "--data", "{tmp}/notab.tsv", "--out", "{tmp}"], "no tab"),
        (["train", "--steps", "0", "--out", "{tmp}"], "steps must be a positive integer, got 0"),
        (["translate", "--beam", "-1", "--checkpoint", "{tmp}/missing.pt", "a"], "--beam must be 0"),
    ],
    ids=["missing-checkpoint", "corrupt-checkpoint", "missing-data", "no-tab", "zero-steps", "negative-beam"],
)
def test_bad_input_gives_a_one_line_error_and_status_2(tmp_path, capsys, argv, message):
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "notab.tsv").write_text("a line without a tab\n", encoding="utf-8")
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["translate", "--help"]])
def test_help_texts(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: python -m transformer_lib" in capsys.readouterr().out


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2 and "train,translate" in capsys.readouterr().err
