"""Reading, writing and resampling audio files (soundfile / soxr via librosa).

Unlike the reference loader (scipy, int16 assumed, float WAVs come out near-silent), every
integer or float WAV is returned as float32 in [-1, 1]. Files are written atomically.
"""

from __future__ import annotations

import io
import logging
import os

import librosa
import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from tacoglow.errors import AudioError
from tacoglow.fileio import write_bytes

__all__ = ["load_wav", "save_wav", "resample"]

logger = logging.getLogger(__name__)

SUBTYPES = ("PCM_16", "FLOAT")
"""WAV sample formats :func:`save_wav` writes: 16-bit integer PCM or 32-bit float."""


def _check_rate(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise AudioError(f"{name}: expected a positive integer sample rate in Hz, found {value!r}")


def _soxr(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr's high-quality filter, float32 out."""
    out = librosa.resample(
        samples.astype(np.float32, copy=False), orig_sr=int(orig_sr), target_sr=int(target_sr), res_type="soxr_hq"
    )
    return np.ascontiguousarray(out, dtype=np.float32)


def resample(audio: Tensor, orig_sr: int, target_sr: int) -> Tensor:
    """Band-limited resampling (soxr "HQ") along the last axis.

    Args:
        audio (Tensor): (..., T_audio) float samples, e.g. (T_audio,) or (B, T_audio).
        orig_sr (int): sample rate of ``audio`` in Hz.
        target_sr (int): wanted sample rate in Hz.

    Returns:
        Tensor: float32 on ``audio``'s device, (..., ceil(T_audio * target_sr / orig_sr)).
        Not clipped: band-limiting can overshoot full scale slightly.

    >>> resample(torch.zeros(16000), 16000, 22050).shape
    torch.Size([22050])
    """
    _check_rate("resample orig_sr", orig_sr)
    _check_rate("resample target_sr", target_sr)
    if audio.dim() == 0 or audio.size(-1) == 0:
        raise AudioError(f"resample input: expected (..., T_audio) with T_audio > 0, found shape {tuple(audio.shape)}")
    samples = audio.detach().to("cpu", torch.float32).numpy()
    return torch.from_numpy(_soxr(samples, orig_sr, target_sr)).to(audio.device)


def load_wav(
    path: str | os.PathLike[str], sampling_rate: int | None = None, resample: bool = False, mono: bool = True
) -> tuple[Tensor, int]:
    """Read an audio file (WAV, FLAC, ... anything libsndfile reads) as float32 in [-1, 1].

    Integer PCM of any width is scaled by its full scale (int16 / 32768, ...); float files
    are taken as they are, and clipped to [-1, 1] with a warning if they exceed it.

    Args:
        path: the file.
        sampling_rate (int | None): required rate in Hz; None accepts the file's rate.
        resample (bool): convert a file of another rate to ``sampling_rate`` (soxr HQ, then
            clipped to [-1, 1]) instead of raising.
        mono (bool): average all channels into one.

    Returns:
        (audio, sample_rate): audio is float32, (T_audio,) if ``mono`` else (channels, T_audio);
        sample_rate in Hz (``sampling_rate`` when given).

    Raises:
        AudioError: the file is missing, unreadable, empty or non-finite, or has another rate
            and ``resample`` is False.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise AudioError(f"{name}: file not found")
    if os.path.isdir(name):
        raise AudioError(f"{name}: expected an audio file, found a directory")
    try:
        data, file_sr = sf.read(name, dtype="float32", always_2d=True)  # (T_audio, channels)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = getattr(exc, "error_string", None) or str(exc)
        raise AudioError(f"{name}: not a readable audio file ({reason})") from exc
    if data.shape[0] == 0:
        raise AudioError(f"{name}: expected audio samples, found an empty file")
    if not np.isfinite(data).all():
        raise AudioError(f"{name}: expected finite samples, found NaN or infinity")
    peak = float(np.abs(data).max())
    if peak > 1.0:
        logger.warning("%s: float samples reach %.4g, clipped to [-1, 1]", name, peak)
        np.clip(data, -1.0, 1.0, out=data)
    samples = data.mean(axis=1, dtype=np.float32) if mono else np.ascontiguousarray(data.T)
    if sampling_rate is not None and file_sr != sampling_rate:
        _check_rate("load_wav sampling_rate", sampling_rate)
        if not resample:
            raise AudioError(
                f"{name}: expected {sampling_rate} Hz audio, found {file_sr} Hz (pass resample=True to convert)"
            )
        samples = np.clip(_soxr(samples, file_sr, sampling_rate), -1.0, 1.0)
        file_sr = sampling_rate
    return torch.from_numpy(samples), int(file_sr)


def save_wav(
    path: str | os.PathLike[str], audio: Tensor | np.ndarray, sample_rate: int, subtype: str = "PCM_16"
) -> None:
    """Write a WAV file atomically (:func:`tacoglow.fileio.atomic_write`).

    Args:
        path: the WAV file to create or replace; ``-`` writes it to stdout, a device or FIFO
            is streamed into.
        audio (Tensor | ndarray): float samples, (T_audio,) or (channels, T_audio); clipped to
            [-1, 1] for PCM_16.
        sample_rate (int): in Hz.
        subtype (str): "PCM_16" (16-bit integer) or "FLOAT" (32-bit float, unclipped).

    Raises:
        AudioError: bad subtype, shape or non-finite samples, the folder is not writable, or
            the disk is full (no partial file is left behind).
    """
    name = os.fspath(path)
    if subtype not in SUBTYPES:
        raise AudioError(f"save_wav subtype: expected one of {list(SUBTYPES)}, found {subtype!r}")
    _check_rate("save_wav sample_rate", sample_rate)
    if isinstance(audio, Tensor):
        audio = audio.detach().to("cpu", torch.float32).numpy()
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim not in (1, 2) or samples.shape[-1] == 0:
        raise AudioError(
            f"{name}: expected audio of shape (T_audio,) or (channels, T_audio) with "
            f"T_audio > 0, found shape {samples.shape}"
        )
    if not np.isfinite(samples).all():
        raise AudioError(f"{name}: expected finite samples, found NaN or infinity")
    if subtype == "PCM_16":
        samples = np.clip(samples, -1.0, 1.0)
    frames = samples.T  # soundfile wants (T_audio, channels)

    # Rendered in memory first: a WAV header needs the length, which stdout or a pipe cannot seek back to.
    buffer = io.BytesIO()
    sf.write(buffer, frames, int(sample_rate), subtype=subtype, format="WAV")
    write_bytes(path, buffer.getvalue(), error=AudioError)
