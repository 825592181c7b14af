"""Statistics of NVIDIA's inference benchmark (``test_infer.py``), defined exactly as it does.

- mean and **population** standard deviation (numpy's default ``ddof=0``);
- percentile "cl X": sort ascending and take the largest of the first ``floor(n·X)`` values,
  i.e. element ``floor(n·X) − 1`` (ARCHITECTURE_FACTS.md §7.2). It is not interpolated, and it
  is undefined when ``floor(n·X) = 0`` (the reference crashes; we raise ``ConfigError``).

Plus the signal-to-noise ratio used to compare low-precision audio against float32, and the
process's peak resident memory.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tacoglow.errors import ConfigError

__all__ = [
    "REFERENCE_PERCENTILES",
    "LatencyStats",
    "latency_stats",
    "matmul_peak_gflops",
    "peak_rss_mib",
    "reference_percentile",
    "snr_db",
]

REFERENCE_PERCENTILES = (0.5, 0.9, 0.95, 0.99, 1.0)
"""The confidence levels NVIDIA's benchmark prints."""


def reference_percentile(values: Sequence[float], fraction: float) -> float:
    """The reference's percentile: ``sorted(values)[floor(len(values) · fraction) − 1]``.

    >>> reference_percentile([5.0, 1.0, 4.0, 2.0, 3.0], 0.5)   # floor(2.5) = 2 -> 2nd smallest
    2.0
    >>> reference_percentile([5.0, 1.0, 4.0, 2.0, 3.0], 0.99)  # floor(4.95) = 4 -> 4th smallest
    4.0

    Raises:
        ConfigError: if ``floor(len(values) · fraction)`` is 0 (too few values for this level).
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"percentile: expected a fraction in (0, 1], found {fraction}")
    count = math.floor(len(values) * fraction)
    if count == 0:
        raise ConfigError(
            f"percentile {fraction:g}: needs at least {math.ceil(1 / fraction)} measurements, found {len(values)}"
        )
    return float(sorted(values)[count - 1])


@dataclass(frozen=True)
class LatencyStats:
    """Summary of latencies in seconds, as NVIDIA's benchmark prints it.

    Attributes:
        n: number of measurements (warm-up excluded).
        mean: average.
        std: population standard deviation.
        p50, p90, p95, p99: reference percentiles (see :func:`reference_percentile`).
        max: the largest value (the reference's "cl 100%").
    """

    n: int
    mean: float
    std: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


def latency_stats(values: Sequence[float]) -> LatencyStats:
    """Mean, population std and the reference percentiles of ``values`` (at least 2 of them).

    Raises:
        ConfigError: fewer than 2 values (the 50% level needs floor(n/2) >= 1).
    """
    if len(values) < 2:
        raise ConfigError(f"latency statistics: need at least 2 measured iterations, found {len(values)}")
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    p50, p90, p95, p99, top = (reference_percentile(values, x) for x in REFERENCE_PERCENTILES)
    return LatencyStats(n=n, mean=mean, std=std, p50=p50, p90=p90, p95=p95, p99=p99, max=top)


def snr_db(reference: torch.Tensor, test: torch.Tensor) -> float:
    """Signal-to-noise ratio of ``test`` against ``reference`` in dB: 10·log10(Σref² / Σ(test − ref)²).

    Both are cut to the shorter length; identical signals give +inf.
    """
    n = min(reference.numel(), test.numel())
    ref = reference.reshape(-1)[:n].double()
    noise = test.reshape(-1)[:n].double() - ref
    signal_power, noise_power = float(ref.pow(2).sum()), float(noise.pow(2).sum())
    if noise_power == 0.0:
        return math.inf
    if signal_power == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_power / noise_power)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (``getrusage``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def matmul_peak_gflops(
    dtype: torch.dtype, size: int = 2048, repeats: int = 3, device: torch.device | str = "cpu"
) -> float:
    """Arithmetic ceiling of this machine now: GFLOP/s of a (size × size) matrix product, best of
    ``repeats`` (after one warm-up product). Measure it in the same run as what it is compared with:
    on a shared machine it moves with the load."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9
