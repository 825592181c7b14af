"""Log-mel spectrograms exactly as NVIDIA's Tacotron 2 computes them (``TacotronSTFT``).

mel = log(clamp(mel_basis @ |STFT(audio)|, 1e-5)), with librosa's Slaney mel filterbank and the
conv-based :class:`~tacoglow.audio.stft.STFT`. Natural log of *magnitudes* (not power), so
silence maps to log(1e-5) = -11.5129. :class:`MelConfig` is the mel contract a checkpoint carries.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import librosa
import torch
from torch import Tensor, nn

from tacoglow.audio.stft import STFT
from tacoglow.errors import AudioError, ConfigError

__all__ = [
    "MelConfig",
    "MelSpectrogram",
    "mel_spectrogram",
    "dynamic_range_compression",
    "dynamic_range_decompression",
    "mel_to_linear",
]

# Floor of the pseudo-inverse magnitudes: the pseudo-inverse of a mel filterbank produces small
# negative values, and Griffin-Lim needs non-negative magnitudes.
_LINEAR_FLOOR = 1e-10


@dataclass
class MelConfig:
    """Audio and mel-filterbank settings (NVIDIA's defaults; ``mel_fmax`` 8000, not config.json's 7000)."""

    sampling_rate: int = 22050
    """Sample rate of the audio in Hz."""
    filter_length: int = 1024
    """FFT size n_fft; spectrograms have filter_length // 2 + 1 linear-frequency bins."""
    hop_length: int = 256
    """Samples between mel frames; a clip of T_audio samples gives T_audio // hop_length + 1 frames."""
    win_length: int = 1024
    """Length of the periodic Hann window, at most filter_length (zero-padded to it)."""
    n_mel_channels: int = 80
    """Number of mel bands n_mels."""
    mel_fmin: float = 0.0
    """Lowest filterbank frequency in Hz."""
    mel_fmax: float | None = 8000.0
    """Highest filterbank frequency in Hz, at most sampling_rate / 2; None means sampling_rate / 2."""
    max_wav_value: float = 32768.0
    """Full scale of the reference's 16-bit PCM: training audio is int16 / max_wav_value."""

    def __post_init__(self) -> None:
        for name in ("sampling_rate", "filter_length", "hop_length", "win_length", "n_mel_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"MelConfig.{name}: expected a positive integer, found {value!r}")
        for name in ("mel_fmin", "mel_fmax", "max_wav_value"):
            value = getattr(self, name)
            if value is None and name == "mel_fmax":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"MelConfig.{name}: expected a finite number, found {value!r}")
            setattr(self, name, float(value))
        if self.win_length > self.filter_length:
            raise ConfigError(
                f"MelConfig.win_length: expected at most filter_length={self.filter_length}, found {self.win_length}"
            )
        if self.filter_length % 2:
            raise ConfigError(f"MelConfig.filter_length: expected an even FFT size, found {self.filter_length}")
        nyquist = self.sampling_rate / 2
        fmax = nyquist if self.mel_fmax is None else self.mel_fmax
        if not 0.0 <= self.mel_fmin < fmax <= nyquist:
            raise ConfigError(
                f"MelConfig: expected 0 <= mel_fmin < mel_fmax <= sampling_rate/2 = "
                f"{nyquist:g} Hz, found mel_fmin={self.mel_fmin:g}, mel_fmax={fmax:g}"
            )
        if self.max_wav_value <= 0:
            raise ConfigError(f"MelConfig.max_wav_value: expected a positive number, found {self.max_wav_value!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (what checkpoints store)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> MelConfig:
        """Config from a dict such as :meth:`to_dict` wrote; missing keys take their defaults.

        Raises:
            ConfigError: on keys that are not fields (a misspelt key is never silently dropped)
                or on out-of-range values.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ConfigError(f"MelConfig: unknown keys {unknown}, expected some of {sorted(fields)}")
        return cls(**values)

    def _filterbank_key(self) -> tuple[int, int, int, float, float | None]:
        return (self.sampling_rate, self.filter_length, self.n_mel_channels, self.mel_fmin, self.mel_fmax)


@functools.lru_cache(maxsize=16)
def _mel_basis(sampling_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> Tensor:
    """librosa's Slaney mel filterbank, (n_mels, n_fft // 2 + 1) float32. Shared: do not modify."""
    basis = librosa.filters.mel(sr=sampling_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return torch.from_numpy(basis).float()


@functools.lru_cache(maxsize=16)
def _mel_basis_pinv(sampling_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> Tensor:
    """Pseudo-inverse of the mel filterbank, (n_fft // 2 + 1, n_mels) float32. Do not modify."""
    basis = _mel_basis(sampling_rate, n_fft, n_mels, fmin, fmax)
    return torch.linalg.pinv(basis.double()).float()


def dynamic_range_compression(x: Tensor, C: float = 1.0, clip_val: float = 1e-5) -> Tensor:
    """Natural log of ``x`` clamped below at ``clip_val`` and scaled by ``C``: log(max(x, clip)·C).

    Args:
        x (Tensor): linear mel magnitudes, any shape, e.g. (B, n_mels, T_mel).
    """
    return torch.log(torch.clamp(x, min=clip_val) * C)


def dynamic_range_decompression(x: Tensor, C: float = 1.0) -> Tensor:
    """Inverse of :func:`dynamic_range_compression` above the clip: exp(x) / C (same shape)."""
    return torch.exp(x) / C


class MelSpectrogram(nn.Module):
    """Log-mel spectrogram module (NVIDIA's ``TacotronSTFT.mel_spectrogram``).

    Owns an :class:`STFT` and the buffer ``mel_basis`` (n_mels, filter_length // 2 + 1) float32
    (librosa Slaney filterbank), both derived from ``config`` and so not saved in state dicts.

    >>> mel = MelSpectrogram(MelConfig())
    >>> mel(torch.zeros(2, 22050)).shape  # (B, n_mels, T_audio // hop + 1)
    torch.Size([2, 80, 87])
    """

    mel_basis: Tensor

    def __init__(self, config: MelConfig | None = None) -> None:
        super().__init__()
        self.config = MelConfig() if config is None else config
        cfg = self.config
        self.stft = STFT(cfg.filter_length, cfg.hop_length, cfg.win_length)
        self.register_buffer("mel_basis", _mel_basis(*cfg._filterbank_key()).clone(), persistent=False)

    def forward(self, audio: Tensor) -> Tensor:
        """Log-mel spectrogram of a batch of waveforms.

        Args:
            audio (Tensor): (B, T_audio) float samples in [-1, 1] (int16 PCM / 32768).

        Returns:
            Tensor: natural-log mel, (B, n_mels, T_mel) with T_mel = T_audio // hop_length + 1.
            The STFT magnitudes are detached, so no gradient flows back to the audio.

        Raises:
            AudioError: if ``audio`` is not (B, T_audio) floats in [-1, 1] (e.g. unscaled int16),
                or is too short for the STFT's reflect padding.
        """
        if audio.dim() != 2 or not audio.is_floating_point():
            raise AudioError(
                f"mel input: expected float audio of shape (B, T_audio), found "
                f"{audio.dtype} of shape {tuple(audio.shape)}"
            )
        if audio.numel():
            low, high = (value.item() for value in torch.aminmax(audio))
            if not (math.isfinite(low) and math.isfinite(high)):
                raise AudioError("mel input: expected samples in [-1, 1], found NaN or infinity")
            if low < -1.0 or high > 1.0:
                peak = high if high >= -low else low
                raise AudioError(
                    f"mel input: expected samples in [-1, 1], found peak {peak:.6g} "
                    f"(int16 PCM must be divided by {self.config.max_wav_value:g})"
                )
        magnitude, _ = self.stft.transform(audio)
        mel = torch.matmul(self.mel_basis, magnitude.detach())  # (B, n_mels, T_mel)
        return dynamic_range_compression(mel)


@functools.lru_cache(maxsize=8)
def _cached_mel_module(config_items: tuple[tuple[str, Any], ...], device: str) -> MelSpectrogram:
    return MelSpectrogram(MelConfig(**dict(config_items))).to(device)


def mel_spectrogram(
    audio: Tensor,
    *,
    sampling_rate: int = 22050,
    filter_length: int = 1024,
    hop_length: int = 256,
    win_length: int = 1024,
    n_mel_channels: int = 80,
    mel_fmin: float = 0.0,
    mel_fmax: float | None = 8000.0,
) -> Tensor:
    """Functional :class:`MelSpectrogram`: (B, T_audio) in [-1, 1] -> log-mel (B, n_mels, T_mel).

    The module for each parameter set and device is built once and cached.

    >>> mel_spectrogram(torch.zeros(1, 2205)).shape
    torch.Size([1, 80, 9])
    """
    config = MelConfig(
        sampling_rate=sampling_rate,
        filter_length=filter_length,
        hop_length=hop_length,
        win_length=win_length,
        n_mel_channels=n_mel_channels,
        mel_fmin=mel_fmin,
        mel_fmax=mel_fmax,
    )
    module = _cached_mel_module(tuple(config.to_dict().items()), str(audio.device))
    return module(audio)


def mel_to_linear(mel: Tensor, config: MelConfig) -> Tensor:
    """Approximate linear-frequency magnitudes from *linear* (decompressed) mel magnitudes.

    Uses the pseudo-inverse of the mel filterbank, floored at 1e-10 (the pseudo-inverse yields
    small negative values). Apply :func:`dynamic_range_decompression` to a log-mel first.

    Args:
        mel (Tensor): mel magnitudes (not log), (B, n_mels, T_mel) or (n_mels, T_mel).
        config (MelConfig): the settings the mel was made with.

    Returns:
        Tensor: magnitudes, (B, filter_length // 2 + 1, T_mel) (or without B), mel's dtype.
    """
    if mel.dim() not in (2, 3) or mel.size(-2) != config.n_mel_channels:
        raise AudioError(
            f"mel_to_linear input: expected shape (B, {config.n_mel_channels}, T_mel), found {tuple(mel.shape)}"
        )
    inverse = _mel_basis_pinv(*config._filterbank_key()).to(device=mel.device, dtype=mel.dtype)
    return torch.clamp(torch.matmul(inverse, mel), min=_LINEAR_FLOOR)
