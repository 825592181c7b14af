"""One explicit step from a reference model to its inference form (as HiFi-GAN's ``remove_weight_norm``).

``models/`` holds NVIDIA's math only. The speed paths live here, in :mod:`~tacoglow.inference.fast_tacotron2`
and :mod:`~tacoglow.inference.fast_waveglow`, and are reached through :func:`prepare_for_inference`:
it returns a new module with its weights fused once for one dtype and device, the same ``infer``
signature and results (to float rounding), and no state that changes between calls, so one prepared
module may serve many threads. The model it was made from is left unchanged.

>>> import torch
>>> from tacoglow.models import Tacotron2, Tacotron2Config
>>> fast = prepare_for_inference(Tacotron2(Tacotron2Config()), torch.float32, "cpu")
>>> type(fast).__name__
'PreparedTacotron2'
"""

from __future__ import annotations

import torch
from torch import nn

from tacoglow.errors import ConfigError
from tacoglow.inference.fast_tacotron2 import PreparedTacotron2, prepare_tacotron2
from tacoglow.inference.fast_waveglow import PreparedWaveGlow, prepare_waveglow
from tacoglow.models.tacotron2 import Tacotron2
from tacoglow.models.waveglow import WaveGlow

__all__ = ["prepare_for_inference"]


def prepare_for_inference(
    model: nn.Module, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> PreparedTacotron2 | PreparedWaveGlow:
    """The inference form of a Tacotron 2 or a WaveGlow, in ``dtype`` on ``device``.

    Args:
        model: a :class:`~tacoglow.models.Tacotron2` or :class:`~tacoglow.models.WaveGlow` (not modified).
        dtype: the weights' dtype (default: the model's).
        device: where it runs (default: where the model is).

    Raises:
        ConfigError: another kind of module.
    """
    if isinstance(model, Tacotron2):
        return prepare_tacotron2(model, dtype, device)
    if isinstance(model, WaveGlow):
        return prepare_waveglow(model, dtype, device)
    raise ConfigError(f"prepare_for_inference: expected a Tacotron2 or a WaveGlow, found {type(model).__name__}")
