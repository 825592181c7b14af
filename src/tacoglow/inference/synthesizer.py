"""The synthesis pipeline: text stage → acoustic model → vocoder, composed by :class:`Synthesizer`.

- the text stage (:class:`~tacoglow.inference.text_stage.TextStage`) checks each text, splits
  long ones into pieces that fit ``max_decoder_steps`` and turns them into symbol ids;
- the acoustic model (:class:`~tacoglow.inference.acoustic.AcousticModel`) decodes the pieces
  with Tacotron 2, batched by length, each piece coming out as if decoded alone, and retries
  unhealthy ones (stop gate never fired, attention did not reach the end);
- the vocoder (:class:`~tacoglow.inference.vocoders.Vocoder`: WaveGlow with its denoiser, or
  Griffin-Lim) turns each piece's mel into audio with noise from its own seeded generator;
- the pieces of each text are joined back with short pauses, and results come back **in input
  order** (NVIDIA's script returns them sorted by length).

Reproducibility: with a seed (per call, or the Synthesizer's default), the same texts and
settings give the same audio. The noise of a piece depends only on (seed, its text, its
attempt); the prenet-dropout masks of Tacotron 2 also depend on the batch (they are drawn for all
its rows at once). Without a seed one is drawn from torch's global RNG on each call, so
``torch.manual_seed`` makes runs repeatable.

Threads: a Synthesizer keeps no per-call state (every random draw comes from a generator made
for the call), so one instance may serve several threads at once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from tacoglow.audio import MelConfig, save_wav
from tacoglow.errors import AudioError, ConfigError, TextError
from tacoglow.inference.acoustic import AcousticModel, Decoded, ModelSource, attention_health
from tacoglow.inference.bundled import bundled_voice_paths
from tacoglow.inference.settings import PRECISIONS, check_number, derive_seed
from tacoglow.inference.text_stage import DEFAULT_MAX_TEXT_CHARS, PreparedPiece, TextStage
from tacoglow.inference.timing import StageTimes
from tacoglow.inference.vocoders import GriffinLimVocoder, Vocoder, WaveGlowSource, WaveGlowVocoder

__all__ = [
    "MEL_CONTRACT_FIELDS",
    "PRECISIONS",
    "Segment",
    "StageTimes",
    "Synthesizer",
    "Utterance",
    "attention_health",
    "bundled_voice_paths",
    "check_mel_pair",
    "default_vocoder",
]

MEL_CONTRACT_FIELDS = (
    "sampling_rate",
    "hop_length",
    "n_mel_channels",
    "mel_fmin",
    "mel_fmax",
    "filter_length",
    "win_length",
)
"""MelConfig settings a Tacotron 2 and its vocoder must share."""
SILENCE_LOG_MEL = math.log(1e-5)
"""Log-mel of silence (the clamp floor of the mel features), used for pauses between pieces."""


def check_mel_pair(tacotron2: MelConfig, vocoder: MelConfig) -> None:
    """Refuse a Tacotron 2 / vocoder pair whose mel contracts differ.

    Raises:
        ConfigError: naming every differing setting of :data:`MEL_CONTRACT_FIELDS` with both values.
    """
    differences = [
        f"{name} (Tacotron 2: {getattr(tacotron2, name)}, vocoder: {getattr(vocoder, name)})"
        for name in MEL_CONTRACT_FIELDS
        if getattr(tacotron2, name) != getattr(vocoder, name)
    ]
    if differences:
        raise ConfigError(
            "Tacotron 2 and vocoder do not share a mel contract, they differ in " + "; ".join(differences)
        )


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
            raise AudioError(
                f"{os.fspath(path)}: no audio to write for {self.text[:40]!r}: the stop gate "
                f"fired at the first decoder step"
            )
        save_wav(path, self.waveform, self.sample_rate, subtype="FLOAT" if float32 else "PCM_16")


def default_vocoder(
    acoustic: AcousticModel,
    *,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    sigma: float = 0.6,
    denoise: float = 0.01,
) -> Vocoder:
    """The bundled WaveGlow if this installation has one, else Griffin-Lim for ``acoustic``'s mels.

    ``device`` defaults to the acoustic model's; the other settings apply to WaveGlow.
    """
    device = acoustic.device if device is None else device
    waveglow = bundled_voice_paths()[1]
    if waveglow is not None:
        return WaveGlowVocoder.load(waveglow, device=device, precision=precision, sigma=sigma, denoise=denoise)
    return GriffinLimVocoder(acoustic.mel_config, device=device)


def _text_list(texts: object) -> list[Any]:
    """``texts`` as a list: one str, or a list / tuple of them (items are checked by the text stage)."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (list, tuple)):
        return list(texts)
    raise TextError(f"texts: expected a str or a list of str, found {type(texts).__name__}")


