"""numpy signal processing for the ONNX Runtime engine: STFT, Griffin-Lim, denoiser, WAV writing.

The same arithmetic as :mod:`tacoglow.audio.stft` (NVIDIA's conv-based STFT: reflect padding of
n_fft / 2, periodic Hann window, window-sum-square normalised overlap-add) written with numpy's
FFT instead of convolutions with DFT bases. The inverse basis there is the closed-form
pseudo-inverse D * basis / scale, which is exactly ``irfft`` times the window (the weights D are
irfft's 1/N, 2/N, ..., 2/N, 1/N, and the DC / Nyquist sine rows are zero in both), so the two agree
to float32 rounding (tested against the PyTorch modules). librosa's ``griffinlim`` was not used: it
centres and normalises differently from NVIDIA's STFT, and the point is the PyTorch engine's audio.
"""

from __future__ import annotations

import functools
import io
import os

import numpy as np

from tacoglow.errors import AudioError
from tacoglow.fileio import write_bytes

__all__ = ["denoise", "griffin_lim_vocoder", "istft", "stft", "write_wav"]

_FLOAT32_TINY = float(np.finfo(np.float32).tiny)
_LINEAR_FLOOR = 1e-10  # mel_to_linear's floor: the pseudo-inverse yields small negative values


@functools.lru_cache(maxsize=8)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    """Periodic Hann window of win_length, zero-padded to n_fft (as tacoglow.audio.stft), float32."""
    angle = np.linspace(-np.pi, np.pi, win_length + 1)
    samples = (0.5 + 0.5 * np.cos(angle))[:-1]
    left = (n_fft - win_length) // 2
    return np.pad(samples, (left, n_fft - win_length - left)).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _envelope(n_frames: int, hop: int, n_fft: int, win_length: int) -> np.ndarray:
    """Window sum-square over n_frames frames, (n_fft + hop * (n_frames - 1),) float32."""
    squared = _window(n_fft, win_length).astype(np.float64) ** 2
    length = n_fft + hop * (n_frames - 1)
    envelope = np.zeros(length, dtype=np.float32)
    for frame in range(n_frames):
        start = frame * hop
        envelope[start : start + n_fft] += squared[: max(0, min(n_fft, length - start))]
    return envelope


# The spectra below are frame-major, (F, n_freq): each FFT runs over contiguous memory (along
# axis 0 of an (n_freq, F) array numpy's FFTs are ~3x slower).


def _spectrum(audio: np.ndarray, n_fft: int, hop: int, win_length: int) -> np.ndarray:
    """audio (T,) -> complex spectrum (T // hop + 1, n_fft // 2 + 1)."""
    pad = n_fft // 2
    if audio.shape[-1] <= pad:
        raise AudioError(f"STFT input: expected more than {pad} samples, found {audio.shape[-1]}")
    padded = np.pad(audio.astype(np.float32), (pad, pad), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]  # (F, n_fft)
    return np.fft.rfft(frames * _window(n_fft, win_length), axis=1)


