"""The modules that ``torch.onnx.export`` traces: Tacotron 2 in three graphs and WaveGlow's inverse.

Each wraps the reference model (``tacoglow.models``); WaveGlow's runs the PyTorch engine's fused
weights on exportable ops (its private oneDNN ops have no ONNX form). The arithmetic is the reference's in its order,
with the inputs an exported graph needs made explicit:

- the prenet dropout masks are inputs of the decoder step (already scaled by 1 / (1 - p), as
  ``_prenet_dropout`` builds them), so the caller's RNG decides them and runs are reproducible;
- the text padding mask is an input of the decoder step (the caller knows the lengths);
- WaveGlow's latent z is an input (``WaveGlow.decode``), so the caller draws the noise.

Shapes: B batch, T text length, T_mel frames, L = T_mel * 256 / n_group.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tacoglow.inference.fast_waveglow import _fuse_wn, _FusedWN, _Gemm, _inverse
from tacoglow.models.tacotron2 import EncoderMemory, Tacotron2
from tacoglow.models.waveglow import _WN, HOP_LENGTH, WaveGlow, _Invertible1x1Conv, inverse_affine, is_early

__all__ = [
    "DECODER_STATE_NAMES",
    "DecoderStepGraph",
    "EncoderGraph",
    "PostnetGraph",
    "WaveGlowGraph",
]

DECODER_STATE_NAMES = (
    "attention_hidden",
    "attention_cell",
    "decoder_hidden",
    "decoder_cell",
    "attention_weights",
    "attention_weights_cum",
    "attention_context",
)
"""Recurrent state of the decoder step, in ``DecoderState``'s order (inputs; outputs get ``new_``)."""


class EncoderGraph(nn.Module):
    """text (B, T) int64, text_lengths (B,) int64 -> memory (B, T, d_enc), processed_memory (B, T, d_att).

    Padded positions are zeroed before each convolution (``mask_text_padding``), so every item
    comes out as if encoded alone, as the PyTorch engine's batching does.
    """

    def __init__(self, model: Tacotron2) -> None:
        super().__init__()
        self.model = model

    def forward(self, text: Tensor, text_lengths: Tensor) -> tuple[Tensor, Tensor]:
        embedded = self.model.embedding(text).transpose(1, 2)  # (B, T, d) -> (B, d, T)
        encoded = self.model.encoder(embedded, text_lengths, mask_text_padding=True)
        return encoded, self.model.decoder.attention_layer.memory_layer(encoded)


