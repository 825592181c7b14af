"""Tacotron 2: text ids -> log-mel spectrogram, matching NVIDIA's reference in fp32 to ~1e-6.

Reads bottom-up: the config, the encoder (3 convs + BiLSTM), the always-on-dropout prenet, the
location-sensitive attention, the decoder (one ``step`` shared by teacher forcing and inference),
the postnet, and ``Tacotron2``. Module and attribute names give NVIDIA's state-dict keys exactly
(84 entries at full size), so the reference checkpoints load with a strict ``load_state_dict``.

The decoder step is laid out for speed at batch 1, where it is bound by reading the LSTM
weights: each LSTMCell is one product over fused, re-laid weights derived from the parameters
and cached (``_Decoder.step_weights``), and the location conv + dense layer is one small product.
This changes summation order only: outputs differ from the reference's in the last bits
(relative differences ~1e-6 after hundreds of steps; the golden stop steps are unchanged).

Shapes use B (batch), T_text (padded text length), T_mel (mel frames), n_mels, and
T_steps = T_mel / n_frames_per_step (decoder steps; equal to T_mel at the default of 1 frame per
step). Each decoder step predicts a group of ``n_frames_per_step`` frames, one stop-gate logit and
one attention row, so gate and alignments are per step while mels are per frame.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tacoglow.errors import ConfigError, DataError
from tacoglow.models.layers import ConvNorm, LinearNorm

__all__ = ["Tacotron2", "Tacotron2Config", "Tacotron2Inference"]

logger = logging.getLogger(__name__)

# Dropout after the encoder and postnet convolutions; fixed in the reference, active only in training.
_CONV_DROPOUT = 0.5
# Gate logit written at padded steps when mask_padding is on: sigmoid(1e3) == 1, i.e. "stopped".
_PADDED_GATE_LOGIT = 1e3

# NVIDIA's constructor keywords, in the order its config dicts list them.
_NVIDIA_KEYS = (
    "mask_padding", "n_mel_channels", "n_symbols", "symbols_embedding_dim", "encoder_kernel_size",
    "encoder_n_convolutions", "encoder_embedding_dim", "attention_rnn_dim", "attention_dim",
    "attention_location_n_filters", "attention_location_kernel_size", "n_frames_per_step",
    "decoder_rnn_dim", "prenet_dim", "max_decoder_steps", "gate_threshold", "p_attention_dropout",
    "p_decoder_dropout", "postnet_embedding_dim", "postnet_kernel_size", "postnet_n_convolutions",
    "decoder_no_early_stopping",
)


@dataclass
class Tacotron2Config:
    """Hyper-parameters of ``Tacotron2``; NVIDIA's constructor names and full-size defaults.

    Attributes:
        mask_padding: in ``forward``, set mels to 0 and gate logits to 1e3 at frames past each
            item's mel length (default False).
        n_mel_channels: mel bands, n_mels (default 80).
        n_symbols: size of the symbol table / embedding rows (default 148).
        symbols_embedding_dim: embedding width; must equal ``encoder_embedding_dim`` (default 512).
        encoder_kernel_size: width of the encoder convolutions, odd (default 5).
        encoder_n_convolutions: number of encoder conv + batch-norm blocks (default 3).
        encoder_embedding_dim: encoder width; the BiLSTM has half of it per direction (default 512).
        attention_rnn_dim: hidden size of the attention LSTMCell (default 1024).
        attention_dim: width of the attention energies' hidden space (default 128).
        attention_location_n_filters: filters of the location convolution (default 32).
        attention_location_kernel_size: width of the location convolution, odd (default 31).
        n_frames_per_step: mel frames predicted per decoder step (default 1, the reference's only
            working value; larger values group frames, see the module docstring).
        decoder_rnn_dim: hidden size of the decoder LSTMCell (default 1024).
        prenet_dim: width of both prenet layers (default 256).
        max_decoder_steps: cap on inference decoder steps (default 2000, the reference CLI's).
        gate_threshold: an item keeps decoding while sigmoid(gate) <= this (default 0.5).
        p_attention_dropout: dropout on the attention LSTM output, training only (default 0.1).
        p_decoder_dropout: dropout on the decoder LSTM output, training only (default 0.1).
        postnet_embedding_dim: channels of the inner postnet convolutions (default 512).
        postnet_kernel_size: width of the postnet convolutions, odd (default 5).
        postnet_n_convolutions: postnet conv + batch-norm blocks, at least 2 (default 5).
        early_stopping: stop inference once every item's gate fired (default True). NVIDIA stores
            the negation, ``decoder_no_early_stopping``.
        prenet_dropout: probability of the prenet dropout, which is on in training *and* inference
            as in the reference (default 0.5; 0 turns it off for deterministic output; 1 drops
            every unit, so the decoder never sees its previous frames and a teacher-forced
            training pass is the free-running decoding).
        scheduled_sampling: in training, the probability that a decoder step of an item is fed
            the model's own previous frame group instead of the ground truth, as in
            Bengio et al. 2015; it trains the decoder on the inputs it meets when decoding freely
            (default 0, the reference's pure teacher forcing).
        scheduled_sampling_gradient: let the loss of a step fed the model's own group reach back
            through that group into the steps that predicted it (backpropagation through the
            fed-back outputs), so the decoder also learns to emit frames it can continue from
            (default False: the fed-back group is a constant, as in Bengio et al.).
    """

    mask_padding: bool = False
    n_mel_channels: int = 80
    n_symbols: int = 148
    symbols_embedding_dim: int = 512
    encoder_kernel_size: int = 5
    encoder_n_convolutions: int = 3
    encoder_embedding_dim: int = 512
    attention_rnn_dim: int = 1024
    attention_dim: int = 128
    attention_location_n_filters: int = 32
    attention_location_kernel_size: int = 31
    n_frames_per_step: int = 1
    decoder_rnn_dim: int = 1024
    prenet_dim: int = 256
    max_decoder_steps: int = 2000
    gate_threshold: float = 0.5
    p_attention_dropout: float = 0.1
    p_decoder_dropout: float = 0.1
    postnet_embedding_dim: int = 512
    postnet_kernel_size: int = 5
    postnet_n_convolutions: int = 5
    early_stopping: bool = True
    prenet_dropout: float = 0.5
    scheduled_sampling: float = 0.0
    scheduled_sampling_gradient: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "bool" and not isinstance(value, bool):
                raise ConfigError(f"Tacotron2Config.{f.name}: expected a bool, found {value!r}")
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"Tacotron2Config.{f.name}: expected an int, found {value!r}")
            if f.type == "float":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"Tacotron2Config.{f.name}: expected a number, found {value!r}")
                setattr(self, f.name, float(value))
            if f.type == "int" and value < (0 if f.name == "encoder_n_convolutions" else 1):
                raise ConfigError(f"Tacotron2Config.{f.name}: expected a positive int, found {value}")
        for name in ("encoder_kernel_size", "attention_location_kernel_size", "postnet_kernel_size"):
            if getattr(self, name) % 2 != 1:
                raise ConfigError(f"Tacotron2Config.{name}: expected an odd kernel size "
                                  f"(same-length padding), found {getattr(self, name)}")
        if self.symbols_embedding_dim != self.encoder_embedding_dim:
            raise ConfigError(f"Tacotron2Config: symbols_embedding_dim ({self.symbols_embedding_dim}) must "
                              f"equal encoder_embedding_dim ({self.encoder_embedding_dim})")
        if self.encoder_embedding_dim % 2 != 0:
            raise ConfigError(f"Tacotron2Config.encoder_embedding_dim: expected an even width (BiLSTM "
                              f"halves), found {self.encoder_embedding_dim}")
        if self.postnet_n_convolutions < 2:
            raise ConfigError(f"Tacotron2Config.postnet_n_convolutions: expected at least 2, "
                              f"found {self.postnet_n_convolutions}")
        for name in ("gate_threshold", "p_attention_dropout", "p_decoder_dropout", "scheduled_sampling"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"Tacotron2Config.{name}: expected a value in [0, 1], found {getattr(self, name)}")
        if not 0.0 <= self.prenet_dropout <= 1.0:
            raise ConfigError(f"Tacotron2Config.prenet_dropout: expected a value in [0, 1], "
                              f"found {self.prenet_dropout}")

    @classmethod
    def from_nvidia(cls, d: Mapping[str, Any]) -> Tacotron2Config:
        """Build from NVIDIA's constructor-keyword dict (a checkpoint's ``config``).

        Missing keys keep their defaults (older checkpoints lack ``decoder_no_early_stopping``);
        unknown keys raise ``ConfigError`` naming them. ``prenet_dropout`` and the scheduled-sampling
        settings keep their defaults (0.5, and pure teacher forcing).
        """
        unknown = sorted(set(d) - set(_NVIDIA_KEYS))
        if unknown:
            raise ConfigError(f"Tacotron 2 NVIDIA config: unknown keys {unknown}")
        kwargs = {k: v for k, v in d.items() if k != "decoder_no_early_stopping"}
        if "decoder_no_early_stopping" in d:
            no_early = d["decoder_no_early_stopping"]
            if not isinstance(no_early, bool):
                raise ConfigError(f"Tacotron 2 NVIDIA config: decoder_no_early_stopping must be a bool, "
                                  f"found {no_early!r}")
            kwargs["early_stopping"] = not no_early
        return cls(**kwargs)

    def to_nvidia(self) -> dict[str, Any]:
        """Return NVIDIA's constructor-keyword dict: exactly its 22 keys, in its order.

        ``prenet_dropout`` (fixed at 0.5 there) and the scheduled-sampling settings (teacher forcing
        always, there) have no NVIDIA counterpart and are left out.
        """
        values = dataclasses.asdict(self)
        values["decoder_no_early_stopping"] = not self.early_stopping
        return {k: values[k] for k in _NVIDIA_KEYS}


class Tacotron2Inference(NamedTuple):
    """What ``Tacotron2.infer`` returns.

    Attributes:
        mel_postnet: natural-log mel after the postnet, (B, n_mels, T_mel), T_mel = T_steps *
            n_frames_per_step. Frames past an item's length are kept (not zeroed).
        mel_lengths: int32 (B,), frames before the step whose gate fired (that step's frames are
            emitted but not counted), or T_mel for items that never stopped.
        alignments: attention weights, (B, T_steps, T_text).
        gate: stop-gate logits, (B, T_steps).
        stopped: bool (B,), whether the item's gate fired before ``max_decoder_steps``.
    """

    mel_postnet: Tensor
    mel_lengths: Tensor
    alignments: Tensor
    gate: Tensor
    stopped: Tensor


def _prenet_dropout(x: Tensor, p: float, generator: Optional[torch.Generator]) -> Tensor:
    """Dropout that is always on; with a generator, masks come from it instead of the global RNG.

    The generator path repeats F.dropout's CPU arithmetic (Bernoulli(1-p) mask, divided by 1-p,
    times x), so the same seed gives the same output either way.
    """
    if p == 0.0:  # F.dropout returns its input unchanged then, without drawing from the RNG
        return x
    if p == 1.0:  # every unit dropped: the decoder never sees its previous frames
        return torch.zeros_like(x)
    if generator is None:
        return F.dropout(x, p, training=True)
    noise = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator)
    noise.div_(1.0 - p)
    return x * noise


class _Encoder(nn.Module):
    """Conv + batch-norm + ReLU blocks, then a BiLSTM: (B, d, T_text) -> (B, T_text, d)."""

    def __init__(self, config: Tacotron2Config) -> None:
        super().__init__()
        dim, kernel = config.encoder_embedding_dim, config.encoder_kernel_size
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(dim, dim, kernel_size=kernel, stride=1, padding=(kernel - 1) // 2, dilation=1,
                         w_init_gain="relu"),
                nn.BatchNorm1d(dim),
            )
            for _ in range(config.encoder_n_convolutions)
        )
        self.lstm = nn.LSTM(dim, dim // 2, num_layers=1, batch_first=True, bidirectional=True)

    def forward(self, embedded: Tensor, text_lengths_cpu: Tensor) -> Tensor:
        """embedded (B, d, T_text), text_lengths_cpu (B,) int64 on CPU -> (B, T_text, d), 0 at padding."""
        x = embedded
        for block in self.convolutions:
            x = F.dropout(F.relu(block(x)), _CONV_DROPOUT, self.training)
        x = x.transpose(1, 2)  # (B, d, T_text) -> (B, T_text, d)
        # enforce_sorted=False sorts inside and restores the caller's order, so any order works.
        packed = pack_padded_sequence(x, text_lengths_cpu, batch_first=True, enforce_sorted=False)
        outputs, _ = self.lstm(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.size(1))
        return outputs


class _Prenet(nn.Module):
    """Bias-free Linear + ReLU + dropout layers: (..., in_dim) -> (..., sizes[-1])."""

    def __init__(self, in_dim: int, sizes: list[int]) -> None:
        super().__init__()
        in_sizes = [in_dim] + sizes[:-1]
        self.layers = nn.ModuleList(LinearNorm(i, o, bias=False) for i, o in zip(in_sizes, sizes))

    def forward(self, x: Tensor, p: float, generator: Optional[torch.Generator] = None) -> Tensor:
        """Apply each layer; dropout p is applied even in eval mode (see ``_Decoder``)."""
        for linear in self.layers:
            x = _prenet_dropout(F.relu(linear(x)), p, generator)
        return x


class _LocationLayer(nn.Module):
    """Conv over [previous, cumulative] attention weights, then a dense layer, as one product.

    The conv (2 -> n_filters, bias-free) and the dense layer (n_filters -> attention_dim,
    bias-free) are both linear, so ``fused_weight`` folds them into one (2 * kernel,
    attention_dim) matrix and a step is a single GEMM over the zero-padded windows of its input:
    one small product instead of a conv and a linear, equal to them up to rounding.
    """

    def __init__(self, n_filters: int, kernel_size: int, attention_dim: int) -> None:
        super().__init__()
        self.location_conv = ConvNorm(2, n_filters, kernel_size=kernel_size, padding=(kernel_size - 1) // 2,
                                      bias=False, stride=1, dilation=1)
        self.location_dense = LinearNorm(n_filters, attention_dim, bias=False, w_init_gain="tanh")

    def fused_weight(self) -> Tensor:
        """dense ∘ conv as a (2 * kernel, attention_dim) matrix; row c * kernel + j is input channel c, tap j."""
        conv = self.location_conv.conv.weight  # (n_filters, 2, kernel)
        return torch.mm(conv.reshape(conv.size(0), -1).t(), self.location_dense.linear_layer.weight.t())

    def windows(self, weights_prev: Tensor, weights_cum: Tensor) -> Tensor:
        """(B, T_text) twice -> the conv's input windows (B * T_text, 2 * kernel), zero-padded at the ends."""
        kernel = self.location_conv.conv.kernel_size[0]
        pad = (kernel - 1) // 2
        stacked = F.pad(torch.stack((weights_prev, weights_cum), dim=1), (pad, pad))  # (B, 2, T_text + kernel - 1)
        windows = stacked.unfold(2, kernel, 1)  # (B, 2, T_text, kernel), a view
        return windows.transpose(1, 2).reshape(-1, 2 * kernel)  # -> (B, T_text, 2, kernel) -> (B * T_text, 2 * kernel)


