"""The voice catalogue (tacoglow.voice_catalog): NVIDIA's URLs, resolution into the cache, Synthesizer.from_checkpoints(voice=...)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

import tacoglow
from tacoglow import voice_catalog
from tacoglow.download import CACHE_ENV, DownloadError, RemoteFile
from tacoglow.errors import ConfigError
from tacoglow.inference import Synthesizer, bundled_voice_paths
from tacoglow.voice_catalog import Bundled, Voice, get_voice, resolve_voice, voice_status

from loopback_http import Behaviour, LoopbackServer, closed_port_url

# NVIDIA DeepLearningExamples, PyTorch/SpeechSynthesis/Tacotron2/{tacotron2,waveglow}/entrypoints.py
# (torch.hub): the URLs of pretrained=True with model_math "fp16" and "fp32".
NGC = "https://api.ngc.nvidia.com/v2/models/nvidia"
TORCH_HUB_URLS = {
    "nvidia-ljspeech": (
        f"{NGC}/tacotron2_pyt_ckpt_amp/versions/19.09.0/files/nvidia_tacotron2pyt_fp16_20190427",
        f"{NGC}/waveglow_ckpt_amp/versions/19.09.0/files/nvidia_waveglowpyt_fp16_20190427",
    ),
    "nvidia-ljspeech-fp32": (
        f"{NGC}/tacotron2_pyt_ckpt_fp32/versions/19.09.0/files/nvidia_tacotron2pyt_fp32_20190427",
        f"{NGC}/waveglow_ckpt_fp32/versions/19.09.0/files/nvidia_waveglowpyt_fp32_20190427",
    ),
}
GOLDEN_FILES = ("tacotron2.pt", "waveglow.pt")  # tiny NVIDIA-layout checkpoints (tests/data/golden)
SETTINGS = dict(seed=0, max_decoder_steps=60, prenet_dropout=False)


def test_nvidia_voices_use_exactly_torch_hubs_urls_and_names():
    for name, (tacotron2_url, waveglow_url) in TORCH_HUB_URLS.items():
        voice = get_voice(name)
        assert (voice.tacotron2.url, voice.waveglow.url) == (tacotron2_url, waveglow_url)
        for model, kind in ((voice.tacotron2, "tacotron2"), (voice.waveglow, "waveglow")):
            assert model.kind == kind
            assert model.filename == model.url.rsplit("/", 1)[1]  # torch.hub's cache name: copy one in
        assert voice.language == "en-US" and "LJ Speech" in voice.licence and voice.download_mb > 0


def test_default_voice_is_the_bundled_one():
    assert voice_catalog.DEFAULT_VOICE == "bundled"
    assert resolve_voice("bundled") == bundled_voice_paths()
    assert voice_status(get_voice("bundled")) == "bundled"


def test_unknown_voice_lists_the_known_ones():
    with pytest.raises(
        ConfigError,
        match=r"^voice 'ljspeech': unknown, expected one of bundled, nvidia-ljspeech, "
        r"nvidia-ljspeech-fp32 \(list them with: tacoglow voices\)$",
    ):
        get_voice("ljspeech")


# ------------------------------------------------------------------ a voice served from loopback


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def served(golden_dir, monkeypatch):
    """A catalogue voice "loopback" whose two files come from a local server."""
    with LoopbackServer() as server:
        models = []
        for name, kind in zip(GOLDEN_FILES, ("tacotron2", "waveglow")):
            server.files[f"/ngc/{name}"] = Behaviour((golden_dir / name).read_bytes())
            models.append(RemoteFile(server.url(f"/ngc/{name}"), name, kind))
        voice = Voice("loopback", "test voice", "en-US", "test", models[0], models[1], download_mb=1)
        monkeypatch.setitem(voice_catalog.VOICES, "loopback", voice)
        yield server


def test_voice_downloads_into_the_cache_once(cache, served, golden_dir):
    voice = get_voice("loopback")
    assert voice_status(voice) == "not downloaded"
    tacotron2, waveglow = resolve_voice("loopback", waveglow=False, progress=False)
    assert tacotron2 == cache / "loopback" / "tacotron2.pt" and waveglow is None
    assert served.count("/ngc/waveglow.pt") == 0
    assert voice_status(voice) == "partly cached"
    tacotron2, waveglow = resolve_voice("loopback", progress=False)
    assert waveglow == cache / "loopback" / "waveglow.pt"
    assert voice_status(voice) == "cached"
    for name in GOLDEN_FILES:
        assert (cache / "loopback" / name).read_bytes() == (golden_dir / name).read_bytes()
    assert resolve_voice("loopback", progress=False) == (tacotron2, waveglow)
    assert len(served.requests) == 2  # one per file, none on later uses


def test_synthesizer_voice_speaks_as_the_same_files_given_by_path(cache, served, golden_dir):
    expected = Synthesizer.from_checkpoints(golden_dir / "tacotron2.pt", golden_dir / "waveglow.pt", **SETTINGS)
    synth = Synthesizer.from_checkpoints(voice="loopback", **SETTINGS)
    assert synth.vocoder.name == "waveglow"
    [want], [got] = expected.synthesize("Hello there."), synth.synthesize("Hello there.")
    assert torch.equal(got.waveform, want.waveform)


def test_synthesizer_explicit_models_win_and_griffin_lim_fetches_no_waveglow(cache, served, golden_dir):
    synth = Synthesizer.from_checkpoints(golden_dir / "tacotron2.pt", voice="loopback", **SETTINGS)
    assert synth.vocoder.name == "waveglow"
    assert served.requests == [("/ngc/waveglow.pt", None)]  # its Tacotron 2 was given: not fetched
    synth = Synthesizer.from_checkpoints(voice="loopback", vocoder="griffin-lim", **SETTINGS)
    assert synth.vocoder.name == "griffin-lim"
    assert served.count("/ngc/tacotron2.pt") == 1 and served.count("/ngc/waveglow.pt") == 1


def test_hand_placed_voice_is_used_with_no_network(cache, golden_dir, monkeypatch):
    models = [
        RemoteFile(closed_port_url(f"/{name}"), name, kind)
        for name, kind in zip(GOLDEN_FILES, ("tacotron2", "waveglow"))
    ]
    monkeypatch.setitem(voice_catalog.VOICES, "offline", Voice("offline", "t", "en-US", "t", *models))
    with pytest.raises(DownloadError, match=rf"place it at {cache / 'offline' / 'tacotron2.pt'}$"):
        resolve_voice("offline", progress=False)
    (cache / "offline").mkdir(parents=True, exist_ok=True)
    for name in GOLDEN_FILES:
        (cache / "offline" / name).write_bytes((golden_dir / name).read_bytes())
    assert voice_status(get_voice("offline")) == "cached"
    assert Synthesizer.from_checkpoints(voice="offline", **SETTINGS).vocoder.name == "waveglow"


def test_bundled_voice_entry_points_at_package_data():
    voice = get_voice("bundled")
    assert isinstance(voice.tacotron2, Bundled) and voice.tacotron2.path() == bundled_voice_paths()[0]


_CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from tacoglow import voice_catalog
from tacoglow.download import RemoteFile
model = RemoteFile(sys.argv[1], "tacotron2.pt", "tacotron2")
voice_catalog.VOICES["race"] = voice_catalog.Voice("race", "t", "en-US", "t", model, None)
print(voice_catalog.resolve_voice("race", progress=False)[0])
"""


