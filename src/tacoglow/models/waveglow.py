"""WaveGlow: the flow-based vocoder (Prenger et al., 2019) with NVIDIA's layout and numerics.

A stack of ``n_flows`` affine-coupling flows maps audio, folded into groups of ``n_group``
samples, to Gaussian noise z given an upsampled mel spectrogram (``forward``, training); running
the flows backwards maps noise to audio (``infer``). Each flow is an invertible 1×1 convolution
that mixes the channels, then an affine coupling whose scale and shift come from a WaveNet-like
network (``_WN``) fed with the first half of the channels and the mel. Every ``n_early_every``
flows, ``n_early_size`` channels leave early (multi-scale output).

The module tree, state_dict keys (``weight_g``/``weight_v`` until :meth:`WaveGlow.remove_weight_norm`),
seeded initialisation, RNG draw order and float32 results match NVIDIA DeepLearningExamples'
``waveglow/model.py`` (ARCHITECTURE_FACTS.md §5; checkpoint_layout.md §1.2, §2.2): ``forward`` bit
for bit on the CPU goldens, ``infer``/``decode`` up to float rounding (relative error ~3e-7).
Computations reorganised for speed without changing the math: all conditioning convs of a flow
run as one GEMM in ``forward``; the mel upsampler is a GEMM plus overlap-add; and inference runs
the WNs channels-last as a few fused GEMMs per layer on cached, pre-packed weights
(:meth:`_WN.infer_channels_last`), at about the matrix-product peak of a CPU core in float32
and bfloat16.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tacoglow.errors import AudioError, ConfigError

__all__ = ["WaveGlowConfig", "WaveGlow", "WeightNormConv1d", "UPSAMPLE_KERNEL", "HOP_LENGTH"]

UPSAMPLE_KERNEL = 1024
"""Kernel of the transposed conv that upsamples the mel (fixed in the reference)."""
HOP_LENGTH = 256
"""Stride of that conv: audio samples per mel frame (fixed in the reference)."""


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
            raise ConfigError(
                f"WaveGlowConfig.n_early_size: expected an even number >= 0, found {self.n_early_size}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(
                f"WaveGlowConfig.kernel_size: expected an odd number >= 1, found {self.kernel_size}")
        if self.n_channels < 2 or self.n_channels % 2:
            raise ConfigError(
                f"WaveGlowConfig.n_channels: expected an even number >= 2, found {self.n_channels}")
        if self.n_remaining_channels < 2:
            raise ConfigError(
                f"WaveGlowConfig: n_group={self.n_group} minus {self.n_early_outputs} early outputs of "
                f"n_early_size={self.n_early_size} must leave >= 2 channels, "
                f"found {self.n_remaining_channels}")

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
    def from_nvidia(cls, config: Mapping[str, Any]) -> "WaveGlowConfig":
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
            raise ConfigError(f"WaveGlow config: expected keys {sorted(top | {'WN_config'})}, "
                              f"found unknown {unknown}")
        wn = config.get("WN_config", {})
        if not isinstance(wn, Mapping):
            raise ConfigError(f"WaveGlow config WN_config: expected a dict, found {type(wn).__name__}")
        unknown = sorted(set(wn) - set(_WN_KEYS))
        if unknown:
            raise ConfigError(f"WaveGlow config WN_config: expected keys {list(_WN_KEYS)}, "
                              f"found unknown {unknown}")
        return cls(**{k: v for k, v in config.items() if k != "WN_config"}, **dict(wn))

    def to_nvidia(self) -> dict[str, Any]:
        """NVIDIA's constructor keywords, with ``WN_config`` nested (inverse of ``from_nvidia``)."""
        flat = dataclasses.asdict(self)
        out: dict[str, Any] = {k: v for k, v in flat.items() if k not in _WN_KEYS}
        out["WN_config"] = {k: flat[k] for k in _WN_KEYS}
        return out


_WN_KEYS = ("n_layers", "kernel_size", "n_channels")


