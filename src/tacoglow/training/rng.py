"""Every random number generator training draws from: seed, capture and restore them.

States are stored as tensors and plain lists, so checkpoints holding them load with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["capture_rng_state", "restore_rng_state", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed torch's CPU (and CUDA) RNG, numpy's global RNG and python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def capture_rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Every RNG state that training consumes: torch CPU, CUDA (if used), numpy, python ``random``."""
    np_state = np.random.get_state()
    assert isinstance(np_state, tuple)  # legacy=True, the default: (name, keys, pos, has_gauss, cached)
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device is not None and device.type == "cuda" else None,
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": int(py_version), "state": list(py_state), "gauss_next": py_gauss},
    }


def restore_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Set the RNGs back to a :func:`capture_rng_state` result."""
    torch.set_rng_state(state["torch"].to(torch.uint8).cpu())
    if device is not None and device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"].to(torch.uint8).cpu(), device)
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
