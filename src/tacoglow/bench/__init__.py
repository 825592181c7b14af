"""Benchmarks: NVIDIA's inference benchmark in its own terms (:mod:`tacoglow.bench.inference`)."""

from tacoglow.bench.inference import (
    BenchReport,
    BenchRow,
    BenchSettings,
    bench_inputs,
    format_table,
    random_models,
    run_benchmark,
    write_json,
)
from tacoglow.bench.stats import LatencyStats, latency_stats, peak_rss_mib, reference_percentile, snr_db

__all__ = [
    "BenchReport",
    "BenchRow",
    "BenchSettings",
    "LatencyStats",
    "bench_inputs",
    "format_table",
    "latency_stats",
    "peak_rss_mib",
    "random_models",
    "reference_percentile",
    "run_benchmark",
    "snr_db",
    "write_json",
]
