"""RNG capture and restore: what exact resume relies on."""

from __future__ import annotations

import random

import numpy as np
import torch

from tacoglow.training.rng import capture_rng_state, restore_rng_state, seed_everything


def test_rng_state_round_trip() -> None:
    state = capture_rng_state(torch.device("cpu"))
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(state, torch.device("cpu"))
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]
    assert isinstance(state["torch"], torch.Tensor) and isinstance(state["numpy"]["keys"], torch.Tensor)


def test_seed_everything_seeds_torch_numpy_and_python() -> None:
    seed_everything(7)
    first = (torch.rand(2), np.random.rand(2), random.random())
    seed_everything(7)
    assert torch.equal(first[0], torch.rand(2)) and np.array_equal(first[1], np.random.rand(2))
    assert first[2] == random.random()
