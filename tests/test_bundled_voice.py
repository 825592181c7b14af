"""The voice shipped inside the package: it loads with no arguments and speaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from tacoglow import Synthesizer
from tacoglow.checkpoints import load_model
from tacoglow.cli import main
from tacoglow.inference import bundled_voice_paths
from tacoglow.text import TextFrontend

from tolerances import rel_l2


def test_bundled_tacotron2_is_a_tacoglow_file_with_its_contract():
    tacotron2_path, _ = bundled_voice_paths()
    assert tacotron2_path is not None, "the package must ship tacoglow/voices/tacotron2.pt"
    assert tacotron2_path.stat().st_size < 8 * 2**20  # keep the wheel small
    loaded = load_model(tacotron2_path)
    assert loaded.kind == "tacotron2" and loaded.source_format == "tacoglow"
    assert loaded.mel_config.sampling_rate == 22050 and loaded.mel_config.n_mel_channels == 80
    assert loaded.symbols is not None and len(loaded.symbols) == 148
    # CMUdict phones, trained read three times and shipped reading four (slower, heard better).
    assert loaded.text_frontend == TextFrontend(arpabet=True, phone_repeats=4)


def test_synthesizer_without_arguments_speaks():
    torch.manual_seed(0)
    utterance = Synthesizer(seed=0).synthesize("Hello world.")[0]
    assert utterance.sample_rate == 22050
    assert utterance.waveform.dtype == np.float32 or utterance.waveform.dtype == torch.float32
    waveform = np.asarray(utterance.waveform)
    assert 0.2 < waveform.size / 22050 < 5.0  # a short phrase, not silence and not a runaway decoder
    assert np.isfinite(waveform).all() and np.abs(waveform).max() > 0.01
    assert waveform.size == utterance.mel_length * 256


def test_main_command_with_no_checkpoint_arguments(tmp_path):
    out = tmp_path / "hello.wav"
    assert main(["synthesize", "Hello world.", "-o", str(out), "--seed", "1"]) == 0
    audio, rate = sf.read(out)
    assert rate == 22050 and audio.size > 0.2 * rate and np.abs(audio).max() > 0.01


def test_bundled_voice_reads_faster_at_its_trained_phone_repeats(tmp_path):
    text = "The quick brown fox jumps over the lazy dog."
    paths = {}
    for repeats in (3, 4):
        paths[repeats] = tmp_path / f"rep{repeats}.wav"
        assert (
            main(["synthesize", text, "-o", str(paths[repeats]), "--seed", "0", "--phone-repeats", str(repeats)]) == 0
        )
    seconds = {repeats: sf.info(str(path)).duration for repeats, path in paths.items()}
    assert 1.05 < seconds[4] / seconds[3] < 1.5, seconds  # one more copy per phone: slower speech


def test_bundled_voice_with_a_fixed_seed_sounds_as_before():
    """The mels stored before the redesign of issue 20 (``bundled_voice_seed0.npz``, made with
    ``Synthesizer(seed=0)``), and their waveforms since the vocoder went from 60 to 30 Griffin-Lim
    iterations (same mels, bit for bit): refactoring must not change what the shipped voice says.

    Same lengths exactly (the stop gate fired at the same frame). On the machine that stored them
    the arrays were identical; on other CPUs float32 sums round in another order (see
    ``tests/tolerances.py``) and the autoregressive decoder and Griffin-Lim's iterations carry
    that difference along: measured under simulated AVX2 and SSE kernels (``ONEDNN_MAX_CPU_ISA``,
    ``ATEN_CPU_CAPABILITY``), relative L2 errors of at most 2.2e-6 (mel) and 7e-5 (waveform; 1.6e-4
    with the 60 iterations of before); the bounds leave a margin of 45x and 12x or more. A change of
    the model, the seeding or the vocoder moves them by orders of magnitude more (other prenet
    dropout masks change every frame; 60 iterations instead of 30 move the waveforms by 0.2 of
    their norm).
    """
    golden = np.load(Path(__file__).parent / "data" / "golden" / "bundled_voice_seed0.npz")
    texts = [str(t) for t in golden["texts"]]
    for i, utterance in enumerate(Synthesizer(seed=0).synthesize(texts)):
        mel, waveform = np.asarray(utterance.mel), np.asarray(utterance.waveform)
        assert mel.shape == golden[f"mel_{i}"].shape and waveform.shape == golden[f"waveform_{i}"].shape
        assert rel_l2(torch.from_numpy(mel), torch.from_numpy(golden[f"mel_{i}"])) < 1e-4
        assert rel_l2(torch.from_numpy(waveform), torch.from_numpy(golden[f"waveform_{i}"])) < 2e-3
