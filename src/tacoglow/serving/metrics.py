"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ServerMetrics"]

# Latency buckets (seconds): a short sentence on a GPU to a long text on a small CPU.
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)


class ServerMetrics:
    """Requests, errors, latency, queue depth, batch sizes and audio produced."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tacoglow_requests",
            "Speech requests received",
            ["response_format", "stream_format"],
            registry=self.registry,
        )
        self.errors = Counter(
            "tacoglow_errors", "Requests answered with an error", ["status", "code"], registry=self.registry
        )
        self.latency = Histogram(
            "tacoglow_request_seconds",
            "Time from request to the last byte of its audio",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.first_audio = Histogram(
            "tacoglow_first_audio_seconds",
            "Time from request to its first audio",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge("tacoglow_queue_depth", "Text pieces waiting for synthesis", registry=self.registry)
        self.batch_size = Histogram(
            "tacoglow_batch_pieces",
            "Pieces synthesized together",
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32),
            registry=self.registry,
        )
        self.audio_seconds = Counter("tacoglow_audio_seconds", "Seconds of audio produced", registry=self.registry)
