"""Hyper-parameters of WaveGlow, with NVIDIA's names, and their conversion to and from NVIDIA's
constructor keywords (a checkpoint's ``config``, with the WN sizes nested in ``WN_config``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tacoglow.errors import ConfigError

__all__ = ["WaveGlowConfig"]


@dataclass
class WaveGlowConfig:
    """Hyper-parameters of :class:`WaveGlow` (NVIDIA's names; the last three are its ``WN_config``).

    Attributes:
        n_mel_channels (int): mel bins of the conditioning spectrogram. Default 80.
        n_flows (int): number of coupling flows. Default 12.
        n_group (int): audio samples folded into channels; must be even. Default 8.
        n_early_every (int): a flow k > 0 with k % n_early_every == 0 first emits channels early.
            Default 4.
        n_early_size (int): channels emitted at each early output; must be even so that every
            flow sees an even channel count. Default 2.
        n_layers (int): dilated-conv layers per WN (dilations 1, 2, …, 2^(n_layers-1)). Default 8.
        kernel_size (int): kernel of the dilated convs; must be odd. Default 3.
        n_channels (int): WN residual channels; must be even. Default 512 (the reference's CLI
            default). NVIDIA's published "waveglow256" checkpoint needs 256.
    """

    n_mel_channels: int = 80
    n_flows: int = 12
    n_group: int = 8
    n_early_every: int = 4
    n_early_size: int = 2
    n_layers: int = 8
    kernel_size: int = 3
    n_channels: int = 512

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"WaveGlowConfig.{field.name}: expected an int, found {value!r}")
        for name in ("n_mel_channels", "n_flows", "n_early_every", "n_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"WaveGlowConfig.{name}: expected >= 1, found {getattr(self, name)}")
        if self.n_group < 2 or self.n_group % 2:
            raise ConfigError(f"WaveGlowConfig.n_group: expected an even number >= 2, found {self.n_group}")
        if self.n_early_size < 0 or self.n_early_size % 2:
            raise ConfigError(f"WaveGlowConfig.n_early_size: expected an even number >= 0, found {self.n_early_size}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"WaveGlowConfig.kernel_size: expected an odd number >= 1, found {self.kernel_size}")
        if self.n_channels < 2 or self.n_channels % 2:
            raise ConfigError(f"WaveGlowConfig.n_channels: expected an even number >= 2, found {self.n_channels}")
        if self.n_remaining_channels < 2:
            raise ConfigError(
                f"WaveGlowConfig: n_group={self.n_group} minus {self.n_early_outputs} early outputs of "
                f"n_early_size={self.n_early_size} must leave >= 2 channels, "
                f"found {self.n_remaining_channels}"
            )

    @property
    def n_early_outputs(self) -> int:
        """How many flows emit channels early (k in 1..n_flows-1 with k % n_early_every == 0)."""
        return (self.n_flows - 1) // self.n_early_every

    @property
    def n_remaining_channels(self) -> int:
        """Channels left after every early output: those the last flow (and ``infer``'s first
        noise draw) sees."""
        return self.n_group - self.n_early_size * self.n_early_outputs

    @classmethod
    def from_nvidia(cls, config: Mapping[str, Any]) -> WaveGlowConfig:
        """Build from NVIDIA's constructor keywords (a checkpoint's ``config``).

        Args:
            config: ``{n_mel_channels, n_flows, n_group, n_early_every, n_early_size,
                WN_config: {n_layers, kernel_size, n_channels}}``; missing keys take the defaults.

        Raises:
            ConfigError: on an unknown key or an invalid value.
        """
        top = {f.name for f in dataclasses.fields(cls)} - set(_WN_KEYS)
        unknown = sorted(set(config) - top - {"WN_config"})
        if unknown:
            raise ConfigError(f"WaveGlow config: expected keys {sorted(top | {'WN_config'})}, found unknown {unknown}")
        wn = config.get("WN_config", {})
        if not isinstance(wn, Mapping):
            raise ConfigError(f"WaveGlow config WN_config: expected a dict, found {type(wn).__name__}")
        unknown = sorted(set(wn) - set(_WN_KEYS))
        if unknown:
            raise ConfigError(f"WaveGlow config WN_config: expected keys {list(_WN_KEYS)}, found unknown {unknown}")
        return cls(**{k: v for k, v in config.items() if k != "WN_config"}, **dict(wn))

    def to_nvidia(self) -> dict[str, Any]:
        """NVIDIA's constructor keywords, with ``WN_config`` nested (inverse of ``from_nvidia``)."""
        flat = dataclasses.asdict(self)
        out: dict[str, Any] = {k: v for k, v in flat.items() if k not in _WN_KEYS}
        out["WN_config"] = {k: flat[k] for k in _WN_KEYS}
        return out


_WN_KEYS = ("n_layers", "kernel_size", "n_channels")
