"""Linear and 1-D convolution layers with Xavier initialisation, as NVIDIA's Tacotron 2 builds them.

They exist for two reasons: their attribute names (``linear_layer``, ``conv``) are part of the
checkpoint format (state-dict keys such as ``decoder.gate_layer.linear_layer.weight``), and their
weight init (Xavier-uniform with a gain chosen for the following non-linearity) is the reference's.
Biases keep PyTorch's default init.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from tacoglow.errors import ConfigError

__all__ = ["ConvNorm", "InitGain", "LinearNorm"]

# The non-linearities ``nn.init.calculate_gain`` knows that Tacotron 2's layers are followed by.
InitGain = Literal["linear", "relu", "sigmoid", "tanh"]


class LinearNorm(nn.Module):
    """A ``nn.Linear`` held in ``linear_layer`` whose weight is Xavier-uniform initialised.

    Args:
        in_dim: input features.
        out_dim: output features.
        bias: whether the linear layer has a bias (default init when it has).
        w_init_gain: name of the non-linearity that follows, for ``nn.init.calculate_gain``
            ("linear" 1, "tanh" 5/3, "relu" sqrt(2), "sigmoid" 1).

    Shapes: ``(..., in_dim) -> (..., out_dim)``.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, w_init_gain: InitGain = "linear") -> None:
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim, bias=bias)
        nn.init.xavier_uniform_(self.linear_layer.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: Tensor) -> Tensor:
        """Apply the linear layer: ``(..., in_dim) -> (..., out_dim)``."""
        return self.linear_layer(x)


class ConvNorm(nn.Module):
    """A ``nn.Conv1d`` held in ``conv`` whose weight is Xavier-uniform initialised.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: kernel width.
        stride: convolution stride.
        padding: zero padding on each side; ``None`` means "same" padding,
            ``dilation * (kernel_size - 1) // 2``, which needs an odd kernel.
        dilation: kernel dilation.
        bias: whether the convolution has a bias (default init when it has).
        w_init_gain: name of the non-linearity that follows (see ``LinearNorm``).

    Shapes: ``(B, in_channels, T) -> (B, out_channels, T')``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        bias: bool = True,
        w_init_gain: InitGain = "linear",
    ) -> None:
        super().__init__()
        if padding is None:
            if kernel_size % 2 != 1:
                raise ConfigError(f"ConvNorm: 'same' padding needs an odd kernel_size, found {kernel_size}")
            padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=bias,
        )
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: Tensor) -> Tensor:
        """Apply the convolution: ``(B, in_channels, T) -> (B, out_channels, T')``."""
        return self.conv(x)
