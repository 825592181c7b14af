"""The vocoder stage of synthesis: mel spectrograms → audio.

A :class:`Vocoder` is anything with a ``mel_config`` (its mel contract, hence its
``sample_rate``) that turns a batch of log-mels and their lengths into audio and its lengths.
Two ship with tacoglow: :class:`WaveGlowVocoder` (NVIDIA's WaveGlow, with its denoiser) and
:class:`GriffinLimVocoder` (no network: quick, lower quality). Both vocode each row on its own
(on a CPU WaveGlow is arithmetic-bound already at batch 1: batching it would only add padding),
so a row's audio does not depend on what it was batched with, and both draw their randomness
only from the generator passed in, never from shared state.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from tacoglow.audio import MelConfig
from tacoglow.audio.griffin_lim import GRIFFIN_LIM_ITERS, GRIFFIN_LIM_POWER, GriffinLim
from tacoglow.checkpoints import LoadedModel, load_model
from tacoglow.errors import AudioError, ConfigError
from tacoglow.inference.fast_waveglow import PreparedWaveGlow, prepare_waveglow
from tacoglow.inference.settings import check_number, resolve_device, resolve_precision
from tacoglow.inference.timing import StageTimes
from tacoglow.models.denoiser import Denoiser
from tacoglow.models.waveglow import HOP_LENGTH, WaveGlow

__all__ = ["GriffinLimVocoder", "Vocoder", "WaveGlowVocoder", "load_waveglow_for_inference"]

WaveGlowSource = WaveGlow | LoadedModel | str | os.PathLike


@runtime_checkable
class Vocoder(Protocol):
    """Log-mel → audio. Implementations hold no per-call state (one may serve several threads).

    Attributes:
        name: short name for reports ("waveglow", "griffin-lim").
        mel_config: the mel contract it reads (sample rate, hop length, mel bands).
        device: where it runs; mels may come from any device.
    """

    name: str
    mel_config: MelConfig
    device: torch.device

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        ...

    def __call__(
        self,
        mel: Tensor,
        lengths: Tensor,
        generator: torch.Generator | None = None,
        *,
        timings: StageTimes | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Audio for a batch of natural-log mels.

        Args:
            mel: (B, n_mels, T_mel), any float dtype and device; frames past a row's length are ignored.
            lengths: (B,) int64, frames of each row.
            generator: draws the randomness (on :attr:`device`); rows draw from it in order.
            timings: receives the ``waveglow`` (vocoder) and ``denoiser`` stage times if given.

        Returns:
            (audio (B, max(lengths) · hop_length) float32 on :attr:`device`, zero past each row's
            end; audio_lengths (B,) int64 = lengths · hop_length).
        """
        ...


def _check_batch(mel: Tensor, lengths: Tensor, mel_config: MelConfig) -> list[int]:
    if mel.dim() != 3 or mel.size(1) != mel_config.n_mel_channels:
        raise AudioError(
            f"vocoder input: expected a log-mel of shape (B, {mel_config.n_mel_channels}, T_mel), "
            f"found {tuple(mel.shape)}"
        )
    frames = [int(n) for n in lengths.tolist()] if lengths.dim() == 1 else []
    if len(frames) != mel.size(0) or any(not 0 <= n <= mel.size(2) for n in frames):
        raise AudioError(
            f"vocoder lengths: expected {mel.size(0)} frame counts in [0, {mel.size(2)}], found {lengths.tolist()}"
        )
    return frames