class _Attention(nn.Module):
    """Location-sensitive additive attention (Chorowski et al. 2015), as in the reference."""

    def __init__(self, config: Tacotron2Config) -> None:
        super().__init__()
        dim = config.attention_dim
        self.query_layer = LinearNorm(config.attention_rnn_dim, dim, bias=False, w_init_gain="tanh")
        self.memory_layer = LinearNorm(config.encoder_embedding_dim, dim, bias=False, w_init_gain="tanh")
        self.v = LinearNorm(dim, 1, bias=False)
        self.location_layer = _LocationLayer(config.attention_location_n_filters,
                                             config.attention_location_kernel_size, dim)

    def forward(self, query: Tensor, memory: _Memory, weights_prev: Tensor, weights_cum: Tensor,
                location_weight: Tensor) -> tuple[Tensor, Tensor]:
        """One attention step.

        Args:
            query: attention LSTM output, (B, attention_rnn_dim).
            memory: encoder outputs (see ``_Memory``).
            weights_prev: the previous step's attention weights, (B, T_text).
            weights_cum: the sum of all previous steps' weights, (B, T_text).
            location_weight: ``location_layer.fused_weight()``, (2 * kernel, attention_dim).

        Returns:
            context (B, encoder_embedding_dim), weights (B, T_text).
        """
        batch, text_len, dim = memory.processed.shape
        processed_query = self.query_layer(query).unsqueeze(1)  # (B, 1, attention_dim)
        windows = self.location_layer.windows(weights_prev, weights_cum)
        # memory + location in one GEMM; the reference adds (query + location) + memory, a last-bit difference.
        keys = torch.addmm(memory.processed.view(batch * text_len, dim), windows, location_weight)
        energies = self.v(torch.tanh(keys.view(batch, text_len, dim) + processed_query)).squeeze(-1)
        if memory.mask is not None:
            energies = energies.masked_fill(memory.mask, float("-inf"))
        weights = F.softmax(energies, dim=1)
        context = torch.bmm(weights.unsqueeze(1), memory.encoded).squeeze(1)
        return context, weights


