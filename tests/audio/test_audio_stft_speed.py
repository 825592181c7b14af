"""STFT start-up and per-shape costs: GEMM + overlap-add inverse, closed-form basis, caches, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from tacoglow.audio import STFT
from tacoglow.audio.stft import (
    _dft_basis,
    _forward_basis,
    _inverse_basis,
    _padded_window,
    _periodic_window,
    _window_sumsquare,
)
from tacoglow.errors import AudioError

from tolerances import perturbed, reduction_rtol, rel_l2


def inverse_rtol(n_fft: int) -> float:
    """How far two float32 inverse STFTs may differ, norm-wise and relative to the largest sample.

    Each output sample sums n_fft + 2 basis terms (real and imaginary parts, one frame) before the
    overlap-add; the GEMM path and conv_transpose1d add them in different orders, hence
    ``reduction_rtol(n_fft + 2)`` (1.5e-5 for n_fft = 1024; see tests/tolerances.py). Measured under
    simulated AVX-512, AVX2 and SSE kernels: at most 6.2e-7 (a margin of 12x or more); a 0.1 % change
    of the input moves the output by 1e-3.
    """
    return reduction_rtol(n_fft + 2)


def reference_inverse(stft: STFT, basis: torch.Tensor, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """The previous formulation: strided conv_transpose1d, envelope division, scale, trim."""
    spectrum = torch.cat([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=1)
    signal = F.conv_transpose1d(spectrum, basis, stride=stft.hop_length)
    envelope = _window_sumsquare(stft.window, magnitude.size(-1), stft.hop_length, stft.win_length, stft.filter_length)
    tiny = float(np.finfo(np.float32).tiny)
    signal = signal / torch.where(envelope > tiny, envelope, torch.ones_like(envelope))
    signal = signal * (stft.filter_length / stft.hop_length)
    pad = stft.filter_length // 2
    return signal[:, :, pad : signal.size(-1) - pad]


def svd_inverse_basis(n_fft: int, hop: int, win: int) -> torch.Tensor:
    """The reference's synthesis basis: SVD pseudo-inverse of the scaled DFT basis, windowed."""
    window = torch.from_numpy(_padded_window("hann", win, n_fft)).float()
    pinv = np.linalg.pinv((n_fft / hop) * _dft_basis(n_fft)).T
    return torch.from_numpy(pinv[:, None, :]).float() * window


