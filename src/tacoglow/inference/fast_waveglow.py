"""WaveGlow prepared for inference: the same ``infer``/``decode`` as :class:`WaveGlow`, as fused GEMMs.

:func:`prepare_waveglow` is an explicit one-time step, like HiFi-GAN's ``remove_weight_norm()``:
it reads a :class:`~tacoglow.models.waveglow.WaveGlow` (weight-normed or fused, left unchanged)
and returns a :class:`PreparedWaveGlow` whose weights are composed once, in float64, and rounded
once to the chosen dtype. Nothing is computed lazily or stored per call, so one prepared module
may serve several threads at once. It is a snapshot: later edits of the source model are not
seen (prepare again), and it cannot be moved, cast, copied or trained (prepare again from the
source model for another dtype or device).

The math is the reference's up to float rounding, reorganised for a CPU (about the
matrix-product peak of a core in float32 and bfloat16):
- the flows run channels-last, (B, L, channels), where every 1×1 conv is a GEMM over channels;
- each WN layer is one GEMM over [the dilated conv's taps | the conditioning]
  (K = kernel_size·C + n_mels·n_group, the two biases summed), so no conditioning tensor for all
  layers ever exists; layer 0's taps read [audio | 1] with ``start`` folded in;
- the gate tanh(a)·σ(b) is 2·(σ(2a) − ½)·σ(b), the 2s folded into the weights, so a single
  sigmoid, fused into the GEMM, serves both halves (tanh costs ~4× more);
- the skips are only ever summed and fed to the linear ``end``, so ``end`` is folded into each
  layer's skip rows (2·n_in instead of C) and accumulated beside the residual stream by the
  residual GEMM itself;
- on a CPU the GEMMs run on oneDNN's pre-packed inner product (``torch.ops.mkldnn``, private ops
  without autograd: ~20 % faster than ``F.linear`` in float32, and the bf16 matrix peak); a torch
  build without them, other devices and other dtypes use ``F.linear``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tacoglow.errors import ConfigError

# The model's private parts are read on purpose: this module is their inference-time twin.
from tacoglow.models.waveglow import (
    _WN,
    WaveGlow,
    WeightNormConv1d,
    _Invertible1x1Conv,
    check_latent,
    condition,
    inverse_affine,
    is_early,
    sample_noise,
)
from tacoglow.models.waveglow_config import WaveGlowConfig

__all__ = ["prepare_waveglow", "PreparedWaveGlow"]


def prepare_waveglow(
    model: WaveGlow, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> PreparedWaveGlow:
    """Compose ``model``'s inference weights once for ``dtype`` on ``device``; ``model`` is not modified.

    Args:
        model (WaveGlow): the reference model, with or without weight norm (fused in float32
            first, as NVIDIA's ``remove_weight_norm``).
        dtype (torch.dtype, optional): weights and activations of the prepared module; default
            the model's. Composed from the model's own (e.g. float32) weights, rounded once.
        device (torch.device or str, optional): default the model's.

    Returns:
        PreparedWaveGlow: ``infer(mel, sigma, generator)`` and ``decode(mel, z)`` as the model's.

    Example:
        >>> from tacoglow.models.waveglow import WaveGlowConfig
        >>> model = WaveGlow(WaveGlowConfig(n_flows=4, n_early_every=2, n_layers=2, n_channels=8)).eval()
        >>> fast = prepare_waveglow(model, torch.float32)
        >>> mel = torch.randn(1, 80, 10)                 # (B, n_mels, T_mel)
        >>> fast.infer(mel, sigma=0.6).shape             # (B, T_mel · 256)
        torch.Size([1, 2560])
    """
    if not isinstance(model, WaveGlow):
        raise ConfigError(f"prepare_waveglow: expected a WaveGlow, found {type(model).__name__}")
    weight = model.upsample.weight
    return PreparedWaveGlow(model, dtype or weight.dtype, torch.device(device) if device is not None else weight.device)


class PreparedWaveGlow(nn.Module):
    """WaveGlow inference on weights composed once (build it with :func:`prepare_waveglow`).

    Attributes:
        config (WaveGlowConfig): the source model's.
        upsample (nn.ConvTranspose1d): a copy of the source's, in the prepared dtype and device.
        dtype (torch.dtype), device (torch.device): what the module was prepared for.
    """

    def __init__(self, model: WaveGlow, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.config: WaveGlowConfig = model.config
        self.dtype, self.device = dtype, device
        upsample = copy.deepcopy(model.upsample).requires_grad_(False)
        self.upsample = upsample.to(device=device, dtype=dtype)
        flows = []
        with torch.no_grad():
            for wn, convinv in zip(model.WN, model.convinv, strict=True):
                assert isinstance(wn, _WN) and isinstance(convinv, _Invertible1x1Conv)
                flows.append(_Flow(_fuse_wn(wn, dtype, device), _inverse(convinv, dtype, device)))
        self._flows = tuple(flows)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> PreparedWaveGlow:
        # nn.Module's .to(), .half(), .cuda() … would leave the composed weights behind: refuse, loudly.
        raise ConfigError(
            f"a prepared WaveGlow ({self.dtype}, {self.device}) cannot be moved or cast: "
            "call prepare_waveglow on the source model again"
        )

    @torch.no_grad()
    def infer(self, mel: Tensor, sigma: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """:meth:`WaveGlow.infer`: mel (B, n_mels, T_mel) → audio (B, T_mel·256) in the prepared dtype.

        The noise is drawn as the reference's (float32, same order, same generator use), then cast.
        """
        spect = condition(mel.to(self.device), self.upsample, self.config.n_group)
        z = sample_noise(self.config, spect.size(0), spect.size(2), generator, spect.device)
        return self._reverse(spect, sigma * z.to(spect.dtype))

    @torch.no_grad()
    def decode(self, mel: Tensor, z: Tensor) -> Tensor:
        """:meth:`WaveGlow.decode`: mel (B, n_mels, T_mel) and z (B, n_group, L) → audio (B, L·n_group)."""
        spect = condition(mel.to(self.device), self.upsample, self.config.n_group)
        check_latent(self.config, spect, z)
        return self._reverse(spect, z.to(device=spect.device, dtype=spect.dtype))

    def _reverse(self, spect: Tensor, z: Tensor) -> Tensor:
        """Flows n_flows−1 … 0 backwards, channels-last: z (B, n_group, L) → audio (B, n_group·L).

        ``spect``'s storage already is (B, L, n_mels·n_group).
        """
        config = self.config
        B, L = spect.size(0), spect.size(2)
        # Wide enough for a layer's taps, C channels each, or for layer 0's, n_in + 1 channels each.
        n_tap_channels = config.kernel_size * max(config.n_channels, config.n_group // 2 + 1)
        # The WN scratch of this call: tap columns (rewritten per layer), then the conditioning.
        work = spect.new_empty(B, L, n_tap_channels + spect.size(1))
        work[..., n_tap_channels:] = spect.transpose(1, 2)
        z = z.transpose(1, 2)  # (B, n_group, L) → (B, L, n_group)
        start = config.n_group - config.n_remaining_channels
        audio = z[..., start:]
        for k in reversed(range(config.n_flows)):
            flow = self._flows[k]
            n_half = audio.size(2) // 2
            audio_0, audio_1 = audio[..., :n_half], audio[..., n_half:]
            output = _run_wn(flow.wn, audio_0, work)
            audio_1 = inverse_affine(audio_1, output[..., :n_half], output[..., n_half:])
            audio = F.linear(torch.cat([audio_0, audio_1], 2), flow.inverse)
            if is_early(config, k):
                # The channels forward() emitted before this flow are prepended.
                start -= config.n_early_size
                audio = torch.cat([z[..., start : start + config.n_early_size], audio], 2)
        # (B, L, G) → (B, L·G): sample index = G·l + channel.
        return audio.reshape(B, -1)

    def extra_repr(self) -> str:
        return f"n_flows={self.config.n_flows}, n_channels={self.config.n_channels}, dtype={self.dtype}"


class _Gemm(NamedTuple):
    """A 1×1 conv as y = x · weightᵀ + bias over the last (channel) dim, for one dtype/device."""

    weight: Tensor  # (out, in), dense, or packed by oneDNN when ``packed``
    bias: Tensor  # (out,)
    packed: bool


class _FusedWN(NamedTuple):
    """The GEMMs of one flow's WN (see the module docstring), and its shape."""

    start: _Gemm  # n_in → [C residual | 2·n_in zeros]
    in_layers: tuple[_Gemm, ...]  # [taps | conditioning] → 2C (tanh half, sigmoid half)
    res_skip_layers: tuple[_Gemm, ...]  # C → [C residual | 2·n_in end·skip]; the last: → 2·n_in
    dilations: tuple[int, ...]
    kernel_size: int
    n_channels: int  # C
    n_cond: int  # conditioning channels, n_mels·n_group


class _Flow(NamedTuple):
    wn: _FusedWN
    inverse: Tensor  # W⁻¹ of the flow's invertible 1×1 conv, (c, c)


def _inverse(convinv: _Invertible1x1Conv, dtype: torch.dtype, device: torch.device) -> Tensor:
    """W⁻¹ (c, c), computed in float32 as the reference's, then cast."""
    return convinv.conv.weight[:, :, 0].float().inverse().to(device=device, dtype=dtype)


def _weight(layer: nn.Module) -> Tensor:
    """A WN conv's effective weight (out, in, taps) in float64, weight norm fused in float32 first as NVIDIA's."""
    conv = layer.remove_weight_norm() if isinstance(layer, WeightNormConv1d) else layer  # a new Conv1d
    assert isinstance(conv, nn.Conv1d)
    return conv.weight.detach().double()


def _bias(layer: nn.Module) -> Tensor:
    """A WN conv's bias (out,) in float64."""
    bias = layer.bias
    assert isinstance(bias, Tensor)
    return bias.detach().double()


def _fuse_wn(wn: _WN, dtype: torch.dtype, device: torch.device) -> _FusedWN:
    """Compose one WN's GEMMs in float64 and round them once to ``dtype`` (a :class:`_FusedWN`)."""
    C = wn.n_channels
    end_w, end_b = _weight(wn.end)[:, :, 0], _bias(wn.end)  # (2·n_in, C), (2·n_in,)
    start_w, start_b = _weight(wn.start)[:, :, 0], _bias(wn.start)  # (C, n_in), (C,)
    n_end = end_w.size(0)
    start = _pack(
        torch.cat([start_w, start_w.new_zeros(n_end, start_w.size(1))]),
        torch.cat([start_b, end_b.new_zeros(n_end)]),
        dtype,
        device,
    )
    in_layers, res_skip_layers = [], []
    layers = zip(wn.in_layers, wn.cond_layers, wn.res_skip_layers, strict=True)
    for i, (in_layer, cond_layer, res_skip) in enumerate(layers):
        w = _weight(in_layer)  # (2C, C, taps)
        if i == 0:
            # Fold start, [weight | bias] (C, n_in + 1), into the taps: (2C, n_in + 1, taps).
            w = torch.einsum("ock,cj->ojk", w, torch.cat([start_w, start_b[:, None]], 1))
        # (2C, width, taps) → (2C, taps·width), tap-major columns, then the conditioning's.
        w = torch.cat([w.permute(0, 2, 1).reshape(2 * C, -1), _weight(cond_layer)[:, :, 0]], 1)
        b = _bias(in_layer) + _bias(cond_layer)
        w[:C] *= 2
        b[:C] *= 2
        in_layers.append(_pack(w, b, dtype, device))
        rs_w, rs_b = 2 * _weight(res_skip)[:, :, 0], _bias(res_skip)
        if i < wn.n_layers - 1:
            # [residual rows; end · skip rows]: (C + 2·n_in, C)
            w = torch.cat([rs_w[:C], end_w @ rs_w[C:]])
            b = torch.cat([rs_b[:C], end_w @ rs_b[C:]])
        else:
            w, b = end_w @ rs_w, end_w @ rs_b + end_b
        res_skip_layers.append(_pack(w, b, dtype, device))
    n_cond = _weight(wn.cond_layers[0]).size(1)
    return _FusedWN(start, tuple(in_layers), tuple(res_skip_layers), wn.dilations, wn.kernel_size, C, n_cond)


def _run_wn(wn: _FusedWN, audio: Tensor, work: Tensor) -> Tensor:
    """The WN's map, channels-last: audio (B, L, n_in) → (B, L, 2·n_in) (shift b, then log-scale).

    ``work`` (B, L, n_tap + n_mels·n_group), n_tap ≥ kernel_size · max(C, n_in + 1): its last
    n_mels·n_group columns hold the conditioning and are only read; the first n_tap are
    overwritten. One buffer serves every flow of a call.
    """
    B, L, C = audio.size(0), audio.size(1), wn.n_channels
    n_taps, tap_end = wn.kernel_size, work.size(2) - wn.n_cond
    # Residual stream and end accumulator side by side: (B, L, C + 2·n_in), zeros on the right.
    state = _gemm(audio, wn.start)
    # Layer 0 convolves [audio | 1] with start folded into its taps; the ones channel carries
    # start's bias, so that the zero padding stays exact.
    lifted = torch.cat([audio, audio.new_ones(B, L, 1)], 2)
    gate = work.new_empty(B, L, C)
    out: Tensor | None = None
    for i, dilation in enumerate(wn.dilations):
        source = lifted if i == 0 else state[..., :C]
        width = source.size(2)
        first = tap_end - n_taps * width
        assert first >= 0, "work buffer too narrow for the taps"
        for k in range(n_taps):
            _shift_copy(
                work[..., first + k * width : first + (k + 1) * width], source, (k - (n_taps - 1) // 2) * dilation
            )
        # The gate tanh(a)·σ(b) as 2·(σ(2a) − ½)·σ(b), the 2s folded into the weights: one
        # sigmoid over both halves, fused into the GEMM.
        in_act = _gemm(work[..., first:], wn.in_layers[i], sigmoid=True)  # (B, L, 2C)
        torch.mul(in_act[..., :C].sub_(0.5), in_act[..., C:], out=gate)
        if i < len(wn.dilations) - 1:
            state = _gemm(gate, wn.res_skip_layers[i], add=state)
        else:
            out = _gemm(gate, wn.res_skip_layers[i], add=state[..., C:])
    assert out is not None
    return out


@functools.cache
def _onednn_dtypes() -> tuple[torch.dtype, ...]:
    """The dtypes whose CPU GEMMs run on oneDNN's packed inner product."""
    if not torch.backends.mkldnn.is_available():
        return ()
    try:  # private ops: a torch build without them falls back to F.linear
        _ = torch.ops.mkldnn._reorder_linear_weight, torch.ops.mkldnn._linear_pointwise.binary
        bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        return ()
    return (torch.float32, torch.bfloat16) if bf16 else (torch.float32,)


def _pack(weight: Tensor, bias: Tensor, dtype: torch.dtype, device: torch.device) -> _Gemm:
    """(out, in) weight and (out,) bias → a :class:`_Gemm`; on CPU, oneDNN's pre-packed layout."""
    weight = weight.to(device=device, dtype=dtype).contiguous()
    bias = bias.to(device=device, dtype=dtype)
    if device.type == "cpu" and dtype in _onednn_dtypes():
        return _Gemm(torch.ops.mkldnn._reorder_linear_weight(weight, None), bias, True)
    return _Gemm(weight, bias, False)


def _gemm(x: Tensor, gemm: _Gemm, add: Tensor | None = None, sigmoid: bool = False) -> Tensor:
    """(..., in) → (..., out): x · Wᵀ + b, plus ``add`` (..., out) or through a sigmoid, in one pass."""
    assert add is None or not sigmoid
    if gemm.packed:
        if add is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(x, add, gemm.weight, gemm.bias, "add")
        return torch.ops.mkldnn._linear_pointwise(x, gemm.weight, gemm.bias, "sigmoid" if sigmoid else "none", [], "")
    y = F.linear(x, gemm.weight, gemm.bias)
    if add is not None:
        y.add_(add)
    return y.sigmoid_() if sigmoid else y


def _shift_copy(dst: Tensor, src: Tensor, shift: int) -> None:
    """dst[:, t] = src[:, t + shift], zero where t + shift falls outside [0, L): (B, L, C) each.

    One tap of a dilated conv with "same" zero padding.
    """
    L = src.size(1)
    if shift == 0:
        dst.copy_(src)
    elif abs(shift) >= L:
        dst.zero_()
    elif shift > 0:
        dst[:, : L - shift].copy_(src[:, shift:])
        dst[:, L - shift :].zero_()
    else:
        dst[:, -shift:].copy_(src[:, : L + shift])
        dst[:, :-shift].zero_()