class _Memory(NamedTuple):
    """Encoder outputs and what attention derives from them once per utterance."""

    encoded: Tensor  # (B, T_text, encoder_embedding_dim), 0 at padding
    processed: Tensor  # (B, T_text, attention_dim), memory_layer(encoded), contiguous
    mask: Optional[Tensor]  # (B, T_text) bool, True at padding; None when nothing is padded


class _DecoderState(NamedTuple):
    """Recurrent state carried from one decoder step to the next."""

    attention_hidden: Tensor  # (B, attention_rnn_dim)
    attention_cell: Tensor  # (B, attention_rnn_dim)
    decoder_hidden: Tensor  # (B, decoder_rnn_dim)
    decoder_cell: Tensor  # (B, decoder_rnn_dim)
    attention_weights: Tensor  # (B, T_text), previous step's weights
    attention_weights_cum: Tensor  # (B, T_text), sum of all previous weights
    attention_context: Tensor  # (B, encoder_embedding_dim)


class _StepWeights(NamedTuple):
    """The decoder's matrices laid out for its step (see ``_Decoder.step_weights``).

    At batch 1 a step is bound by streaming the two LSTMCells' weights (~71 MB at full size) from
    memory, so each cell's [weight_ih | weight_hh] is one (in + H, 4H) matrix, the right operand of
    one row-vector product per cell, with bias_ih + bias_hh added by that product. The projection
    and gate layers share their input, so they are one matrix too; the location conv and dense
    layers are one (see ``_LocationLayer``). Memory layout: see ``_right_operand``.
    """

    attention_rnn: Tensor  # (prenet_dim + encoder_embedding_dim + attention_rnn_dim, 4 * attention_rnn_dim)
    attention_rnn_bias: Tensor  # (4 * attention_rnn_dim,)
    location: Tensor  # (2 * attention_location_kernel_size, attention_dim)
    decoder_rnn: Tensor  # (attention_rnn_dim + encoder_embedding_dim + decoder_rnn_dim, 4 * decoder_rnn_dim)
    decoder_rnn_bias: Tensor  # (4 * decoder_rnn_dim,)
    projection: Tensor  # (decoder_rnn_dim + encoder_embedding_dim, n_mels * n_frames_per_step + 1)
    projection_bias: Tensor  # (n_mels * n_frames_per_step + 1,)


