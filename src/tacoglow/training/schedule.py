"""The reference's learning-rate schedules: a step decay on the epoch, with no warm-up.

NVIDIA's ``train.py`` sets the learning rate before every iteration from the **epoch** alone
(ARCHITECTURE_FACTS §6.1). With p = the number of anneal epochs (``optim.anneal_steps``) reached:

- ``step``: lr = lr0 · anneal_factor^p (the reference's FP32/TF32 recipe: factor 0.1);
- ``half_decade``: lr = lr0 · 0.1^(p // 2) · (0.3 if p is odd else 1), i.e. ×1, ×0.3, ×0.1,
  ×0.03 …: alternately ×0.3 and ×1/3, a decade every two anneal epochs (the reference's AMP
  recipe, which it selects by an anneal factor of 0.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from tacoglow.errors import ConfigError

__all__ = ["Schedule", "learning_rate"]

Schedule = Literal["step", "half_decade"]
"""The names of the schedules (``optim.schedule``)."""


def learning_rate(
    epoch: int, base_lr: float, anneal_steps: Sequence[int], schedule: Schedule = "step", anneal_factor: float = 0.1
) -> float:
    """The learning rate of ``epoch`` (0-based).

    Args:
        epoch: the current epoch, counted from 0.
        base_lr: the initial learning rate lr0.
        anneal_steps: epochs at which the rate drops (order does not matter).
        schedule: "step" or "half_decade" (see the module docstring).
        anneal_factor: the drop per anneal epoch of the "step" schedule.

    Returns:
        the learning rate for every iteration of that epoch.

    >>> [round(learning_rate(e, 1.0, [1, 2, 3], "half_decade"), 6) for e in range(4)]
    [1.0, 0.3, 0.1, 0.03]
    >>> [round(learning_rate(e, 1e-3, [500, 1000, 1500], "step", 0.1), 9) for e in (0, 499, 500, 1000, 1500)]
    [0.001, 0.001, 0.0001, 1e-05, 1e-06]
    """
    if epoch < 0:
        raise ConfigError(f"learning_rate epoch: expected an epoch >= 0, found {epoch}")
    p = sum(1 for step in anneal_steps if epoch >= step)
    if schedule == "half_decade":
        return base_lr * 0.1 ** (p // 2) * (0.3 if p % 2 else 1.0)
    if schedule != "step":
        raise ConfigError(f"optim.schedule: expected step or half_decade, found {schedule!r}")
    if not 0.0 < anneal_factor <= 1.0:
        raise ConfigError(f"optim.anneal_factor: expected a value in (0, 1], found {anneal_factor}")
    return base_lr * anneal_factor**p
