"""What training needs to know about each model: one small task per model.

The trainer (:mod:`tacoglow.training.loop`) is the same for every model; a :class:`Task` tells
it how to build the model, read the data, batch it, score a batch, and what to show of a
validation batch. :func:`make_task` picks the task of ``config.model``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from tacoglow.audio import GriffinLim
from tacoglow.data import AudioMelDataset, DatasetItem, TextMelBatch, TextMelCollate, TextMelDataset
from tacoglow.errors import ConfigError
from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig
from tacoglow.text import symbols as SYMBOLS
from tacoglow.training.config import TrainConfig
from tacoglow.training.losses import guided_attention_loss, tacotron2_loss, waveglow_loss
from tacoglow.training.metrics import MetricsLogger

__all__ = ["BatchLoss", "Tacotron2Task", "Task", "WaveGlowTask", "make_task"]

#: sigma of the WaveGlow validation sample written to TensorBoard (the reference's inference value).
VALIDATION_SIGMA = 0.6
#: Griffin-Lim iterations of the Tacotron 2 validation sample: a preview, and cheap on CPU too.
PREVIEW_GL_ITERS = 16


@dataclass
class BatchLoss:
    """Forward + loss of one batch.

    Attributes:
        loss: the scalar being minimised.
        items: how many units of work the batch held (mel frames or audio samples), a scalar
            tensor, for throughput.
        extra: further loss terms to log (detached scalars), by name.
        outputs: what :meth:`Task.log_examples` needs of this batch.
    """

    loss: Tensor
    items: Tensor
    extra: dict[str, Tensor] = field(default_factory=dict)
    outputs: tuple[Tensor, ...] = ()


class Task(ABC):
    """One model's part of training.

    Attributes:
        title: the model's name in messages.
        rate_name: the throughput's log key, e.g. ``mels_per_s``.
        reads_mels: the model can train on precomputed mels (a ``tacoglow preprocess`` filelist).
        ignored_problems: data-check problems that do not matter to this model.
    """

    title: str
    rate_name: str
    reads_mels: bool
    ignored_problems: frozenset[str] = frozenset()

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.config = config
        self.device = device

    def check(self) -> None:  # noqa: B027  (an optional hook: most models have nothing to refuse)
        """Refuse settings this model cannot train with on ``device`` (ConfigError)."""

    @abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialized model (the caller seeds the RNG)."""

    @abstractmethod
    def dataset(self, items: Sequence[DatasetItem], stream: int) -> Dataset:
        """The torch dataset of ``items``; ``stream`` tells the training (0) and validation (1) sets apart."""

    def collate(self) -> Callable[[list[Any]], Any] | None:
        """The DataLoader's ``collate_fn`` (None: PyTorch's default stacking)."""
        return None

    def start_epoch(self, dataset: Dataset, epoch: int) -> None:  # noqa: B027  (an optional hook)
        """Called before each training epoch with the training dataset."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any) -> BatchLoss:
        """Move ``batch`` to the device, run ``model`` on it and score it."""

    @abstractmethod
    def log_examples(self, metrics: MetricsLogger, model: nn.Module, batch: Any, result: BatchLoss, step: int) -> None:
        """Write what shows the model's state (images, audio) of the first validation batch."""

    def checkpoint_extras(self) -> dict[str, Any]:
        """Keyword arguments for :func:`tacoglow.checkpoints.save_checkpoint` beyond the weights."""
        return {}


