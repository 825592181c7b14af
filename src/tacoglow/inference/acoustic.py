"""The acoustic stage of synthesis: symbol ids → mel spectrograms with Tacotron 2.

Pieces are batched by length (:mod:`tacoglow.inference.batching`), each coming out as if decoded
alone. Each piece is checked (did the stop gate fire, did attention reach the end of its text)
and an unhealthy one is decoded again with another prenet-dropout seed, up to ``retries`` times.
The prenet-dropout masks of a batch come from a generator seeded by (call seed, attempt, the
batch's texts), so a call is repeatable and two calls share no random state.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tacoglow.audio import MelConfig
from tacoglow.checkpoints import LoadedModel, load_model
from tacoglow.errors import ConfigError
from tacoglow.inference.batching import MelItem, infer_batch, pad_tokens, plan_batches
from tacoglow.inference.bundled import bundled_voice_paths
from tacoglow.inference.fast_tacotron2 import PreparedTacotron2, prepare_tacotron2
from tacoglow.inference.settings import check_number, derive_seed, resolve_device, resolve_precision
from tacoglow.inference.timing import StageTimes
from tacoglow.models.tacotron2 import Tacotron2
from tacoglow.text import TextFrontend
from tacoglow.text import symbols as DEFAULT_SYMBOLS
from tacoglow.text.split import max_chars_for_steps

__all__ = [
    "AcousticModel",
    "Decoded",
    "attention_health",
    "load_tacotron2_for_inference",
    "max_chars_for_steps",
]

logger = logging.getLogger(__name__)

ModelSource = nn.Module | LoadedModel | str | os.PathLike

FINAL_STEPS = 3
"""Decoder steps at the end of an utterance whose attention is checked for reaching the end."""
END_SLACK_TOKENS = 2
"""Tokens before the last that still count as "the end" (final punctuation, a trailing space)."""
COVERED_WEIGHT = 0.5
"""Total attention a token must receive over the utterance to count as covered."""


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
    final = alignment[-min(FINAL_STEPS, steps) :].float()
    furthest = int(final.argmax(dim=1).max())
    coverage = float((alignment.float().sum(dim=0) >= COVERED_WEIGHT).float().mean())
    return furthest >= n_tokens - 1 - END_SLACK_TOKENS, coverage


def load_tacotron2_for_inference(
    source: ModelSource,
    mel_config: MelConfig | None,
    overrides: dict[str, object],
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[PreparedTacotron2, MelConfig, list[str], TextFrontend]:
    """A Tacotron 2 ready for inference: loaded, its config overridden, prepared on ``device`` in ``dtype``.

    Args:
        source: a checkpoint path, a ``LoadedModel`` or a ``Tacotron2`` (left unchanged: the
            prepared model is a copy with fused decoder weights, see :func:`prepare_tacotron2`).
        mel_config: mel contract of a model object given without one (default: NVIDIA's audio
            settings with the model's number of mel channels). Checkpoints state their own.
        overrides: ``Tacotron2Config`` fields to change.

    Returns:
        (model, its mel contract, its symbol table, its text frontend).

    Raises:
        ConfigError: not a Tacotron 2, or a mel contract with another number of channels.
        CheckpointError: a checkpoint file is missing, corrupt or of the wrong kind.
    """
    mel: MelConfig | None
    if isinstance(source, (str, os.PathLike)):
        source = load_model(source, "tacotron2")
    if isinstance(source, LoadedModel):
        model, mel, symbols, frontend = source.model, source.mel_config, source.symbols, source.text_frontend
    else:
        model, mel, symbols, frontend = source, mel_config, None, None
    if not isinstance(model, Tacotron2):
        raise ConfigError(f"tacotron2: expected a Tacotron2 model or checkpoint, found {type(model).__name__}")
    config = dataclasses.replace(model.config, **overrides)  # type: ignore[arg-type]
    if config != model.config:
        # Rebuilt rather than patched: the model reads its settings from its config.
        rebuilt = Tacotron2(config)
        rebuilt.load_state_dict(model.state_dict())
        model = rebuilt
    assert isinstance(model, Tacotron2)
    contract = mel or MelConfig(n_mel_channels=model.config.n_mel_channels)
    symbols = list(symbols or DEFAULT_SYMBOLS)
    if contract.n_mel_channels != model.config.n_mel_channels:
        raise ConfigError(
            f"Tacotron 2 predicts {model.config.n_mel_channels} mel channels, its mel "
            f"contract says n_mel_channels={contract.n_mel_channels}"
        )
    return prepare_tacotron2(model, dtype, device), contract, symbols, frontend or TextFrontend()


@dataclass(frozen=True)
class Decoded:
    """A piece's final Tacotron 2 output: the healthiest of its attempts.

    Attributes:
        item: the mel, alignment and gate, on the model's device (see :class:`MelItem`).
        attempts: how many times the piece was decoded.
        reached_end, coverage: see :func:`attention_health`.
    """

    item: MelItem
    attempts: int
    reached_end: bool
    coverage: float

    @property
    def healthy(self) -> bool:
        """The stop gate fired and attention reached the end of the text."""
        return self.item.stopped and self.reached_end


class AcousticModel:
    """Tacotron 2 as a synthesis stage: symbol ids → mels, batched, checked and retried.

    Holds no per-call state: one instance may serve several threads at once.

    Args:
        model: a Tacotron 2, used as it is (its device and dtype; put it in eval mode first).
        mel_config: its mel contract (default: NVIDIA's audio settings with its mel channels).
        symbols: its symbol table (default: NVIDIA's); only used to tell speakable symbols.
        text_frontend: how its training text became symbol ids (default: NVIDIA's letters).
        batch_size: pieces decoded together, >= 1.
        retries: extra attempts, with other dropout seeds, for pieces whose stop gate never fired
            or whose attention did not reach the end (only with prenet dropout on: without it
            every attempt gives the same result).

    Raises:
        ConfigError: a setting out of range, or a model that is not a Tacotron 2.
    """

    def __init__(
        self,
        model: Tacotron2 | PreparedTacotron2,
        mel_config: MelConfig | None = None,
        *,
        symbols: Sequence[str] | None = None,
        text_frontend: TextFrontend | None = None,
        batch_size: int = 8,
        retries: int = 2,
    ) -> None:
        if not isinstance(model, (Tacotron2, PreparedTacotron2)):
            raise ConfigError(f"tacotron2: expected a Tacotron2 model or checkpoint, found {type(model).__name__}")
        check_number("batch_size", batch_size, 1, integer=True)
        check_number("retries", retries, 0, integer=True)
        self.model = model
        self.mel_config = mel_config or MelConfig(n_mel_channels=model.config.n_mel_channels)
        self.symbols = list(symbols or DEFAULT_SYMBOLS)
        self.text_frontend = text_frontend or TextFrontend()
        self.batch_size = batch_size
        self.retries = retries
        parameter = next(model.parameters())
        self.device, self.dtype = parameter.device, parameter.dtype

    @classmethod
    def load(
        cls,
        source: ModelSource | None = None,
        *,
        mel_config: MelConfig | None = None,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        max_decoder_steps: int | None = None,
        gate_threshold: float | None = None,
        early_stopping: bool = True,
        prenet_dropout: bool = True,
        batch_size: int = 8,
        retries: int = 2,
    ) -> AcousticModel:
        """Load a Tacotron 2 for inference and wrap it.

        Args:
            source: a Tacotron 2 checkpoint path (NVIDIA's or tacoglow's), a ``LoadedModel``, a
                ``Tacotron2`` (moved and cast in place: pass a copy to keep yours unchanged), or
                None for the voice bundled with this installation.
            mel_config: mel contract of a model object given without one.
            device: "cpu" or "cuda[:N]".
            precision: "fp32", "bf16" or "fp16" (GPU only). On a CPU Tacotron 2 stays float32
                whatever the precision: its batch-1 decoder step is bound by reading ~71 MB of
                LSTM weights, and torch's CPU bf16 matrix-vector products are no faster than
                float32 ones there (measured 2x slower per step with torch 2.13), while float32
                keeps the autoregressive decoding (stop step, attention path) exact.
            max_decoder_steps: decoder step cap (default: the checkpoint's, 2000 for NVIDIA's).
            gate_threshold: stop when sigmoid(gate) exceeds it, in [0, 1] (default: the checkpoint's).
            early_stopping: stop a batch once every item's gate fired. False decodes exactly
                ``max_decoder_steps`` steps and keeps every frame (fixed-length output, for
                benchmarks; the gate is still reported in the health flags).
            prenet_dropout: keep Tacotron 2's always-on prenet dropout (the reference's behaviour,
                which trained models expect); False makes the output deterministic. A model trained
                with ``prenet_dropout=1`` (no frame feedback) is deterministic already and keeps it.
            batch_size, retries: see :class:`AcousticModel`.

        Raises:
            ConfigError: a setting out of range, no bundled voice when ``source`` is None.
            CheckpointError: a checkpoint file is missing, corrupt or of the wrong kind.
        """
        check_number("batch_size", batch_size, 1, integer=True)
        check_number("retries", retries, 0, integer=True)
        if max_decoder_steps is not None:
            check_number("max_decoder_steps", max_decoder_steps, 1, integer=True)
        if gate_threshold is not None and not (
            isinstance(gate_threshold, (int, float))
            and not isinstance(gate_threshold, bool)
            and 0.0 <= gate_threshold <= 1.0
        ):
            raise ConfigError(f"gate_threshold: expected a number in [0, 1], found {gate_threshold!r}")
        resolved = resolve_device(device)
        dtype = resolve_precision(precision, resolved)
        if source is None:
            source = bundled_voice_paths()[0]
            if source is None:
                raise ConfigError(
                    "no bundled voice in this installation: pass a Tacotron 2 checkpoint "
                    "(--tacotron2 FILE, and --waveglow FILE for WaveGlow audio)"
                )
        overrides: dict[str, object] = {"early_stopping": early_stopping}
        if max_decoder_steps is not None:
            overrides["max_decoder_steps"] = max_decoder_steps
        if gate_threshold is not None:
            overrides["gate_threshold"] = float(gate_threshold)
        if not prenet_dropout:
            overrides["prenet_dropout"] = 0.0
        model, mel, symbols, frontend = load_tacotron2_for_inference(
            source, mel_config, overrides, resolved, dtype if resolved.type == "cuda" else torch.float32
        )
        return cls(model, mel, symbols=symbols, text_frontend=frontend, batch_size=batch_size, retries=retries)

    @property
    def max_piece_length(self) -> int:
        """Symbols of cleaned text per piece when splitting long text (see :func:`max_chars_for_steps`)."""
        return max_chars_for_steps(
            self.model.config.max_decoder_steps, self.mel_config.sampling_rate, self.mel_config.hop_length
        )

    @property
    def deterministic(self) -> bool:
        """Whether every attempt gives the same mel (prenet dropout off)."""
        return self.model.config.prenet_dropout == 0.0

    def decode(
        self, pieces: Sequence[tuple[str, Sequence[int]]], seed: int, timings: StageTimes | None = None
    ) -> Iterator[tuple[int, Decoded]]:
        """Decode ``pieces`` and yield each one as soon as its result is final.

        A piece is final when it is healthy or has used its last attempt; the first attempt
        runs over all pieces (batched by length), each retry over the unhealthy ones. Call it
        under ``torch.inference_mode()``.

        Args:
            pieces: (text, symbol ids) of each piece; the text only seeds the dropout masks.
            seed: the call's base seed.
            timings: receives the ``text`` (padding) and ``tacotron2`` stage times and the
                ``mel_frames`` count if given.

        Yields:
            (index into ``pieces``, its :class:`Decoded`), every index exactly once.
        """
        timings = timings if timings is not None else StageTimes()
        results: list[Decoded | None] = [None] * len(pieces)
        pending = list(range(len(pieces)))
        for attempt in range(self.retries + 1):
            last = self.deterministic or attempt == self.retries
            for batch in plan_batches([len(pieces[i][1]) for i in pending], self.batch_size):
                indices = [pending[b] for b in batch]
                with timings.stage("text", self.device):
                    text, text_lengths = pad_tokens([pieces[i][1] for i in indices], self.device)
                generator = torch.Generator(self.device).manual_seed(
                    derive_seed(seed, "tacotron2", attempt, [pieces[i][0] for i in indices])
                )
                with timings.stage("tacotron2", self.device):
                    items = infer_batch(self.model, text, text_lengths, generator)
                timings.count("mel_frames", sum(item.decoded_frames for item in items))
                for index, item in zip(indices, items):
                    reached_end, coverage = attention_health(item.emitted_alignment)
                    previous = results[index]
                    if previous is None or (item.stopped + reached_end > previous.item.stopped + previous.reached_end):
                        result = Decoded(item, attempt + 1, reached_end, coverage)
                    else:
                        result = dataclasses.replace(previous, attempts=attempt + 1)
                    results[index] = result
                    if result.healthy or last:
                        if not result.healthy:
                            problem = (
                                "the stop gate never fired"
                                if not result.item.stopped
                                else "attention did not reach the end"
                            )
                            logger.warning(
                                "%s (after %d attempt(s)) for %r", problem, result.attempts, pieces[index][0][:60]
                            )
                        yield index, result
            pending = [i for i in pending if not results[i].healthy]  # type: ignore[union-attr]
            if not pending or last:
                return
            logger.info(
                "retrying %d unhealthy piece(s) with another prenet-dropout seed (attempt %d of %d)",
                len(pending),
                attempt + 2,
                self.retries + 1,
            )
