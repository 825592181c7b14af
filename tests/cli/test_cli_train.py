"""``tacoglow corpus``, ``check-data``, ``preprocess`` and ``train`` from the command line."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from tacoglow.cli import main
from tacoglow.data import read_filelist, read_metadata
from tacoglow.training.metrics import read_jsonl

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SENTENCES = (
    "\n".join(
        [
            "The quick brown fox jumps over the lazy dog.",
            "She sells sea shells by the sea shore.",
            "A stitch in time saves nine.",
            "Birds of a feather flock together.",
            "Every cloud has a silver lining.",
            "Actions speak louder than words.",
        ]
    )
    + "\n"
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic-audio corpus written by ``tacoglow corpus --synthetic``."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "sentences.txt").write_text(SENTENCES)
    assert (
        main(
            [
                "-q",
                "corpus",
                str(folder / "sentences.txt"),
                "--output",
                str(folder / "corpus"),
                "--synthetic",
                "--char-ms",
                "20",
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    return folder / "corpus"


def test_corpus_command_writes_an_ljspeech_layout(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    utterances = read_metadata(corpus)
    assert len(utterances) == 6 and all(u.audio_path.exists() for u in utterances)
    # a re-run reuses every wav
    assert (
        main(
            ["-q", "corpus", str(corpus.parent / "sentences.txt"), "-o", str(corpus), "--synthetic", "--char-ms", "20"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "6 utterances" in out and "(0 rendered, 6 reused, 0 dropped)" in out


def test_check_data_reports_and_writes_a_clean_filelist(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "check-data", str(corpus)]) == 0
    assert "6 utterances, 6 usable, 0 with problems" in capsys.readouterr().out
    listed = [f"{u.audio_path}|{u.text}" for u in read_metadata(corpus)]
    filelist = tmp_path / "list.txt"
    filelist.write_text("\n".join([*listed, "gone/missing.wav|hello there"]) + "\n")
    clean = tmp_path / "clean.txt"
    assert main(["-q", "check-data", str(filelist), "--write-filelist", str(clean)]) == 1
    out = capsys.readouterr().out
    assert "missing file" in out and "missing (" in out and f"{clean}: 6 utterances without problems" in out
    assert [u.audio_path.resolve() for u in read_filelist(clean)] == [
        u.audio_path.resolve() for u in read_metadata(corpus)
    ]


def test_preprocess_then_train_tacotron2_and_warm_start(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mel_args = ["--set", "mel.n_mel_channels=40"]
    assert main(["-q", "preprocess", str(corpus), "-o", str(tmp_path / "mels"), "--jobs", "1", *mel_args]) == 0
    mels_txt = Path(capsys.readouterr().out.strip())
    assert mels_txt == tmp_path / "mels" / "mels.txt" and len(read_filelist(mels_txt)) == 6
    first = sorted((tmp_path / "mels" / "mels").glob("*.pt"))[0]
    assert torch.load(first, weights_only=True).shape[0] == 40

    common = [
        "-q",
        "train",
        "tacotron2",
        "--config",
        str(CONFIGS / "tiny_tacotron2.json"),
        "--data",
        str(mels_txt),
        "--max-steps",
        "1",
    ]
    assert main([*common, "-o", str(tmp_path / "run1")]) == 0
    checkpoint = Path(capsys.readouterr().out.strip())
    assert checkpoint == tmp_path / "run1" / "checkpoint_tacotron2_step1.pt"
    assert (
        main(
            [
                *common,
                "-o",
                str(tmp_path / "run2"),
                "--warm-start",
                str(checkpoint),
                "--ignore-layers",
                "embedding.weight",
                "postnet",
            ]
        )
        == 0
    )
    event = read_jsonl(tmp_path / "run2" / "train.jsonl", "warm_start")[0]
    assert "embedding.weight" in event["fresh"] and "postnet.convolutions.0.0.conv.weight" in event["fresh"]
    assert not any(key.startswith("encoder.") for key in event["fresh"])


def test_train_waveglow_resume_auto_and_overrides(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "-q",
        "train",
        "waveglow",
        "--config",
        str(CONFIGS / "tiny_waveglow.json"),
        "--data",
        str(corpus),
        "-o",
        str(tmp_path),
        "--set",
        "data.segment_length=2048",
        "--batch-size",
        "2",
    ]
    assert main([*base, "--max-steps", "2", "--resume", "auto"]) == 0  # nothing to resume yet: fresh start
    assert main([*base, "--max-steps", "3", "--resume", "auto"]) == 0
    steps = read_jsonl(tmp_path / "train.jsonl", "step")
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert [r["event"] for r in read_jsonl(tmp_path / "train.jsonl") if r["event"] == "resume"] == ["resume"]
    checkpoint = torch.load(tmp_path / "checkpoint_waveglow_last.pt", weights_only=True)
    assert checkpoint["step"] == 3 and checkpoint["train_config"]["data"]["segment_length"] == 2048


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "optim.lr=1"], r"tacoglow train: error: unknown setting\(s\) optim.lr"),
        (["--set", "amp=fp8"], "tacoglow train: error: amp: expected one of off, fp16, bf16, found 'fp8'"),
        (["--warm-start", "nowhere.pt"], "tacoglow train: error: nowhere.pt: file not found"),
    ],
)
def test_train_errors_are_one_line(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(
        [
            "-q",
            "train",
            "waveglow",
            "--config",
            str(CONFIGS / "tiny_waveglow.json"),
            "--data",
            str(corpus),
            "-o",
            str(tmp_path),
            *argv,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert re.search(message, err), err


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_every_output_file_follows_the_umask(corpus: Path, tmp_path: Path) -> None:
    # One rule for every file tacoglow writes: 0o666 minus the umask, as an ordinary file.
    import os
    import stat

    old = os.umask(0o022)
    try:
        mels = tmp_path / "mels"
        assert (
            main(["-q", "preprocess", str(corpus), "-o", str(mels), "--jobs", "1", "--set", "mel.n_mel_channels=40"])
            == 0
        )
        run = tmp_path / "run"
        assert (
            main(
                [
                    "-q",
                    "train",
                    "tacotron2",
                    "--config",
                    str(CONFIGS / "tiny_tacotron2.json"),
                    "--data",
                    str(mels / "mels.txt"),
                    "--max-steps",
                    "1",
                    "-o",
                    str(run),
                ]
            )
            == 0
        )
    finally:
        os.umask(old)
    written = [
        mels / "mel_config.json",
        mels / "mels.txt",
        *sorted((mels / "mels").glob("*.pt")),
        run / "checkpoint_tacotron2_step1.pt",
        run / "checkpoint_tacotron2_last.pt",
    ]
    modes = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
    assert set(modes.values()) == {"0o644"}, modes


def test_train_start_removes_stale_temp_files(corpus: Path, tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = [
        tmp_path / f".checkpoint_waveglow_last.pt.{dead}-0123456789ab.tmp",
        tmp_path / ".checkpoint_waveglow_step2.pt.k2j_x9q1.tmp",
    ]  # tempfile.mkstemp name of older versions
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    kept = tmp_path / "notes.tmp"
    kept.write_bytes(b"not ours")
    assert (
        main(
            [
                "-q",
                "train",
                "waveglow",
                "--config",
                str(CONFIGS / "tiny_waveglow.json"),
                "--data",
                str(corpus),
                "-o",
                str(tmp_path),
                "--set",
                "data.segment_length=2048",
                "--batch-size",
                "2",
                "--max-steps",
                "1",
                "--resume",
                "auto",
            ]
        )
        == 0
    )
    assert not any(path.exists() for path in stale) and kept.exists()


def test_train_output_that_is_a_file_is_one_line(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file")
    code = main(
        [
            "-q",
            "train",
            "waveglow",
            "--config",
            str(CONFIGS / "tiny_waveglow.json"),
            "--data",
            str(corpus),
            "-o",
            str(taken),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (
        f"tacoglow train: error: --output {taken}: expected a folder for checkpoints and logs, found a file"
    )
    assert taken.read_text() == "a file"


def test_disk_full_is_one_line_for_corpus_and_preprocess(
    corpus: Path, full_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sentences = corpus.parent / "sentences.txt"
    assert main(["-q", "corpus", str(sentences), "-o", str(full_disk / "c"), "--synthetic", "--jobs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.fullmatch(r"tacoglow corpus: error: no space left on device: .*\.wav", err[0]), err
    for path in list(full_disk.rglob("*.wav")):
        path.unlink()
    assert main(["-q", "preprocess", str(corpus), "-o", str(full_disk / "m"), "--jobs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.fullmatch(r"tacoglow preprocess: error: no space left on device: .*\.pt", err[0]), err
    assert not list(full_disk.rglob("*.tmp"))


def test_disk_full_is_one_line_for_train(corpus: Path, full_disk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def argv(output: Path) -> list[str]:
        return [
            "-q",
            "train",
            "waveglow",
            "--config",
            str(CONFIGS / "tiny_waveglow.json"),
            "--data",
            str(corpus),
            "-o",
            str(output),
            "--set",
            "data.segment_length=2048",
            "--batch-size",
            "2",
            "--max-steps",
            "1",
        ]

    assert main(argv(full_disk / "run")) == 2  # the checkpoint (weights + optimizer state) does not fit in 64 KiB
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.fullmatch(r"tacoglow train: error: no space left on device: .*\.pt", err[0]), err
    assert not list(full_disk.rglob("*.tmp")) and not list(full_disk.rglob("*.pt"))
    with open(full_disk / "filler", "wb", buffering=0) as handle, pytest.raises(OSError):  # fill to the last byte
        while True:
            handle.write(b"\0" * 4096)
    assert main(argv(full_disk / "run2")) == 2  # now even the log cannot be written
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tacoglow train: error: no space left on device"), err


def test_nan_mel_in_the_data_is_named(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mels = tmp_path / "mels"
    assert (
        main(["-q", "preprocess", str(corpus), "-o", str(mels), "--jobs", "1", "--set", "mel.n_mel_channels=40"]) == 0
    )
    damaged = sorted((mels / "mels").glob("*.pt"))[2]
    mel = torch.load(damaged, weights_only=True)
    mel[5, 3] = float("nan")
    torch.save(mel, damaged)
    train = [
        "-q",
        "train",
        "tacotron2",
        "--config",
        str(CONFIGS / "tiny_tacotron2.json"),
        "--data",
        str(mels / "mels.txt"),
        "--max-steps",
        "2",
        "-o",
        str(tmp_path / "run"),
    ]
    assert main(train) == 0  # the data check names the item and leaves it out (data.on_bad_items: skip)
    err = capsys.readouterr().err
    assert f"{damaged}: expected finite mel values, found NaN or infinity" in err, err
    steps = read_jsonl(tmp_path / "run" / "train.jsonl", "step")
    assert steps and all(math.isfinite(v) for r in steps for v in r.values() if isinstance(v, float))
    assert main([*train, "--set", "data.check=false"]) == 2  # unchecked: the loader names it
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tacoglow train: error: {damaged}: expected finite mel values, found NaN or infinity"]
