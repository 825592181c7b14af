"""``OnnxSynthesizer``: the synthesis pipeline on ONNX Runtime, with numpy only (no torch).

It runs a folder written by ``tacoglow export onnx`` (``tacoglow.export.onnx``) with the
PyTorch engine's pipeline (``tacoglow.inference.synthesizer``): long texts split
(``tacoglow.text.split``), pieces batched by length and returned in input order, each
piece coming out as if decoded alone (padded text masked in the encoder, the postnet recomputed
on an item's own frames when its batch decoded past its stop), health flags (stop gate fired,
attention reached the end) with retries under other prenet-dropout seeds, seeds for every draw,
and WaveGlow + denoiser or Griffin-Lim.

Random draws come from numpy Generators seeded like the PyTorch engine's torch Generators (the
same derived seeds), so runs are reproducible; the draws themselves differ from torch's, so with
prenet dropout on, or WaveGlow noise, the two engines give different (equally likely) audio. With
prenet dropout off the mels match the PyTorch engine's to float32 rounding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tacoglow.errors import CheckpointError, ConfigError, TextError
from tacoglow.runtime.dsp import denoise, griffin_lim_vocoder, write_wav
from tacoglow.text import PAD_ID, TextFrontend
from tacoglow.text.split import TextPiece, max_chars_for_steps, split_text

__all__ = ["PRECISIONS", "OnnxSynthesizer", "Segment", "StageTimes", "Utterance", "attention_health"]

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")
"""fp32 and fp16 apply to every graph; int8 runs the int8 decoder step and the rest in fp32."""
# Health check constants: the PyTorch engine's (tacoglow.inference.synthesizer), which imports torch.
FINAL_STEPS = 3
END_SLACK_TOKENS = 2
COVERED_WEIGHT = 0.5
SILENCE_LOG_MEL = math.log(1e-5)
_STATE_NAMES = (
    "attention_hidden",
    "attention_cell",
    "decoder_hidden",
    "decoder_cell",
    "attention_weights",
    "attention_weights_cum",
    "attention_context",
)


def attention_health(alignment: np.ndarray) -> tuple[bool, float]:
    """(reached_end, coverage) of one alignment (T_steps, T_text): the PyTorch engine's rule."""
    steps, n_tokens = alignment.shape
    if steps == 0 or n_tokens == 0:
        return False, 0.0
    final = alignment[-min(FINAL_STEPS, steps) :]
    furthest = int(final.argmax(axis=1).max())
    coverage = float((alignment.sum(axis=0) >= COVERED_WEIGHT).mean())
    return furthest >= n_tokens - 1 - END_SLACK_TOKENS, coverage


def _derive_seed(*parts: object) -> int:
    """The PyTorch engine's seed derivation: a 63-bit seed depending only on ``parts``."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass
class StageTimes:
    """Seconds per stage (``text``, ``tacotron2``, ``waveglow``, ``denoiser``) and counts."""

    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def count(self, name: str, amount: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + int(amount)


@dataclass(frozen=True)
class Segment:
    """One piece of an utterance (numpy twin of the PyTorch engine's ``Segment``)."""

    text: str
    mel: np.ndarray  # (n_mels, T_mel) float32
    alignment: np.ndarray  # (T_steps, T_text)
    gate: np.ndarray  # (T_steps,)
    stop_gate_fired: bool
    attention_reached_end: bool
    attention_coverage: float
    attempts: int
    pause_after_s: float

    @property
    def healthy(self) -> bool:
        return self.stop_gate_fired and self.attention_reached_end


@dataclass(frozen=True)
class Utterance:
    """Speech for one input text (numpy twin of the PyTorch engine's ``Utterance``)."""

    text: str
    waveform: np.ndarray  # (T_audio,) float32
    sample_rate: int
    mel: np.ndarray  # (n_mels, T_mel)
    mel_length: int
    segments: tuple[Segment, ...]

    @property
    def stop_gate_fired(self) -> bool:
        return all(s.stop_gate_fired for s in self.segments)

    @property
    def attention_reached_end(self) -> bool:
        return all(s.attention_reached_end for s in self.segments)

    @property
    def healthy(self) -> bool:
        return self.stop_gate_fired and self.attention_reached_end

    @property
    def duration_s(self) -> float:
        return self.waveform.size / self.sample_rate

    def save(self, path: str | os.PathLike[str], float32: bool = False) -> None:
        """Write the waveform as a WAV file (16-bit PCM or 32-bit float), atomically."""
        write_wav(path, self.waveform, self.sample_rate, float32=float32)


@dataclass
class _Item:
    """One piece's Tacotron 2 output, cut to its length (``MelItem``'s fields)."""

    mel: np.ndarray
    alignment: np.ndarray
    gate: np.ndarray
    emitted_alignment: np.ndarray
    stopped: bool
    decoded_frames: int


@dataclass
class _Piece:
    text_index: int
    piece: TextPiece
    ids: list[int]
    item: _Item | None = None
    attempts: int = 0
    reached_end: bool = False
    coverage: float = 0.0

    @property
    def healthy(self) -> bool:
        return self.item is not None and self.item.stopped and self.reached_end


def _check_number(name: str, value: object, minimum: float, integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int,) if integer else (int, float))
        or not math.isfinite(value)
        or value < minimum
    ):
        raise ConfigError(f"{name}: expected {kind} >= {minimum:g}, found {value!r}")


