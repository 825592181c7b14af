"""A real server for the serving tests: uvicorn on a free loopback port, in a thread of the test process.

The voice is the bundled one (Griffin-Lim vocoder) with a fixed seed and prenet dropout off, so the
same request always gives the same audio whatever it is batched with.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

import uvicorn

from tacoglow.inference.synthesizer import Synthesizer
from tacoglow.serving import ServerSettings, create_app


@pytest.fixture(scope="session")
def synthesizer() -> Synthesizer:
    return Synthesizer.from_checkpoints(seed=0, prenet_dropout=False)


@dataclass
class RecordingSynthesizer:
    """The real Synthesizer, recording when each ``synthesize`` call returned and for which texts."""

    inner: Synthesizer
    calls: list[tuple[float, list[str]]] = field(default_factory=list)

    def synthesize(self, texts: list[str], **kwargs: Any) -> Any:
        result = self.inner.synthesize(texts, **kwargs)
        self.calls.append((time.monotonic(), list(texts)))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Running:
    url: str
    app: Any


@contextmanager
def running(synth: Any, settings: ServerSettings | None = None) -> Iterator[Running]:
    """Serve ``create_app(synth, settings)`` on 127.0.0.1 at a free port until the block ends."""
    app = create_app(synth, settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # startup synthesizes one warm-up sentence
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    try:
        yield Running(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()


@pytest.fixture(scope="module")
def server(synthesizer: Synthesizer) -> Iterator[Running]:
    with running(synthesizer) as r:
        yield r
