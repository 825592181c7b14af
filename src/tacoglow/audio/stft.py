"""Convolution-based STFT and inverse STFT, bit-exact with NVIDIA's Tacotron 2 reference (fp32).

The forward transform is a strided ``conv1d`` with a windowed real-DFT basis, the inverse a
strided ``conv_transpose1d`` with the windowed pseudo-inverse basis followed by window-sum-square
normalisation. The bases are built by the exact numpy recipe of the reference (FFT of the
identity in float64, cast to float32, then multiplied by the float32 window): building them any
other way (cos/sin formulas, windowing in float64) changes the last bits of every mel.
"""
from __future__ import annotations

import functools

import librosa
import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tacoglow.errors import AudioError, ConfigError

__all__ = ["STFT"]

# Envelope samples at or below this are left undivided (the reference's `tiny` of a float32 array).
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def _padded_window(window: str, win_length: int, n_fft: int) -> np.ndarray:
    """Periodic window of ``win_length`` samples, zero-padded on both sides to ``n_fft`` (float64)."""
    samples = scipy.signal.get_window(window, win_length, fftbins=True)
    return librosa.util.pad_center(samples, size=n_fft)


@functools.lru_cache(maxsize=64)
def _window_sumsquare(window: str, n_frames: int, hop_length: int, win_length: int,
                      n_fft: int) -> Tensor:
    """Sum of the squared, un-normalised window over ``n_frames`` frames, float32.

    Returns shape (n_fft + hop_length * (n_frames - 1),). Equals
    ``librosa.filters.window_sumsquare(..., norm=None, dtype=float32)`` bit for bit (each frame's
    float64 squared window is added into the float32 envelope in frame order, as the reference
    does), without librosa's numba compilation, which costs ~2 s per process. The cached tensor is
    shared: callers must not modify it in place.
    """
    squared = _padded_window(window, win_length, n_fft) ** 2
    length = n_fft + hop_length * (n_frames - 1)
    envelope = np.zeros(length, dtype=np.float32)
    for frame in range(n_frames):
        start = frame * hop_length
        envelope[start:start + n_fft] += squared[:max(0, min(n_fft, length - start))]
    return torch.from_numpy(envelope)


