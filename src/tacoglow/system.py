"""What machine this is: the CPU's name, whether it computes bf16 natively, torch's kernels.

Speed depends on the CPU far more than on anything else here: bf16 WaveGlow is about twice as fast
as fp32 on a CPU with AVX512-BF16 or AMX (oneDNN runs bf16 matrix products natively), and several
times *slower* on one without, where every bf16 product is converted to float32 and back. So every
speed figure names its CPU (``tacoglow bench``, ``tacoglow info --system``), and asking for bf16 on
a CPU without native support warns once.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
"""/proc/cpuinfo flags under which oneDNN computes bf16 matrix products natively on x86-64."""


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The first processor's entries of a /proc/cpuinfo text, e.g. {"model name": ..., "flags": ...}."""
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if entries:
                break
            continue
        key, _, value = line.partition(":")
        entries.setdefault(key.strip(), value.strip())
    return entries


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """This machine's :func:`parse_cpuinfo` (empty off Linux)."""
    try:
        return parse_cpuinfo(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}


def cpu_name() -> str:
    """The CPU's model name, e.g. 'AMD EPYC 9R14 96-Core Processor' ('unknown CPU' if unreadable)."""
    return _cpuinfo().get("model name") or platform.processor() or "unknown CPU"


def cpu_has_native_bf16() -> bool | None:
    """Whether the CPU multiplies bf16 natively (AVX512-BF16 or AMX); None where it cannot be told."""
    flags = _cpuinfo().get("flags")
    if flags is None:
        return None
    return any(flag in flags.split() for flag in BF16_CPU_FLAGS)


def describe_cpu() -> str:
    """One line naming the CPU, its core count and its bf16 support, for tables and logs."""
    native = cpu_has_native_bf16()
    bf16 = {True: "native bf16", False: "no native bf16", None: "bf16 support unknown"}[native]
    return f"{cpu_name()}, {os.cpu_count()} CPUs, {bf16}"


def system_info() -> dict[str, object]:
    """A JSON-able description of this machine as tacoglow's speed depends on it."""
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "native_bf16": cpu_has_native_bf16(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


@functools.lru_cache(maxsize=1)
def warn_if_bf16_is_emulated() -> bool:
    """Warn, once per process, that bf16 on this CPU is slower than fp32; returns whether it warned."""
    if cpu_has_native_bf16() is not False:
        return False
    logger.warning(
        "bf16 on %s: this CPU has no native bf16 (AVX512-BF16 or AMX), so bf16 runs slower than "
        "fp32 here; use --precision fp32",
        cpu_name(),
    )
    return True
