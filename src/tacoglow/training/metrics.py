"""Training logs: JSON lines always, TensorBoard when it is installed, a periodic log line.

``<output>/train.jsonl`` gets one JSON object per logged step and per epoch::

    {"event": "step", "step": 120, "epoch": 3, "loss": 1.93, "grad_norm": 0.84, "lr": 0.001,
     "loss_scale": 65536.0, "skipped_steps": 0, "mels_per_s": 1270.4, "time": 1718000000.0}
    {"event": "epoch", "epoch": 3, "step": 160, "train_loss": 2.01, "val_loss": 1.97,
     "mels_per_s": 1265.2, "epoch_time_s": 31.5, "skipped_steps": 0, "time": ...}

Throughput is counted as the reference does (ARCHITECTURE_FACTS §6.3-6.4): real mel frames
(Tacotron 2, ``mels_per_s``) or audio samples (WaveGlow, ``samples_per_s``) of the global batch
divided by the iteration's wall time; the epoch figure is the mean of the per-iteration rates.
A resumed run appends to the same file. TensorBoard (``<output>/tensorboard``) is optional:
without the ``tensorboard`` package only the JSON lines are written. Only rank 0 logs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

__all__ = ["JSONL_NAME", "TENSORBOARD_DIR", "MetricsLogger", "read_jsonl"]

log = logging.getLogger(__name__)

JSONL_NAME = "train.jsonl"
TENSORBOARD_DIR = "tensorboard"


def _make_summary_writer(log_dir: Path) -> Any | None:
    """A TensorBoard ``SummaryWriter``, or None when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch's wrapper imports the optional tensorboard package
        return None
    return SummaryWriter(log_dir=str(log_dir))


def _clean(value: Any) -> Any:
    """JSON-safe scalars: tensors to numbers, non-finite floats to strings ("nan", "inf")."""
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsLogger:
    """Writes training records to ``train.jsonl`` and, if available, TensorBoard.

    Args:
        output_dir: the run's folder (created).
        enabled: False on ranks other than 0: every method is then a no-op.
        tensorboard: also write TensorBoard events when the package imports.
    """

    def __init__(self, output_dir: str | os.PathLike[str], *, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(output_dir) / JSONL_NAME
        self.writer: Any | None = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        if tensorboard:
            self.writer = _make_summary_writer(Path(output_dir) / TENSORBOARD_DIR)
            if self.writer is None:
                log.info("tensorboard not installed: logging to %s only", self.path)

    def _write(self, record: Mapping[str, Any]) -> None:
        line = {key: _clean(value) for key, value in record.items()}
        line.setdefault("time", time.time())
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()

    def _scalars(self, prefix: str, record: Mapping[str, Any], step: int) -> None:
        if self.writer is None:
            return
        for key, value in record.items():
            if key in ("event", "step", "epoch", "time"):
                continue
            value = _clean(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def log_step(self, record: Mapping[str, Any]) -> None:
        """One training step: a JSON line and ``train/*`` scalars. ``record`` needs "step"."""
        if not self.enabled:
            return
        self._write({"event": "step", **record})
        self._scalars("train", record, int(record["step"]))

    def log_epoch(self, record: Mapping[str, Any]) -> None:
        """One epoch summary: a JSON line and ``epoch/*`` scalars. ``record`` needs "step"."""
        if not self.enabled:
            return
        self._write({"event": "epoch", **record})
        self._scalars("epoch", record, int(record["step"]))

    def log_event(self, event: str, record: Mapping[str, Any]) -> None:
        """Any other event (start, resume, warm start, checkpoint): a JSON line only."""
        if not self.enabled:
            return
        self._write({"event": event, **record})

    def log_alignment(self, tag: str, alignment: Tensor, step: int) -> None:
        """An attention map as a TensorBoard image.

        Args:
            alignment (Tensor): attention weights of one item, (T_steps, T_text), in [0, 1].
        """
        if not self.enabled or self.writer is None:
            return
        # (T_steps, T_text) -> (1, T_text, T_steps): text on the vertical axis, time across,
        # the usual way to read an alignment; image rows run top-down, so flip the text axis.
        image = alignment.detach().float().cpu().clamp(0, 1).transpose(0, 1).flip(0).unsqueeze(0)
        self.writer.add_image(tag, image, step, dataformats="CHW")

    def log_audio(self, tag: str, audio: Tensor, step: int, sample_rate: int) -> None:
        """A validation clip as TensorBoard audio.

        Args:
            audio (Tensor): one clip, (T_audio,), roughly in [-1, 1].
        """
        if not self.enabled or self.writer is None:
            return
        clip = audio.detach().float().cpu().reshape(-1).clamp(-1, 1)
        self.writer.add_audio(tag, clip, step, sample_rate=sample_rate)

    def close(self) -> None:
        """Flush and close the files."""
        if not self.enabled:
            return
        self._file.close()
        if self.writer is not None:
            self.writer.close()


def read_jsonl(path: str | os.PathLike[str], event: str | None = None) -> list[dict[str, Any]]:
    """The records of a ``train.jsonl`` file, optionally only those of one ``event``.

    >>> [r["loss"] for r in read_jsonl("out/train.jsonl", "step")][:3]  # doctest: +SKIP
    [5.81, 5.12, 4.70]
    """
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                if event is None or record.get("event") == event:
                    records.append(record)
    return records
