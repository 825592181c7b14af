"""Checks shared by the inference stages: numbers, devices, precisions, and derived seeds."""

from __future__ import annotations

import hashlib
import math

import torch

from tacoglow.errors import ConfigError
from tacoglow.system import warn_if_bf16_is_emulated

__all__ = ["PRECISIONS", "check_number", "derive_seed", "resolve_device", "resolve_precision"]

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
"""Names accepted for ``precision`` and the dtype the models run in."""


def check_number(name: str, value: object, minimum: float, integer: bool = False) -> None:
    """Refuse ``value`` unless it is a finite number (an int if ``integer``) >= ``minimum``.

    Raises:
        ConfigError: naming ``name``, the expectation and the value found.
    """
    kind = "an integer" if integer else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int,) if integer else (int, float))
        or not math.isfinite(value)
        or value < minimum
    ):
        raise ConfigError(f"{name}: expected {kind} >= {minimum:g}, found {value!r}")


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``: "cpu", or "cuda[:N]" on a machine with CUDA.

    Raises:
        ConfigError: any other device, or CUDA without a GPU.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device: expected 'cpu' or 'cuda[:N]', found {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: CUDA is not available on this machine (torch {torch.__version__})")
    if resolved.type not in ("cpu", "cuda"):
        raise ConfigError(f"device: expected 'cpu' or 'cuda[:N]', found {device!r}")
    return resolved


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The dtype of ``precision`` ("fp32", "bf16", "fp16") on ``device``.

    Raises:
        ConfigError: an unknown name, or fp16 on a CPU (its half-precision kernels are slow or missing).

    bf16 on a CPU without native bf16 warns, once per process, that it is slower than fp32 there.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: expected one of {', '.join(PRECISIONS)}, found {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(
            "precision fp16: needs a CUDA device (CPU half-precision kernels are slow or "
            "missing); use --precision bf16 on CPU"
        )
    if precision == "bf16" and device.type == "cpu":
        warn_if_bf16_is_emulated()
    return PRECISIONS[precision]


def derive_seed(*parts: object) -> int:
    """A 63-bit seed that depends only on ``parts`` (stable across runs and platforms)."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