class DecoderStepGraph(nn.Module):
    """One decoder step: prenet (with given masks), attention LSTM, attention, decoder LSTM, projections.

    Inputs: frame (B, n_mels * nfps), prenet masks 1 and 2 (B, prenet_dim), the 7 state tensors
    (``DECODER_STATE_NAMES``), memory (B, T, d_enc), processed_memory (B, T, d_att) and text_mask
    (B, T) bool, True at padding. Outputs: frames (B, n_mels * nfps), gate logit (B, 1), the new state.

    The LSTM cells and the two output projections use the fused weights of
    ``tacoglow.inference.fast_tacotron2`` (one (in + H, 4H) product per cell over [x, h], one
    product for mel and gate): at batch 1 the step is bound by reading these weights, and one
    larger MatMul with a contiguous (in, out) constant is what ONNX Runtime's GEMV and its int8
    quantizer handle best. The summation order changes, not the arithmetic (last-bit differences,
    as the PyTorch engine's); attention is the reference module itself.
    """

    # Fused weights, registered as buffers in __init__ (annotated here for the type checker).
    attention_rnn: Tensor  # (in + H, 4H)
    attention_rnn_bias: Tensor  # (4H,)
    decoder_rnn: Tensor  # (in + H, 4H)
    decoder_rnn_bias: Tensor  # (4H,)
    projection: Tensor  # (d_dec + d_enc, n_mels * nfps + 1)
    projection_bias: Tensor  # (n_mels * nfps + 1,)

    def __init__(self, model: Tacotron2) -> None:
        super().__init__()
        decoder = model.decoder
        self.prenet = decoder.prenet
        self.attention = decoder.attention_layer
        with torch.no_grad():
            a_rnn, d_rnn = decoder.attention_rnn, decoder.decoder_rnn
            proj, gate = decoder.linear_projection.linear_layer, decoder.gate_layer.linear_layer
            self.register_buffer("attention_rnn", torch.cat((a_rnn.weight_ih, a_rnn.weight_hh), 1).t().contiguous())
            self.register_buffer("attention_rnn_bias", a_rnn.bias_ih + a_rnn.bias_hh)
            self.register_buffer("decoder_rnn", torch.cat((d_rnn.weight_ih, d_rnn.weight_hh), 1).t().contiguous())
            self.register_buffer("decoder_rnn_bias", d_rnn.bias_ih + d_rnn.bias_hh)
            self.register_buffer("projection", torch.cat((proj.weight, gate.weight), 0).t().contiguous())
            self.register_buffer("projection_bias", torch.cat((proj.bias, gate.bias), 0))

    @staticmethod
    def _lstm_cell(inputs: Tensor, cell: Tensor, weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
        """nn.LSTMCell on fused weights: inputs [x, h] (B, in + H), cell (B, H) -> (h', c'); gates i, f, g, o."""
        gates = torch.matmul(inputs, weight) + bias
        ingate, forgetgate, cellgate, outgate = gates.chunk(4, 1)
        cell = torch.sigmoid(forgetgate) * cell + torch.sigmoid(ingate) * torch.tanh(cellgate)
        return torch.sigmoid(outgate) * torch.tanh(cell), cell

    def forward(
        self,
        frame: Tensor,
        prenet_mask_1: Tensor,
        prenet_mask_2: Tensor,
        attention_hidden: Tensor,
        attention_cell: Tensor,
        decoder_hidden: Tensor,
        decoder_cell: Tensor,
        attention_weights: Tensor,
        attention_weights_cum: Tensor,
        attention_context: Tensor,
        memory: Tensor,
        processed_memory: Tensor,
        text_mask: Tensor,
    ) -> tuple[Tensor, ...]:
        layers = self.prenet.layers
        x = F.relu(layers[0](frame)) * prenet_mask_1  # what _prenet_dropout computes: x * noise
        x = F.relu(layers[1](x)) * prenet_mask_2
        attention_hidden, attention_cell = self._lstm_cell(
            torch.cat((x, attention_context, attention_hidden), 1),
            attention_cell,
            self.attention_rnn,
            self.attention_rnn_bias,
        )
        context, weights = self.attention(
            attention_hidden,
            EncoderMemory(memory, processed_memory, text_mask),
            attention_weights,
            attention_weights_cum,
        )
        decoder_hidden, decoder_cell = self._lstm_cell(
            torch.cat((attention_hidden, context, decoder_hidden), 1),
            decoder_cell,
            self.decoder_rnn,
            self.decoder_rnn_bias,
        )
        output = torch.matmul(torch.cat((decoder_hidden, context), 1), self.projection) + self.projection_bias
        frames, gate = output[:, :-1], output[:, -1:]
        return (
            frames,
            gate,
            attention_hidden,
            attention_cell,
            decoder_hidden,
            decoder_cell,
            weights,
            attention_weights_cum + weights,
            context,
        )


class PostnetGraph(nn.Module):
    """mel (B, n_mels, T_mel) before the postnet -> mel + postnet(mel), the same shape."""

    def __init__(self, model: Tacotron2) -> None:
        super().__init__()
        self.postnet = model.postnet

    def forward(self, mel: Tensor) -> Tensor:
        return mel + self.postnet(mel)


class WaveGlowGraph(nn.Module):
    """mel (B, n_mels, T_mel), z (B, n_group, L) -> audio (B, T_mel * 256): ``WaveGlow.decode``.

    The flows run the PyTorch engine's fused formulation (``tacoglow.inference.fast_waveglow``,
    its weights composed by ``_fuse_wn`` in float64 and rounded once to float32), so that ONNX
    Runtime spends its time in a few large MatMuls: channels-last (B, L, channels), each WN layer
    one MatMul over [dilated taps | conditioning], the gate as (σ(2a) − ½)·σ(b) with the 2s in the
    weights, ``end`` folded into the skip rows. The taps are slices of the zero-padded input
    (the oneDNN scratch buffer has no ONNX counterpart).

    The upsampling is the transposed convolution itself (an ONNX ConvTranspose) rather than
    ``_upsample``'s GEMM + overlap-add, which exists only to dodge a oneDNN cost; the folding of
    the conditioning is ``condition``'s ``unfold`` written as a reshape (windows of n_group with
    stride n_group tile the samples exactly).
    """

    def __init__(self, model: WaveGlow) -> None:
        super().__init__()
        self.config = model.config
        self.upsample = model.upsample
        # float64 composition is not packed for oneDNN: plain (out, in) weights, rounded here once.
        double, cpu = torch.float64, torch.device("cpu")
        self.flows: list[tuple[_FusedWN, Tensor]] = []  # (WN, W^-1 (c, c)) per flow
        with torch.no_grad():
            for wn, convinv in zip(model.WN, model.convinv, strict=True):
                assert isinstance(wn, _WN) and isinstance(convinv, _Invertible1x1Conv)
                self.flows.append((_float_wn(_fuse_wn(wn, double, cpu)), _inverse(convinv, torch.float32, cpu)))

    def forward(self, mel: Tensor, z: Tensor) -> Tensor:
        n_group = self.config.n_group
        upsample = self.upsample
        spect = F.conv_transpose1d(mel, upsample.weight, upsample.bias, stride=upsample.stride[0])
        batch, n_mels = spect.size(0), spect.size(1)
        n_samples = mel.size(2) * HOP_LENGTH
        # (B, n_mels, S) -> (B, n_mels, L, G) -> (B, L, n_mels, G) -> (B, L, n_mels * G)
        spect = spect[:, :, :n_samples].reshape(batch, n_mels, -1, n_group).permute(0, 2, 1, 3)
        return self._reverse(spect.reshape(batch, -1, n_mels * n_group), z)

    def _reverse(self, spect: Tensor, z: Tensor) -> Tensor:
        """``PreparedWaveGlow._reverse``: spect (B, L, n_mels * G), z (B, G, L) -> audio (B, G * L)."""
        config = self.config
        z = z.transpose(1, 2)  # (B, L, G)
        start = config.n_group - config.n_remaining_channels
        audio = z[..., start:]
        for k in reversed(range(config.n_flows)):
            wn, inverse = self.flows[k]
            n_half = audio.size(2) // 2
            audio_0, audio_1 = audio[..., :n_half], audio[..., n_half:]
            output = _wn(wn, audio_0, spect)
            audio_1 = inverse_affine(audio_1, output[..., :n_half], output[..., n_half:])
            audio = F.linear(torch.cat([audio_0, audio_1], 2), inverse)
            if is_early(config, k):
                start -= config.n_early_size
                audio = torch.cat([z[..., start : start + config.n_early_size], audio], 2)
        return audio.reshape(audio.size(0), -1)


def _float_wn(wn: _FusedWN) -> _FusedWN:
    """A :class:`_FusedWN` composed in float64, its weights rounded once to float32."""

    def gemm(g: _Gemm) -> _Gemm:
        return _Gemm(g.weight.float(), g.bias.float(), False)

    return wn._replace(
        start=gemm(wn.start),
        in_layers=tuple(map(gemm, wn.in_layers)),
        res_skip_layers=tuple(map(gemm, wn.res_skip_layers)),
    )


def _wn(wn: _FusedWN, audio: Tensor, spect: Tensor) -> Tensor:
    """``fast_waveglow._run_wn`` in exportable ops: audio (B, L, n_in), spect (B, L, n_cond) -> (B, L, 2 * n_in)."""
    C, n_taps = wn.n_channels, wn.kernel_size
    state = F.linear(audio, wn.start.weight, wn.start.bias)  # (B, L, C + 2 * n_in): residual | end sum
    # Layer 0 convolves [audio | 1] (start folded into its taps, its bias on the ones channel).
    source = torch.cat([audio, torch.ones_like(audio[..., :1])], 2)
    out = state
    for i, dilation in enumerate(wn.dilations):
        if i > 0:
            source = state[..., :C]
        pad = (n_taps - 1) // 2 * dilation
        padded = F.pad(source, (0, 0, pad, pad))  # zeros along L: the conv's "same" padding
        length = source.size(1)
        taps = [padded[:, k * dilation : k * dilation + length] for k in range(n_taps)]
        in_act = torch.sigmoid(F.linear(torch.cat([*taps, spect], 2), wn.in_layers[i].weight, wn.in_layers[i].bias))
        gate = (in_act[..., :C] - 0.5) * in_act[..., C:]
        rs = wn.res_skip_layers[i]
        if i < len(wn.dilations) - 1:
            state = F.linear(gate, rs.weight, rs.bias) + state
        else:
            out = F.linear(gate, rs.weight, rs.bias) + state[..., C:]
    return out


def state_zeros(model: Tacotron2, batch: int, text_len: int) -> list[Tensor]:
    """Initial decoder state tensors in ``DECODER_STATE_NAMES`` order (for tracing)."""
    cfg = model.config
    sizes = (
        cfg.attention_rnn_dim,
        cfg.attention_rnn_dim,
        cfg.decoder_rnn_dim,
        cfg.decoder_rnn_dim,
        text_len,
        text_len,
        cfg.encoder_embedding_dim,
    )
    return [torch.zeros(batch, size) for size in sizes]