def _inverse_spectrum(spectrum: np.ndarray, n_fft: int, hop: int, win_length: int) -> np.ndarray:
    """Complex spectrum (F, n_freq) -> audio ((F - 1) * hop,) float32 (padding trimmed)."""
    n_frames = spectrum.shape[0]
    frames = (np.fft.irfft(spectrum, n=n_fft, axis=1) * _window(n_fft, win_length)).astype(np.float32)
    length = n_fft + hop * (n_frames - 1)
    # Overlap-add in hop-sized blocks: frame t covers blocks t .. t + blocks - 1 (the frame
    # zero-padded to a whole number of blocks): `blocks` vector adds instead of one per frame.
    blocks = -(-n_fft // hop)
    frames = np.pad(frames, ((0, 0), (0, blocks * hop - n_fft))).reshape(n_frames, blocks, hop)
    summed = np.zeros((n_frames + blocks - 1, hop), dtype=np.float32)
    for block in range(blocks):
        summed[block : block + n_frames] += frames[:, block]
    signal = summed.reshape(-1)[:length]
    envelope = _envelope(n_frames, hop, n_fft, win_length)
    signal = signal / np.where(envelope > _FLOAT32_TINY, envelope, np.float32(1.0))
    pad = n_fft // 2
    return signal[pad : length - pad]


def stft(audio: np.ndarray, n_fft: int, hop: int, win_length: int) -> tuple[np.ndarray, np.ndarray]:
    """audio (T,) -> magnitude, phase, each (n_fft // 2 + 1, T // hop + 1) float32."""
    spectrum = _spectrum(audio, n_fft, hop, win_length).T
    return np.abs(spectrum).astype(np.float32), np.angle(spectrum).astype(np.float32)


def istft(magnitude: np.ndarray, phase: np.ndarray, n_fft: int, hop: int, win_length: int) -> np.ndarray:
    """(n_freq, F) magnitude and phase -> audio ((F - 1) * hop,) float32 (padding trimmed)."""
    return _inverse_spectrum((magnitude * np.exp(1j * phase)).T, n_fft, hop, win_length)


def griffin_lim_vocoder(
    mel: np.ndarray,
    mel_pinv: np.ndarray,
    rng: np.random.Generator,
    n_fft: int,
    hop: int,
    win_length: int,
    # tacoglow.audio.griffin_lim's GRIFFIN_LIM_ITERS and GRIFFIN_LIM_POWER (not imported: this module runs without torch)
    n_iters: int = 30,
    power: float = 1.2,
) -> np.ndarray:
    """``tacoglow.audio.GriffinLim``'s recipe: log-mel (n_mels, T_mel) -> audio (T_mel * hop,) float32.

    exp -> filterbank pseudo-inverse ``mel_pinv`` (n_freq, n_mels) -> sharpen by ``power``
    relative to the peak -> pad silent frames -> Griffin-Lim from a uniform phase drawn by ``rng``.
    """
    n_frames = mel.shape[1]
    if n_frames == 0:
        return np.zeros(0, dtype=np.float32)
    magnitude = np.maximum(mel_pinv @ np.exp(mel.astype(np.float32)), np.float32(_LINEAR_FLOOR))
    if power != 1.0:
        peak = magnitude.max()
        magnitude = peak * (magnitude / peak) ** np.float32(power)
    min_frames = n_fft // 2 // hop + 2
    magnitude = np.pad(magnitude, ((0, 0), (0, max(1, min_frames - n_frames)))).astype(np.float32)
    phase = rng.random(magnitude.shape, dtype=np.float32) * np.float32(2 * np.pi) - np.float32(np.pi)
    signal = istft(magnitude, phase, n_fft, hop, win_length)
    target = np.ascontiguousarray(magnitude.T)
    for _ in range(n_iters):
        spectrum = _spectrum(signal, n_fft, hop, win_length)
        # target · e^{i·angle(spectrum)}, 0 where the spectrum is 0 (as tacoglow.audio.griffin_lim)
        scale = target / np.maximum(np.abs(spectrum), np.float32(_FLOAT32_TINY))
        signal = _inverse_spectrum(spectrum * scale, n_fft, hop, win_length)
    return signal[: n_frames * hop]


def denoise(audio: np.ndarray, bias: np.ndarray, strength: float, n_fft: int, hop: int, win_length: int) -> np.ndarray:
    """``Denoiser``: subtract strength * bias (n_freq,) from every frame's magnitude; (T,) -> (hop * (T // hop),)."""
    magnitude, phase = stft(audio, n_fft, hop, win_length)
    magnitude = np.maximum(magnitude - bias[:, None] * np.float32(strength), np.float32(0.0))
    return istft(magnitude, phase, n_fft, hop, win_length)


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int, float32: bool = False) -> None:
    """Write a mono WAV with :func:`tacoglow.fileio.atomic_write`: 16-bit PCM (clipped to [-1, 1])
    or 32-bit float; ``-`` writes to stdout.

    Raises:
        AudioError: empty or non-finite audio, or an unwritable folder (no partial file is left).
    """
    import soundfile as sf

    name = os.fspath(path)
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1 or samples.size == 0:
        raise AudioError(f"{name}: expected audio of shape (T_audio,) with T_audio > 0, found {samples.shape}")
    if not np.isfinite(samples).all():
        raise AudioError(f"{name}: expected finite samples, found NaN or infinity")
    subtype = "FLOAT" if float32 else "PCM_16"
    if not float32:
        samples = np.clip(samples, -1.0, 1.0)
    # Rendered in memory first: a WAV header needs the length, which stdout or a pipe cannot seek back to.
    buffer = io.BytesIO()
    sf.write(buffer, samples, int(sample_rate), subtype=subtype, format="WAV")
    write_bytes(path, buffer.getvalue(), error=AudioError)
