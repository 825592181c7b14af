"""WaveGlow: the flow-based vocoder (Prenger et al., 2019) with NVIDIA's layout and numerics.

A stack of ``n_flows`` affine-coupling flows maps audio, folded into groups of ``n_group``
samples, to Gaussian noise z given an upsampled mel spectrogram (``forward``, training); running
the flows backwards maps noise to audio (``infer``, ``decode``). Each flow is an invertible 1×1
convolution that mixes the channels, then an affine coupling whose scale and shift come from a
WaveNet-like network (``_WN``) fed with the first half of the channels and the mel. Every
``n_early_every`` flows, ``n_early_size`` channels leave early (multi-scale output).

The module tree, state_dict keys (``weight_g``/``weight_v`` until :meth:`WaveGlow.remove_weight_norm`),
seeded initialisation, RNG draw order and float32 results match NVIDIA DeepLearningExamples'
``waveglow/model.py`` (ARCHITECTURE_FACTS.md §5; checkpoint_layout.md §1.2, §2.2). Two steps that
training runs too are written as GEMMs with the same dot products: a flow's conditioning convs
(:meth:`_WN.forward`) and the mel upsampler (:func:`_upsample`). This file is that math only; for
fast inference, prepare a model once with :func:`tacoglow.inference.fast_waveglow.prepare_waveglow`.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tacoglow.errors import AudioError, ConfigError
from tacoglow.models.waveglow_config import WaveGlowConfig

__all__ = [
    "WaveGlowConfig",
    "WaveGlow",
    "WeightNormConv1d",
    "UPSAMPLE_KERNEL",
    "HOP_LENGTH",
    "condition",
    "sample_noise",
    "check_latent",
    "inverse_affine",
    "is_early",
]

UPSAMPLE_KERNEL = 1024
"""Kernel of the transposed conv that upsamples the mel (fixed in the reference)."""
HOP_LENGTH = 256
"""Stride of that conv: audio samples per mel frame (fixed in the reference)."""


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

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding = (kernel_size * dilation - dilation) // 2
        # Draw the initial weights from a Conv1d so a seeded construction matches the reference's.
        conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, padding=self.padding)
        assert conv.bias is not None  # Conv1d's default bias=True
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

        The fusion g·v/‖v‖ is computed in at least float32 (half precision too), then cast back.
        The bias Parameter is shared, not copied.
        """
        dtype = torch.promote_types(self.weight_v.dtype, torch.float32)
        with torch.no_grad():
            weight = torch._weight_norm(self.weight_v.to(dtype), self.weight_g.to(dtype), 0)
        conv = nn.Conv1d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            dilation=self.dilation,
            padding=self.padding,
            device="meta",
        )
        # Re-register in the order torch's remove_weight_norm leaves them: bias first, then weight.
        del conv.weight, conv.bias
        conv.bias = self.bias
        conv.weight = nn.Parameter(weight.to(self.weight_v.dtype), requires_grad=self.weight_v.requires_grad)
        return conv

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}"
        )


