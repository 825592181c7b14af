"""Fixtures of the serving tests: the bundled voice (Griffin-Lim vocoder) with a fixed seed and prenet
dropout off, so the same request always gives the same audio whatever it is batched with, served by
a real server (see live_server.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from tacoglow.inference.synthesizer import Synthesizer  # noqa: E402

from live_server import Running, running  # noqa: E402  (after the skips: needs the serve extra)


@pytest.fixture(scope="session")
def synthesizer() -> Synthesizer:
    return Synthesizer.from_checkpoints(seed=0, prenet_dropout=False)


@pytest.fixture(scope="module")
def server(synthesizer: Synthesizer) -> Iterator[Running]:
    with running(synthesizer) as r:
        yield r
