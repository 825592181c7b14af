"""Tests of ``tacoglow evaluate`` (tacoglow.cli.evaluate) on a tiny random Tacotron 2."""

import json

import pytest
import torch

from tacoglow.audio import MelConfig
from tacoglow.checkpoints import save_checkpoint
from tacoglow.cli import main
from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config

pytest.importorskip("jiwer")


@pytest.fixture(scope="module")
def tacotron2_file(tmp_path_factory):
    torch.manual_seed(0)
    model = Tacotron2(
        Tacotron2Config(
            n_mel_channels=8,
            symbols_embedding_dim=16,
            encoder_embedding_dim=16,
            encoder_kernel_size=3,
            attention_rnn_dim=16,
            attention_dim=8,
            attention_location_n_filters=4,
            attention_location_kernel_size=5,
            decoder_rnn_dim=16,
            prenet_dim=8,
            postnet_embedding_dim=8,
            postnet_kernel_size=3,
            max_decoder_steps=120,
            gate_threshold=1.0,
        )
    )
    path = tmp_path_factory.mktemp("cli_voice") / "t2.pt"
    save_checkpoint(path, model, mel_config=MelConfig(n_mel_channels=8, filter_length=256, win_length=256))
    return path


@pytest.fixture
def filelist(tmp_path):
    path = tmp_path / "val.txt"
    path.write_text(
        "wavs/LJ001-0001.wav|Hi there.\nwavs/LJ001-0002.wav|One two.\nwavs/LJ001-0003.wav|Go on.\n", encoding="utf-8"
    )
    return path


def test_evaluate_prints_the_table_and_writes_json(tacotron2_file, filelist, tmp_path, capsys):
    out = tmp_path / "eval.json"
    code = main(
        [
            "-q",
            "evaluate",
            "--tacotron2",
            str(tacotron2_file),
            "--vocoder",
            "griffin-lim",
            "--sentences",
            str(filelist),
            "--limit",
            "2",
            "--asr",
            "none",
            "--seed",
            "4",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    stdout = capsys.readouterr().out
    lines = stdout.splitlines()
    assert lines[0].split()[:2] == ["#", "id"]
    assert lines[2].split()[:2] == ["1", "LJ001-0001"] and lines[3].split()[:2] == ["2", "LJ001-0002"]
    assert "voice: t2.pt (vocoder griffin-lim), 2 utterances, seed 4, 0 retries" in stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [u["id"] for u in report["utterances"]] == ["LJ001-0001", "LJ001-0002"]
    assert report["summary"]["seed"] == 4 and report["summary"]["attention_failures"] == 2
    assert report["summary"]["asr"] is None and report["summary"]["wer"] is None
    assert report["summary"]["seeds"] == 1 and report["utterances"][0]["seed"] == 4


def test_evaluate_with_several_seeds(tacotron2_file, filelist, tmp_path, capsys):
    out = tmp_path / "eval.json"
    code = main(
        [
            "-q",
            "evaluate",
            "--tacotron2",
            str(tacotron2_file),
            "--vocoder",
            "griffin-lim",
            "--sentences",
            str(filelist),
            "--limit",
            "1",
            "--asr",
            "none",
            "--seeds",
            "2",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    assert "1 utterances, × 2 seeds (0–1), 0 retries" in capsys.readouterr().out
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [u["seed"] for u in report["utterances"]] == [0, 1] and report["summary"]["seeds"] == 2


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--waveglow", "wg.pt"], "--waveglow needs --tacotron2"),
        (["--limit", "0"], "--limit: expected a number of sentences >= 1, found 0"),
        (["--seeds", "0"], "--seeds: expected a number of seeds >= 1, found 0"),
        (["--json", "no/such/folder/eval.json"], "cannot write there: folder no/such/folder does not exist"),
        (["--teacher", "espeak-ng", "--asr", "none"], "a teacher WER needs an ASR engine"),
    ],
)
def test_evaluate_errors_are_one_line(filelist, tacotron2_file, capsys, extra, message):
    voice = [] if extra[0] == "--waveglow" else ["--tacotron2", str(tacotron2_file), "--vocoder", "griffin-lim"]
    code = main(["evaluate", *voice, "--sentences", str(filelist), "--asr", "none", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert "tacoglow evaluate: error: " in err and message in err


def test_evaluate_missing_sentence_file(tmp_path, capsys):
    assert main(["evaluate", "--sentences", str(tmp_path / "none.txt"), "--asr", "none"]) == 2
    assert f"{tmp_path / 'none.txt'}: sentence file not found" in capsys.readouterr().err