class _WN(nn.Module):
    """WaveNet-like network of one flow: (audio_0, conditioning) → [shift | log_scale].

    ``start`` (1×1) lifts n_in channels to C; each of ``n_layers`` layers adds a dilated conv of the
    running signal and a 1×1 conv of the conditioning, gates them (tanh · sigmoid) and splits a
    1×1 conv into a residual update and a skip output (the last layer is skip-only); ``end``
    (zero-initialised, not weight-normed) maps the summed skips to 2·n_in channels.
    """

    def __init__(
        self, n_in_channels: int, n_cond_channels: int, n_layers: int, n_channels: int, kernel_size: int
    ) -> None:
        super().__init__()
        self.n_layers, self.n_channels, self.kernel_size = n_layers, n_channels, kernel_size
        self.dilations = tuple(2**i for i in range(n_layers))
        # Registration order fixes the state_dict order: in_layers, res_skip_layers, cond_layers,
        # start, end; construction order (start, end, then per layer in/cond/res_skip) fixes the
        # RNG draws of a seeded init.
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        self.cond_layers = nn.ModuleList()
        self.start: nn.Module = WeightNormConv1d(n_in_channels, n_channels)
        self.end = nn.Conv1d(n_channels, 2 * n_in_channels, 1)
        # Zero init makes every coupling start as the identity.
        assert self.end.bias is not None  # Conv1d's default bias=True
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)
        for i, dilation in enumerate(self.dilations):
            self.in_layers.append(WeightNormConv1d(n_channels, 2 * n_channels, kernel_size, dilation=dilation))
            self.cond_layers.append(WeightNormConv1d(n_cond_channels, 2 * n_channels))
            res_skip_channels = 2 * n_channels if i < n_layers - 1 else n_channels
            self.res_skip_layers.append(WeightNormConv1d(n_channels, res_skip_channels))

    def forward(self, audio: Tensor, spect: Tensor) -> Tensor:
        """(B, n_in, L) audio half and (B, n_mels·n_group, L) conditioning → (B, 2·n_in, L).

        The output's first n_in channels are the shift b, the last n_in the log-scale.
        """
        C = self.n_channels
        # All layers' conditioning convs as one GEMM: the same dot products as n_layers separate
        # 1×1 convs (bit-identical on CPU), ~10 % faster in training, at the cost of holding
        # n_layers·2C conditioning channels at once instead of 2C.
        weights, biases = zip(*(_weight_and_bias(layer) for layer in self.cond_layers))
        cond_weight = torch.cat(weights)
        cond_bias = torch.cat(biases)
        cond = F.conv1d(spect, cond_weight, cond_bias)  # (B, n_layers·2C, L)
        audio = self.start(audio)
        output: Tensor | None = None
        for i, (in_layer, res_skip_layer) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            in_act = in_layer(audio) + cond[:, i * 2 * C : (i + 1) * 2 * C]
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

    def remove_weight_norm(self) -> None:
        """Fuse start, in_layers, cond_layers and res_skip_layers into plain convs (in place)."""
        if isinstance(self.start, WeightNormConv1d):
            self.start = self.start.remove_weight_norm()
        for layers in (self.in_layers, self.cond_layers, self.res_skip_layers):
            for i, layer in enumerate(layers):
                if isinstance(layer, WeightNormConv1d):
                    layers[i] = layer.remove_weight_norm()


def _weight_and_bias(layer: nn.Module) -> tuple[Tensor, Tensor]:
    """A WN conv's weight and bias, weight-normed or fused (both kinds always have a bias)."""
    assert isinstance(layer, (WeightNormConv1d, nn.Conv1d)) and layer.bias is not None
    return layer.weight, layer.bias