class OnnxSynthesizer:
    """Text to speech from an ONNX export folder, on ONNX Runtime (CPU), without torch.

    Args:
        folder: a folder written by ``tacoglow export onnx``.
        precision: "fp32", "fp16" (every graph in float16) or "int8" (int8 decoder step, the
            rest fp32); the folder must hold that variant.
        sigma, denoise, seed, batch_size, max_decoder_steps, gate_threshold, prenet_dropout,
        phone_repeats, retries, split_long_text: as the PyTorch ``Synthesizer``.
        normalize: write everyday text out as words first (times, money, dates, ...), as the
            PyTorch ``Synthesizer``; False reads text exactly as NVIDIA's frontend.
        threads: ONNX Runtime intra-op threads per graph; None leaves its default (all cores).
        early_stopping: as the PyTorch ``Synthesizer``: False decodes ``max_decoder_steps`` steps
            (benchmarks), still reporting the stop gate in the health flags.

    Raises:
        ConfigError: a setting out of range, or a folder that is not an export / lacks the variant.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        precision: str = "fp32",
        sigma: float = 0.6,
        denoise: float = 0.01,
        seed: int | None = None,
        batch_size: int = 8,
        max_decoder_steps: int | None = None,
        gate_threshold: float | None = None,
        prenet_dropout: bool = True,
        phone_repeats: int | None = None,
        normalize: bool = True,
        retries: int = 2,
        split_long_text: bool = True,
        threads: int | None = None,
        early_stopping: bool = True,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("the ONNX engine needs onnxruntime: pip install 'tacoglow[onnx]'") from None
        if precision not in PRECISIONS:
            raise ConfigError(f"precision: expected one of {', '.join(PRECISIONS)}, found {precision!r}")
        _check_number("sigma", sigma, 0.0)
        _check_number("denoise strength", denoise, 0.0)
        _check_number("batch_size", batch_size, 1, integer=True)
        _check_number("retries", retries, 0, integer=True)
        if max_decoder_steps is not None:
            _check_number("max_decoder_steps", max_decoder_steps, 1, integer=True)
        if gate_threshold is not None and not (
            isinstance(gate_threshold, (int, float))
            and not isinstance(gate_threshold, bool)
            and 0.0 <= gate_threshold <= 1.0
        ):
            raise ConfigError(f"gate_threshold: expected a number in [0, 1], found {gate_threshold!r}")
        if seed is not None:
            _check_number("seed", seed, 0, integer=True)
        if threads is not None:
            _check_number("threads", threads, 1, integer=True)
        self.folder = Path(folder)
        voice_path = self.folder / "voice.json"
        try:
            voice = json.loads(voice_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"--onnx {self.folder}: no voice.json there (expected a folder written by 'tacoglow export onnx')"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{voice_path}: cannot read ({exc})") from None
        if voice.get("format_version") != 1:
            raise ConfigError(
                f"{voice_path}: format_version {voice.get('format_version')!r} is not supported (expected 1)"
            )
        self.voice = voice
        self.precision = precision
        self.sigma, self.denoise_strength = float(sigma), float(denoise)
        self.seed, self.batch_size, self.retries = seed, batch_size, retries
        self.split_long_text = split_long_text
        self.early_stopping = early_stopping
        t2 = voice["tacotron2"]
        self.n_mels, self.nfps = int(t2["n_mel_channels"]), int(t2["n_frames_per_step"])
        self.max_decoder_steps = int(max_decoder_steps or t2["max_decoder_steps"])
        self.gate_threshold = float(t2["gate_threshold"] if gate_threshold is None else gate_threshold)
        self.prenet_dropout = float(t2["prenet_dropout"]) if prenet_dropout else 0.0
        self.prenet_dim = int(t2["prenet_dim"])
        self.mel_config = voice["mel"]
        frontend = voice.get("text_frontend")
        self.text_frontend = (TextFrontend.from_dict(frontend) if frontend else TextFrontend()).with_normalizer(
            normalize
        )
        if phone_repeats is not None:
            self.text_frontend = self.text_frontend.with_phone_repeats(phone_repeats)
        self._split_frontend = dataclasses.replace(self.text_frontend, phone_repeats=1)
        self.symbols = list(voice["symbols"])
        self._speakable = {i for i, s in enumerate(self.symbols) if s.startswith("@") or s.isalpha()}

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads is not None:
            options.intra_op_num_threads = threads
        graphs = voice["graphs"]

        def session(name: str, variant: str) -> Any:
            files = graphs.get(name, {})
            file = files.get(variant)
            if file is None:
                raise ConfigError(
                    f"--onnx {self.folder}: no {variant} variant of {name} (export without --no-variants)"
                )
            try:
                return ort.InferenceSession(str(self.folder / file), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 (onnxruntime raises its own exception types)
                raise CheckpointError(f"{self.folder / file}: cannot load ({str(exc).splitlines()[0]})") from None

        base = "fp16" if precision == "fp16" else "fp32"
        self.encoder = session("encoder", base)
        self.decoder_step = session("decoder_step", precision)
        self.postnet = session("postnet", base)
        arrays = np.load(self.folder / "arrays.npz")
        self.vocoder_name = voice["vocoder"]["name"]
        self.waveglow = session("waveglow", base) if self.vocoder_name == "waveglow" else None
        self.mel_pinv = arrays["mel_pinv"].astype(np.float32)
        self.denoiser_bias = arrays["denoiser_bias"].astype(np.float32) if "denoiser_bias" in arrays else None

    # ------------------------------------------------------------------------------ helpers

    @property
    def sample_rate(self) -> int:
        return int(self.mel_config["sampling_rate"])

    @property
    def max_chars(self) -> int:
        return int(max_chars_for_steps(self.max_decoder_steps, self.sample_rate, int(self.mel_config["hop_length"])))

    @property
    def max_piece_length(self) -> int:
        """Symbols of cleaned text per piece when splitting long text (the PyTorch engine's name)."""
        return self.max_chars

    @property
    def hop_length(self) -> int:
        """Audio samples per mel frame."""
        return int(self.mel_config["hop_length"])

    def _speakable_ids(self, text: str) -> bool:
        return any(i in self._speakable for i in self.text_frontend.to_sequence(text))

    def _prepare(self, texts: Sequence[str]) -> list[_Piece]:
        """Validate and split ``texts`` (the PyTorch engine's rules and messages)."""
        pieces: list[_Piece] = []
        for index, text in enumerate(texts):
            where = "text" if len(texts) == 1 else f"text {index + 1}"
            if not isinstance(text, str):
                raise TextError(f"{where}: expected a str, found {type(text).__name__}")
            if not text.strip():
                raise TextError(f"{where}: empty (expected something to say)")
            if not self._speakable_ids(text):
                raise TextError(
                    f"{where}: nothing speakable in {text.strip()[:40]!r} (expected letters or "
                    f"{{ARPAbet}} phones after cleaning)"
                )
            if self.split_long_text:
                split = split_text(
                    text, self.max_chars, length=lambda piece: len(self._split_frontend.to_sequence(piece))
                )
            else:
                split = [TextPiece(text.strip(), 0.0)]
            kept: list[_Piece] = []
            for piece in split:
                if self._speakable_ids(piece.text):
                    kept.append(_Piece(index, piece, self.text_frontend.to_sequence(piece.text)))
                elif kept:
                    kept[-1].piece = TextPiece(
                        kept[-1].piece.text, max(kept[-1].piece.pause_after_s, piece.pause_after_s)
                    )
            kept[-1].piece = TextPiece(kept[-1].piece.text, 0.0)
            pieces.extend(kept)
        return pieces

    # ---------------------------------------------------------------------------- Tacotron 2

    def encode(self, sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Id lists -> (memory (B, T, d_enc), processed_memory (B, T, d_att), text_mask (B, T), lengths (B,))."""
        batch = len(sequences)
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        text = np.full((batch, int(lengths.max())), PAD_ID, dtype=np.int64)
        for row, ids in enumerate(sequences):
            text[row, : len(ids)] = ids
        memory, processed = self.encoder.run(None, {"text": text, "text_lengths": lengths})
        return memory, processed, np.arange(text.shape[1])[None, :] >= lengths[:, None], lengths

    def decode(
        self, memory: np.ndarray, processed: np.ndarray, text_mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The autoregressive loop (``decode_free_running``'s stop rule) on the decoder-step graph.

        Returns:
            mel (B, n_mels, T_mel) before the postnet, gate logits (B, T_steps), alignments
            (B, T_steps, T_text), mel_lengths (B,) in frames, stopped (B,) bool.
        """
        batch, text_len = text_mask.shape
        state = [np.zeros((batch, size), np.float32) for size in self._state_sizes(text_len)]
        frame = np.zeros((batch, self.n_mels * self.nfps), np.float32)
        p = self.prenet_dropout
        ones = np.ones((batch, self.prenet_dim), np.float32)
        running = np.ones(batch, dtype=bool)
        frames, gates, alignments, running_steps = [], [], [], []
        for _ in range(self.max_decoder_steps):
            if p > 0.0:  # _prenet_dropout: Bernoulli(1 - p) masks divided by 1 - p
                masks = [
                    (rng.random((batch, self.prenet_dim), dtype=np.float32) < 1.0 - p).astype(np.float32)
                    / np.float32(1.0 - p)
                    for _ in range(2)
                ]
            else:
                masks = [ones, ones]
            feeds = {
                "frame": frame,
                "prenet_mask_1": masks[0],
                "prenet_mask_2": masks[1],
                "memory": memory,
                "processed_memory": processed,
                "text_mask": text_mask,
            }
            feeds.update(zip(_STATE_NAMES, state))
            frame, gate, *state = self.decoder_step.run(None, feeds)
            frames.append(frame)
            gates.append(gate[:, 0])
            alignments.append(state[4])  # this step's attention weights
            # The reference's stop rule, in float32: continue while sigmoid(gate) <= threshold.
            probability = np.float32(1.0) / (np.float32(1.0) + np.exp(-gate[:, 0]))
            running = running & (probability <= np.float32(self.gate_threshold))
            running_steps.append(running)
            if self.early_stopping and not running.any():
                break
        n_steps = len(frames)
        # (B, T_steps, n_mels * nfps) -> (B, T_steps * nfps, n_mels) -> (B, n_mels, T_mel)
        mel = np.stack(frames, 1).reshape(batch, n_steps * self.nfps, self.n_mels).transpose(0, 2, 1)
        mel_lengths = np.stack(running_steps, 1).sum(1) * self.nfps
        stopped = ~running
        if self.early_stopping and n_steps == self.max_decoder_steps and not stopped.all():
            logger.warning(
                "Tacotron 2 reached max_decoder_steps=%d before the stop gate fired for %d of %d items",
                self.max_decoder_steps,
                int((~stopped).sum()),
                batch,
            )
        return np.ascontiguousarray(mel), np.stack(gates, 1), np.stack(alignments, 1), mel_lengths, stopped

    def infer_batch(self, sequences: Sequence[Sequence[int]], rng: np.random.Generator) -> list[_Item]:
        """Tacotron 2 on one batch of id lists; each item as if decoded alone (``infer_batch``'s rules)."""
        memory, processed, text_mask, lengths = self.encode(sequences)
        mel, gate_all, align_all, mel_lengths, stopped = self.decode(memory, processed, text_mask, rng)
        batch = len(sequences)
        (mel_postnet,) = self.postnet.run(None, {"mel": mel})
        total = mel.shape[2]
        items = []
        for row in range(batch):
            mel_length, fired = int(mel_lengths[row]), bool(stopped[row])
            if not self.early_stopping:  # fixed-length output: every decoded frame is kept
                mel_length = total
            emitted = min(mel_length + self.nfps, total) if fired and self.early_stopping else total
            if emitted < total:  # alone, the item would have ended with the step that fired its gate
                (row_mel,) = self.postnet.run(None, {"mel": np.ascontiguousarray(mel[row : row + 1, :, :emitted])})
                row_mel = row_mel[0]
            else:
                row_mel = mel_postnet[row]
            steps = -(-mel_length // self.nfps)
            n_text = int(lengths[row])
            items.append(
                _Item(
                    mel=row_mel[:, :mel_length],
                    alignment=align_all[row, :steps, :n_text],
                    gate=gate_all[row, :steps],
                    emitted_alignment=align_all[row, : -(-emitted // self.nfps), :n_text],
                    stopped=fired,
                    decoded_frames=total,
                )
            )
        return items

    def _state_sizes(self, text_len: int) -> tuple[int, ...]:
        t2 = self.voice["tacotron2"]
        return (
            t2["attention_rnn_dim"],
            t2["attention_rnn_dim"],
            t2["decoder_rnn_dim"],
            t2["decoder_rnn_dim"],
            text_len,
            text_len,
            t2["encoder_embedding_dim"],
        )

    def _decode(
        self, pieces: list[_Piece], base_seed: int, timings: StageTimes, progress: Callable[[int], None]
    ) -> None:
        """Tacotron 2 on every piece, batched by length; unhealthy pieces retried."""
        pending = list(range(len(pieces)))
        for attempt in range(self.retries + 1):
            lengths = [len(pieces[i].ids) for i in pending]
            order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))  # plan_batches' order
            for start in range(0, len(order), self.batch_size):
                indices = [pending[b] for b in order[start : start + self.batch_size]]
                rng = np.random.default_rng(
                    _derive_seed(base_seed, "tacotron2", attempt, [pieces[i].piece.text for i in indices])
                )
                with timings.stage("tacotron2"):
                    items = self.infer_batch([pieces[i].ids for i in indices], rng)
                timings.count("mel_frames", sum(item.decoded_frames for item in items))
                for index, item in zip(indices, items):
                    piece = pieces[index]
                    reached_end, coverage = attention_health(item.emitted_alignment)
                    better = piece.item is None or (item.stopped + reached_end > piece.item.stopped + piece.reached_end)
                    piece.attempts += 1
                    if better:
                        piece.item, piece.reached_end, piece.coverage = item, reached_end, coverage
                    if attempt == 0:
                        progress(1)
            pending = [i for i in pending if not pieces[i].healthy]
            if not pending or self.prenet_dropout == 0.0 or attempt == self.retries:
                break
            logger.info(
                "retrying %d unhealthy piece(s) with another prenet-dropout seed (attempt %d of %d)",
                len(pending),
                attempt + 2,
                self.retries + 1,
            )
        for i in pending:
            best = pieces[i].item
            assert best is not None  # every piece was decoded at least once
            problem = "the stop gate never fired" if not best.stopped else "attention did not reach the end"
            logger.warning("%s (after %d attempt(s)) for %r", problem, pieces[i].attempts, pieces[i].piece.text[:60])

    # ------------------------------------------------------------------------------- vocoder

    def vocode(self, mel: np.ndarray, seed: int, timings: StageTimes | None = None) -> np.ndarray:
        """Audio (T_mel * hop,) float32 for one log-mel (n_mels, T_mel); the seed draws the noise / phase."""
        timings = timings if timings is not None else StageTimes()
        hop = int(self.mel_config["hop_length"])
        n_fft, win = int(self.mel_config["filter_length"]), int(self.mel_config["win_length"])
        n_samples = mel.shape[1] * hop
        if mel.shape[1] == 0:
            return np.zeros(0, np.float32)
        rng = np.random.default_rng(seed)
        with timings.stage("waveglow"):
            if self.waveglow is not None:
                n_group = int(self.voice["vocoder"]["n_group"])
                z = rng.standard_normal((1, n_group, n_samples // n_group), dtype=np.float32) * np.float32(self.sigma)
                (audio,) = self.waveglow.run(None, {"mel": np.ascontiguousarray(mel[None], np.float32), "z": z})
                audio = audio[0, :n_samples]
            else:
                settings = self.voice["vocoder"]
                audio = griffin_lim_vocoder(
                    mel, self.mel_pinv, rng, n_fft, hop, win, int(settings["n_iters"]), float(settings["power"])
                )
        timings.count("audio_samples", audio.size)
        if self.denoiser_bias is not None and self.denoise_strength > 0 and audio.size > n_fft // 2:
            d = self.voice["vocoder"]["denoiser"]
            with timings.stage("denoiser"):
                audio = denoise(
                    audio,
                    self.denoiser_bias,
                    self.denoise_strength,
                    int(d["filter_length"]),
                    int(d["hop_length"]),
                    int(d["win_length"]),
                )
        return audio.astype(np.float32)

    # --------------------------------------------------------------------------------- entry

    def _join(self, text: str, parts: list[tuple[_Piece, np.ndarray]]) -> Utterance:
        hop, sr = int(self.mel_config["hop_length"]), self.sample_rate
        waves, mels, segments = [], [], []
        for piece, audio in parts:
            item = piece.item
            assert item is not None
            segments.append(
                Segment(
                    piece.piece.text,
                    item.mel,
                    item.alignment,
                    item.gate,
                    item.stopped,
                    piece.reached_end,
                    piece.coverage,
                    piece.attempts,
                    piece.piece.pause_after_s,
                )
            )
            waves.append(audio)
            mels.append(item.mel)
            pause_steps = round(piece.piece.pause_after_s * sr / hop / self.nfps)
            if pause_steps:
                waves.append(np.zeros(pause_steps * self.nfps * hop, np.float32))
                mels.append(np.full((self.n_mels, pause_steps * self.nfps), SILENCE_LOG_MEL, np.float32))
        mel = np.concatenate(mels, axis=1)
        return Utterance(text, np.concatenate(waves), sr, mel, mel.shape[1], tuple(segments))

    def synthesize(
        self,
        texts: str | Sequence[str],
        *,
        seed: int | None = None,
        timings: StageTimes | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Utterance]:
        """Speech for each text, in input order (see the PyTorch ``Synthesizer.synthesize``).

        ``seed`` replaces the engine's seed for this call (e.g. several renditions of one text).
        """
        single = isinstance(texts, str)
        batch: Sequence[str] = [texts] if single else texts  # type: ignore[list-item]
        if not single and len(batch) == 0:
            raise TextError("texts: expected at least one text, found an empty list")
        timings = timings if timings is not None else StageTimes()
        if seed is not None:
            _check_number("seed", seed, 0, integer=True)
            base_seed = seed
        elif self.seed is not None:
            base_seed = self.seed
        else:
            base_seed = int(np.random.default_rng().integers(0, 2**62))
        with timings.stage("text"):
            pieces = self._prepare(batch)
        self._decode(pieces, base_seed, timings, progress or (lambda _n: None))
        by_text: list[list[tuple[_Piece, np.ndarray]]] = [[] for _ in batch]
        for piece in pieces:
            assert piece.item is not None
            seed = _derive_seed(base_seed, "vocoder", piece.piece.text, piece.attempts)
            by_text[piece.text_index].append((piece, self.vocode(piece.item.mel, seed, timings)))
        return [self._join(text, parts) for text, parts in zip(batch, by_text)]

    def count_pieces(self, texts: Sequence[str]) -> int:
        """How many pieces ``texts`` will be split into; validates them like ``synthesize``."""
        return len(self._prepare(texts))
