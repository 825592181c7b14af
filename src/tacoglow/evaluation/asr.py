"""Offline speech recognizers for measuring intelligibility, each an optional extra.

Two engines, picked by name with :func:`load_asr`:

- ``"pocketsphinx"`` (``pip install 'tacoglow[asr]'``): CMU PocketSphinx with the US English
  acoustic model, language model and dictionary that ship inside its wheel. Small and fast, but
  weak on synthetic speech.
- ``"whisper"`` (``pip install 'tacoglow[whisper]'``): faster-whisper (CTranslate2). The model is a
  name faster-whisper knows (default ``tiny.en``; ``base.en``, ``small``, ...), which faster-whisper
  fetches from the Hugging Face hub into its cache on first use as it always does, or a local
  CTranslate2 model directory (``model.bin``, ``config.json``, ``tokenizer.json``,
  ``vocabulary.txt``) for machines without internet.

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

__all__ = ["ASR_ENGINES", "ASREngine", "DEFAULT_WHISPER_MODEL", "PocketSphinxEngine", "WhisperEngine", "load_asr"]

ASR_ENGINES = ("pocketsphinx", "whisper")
"""Names :func:`load_asr` accepts."""

DEFAULT_WHISPER_MODEL = "tiny.en"
"""The Whisper model evaluation tables report unless told otherwise (the model card's figures)."""

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
            raise AudioError(
                f"{self.name} input: expected mono audio (T_audio,) with T_audio > 0, found shape {tuple(audio.shape)}"
            )
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
        raise ConfigError(
            f"ASR engine {engine!r} is not installed: pip install 'tacoglow[{extra}]' (or pip install {package})"
        ) from None


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


class WhisperEngine(ASREngine):
    """faster-whisper (CTranslate2); English, beam search at temperature 0.

    Args:
        model: a model name faster-whisper knows (``"tiny.en"``, ``"base.en"``, ...; fetched into
            its cache on first use) or a CTranslate2 Whisper model folder.
        beam_size: beam width of the decoder (faster-whisper's default, 5).
        cpu_threads: CTranslate2 threads; None uses torch's intra-op thread count.
        device: "cpu" or "cuda".

    Raises:
        ConfigError: faster-whisper missing, a folder without ``model.bin`` / ``config.json``, or a
            model name that cannot be loaded (unknown, or not cached and no network).

    >>> engine = WhisperEngine("tiny.en")  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_WHISPER_MODEL,
        *,
        beam_size: int = 5,
        cpu_threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        faster_whisper = _import_engine("faster_whisper", "whisper", "whisper", "faster-whisper")
        if beam_size < 1:
            raise ConfigError(f"WhisperEngine beam_size: expected an integer >= 1, found {beam_size}")
        folder = Path(model)
        is_folder = folder.is_dir()
        if is_folder:
            missing = [f for f in _WHISPER_FILES if not (folder / f).is_file()]
            if missing:
                raise ConfigError(
                    f"{folder}: expected a CTranslate2 Whisper model directory, found no {' or '.join(missing)}"
                )
            self.name = f"whisper:{folder.name}" if folder.name != "model" else f"whisper:{folder.parent.name}"
        elif isinstance(model, os.PathLike) or os.sep in str(model):
            raise ConfigError(
                f"Whisper model {str(model)!r}: expected a model name such as {DEFAULT_WHISPER_MODEL!r} "
                f"or an existing CTranslate2 model directory, found no such directory"
            )
        else:
            self.name = f"whisper:{model}"
        self.model = str(model)
        self._beam_size = beam_size
        threads = torch.get_num_threads() if cpu_threads is None else cpu_threads
        # int8 on CPU: CTranslate2's fast path, float16 on GPUs.
        compute_type = "int8" if device == "cpu" else "float16"
        try:
            self._model = faster_whisper.WhisperModel(
                str(model), device=device, compute_type=compute_type, cpu_threads=threads, local_files_only=is_folder
            )
        except (OSError, ValueError, RuntimeError) as error:  # unknown name, offline, unreadable model
            raise ConfigError(
                f"Whisper model {str(model)!r}: could not be loaded ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else 'no detail'}); without internet, "
                f"pass a local CTranslate2 Whisper model directory"
            ) from None

    def _transcribe_16k(self, audio: np.ndarray) -> str:
        # temperature 0 only: faster-whisper otherwise falls back to sampling on hard inputs,
        # and the same audio could give different transcripts from run to run.
        segments, _ = self._model.transcribe(
            audio,
            language="en",
            beam_size=self._beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            vad_filter=False,
            without_timestamps=True,
        )
        return " ".join(segment.text.strip() for segment in segments)


def load_asr(name: str, *, whisper_model: str | os.PathLike[str] | None = None) -> ASREngine:
    """Build an ASR engine by name.

    Args:
        name: "pocketsphinx" or "whisper".
        whisper_model: for "whisper", a model name or directory (None: :data:`DEFAULT_WHISPER_MODEL`).

    Raises:
        ConfigError: an unknown name, or an engine that is not installed (the message gives the
            pip command), or a bad Whisper model directory.
    """
    if name == "pocketsphinx":
        if whisper_model is not None:
            raise ConfigError(
                "whisper_model: only the 'whisper' ASR engine takes a model directory, found it with 'pocketsphinx'"
            )
        return PocketSphinxEngine()
    if name == "whisper":
        return WhisperEngine(DEFAULT_WHISPER_MODEL if whisper_model is None else whisper_model)
    raise ConfigError(f"ASR engine: expected one of {', '.join(ASR_ENGINES)}, found {name!r}")
