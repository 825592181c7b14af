"""Denoiser: subtracts WaveGlow's own bias spectrum from its output (NVIDIA's ``Denoiser``).

A WaveGlow run on an all-zero mel (log-mel 0, not silence) at σ = 0 gives a faint steady hiss
characteristic of that model. Its STFT magnitude (first frame only) is scaled by ``strength`` and
subtracted from every frame of the audio to clean; the magnitude is clamped at 0 and the audio
rebuilt with its own phase (ARCHITECTURE_FACTS.md §5.10, checkpoint_layout.md §1.3).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from tacoglow.audio.stft import STFT
from tacoglow.errors import AudioError, ConfigError
from tacoglow.models.waveglow_config import WaveGlowConfig

__all__ = ["Denoiser", "WaveGlowLike"]


class WaveGlowLike(Protocol):
    """What the Denoiser reads of a vocoder: a :class:`~tacoglow.models.waveglow.WaveGlow`, or one
    prepared by :func:`tacoglow.inference.fast_waveglow.prepare_waveglow` (the bias then comes
    from the very arithmetic that makes the audio)."""

    config: WaveGlowConfig
    upsample: nn.ConvTranspose1d  # its weight gives the dtype and device of the bias run

    def infer(self, mel: Tensor, sigma: float = 1.0, generator: torch.Generator | None = None) -> Tensor: ...


BIAS_MEL_FRAMES = 88
"""Frames of the bias mel (22,528 samples); fixed by the reference, and the bias depends on it."""


class Denoiser(nn.Module):
    """Removes a WaveGlow model's bias (hiss) from audio by spectral subtraction.

    Building it runs ``waveglow.infer`` once on a (1, n_mels, 88) mel at σ = 0. Like NVIDIA's,
    that run draws its noise from the global torch RNG (3 ``randn`` calls at default size, one
    per noise draw of :meth:`WaveGlow.infer`; one more for ``mode="normal"``) even though σ = 0
    makes the noise irrelevant: a seeded script that builds the Denoiser before synthesising
    therefore reproduces the reference only if it consumes the RNG the same way. Pass
    ``generator`` to leave the global RNG untouched instead.

    Args:
        waveglow (WaveGlowLike): the vocoder whose bias is removed (any dtype or device; not kept).
        filter_length (int): STFT size n_fft. Default 1024.
        n_overlap (int): frames per window; hop = filter_length // n_overlap. Default 4.
        win_length (int): Hann window length. Default 1024.
        mode (str): bias mel, ``"zeros"`` (log-mel 0, the reference default) or ``"normal"``
            (standard-normal log-mel).
        generator (torch.Generator, optional): RNG for the bias run (on the model's device);
            the global RNG when None.

    Buffers:
        bias_spec: (1, filter_length // 2 + 1, 1) float32, the bias magnitude.

    Example:
        >>> from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig
        >>> waveglow = WaveGlow(WaveGlowConfig(n_flows=2, n_layers=1, n_channels=4)).eval()
        >>> denoiser = Denoiser(waveglow)
        >>> denoiser(torch.randn(2, 4000), strength=0.01).shape   # (B, 1, 256 · (T // 256))
        torch.Size([2, 1, 3840])
    """

    bias_spec: Tensor

    def __init__(
        self,
        waveglow: WaveGlowLike,
        filter_length: int = 1024,
        n_overlap: int = 4,
        win_length: int = 1024,
        mode: str = "zeros",
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if isinstance(n_overlap, bool) or not isinstance(n_overlap, int) or n_overlap < 1:
            raise ConfigError(f"Denoiser n_overlap: expected a positive integer, found {n_overlap!r}")
        if mode not in ("zeros", "normal"):
            raise ConfigError(f"Denoiser mode: expected 'zeros' or 'normal', found {mode!r}")
        weight = waveglow.upsample.weight
        self.stft = STFT(filter_length, filter_length // n_overlap, win_length).to(weight.device)
        shape = (1, waveglow.config.n_mel_channels, BIAS_MEL_FRAMES)
        if mode == "zeros":
            mel = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
        else:
            mel = torch.randn(shape, generator=generator, device=weight.device).to(weight.dtype)
        with torch.no_grad():
            bias_audio = waveglow.infer(mel, sigma=0.0, generator=generator).float()
            bias_spec, _ = self.stft.transform(bias_audio)
        # Only the first frame: it is broadcast over every frame of the audio to clean.
        self.register_buffer("bias_spec", bias_spec[:, :, :1].contiguous())

    def forward(self, audio: Tensor, strength: float = 0.1) -> Tensor:
        """Subtract ``strength`` × the bias magnitude from every frame of ``audio``.

        Args:
            audio (Tensor): waveforms, (B, T_audio), any float dtype; computed in float32.
                T_audio must exceed filter_length // 2.
            strength (float): how much of the bias to remove, >= 0. NVIDIA's scripts use 0.01;
                0.1 is the reference's default argument.

        Returns:
            Tensor: float32 audio, (B, 1, T') with T' = hop · (T_audio // hop).
        """
        if audio.dim() != 2:
            raise AudioError(f"Denoiser audio: expected (B, T_audio), found {tuple(audio.shape)}")
        if strength < 0:
            raise ConfigError(f"Denoiser strength: expected >= 0, found {strength}")
        audio = audio.to(device=self.bias_spec.device, dtype=torch.float32)
        magnitude, phase = self.stft.transform(audio)
        magnitude = torch.clamp(magnitude - self.bias_spec * strength, 0.0)
        return self.stft.inverse(magnitude, phase)
