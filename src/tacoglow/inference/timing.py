"""Per-stage wall-clock times of one synthesis call (for ``tacoglow bench`` and callers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

__all__ = ["StageTimes"]


@dataclass
class StageTimes:
    """Wall-clock seconds spent per pipeline stage and counts of what the stages produced.

    Stages: ``text`` (splitting, cleaning, ids to device), ``tacotron2``, ``waveglow`` (the
    vocoder, whichever it is, including the cast to float32) and ``denoiser``. Counts:
    ``mel_frames`` (decoded frames summed over batch rows, padding included, as the reference
    counts them) and ``audio_samples`` (vocoded samples before denoising). CUDA work is
    synchronised at each stage boundary so the split is real. One object per call: it is not
    shared between threads.
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
