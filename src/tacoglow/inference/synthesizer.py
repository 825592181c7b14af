"""The synthesis pipeline: text → symbol ids → Tacotron 2 mel → vocoder audio → denoiser.

:class:`Synthesizer` is built once (models loaded, weight norm removed, models moved and cast,
the Denoiser's bias computed) and then turns any number of texts into :class:`Utterance` s:

- long texts are split into pieces that fit ``max_decoder_steps``
  (:mod:`tacoglow.inference.text_split`) and joined back with short pauses;
- pieces are batched by length for Tacotron 2 (:mod:`tacoglow.inference.batching`), each piece
  coming out as if decoded alone; results come back **in input order** (NVIDIA's script returns
  them sorted by length);
- every piece is vocoded on its own mel, with noise from its own seeded generator, so its audio
  does not depend on what it was batched with (on CPU WaveGlow is arithmetic-bound already at
  batch 1: batching it would only add padding);
- each piece is checked (did the stop gate fire, did attention reach the end of the text) and
  an unhealthy one is synthesized again with another prenet-dropout seed.

Reproducibility: with ``seed`` set, the same texts and settings give the same audio. The noise
of a piece depends only on (seed, its text, its attempt); the prenet-dropout masks of Tacotron 2
also depend on the batch (they are drawn for all its rows at once). Without ``seed`` a base seed
is drawn from torch's global RNG on each call, so ``torch.manual_seed`` makes runs repeatable.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Optional, Union

import torch
from torch import Tensor, nn

from tacoglow.audio import GriffinLimVocoder, MelConfig, save_wav
from tacoglow.checkpoints import LoadedModel, load_model
from tacoglow.errors import AudioError, ConfigError, TextError
from tacoglow.inference.batching import MelItem, infer_batch, pad_tokens, plan_batches
from tacoglow.inference.fast_tacotron2 import PreparedTacotron2, prepare_tacotron2
from tacoglow.inference.fast_waveglow import PreparedWaveGlow, prepare_waveglow
from tacoglow.inference.text_split import TextPiece, max_chars_for_steps, split_text
from tacoglow.models.denoiser import Denoiser
from tacoglow.models.tacotron2 import Tacotron2
from tacoglow.models.waveglow import HOP_LENGTH, WaveGlow
from tacoglow.system import warn_if_bf16_is_emulated
from tacoglow.text import symbols as DEFAULT_SYMBOLS
from tacoglow.text import TextFrontend

__all__ = [
    "PRECISIONS",
    "MEL_CONTRACT_FIELDS",
    "Segment",
    "StageTimes",
    "Synthesizer",
    "Utterance",
    "attention_health",
    "bundled_voice_paths",
    "check_mel_pair",
]

logger = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
"""Names accepted for ``precision`` and the dtype the models run in."""
MEL_CONTRACT_FIELDS = ("sampling_rate", "hop_length", "n_mel_channels", "mel_fmin", "mel_fmax",
                       "filter_length", "win_length")
"""MelConfig settings a Tacotron 2 and its vocoder must share."""
FINAL_STEPS = 3
"""Decoder steps at the end of an utterance whose attention is checked for reaching the end."""
END_SLACK_TOKENS = 2
"""Tokens before the last that still count as "the end" (final punctuation, a trailing space)."""
COVERED_WEIGHT = 0.5
"""Total attention a token must receive over the utterance to count as covered."""
SILENCE_LOG_MEL = math.log(1e-5)
"""Log-mel of silence (the clamp floor of the mel features), used for pauses between pieces."""

ModelSource = Union[nn.Module, LoadedModel, str, os.PathLike]


def bundled_voice_paths() -> tuple[Optional[Path], Optional[Path]]:
    """The voice shipped inside this installation: (tacotron2.pt, waveglow.pt), None where absent.

    A bundled voice is package data at ``tacoglow/voices/tacotron2.pt`` and
    ``tacoglow/voices/waveglow.pt`` (tacoglow or NVIDIA checkpoint files).
    """
    folder = resources.files("tacoglow") / "voices"
    found = []
    for name in ("tacotron2.pt", "waveglow.pt"):
        entry = folder / name
        found.append(Path(str(entry)) if entry.is_file() else None)
    return found[0], found[1]


def check_mel_pair(tacotron2: MelConfig, vocoder: MelConfig) -> None:
    """Refuse a Tacotron 2 / vocoder pair whose mel contracts differ.

    Raises:
        ConfigError: naming every differing setting of :data:`MEL_CONTRACT_FIELDS` with both values.
    """
    differences = [f"{name} (Tacotron 2: {getattr(tacotron2, name)}, vocoder: {getattr(vocoder, name)})"
                   for name in MEL_CONTRACT_FIELDS if getattr(tacotron2, name) != getattr(vocoder, name)]
    if differences:
        raise ConfigError("Tacotron 2 and vocoder do not share a mel contract, they differ in "
                          + "; ".join(differences))


def attention_health(alignment: Tensor) -> tuple[bool, float]:
    """Whether attention reached the end of the text, and the share of tokens it covered.

    Args:
        alignment: attention weights of one utterance, (T_steps, T_text).

    Returns:
        (reached_end, coverage): reached_end is True when the furthest token attended most
        (argmax) in the last :data:`FINAL_STEPS` steps is one of the last
        ``END_SLACK_TOKENS + 1`` tokens; coverage is the fraction of tokens whose attention,
        summed over all steps, is at least :data:`COVERED_WEIGHT`.
    """
    steps, n_tokens = alignment.shape
    if steps == 0 or n_tokens == 0:
        return False, 0.0
    final = alignment[-min(FINAL_STEPS, steps):].float()
    furthest = int(final.argmax(dim=1).max())
    coverage = float((alignment.float().sum(dim=0) >= COVERED_WEIGHT).float().mean())
    return furthest >= n_tokens - 1 - END_SLACK_TOKENS, coverage


@dataclass
class StageTimes:
    """Wall-clock seconds spent per pipeline stage and counts of what the stages produced.

    Stages: ``text`` (splitting, cleaning, ids to device), ``tacotron2``, ``waveglow`` (the
    vocoder, whichever it is, including the cast to float32) and ``denoiser``. Counts:
    ``mel_frames`` (decoded frames summed over batch rows, padding included, as the reference
    counts them) and ``audio_samples`` (vocoded samples before denoising). CUDA work is
    synchronised at each stage boundary so the split is real.
    """

    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, device: torch.device) -> Iterator[None]:
        """Time the enclosed block and add it to stage ``name``."""
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        try:
            yield
        finally:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def count(self, name: str, amount: int) -> None:
        """Add ``amount`` to counter ``name``."""
        self.counts[name] = self.counts.get(name, 0) + int(amount)


@dataclass(frozen=True)
class Segment:
    """One piece of an utterance as Tacotron 2 synthesized it (a whole utterance unless split).

    Attributes:
        text: the piece's text.
        mel: natural-log mel, (n_mels, T_mel), float32 on CPU.
        alignment: attention weights, (T_steps, T_text), float32 on CPU.
        gate: stop-gate logits, (T_steps,), float32 on CPU.
        stop_gate_fired: False if decoding hit ``max_decoder_steps``.
        attention_reached_end: see :func:`attention_health`.
        attention_coverage: see :func:`attention_health`.
        attempts: how many times it was synthesized (more than 1 after retries).
        pause_after_s: silence inserted after it in the joined audio.
    """

    text: str
    mel: Tensor
    alignment: Tensor
    gate: Tensor
    stop_gate_fired: bool
    attention_reached_end: bool
    attention_coverage: float
    attempts: int
    pause_after_s: float

    @property
    def healthy(self) -> bool:
        """Stop gate fired and attention reached the end of the text."""
        return self.stop_gate_fired and self.attention_reached_end


@dataclass(frozen=True)
class Utterance:
    """Speech for one input text.

    Attributes:
        text: the input text.
        waveform: audio, (T_audio,) float32 on CPU, T_audio = ``mel_length`` · hop_length.
        sample_rate: in Hz.
        mel: natural-log mel, (n_mels, T_mel), T_mel = ``mel_length``; pauses between pieces
            hold the log-mel of silence.
        mel_length: frames of ``mel``.
        alignment: attention weights, (T_steps, T_text) float32; block-diagonal over the pieces
            of a split text (zero rows in the pauses).
        gate: stop-gate logits, (T_steps,); NaN in the pauses.
        segments: the pieces, in order (one when the text was not split).
    """

    text: str
    waveform: Tensor
    sample_rate: int
    mel: Tensor
    mel_length: int
    alignment: Tensor
    gate: Tensor
    segments: tuple[Segment, ...]

    @property
    def stop_gate_fired(self) -> bool:
        """The stop gate fired in every piece."""
        return all(s.stop_gate_fired for s in self.segments)

    @property
    def attention_reached_end(self) -> bool:
        """Attention reached the end of the text in every piece."""
        return all(s.attention_reached_end for s in self.segments)

    @property
    def healthy(self) -> bool:
        """Neither health flag is raised in any piece."""
        return self.stop_gate_fired and self.attention_reached_end

    @property
    def duration_s(self) -> float:
        """Length of the audio in seconds."""
        return self.waveform.numel() / self.sample_rate

    def save(self, path: str | os.PathLike[str], float32: bool = False) -> None:
        """Write the waveform as a WAV file, atomically: 16-bit PCM, or 32-bit float.

        Raises:
            AudioError: empty audio (the stop gate fired at the first step), or an unwritable path.
        """
        if self.waveform.numel() == 0:
            raise AudioError(f"{os.fspath(path)}: no audio to write for {self.text[:40]!r}: the stop gate "
                             f"fired at the first decoder step")
        save_wav(path, self.waveform, self.sample_rate, subtype="FLOAT" if float32 else "PCM_16")


@dataclass
class _Piece:
    """Work item: one piece of one input text."""

    text_index: int
    piece: TextPiece
    ids: list[int]
    item: Optional[MelItem] = None
    attempts: int = 0
    reached_end: bool = False
    coverage: float = 0.0

    @property
    def healthy(self) -> bool:
        return self.item is not None and self.item.stopped and self.reached_end


def _derive_seed(*parts: object) -> int:
    """A 63-bit seed that depends only on ``parts`` (stable across runs and platforms)."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _check_number(name: str, value: object, minimum: float, integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int,) if integer else (int, float)) \
            or not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{name}: expected {kind} >= {minimum:g}, found {value!r}")


