"""A real server for the serving tests: uvicorn on a free loopback port, in a thread of the test process.

Imported by name (``from live_server import running``): a module named ``conftest`` would clash with
the other test folders' conftest files.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import uvicorn

from tacoglow.inference.synthesizer import Synthesizer
from tacoglow.serving import ServerSettings, create_app


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
    """Serve ``create_app(synth, settings)`` on 127.0.0.1 at a free port until the block ends.

    The app's synthesis thread runs torch with one thread, as the tests do (tests/conftest.py):
    Griffin-Lim's last bits depend on how an op's elements are split among threads, and tests
    compare the server's samples with the same text synthesized in the test.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the app keeps the count it is made under
    try:
        app = create_app(synth, settings)
    finally:
        torch.set_num_threads(threads)
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
