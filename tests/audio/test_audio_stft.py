"""STFT: golden magnitude and inverse of NVIDIA's reference, envelope, round trips, errors."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from tacoglow.audio import STFT
from tacoglow.audio.stft import _window_sumsquare
from tacoglow.errors import AudioError, ConfigError

from tolerances import perturbed, reduction_rtol, rel_l2

# Each STFT coefficient is a float32 sum of filter_length = 1024 windowed samples.
STFT_RTOL = reduction_rtol(1024)


@pytest.fixture(scope="module")
def clip(golden_dir):
    return torch.load(golden_dir / "mel.pt", weights_only=True)["stft_clip"]


def test_golden_magnitude(clip):
    stft = STFT(1024, 256, 1024)
    magnitude, phase = stft.transform(clip["audio"][None])
    assert magnitude.shape == phase.shape == (1, 513, 13)
    assert rel_l2(magnitude[0], clip["magnitude"]) <= STFT_RTOL
    # Element-wise, a coefficient's rounding error scales with its terms, not with its own value
    # (bins whose terms cancel are small): sum |window * audio| <= sum(window) * max|audio|.
    terms = float(stft.forward_basis[0].abs().sum() * clip["audio"].abs().max())
    torch.testing.assert_close(magnitude[0], clip["magnitude"], rtol=STFT_RTOL, atol=STFT_RTOL * terms)
    # A 0.1 % louder input is caught by both checks.
    louder, _ = stft.transform(perturbed(clip["audio"])[None])
    assert rel_l2(louder[0], clip["magnitude"]) > 10 * STFT_RTOL
    with pytest.raises(AssertionError):
        torch.testing.assert_close(louder[0], clip["magnitude"], rtol=STFT_RTOL, atol=STFT_RTOL * terms)


def test_golden_inverse_roundtrip(clip):
    stft = STFT()
    magnitude, phase = stft.transform(clip["audio"][None])
    out = stft.inverse(magnitude, phase)
    assert out.shape == (1, 1, 3072)
    # Two chained 1024-term reductions: the analysis, then the overlap-added synthesis.
    assert rel_l2(out[0, 0], clip["inverse_roundtrip"]) <= reduction_rtol(1024, chained=2)
    louder = stft.inverse(perturbed(magnitude), phase)
    assert rel_l2(louder[0, 0], clip["inverse_roundtrip"]) > 10 * reduction_rtol(1024, chained=2)


def test_bases_shapes_and_window():
    stft = STFT(512, 128, 400)
    assert stft.forward_basis.shape == (514, 1, 512) and stft.forward_basis.dtype == torch.float32
    assert stft.inverse_basis.numel() == 0  # built by the first inverse()
    stft.inverse(torch.zeros(1, 257, 3), torch.zeros(1, 257, 3))
    assert stft.inverse_basis.shape == (514, 1, 512) and stft.inverse_basis.dtype == torch.float32
    for basis in (stft.forward_basis, stft.inverse_basis):
        # A 400-sample window centred in 512: the first and last 56 taps of every row are zero.
        assert torch.all(basis[:, :, :56] == 0) and torch.all(basis[:, :, -56:] == 0)
    assert stft.state_dict() == {}  # derived buffers, not weights
    # Analysis followed by synthesis without overlap-add is the identity on windowed frames.
    window = torch.from_numpy(
        librosa.util.pad_center(scipy.signal.get_window("hann", 400, fftbins=True), size=512)
    ).float()
    frame = torch.rand(512, generator=torch.Generator().manual_seed(0))
    coefficients = stft.forward_basis[:, 0] @ frame
    rebuilt = (stft.inverse_basis[:, 0].T @ coefficients) * (512 / 128)
    torch.testing.assert_close(rebuilt, frame * window**2, rtol=0, atol=1e-5)


@pytest.mark.parametrize("n_frames", [1, 3, 13])
def test_envelope_matches_librosa(n_frames):
    want = librosa.filters.window_sumsquare(
        window="hann", n_frames=n_frames, hop_length=256, win_length=800, n_fft=1024, dtype=np.float32
    )
    got = _window_sumsquare("hann", n_frames, 256, 800, 1024).numpy()
    assert got.dtype == np.float32 and np.array_equal(got, want)


@pytest.mark.parametrize("n_fft,hop,win", [(1024, 256, 1024), (512, 128, 400)])
def test_roundtrip_random_audio(n_fft, hop, win):
    generator = torch.Generator().manual_seed(0)
    num_samples = int(torch.randint(2 * n_fft, 4 * n_fft, (1,), generator=generator))
    audio = torch.rand(2, num_samples, generator=generator) * 2 - 1
    stft = STFT(n_fft, hop, win)
    magnitude, phase = stft.transform(audio)
    frames = num_samples // hop + 1
    assert magnitude.shape == (2, n_fft // 2 + 1, frames) and stft.num_frames(num_samples) == frames
    out = stft.inverse(magnitude, phase)
    assert out.shape == (2, 1, (frames - 1) * hop)
    # Away from the edges (reflect padding) the overlap-add reconstructs the input exactly.
    edge = n_fft
    torch.testing.assert_close(out[:, 0, edge:-edge], audio[:, edge : (frames - 1) * hop - edge], rtol=0, atol=1e-5)


def test_magnitude_of_sine_peaks_at_its_bin():
    t = torch.arange(8192) / 22050
    bin_hz = 22050 / 1024
    magnitude, _ = STFT().transform(torch.sin(2 * torch.pi * 40 * bin_hz * t)[None])
    assert torch.all(magnitude[0, :, 4:-4].argmax(dim=0) == 40)


def test_inverse_is_differentiable_without_nan():
    stft = STFT()
    magnitude = torch.rand(1, 513, 6, requires_grad=True)
    stft.inverse(magnitude, torch.zeros(1, 513, 6)).sum().backward()
    assert torch.isfinite(magnitude.grad).all()


def test_errors():
    with pytest.raises(ConfigError, match=r"win_length: expected at most filter_length=512, found 1024"):
        STFT(512, 128, 1024)
    with pytest.raises(ConfigError, match=r"hop_length: expected a positive integer, found 0"):
        STFT(1024, 0, 1024)
    with pytest.raises(ConfigError, match=r"window: expected a scipy window name, found 'nope'"):
        STFT(window="nope")
    stft = STFT()
    with pytest.raises(AudioError, match=r"expected more than 512 samples .* found 512"):
        stft.transform(torch.zeros(1, 512))
    with pytest.raises(AudioError, match=r"expected audio of shape \(B, T_audio\), found shape \(100,\)"):
        stft.transform(torch.zeros(100))
    with pytest.raises(AudioError, match=r"magnitude: expected shape \(B, 513, F\), found \(1, 80, 4\)"):
        stft.inverse(torch.zeros(1, 80, 4), torch.zeros(1, 80, 4))
    with pytest.raises(AudioError, match=r"phase: expected the magnitude's shape"):
        stft.inverse(torch.zeros(1, 513, 4), torch.zeros(1, 513, 5))
