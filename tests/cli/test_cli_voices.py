"""`tacoglow voices` and `--voice NAME` on synthesize / bench / evaluate, with voices served from loopback."""

from __future__ import annotations

import pytest
import soundfile as sf

from tacoglow import voice_catalog
from tacoglow.cli import main
from tacoglow.download import CACHE_ENV, RemoteFile
from tacoglow.inference import Synthesizer
from tacoglow.voice_catalog import Voice

from loopback_http import Behaviour, LoopbackServer, closed_port_url

GOLDEN_FILES = ("tacotron2.pt", "waveglow.pt")  # tiny NVIDIA-layout checkpoints (tests/data/golden)
KINDS = ("tacotron2", "waveglow")
FAST = ["--max-decoder-steps", "60", "--seed", "0", "--no-prenet-dropout"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def served(golden_dir, monkeypatch):
    """Catalogue voice "loopback" served by a local server; "offline" points where nothing listens."""
    with LoopbackServer() as server:
        models = []
        for name, kind in zip(GOLDEN_FILES, KINDS):
            server.files[f"/{name}"] = Behaviour((golden_dir / name).read_bytes())
            models.append(RemoteFile(server.url(f"/{name}"), name, kind))
        monkeypatch.setitem(
            voice_catalog.VOICES,
            "loopback",
            Voice("loopback", "served here", "en-US", "test licence", *models, download_mb=1),
        )
        offline = [RemoteFile(closed_port_url(f"/{name}"), name, kind) for name, kind in zip(GOLDEN_FILES, KINDS)]
        monkeypatch.setitem(voice_catalog.VOICES, "offline", Voice("offline", "unreachable", "en-US", "t", *offline))
        yield server


def _row(stdout: str, name: str) -> list[str]:
    [line] = [line for line in stdout.splitlines() if line.startswith(name + " ")]
    return line.split()


def test_voices_lists_the_catalogue_and_what_is_cached(cache, served, golden_dir, capsys):
    assert main(["voices"]) == 0
    out = capsys.readouterr().out
    for name in ("bundled", "nvidia-ljspeech", "nvidia-ljspeech-fp32", "loopback"):
        assert f"\n  {name}: " in out.split("licences:")[1]
    assert _row(out, "bundled")[:4] == ["bundled", "en-US", "-", "bundled"]
    assert _row(out, "nvidia-ljspeech")[:3] == ["nvidia-ljspeech", "en-US", "~630"]
    assert _row(out, "loopback")[:6] == ["loopback", "en-US", "~1", "MB", "not", "downloaded"]
    assert out.rstrip().endswith(f"cache: {cache}")
    (cache / "loopback").mkdir(parents=True)
    (cache / "loopback" / "tacotron2.pt").write_bytes((golden_dir / "tacotron2.pt").read_bytes())
    assert main(["voices", "list"]) == 0
    assert _row(capsys.readouterr().out, "loopback")[4:6] == ["partly", "cached"]
    assert served.requests == []  # listing never touches the network


def test_voices_download_fetches_ahead_of_time_once(cache, served, capsys):
    assert main(["-q", "voices", "download", "loopback"]) == 0
    assert capsys.readouterr().out.split() == [str(cache / "loopback" / name) for name in GOLDEN_FILES]
    assert main(["-q", "voices", "download", "loopback"]) == 0
    assert len(served.requests) == 2
    capsys.readouterr()
    assert main(["voices"]) == 0
    assert _row(capsys.readouterr().out, "loopback")[4] == "cached"


def test_synthesize_with_a_voice_matches_the_same_files_by_path(cache, served, golden_dir, tmp_path):
    out = tmp_path / "hello.wav"
    assert main(["-q", "synthesize", "--voice", "loopback", "Hello there.", "-o", str(out), *FAST]) == 0
    synth = Synthesizer.from_checkpoints(
        golden_dir / "tacotron2.pt", golden_dir / "waveglow.pt", seed=0, max_decoder_steps=60, prenet_dropout=False
    )
    [want] = synth.synthesize("Hello there.")
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 22050 and len(audio) == want.mel_length * 256
    # 16-bit PCM: half a quantisation step of rounding, plus float32 noise far below it.
    assert abs(audio - want.waveform.clamp(-1, 1).numpy()).max() <= 1.0 / 32768 + 1e-6


def test_explicit_checkpoint_wins_over_the_voice(cache, served, golden_dir, tmp_path):
    out = tmp_path / "hello.wav"
    code = main(
        [
            "-q",
            "synthesize",
            "--voice",
            "loopback",
            "--tacotron2",
            str(golden_dir / "tacotron2.pt"),
            "Hello.",
            "-o",
            str(out),
            *FAST,
        ]
    )
    assert code == 0 and out.is_file()
    assert served.requests == [("/waveglow.pt", None)]
    code = main(
        ["-q", "synthesize", "--voice", "loopback", "--vocoder", "griffin-lim", "Hello.", "-o", str(out), *FAST]
    )
    assert code == 0
    assert served.count("/waveglow.pt") == 1 and served.count("/tacotron2.pt") == 1


def test_offline_with_nothing_cached_is_one_line(cache, served, tmp_path, capsys):
    code = main(["synthesize", "--voice", "offline", "Hello.", "-o", str(tmp_path / "x.wav")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    url = voice_catalog.VOICES["offline"].tacotron2.url
    assert err.startswith(f"tacoglow synthesize: error: cannot download {url} (no connection")
    assert err.rstrip().endswith(f"place it at {cache / 'offline' / 'tacotron2.pt'}")
    assert not (tmp_path / "x.wav").exists()


def test_unknown_voice_is_one_line(cache, tmp_path, capsys):
    assert main(["synthesize", "--voice", "nope", "Hi.", "-o", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tacoglow synthesize: error: voice 'nope': unknown, expected one of bundled, ")
    assert err.count("\n") == 1
    assert main(["voices", "download", "nope"]) == 2


def test_bench_and_evaluate_take_a_voice(cache, served, tmp_path, capsys):
    code = main(
        [
            "-q",
            "bench",
            "--voice",
            "loopback",
            "--steps",
            "8",
            "--iterations",
            "2",
            "--warmup",
            "0",
            "--input-length",
            "16",
        ]
    )
    assert code == 0
    assert "(tacotron2.pt" in capsys.readouterr().out and len(served.requests) == 2
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Hi there.\n", encoding="utf-8")
    code = main(["-q", "evaluate", "--voice", "loopback", "--sentences", str(sentences), "--asr", "none"])
    assert code == 0
    assert "voice: tacotron2.pt + waveglow.pt (vocoder waveglow)" in capsys.readouterr().out
    assert len(served.requests) == 2  # the cached files served both commands