def _dft_basis(filter_length: int) -> np.ndarray:
    """(2 * (n_fft // 2 + 1), n_fft) float64: DFT real parts (cos(2πkn/N)) stacked on imaginary
    parts (-sin(2πkn/N)), taken from the FFT of the identity exactly as the reference does."""
    fourier = np.fft.fft(np.eye(filter_length))[:filter_length // 2 + 1]
    return np.vstack([np.real(fourier), np.imag(fourier)])


@functools.lru_cache(maxsize=8)
def _forward_basis(filter_length: int, win_length: int, window: str) -> Tensor:
    """Windowed analysis basis, (2 * (n_fft // 2 + 1), 1, n_fft) float32. Shared: do not modify."""
    fft_window = torch.from_numpy(_padded_window(window, win_length, filter_length)).float()
    basis = torch.from_numpy(_dft_basis(filter_length)[:, None, :]).float()
    # The window is applied in float32 after the cast: multiplying in float64 first differs
    # from the reference by up to 6e-8.
    return basis * fft_window


@functools.lru_cache(maxsize=8)
def _inverse_basis(filter_length: int, hop_length: int, win_length: int, window: str) -> Tensor:
    """Windowed synthesis basis, (2 * (n_fft // 2 + 1), 1, n_fft) float32. Shared: do not modify.

    The SVD-based float64 pseudo-inverse of scale · basis, scale = n_fft / hop: its closed form
    (basis^T · diag(1/N, 2/N, ..., 1/N)) differs in the float32 noise of exact zeros, and only
    this recipe reproduces the reference bit for bit. It takes ~1 s for n_fft = 1024 (far more on
    a busy CPU), hence the caching, and :class:`STFT` builds it only on first use.
    """
    fft_window = torch.from_numpy(_padded_window(window, win_length, filter_length)).float()
    scale = filter_length / hop_length
    pinv = np.linalg.pinv(scale * _dft_basis(filter_length)).T  # (2 * n_freq, n_fft) float64
    return torch.from_numpy(pinv[:, None, :]).float() * fft_window


class STFT(nn.Module):
    """Short-time Fourier transform as strided convolutions (NVIDIA's ``STFT``).

    Args:
        filter_length (int): FFT size n_fft; the transform has n_fft // 2 + 1 frequency bins.
            Default 1024.
        hop_length (int): samples between frame centres. Default 256.
        win_length (int): window length, at most ``filter_length``; shorter windows are
            zero-padded to ``filter_length`` at both ends. Default 1024.
        window (str): a ``scipy.signal.get_window`` name, used periodic (``fftbins=True``).
            Default ``"hann"``.

    Buffers ``forward_basis`` and ``inverse_basis``, each (2 * (n_fft // 2 + 1), 1, n_fft) float32,
    are derived from the arguments, so they are not saved in state dicts (``persistent=False``);
    ``inverse_basis`` is built on the first :meth:`inverse` call (empty before).

    >>> stft = STFT(1024, 256, 1024)
    >>> magnitude, phase = stft.transform(torch.zeros(2, 22050))
    >>> magnitude.shape  # (B, n_fft // 2 + 1, S // hop + 1)
    torch.Size([2, 513, 87])
    >>> stft.inverse(magnitude, phase).shape  # (B, 1, (F - 1) * hop)
    torch.Size([2, 1, 22016])
    """

    forward_basis: Tensor
    inverse_basis: Tensor

    def __init__(self, filter_length: int = 1024, hop_length: int = 256, win_length: int = 1024,
                 window: str = "hann") -> None:
        super().__init__()
        for name, value in (("filter_length", filter_length), ("hop_length", hop_length),
                            ("win_length", win_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"STFT {name}: expected a positive integer, found {value!r}")
        if win_length > filter_length:
            raise ConfigError(f"STFT win_length: expected at most filter_length={filter_length}, "
                              f"found {win_length}")
        if filter_length % 2:
            raise ConfigError(f"STFT filter_length: expected an even FFT size, found {filter_length}")
        try:
            forward_basis = _forward_basis(filter_length, win_length, window)
        except ValueError as exc:
            raise ConfigError(f"STFT window: expected a scipy window name, found {window!r} "
                              f"({exc})") from exc
        self.filter_length = filter_length
        self.hop_length = hop_length
        self.win_length = win_length
        self.window = window
        self.n_freq = filter_length // 2 + 1
        self.register_buffer("forward_basis", forward_basis.clone(), persistent=False)
        # Filled by the first inverse(): transform-only users (mel features) never pay for the
        # pseudo-inverse. Empty until then; follows .to() like any buffer.
        self.register_buffer("inverse_basis", torch.empty(0), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        """Frames the transform gives for ``num_samples`` samples: ``num_samples // hop + 1``."""
        return num_samples // self.hop_length + 1

    def transform(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """Magnitude and phase spectrogram of a batch of waveforms.

        Args:
            audio (Tensor): waveforms, (B, T_audio), any float dtype (computed in the bases'
                dtype); T_audio must exceed filter_length // 2 for the reflect padding.

        Returns:
            (magnitude, phase), each (B, n_fft // 2 + 1, F) with F = T_audio // hop_length + 1:
            magnitude = sqrt(re² + im²) (not power); phase = atan2(im, re) in radians, detached
            from autograd as in the reference.
        """
        if audio.dim() != 2:
            raise AudioError(f"STFT input: expected audio of shape (B, T_audio), "
                             f"found shape {tuple(audio.shape)}")
        pad = self.filter_length // 2
        if audio.size(1) <= pad:
            raise AudioError(f"STFT input: expected more than {pad} samples (reflect padding of "
                             f"half the filter length), found {audio.size(1)}")
        audio = audio.to(self.forward_basis.dtype)
        # (B, T_audio) -> (B, 1, T_audio + n_fft): reflect does not repeat the edge sample.
        padded = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect")
        spectrum = F.conv1d(padded, self.forward_basis, stride=self.hop_length)  # (B, 2·n_freq, F)
        real, imag = spectrum[:, :self.n_freq], spectrum[:, self.n_freq:]
        magnitude = torch.sqrt(real**2 + imag**2)
        phase = torch.atan2(imag.detach(), real.detach())
        return magnitude, phase

    def inverse(self, magnitude: Tensor, phase: Tensor) -> Tensor:
        """Waveforms from magnitude and phase (overlap-add with window-sum-square normalisation).

        Args:
            magnitude (Tensor): (B, n_fft // 2 + 1, F).
            phase (Tensor): radians, same shape as ``magnitude``.

        Returns:
            Tensor: (B, 1, (F - 1) * hop_length). The n_fft // 2 samples of padding at both ends
            are trimmed, so the last ``T_audio % hop_length`` samples of a transformed signal are
            not recovered.
        """
        if magnitude.dim() != 3 or magnitude.size(1) != self.n_freq:
            raise AudioError(f"STFT magnitude: expected shape (B, {self.n_freq}, F), "
                             f"found {tuple(magnitude.shape)}")
        if phase.shape != magnitude.shape:
            raise AudioError(f"STFT phase: expected the magnitude's shape {tuple(magnitude.shape)}, "
                             f"found {tuple(phase.shape)}")
        if self.inverse_basis.numel() == 0:
            self.inverse_basis = _inverse_basis(
                self.filter_length, self.hop_length, self.win_length, self.window
            ).to(device=self.forward_basis.device, dtype=self.forward_basis.dtype, copy=True)
        spectrum = torch.cat([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=1)
        # (B, 2·n_freq, F) -> (B, 1, (F - 1)·hop + n_fft)
        signal = F.conv_transpose1d(spectrum, self.inverse_basis, stride=self.hop_length)
        envelope = _window_sumsquare(self.window, magnitude.size(-1), self.hop_length,
                                     self.win_length, self.filter_length)
        envelope = envelope.to(device=signal.device, dtype=signal.dtype)
        # Only samples with a usable envelope are divided; dividing the others by 1 instead of
        # masking a full division keeps gradients free of 0/0.
        signal = signal / torch.where(envelope > _FLOAT32_TINY, envelope, torch.ones_like(envelope))
        # The pseudo-inverse was taken of scale·basis; undo that scale.
        signal = signal * (float(self.filter_length) / self.hop_length)
        pad = self.filter_length // 2
        return signal[:, :, pad:signal.size(-1) - pad]

    def forward(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """Same as :meth:`transform`: (B, T_audio) -> (magnitude, phase), each (B, n_fft//2+1, F)."""
        return self.transform(audio)

    def extra_repr(self) -> str:
        return (f"filter_length={self.filter_length}, hop_length={self.hop_length}, "
                f"win_length={self.win_length}, window={self.window!r}")
