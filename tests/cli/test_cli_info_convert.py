"""`tacoglow info` and `tacoglow convert` on the golden NVIDIA files."""

from __future__ import annotations

import json

import torch

from tacoglow.checkpoints import load_model, save_checkpoint
from tacoglow.cli import main
from tacoglow.text import TextFrontend


def test_info_describes_an_nvidia_waveglow(golden_dir, capsys):
    assert main(["info", str(golden_dir / "waveglow.pt"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "waveglow" and info["layout"] == "nvidia" and info["weight_norm"] is True
    assert info["config"]["n_flows"] == 5 and info["config"]["n_channels"] == 6
    assert info["state_dict_entries"] == len(torch.load(golden_dir / "waveglow.pt", weights_only=True)["state_dict"])


def test_convert_to_tacoglow_half_and_back_to_nvidia(golden_dir, tmp_path, capsys):
    half = tmp_path / "t2_half.pt"
    assert main(["convert", str(golden_dir / "tacotron2.pt"), "-o", str(half), "--half"]) == 0
    stored = torch.load(half, weights_only=True)
    assert stored["format"] == "tacoglow" and stored["state_dict"]["embedding.weight"].dtype == torch.float16
    reloaded = load_model(half)
    original = load_model(golden_dir / "tacotron2.pt")
    want = original.model.state_dict()["embedding.weight"]
    assert torch.equal(reloaded.model.state_dict()["embedding.weight"], want.half().float())
    nvidia = tmp_path / "t2_nvidia.pt"
    assert main(["convert", str(half), "-o", str(nvidia), "--format", "nvidia"]) == 0
    assert torch.load(nvidia, weights_only=True)["config"] == original.model.config.to_nvidia()


def test_info_on_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "none.pt: file not found" in err


def test_info_and_convert_keep_the_text_frontend(golden_dir, tmp_path, capsys):
    phones = tmp_path / "phones.pt"
    save_checkpoint(
        phones, load_model(golden_dir / "tacotron2.pt").model, text_frontend=TextFrontend(arpabet=True, phone_repeats=2)
    )
    assert main(["info", str(phones), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text_frontend"] == {
        "cleaners": ["english_cleaners"],
        "arpabet": True,
        "phone_repeats": 2,
        "normalizer": False,
    }
    assert main(["info", str(golden_dir / "waveglow.pt")]) == 0
    assert "text_frontend" not in capsys.readouterr().out
    half = tmp_path / "phones_half.pt"
    assert main(["convert", str(phones), "-o", str(half), "--half"]) == 0
    assert load_model(half).text_frontend == TextFrontend(arpabet=True, phone_repeats=2)
    slower = tmp_path / "phones_slower.pt"
    assert main(["convert", str(phones), "-o", str(slower), "--phone-repeats", "3"]) == 0
    assert load_model(slower).text_frontend == TextFrontend(arpabet=True, phone_repeats=3)
    assert (
        main(["convert", str(golden_dir / "tacotron2.pt"), "-o", str(tmp_path / "x.pt"), "--phone-repeats", "2"]) == 2
    )
    assert "phone_repeats 2: this voice reads every phone once" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    assert main(["convert", str(phones), "-o", str(tmp_path / "nvidia.pt"), "--format", "nvidia"]) == 0
    err = capsys.readouterr().err
    assert "reads CMUdict phones" in err and "reads every phone 2 times in a row" in err


def test_convert_options_that_would_be_ignored_are_refused(golden_dir, tmp_path, capsys):
    cases = [
        (["tacotron2.pt", "--half", "--format", "nvidia"], "--half: only for the tacoglow layout"),
        (
            ["waveglow.pt", "--remove-weight-norm", "--format", "nvidia"],
            "--remove-weight-norm: only for a WaveGlow written in the tacoglow layout",
        ),
        (
            ["tacotron2.pt", "--remove-weight-norm"],
            "--remove-weight-norm: only for a WaveGlow written in the tacoglow layout (this is a Tacotron 2)",
        ),
    ]
    for (name, *options), message in cases:
        out = tmp_path / "out.pt"
        assert main(["convert", str(golden_dir / name), "-o", str(out), *options]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"tacoglow convert: error: {message}", err
        assert not out.exists()
