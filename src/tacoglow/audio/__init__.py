"""Audio features and I/O: NVIDIA-exact STFT and log-mel, Griffin-Lim, WAV reading/writing, resampling."""

from tacoglow.audio.griffin_lim import GriffinLim, griffin_lim
from tacoglow.audio.io import load_wav, resample, save_wav
from tacoglow.audio.mel import (
    MelConfig,
    MelSpectrogram,
    dynamic_range_compression,
    dynamic_range_decompression,
    mel_spectrogram,
    mel_to_linear,
)
from tacoglow.audio.stft import STFT

__all__ = [
    "STFT",
    "MelConfig",
    "MelSpectrogram",
    "mel_spectrogram",
    "dynamic_range_compression",
    "dynamic_range_decompression",
    "mel_to_linear",
    "griffin_lim",
    "GriffinLim",
    "load_wav",
    "save_wav",
    "resample",
]