class WeightNormConv1d(nn.Module):
    """1-D conv with weight = weight_g · weight_v / ‖weight_v‖, the norm per output channel.

    Same parameters, state_dict keys (``bias``, ``weight_g`` (out, 1, 1), ``weight_v``
    (out, in, kernel_size), in that order) and numerics as ``torch.nn.utils.weight_norm(Conv1d)``
    with dim 0, which is what NVIDIA's checkpoints hold; that torch API is deprecated and its
    replacement renames the keys, hence this module. Stride 1, "same" padding for odd kernels.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        kernel_size (int): odd kernel width. Default 1.
        dilation (int): dilation; padding is dilation · (kernel_size − 1) / 2. Default 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 dilation: int = 1) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding = (kernel_size * dilation - dilation) // 2
        # Draw the initial weights from a Conv1d so a seeded construction matches the reference's.
        conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, padding=self.padding)
        self.bias = nn.Parameter(conv.bias.detach())
        self.weight_g = nn.Parameter(torch.norm_except_dim(conv.weight.detach(), 2, 0))
        self.weight_v = nn.Parameter(conv.weight.detach())

    @property
    def weight(self) -> Tensor:
        """The effective weight, (out_channels, in_channels, kernel_size)."""
        return torch._weight_norm(self.weight_v, self.weight_g, 0)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, T) → (B, out_channels, T)."""
        return F.conv1d(x, self.weight, self.bias, padding=self.padding, dilation=self.dilation)

    def remove_weight_norm(self) -> nn.Conv1d:
        """Return an equivalent plain Conv1d (keys ``bias`` then ``weight``, as NVIDIA's fused models).

        The fusion g·v/‖v‖ is computed in float32 whatever the parameters' dtype, then cast back.
        The bias Parameter is shared, not copied.
        """
        with torch.no_grad():
            weight = torch._weight_norm(self.weight_v.float(), self.weight_g.float(), 0)
        conv = nn.Conv1d(self.in_channels, self.out_channels, self.kernel_size, dilation=self.dilation,
                         padding=self.padding, device="meta")
        # Re-register in the order torch's remove_weight_norm leaves them: bias first, then weight.
        del conv.weight, conv.bias
        conv.bias = self.bias
        conv.weight = nn.Parameter(weight.to(self.weight_v.dtype), requires_grad=self.weight_v.requires_grad)
        return conv

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}")