@pytest.mark.slow
def test_two_processes_downloading_one_voice_give_one_complete_file(cache, golden_dir):
    body = (golden_dir / "tacotron2.pt").read_bytes()
    release = threading.Event()
    env = {
        **os.environ,
        CACHE_ENV: str(cache),
        "PYTHONPATH": os.pathsep.join([str(Path(tacoglow.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    with LoopbackServer() as server:
        # The first process's transfer stops half-way until the second one is waiting on the lock.
        server.files["/t2"] = Behaviour(body, hold=release)
        command = [sys.executable, "-c", _CHILD, server.url("/t2")]
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert server.request_seen.wait(timeout=120), "the first process never asked for the file"
        second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        while not any("waiting for another download" in line for line in seen):
            line = second.stderr.readline()
            assert line, f"the second process ended without waiting: {''.join(seen)}"
            seen.append(line)
        release.set()
        outputs = [process.communicate(timeout=120) for process in (first, second)]
        assert [process.returncode for process in (first, second)] == [0, 0], outputs
        assert server.count("/t2") == 1  # the second found the first's file, it did not download again
    dest = cache / "race" / "tacotron2.pt"
    assert [out.strip() for out, _ in outputs] == [str(dest), str(dest)]
    assert dest.read_bytes() == body
    assert sorted(p.name for p in (cache / "race").iterdir()) == ["tacotron2.pt"]
