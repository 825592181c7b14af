"""Short-time Fourier transform and its inverse, as NVIDIA's Tacotron 2 reference computes them.

In fp32 the transform is bit-exact; the inverse sums the same products in another order (within
4e-7 relative of the reference's transposed convolution; 0.0 on the golden clip).

The forward transform is a strided ``conv1d`` with a windowed real-DFT basis; the inverse is the
reference's ``conv_transpose1d`` with the windowed pseudo-inverse basis, computed as one matrix
product per batch followed by an overlap-add (:func:`torch.nn.functional.fold`), then
window-sum-square normalisation. The forward basis is built by the exact numpy recipe of the
reference (FFT of the identity in float64, cast to float32, then multiplied by the float32
window): building it any other way (cos/sin formulas, windowing in float64) changes the last bits
of every mel.

Start-up costs are kept off the import and out of every call after the first: scipy is imported
only for windows other than Hann, and the bases are built once per process and setting.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tacoglow.errors import AudioError, ConfigError

__all__ = ["STFT"]

# Envelope samples at or below this are left undivided (the reference's `tiny` of a float32 array).
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)


@functools.lru_cache(maxsize=16)
def _periodic_window(window: str, win_length: int) -> np.ndarray:
    """``scipy.signal.get_window(window, win_length, fftbins=True)``, float64, read-only.

    Hann, the only window Tacotron 2 uses, is computed here with scipy's own recipe (the
    ``win_length + 1``-point symmetric cosine sum over ``linspace(-π, π)``, last sample dropped),
    which gives the same bits (tested) without importing ``scipy.signal``: that import costs
    0.5-2 s per process and nothing else on the synthesis path (WaveGlow's denoiser) needs it.
    """
    if window == "hann" and win_length > 1:
        angle = np.linspace(-np.pi, np.pi, win_length + 1)
        samples = (0.5 + 0.5 * np.cos(angle))[:-1]
    else:
        import scipy.signal  # deferred: see above

        samples = np.asarray(scipy.signal.get_window(window, win_length, fftbins=True), dtype=np.float64)
    samples.flags.writeable = False
    return samples


def _padded_window(window: str, win_length: int, n_fft: int) -> np.ndarray:
    """Periodic window of ``win_length`` samples, zero-padded on both sides to ``n_fft`` (float64).

    The padding is ``librosa.util.pad_center``'s (left (n_fft - win_length) // 2, the rest right),
    written with ``np.pad`` because librosa's util module pulls in numba (~1-3 s per process).
    """
    samples = _periodic_window(window, win_length)
    left = (n_fft - win_length) // 2
    return np.pad(samples, (left, n_fft - win_length - left))


@functools.lru_cache(maxsize=64)
def _window_sumsquare(window: str, n_frames: int, hop_length: int, win_length: int, n_fft: int) -> Tensor:
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
        envelope[start : start + n_fft] += squared[: max(0, min(n_fft, length - start))]
    return torch.from_numpy(envelope)


@functools.lru_cache(maxsize=4)
def _dft_basis(filter_length: int) -> np.ndarray:
    """(2 * (n_fft // 2 + 1), n_fft) float64, read-only: DFT real parts (cos(2πkn/N)) stacked on
    imaginary parts (-sin(2πkn/N)), taken from the FFT of the identity exactly as the reference
    does."""
    fourier = np.fft.fft(np.eye(filter_length))[: filter_length // 2 + 1]
    basis = np.vstack([np.real(fourier), np.imag(fourier)])
    basis.flags.writeable = False
    return basis


@functools.lru_cache(maxsize=8)
def _forward_basis(filter_length: int, win_length: int, window: str) -> Tensor:
    """Windowed analysis basis, (2 * (n_fft // 2 + 1), 1, n_fft) float32. Shared: do not modify."""
    fft_window = torch.from_numpy(_padded_window(window, win_length, filter_length)).float()
    # numpy's float64 -> float32 cast rounds to nearest like torch's; it copies the shared array.
    basis = torch.from_numpy(_dft_basis(filter_length)[:, None, :].astype(np.float32))
    # The window is applied in float32 after the cast: multiplying in float64 first differs
    # from the reference by up to 6e-8.
    return basis * fft_window


@functools.lru_cache(maxsize=8)
def _inverse_basis(filter_length: int, hop_length: int, win_length: int, window: str) -> Tensor:
    """Windowed synthesis basis, (2 * (n_fft // 2 + 1), 1, n_fft) float32. Shared: do not modify.

    The reference takes the SVD pseudo-inverse of scale · basis (scale = n_fft / hop, float64),
    which costs 1-13 s for n_fft = 1024. The closed form is used instead: the basis rows are
    orthogonal, basis · basisᵀ = diag(N, N/2, ..., N/2, N | 0, N/2, ..., N/2, 0), so
    pinv(scale · basis)ᵀ = D · basis / scale with D = diag(1/N, 2/N, ..., 2/N, 1/N) on both the
    real and the imaginary half (the two all-zero sine rows get a zero row either way). After the
    float32 cast it equals the SVD result bit for bit in every entry except the ~1% that are
    float64 round-off around an exact zero (|x| < 1e-17 in both, against entries up to 1e-3),
    so outputs do not move; it takes milliseconds.
    """
    fft_window = torch.from_numpy(_padded_window(window, win_length, filter_length)).float()
    n_freq = filter_length // 2 + 1
    weights = np.full(n_freq, 2.0 / filter_length)
    weights[[0, -1]] = 1.0 / filter_length  # DC and Nyquist appear once in a real DFT
    weights = np.concatenate([weights, weights])
    pinv = (weights[:, None] * _dft_basis(filter_length)) * (hop_length / filter_length)
    return torch.from_numpy(pinv[:, None, :]).float() * fft_window


class STFT(nn.Module):
    """Short-time Fourier transform (NVIDIA's conv-based ``STFT``) and its inverse.

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

    def __init__(
        self, filter_length: int = 1024, hop_length: int = 256, win_length: int = 1024, window: str = "hann"
    ) -> None:
        super().__init__()
        for name, value in (("filter_length", filter_length), ("hop_length", hop_length), ("win_length", win_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"STFT {name}: expected a positive integer, found {value!r}")
        if win_length > filter_length:
            raise ConfigError(f"STFT win_length: expected at most filter_length={filter_length}, found {win_length}")
        if filter_length % 2:
            raise ConfigError(f"STFT filter_length: expected an even FFT size, found {filter_length}")
        try:
            forward_basis = _forward_basis(filter_length, win_length, window)
        except ValueError as exc:
            raise ConfigError(f"STFT window: expected a scipy window name, found {window!r} ({exc})") from exc
        self.filter_length = filter_length
        self.hop_length = hop_length
        self.win_length = win_length
        self.window = window
        self.n_freq = filter_length // 2 + 1
        self.register_buffer("forward_basis", forward_basis.clone(), persistent=False)
        # Filled by the first inverse(): transform-only users (mel features) never hold a second
        # basis. Empty until then; follows .to() like any buffer.
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
            raise AudioError(f"STFT input: expected audio of shape (B, T_audio), found shape {tuple(audio.shape)}")
        pad = self.filter_length // 2
        if audio.size(1) <= pad:
            raise AudioError(
                f"STFT input: expected more than {pad} samples (reflect padding of "
                f"half the filter length), found {audio.size(1)}"
            )
        audio = audio.to(self.forward_basis.dtype)
        # (B, T_audio) -> (B, 1, T_audio + n_fft): reflect does not repeat the edge sample.
        padded = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect")
        spectrum = F.conv1d(padded, self.forward_basis, stride=self.hop_length)  # (B, 2·n_freq, F)
        real, imag = spectrum[:, : self.n_freq], spectrum[:, self.n_freq :]
        magnitude = torch.sqrt(real**2 + imag**2)
        phase = torch.atan2(imag.detach(), real.detach())
        return magnitude, phase

    def inverse(self, magnitude: Tensor, phase: Tensor) -> Tensor:
        """Waveforms from magnitude and phase (overlap-add with window-sum-square normalisation).

        Args:
            magnitude (Tensor): (B, n_fft // 2 + 1, F), F >= 1.
            phase (Tensor): radians, same shape as ``magnitude``.

        Returns:
            Tensor: (B, 1, (F - 1) * hop_length). The n_fft // 2 samples of padding at both ends
            are trimmed, so the last ``T_audio % hop_length`` samples of a transformed signal are
            not recovered.
        """
        if magnitude.dim() != 3 or magnitude.size(1) != self.n_freq:
            raise AudioError(f"STFT magnitude: expected shape (B, {self.n_freq}, F), found {tuple(magnitude.shape)}")
        if phase.shape != magnitude.shape:
            raise AudioError(
                f"STFT phase: expected the magnitude's shape {tuple(magnitude.shape)}, found {tuple(phase.shape)}"
            )
        n_frames = magnitude.size(-1)
        if n_frames < 1:
            raise AudioError("STFT magnitude: expected at least 1 frame, found 0")
        if self.inverse_basis.numel() == 0:
            self.inverse_basis = _inverse_basis(self.filter_length, self.hop_length, self.win_length, self.window).to(
                device=self.forward_basis.device, dtype=self.forward_basis.dtype, copy=True
            )
        spectrum = torch.cat([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=1)
        # The reference's conv_transpose1d(spectrum, inverse_basis, stride=hop), as a GEMM and an
        # overlap-add: on CPU torch hands the transposed convolution to oneDNN, which builds a
        # kernel for every new input length (seconds in the worst cases reported), i.e. for
        # every utterance. Same products, summed in another order: within 4e-7 relative.
        # (n_fft, 2·n_freq) @ (B, 2·n_freq, F) -> frames (B, n_fft, F)
        frames = torch.matmul(self.inverse_basis[:, 0].transpose(0, 1), spectrum)
        length = (n_frames - 1) * self.hop_length + self.filter_length
        # Frame t adds into samples [t·hop, t·hop + n_fft): (B, n_fft, F) -> (B, 1, 1, length)
        signal = F.fold(
            frames, output_size=(1, length), kernel_size=(1, self.filter_length), stride=(1, self.hop_length)
        ).view(frames.size(0), 1, length)
        envelope = _window_sumsquare(self.window, n_frames, self.hop_length, self.win_length, self.filter_length)
        envelope = envelope.to(device=signal.device, dtype=signal.dtype)
        # Only samples with a usable envelope are divided; dividing the others by 1 instead of
        # masking a full division keeps gradients free of 0/0.
        signal = signal / torch.where(envelope > _FLOAT32_TINY, envelope, torch.ones_like(envelope))
        # The pseudo-inverse was taken of scale·basis; undo that scale.
        signal = signal * (float(self.filter_length) / self.hop_length)
        pad = self.filter_length // 2
        return signal[:, :, pad : signal.size(-1) - pad]

    def forward(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """Same as :meth:`transform`: (B, T_audio) -> (magnitude, phase), each (B, n_fft//2+1, F)."""
        return self.transform(audio)

    def extra_repr(self) -> str:
        return (
            f"filter_length={self.filter_length}, hop_length={self.hop_length}, "
            f"win_length={self.win_length}, window={self.window!r}"
        )