class Tacotron2Task(Task):
    """Tacotron 2: text → mel, teacher-forced (with optional scheduled sampling), NVIDIA's loss
    plus the optional guided-attention term."""

    title = "Tacotron 2"
    rate_name = "mels_per_s"
    reads_mels = True

    @property
    def model_config(self) -> Tacotron2Config:
        assert self.config.tacotron2 is not None, "TrainConfig.validate() guarantees the section"
        return self.config.tacotron2

    def check(self) -> None:
        if self.config.amp == "fp16" and self.device.type == "cpu":
            raise ConfigError("amp: fp16 on CPU cannot run Tacotron 2 (no fp16 CPU LSTM kernels); use amp: bf16 or off")
        if self.model_config.n_symbols != len(SYMBOLS):
            raise ConfigError(
                f"tacotron2.n_symbols: expected {len(SYMBOLS)} (the text frontend's symbol table), "
                f"found {self.model_config.n_symbols}"
            )

    def build_model(self) -> nn.Module:
        model = Tacotron2(self.model_config)
        if self.config.uniform_bn_init:  # as the reference's training initializes batch norm
            with torch.no_grad():
                for module in model.modules():
                    if isinstance(module, nn.BatchNorm1d):
                        nn.init.uniform_(module.weight)
        return model

    def dataset(self, items: Sequence[DatasetItem], stream: int) -> Dataset:
        from_disk = bool(items) and items[0].mel_path is not None
        return TextMelDataset(
            items,
            self.config.mel,
            self.config.data.text_frontend,
            load_mel_from_disk=from_disk,
            resample=self.config.data.resample,
        )

    def collate(self) -> Callable[[list[Any]], Any] | None:
        return TextMelCollate(self.model_config.n_frames_per_step)

    def loss(self, model: nn.Module, batch: Any) -> BatchLoss:
        batch = TextMelBatch(*(t.to(self.device, non_blocking=True) for t in batch))
        outputs = model(batch.text, batch.text_lengths, batch.mel, batch.mel_lengths)
        mel, mel_postnet, gate, alignments = outputs
        # tacotron2_loss picks each decoder step's gate target (its last frame's) itself.
        loss = tacotron2_loss(mel, mel_postnet, gate, batch.mel, batch.gate)
        extra: dict[str, Tensor] = {}
        weight = self.config.loss.guided_attention_weight
        if weight > 0:
            nfps = self.model_config.n_frames_per_step
            steps = torch.div(batch.mel_lengths + nfps - 1, nfps, rounding_mode="floor")
            guided = guided_attention_loss(
                alignments, batch.text_lengths, steps, self.config.loss.guided_attention_width
            )
            extra["guided_attention_loss"] = guided.detach()
            loss = loss + weight * guided
        return BatchLoss(loss, batch.mel_lengths.sum(), extra, tuple(outputs))

    def log_examples(self, metrics: MetricsLogger, model: nn.Module, batch: Any, result: BatchLoss, step: int) -> None:
        _, mel_postnet, _, alignments = result.outputs
        text_length, mel_length = int(batch.text_lengths[0]), int(batch.mel_lengths[0])
        decoder_steps = -(-mel_length // self.model_config.n_frames_per_step)
        metrics.log_alignment("validation/alignment", alignments[0, :decoder_steps, :text_length], step)
        vocoder = GriffinLim(self.config.mel, n_iters=PREVIEW_GL_ITERS)
        audio = vocoder(mel_postnet[:1, :, :mel_length].float().cpu())
        metrics.log_audio("validation/audio", audio[0], step, self.config.mel.sampling_rate)

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"symbols": list(SYMBOLS), "text_frontend": self.config.data.text_frontend}


class SeededCrops(Dataset[tuple[Tensor, Tensor]]):
    """WaveGlow items whose random crop depends on (seed, stream, epoch, index) only.

    The reference crops with each worker's torch RNG, so the crops change with the number of
    workers and cannot be replayed after a resume; here a crop is the same whichever process,
    worker or run draws it.
    """

    def __init__(self, dataset: AudioMelDataset, seed: int, stream: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self.stream = stream
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        key = np.random.SeedSequence([self.seed, self.stream, self.epoch, index]).generate_state(1, np.uint64)[0]
        self.dataset.generator = torch.Generator().manual_seed(int(key) & (2**63 - 1))
        return self.dataset[index]


class WaveGlowTask(Task):
    """WaveGlow: (mel, audio segment) → the flow's negative log-likelihood; transcripts unused."""

    title = "WaveGlow"
    rate_name = "samples_per_s"
    reads_mels = False
    ignored_problems = frozenset({"empty_text"})

    @property
    def model_config(self) -> WaveGlowConfig:
        assert self.config.waveglow is not None, "TrainConfig.validate() guarantees the section"
        return self.config.waveglow

    def build_model(self) -> nn.Module:
        return WaveGlow(self.model_config)

    def dataset(self, items: Sequence[DatasetItem], stream: int) -> Dataset:
        audio = AudioMelDataset(
            items, self.config.mel, self.config.data.segment_length, resample=self.config.data.resample
        )
        return SeededCrops(audio, self.config.seed, stream)

    def start_epoch(self, dataset: Dataset, epoch: int) -> None:
        assert isinstance(dataset, SeededCrops)
        dataset.epoch = epoch

    def loss(self, model: nn.Module, batch: Any) -> BatchLoss:
        mel, audio = (t.to(self.device, non_blocking=True) for t in batch)
        z, log_s_list, log_det_W_list = model(mel, audio)
        loss = waveglow_loss(z, log_s_list, log_det_W_list, sigma=self.config.loss.sigma)
        return BatchLoss(loss, torch.tensor(audio.numel(), device=self.device), {}, (mel, audio))

    def log_examples(self, metrics: MetricsLogger, model: nn.Module, batch: Any, result: BatchLoss, step: int) -> None:
        mel, _ = result.outputs
        audio = model.infer(
            mel[:1].float(),
            sigma=VALIDATION_SIGMA,  # type: ignore[operator]
            generator=torch.Generator(self.device).manual_seed(0),
        )
        metrics.log_audio("validation/audio", audio[0], step, self.config.mel.sampling_rate)


_TASKS: dict[str, type[Task]] = {"tacotron2": Tacotron2Task, "waveglow": WaveGlowTask}


def make_task(config: TrainConfig, device: torch.device) -> Task:
    """The task of ``config.model`` (a validated config names a known model)."""
    return _TASKS[config.model](config, device)