def _lstm_cell(inputs: Tensor, cell: Tensor, weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """nn.LSTMCell's step on fused weights: inputs = [x, h] (B, in + H), cell (B, H) -> (h', c').

    The pointwise part is ATen's CPU LSTMCell sequence (gate order i, f, g, o), so it matches to
    the bit given the same gates; the gates differ from nn.LSTMCell's in the last bits, as they sum
    one product over [x, h] instead of two.
    """
    gates = torch.addmm(bias, inputs, weight)  # (B, 4H)
    ingate, forgetgate, cellgate, outgate = gates.chunk(4, 1)
    cell = torch.sigmoid(forgetgate) * cell + torch.sigmoid(ingate) * torch.tanh(cellgate)
    return torch.sigmoid(outgate) * torch.tanh(cell), cell


def _right_operand(weight: Tensor) -> Tensor:
    """An (out, in) weight as the (in, out) right operand of ``x @ W``, laid out for the fastest product.

    On CPU in float32, MKL's row-vector product reads an (in, out) contiguous matrix ~1.5x faster
    than the transposed view nn.Linear multiplies by, so it gets that copy. In bfloat16 and float16
    on CPU the view is the faster one (contiguous is 1.6x slower in bfloat16, ~70x in float16), and
    on GPUs cuBLAS takes either, so they keep the view. Values are the same either way.
    """
    operand = weight.t()
    return operand.contiguous() if weight.device.type == "cpu" and weight.dtype == torch.float32 else operand


def _tensor_key(t: Tensor) -> tuple[Any, ...]:
    """What identifies a tensor's current values without reading them: storage, version, layout."""
    return t.data_ptr(), t._version, t.dtype, t.device, t.shape, t.stride()


class _Decoder(nn.Module):
    """Autoregressive decoder; ``forward`` (teacher forcing) and ``infer`` both run ``step``.

    Named quirk, always-on prenet dropout: the reference applies prenet dropout with training
    forced on, in eval mode and at inference too. Its noise is what lets the decoder escape
    attention failures, and trained checkpoints expect it, so we keep it (p = config.prenet_dropout)
    and make it switchable (p = 0) or reproducible (a torch.Generator) instead of removing it.
    Runtime settings (dropouts, gate threshold, step cap, early stopping) are read from ``config``
    at call time.
    """

    def __init__(self, config: Tacotron2Config) -> None:
        super().__init__()
        self.config = config
        frame_dim = config.n_mel_channels * config.n_frames_per_step
        memory_dim = config.encoder_embedding_dim
        self.prenet = _Prenet(frame_dim, [config.prenet_dim, config.prenet_dim])
        self.attention_rnn = nn.LSTMCell(config.prenet_dim + memory_dim, config.attention_rnn_dim)
        self.attention_layer = _Attention(config)
        self.decoder_rnn = nn.LSTMCell(config.attention_rnn_dim + memory_dim, config.decoder_rnn_dim, bias=True)
        self.linear_projection = LinearNorm(config.decoder_rnn_dim + memory_dim, frame_dim)
        self.gate_layer = LinearNorm(config.decoder_rnn_dim + memory_dim, 1, bias=True, w_init_gain="sigmoid")
        # (keys of the source parameters, the tensors pinned so their memory is not reused, the weights)
        self._step_weights_cache: Optional[tuple[tuple[Any, ...], tuple[Tensor, ...], _StepWeights]] = None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_step_weights_cache"] = None  # derived from the parameters: never pickled or deep-copied
        return state

    def _step_weight_sources(self) -> tuple[Tensor, ...]:
        location = self.attention_layer.location_layer
        return (self.attention_rnn.weight_ih, self.attention_rnn.weight_hh, self.attention_rnn.bias_ih,
                self.attention_rnn.bias_hh, location.location_conv.conv.weight,
                location.location_dense.linear_layer.weight, self.decoder_rnn.weight_ih, self.decoder_rnn.weight_hh,
                self.decoder_rnn.bias_ih, self.decoder_rnn.bias_hh, self.linear_projection.linear_layer.weight,
                self.gate_layer.linear_layer.weight, self.linear_projection.linear_layer.bias,
                self.gate_layer.linear_layer.bias)

    def _build_step_weights(self) -> _StepWeights:
        (a_ih, a_hh, a_bih, a_bhh, _, _, d_ih, d_hh, d_bih, d_bhh,
         proj_w, gate_w, proj_b, gate_b) = self._step_weight_sources()
        return _StepWeights(
            attention_rnn=_right_operand(torch.cat((a_ih, a_hh), 1)),
            attention_rnn_bias=a_bih + a_bhh,
            location=self.attention_layer.location_layer.fused_weight(),
            decoder_rnn=_right_operand(torch.cat((d_ih, d_hh), 1)),
            decoder_rnn_bias=d_bih + d_bhh,
            projection=_right_operand(torch.cat((proj_w, gate_w), 0)),
            projection_bias=torch.cat((proj_b, gate_b), 0),
        )

    def step_weights(self) -> _StepWeights:
        """The ``_StepWeights`` of the current parameters.

        When gradients are needed they are built afresh (differentiable, once per decoder call).
        Otherwise they are cached and rebuilt only when a source parameter changed: an in-place
        update (optimizer step, ``load_state_dict``) bumps its version, a ``.to()`` or ``.data``
        reassignment changes its storage. Writes through ``param.data`` bypass the version counter
        and are not seen; parameters created in inference mode have no version and are never cached.
        """
        sources = self._step_weight_sources()
        if torch.is_grad_enabled() and any(p.requires_grad for p in sources):
            return self._build_step_weights()
        if any(p.is_inference() for p in sources):
            with torch.no_grad():
                return self._build_step_weights()
        key = tuple(_tensor_key(p) for p in sources)
        if self._step_weights_cache is None or self._step_weights_cache[0] != key:
            self._step_weights_cache = None  # free the stale copy before building the new one
            # Normal (not inference-mode) tensors, so a later autograd pass may save them for backward.
            with torch.inference_mode(False), torch.no_grad():
                self._step_weights_cache = (key, tuple(p.detach() for p in sources), self._build_step_weights())
        return self._step_weights_cache[2]

    def memory(self, encoded: Tensor, text_lengths: Tensor, padded: bool) -> _Memory:
        """encoded (B, T_text, d), text_lengths (B,) on encoded's device -> ``_Memory``."""
        mask = None
        if padded:
            positions = torch.arange(encoded.size(1), device=encoded.device)
            mask = positions.unsqueeze(0) >= text_lengths.unsqueeze(1)  # (B, T_text)
        return _Memory(encoded, self.attention_layer.memory_layer(encoded).contiguous(), mask)

    def initial_state(self, memory: _Memory) -> _DecoderState:
        """All-zero state in the memory's dtype and device."""
        encoded = memory.encoded
        batch, text_len = encoded.size(0), encoded.size(1)
        attention = encoded.new_zeros(batch, self.config.attention_rnn_dim)
        decoder = encoded.new_zeros(batch, self.config.decoder_rnn_dim)
        weights = encoded.new_zeros(batch, text_len)
        return _DecoderState(attention, attention, decoder, decoder, weights, weights,
                             encoded.new_zeros(batch, self.config.encoder_embedding_dim))

    def go_frame(self, memory: _Memory) -> Tensor:
        """The all-zero first decoder input, (B, n_mels * n_frames_per_step)."""
        return memory.encoded.new_zeros(memory.encoded.size(0), self.linear_projection.linear_layer.out_features)

    def step(self, prenet_out: Tensor, *, state: _DecoderState, memory: _Memory, weights: _StepWeights,
             forced_weights: Optional[Tensor] = None) -> tuple[Tensor, Tensor, _DecoderState, Tensor]:
        """One decoder step.

        Args:
            prenet_out: prenet output for this step, (B, prenet_dim).
            state: the previous step's state.
            memory: encoder outputs (see ``_Memory``).
            weights: ``step_weights()``, taken once per decoder call.
            forced_weights: attention weights to use instead of the model's own, (B, T_text):
                they make the context and the location state carried on (attention forcing).

        Returns:
            frames (B, n_mels * n_frames_per_step), the pre-postnet mel group; gate logit (B, 1);
            the new state; the model's own attention weights of this step, (B, T_text) (the
            state's unless ``forced_weights`` replaced them).
        """
        cfg = self.config
        attention_hidden, attention_cell = _lstm_cell(
            torch.cat((prenet_out, state.attention_context, state.attention_hidden), 1), state.attention_cell,
            weights.attention_rnn, weights.attention_rnn_bias)
        if self.training:  # dropout hits the hidden state that is carried on, not just this step's output
            attention_hidden = F.dropout(attention_hidden, cfg.p_attention_dropout, training=True)
        context, own_weights = self.attention_layer(attention_hidden, memory, state.attention_weights,
                                                    state.attention_weights_cum, weights.location)
        attention_weights = own_weights
        if forced_weights is not None:
            attention_weights = forced_weights
            context = torch.bmm(forced_weights.unsqueeze(1), memory.encoded).squeeze(1)
        decoder_hidden, decoder_cell = _lstm_cell(
            torch.cat((attention_hidden, context, state.decoder_hidden), 1), state.decoder_cell,
            weights.decoder_rnn, weights.decoder_rnn_bias)
        if self.training:
            decoder_hidden = F.dropout(decoder_hidden, cfg.p_decoder_dropout, training=True)
        output = torch.addmm(weights.projection_bias, torch.cat((decoder_hidden, context), 1), weights.projection)
        frames, gate = output.split((output.size(1) - 1, 1), dim=1)
        new_state = _DecoderState(attention_hidden, attention_cell, decoder_hidden, decoder_cell,
                                  attention_weights, state.attention_weights_cum + attention_weights, context)
        return frames, gate, new_state, own_weights

    def _stack(self, frames: list[Tensor], gates: list[Tensor], weights: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Per-step lists -> mel (B, n_mels, T_mel), gate (B, T_steps), alignments (B, T_steps, T_text)."""
        mel = torch.stack(frames).transpose(0, 1).contiguous()  # (T_steps, B, n_mels*nfps) -> (B, T_steps, n_mels*nfps)
        mel = mel.view(mel.size(0), -1, self.config.n_mel_channels)  # -> (B, T_mel, n_mels)
        mel = mel.transpose(1, 2)  # -> (B, n_mels, T_mel)
        gate = torch.stack(gates).squeeze(-1).transpose(0, 1)  # (T_steps, B, 1) -> (B, T_steps)
        alignments = torch.stack(weights).transpose(0, 1)  # (T_steps, B, T_text) -> (B, T_steps, T_text)
        return mel, gate, alignments

    def forward(self, memory: _Memory, mels: Tensor, scheduled_sampling: float = 0.0,
                forced_alignments: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor]:
        """Teacher forcing: step t sees ground-truth group t-1 (the go frame at t = 0).

        With ``scheduled_sampling`` p > 0, each item's step t > 0 is instead fed the group the
        model itself predicted at step t-1 with probability p: a constant, or with
        ``config.scheduled_sampling_gradient`` a path for the gradient back into that prediction.

        Args:
            memory: encoder outputs.
            mels: target log-mels (B, n_mels, T_mel), T_mel a multiple of n_frames_per_step.
            scheduled_sampling: p above (the caller passes 0 outside training).
            forced_alignments: attention weights (B, T_steps, T_text) that replace the model's own
                in every step (see ``step``); the returned alignments are still its own.

        Returns:
            mel (B, n_mels, T_mel), gate logits (B, T_steps), alignments (B, T_steps, T_text).
        """
        batch, group = mels.size(0), self.linear_projection.linear_layer.out_features
        # (B, n_mels, T_mel) -> (B, T_mel, n_mels) -> (B, T_steps, n_mels*nfps) -> (T_steps, B, n_mels*nfps)
        inputs = mels.transpose(1, 2).reshape(batch, -1, group).transpose(0, 1)
        inputs = torch.cat((self.go_frame(memory).unsqueeze(0), inputs), dim=0)
        expected = (batch, inputs.size(0) - 1, memory.encoded.size(1))  # (B, T_steps, T_text)
        if forced_alignments is not None and tuple(forced_alignments.shape) != expected:
            raise DataError(f"Tacotron2: forced_alignments must be (B, T_steps, T_text) = {expected}, "
                            f"found {tuple(forced_alignments.shape)}")
        if scheduled_sampling > 0.0:
            # Which (step, item) inputs are the model's own: (T_steps, B, 1); step 0 always gets the go frame.
            own = torch.rand(inputs.size(0) - 1, batch, 1, device=inputs.device) < scheduled_sampling
        else:
            # One dropout draw over all steps per layer, as the reference does (same RNG consumption).
            prenet_out = self.prenet(inputs, self.config.prenet_dropout)
        weights = self.step_weights()
        state = self.initial_state(memory)
        frames, gates, alignments = [], [], []
        for t in range(inputs.size(0) - 1):
            if scheduled_sampling > 0.0:
                fed = inputs[t]
                if t > 0:
                    previous = frames[-1] if self.config.scheduled_sampling_gradient else frames[-1].detach()
                    fed = torch.where(own[t], previous, fed)
                step_in = self.prenet(fed, self.config.prenet_dropout)
            else:
                step_in = prenet_out[t]
            forced = None if forced_alignments is None else forced_alignments[:, t]
            frame, gate, state, own_weights = self.step(step_in, state=state, memory=memory, weights=weights,
                                                        forced_weights=forced)
            frames.append(frame)
            gates.append(gate)
            alignments.append(own_weights)
        return self._stack(frames, gates, alignments)

    def infer(self, memory: _Memory, generator: Optional[torch.Generator] = None
              ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Free-running decoding; each step is fed the previous pre-postnet frame group.

        Stop rule (the reference's): an item continues while sigmoid(gate) <= gate_threshold; once
        it fires it stays finished (and keeps being decoded while others run). Its length counts
        the steps before the firing one.

        Returns:
            mel (B, n_mels, T_mel), gate logits (B, T_steps), alignments (B, T_steps, T_text),
            mel_lengths int32 (B,) in frames, stopped bool (B,).
        """
        cfg = self.config
        weights = self.step_weights()
        frame = self.go_frame(memory)
        state = self.initial_state(memory)
        batch = frame.size(0)
        running = torch.ones(batch, 1, dtype=torch.bool, device=frame.device)
        frames, gates, alignments, running_steps = [], [], [], []
        for _ in range(cfg.max_decoder_steps):
            prenet_out = self.prenet(frame, cfg.prenet_dropout, generator)
            frame, gate, state, _ = self.step(prenet_out, state=state, memory=memory, weights=weights)
            frames.append(frame)
            gates.append(gate)
            alignments.append(state.attention_weights)
            running = running & (torch.sigmoid(gate) <= cfg.gate_threshold)  # (B, 1)
            running_steps.append(running)
            if cfg.early_stopping and not bool(running.any()):  # the one host sync per step
                break
        mel_lengths = torch.cat(running_steps, 1).sum(1, dtype=torch.int32)  # steps before the firing one
        stopped = ~running.squeeze(1)
        if len(frames) == cfg.max_decoder_steps:
            unfinished = int(batch - stopped.sum())
            if unfinished:
                logger.warning("Tacotron 2 reached max_decoder_steps=%d before the stop gate fired for %d of %d "
                               "items; raise max_decoder_steps or check the input", cfg.max_decoder_steps,
                               unfinished, batch)
        mel, gate_logits, alignments_out = self._stack(frames, gates, alignments)
        return mel, gate_logits, alignments_out, mel_lengths * cfg.n_frames_per_step, stopped


class _Postnet(nn.Module):
    """Residual conv stack: mel (B, n_mels, T_mel) -> correction (B, n_mels, T_mel), added by the caller."""

    def __init__(self, config: Tacotron2Config) -> None:
        super().__init__()
        n_mels, dim, kernel = config.n_mel_channels, config.postnet_embedding_dim, config.postnet_kernel_size
        sizes = [n_mels] + [dim] * (config.postnet_n_convolutions - 1) + [n_mels]
        gains = ["tanh"] * (config.postnet_n_convolutions - 1) + ["linear"]
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(c_in, c_out, kernel_size=kernel, stride=1, padding=(kernel - 1) // 2, dilation=1,
                         w_init_gain=gain),
                nn.BatchNorm1d(c_out),
            )
            for c_in, c_out, gain in zip(sizes[:-1], sizes[1:], gains)
        )

    def forward(self, mel: Tensor) -> Tensor:
        x = mel
        for block in self.convolutions[:-1]:
            x = F.dropout(torch.tanh(block(x)), _CONV_DROPOUT, self.training)
        return F.dropout(self.convolutions[-1](x), _CONV_DROPOUT, self.training)  # last block: no tanh