class _Invertible1x1Conv(nn.Module):
    """Channel mixing z' = W z with W (c, c) orthogonal at init (det +1); bias-free 1×1 conv.

    Args:
        channels (int): c, the audio channels the flow sees.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 1, bias=False)
        # float32 CPU draw like the reference's FloatTensor(c, c).normal_(); follows a default device.
        weight = torch.linalg.qr(torch.randn(channels, channels, dtype=torch.float32, device=self.conv.weight.device))[
            0
        ]
        if weight.device.type != "meta" and torch.det(weight) < 0:
            weight[:, 0] = -1 * weight[:, 0]  # det +1: a rotation, so logdet starts at 0
        with torch.no_grad():
            self.conv.weight.copy_(weight.view(channels, channels, 1))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(B, c, L) → ((B, c, L) mixed, scalar log|det W|·B·L in float32)."""
        B, _, L = z.shape
        W = self.conv.weight.squeeze()
        log_det_W = B * L * torch.logdet(W.unsqueeze(0).float()).squeeze()
        return self.conv(z), log_det_W

    def inverse(self, z: Tensor) -> Tensor:
        """(B, c, L) → (B, c, L) with W⁻¹, computed in float32 and cast to z's dtype (as NVIDIA's)."""
        inverse = self.conv.weight[:, :, 0].float().inverse().to(z.dtype)
        return F.conv1d(z, inverse[:, :, None])


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

    def __init__(self, config: WaveGlowConfig | None = None) -> None:
        super().__init__()
        config = WaveGlowConfig() if config is None else config
        self.config = config
        self.upsample = nn.ConvTranspose1d(
            config.n_mel_channels, config.n_mel_channels, UPSAMPLE_KERNEL, stride=HOP_LENGTH
        )
        self.WN = nn.ModuleList()  # noqa: N815 - NVIDIA's key prefix "WN."
        self.convinv = nn.ModuleList()
        n_channels = config.n_group
        for k in range(config.n_flows):
            if is_early(config, k):
                n_channels -= config.n_early_size
            self.convinv.append(_Invertible1x1Conv(n_channels))
            self.WN.append(
                _WN(
                    n_channels // 2,
                    config.n_mel_channels * config.n_group,
                    config.n_layers,
                    config.n_channels,
                    config.kernel_size,
                )
            )
        assert n_channels == config.n_remaining_channels

    @property
    def has_weight_norm(self) -> bool:
        """Whether the WN convs still hold ``weight_g``/``weight_v`` (checkpoint layout)."""
        return isinstance(self.WN[0].start, WeightNormConv1d)

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
        G = self.config.n_group
        spect = condition(mel, self.upsample, G, audio.size(-1))
        if audio.dim() != 2 or audio.size(0) != mel.size(0):
            raise AudioError(f"WaveGlow audio: expected (B={mel.size(0)}, T_audio), found {tuple(audio.shape)}")
        if spect.size(2) < audio.size(1) // G:
            n_upsampled = (mel.size(2) - 1) * HOP_LENGTH + UPSAMPLE_KERNEL
            raise AudioError(
                f"WaveGlow: mel of {mel.size(2)} frames upsamples to {n_upsampled} samples, "
                f"expected >= the audio's {audio.size(1)}"
            )
        audio = audio.unfold(1, G, G).permute(0, 2, 1)  # (B, T_audio) → (B, L, G) → (B, G, L)
        early: list[Tensor] = []
        log_s_list: list[Tensor] = []
        log_det_W_list: list[Tensor] = []
        for k in range(self.config.n_flows):
            if is_early(self.config, k):
                early.append(audio[:, : self.config.n_early_size])
                audio = audio[:, self.config.n_early_size :]
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
    def infer(self, mel: Tensor, sigma: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Generate audio: draw z ~ N(0, σ²) (:func:`sample_noise`) and run the flows backwards.

        Args:
            mel (Tensor): natural-log mel, (B, n_mels, T_mel); cast to the model dtype.
            sigma (float): noise scale (training uses 1.0; NVIDIA's scripts infer with 0.6–0.9).
            generator (torch.Generator, optional): draw the noise from it (on the mel's device)
                instead of the global RNG.

        Returns:
            Tensor: audio, (B, L·n_group) with L = T_mel·256 // n_group, in the model dtype.
        """
        spect = condition(mel, self.upsample, self.config.n_group)
        z = sample_noise(self.config, spect.size(0), spect.size(2), generator, spect.device)
        return self._reverse(spect, sigma * z.to(spect.dtype))

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
        spect = condition(mel, self.upsample, self.config.n_group)
        check_latent(self.config, spect, z)
        return self._reverse(spect, z.to(spect.dtype))

    def _reverse(self, spect: Tensor, z: Tensor) -> Tensor:
        """Flows n_flows−1 … 0 backwards: z (B, n_group, L) → audio (B, n_group·L)."""
        config = self.config
        start = config.n_group - config.n_remaining_channels
        audio = z[:, start:]
        for k in reversed(range(config.n_flows)):
            n_half = audio.size(1) // 2
            audio_0, audio_1 = audio[:, :n_half], audio[:, n_half:]
            output = self.WN[k](audio_0, spect)
            audio_1 = inverse_affine(audio_1, output[:, :n_half], output[:, n_half:])
            convinv = cast(_Invertible1x1Conv, self.convinv[k])  # convinv holds only these
            audio = convinv.inverse(torch.cat([audio_0, audio_1], 1))
            if is_early(config, k):
                # The channels forward() emitted before this flow are prepended.
                start -= config.n_early_size
                audio = torch.cat([z[:, start : start + config.n_early_size], audio], 1)
        # (B, G, L) → (B, L, G) → (B, L·G): sample index = G·l + channel.
        return audio.transpose(1, 2).reshape(audio.size(0), -1)

    def remove_weight_norm(self) -> WaveGlow:
        """Fuse every weight-normed conv into a plain one (keys ``bias``, ``weight``), in place.

        What NVIDIA's inference does before running; call it before casting to half precision,
        since the fusion is computed in float32 anyway. Idempotent. Returns self.
        """
        for wn in self.WN:
            cast(_WN, wn).remove_weight_norm()  # WN holds only _WN
        return self


# --- steps shared with the prepared inference module (tacoglow.inference.fast_waveglow) ------------


def is_early(config: WaveGlowConfig, k: int) -> bool:
    """Whether flow k emits ``n_early_size`` channels before it runs (forward direction)."""
    return k > 0 and k % config.n_early_every == 0


def condition(mel: Tensor, upsample: nn.ConvTranspose1d, n_group: int, n_samples: int | None = None) -> Tensor:
    """Upsample the mel, keep ``n_samples`` (default T_mel·256) samples and fold them like the audio.

    mel (B, n_mels, T_mel), cast to ``upsample``'s dtype → (B, n_mels, (T_mel−1)·256 + 1024) → trim
    to n_samples → unfold into windows of n_group (B, n_mels, L, n_group) → (B, L, n_mels, n_group)
    → (B, L, n_mels·n_group) → (B, n_mels·n_group, L): channel mel_bin·n_group + j holds sample
    n_group·l + j: the WN conditioning. The result's storage is channels-last, (B, L, n_mels·n_group).

    Raises:
        ConfigError: if the mel is not (B, n_mels, T_mel ≥ 1).
    """
    n_mels = upsample.in_channels
    if mel.dim() != 3 or mel.size(1) != n_mels or mel.size(2) < 1:
        raise ConfigError(f"WaveGlow mel: expected (B, {n_mels}, T_mel >= 1), found {tuple(mel.shape)}")
    n_samples = mel.size(2) * HOP_LENGTH if n_samples is None else n_samples
    assert upsample.bias is not None  # WaveGlow builds it with ConvTranspose1d's default bias=True
    spect = _upsample(mel.to(upsample.weight.dtype), upsample.weight, upsample.bias)
    if spect.size(2) > n_samples:
        spect = spect[:, :, :n_samples]
    spect = spect.unfold(2, n_group, n_group).permute(0, 2, 1, 3)
    return spect.contiguous().view(spect.size(0), spect.size(1), -1).permute(0, 2, 1)


def _upsample(mel: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """The transposed conv ``upsample``: (B, n_mels, T_mel) → (B, n_mels, (T_mel − 1)·256 + 1024).

    Computed as one GEMM, mel frames × the (n_mels, n_mels·1024) kernel, then an overlap-add of
    the 4 hop-sized blocks each frame spans. It is the transposed conv's own math (on CPU it
    matches torch's kernels bit for bit in the cases checked), but avoids oneDNN's strided
    deconvolution, which spends ~3 s building a kernel for every new input shape. The
    overlap-add runs in at least float32 so half precision rounds once.
    """
    B, n_mels, T_mel = mel.shape
    n_blocks = UPSAMPLE_KERNEL // HOP_LENGTH
    # (B, T_mel, in) @ (in, out·1024) → (B, T_mel, out, n_blocks, HOP_LENGTH); weight is (in, out, 1024)
    blocks = torch.matmul(mel.transpose(1, 2), weight.reshape(n_mels, -1))
    blocks = blocks.view(B, T_mel, n_mels, n_blocks, HOP_LENGTH)
    acc_dtype = torch.promote_types(mel.dtype, torch.float32)
    out = mel.new_zeros(B, n_mels, T_mel + n_blocks - 1, HOP_LENGTH, dtype=acc_dtype)
    for j in range(n_blocks):
        # Block j of frame t lands in output hop t + j: (B, T_mel, out, HOP) → (B, out, T_mel, HOP)
        out[:, :, j : j + T_mel] += blocks[:, :, :, j].transpose(1, 2)
    out = out.view(B, n_mels, -1) + bias[:, None]
    return out.to(mel.dtype)


def sample_noise(
    config: WaveGlowConfig, batch: int, length: int, generator: torch.Generator | None, device: torch.device
) -> Tensor:
    """Standard-normal latent in ``forward``'s layout, (B, n_group, L), float32, drawn as NVIDIA's.

    Drawn in float32 on ``device`` in the reference's order: (B, n_remaining, L) first, then
    (B, n_early_size, L) for each early flow from the last to the first. Callers draw even at
    σ = 0, so the RNG always advances the same way.
    """
    shapes = [(batch, config.n_remaining_channels, length)]
    shapes += [(batch, config.n_early_size, length)] * config.n_early_outputs
    noise = [torch.randn(shape, generator=generator, device=device, dtype=torch.float32) for shape in shapes]
    # Draws go final channels, then early flows last-to-first; z lists early flows first.
    return torch.cat(noise[::-1], 1)


def check_latent(config: WaveGlowConfig, spect: Tensor, z: Tensor) -> None:
    """Raise ConfigError unless z is (B, n_group, L) for the conditioning ``spect`` (B, ·, L)."""
    expected = (spect.size(0), config.n_group, spect.size(2))
    if tuple(z.shape) != expected:
        raise ConfigError(f"WaveGlow.decode z: expected {expected}, found {tuple(z.shape)}")


def inverse_affine(audio_1: Tensor, b: Tensor, log_s: Tensor) -> Tensor:
    """(audio_1 − b) / exp(log_s), computed in at least float32.

    float32 is the reference's own arithmetic (the division, not a multiply by exp(−s), keeps it
    bit-exact); half precision would overflow exp(log_s) for log_s > 11, so it is promoted too.
    """
    dtype = torch.promote_types(audio_1.dtype, torch.float32)
    out = (audio_1.to(dtype) - b.to(dtype)) / torch.exp(log_s.to(dtype))
    return out.to(audio_1.dtype)
