"""Griffin-Lim: NVIDIA golden with the reference's numpy-seeded phase, determinism, vocoder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tacoglow.audio import STFT, GriffinLim, MelConfig, griffin_lim, mel_spectrogram
from tacoglow.errors import AudioError, ConfigError

from tolerances import perturbed, reduction_rtol, rel_l2


def test_golden_griffin_lim_with_reference_phase(golden_dir):
    clip = torch.load(golden_dir / "mel.pt", weights_only=True)["stft_clip"]
    magnitude = clip["magnitude"][None]  # (1, 513, 13)
    # The reference draws its initial phase from numpy's global RNG right after seeding it.
    rng = np.random.RandomState(clip["griffin_lim_seed"])
    phase = np.angle(np.exp(2j * np.pi * rng.rand(*magnitude.shape))).astype(np.float32)
    audio = griffin_lim(magnitude, STFT(), n_iters=clip["griffin_lim_n_iters"], initial_phase=torch.from_numpy(phase))
    assert audio.shape == (1, 3072)
    # Each iteration chains an inverse and a forward STFT (two 1024-term reductions); the iterations
    # converge rather than amplify it: measured 2e-6 to 4e-6 under simulated AVX2, AVX-512 and SSE
    # kernels, far inside two iterations' budget (6e-5).
    tolerance = reduction_rtol(1024, chained=4)
    assert rel_l2(audio[0], clip["griffin_lim"]) <= tolerance
    louder = griffin_lim(
        perturbed(magnitude), STFT(), n_iters=clip["griffin_lim_n_iters"], initial_phase=torch.from_numpy(phase)
    )
    assert rel_l2(louder[0], clip["griffin_lim"]) > 10 * tolerance


def test_random_phase_is_seeded_by_generator():
    stft = STFT(256, 64, 256)
    magnitude = torch.rand(2, 129, 9, generator=torch.Generator().manual_seed(1))
    first = griffin_lim(magnitude, stft, n_iters=2, generator=torch.Generator().manual_seed(5))
    again = griffin_lim(magnitude, stft, n_iters=2, generator=torch.Generator().manual_seed(5))
    other = griffin_lim(magnitude, stft, n_iters=2, generator=torch.Generator().manual_seed(6))
    assert first.shape == (2, 8 * 64)
    assert torch.equal(first, again) and not torch.equal(first, other)
    # No generator: a fixed default seed, independent of torch's global RNG.
    torch.manual_seed(123)
    plain = griffin_lim(magnitude, stft, n_iters=2)
    torch.manual_seed(456)
    assert torch.equal(plain, griffin_lim(magnitude, stft, n_iters=2))


def test_iterations_improve_consistency():
    stft = STFT(256, 64, 256)
    t = torch.arange(4096) / 8000
    target, _ = stft.transform((0.5 * torch.sin(2 * math.pi * 440 * t) * torch.hann_window(4096))[None])

    def spectral_error(n_iters: int) -> float:
        audio = griffin_lim(target, stft, n_iters=n_iters, generator=torch.Generator().manual_seed(0))
        magnitude, _ = stft.transform(audio)
        return rel_l2(magnitude, target[..., : magnitude.size(-1)])

    assert spectral_error(30) < 0.5 * spectral_error(0)


def _chirp_magnitude(stft: STFT, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """|STFT| of two gliding partials: a target with moving harmonics, as speech has."""
    t = torch.arange(4096, dtype=torch.float64) / 8000
    pitch = 300 + 200 * t
    audio = (0.3 * torch.sin(2 * math.pi * pitch * t) + 0.2 * torch.sin(5 * math.pi * pitch * t)) * torch.hann_window(
        4096, dtype=torch.float64
    )
    magnitude, _ = stft.transform(audio[None].float())
    return magnitude.to(dtype)


def test_griffin_lim_matches_librosa():
    librosa = pytest.importorskip("librosa")
    stft = STFT(256, 64, 256)
    # float64, so what is compared is the algorithm, not rounding: 8 iterations amplify float32
    # rounding to ~1e-4 (measured 1.1e-4), as much as a slightly wrong step would move the output.
    target = _chirp_magnitude(stft, torch.float64)
    # librosa starts from phase 0 when init=None; momentum=0 is the classic algorithm.
    ours = griffin_lim(target, stft, n_iters=8, initial_phase=torch.zeros_like(target))[0]
    want = librosa.griffinlim(
        target[0].numpy(), n_iter=8, hop_length=64, win_length=256, n_fft=256, window="hann",
        center=True, pad_mode="reflect", momentum=0.0, init=None, length=ours.numel(),
    )  # fmt: skip
    # The STFT keeps its window in float32, as NVIDIA's does (6e-8 relative), which 8 iterations
    # carry to 3e-6 (measured); one iteration fewer lands 5e-2 away.
    assert rel_l2(ours, torch.from_numpy(want)) < 1e-4
    fewer = griffin_lim(target, stft, n_iters=7, initial_phase=torch.zeros_like(target))[0]
    assert rel_l2(fewer, torch.from_numpy(want)) > 1e-2


def test_griffin_lim_errors():
    stft = STFT(256, 64, 256)
    with pytest.raises(AudioError, match=r"initial_phase: expected the magnitude's shape \(1, 129, 4\)"):
        griffin_lim(torch.ones(1, 129, 4), stft, initial_phase=torch.zeros(1, 129, 5))
    with pytest.raises(AudioError, match=r"magnitude: expected at least 4 frames for filter_length 256, found 3"):
        griffin_lim(torch.ones(1, 129, 3), stft, n_iters=1)
    assert griffin_lim(torch.ones(1, 129, 3), stft, n_iters=0).shape == (1, 128)
    with pytest.raises(ConfigError, match="n_iters: expected an integer >= 0, found -1"):
        griffin_lim(torch.ones(1, 129, 4), stft, n_iters=-1)


def test_vocoder_reproduces_pitch_and_length():
    t = torch.arange(11025) / 22050
    audio = 0.5 * torch.sin(2 * math.pi * 440.0 * t)[None]
    mel = mel_spectrogram(audio)  # (1, 80, 44)
    vocoder = GriffinLim(MelConfig(), n_iters=10)
    out = vocoder(mel)
    assert out.shape == (1, 44 * 256) and not out.requires_grad
    spectrum = torch.fft.rfft(out[0] * torch.hann_window(out.size(-1)))
    peak_hz = spectrum.abs().argmax().item() * 22050 / out.size(-1)
    # Within the ~37 Hz spacing of the mel bands around 440 Hz.
    assert abs(peak_hz - 440.0) < 20.0
    # Level is roughly preserved (peak-relative sharpening keeps the peak magnitude).
    assert 0.2 < out.abs().max().item() < 1.5
    # Audio of another rate through its own config.
    config = MelConfig(
        sampling_rate=8000, filter_length=256, hop_length=64, win_length=256, n_mel_channels=20, mel_fmax=4000.0
    )
    low = GriffinLim(config, n_iters=2)(torch.full((2, 20, 7), -4.0))
    assert low.shape == (2, 7 * 64) and torch.isfinite(low).all()


@pytest.mark.parametrize("n_frames", [0, 1, 2, 3])
def test_vocoder_handles_very_short_mels(n_frames):
    # Tacotron 2 can stop after 1-2 frames; the STFT needs more than n_fft / 2 samples.
    config = MelConfig(
        sampling_rate=8000, filter_length=256, hop_length=32, win_length=256, n_mel_channels=20, mel_fmax=4000.0
    )
    audio = GriffinLim(config, n_iters=3)(torch.full((2, 20, n_frames), -3.0))
    assert audio.shape == (2, n_frames * 32) and torch.isfinite(audio).all()
    if n_frames:
        assert audio.abs().max() > 0


def test_vocoder_errors():
    with pytest.raises(ConfigError, match="power: expected a positive number, found 0"):
        GriffinLim(power=0)
    with pytest.raises(AudioError, match=r"expected a log-mel of shape \(B, 80, T_mel\), found \(80, 5\)"):
        GriffinLim(n_iters=1)(torch.zeros(80, 5))
