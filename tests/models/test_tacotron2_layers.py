"""LinearNorm / ConvNorm: key names (a checkpoint format), Xavier init with gain, padding."""

from __future__ import annotations

import math

import pytest
import torch

from tacoglow.errors import ConfigError
from tacoglow.models.layers import ConvNorm, LinearNorm


def test_linear_norm_keys_shapes_and_xavier_bound():
    torch.manual_seed(0)
    layer = LinearNorm(300, 200, bias=False, w_init_gain="tanh")
    assert list(layer.state_dict()) == ["linear_layer.weight"]
    weight = layer.linear_layer.weight
    bound = 5.0 / 3.0 * math.sqrt(6.0 / (300 + 200))  # xavier_uniform with gain tanh
    assert weight.shape == (200, 300)
    assert weight.abs().max() <= bound and weight.abs().max() > 0.99 * bound
    assert layer(torch.randn(4, 7, 300)).shape == (4, 7, 200)


def test_linear_norm_with_bias_keeps_default_bias_init():
    torch.manual_seed(0)
    layer = LinearNorm(100, 50)
    assert list(layer.state_dict()) == ["linear_layer.weight", "linear_layer.bias"]
    assert layer.linear_layer.bias.abs().max() <= 1 / math.sqrt(100)
    assert layer.linear_layer.weight.abs().max() > 1 / math.sqrt(100)  # xavier, not the default bound


def test_conv_norm_keys_same_padding_and_gain():
    torch.manual_seed(0)
    conv = ConvNorm(64, 32, kernel_size=5, w_init_gain="relu")
    assert list(conv.state_dict()) == ["conv.weight", "conv.bias"]
    assert conv.conv.padding == (2,)
    bound = math.sqrt(2.0) * math.sqrt(6.0 / (64 * 5 + 32 * 5))
    assert conv.conv.weight.abs().max() <= bound and conv.conv.weight.abs().max() > 0.99 * bound
    assert conv(torch.randn(2, 64, 11)).shape == (2, 32, 11)
    assert ConvNorm(2, 4, kernel_size=3, dilation=2).conv.padding == (2,)


def test_conv_norm_without_bias_and_explicit_padding():
    conv = ConvNorm(2, 8, kernel_size=31, padding=15, bias=False)
    assert list(conv.state_dict()) == ["conv.weight"]
    assert conv(torch.randn(1, 2, 40)).shape == (1, 8, 40)


def test_conv_norm_same_padding_needs_odd_kernel():
    with pytest.raises(ConfigError, match="odd kernel_size, found 4"):
        ConvNorm(2, 2, kernel_size=4)
