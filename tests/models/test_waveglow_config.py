"""WaveGlowConfig: NVIDIA's constructor keywords, validation and channel bookkeeping."""

from __future__ import annotations

import pytest
import torch

from tacoglow.errors import ConfigError
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig


@pytest.fixture(scope="module")
def golden(golden_dir):
    return (torch.load(golden_dir / "waveglow.pt", weights_only=True),)


def test_config_nvidia_round_trip(golden):
    nvidia = golden[0]["config"]
    config = WaveGlowConfig.from_nvidia(nvidia)
    assert (config.n_flows, config.n_early_every, config.n_layers, config.n_channels) == (5, 2, 3, 6)
    assert config.to_nvidia() == nvidia
    assert WaveGlowConfig().to_nvidia() == {
        "n_mel_channels": 80,
        "n_flows": 12,
        "n_group": 8,
        "n_early_every": 4,
        "n_early_size": 2,
        "WN_config": {"n_layers": 8, "kernel_size": 3, "n_channels": 512},
    }
    assert WaveGlowConfig.from_nvidia({"WN_config": {"n_channels": 256}}) == WaveGlowConfig(n_channels=256)


@pytest.mark.parametrize(
    "nvidia, match",
    [
        ({"n_flow": 12}, r"unknown \['n_flow'\]"),
        ({"WN_config": {"channels": 256}}, r"WN_config: .*unknown \['channels'\]"),
        ({"n_layers": 8}, r"unknown \['n_layers'\]"),  # WN keys belong inside WN_config
        ({"WN_config": 256}, "expected a dict"),
    ],
)
def test_config_from_nvidia_rejects_unknown_keys(nvidia, match):
    with pytest.raises(ConfigError, match=match):
        WaveGlowConfig.from_nvidia(nvidia)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_group": 7}, r"n_group: expected an even number >= 2, found 7"),
        ({"kernel_size": 4}, r"kernel_size: expected an odd number >= 1, found 4"),
        ({"n_channels": 5}, r"n_channels: expected an even number >= 2, found 5"),
        ({"n_early_size": 1}, r"n_early_size: expected an even number >= 0, found 1"),
        ({"n_flows": 0}, r"n_flows: expected >= 1, found 0"),
        ({"n_early_every": 0}, r"n_early_every: expected >= 1, found 0"),
        ({"n_flows": 13, "n_early_every": 3}, r"must leave >= 2 channels, found 0"),
        ({"n_channels": 256.0}, r"n_channels: expected an int, found 256.0"),
        ({"n_layers": True}, r"n_layers: expected an int, found True"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        WaveGlowConfig(**kwargs)


def test_config_channel_bookkeeping():
    config = WaveGlowConfig()
    assert (config.n_early_outputs, config.n_remaining_channels) == (2, 4)
    with torch.device("meta"):
        model = WaveGlow(WaveGlowConfig(n_channels=8))
    assert [flow.conv.weight.shape[0] for flow in model.convinv] == [8] * 4 + [6] * 4 + [4] * 4
    assert [wn.start.weight_v.shape[1] for wn in model.WN] == [4] * 4 + [3] * 4 + [2] * 4