def _resolve_device(device: str | torch.device) -> torch.device:
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device: expected 'cpu' or 'cuda[:N]', found {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: CUDA is not available on this machine (torch {torch.__version__})")
    if resolved.type not in ("cpu", "cuda"):
        raise ConfigError(f"device: expected 'cpu' or 'cuda[:N]', found {device!r}")
    return resolved


class Synthesizer:
    """Text to speech with a Tacotron 2 and a vocoder (WaveGlow, or Griffin-Lim).

    The models are loaded and prepared once: WaveGlow by ``prepare_waveglow`` (a new module, the
    given one is left as is), Tacotron 2 moved to ``device`` and cast to ``precision`` (in place:
    pass a copy of a model you want to keep unchanged), and the WaveGlow denoiser's bias is computed.

    Args:
        tacotron2: a Tacotron 2 checkpoint path (NVIDIA's or tacoglow's), a ``LoadedModel``, a
            ``Tacotron2``, or None for the voice bundled with this installation.
        waveglow: a WaveGlow checkpoint path, ``LoadedModel`` or ``WaveGlow``; None uses the
            bundled WaveGlow if any, else Griffin-Lim.
        vocoder: "waveglow" or "griffin-lim"; None picks WaveGlow when one is available.
        mel_config: mel contract of model objects given without one (default: NVIDIA's audio
            settings with the model's number of mel channels). Checkpoints state their own.
        device: "cpu" or "cuda[:N]".
        precision: "fp32", "bf16" (GPU, or a CPU with AVX512-BF16 or AMX; on other CPUs it is
            slower than fp32 and warns once) or "fp16" (GPU only). On a CPU it applies to WaveGlow;
            Tacotron 2 stays float32 (see ``tacotron2_dtype``).
        sigma: WaveGlow noise scale, >= 0 (0.6 as NVIDIA's benchmark; training used 1.0).
        denoise: WaveGlow denoiser strength, >= 0 (0 turns it off; NVIDIA's scripts use 0.01).
        seed: base seed of every random draw (prenet dropout, WaveGlow noise); None draws one
            from torch's global RNG on each call.
        batch_size: pieces decoded together by Tacotron 2.
        max_decoder_steps: decoder step cap (default: the checkpoint's, 2000 for NVIDIA's).
        gate_threshold: stop when sigmoid(gate) exceeds it (default: the checkpoint's, 0.5).
        early_stopping: stop a batch once every item's gate fired. False decodes exactly
            ``max_decoder_steps`` steps and keeps every frame (fixed-length output, for
            benchmarks; the gate is still reported in the health flags).
        prenet_dropout: keep Tacotron 2's always-on prenet dropout (the reference's behaviour,
            which trained models expect); False makes the output deterministic.
        phone_repeats: read every phone this many times (the speaking rate) instead of the checkpoint's
            count; only for voices trained with repeated phones (``data.phone_repeats`` > 1). One
            more than trained reads slower and, for the bundled voice, clearer; None keeps the
            checkpoint's.
        retries: extra attempts, with other dropout seeds, for pieces whose stop gate never fired
            or whose attention did not reach the end (only with prenet dropout on: without it
            every attempt gives the same result).
        split_long_text: split texts that would not fit ``max_decoder_steps``.
        threads: torch CPU threads (process-wide); None leaves torch's setting.

    Raises:
        ConfigError: a setting out of range, a mismatched Tacotron 2 / WaveGlow pair, no
            bundled voice when ``tacotron2`` is None, or ``phone_repeats`` for a voice that reads
            every phone once.
        CheckpointError: a checkpoint file is missing, corrupt or of the wrong kind.

    Example:
        >>> synth = Synthesizer("tacotron2.pt", "waveglow.pt", seed=0)  # doctest: +SKIP
        >>> [utterance] = synth.synthesize("Hello world.")              # doctest: +SKIP
        >>> utterance.waveform.shape, utterance.sample_rate             # doctest: +SKIP
        (torch.Size([40448]), 22050)
        >>> utterance.save("hello.wav")                                 # doctest: +SKIP
    """

    def __init__(
        self,
        tacotron2: ModelSource | None = None,
        waveglow: ModelSource | None = None,
        *,
        vocoder: str | None = None,
        mel_config: MelConfig | None = None,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        sigma: float = 0.6,
        denoise: float = 0.01,
        seed: int | None = None,
        batch_size: int = 8,
        max_decoder_steps: int | None = None,
        gate_threshold: float | None = None,
        early_stopping: bool = True,
        prenet_dropout: bool = True,
        phone_repeats: int | None = None,
        retries: int = 2,
        split_long_text: bool = True,
        threads: int | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"precision: expected one of {', '.join(PRECISIONS)}, found {precision!r}")
        _check_number("sigma", sigma, 0.0)
        _check_number("denoise strength", denoise, 0.0)
        _check_number("batch_size", batch_size, 1, integer=True)
        _check_number("retries", retries, 0, integer=True)
        if max_decoder_steps is not None:
            _check_number("max_decoder_steps", max_decoder_steps, 1, integer=True)
        if gate_threshold is not None and not (isinstance(gate_threshold, (int, float))
                                               and not isinstance(gate_threshold, bool)
                                               and 0.0 <= gate_threshold <= 1.0):
            raise ConfigError(f"gate_threshold: expected a number in [0, 1], found {gate_threshold!r}")
        if seed is not None:
            _check_number("seed", seed, 0, integer=True)
        if vocoder not in (None, "waveglow", "griffin-lim"):
            raise ConfigError(f"vocoder: expected 'waveglow' or 'griffin-lim', found {vocoder!r}")
        if threads is not None:
            _check_number("threads", threads, 1, integer=True)
            torch.set_num_threads(threads)
        self.device = _resolve_device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("precision fp16: needs a CUDA device (CPU half-precision kernels are slow or "
                              "missing); use --precision bf16 on CPU")
        if precision == "bf16" and self.device.type == "cpu":
            warn_if_bf16_is_emulated()
        self.precision = precision
        self.dtype = PRECISIONS[precision]
        # On a CPU, Tacotron 2 stays float32 whatever the precision: its batch-1 decoder step is
        # bound by reading ~71 MB of LSTM weights, and torch's CPU bf16 matrix-vector products are
        # no faster than float32 ones there (measured 2x slower per step with torch 2.13), while
        # float32 keeps the autoregressive decoding (stop step, attention path) exact. WaveGlow,
        # where the arithmetic is, runs in bf16. On a GPU both models run in the chosen precision.
        self.tacotron2_dtype = self.dtype if self.device.type == "cuda" else torch.float32
        self.sigma = float(sigma)
        self.denoise = float(denoise)
        self.seed = seed
        self.batch_size = batch_size
        self.retries = retries
        self.split_long_text = split_long_text

        bundled_tacotron2, bundled_waveglow = bundled_voice_paths()
        if tacotron2 is None:
            if bundled_tacotron2 is None:
                raise ConfigError("no bundled voice in this installation: pass a Tacotron 2 checkpoint "
                                  "(--tacotron2 FILE, and --waveglow FILE for WaveGlow audio)")
            tacotron2 = bundled_tacotron2
        if vocoder == "griffin-lim" and waveglow is not None:
            raise ConfigError("vocoder 'griffin-lim' and a WaveGlow were both given: choose one")
        if waveglow is None and vocoder != "griffin-lim":
            waveglow = bundled_waveglow
            if waveglow is None and vocoder == "waveglow":
                raise ConfigError("vocoder 'waveglow': no WaveGlow given and none bundled: pass a WaveGlow "
                                  "checkpoint (--waveglow FILE) or use Griffin-Lim (--vocoder griffin-lim)")
        self.vocoder_name = "griffin-lim" if waveglow is None else "waveglow"

        overrides: dict[str, object] = {"early_stopping": early_stopping}
        if max_decoder_steps is not None:
            overrides["max_decoder_steps"] = max_decoder_steps
        if gate_threshold is not None:
            overrides["gate_threshold"] = float(gate_threshold)
        if not prenet_dropout:
            overrides["prenet_dropout"] = 0.0
        self.tacotron2, tacotron2_mel, self.symbols, self.text_frontend = self._load_tacotron2(
            tacotron2, mel_config, overrides)
        if phone_repeats is not None:
            self.text_frontend = self.text_frontend.with_phone_repeats(phone_repeats)
        self.mel_config = tacotron2_mel
        # Long text is split by a speaking-rate estimate in symbols, which counts a repeated phone once.
        self._split_frontend = dataclasses.replace(self.text_frontend, phone_repeats=1)
        self.waveglow: Optional[PreparedWaveGlow] = None
        self.denoiser: Optional[Denoiser] = None
        self.griffin_lim: Optional[GriffinLimVocoder] = None
        if waveglow is not None:
            self.waveglow, waveglow_mel = self._load_waveglow(waveglow, mel_config)
            check_mel_pair(tacotron2_mel, waveglow_mel)
            if self.denoise > 0:
                # Its bias run would advance the global RNG; a private generator leaves it alone.
                generator = torch.Generator(self.device).manual_seed(0)
                self.denoiser = Denoiser(self.waveglow, generator=generator).to(self.device)
        else:
            logger.info("no WaveGlow: using the Griffin-Lim vocoder (lower quality)")
            self.griffin_lim = GriffinLimVocoder(tacotron2_mel).to(self.device)
        self._speakable = {i for i, s in enumerate(self.symbols) if s.startswith("@") or s.isalpha()}

    # ------------------------------------------------------------------------------- loading

    def _load_tacotron2(self, source: ModelSource, mel_config: Optional[MelConfig],
                        overrides: dict[str, object]) -> tuple[PreparedTacotron2, MelConfig, list[str], TextFrontend]:
        if isinstance(source, (str, os.PathLike)):
            source = load_model(source, "tacotron2")
        if isinstance(source, LoadedModel):
            model, mel, symbols, frontend = source.model, source.mel_config, source.symbols, source.text_frontend
        else:
            model, mel, symbols, frontend = source, mel_config, None, None
        if not isinstance(model, Tacotron2):
            raise ConfigError(f"tacotron2: expected a Tacotron2 model or checkpoint, found {type(model).__name__}")
        config = dataclasses.replace(model.config, **overrides)
        if config != model.config:
            # Rebuilt rather than patched: the model reads its settings from its config.
            rebuilt = Tacotron2(config)
            rebuilt.load_state_dict(model.state_dict())
            model = rebuilt
        assert isinstance(model, Tacotron2)
        mel = mel or MelConfig(n_mel_channels=model.config.n_mel_channels)
        symbols = list(symbols or DEFAULT_SYMBOLS)
        if mel.n_mel_channels != model.config.n_mel_channels:
            raise ConfigError(f"Tacotron 2 predicts {model.config.n_mel_channels} mel channels, its mel "
                              f"contract says n_mel_channels={mel.n_mel_channels}")
        return prepare_tacotron2(model, self.tacotron2_dtype, self.device), mel, symbols, frontend or TextFrontend()

    def _load_waveglow(self, source: ModelSource, mel_config: Optional[MelConfig]) -> tuple[PreparedWaveGlow, MelConfig]:
        if isinstance(source, (str, os.PathLike)):
            loaded = load_model(source, "waveglow")
            model, mel = loaded.model, loaded.mel_config
        elif isinstance(source, LoadedModel):
            model, mel = source.model, source.mel_config
        else:
            model, mel = source, mel_config
        if not isinstance(model, WaveGlow):
            raise ConfigError(f"waveglow: expected a WaveGlow model or checkpoint, found {type(model).__name__}")
        mel = mel or MelConfig(n_mel_channels=model.config.n_mel_channels)
        if mel.hop_length != HOP_LENGTH:
            raise ConfigError(f"WaveGlow upsamples by {HOP_LENGTH} samples per frame, its mel contract says "
                              f"hop_length={mel.hop_length}")
        if mel.n_mel_channels != model.config.n_mel_channels:
            raise ConfigError(f"WaveGlow takes {model.config.n_mel_channels} mel channels, its mel "
                              f"contract says n_mel_channels={mel.n_mel_channels}")
        # Composed once for this dtype and device (weight norm fused in float32 first, as NVIDIA's).
        return prepare_waveglow(model, self.dtype, self.device), mel

    # ------------------------------------------------------------------------------ helpers

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        return self.mel_config.sampling_rate

    @property
    def max_chars(self) -> int:
        """Characters of cleaned text per piece when splitting long text."""
        return max_chars_for_steps(self.tacotron2.config.max_decoder_steps, self.mel_config.sampling_rate,
                                   self.mel_config.hop_length)

    def _ids(self, text: str) -> list[int]:
        return self.text_frontend.to_sequence(text)

    def _speakable_ids(self, text: str) -> bool:
        return any(i in self._speakable for i in self._ids(text))

    def _prepare(self, texts: Sequence[str]) -> list[_Piece]:
        """Validate ``texts`` and split them into pieces with their symbol ids."""
        pieces: list[_Piece] = []
        for index, text in enumerate(texts):
            where = "text" if len(texts) == 1 else f"text {index + 1}"
            if not isinstance(text, str):
                raise TextError(f"{where}: expected a str, found {type(text).__name__}")
            if not text.strip():
                raise TextError(f"{where}: empty (expected something to say)")
            if not self._speakable_ids(text):
                raise TextError(f"{where}: nothing speakable in {text.strip()[:40]!r} (expected letters or "
                                f"{{ARPAbet}} phones after cleaning)")
            if self.split_long_text:
                split = split_text(text, self.max_chars,
                                   length=lambda piece: len(self._split_frontend.to_sequence(piece)))
            else:
                split = [TextPiece(text.strip(), 0.0)]
            kept: list[_Piece] = []
            for piece in split:
                if self._speakable_ids(piece.text):
                    kept.append(_Piece(index, piece, self._ids(piece.text)))
                elif kept:  # e.g. a lone dash between sentences: keep its pause only
                    kept[-1].piece = TextPiece(kept[-1].piece.text,
                                               max(kept[-1].piece.pause_after_s, piece.pause_after_s))
            kept[-1].piece = TextPiece(kept[-1].piece.text, 0.0)
            pieces.extend(kept)
        return pieces

    # ------------------------------------------------------------------------------- stages

    def _decode(self, pieces: list[_Piece], base_seed: int, timings: StageTimes,
                progress: Callable[[int], None]) -> None:
        """Tacotron 2 on every piece, batched by length; unhealthy pieces retried."""
        pending = list(range(len(pieces)))
        for attempt in range(self.retries + 1):
            for batch in plan_batches([len(pieces[i].ids) for i in pending], self.batch_size):
                indices = [pending[b] for b in batch]
                with timings.stage("text", self.device):
                    text, text_lengths = pad_tokens([pieces[i].ids for i in indices], self.device)
                generator = torch.Generator(self.device).manual_seed(
                    _derive_seed(base_seed, "tacotron2", attempt, [pieces[i].piece.text for i in indices]))
                with timings.stage("tacotron2", self.device):
                    items = infer_batch(self.tacotron2, text, text_lengths, generator,
                                        keep_all_frames=not self.tacotron2.config.early_stopping)
                timings.count("mel_frames", sum(item.decoded_frames for item in items))
                for index, item in zip(indices, items):
                    piece = pieces[index]
                    reached_end, coverage = attention_health(item.emitted_alignment)
                    better = piece.item is None or (item.stopped + reached_end
                                                    > piece.item.stopped + piece.reached_end)
                    piece.attempts += 1
                    if better:
                        piece.item, piece.reached_end, piece.coverage = item, reached_end, coverage
                    if attempt == 0:
                        progress(1)
            pending = [i for i in pending if not pieces[i].healthy]
            if not pending:
                return
            if self.tacotron2.config.prenet_dropout == 0.0 or attempt == self.retries:
                break
            logger.info("retrying %d unhealthy piece(s) with another prenet-dropout seed (attempt %d of %d)",
                        len(pending), attempt + 2, self.retries + 1)
        for i in pending:
            piece, item = pieces[i], pieces[i].item
            assert item is not None
            problem = "the stop gate never fired" if not item.stopped else "attention did not reach the end"
            logger.warning("%s (after %d attempt(s)) for %r", problem, piece.attempts, piece.piece.text[:60])

    def vocode(self, mel: Tensor, seed: int, timings: StageTimes | None = None) -> Tensor:
        """Audio for one mel with the vocoder, then the denoiser (WaveGlow with ``denoise`` > 0).

        Args:
            mel: natural-log mel, (n_mels, T_mel), any float dtype and device.
            seed: seed of the WaveGlow noise (Griffin-Lim: of the initial phase).
            timings: receives the ``waveglow`` and ``denoiser`` stage times if given.

        Returns:
            (T_mel · hop_length,) float32 on the synthesizer's device.
        """
        timings = timings if timings is not None else StageTimes()
        n_samples = mel.size(1) * self.mel_config.hop_length
        if mel.size(1) == 0:
            return torch.zeros(0, device=self.device)
        generator = torch.Generator(self.device).manual_seed(seed)
        mel = mel[None].to(self.device)  # (1, n_mels, T_mel)
        with torch.inference_mode(), timings.stage("waveglow", self.device):
            if self.waveglow is not None:
                audio = self.waveglow.infer(mel, sigma=self.sigma, generator=generator).float()
            else:
                assert self.griffin_lim is not None
                audio = self.griffin_lim(mel.float(), generator=generator)
        timings.count("audio_samples", audio.size(1))
        audio = audio[0, :n_samples]
        # The STFT inside needs more than half a window of audio.
        if self.denoiser is not None and audio.numel() > self.denoiser.stft.filter_length // 2:
            with torch.inference_mode(), timings.stage("denoiser", self.device):
                audio = self.denoiser(audio[None], strength=self.denoise)[0, 0]
        return audio

    def _join(self, text: str, parts: list[tuple[_Piece, Tensor]]) -> Utterance:
        """Pieces of one text → one Utterance (audio, mel, alignment and gate joined with pauses)."""
        hop, sr = self.mel_config.hop_length, self.mel_config.sampling_rate
        nfps = self.tacotron2.config.n_frames_per_step
        waves, mels, gates, alignments, segments = [], [], [], [], []
        for piece, audio in parts:
            item = piece.item
            assert item is not None
            segment = Segment(
                text=piece.piece.text, mel=item.mel.float().cpu(), alignment=item.alignment.float().cpu(),
                gate=item.gate.float().cpu(), stop_gate_fired=item.stopped, attention_reached_end=piece.reached_end,
                attention_coverage=piece.coverage, attempts=piece.attempts, pause_after_s=piece.piece.pause_after_s)
            segments.append(segment)
            waves.append(audio.float().cpu())
            mels.append(segment.mel)
            gates.append(segment.gate)
            alignments.append(segment.alignment)
            pause_steps = round(piece.piece.pause_after_s * sr / hop / nfps)
            if pause_steps:
                n_mels = segment.mel.size(0)
                waves.append(torch.zeros(pause_steps * nfps * hop))
                mels.append(torch.full((n_mels, pause_steps * nfps), SILENCE_LOG_MEL))
                gates.append(torch.full((pause_steps,), float("nan")))
                alignments.append(torch.zeros(pause_steps, 0))
        mel = torch.cat(mels, dim=1)
        return Utterance(
            text=text, waveform=torch.cat(waves), sample_rate=sr, mel=mel, mel_length=mel.size(1),
            alignment=torch.block_diag(*alignments), gate=torch.cat(gates), segments=tuple(segments))

    # -------------------------------------------------------------------------------- entry

    def synthesize(self, texts: str | Sequence[str], *, timings: StageTimes | None = None,
                   progress: Callable[[int], None] | None = None) -> list[Utterance]:
        """Speech for each text, in input order.

        Args:
            texts: one text or a list of texts (one utterance each).
            timings: if given, receives per-stage seconds and counts (see :class:`StageTimes`).
            progress: called with 1 each time a piece has been decoded by Tacotron 2 (for
                progress bars; the total is the number of pieces, at least ``len(texts)``).

        Returns:
            One :class:`Utterance` per text.

        Raises:
            TextError: a text is empty or has nothing speakable (checked before any synthesis).
        """
        single = isinstance(texts, str)
        batch: Sequence[str] = [texts] if single else texts  # type: ignore[list-item]
        if not single and len(batch) == 0:
            raise TextError("texts: expected at least one text, found an empty list")
        timings = timings if timings is not None else StageTimes()
        base_seed = self.seed if self.seed is not None else int(torch.randint(0, 2**62, ()))
        with torch.inference_mode():
            with timings.stage("text", self.device):
                pieces = self._prepare(batch)
            self._decode(pieces, base_seed, timings, progress or (lambda _n: None))
            by_text: list[list[tuple[_Piece, Tensor]]] = [[] for _ in batch]
            for piece in pieces:
                assert piece.item is not None
                seed = _derive_seed(base_seed, "vocoder", piece.piece.text, piece.attempts)
                by_text[piece.text_index].append((piece, self.vocode(piece.item.mel, seed, timings)))
            return [self._join(text, parts) for text, parts in zip(batch, by_text)]

    def count_pieces(self, texts: Sequence[str]) -> int:
        """How many pieces ``texts`` will be split into (the total for ``progress``).

        Raises:
            TextError: as :meth:`synthesize`; use it to validate input before synthesizing.
        """
        return len(self._prepare(texts))