class Tacotron2(nn.Module):
    """Tacotron 2 (Shen et al. 2018) in NVIDIA's DeepLearningExamples form.

    ``forward`` trains by teacher forcing; ``infer`` decodes autoregressively. Both run the same
    decoder step. The prenet dropout stays on in eval mode (``config.prenet_dropout``, see
    ``_Decoder``); set it to 0 for deterministic output or pass ``generator`` to ``infer``.
    Runtime settings (mask_padding, dropouts, gate_threshold, max_decoder_steps, early_stopping)
    are read from ``model.config`` at call time, so they may be changed on a built model.

    Args:
        config: hyper-parameters, see ``Tacotron2Config``.

    Example:
        >>> import torch
        >>> from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config
        >>> config = Tacotron2Config(symbols_embedding_dim=16, encoder_embedding_dim=16,
        ...     attention_rnn_dim=16, attention_dim=8, attention_location_n_filters=4,
        ...     decoder_rnn_dim=16, prenet_dim=8, postnet_embedding_dim=8, max_decoder_steps=20)
        >>> model = Tacotron2(config).eval()
        >>> text = torch.randint(1, 148, (2, 12))
        >>> text_lengths = torch.tensor([12, 9])
        >>> out = model.infer(text, text_lengths, generator=torch.Generator().manual_seed(0))
        >>> out.mel_postnet.shape[:2], out.alignments.shape[-1], out.mel_lengths.dtype
        (torch.Size([2, 80]), 12, torch.int32)
        >>> mels, mel_lengths = torch.randn(2, 80, 30), torch.tensor([30, 25])
        >>> mel, mel_postnet, gate, alignments = model(text, text_lengths, mels, mel_lengths)
        >>> tuple(mel_postnet.shape), tuple(gate.shape), tuple(alignments.shape)
        ((2, 80, 30), (2, 30), (2, 30, 12))
    """

    def __init__(self, config: Tacotron2Config) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.n_symbols, config.symbols_embedding_dim)
        # Glorot-uniform bound for an (n_symbols, dim) matrix: the reference's embedding init.
        std = math.sqrt(2.0 / (config.n_symbols + config.symbols_embedding_dim))
        bound = math.sqrt(3.0) * std
        self.embedding.weight.data.uniform_(-bound, bound)
        self.encoder = _Encoder(config)
        self.decoder = _Decoder(config)
        self.postnet = _Postnet(config)

    def _encode(self, text: Tensor, text_lengths: Tensor) -> _Memory:
        """text (B, T_text) int64, text_lengths (B,) -> ``_Memory``."""
        if text.dim() != 2 or text_lengths.shape != text.shape[:1]:
            raise DataError(f"Tacotron2: expected text (B, T_text) and text_lengths (B,), found "
                            f"{tuple(text.shape)} and {tuple(text_lengths.shape)}")
        lengths_cpu = text_lengths.to("cpu", torch.int64)  # pack_padded_sequence wants CPU lengths
        shortest, longest = int(lengths_cpu.min()), int(lengths_cpu.max())
        if shortest < 1 or longest > text.size(1):
            raise DataError(f"Tacotron2: text_lengths must lie in [1, {text.size(1)}] (T_text), "
                            f"found min {shortest}, max {longest}")
        embedded = self.embedding(text).transpose(1, 2)  # (B, T_text, d) -> (B, d, T_text)
        encoded = self.encoder(embedded, lengths_cpu)
        return self.decoder.memory(encoded, text_lengths.to(encoded.device), padded=shortest < text.size(1))

    def _check_mels(self, mels: Tensor) -> None:
        nfps = self.config.n_frames_per_step
        if mels.dim() != 3 or mels.size(1) != self.config.n_mel_channels or mels.size(2) % nfps:
            raise DataError(f"Tacotron2: expected mels (B, {self.config.n_mel_channels}, T_mel) with T_mel a "
                            f"multiple of n_frames_per_step={nfps}, found {tuple(mels.shape)}")

    def forward(self, text: Tensor, text_lengths: Tensor, mels: Tensor, mel_lengths: Tensor,
                forced_alignments: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Teacher-forced pass for training.

        In training mode ``config.scheduled_sampling`` feeds some steps the model's own output
        instead of the ground truth (see ``_Decoder.forward``).

        Args:
            text: symbol ids (B, T_text) int64, zero-padded; any length order.
            text_lengths: (B,) int64, each in [1, T_text].
            mels: target natural-log mels (B, n_mels, T_mel), zero-padded; T_mel must be a
                multiple of n_frames_per_step.
            mel_lengths: (B,) valid frames per item (used only when ``config.mask_padding``).
            forced_alignments: attention forcing (Dou et al. 2019): weights (B, T_steps, T_text),
                usually ``reference_alignments``, that take the place of the model's own attention
                in every decoder step, so that outputs stay aligned with ``mels`` however the
                decoder is fed. The returned alignments are the model's own.

        Returns:
            mel (B, n_mels, T_mel) before the postnet; mel_postnet (B, n_mels, T_mel) =
            mel + postnet(mel); gate logits (B, T_steps); alignments (B, T_steps, T_text).
            With ``mask_padding`` mels are 0 at frames >= mel_length and the gate logit is 1e3 at
            steps whose first frame is >= mel_length.
        """
        nfps = self.config.n_frames_per_step
        self._check_mels(mels)
        memory = self._encode(text, text_lengths)
        scheduled_sampling = self.config.scheduled_sampling if self.training else 0.0
        mel, gate, alignments = self.decoder(memory, mels, scheduled_sampling, forced_alignments)
        mel_postnet = mel + self.postnet(mel)
        if self.config.mask_padding:
            # Out-of-place fill (the reference writes .data): same values, no gradient at padding.
            frames = torch.arange(mel.size(2), device=mel.device)
            padded = frames.unsqueeze(0) >= mel_lengths.to(mel.device).unsqueeze(1)  # (B, T_mel)
            mel = mel.masked_fill(padded.unsqueeze(1), 0.0)
            mel_postnet = mel_postnet.masked_fill(padded.unsqueeze(1), 0.0)
            gate = gate.masked_fill(padded[:, ::nfps], _PADDED_GATE_LOGIT)
        return mel, mel_postnet, gate, alignments

    @torch.no_grad()
    def reference_alignments(self, text: Tensor, text_lengths: Tensor, mels: Tensor) -> Tensor:
        """Attention weights of a pure teacher-forced pass (no gradients), (B, T_steps, T_text).

        The targets for attention forcing (see ``forward``). Scheduled sampling is off; dropouts
        follow the module's mode, as in a training pass.
        """
        self._check_mels(mels)
        memory = self._encode(text, text_lengths)
        return self.decoder(memory, mels)[2]

    @torch.no_grad()
    def infer(self, text: Tensor, text_lengths: Tensor, generator: Optional[torch.Generator] = None
              ) -> Tacotron2Inference:
        """Synthesize mels autoregressively (no gradients).

        Args:
            text: symbol ids (B, T_text) int64, zero-padded; any length order. Batching pads the
                shorter items with id 0, which (as in the reference) slightly changes their output.
            text_lengths: (B,) int64, each in [1, T_text].
            generator: draws the prenet dropout masks when given (it must live on the model's
                device); otherwise torch's global RNG is used exactly as the reference does.

        Returns:
            ``Tacotron2Inference``; T_steps = the first step at which every item has stopped (with
            ``early_stopping``) or ``max_decoder_steps``. Hitting the cap with unfinished items
            logs a warning and leaves their ``stopped`` False.
        """
        memory = self._encode(text, text_lengths)
        mel, gate, alignments, mel_lengths, stopped = self.decoder.infer(memory, generator)
        mel_postnet = mel + self.postnet(mel)
        return Tacotron2Inference(mel_postnet, mel_lengths, alignments, gate, stopped)