class Synthesizer:
    """Text to speech: a text stage, an acoustic model (Tacotron 2) and a vocoder, composed.

    ``Synthesizer()`` speaks with the voice bundled with this installation; a missing part takes
    its default: the bundled Tacotron 2, the bundled WaveGlow if any (else Griffin-Lim), and a
    text stage with the acoustic model's text frontend. :meth:`from_checkpoints` builds all three
    from checkpoint files and flat settings (what the command line does).

    Args:
        acoustic: the Tacotron 2 stage (see :meth:`AcousticModel.load`).
        vocoder: any :class:`~tacoglow.inference.vocoders.Vocoder`, e.g. ``WaveGlowVocoder.load(path)``.
        text: the text stage (default: ``TextStage`` with the acoustic model's frontend and symbols).
        seed: default seed of every random draw (prenet dropout, vocoder noise) when a call gives
            none; None draws one from torch's global RNG on each call.

    Raises:
        ConfigError: a mismatched Tacotron 2 / vocoder pair, a bad seed, or no bundled voice for a
            missing acoustic model.

    Example:
        >>> synth = Synthesizer.from_checkpoints("tacotron2.pt", "waveglow.pt", seed=0)  # doctest: +SKIP
        >>> [utterance] = synth.synthesize("Hello world.")                               # doctest: +SKIP
        >>> utterance.waveform.shape, utterance.sample_rate                              # doctest: +SKIP
        (torch.Size([40448]), 22050)
        >>> utterance.save("hello.wav")                                                  # doctest: +SKIP
    """

    def __init__(
        self,
        acoustic: AcousticModel | None = None,
        vocoder: Vocoder | None = None,
        *,
        text: TextStage | None = None,
        seed: int | None = None,
    ) -> None:
        if seed is not None:
            check_number("seed", seed, 0, integer=True)
        self.acoustic = acoustic if acoustic is not None else AcousticModel.load()
        self.vocoder = vocoder if vocoder is not None else default_vocoder(self.acoustic)
        check_mel_pair(self.acoustic.mel_config, self.vocoder.mel_config)
        if text is None:  # the normalizer reads everyday text (issue 22); TextStage(...) without it reads as NVIDIA's
            text = TextStage(self.acoustic.text_frontend.with_normalizer(True), symbols=self.acoustic.symbols)
        self.text = text
        self.seed = seed

    @classmethod
    def from_checkpoints(
        cls,
        tacotron2: ModelSource | None = None,
        waveglow: WaveGlowSource | None = None,
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
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
        threads: int | None = None,
        voice: str | None = None,
        normalize: bool = True,
    ) -> Synthesizer:
        """A Synthesizer from a Tacotron 2 and a WaveGlow (paths, loaded checkpoints or models).

        The models are loaded and prepared once (:func:`prepare_tacotron2`, :func:`prepare_waveglow`:
        fused copies on ``device`` in ``precision``; models given as objects are left unchanged),
        and the WaveGlow denoiser's bias is computed.

        Args:
            tacotron2: see :meth:`AcousticModel.load` (None: the bundled voice).
            waveglow: a WaveGlow checkpoint path, ``LoadedModel`` or ``WaveGlow``; None uses the
                bundled WaveGlow if any, else Griffin-Lim.
            vocoder: "waveglow" or "griffin-lim"; None picks WaveGlow when one is available.
            mel_config: mel contract of model objects given without one.
            device: "cpu" or "cuda[:N]".
            precision: "fp32", "bf16" or "fp16" (GPU only); see :meth:`WaveGlowVocoder.load` and
                :meth:`AcousticModel.load` (on a CPU Tacotron 2 stays float32).
            sigma, denoise: see :class:`WaveGlowVocoder`.
            seed: see :class:`Synthesizer`.
            batch_size, max_decoder_steps, gate_threshold, early_stopping, prenet_dropout,
                retries: see :meth:`AcousticModel.load`.
            phone_repeats: read every phone this many times (the speaking rate) instead of the
                checkpoint's count; only for voices trained with repeated phones
                (``data.phone_repeats`` > 1). One more than trained reads slower and, for the
                bundled voice, clearer; None keeps the checkpoint's.
            split_long_text, max_text_chars: see :class:`TextStage`.
            threads: torch CPU threads (process-wide); None leaves torch's setting.
            voice: a voice of :mod:`tacoglow.voice_catalog` (e.g. "nvidia-ljspeech") for the models
                not given explicitly; its files are downloaded into the cache on first use.
            normalize: read times, money, dates, units and symbols as people say them
                (:func:`tacoglow.text.normalize`, before the cleaners); False reads text exactly as
                NVIDIA's frontend does.

        Raises:
            ConfigError: a setting out of range, a mismatched Tacotron 2 / WaveGlow pair, no
                bundled voice when ``tacotron2`` is None, or ``phone_repeats`` for a voice that
                reads every phone once.
            CheckpointError: a checkpoint file is missing, corrupt or of the wrong kind, or a
                voice's file could not be downloaded (``tacoglow.download.DownloadError``).
        """
        # Every setting is checked before any model is loaded.
        if precision not in PRECISIONS:
            raise ConfigError(f"precision: expected one of {', '.join(PRECISIONS)}, found {precision!r}")
        check_number("sigma", sigma, 0.0)
        check_number("denoise strength", denoise, 0.0)
        check_number("max_text_chars", max_text_chars, 1, integer=True)
        if not isinstance(normalize, bool):
            raise ConfigError(f"normalize: expected true or false, found {normalize!r}")
        if seed is not None:
            check_number("seed", seed, 0, integer=True)
        if vocoder not in (None, "waveglow", "griffin-lim"):
            raise ConfigError(f"vocoder: expected 'waveglow' or 'griffin-lim', found {vocoder!r}")
        if threads is not None:
            check_number("threads", threads, 1, integer=True)
            torch.set_num_threads(threads)
        if vocoder == "griffin-lim" and waveglow is not None:
            raise ConfigError("vocoder 'griffin-lim' and a WaveGlow were both given: choose one")
        if voice is not None:  # a catalogue voice fills in the models not given (downloaded on first use)
            from tacoglow.voice_catalog import resolve_voice

            voice_tacotron2, voice_waveglow = resolve_voice(
                voice, tacotron2=tacotron2 is None, waveglow=waveglow is None and vocoder != "griffin-lim"
            )
            tacotron2 = voice_tacotron2 if tacotron2 is None else tacotron2
            waveglow = voice_waveglow if waveglow is None else waveglow
        if waveglow is None and vocoder != "griffin-lim":
            waveglow = bundled_voice_paths()[1]
            if waveglow is None and vocoder == "waveglow":
                raise ConfigError(
                    "vocoder 'waveglow': no WaveGlow given and none bundled: pass a WaveGlow "
                    "checkpoint (--waveglow FILE) or use Griffin-Lim (--vocoder griffin-lim)"
                )
        acoustic = AcousticModel.load(
            tacotron2,
            mel_config=mel_config,
            device=device,
            precision=precision,
            max_decoder_steps=max_decoder_steps,
            gate_threshold=gate_threshold,
            early_stopping=early_stopping,
            prenet_dropout=prenet_dropout,
            batch_size=batch_size,
            retries=retries,
        )
        frontend = acoustic.text_frontend.with_normalizer(normalize)
        if phone_repeats is not None:
            frontend = frontend.with_phone_repeats(phone_repeats)
        text = TextStage(
            frontend, symbols=acoustic.symbols, split_long_text=split_long_text, max_text_chars=max_text_chars
        )
        chosen: Vocoder
        if waveglow is not None:
            chosen = WaveGlowVocoder.load(
                waveglow, mel_config=mel_config, device=device, precision=precision, sigma=sigma, denoise=denoise
            )
        else:
            chosen = GriffinLimVocoder(acoustic.mel_config, device=acoustic.device)
        return cls(acoustic, chosen, text=text, seed=seed)

    # ------------------------------------------------------------------------------ helpers

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        return self.vocoder.sample_rate

    @property
    def hop_length(self) -> int:
        """Audio samples per mel frame."""
        return self.acoustic.mel_config.hop_length

    @property
    def max_piece_length(self) -> int:
        """Symbols of cleaned text per piece when splitting long text."""
        return self.acoustic.max_piece_length

    def _base_seed(self, seed: int | None) -> int:
        if seed is not None:
            check_number("seed", seed, 0, integer=True)
            return seed
        if self.seed is not None:
            return self.seed
        return int(torch.randint(0, 2**62, ()))

    def vocode(self, mel: Tensor, seed: int, timings: StageTimes | None = None) -> Tensor:
        """Audio for one mel with the vocoder (WaveGlow's includes its denoiser).

        Args:
            mel: natural-log mel, (n_mels, T_mel), any float dtype and device.
            seed: seed of the vocoder's randomness (WaveGlow: its noise; Griffin-Lim: its initial phase).
            timings: receives the ``waveglow`` and ``denoiser`` stage times if given.

        Returns:
            (T_mel · hop_length,) float32 on the vocoder's device.
        """
        generator = torch.Generator(self.vocoder.device).manual_seed(seed)
        lengths = torch.tensor([mel.size(1)], dtype=torch.int64)
        audio, _ = self.vocoder(mel[None], lengths, generator, timings=timings)
        return audio[0]

    def _join(self, text: str, parts: list[tuple[PreparedPiece, Decoded, Tensor]]) -> Utterance:
        """Pieces of one text → one Utterance (audio, mel, alignment and gate joined with pauses)."""
        hop, sr = self.acoustic.mel_config.hop_length, self.acoustic.mel_config.sampling_rate
        nfps = self.acoustic.model.config.n_frames_per_step
        waves, mels, gates, alignments, segments = [], [], [], [], []
        for piece, decoded, audio in parts:
            item = decoded.item
            segment = Segment(
                text=piece.piece.text,
                mel=item.mel.float().cpu(),
                alignment=item.alignment.float().cpu(),
                gate=item.gate.float().cpu(),
                stop_gate_fired=item.stopped,
                attention_reached_end=decoded.reached_end,
                attention_coverage=decoded.coverage,
                attempts=decoded.attempts,
                pause_after_s=piece.piece.pause_after_s,
            )
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
            text=text,
            waveform=torch.cat(waves),
            sample_rate=sr,
            mel=mel,
            mel_length=mel.size(1),
            alignment=torch.block_diag(*alignments),
            gate=torch.cat(gates),
            segments=tuple(segments),
        )

    # -------------------------------------------------------------------------------- entry

    def synthesize(
        self,
        texts: str | Sequence[str],
        *,
        seed: int | None = None,
        timings: StageTimes | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Utterance]:
        """Speech for each text, in input order.

        Args:
            texts: one text or a list of texts (one utterance each).
            seed: seed of this call's random draws (default: the Synthesizer's ``seed``).
            timings: if given, receives per-stage seconds and counts (see :class:`StageTimes`).
            progress: called with 1 each time a piece is finished (decoded and vocoded), as work
                goes on (for progress bars; the total is :meth:`count_pieces`, at least ``len(texts)``).

        Returns:
            One :class:`Utterance` per text.

        Raises:
            TextError: a text is empty, too long or has nothing speakable (checked before any synthesis).
            ConfigError: a bad ``seed``.
        """
        single = isinstance(texts, str)
        batch = _text_list(texts)
        if not single and len(batch) == 0:
            raise TextError("texts: expected at least one text, found an empty list")
        timings = timings if timings is not None else StageTimes()
        base_seed = self._base_seed(seed)
        report = progress or (lambda _n: None)
        with torch.inference_mode():
            with timings.stage("text", self.acoustic.device):
                pieces = self.text.prepare(batch, lambda: self.acoustic.max_piece_length)
            finished: list[tuple[Decoded, Tensor] | None] = [None] * len(pieces)
            decoding = self.acoustic.decode([(p.piece.text, p.ids) for p in pieces], base_seed, timings)
            for index, decoded in decoding:
                vocoder_seed = derive_seed(base_seed, "vocoder", pieces[index].piece.text, decoded.attempts)
                finished[index] = (decoded, self.vocode(decoded.item.mel, vocoder_seed, timings))
                report(1)
            by_text: list[list[tuple[PreparedPiece, Decoded, Tensor]]] = [[] for _ in batch]
            for piece, done in zip(pieces, finished):
                assert done is not None  # decode yields every piece
                by_text[piece.text_index].append((piece, *done))
            return [self._join(text, parts) for text, parts in zip(batch, by_text)]

    def count_pieces(self, texts: Sequence[str]) -> int:
        """How many pieces ``texts`` will be split into (the total for ``progress``).

        Raises:
            TextError: as :meth:`synthesize`; use it to validate input before synthesizing.
        """
        return len(self.text.prepare(_text_list(texts), lambda: self.acoustic.max_piece_length))