def _stack(rows: list[Tensor], frames: list[int], hop: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Rows of audio → (B, max length) zero-padded, and their lengths."""
    audio = torch.zeros(len(rows), max(frames, default=0) * hop, device=device)
    for row, samples in enumerate(rows):
        audio[row, : samples.numel()] = samples
    return audio, torch.tensor(frames, dtype=torch.int64) * hop


def _vocode_rows(
    mel: Tensor, lengths: Tensor, mel_config: MelConfig, device: torch.device, vocode: Callable[[Tensor, int], Tensor]
) -> tuple[Tensor, Tensor]:
    """Vocode each row of a padded batch alone, ``vocode(mel (1, n_mels, T_mel), T_mel) -> (T_audio,)``, and stack.

    One row at a time: on a CPU both vocoders are arithmetic-bound at batch 1 already, so a batch
    would only add the padding's work.
    """
    frames = _check_batch(mel, lengths, mel_config)
    rows = []
    for row, n_frames in enumerate(frames):
        if n_frames == 0:
            rows.append(torch.zeros(0, device=device))
            continue
        rows.append(vocode(mel[row : row + 1, :, :n_frames].to(device), n_frames))
    return _stack(rows, frames, mel_config.hop_length, device)


def load_waveglow_for_inference(
    source: WaveGlowSource, mel_config: MelConfig | None, device: torch.device, dtype: torch.dtype
) -> tuple[PreparedWaveGlow, MelConfig]:
    """A WaveGlow ready for inference: loaded and prepared (weight norm fused) on ``device`` in ``dtype``.

    Args:
        source: a checkpoint path, a ``LoadedModel`` or a ``WaveGlow`` (left unchanged, see
            :func:`prepare_waveglow`).
        mel_config: mel contract of a model object given without one (default: NVIDIA's audio
            settings with the model's number of mel channels). Checkpoints state their own.

    Raises:
        ConfigError: not a WaveGlow, or a mel contract it cannot read (hop length, channels).
        CheckpointError: a checkpoint file is missing, corrupt or of the wrong kind.
    """
    mel: MelConfig | None
    if isinstance(source, (str, os.PathLike)):
        loaded = load_model(source, "waveglow")
        model, mel = loaded.model, loaded.mel_config
    elif isinstance(source, LoadedModel):
        model, mel = source.model, source.mel_config
    else:
        model, mel = source, mel_config
    if not isinstance(model, WaveGlow):
        raise ConfigError(f"waveglow: expected a WaveGlow model or checkpoint, found {type(model).__name__}")
    contract = mel or MelConfig(n_mel_channels=model.config.n_mel_channels)
    if contract.hop_length != HOP_LENGTH:
        raise ConfigError(
            f"WaveGlow upsamples by {HOP_LENGTH} samples per frame, its mel contract says "
            f"hop_length={contract.hop_length}"
        )
    if contract.n_mel_channels != model.config.n_mel_channels:
        raise ConfigError(
            f"WaveGlow takes {model.config.n_mel_channels} mel channels, its mel "
            f"contract says n_mel_channels={contract.n_mel_channels}"
        )
    # Composed once for this dtype and device (weight norm fused in float32 first, as NVIDIA's).
    return prepare_waveglow(model, dtype, device), contract


class WaveGlowVocoder:
    """NVIDIA's WaveGlow, then its denoiser: the tacoglow :class:`Vocoder` for NVIDIA-quality audio.

    Args:
        model: a WaveGlow prepared for inference (see :meth:`load` and :func:`prepare_waveglow`),
            or a plain ``WaveGlow`` in eval mode (NVIDIA's arithmetic, slower); used on its device
            in its dtype.
        mel_config: its mel contract (default: NVIDIA's audio settings with its mel channels).
        sigma: noise scale, >= 0 (0.6 as NVIDIA's benchmark; training used 1.0).
        denoise: denoiser strength, >= 0 (0 turns it off; NVIDIA's scripts use 0.01). The
            denoiser's bias is computed here once.

    Raises:
        ConfigError: a setting out of range.
    """

    name = "waveglow"

    def __init__(
        self,
        model: WaveGlow | PreparedWaveGlow,
        mel_config: MelConfig | None = None,
        *,
        sigma: float = 0.6,
        denoise: float = 0.01,
    ) -> None:
        check_number("sigma", sigma, 0.0)
        check_number("denoise strength", denoise, 0.0)
        self.model = model
        self.mel_config = mel_config or MelConfig(n_mel_channels=model.config.n_mel_channels)
        self.sigma = float(sigma)
        self.denoise = float(denoise)
        if isinstance(model, PreparedWaveGlow):
            self.device, self.dtype = model.device, model.dtype
        else:
            parameter = next(model.parameters())
            self.device, self.dtype = parameter.device, parameter.dtype
        self.denoiser: Denoiser | None = None
        if self.denoise > 0:
            # Its bias run would advance the global RNG; a private generator leaves it alone.
            generator = torch.Generator(self.device).manual_seed(0)
            self.denoiser = Denoiser(model, generator=generator).to(self.device)

    @classmethod
    def load(
        cls,
        source: WaveGlowSource,
        *,
        mel_config: MelConfig | None = None,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        sigma: float = 0.6,
        denoise: float = 0.01,
    ) -> WaveGlowVocoder:
        """Load a WaveGlow for inference (see :func:`load_waveglow_for_inference`) and wrap it.

        ``precision``: "fp32", "bf16" (GPU, or a CPU with AVX512-BF16 or AMX; on other CPUs it is
        slower than fp32 and warns once) or "fp16" (GPU only).
        """
        check_number("sigma", sigma, 0.0)
        check_number("denoise strength", denoise, 0.0)
        resolved = resolve_device(device)
        model, mel = load_waveglow_for_inference(source, mel_config, resolved, resolve_precision(precision, resolved))
        return cls(model, mel, sigma=sigma, denoise=denoise)

    @property
    def sample_rate(self) -> int:
        return self.mel_config.sampling_rate

    def __call__(
        self,
        mel: Tensor,
        lengths: Tensor,
        generator: torch.Generator | None = None,
        *,
        timings: StageTimes | None = None,
    ) -> tuple[Tensor, Tensor]:
        """See :meth:`Vocoder.__call__`."""
        timings = timings if timings is not None else StageTimes()
        hop = self.mel_config.hop_length

        def vocode(one: Tensor, n_frames: int) -> Tensor:
            with torch.inference_mode(), timings.stage("waveglow", self.device):
                audio = self.model.infer(one, sigma=self.sigma, generator=generator).float()
            timings.count("audio_samples", audio.size(1))
            audio = audio[0, : n_frames * hop]
            # The STFT inside needs more than half a window of audio.
            if self.denoiser is not None and audio.numel() > self.denoiser.stft.filter_length // 2:
                with torch.inference_mode(), timings.stage("denoiser", self.device):
                    audio = self.denoiser(audio[None], strength=self.denoise)[0, 0]
            return audio

        return _vocode_rows(mel, lengths, self.mel_config, self.device, vocode)


class GriffinLimVocoder:
    """Griffin-Lim phase reconstruction (:class:`tacoglow.audio.GriffinLim`) as a :class:`Vocoder`.

    Needs no weights: a quick way to hear a Tacotron 2 without a WaveGlow, at lower quality.
    The generator draws the initial phase.

    Args:
        mel_config: the mel contract of the mels it will get.
        device: where it runs.
        n_iters, power: see :class:`tacoglow.audio.GriffinLim`.
    """

    name = "griffin-lim"

    def __init__(
        self,
        mel_config: MelConfig | None = None,
        *,
        device: str | torch.device = "cpu",
        n_iters: int = GRIFFIN_LIM_ITERS,
        power: float = GRIFFIN_LIM_POWER,
    ) -> None:
        self.mel_config = mel_config or MelConfig()
        self.device = resolve_device(device)
        self.module = GriffinLim(self.mel_config, n_iters=n_iters, power=power).to(self.device)

    @property
    def sample_rate(self) -> int:
        return self.mel_config.sampling_rate

    def __call__(
        self,
        mel: Tensor,
        lengths: Tensor,
        generator: torch.Generator | None = None,
        *,
        timings: StageTimes | None = None,
    ) -> tuple[Tensor, Tensor]:
        """See :meth:`Vocoder.__call__`."""
        timings = timings if timings is not None else StageTimes()

        def vocode(one: Tensor, n_frames: int) -> Tensor:
            with torch.inference_mode(), timings.stage("waveglow", self.device):
                audio = self.module(one.float(), generator=generator)
            timings.count("audio_samples", audio.size(1))
            return audio[0]

        return _vocode_rows(mel, lengths, self.mel_config, self.device, vocode)