class _WN(nn.Module):
    """WaveNet-like network of one flow: (audio_0, conditioning) → [shift | log_scale].

    ``start`` (1×1) lifts n_in channels to C; each of ``n_layers`` layers adds a dilated conv of the
    running signal and a 1×1 conv of the conditioning, gates them (tanh · sigmoid) and splits a
    1×1 conv into a residual update and a skip output (the last layer is skip-only); ``end``
    (zero-initialised, not weight-normed) maps the summed skips to 2·n_in channels.
    """

    def __init__(self, n_in_channels: int, n_cond_channels: int, n_layers: int, n_channels: int,
                 kernel_size: int) -> None:
        super().__init__()
        self.n_layers, self.n_channels, self.kernel_size = n_layers, n_channels, kernel_size
        self.dilations = tuple(2 ** i for i in range(n_layers))
        # Registration order fixes the state_dict order: in_layers, res_skip_layers, cond_layers,
        # start, end; construction order (start, end, then per layer in/cond/res_skip) fixes the
        # RNG draws of a seeded init.
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        self.cond_layers = nn.ModuleList()
        self.start: nn.Module = WeightNormConv1d(n_in_channels, n_channels)
        self.end = nn.Conv1d(n_channels, 2 * n_in_channels, 1)
        # Zero init makes every coupling start as the identity.
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)
        for i, dilation in enumerate(self.dilations):
            self.in_layers.append(WeightNormConv1d(n_channels, 2 * n_channels, kernel_size, dilation=dilation))
            self.cond_layers.append(WeightNormConv1d(n_cond_channels, 2 * n_channels))
            res_skip_channels = 2 * n_channels if i < n_layers - 1 else n_channels
            self.res_skip_layers.append(WeightNormConv1d(n_channels, res_skip_channels))
        self._fast_cache: Optional[_FastCache] = None

    def forward(self, audio: Tensor, spect: Tensor) -> Tensor:
        """(B, n_in, L) audio half and (B, n_mels·n_group, L) conditioning → (B, 2·n_in, L).

        The output's first n_in channels are the shift b, the last n_in the log-scale.
        """
        C = self.n_channels
        # All layers' conditioning convs as one GEMM: the same dot products as n_layers separate
        # 1×1 convs (bit-identical on CPU), ~10 % faster overall, at the cost of holding
        # n_layers·2C conditioning channels at once instead of 2C.
        cond_weight = torch.cat([layer.weight for layer in self.cond_layers])
        cond_bias = torch.cat([layer.bias for layer in self.cond_layers])
        cond = F.conv1d(spect, cond_weight, cond_bias)  # (B, n_layers·2C, L)
        audio = self.start(audio)
        output: Optional[Tensor] = None
        for i, (in_layer, res_skip_layer) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            in_act = in_layer(audio) + cond[:, i * 2 * C:(i + 1) * 2 * C]
            acts = torch.tanh(in_act[:, :C]) * torch.sigmoid(in_act[:, C:])
            res_skip = res_skip_layer(acts)
            if i < self.n_layers - 1:
                audio = res_skip[:, :C] + audio
                skip = res_skip[:, C:]
            else:
                skip = res_skip
            output = skip if output is None else output + skip
        assert output is not None
        return self.end(output)

    def infer_channels_last(self, audio: Tensor, work: Tensor) -> Tensor:
        """:meth:`forward`'s map for inference (no autograd), channels-last, as fused GEMMs.

        Args:
            audio (Tensor): audio half, (B, L, n_in).
            work (Tensor): scratch, (B, L, n_tap + n_mels·n_group) with n_tap ≥ kernel_size ·
                max(C, n_in + 1); its last n_mels·n_group columns hold the conditioning
                (channels-last) and are only read; the first n_tap are overwritten. One buffer
                serves every flow.

        Returns:
            Tensor: (B, L, 2·n_in): ``forward``'s output, channels last (shift b, then log-scale).

        The same math up to float rounding, reorganised (the weights are composed in float64
        by :meth:`_build_fast_weights`):
        - each layer is one GEMM over [the dilated conv's taps | the conditioning]
          (K = kernel_size·C + n_mels·n_group, the two biases summed), so no conditioning
          tensor for all layers ever exists; layer 0's taps read [audio | 1] with ``start``
          folded in (K = kernel_size·(n_in + 1) + n_mels·n_group);
        - the gate tanh(a)·σ(b) is 2·(σ(2a) − ½)·σ(b), the 2s folded into the weights, so a
          single sigmoid, fused into the GEMM, serves both halves (tanh costs ~4× more);
        - the skips are only ever summed and fed to the linear ``end``, so ``end`` is folded
          into each layer's skip rows (2·n_in instead of C) and accumulated beside the residual
          stream by the residual GEMM itself.
        """
        weights = self._fast_weights(work.dtype, work.device)
        B, L, C = audio.size(0), audio.size(1), self.n_channels
        n_taps, tap_end = self.kernel_size, work.size(2) - weights.n_cond
        # Residual stream and end accumulator side by side: (B, L, C + 2·n_in), zeros on the right.
        state = _gemm(audio, weights.start)
        # Layer 0 convolves [audio | 1] with start folded into its taps; the ones channel carries
        # start's bias, so that the zero padding stays exact.
        lifted = torch.cat([audio, audio.new_ones(B, L, 1)], 2)
        gate = work.new_empty(B, L, C)
        out: Optional[Tensor] = None
        for i, dilation in enumerate(self.dilations):
            source = lifted if i == 0 else state[..., :C]
            width = source.size(2)
            first = tap_end - n_taps * width
            assert first >= 0, "work buffer too narrow for the taps"
            for k in range(n_taps):
                _shift_copy(work[..., first + k * width:first + (k + 1) * width], source,
                            (k - (n_taps - 1) // 2) * dilation)
            # The gate tanh(a)·σ(b) as 2·(σ(2a) − ½)·σ(b), the 2s folded into the weights: one
            # sigmoid over both halves, fused into the GEMM.
            in_act = _gemm(work[..., first:], weights.in_layers[i], sigmoid=True)  # (B, L, 2C)
            torch.mul(in_act[..., :C].sub_(0.5), in_act[..., C:], out=gate)
            if i < self.n_layers - 1:
                state = _gemm(gate, weights.res_skip_layers[i], add=state)
            else:
                out = _gemm(gate, weights.res_skip_layers[i], add=state[..., C:])
        assert out is not None
        return out

    def _fast_weights(self, dtype: torch.dtype, device: torch.device) -> "_FastWeights":
        """The GEMM weights of :meth:`infer_channels_last`, built once and cached (never in the
        state_dict); rebuilt when a parameter's storage or version, the dtype or the device changes."""
        params = tuple(p.detach() for p in self.parameters())
        key = tuple((p.data_ptr(), p._version) for p in params) + (dtype, device)
        cache = self._fast_cache
        if cache is not None and cache.key == key:
            return cache.weights
        with torch.no_grad():
            weights = self._build_fast_weights(dtype, device)
        # The parameter aliases keep their storage alive, so a data_ptr cannot be reused unseen.
        self._fast_cache = _FastCache(params, key, weights)
        return weights

    def _build_fast_weights(self, dtype: torch.dtype, device: torch.device) -> "_FastWeights":
        """Compose :meth:`infer_channels_last`'s GEMMs in float64, round them once to ``dtype``."""
        C = self.n_channels
        end_w = self.end.weight[:, :, 0].double()  # (2·n_in, C)
        end_b = self.end.bias.double()
        start_w = self.start.weight[:, :, 0].double()  # (C, n_in)
        n_end = end_w.size(0)
        start = _pack(torch.cat([start_w, start_w.new_zeros(n_end, start_w.size(1))]),
                      torch.cat([self.start.bias.double(), end_b.new_zeros(n_end)]), dtype, device)
        in_layers, res_skip_layers = [], []
        for i, (in_layer, cond_layer, res_skip) in enumerate(
                zip(self.in_layers, self.cond_layers, self.res_skip_layers)):
            w = in_layer.weight.double()  # (2C, C, taps)
            if i == 0:
                # Fold start, [weight | bias] (C, n_in + 1), into the taps: (2C, n_in + 1, taps).
                w = torch.einsum("ock,cj->ojk", w, torch.cat([start_w, self.start.bias.double()[:, None]], 1))
            # (2C, width, taps) → (2C, taps·width), tap-major columns, then the conditioning's.
            w = torch.cat([w.permute(0, 2, 1).reshape(2 * C, -1), cond_layer.weight[:, :, 0].double()], 1)
            b = in_layer.bias.double() + cond_layer.bias.double()
            w[:C] *= 2
            b[:C] *= 2
            in_layers.append(_pack(w, b, dtype, device))
            rs_w, rs_b = 2 * res_skip.weight[:, :, 0].double(), res_skip.bias.double()
            if i < self.n_layers - 1:
                # [residual rows; end · skip rows]: (C + 2·n_in, C)
                w = torch.cat([rs_w[:C], end_w @ rs_w[C:]])
                b = torch.cat([rs_b[:C], end_w @ rs_b[C:]])
            else:
                w, b = end_w @ rs_w, end_w @ rs_b + end_b
            res_skip_layers.append(_pack(w, b, dtype, device))
        n_cond = self.cond_layers[0].weight.size(1)
        return _FastWeights(start, tuple(in_layers), tuple(res_skip_layers), n_cond)

    def __getstate__(self) -> dict[str, Any]:
        # oneDNN-packed weights cannot be copied or pickled; deep copies rebuild them on use.
        state = self.__dict__.copy()
        state["_fast_cache"] = None
        return state

    def remove_weight_norm(self) -> None:
        """Fuse start, in_layers, cond_layers and res_skip_layers into plain convs (in place)."""
        if isinstance(self.start, WeightNormConv1d):
            self.start = self.start.remove_weight_norm()
        for layers in (self.in_layers, self.cond_layers, self.res_skip_layers):
            for i, layer in enumerate(layers):
                if isinstance(layer, WeightNormConv1d):
                    layers[i] = layer.remove_weight_norm()


class _Gemm(NamedTuple):
    """A 1×1 conv as y = x · weightᵀ + bias over the last (channel) dim, ready for one dtype/device."""

    weight: Tensor  # (out, in), dense, or packed by oneDNN when ``packed``
    bias: Tensor  # (out,)
    packed: bool


@functools.cache
def _onednn_dtypes() -> tuple[torch.dtype, ...]:
    """The dtypes whose CPU GEMMs run on oneDNN's packed inner product."""
    if not torch.backends.mkldnn.is_available():
        return ()
    try:  # private ops: a torch build without them falls back to F.linear
        torch.ops.mkldnn._reorder_linear_weight
        torch.ops.mkldnn._linear_pointwise.binary
        bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        return ()
    return (torch.float32, torch.bfloat16) if bf16 else (torch.float32,)


def _pack(weight: Tensor, bias: Tensor, dtype: torch.dtype, device: torch.device) -> _Gemm:
    """(out, in) weight and (out,) bias → a :class:`_Gemm`; on CPU, oneDNN's pre-packed layout.

    oneDNN's inner product on a pre-packed weight runs ~20 % faster than ``F.linear`` (MKL) in
    float32 and reaches the bf16 matrix peak; torch exposes it only as ``torch.ops.mkldnn``
    (no autograd, hence inference only). Other devices and dtypes use ``F.linear``.
    """
    weight = weight.to(device=device, dtype=dtype).contiguous()
    bias = bias.to(device=device, dtype=dtype)
    if device.type == "cpu" and dtype in _onednn_dtypes():
        return _Gemm(torch.ops.mkldnn._reorder_linear_weight(weight, None), bias, True)
    return _Gemm(weight, bias, False)


def _gemm(x: Tensor, gemm: _Gemm, add: Optional[Tensor] = None, sigmoid: bool = False) -> Tensor:
    """(..., in) → (..., out): x · Wᵀ + b, plus ``add`` (..., out) or through a sigmoid, in one pass."""
    assert add is None or not sigmoid
    if gemm.packed:
        if add is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(x, add, gemm.weight, gemm.bias, "add")
        return torch.ops.mkldnn._linear_pointwise(x, gemm.weight, gemm.bias, "sigmoid" if sigmoid else "none",
                                                  [], "")
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
        dst[:, :L - shift].copy_(src[:, shift:])
        dst[:, L - shift:].zero_()
    else:
        dst[:, -shift:].copy_(src[:, :L + shift])
        dst[:, :-shift].zero_()


class _FastWeights(NamedTuple):
    """The GEMMs of :meth:`_WN.infer_channels_last`."""

    start: _Gemm  # n_in → [C residual | 2·n_in zeros]
    in_layers: tuple[_Gemm, ...]  # [taps | conditioning] → 2C (tanh half, sigmoid half)
    res_skip_layers: tuple[_Gemm, ...]  # C → [C residual | 2·n_in end·skip]; the last: → 2·n_in
    n_cond: int  # conditioning channels, n_mels·n_group


class _FastCache(NamedTuple):
    params: tuple[Tensor, ...]  # detached aliases of the parameters the weights came from
    key: tuple[Any, ...]  # their (data_ptr, _version), then dtype, device
    weights: _FastWeights


class _InverseCache(NamedTuple):
    weight: Tensor  # detached alias of the weight the inverse was computed from (keeps it alive)
    version: int
    inverse: Tensor  # (c, c) in the dtype it was asked for


class _Invertible1x1Conv(nn.Module):
    """Channel mixing z' = W z with W (c, c) orthogonal at init (det +1); bias-free 1×1 conv.

    Args:
        channels (int): c, the audio channels the flow sees.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 1, bias=False)
        # float32 CPU draw like the reference's FloatTensor(c, c).normal_(); follows a default device.
        weight = torch.linalg.qr(torch.randn(channels, channels, dtype=torch.float32,
                                             device=self.conv.weight.device))[0]
        if weight.device.type != "meta" and torch.det(weight) < 0:
            weight[:, 0] = -1 * weight[:, 0]  # det +1: a rotation, so logdet starts at 0
        with torch.no_grad():
            self.conv.weight.copy_(weight.view(channels, channels, 1))
        # W⁻¹ for inference: a plain attribute (never in the state_dict), refreshed when the
        # weight's storage (.to(), .half(), reassignment) or version (in-place edits,
        # load_state_dict) changes, or another dtype/device is asked for. Edits through
        # ``weight.data`` bypass version tracking and are not seen.
        self._inverse_cache: Optional[_InverseCache] = None

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(B, c, L) → ((B, c, L) mixed, scalar log|det W|·B·L in float32)."""
        B, _, L = z.shape
        W = self.conv.weight.squeeze()
        log_det_W = B * L * torch.logdet(W.unsqueeze(0).float()).squeeze()
        return self.conv(z), log_det_W

    def inverse(self, z: Tensor) -> Tensor:
        """(B, c, L) → (B, c, L) with W⁻¹ (computed in float32, cast to z's dtype, cached)."""
        return self.inverse_channels_last(z.transpose(1, 2)).transpose(1, 2)

    def inverse_channels_last(self, z: Tensor) -> Tensor:
        """(B, L, c) → (B, L, c): :meth:`inverse` with the channels last."""
        return F.linear(z, self._inverse_weight(z.dtype, z.device))

    def _inverse_weight(self, dtype: torch.dtype, device: torch.device) -> Tensor:
        weight = self.conv.weight
        cache = self._inverse_cache
        if (cache is None or cache.weight.data_ptr() != weight.data_ptr()
                or cache.version != weight._version or cache.inverse.dtype != dtype
                or cache.inverse.device != device):
            with torch.no_grad():
                inverse = weight[:, :, 0].float().inverse().to(device=device, dtype=dtype)
            cache = _InverseCache(weight.detach(), weight._version, inverse)
            self._inverse_cache = cache
        return cache.inverse


class WaveGlow(nn.Module):
    """WaveGlow vocoder: mel spectrogram (B, n_mels, T_mel) → audio (B, T_mel · 256).

    Sub-modules (their names are NVIDIA's state_dict prefixes): ``upsample`` (ConvTranspose1d
    n_mels → n_mels, kernel 1024, stride 256), ``WN`` (one :class:`_WN` per flow) and ``convinv``
    (one invertible 1×1 conv per flow). Flow k sees 8, then 6, then 4 channels at default size.

    Args:
        config (WaveGlowConfig): hyper-parameters; default ``WaveGlowConfig()`` (512 channels).

    Example:
        >>> config = WaveGlowConfig(n_flows=4, n_early_every=2, n_layers=2, n_channels=8)
        >>> model = WaveGlow(config).eval()
        >>> mel = torch.randn(1, 80, 10)                 # (B, n_mels, T_mel)
        >>> model.infer(mel, sigma=0.6).shape            # (B, T_mel · 256)
        torch.Size([1, 2560])
        >>> z, log_s_list, log_det_W_list = model(mel, torch.randn(1, 2560))
        >>> z.shape                                      # (B, n_group, T_audio / n_group)
        torch.Size([1, 8, 320])
    """

    def __init__(self, config: Optional[WaveGlowConfig] = None) -> None:
        super().__init__()
        config = WaveGlowConfig() if config is None else config
        self.config = config
        self.upsample = nn.ConvTranspose1d(config.n_mel_channels, config.n_mel_channels,
                                           UPSAMPLE_KERNEL, stride=HOP_LENGTH)
        self.WN = nn.ModuleList()  # noqa: N815 - NVIDIA's key prefix "WN."
        self.convinv = nn.ModuleList()
        n_channels = config.n_group
        for k in range(config.n_flows):
            if self._is_early(k):
                n_channels -= config.n_early_size
            self.convinv.append(_Invertible1x1Conv(n_channels))
            self.WN.append(_WN(n_channels // 2, config.n_mel_channels * config.n_group,
                               config.n_layers, config.n_channels, config.kernel_size))
        assert n_channels == config.n_remaining_channels

    def _is_early(self, k: int) -> bool:
        return k > 0 and k % self.config.n_early_every == 0

    @property
    def has_weight_norm(self) -> bool:
        """Whether the WN convs still hold ``weight_g``/``weight_v`` (checkpoint layout)."""
        return isinstance(self.WN[0].start, WeightNormConv1d)

    def _condition(self, mel: Tensor, n_samples: int) -> Tensor:
        """Upsample the mel, keep ``n_samples`` samples and fold them like the audio.

        mel (B, n_mels, T_mel) → (B, n_mels, (T_mel−1)·256 + 1024) → trim to n_samples → unfold
        into windows of n_group (B, n_mels, L, n_group) → (B, L, n_mels, n_group) →
        (B, L, n_mels·n_group) → (B, n_mels·n_group, L): channel mel_bin·n_group + j holds
        sample n_group·l + j.
        """
        n_mels = self.config.n_mel_channels
        if mel.dim() != 3 or mel.size(1) != n_mels or mel.size(2) < 1:
            raise ConfigError(f"WaveGlow mel: expected (B, {n_mels}, T_mel >= 1), found {tuple(mel.shape)}")
        spect = self._upsample(mel.to(self.upsample.weight.dtype))
        if spect.size(2) > n_samples:
            spect = spect[:, :, :n_samples]
        G = self.config.n_group
        spect = spect.unfold(2, G, G).permute(0, 2, 1, 3)
        return spect.contiguous().view(spect.size(0), spect.size(1), -1).permute(0, 2, 1)

    def _upsample(self, mel: Tensor) -> Tensor:
        """``self.upsample(mel)``, (B, n_mels, T_mel) → (B, n_mels, (T_mel − 1)·256 + 1024).

        Computed as one GEMM, mel frames × the (n_mels, n_mels·1024) kernel, then an
        overlap-add of the 4 hop-sized blocks each frame spans. It is the transposed conv's own
        math (on CPU it matches torch's kernels bit for bit in the cases checked), but avoids
        oneDNN's strided deconvolution, which spends ~3 s building a kernel for every new input
        shape. The overlap-add runs in at least float32 so half precision rounds once.
        """
        B, n_mels, T_mel = mel.shape
        n_blocks = UPSAMPLE_KERNEL // HOP_LENGTH
        weight, bias = self.upsample.weight, self.upsample.bias  # (in, out, 1024), (out,)
        # (B, T_mel, in) @ (in, out·1024) → (B, T_mel, out, n_blocks, HOP_LENGTH)
        blocks = torch.matmul(mel.transpose(1, 2), weight.reshape(n_mels, -1))
        blocks = blocks.view(B, T_mel, n_mels, n_blocks, HOP_LENGTH)
        acc_dtype = torch.promote_types(mel.dtype, torch.float32)
        out = mel.new_zeros(B, n_mels, T_mel + n_blocks - 1, HOP_LENGTH, dtype=acc_dtype)
        for j in range(n_blocks):
            # Block j of frame t lands in output hop t + j: (B, T_mel, out, HOP) → (B, out, T_mel, HOP)
            out[:, :, j:j + T_mel] += blocks[:, :, :, j].transpose(1, 2)
        out = out.view(B, n_mels, -1) + bias[:, None]
        return out.to(mel.dtype)

    def forward(self, mel: Tensor, audio: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """Training direction: audio → latent z given the mel.

        Args:
            mel (Tensor): natural-log mel, (B, n_mels, T_mel); (T_mel−1)·256 + 1024 ≥ T_audio.
            audio (Tensor): waveform in [-1, 1], (B, T_audio); a tail shorter than n_group is
                dropped.

        Returns:
            z (Tensor): (B, n_group, L), L = T_audio // n_group; channels are the early outputs in
                flow order, then the remaining ones.
            log_s_list (list[Tensor]): per flow, the coupling log-scales (B, n_half_k, L).
            log_det_W_list (list[Tensor]): per flow, B·L·log|det W_k| (float32 scalars).

        Raises:
            AudioError: if the audio is not 2-D or the mel is too short for it.
        """
        spect = self._condition(mel, audio.size(-1))
        if audio.dim() != 2 or audio.size(0) != mel.size(0):
            raise AudioError(f"WaveGlow audio: expected (B={mel.size(0)}, T_audio), found {tuple(audio.shape)}")
        if spect.size(2) < audio.size(1) // self.config.n_group:
            n_upsampled = (mel.size(2) - 1) * HOP_LENGTH + UPSAMPLE_KERNEL
            raise AudioError(f"WaveGlow: mel of {mel.size(2)} frames upsamples to {n_upsampled} samples, "
                             f"expected >= the audio's {audio.size(1)}")
        G = self.config.n_group
        audio = audio.unfold(1, G, G).permute(0, 2, 1)  # (B, T_audio) → (B, L, G) → (B, G, L)
        early: list[Tensor] = []
        log_s_list: list[Tensor] = []
        log_det_W_list: list[Tensor] = []
        for k in range(self.config.n_flows):
            if self._is_early(k):
                early.append(audio[:, :self.config.n_early_size])
                audio = audio[:, self.config.n_early_size:]
            audio, log_det_W = self.convinv[k](audio)
            log_det_W_list.append(log_det_W)
            n_half = audio.size(1) // 2
            audio_0, audio_1 = audio[:, :n_half], audio[:, n_half:]
            output = self.WN[k](audio_0, spect)
            b, log_s = output[:, :n_half], output[:, n_half:]
            audio_1 = torch.exp(log_s) * audio_1 + b
            log_s_list.append(log_s)
            audio = torch.cat([audio_0, audio_1], 1)
        early.append(audio)
        return torch.cat(early, 1), log_s_list, log_det_W_list

    @torch.no_grad()
    def infer(self, mel: Tensor, sigma: float = 1.0, generator: Optional[torch.Generator] = None) -> Tensor:
        """Generate audio: draw z ~ N(0, σ²) and run the flows backwards.

        Noise is drawn in float32 on the mel's device, then cast to the model dtype, in the
        reference's order: (B, n_remaining, L) first, then (B, n_early_size, L) for each early
        flow from the last to the first. With σ = 0 the draws still happen (the RNG advances).

        The first call for a dtype and device fuses and caches the WN weights for it (as much
        memory again as the WN parameters, never in the state_dict); parameter changes are
        picked up on the next call.

        Args:
            mel (Tensor): natural-log mel, (B, n_mels, T_mel); cast to the model dtype.
            sigma (float): noise scale (training uses 1.0; NVIDIA's scripts infer with 0.6–0.9).
            generator (torch.Generator, optional): draw the noise from it (on the mel's device)
                instead of the global RNG.

        Returns:
            Tensor: audio, (B, L·n_group) with L = T_mel·256 // n_group, in the model dtype.
        """
        spect = self._condition(mel, mel.size(2) * HOP_LENGTH)
        B, L = spect.size(0), spect.size(2)
        shapes = [(B, self.config.n_remaining_channels, L)]
        shapes += [(B, self.config.n_early_size, L)] * self.config.n_early_outputs
        noise = [torch.randn(shape, generator=generator, device=spect.device, dtype=torch.float32)
                 for shape in shapes]
        # Draws go final channels, then early flows last-to-first; z lists early flows first.
        z = torch.cat(noise[::-1], 1).to(spect.dtype)
        return self._reverse(spect, sigma * z)

    @torch.no_grad()
    def decode(self, mel: Tensor, z: Tensor) -> Tensor:
        """Run the flows backwards from a given latent: the inverse of :meth:`forward`.

        ``infer(mel, sigma)`` is ``decode(mel, sigma · noise)``; with the z that ``forward``
        returns, this reconstructs the audio (up to float error). Useful for export with
        external noise.

        Args:
            mel (Tensor): natural-log mel, (B, n_mels, T_mel).
            z (Tensor): latent in ``forward``'s layout, (B, n_group, L), L = T_mel·256 // n_group.

        Returns:
            Tensor: audio, (B, L·n_group) in the model dtype.
        """
        spect = self._condition(mel, mel.size(2) * HOP_LENGTH)
        expected = (spect.size(0), self.config.n_group, spect.size(2))
        if tuple(z.shape) != expected:
            raise ConfigError(f"WaveGlow.decode z: expected {expected}, found {tuple(z.shape)}")
        return self._reverse(spect, z.to(spect.dtype))

    def _reverse(self, spect: Tensor, z: Tensor) -> Tensor:
        """Flows n_flows−1 … 0 backwards: z (B, n_group, L) → audio (B, n_group·L).

        Runs channels-last, (B, L, channels), where every 1×1 conv is a plain GEMM over the
        channels; ``spect``'s storage already is (B, L, n_mels·n_group).
        """
        B, L = spect.size(0), spect.size(2)
        C = self.config.n_channels
        # Wide enough for a layer's taps, C channels each, or for layer 0's, n_in + 1 channels each.
        n_tap_channels = self.config.kernel_size * max(C, self.config.n_group // 2 + 1)
        # The WN scratch: tap columns (rewritten per layer), then the conditioning (written once).
        work = spect.new_empty(B, L, n_tap_channels + spect.size(1))
        work[..., n_tap_channels:] = spect.transpose(1, 2)
        z = z.transpose(1, 2)  # (B, n_group, L) → (B, L, n_group)
        start = self.config.n_group - self.config.n_remaining_channels
        audio = z[..., start:]
        for k in reversed(range(self.config.n_flows)):
            n_half = audio.size(2) // 2
            audio_0, audio_1 = audio[..., :n_half], audio[..., n_half:]
            output = self.WN[k].infer_channels_last(audio_0, work)
            b, log_s = output[..., :n_half], output[..., n_half:]
            audio = torch.cat([audio_0, _inverse_affine(audio_1, b, log_s)], 2)
            audio = self.convinv[k].inverse_channels_last(audio)
            if self._is_early(k):
                # The channels forward() emitted before this flow are prepended.
                start -= self.config.n_early_size
                audio = torch.cat([z[..., start:start + self.config.n_early_size], audio], 2)
        # (B, L, G) → (B, L·G): sample index = G·l + channel.
        return audio.reshape(B, -1)

    def remove_weight_norm(self) -> "WaveGlow":
        """Fuse every weight-normed conv into a plain one (keys ``bias``, ``weight``), in place.

        What NVIDIA's inference does before running; call it before casting to half precision,
        since the fusion is computed in float32 anyway. Idempotent. Returns self.
        """
        for wn in self.WN:
            wn.remove_weight_norm()
        return self


def _inverse_affine(audio_1: Tensor, b: Tensor, log_s: Tensor) -> Tensor:
    """(audio_1 − b) / exp(log_s), computed in at least float32.

    float32 is the reference's own arithmetic (the division, not a multiply by exp(−s), keeps it
    bit-exact); half precision would overflow exp(log_s) for log_s > 11, so it is promoted too.
    """
    dtype = torch.promote_types(audio_1.dtype, torch.float32)
    out = (audio_1.to(dtype) - b.to(dtype)) / torch.exp(log_s.to(dtype))
    return out.to(audio_1.dtype)
