"""The reference's learning-rate schedule: a step decay on the epoch, with no warm-up.

NVIDIA's ``train.py`` sets the learning rate before every iteration from the **epoch** alone
(ARCHITECTURE_FACTS §6.1): with p = the number of anneal epochs already reached,

- factor 0.3: lr = lr0 · 0.1^(p // 2) · (0.3 if p is odd else 1), i.e. ×1, ×0.3, ×0.1, ×0.03 …
  (the reference's AMP recipe: 0.3 alternates with 0.1/0.3 ≈ 0.33 so two steps make a decade);
- any other factor: lr = lr0 · factor^p (the FP32/TF32 recipe uses 0.1).
"""
from __future__ import annotations

from collections.abc import Sequence

from tacoglow.errors import ConfigError

__all__ = ["learning_rate"]


def learning_rate(epoch: int, base_lr: float, anneal_steps: Sequence[int], anneal_factor: float) -> float:
    """The learning rate of ``epoch`` (0-based) under the reference's step schedule.

    Args:
        epoch: the current epoch, counted from 0.
        base_lr: the initial learning rate lr0.
        anneal_steps: epochs at which the rate drops (order does not matter).
        anneal_factor: the drop per anneal step; 0.3 is the reference's alternating special case.

    Returns:
        the learning rate for every iteration of that epoch.

    >>> [round(learning_rate(e, 1.0, [1, 2, 3], 0.3), 6) for e in range(4)]
    [1.0, 0.3, 0.1, 0.03]
    >>> [round(learning_rate(e, 1e-3, [500, 1000, 1500], 0.1), 9) for e in (0, 499, 500, 1000, 1500)]
    [0.001, 0.001, 0.0001, 1e-05, 1e-06]
    """
    if epoch < 0:
        raise ConfigError(f"learning_rate epoch: expected an epoch >= 0, found {epoch}")
    if not 0.0 < anneal_factor <= 1.0:
        raise ConfigError(f"optim.anneal_factor: expected a value in (0, 1], found {anneal_factor}")
    p = sum(1 for step in anneal_steps if epoch >= step)
    if anneal_factor == 0.3:
        return base_lr * 0.1 ** (p // 2) * (0.3 if p % 2 else 1.0)
    return base_lr * anneal_factor**p