@pytest.mark.parametrize("n_fft,hop,win", [(1024, 256, 1024), (512, 128, 400), (256, 96, 200)])
@pytest.mark.parametrize("n_frames", [1, 2, 9, 40])
def test_inverse_equals_conv_transpose(n_fft, hop, win, n_frames):
    generator = torch.Generator().manual_seed(n_frames)
    stft = STFT(n_fft, hop, win)
    shape = (2, n_fft // 2 + 1, n_frames)
    magnitude = torch.rand(shape, generator=generator) * 3
    phase = (torch.rand(shape, generator=generator) * 2 - 1) * torch.pi
    got = stft.inverse(magnitude, phase)
    want = reference_inverse(stft, stft.inverse_basis, magnitude, phase)
    assert got.shape == want.shape == (2, 1, (n_frames - 1) * hop)
    if n_frames > 1:  # one frame trims to zero samples
        assert rel_l2(got, want) <= inverse_rtol(n_fft)
        torch.testing.assert_close(got, want, rtol=0, atol=inverse_rtol(n_fft) * want.abs().max().item())
        assert rel_l2(stft.inverse(perturbed(magnitude), phase), want) > 10 * inverse_rtol(n_fft)


@pytest.mark.parametrize("n_fft,hop,win", [(256, 96, 200), (128, 32, 128)])
def test_closed_form_basis_equals_svd_pinv(n_fft, hop, win):
    closed = _inverse_basis(n_fft, hop, win, "hann")
    svd = svd_inverse_basis(n_fft, hop, win)
    assert closed.shape == svd.shape == (n_fft + 2, 1, n_fft)
    differ = closed != svd
    # Only float64 round-off around exact zeros differs; every real entry is bit-identical.
    assert differ.float().mean() < 0.1
    assert svd[differ].abs().max() < 1e-16 and closed[differ].abs().max() < 1e-16
    assert svd.abs().max() > 1e-4
    # Through the whole inverse (the previous code end to end) the output does not move.
    stft = STFT(n_fft, hop, win)
    generator = torch.Generator().manual_seed(1)
    magnitude = torch.rand(1, n_fft // 2 + 1, 12, generator=generator)
    phase = torch.rand(1, n_fft // 2 + 1, 12, generator=generator) * 6 - 3
    got = stft.inverse(magnitude, phase)
    assert rel_l2(got, reference_inverse(stft, svd, magnitude, phase)) <= inverse_rtol(n_fft)


def test_inverse_gradient_matches_conv_transpose():
    stft = STFT(512, 128, 512)
    magnitude = torch.rand(1, 257, 6, generator=torch.Generator().manual_seed(2))
    phase = torch.rand(1, 257, 6, generator=torch.Generator().manual_seed(3)) * 6 - 3
    weights = torch.rand(1, 1, 5 * 128, generator=torch.Generator().manual_seed(4))
    grads = []
    for fn in (stft.inverse, lambda m, p: reference_inverse(stft, stft.inverse_basis, m, p)):
        leaf = magnitude.clone().requires_grad_(True)
        (fn(leaf, phase) * weights).sum().backward()
        grads.append(leaf.grad)
    # The gradient is the forward transform of the weights: the same reductions, the same bound.
    assert rel_l2(grads[0], grads[1]) <= inverse_rtol(512)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=inverse_rtol(512) * grads[1].abs().max().item())


def test_bases_are_cached_per_setting():
    assert _forward_basis(1024, 1024, "hann") is _forward_basis(1024, 1024, "hann")
    assert _inverse_basis(1024, 256, 1024, "hann") is _inverse_basis(1024, 256, 1024, "hann")
    assert _dft_basis(512) is _dft_basis(512) and not _dft_basis(512).flags.writeable
    assert _inverse_basis(1024, 256, 1024, "hann") is not _inverse_basis(1024, 256, 800, "hann")
    first, second = STFT(), STFT()
    zeros = torch.zeros(1, 513, 3)
    first.inverse(zeros, zeros)
    second.inverse(zeros, zeros)
    # Instances copy the shared bases, so modifying one module's buffers leaves the cache intact.
    assert torch.equal(first.inverse_basis, second.inverse_basis)
    assert first.inverse_basis.data_ptr() != second.inverse_basis.data_ptr()
    first.forward_basis.zero_()
    assert torch.equal(STFT().forward_basis, second.forward_basis)
    assert second.forward_basis.abs().max() > 0


@pytest.mark.parametrize("win_length", [1, 2, 3, 255, 400, 800, 1023, 1024, 2048])
def test_hann_window_equals_scipy(win_length):
    want = scipy.signal.get_window("hann", win_length, fftbins=True)
    got = _periodic_window("hann", win_length)
    assert got.dtype == np.float64 and np.array_equal(got, want)


def test_other_windows_use_scipy():
    stft = STFT(512, 128, 400, window="hamming")
    hamming = scipy.signal.get_window("hamming", 400, fftbins=True)
    assert np.array_equal(_periodic_window("hamming", 400), hamming)
    # A 400-sample window centred in 512: 56 zero taps on each side, the window in between.
    row = stft.forward_basis[0, 0]  # DC row: the window itself
    assert torch.all(row[:56] == 0) and torch.all(row[-56:] == 0)
    assert torch.equal(row[56:-56], torch.from_numpy(hamming).float())


def test_inverse_rejects_zero_frames():
    with pytest.raises(AudioError, match=r"expected at least 1 frame, found 0"):
        STFT().inverse(torch.zeros(1, 513, 0), torch.zeros(1, 513, 0))


def test_stft_does_not_import_scipy_signal_or_numba():
    code = (
        "import sys, torch\n"
        "from tacoglow.audio import STFT\n"
        "stft = STFT()\n"
        "magnitude, phase = stft.transform(torch.rand(1, 3000))\n"
        "assert stft.inverse(magnitude, phase).shape == (1, 1, 2816)\n"
        "print(sorted(m for m in ('scipy.signal', 'numba', 'librosa.filters') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
