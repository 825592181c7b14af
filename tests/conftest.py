"""Shared fixtures: golden reference data (copied from NVIDIA's code's outputs) and tiny configs.

Tests marked ``slow`` (a subprocess, torchrun, a server under load, a browser, a full-size model:
seconds each) run in CI; ``python3 -m pytest -q -m "not slow"`` leaves them out for a quick loop.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """Folder of golden files computed with NVIDIA's reference (see data/golden/README.md)."""
    return DATA / "golden"


@pytest.fixture(scope="session")
def keys_dir() -> Path:
    """Folder holding tacotron2_keys.json and waveglow_keys.json (full-size state_dict layouts)."""
    return DATA


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests run on 2 shared cores: one thread keeps timings sane and results reproducible."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
