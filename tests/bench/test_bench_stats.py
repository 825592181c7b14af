"""The reference benchmark's statistics (tacoglow.bench.stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tacoglow.bench.stats import latency_stats, peak_rss_mib, reference_percentile, snr_db
from tacoglow.errors import ConfigError

# 20 hand-made latencies, shuffled; sorted they are 0.1, 0.2, ..., 2.0.
LATENCIES = [1.3, 0.2, 1.9, 0.7, 2.0, 0.1, 1.1, 0.5, 1.6, 0.9, 0.3, 1.4, 1.8, 0.6, 1.0, 0.4, 1.5, 0.8, 1.2, 1.7]


@pytest.mark.parametrize(
    "fraction, expected",
    [
        (0.5, 1.0),  # floor(20 * 0.5) = 10 -> 10th smallest
        (0.9, 1.8),  # floor(18.0) = 18
        (0.95, 1.9),  # floor(19.0) = 19
        (0.99, 1.9),  # floor(19.8) = 19, not interpolated towards 2.0
        (1.0, 2.0),
        (0.07, 0.1),  # floor(1.4) = 1 -> the smallest
    ],
)
def test_percentile_is_floor_indexed_like_the_reference(fraction, expected):
    assert reference_percentile(LATENCIES, fraction) == pytest.approx(expected)
    # and it is not numpy's interpolated percentile where they differ
    if fraction == 0.99:
        assert np.percentile(LATENCIES, 99) > expected


def test_percentile_undefined_below_one_element():
    with pytest.raises(ConfigError, match="needs at least 2 measurements, found 1"):
        reference_percentile([1.0], 0.5)
    with pytest.raises(ConfigError, match="fraction"):
        reference_percentile([1.0], 0.0)


def test_latency_stats_uses_population_std():
    stats = latency_stats(LATENCIES)
    assert stats.n == 20
    assert stats.mean == pytest.approx(1.05)
    assert stats.std == pytest.approx(float(np.std(LATENCIES)))  # ddof=0
    assert stats.std != pytest.approx(float(np.std(LATENCIES, ddof=1)))
    assert (stats.p50, stats.p90, stats.p95, stats.p99, stats.max) == pytest.approx((1.0, 1.8, 1.9, 1.9, 2.0))
    two = latency_stats([3.0, 1.0])
    assert (two.p50, two.p99, two.std) == (1.0, 1.0, 1.0)
    with pytest.raises(ConfigError, match="at least 2 measured iterations"):
        latency_stats([1.0])


def test_snr_db():
    signal = torch.sin(torch.linspace(0, 100, 10_000))
    noise = 0.01 * torch.randn(10_000, generator=torch.Generator().manual_seed(0))
    expected = 10 * math.log10(float(signal.pow(2).sum()) / float(noise.pow(2).sum()))
    assert snr_db(signal, signal + noise) == pytest.approx(expected)
    assert 35 < expected < 45
    assert snr_db(signal, signal) == math.inf
    assert snr_db(signal, torch.cat([signal, torch.ones(5)])) == math.inf  # cut to the shorter


def test_peak_rss_is_plausible():
    assert 10 < peak_rss_mib() < 1_000_000
