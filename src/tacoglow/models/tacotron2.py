"""Tacotron 2: text ids -> log-mel spectrogram, NVIDIA's reference arithmetic (DeepLearningExamples).

Reads bottom-up: encoder (3 convs + BiLSTM), always-on-dropout prenet, location-sensitive attention,
decoder (one ``step`` shared by teacher forcing and inference), postnet, ``Tacotron2``. Module names
give NVIDIA's state-dict keys exactly (84 at full size), so its checkpoints load strictly. Every
operation is the reference's, in its order; fast inference (fused weights) is
``tacoglow.inference.fast_tacotron2.prepare_tacotron2``.

Shapes: B (batch), T_text (padded text length), T_mel (mel frames), n_mels, T_steps = T_mel /
n_frames_per_step (decoder steps). A step predicts ``n_frames_per_step`` frames, one stop-gate
logit and one attention row: gate and alignments are per step, mels per frame.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tacoglow.errors import DataError
from tacoglow.models.layers import ConvNorm, InitGain, LinearNorm
from tacoglow.models.tacotron2_config import Tacotron2Config

__all__ = ["Tacotron2", "Tacotron2Config", "Tacotron2Inference"]

logger = logging.getLogger(__name__)

# Dropout after the encoder and postnet convolutions; fixed in the reference, active only in training.
_CONV_DROPOUT = 0.5
# Gate logit written at padded steps when mask_padding is on: sigmoid(1e3) == 1, i.e. "stopped".
_PADDED_GATE_LOGIT = 1e3


class Tacotron2Inference(NamedTuple):
    """What ``Tacotron2.infer`` returns.

    Attributes:
        mel_postnet: natural-log mel after the postnet, (B, n_mels, T_mel); frames past an
            item's length are kept (not zeroed).
        mel_lengths: int32 (B,), frames before the step whose gate fired, or T_mel if it never did.
        alignments: attention weights, (B, T_steps, T_text).
        gate: stop-gate logits, (B, T_steps).
        stopped: bool (B,), whether the item's gate fired before ``max_decoder_steps``.
        mel: the decoder's mel before the postnet, (B, n_mels, T_mel), as fed back step by step.
    """

    mel_postnet: Tensor
    mel_lengths: Tensor
    alignments: Tensor
    gate: Tensor
    stopped: Tensor
    mel: Tensor


def _prenet_dropout(x: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """Dropout that is always on; with a generator, masks come from it instead of the global RNG.

    The generator path repeats F.dropout's CPU arithmetic (Bernoulli(1-p) mask, divided by 1-p,
    times x), so the same seed gives the same output either way.
    """
    if p == 0.0:  # F.dropout returns its input unchanged then, without drawing from the RNG
        return x
    if generator is None:
        return F.dropout(x, p, training=True)
    noise = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator)
    noise.div_(1.0 - p)
    return x * noise


def check_text(text: Tensor, text_lengths: Tensor) -> Tensor:
    """Check text (B, T_text) and text_lengths (B,) in [1, T_text] (else ``DataError``) -> lengths, int64 CPU."""
    if text.dim() != 2 or text_lengths.shape != text.shape[:1]:
        raise DataError(
            f"Tacotron2: expected text (B, T_text) and text_lengths (B,), found "
            f"{tuple(text.shape)} and {tuple(text_lengths.shape)}"
        )
    lengths_cpu = text_lengths.to("cpu", torch.int64)  # pack_padded_sequence wants CPU lengths
    shortest, longest = int(lengths_cpu.min()), int(lengths_cpu.max())
    if shortest < 1 or longest > text.size(1):
        raise DataError(
            f"Tacotron2: text_lengths must lie in [1, {text.size(1)}] (T_text), found min {shortest}, max {longest}"
        )
    return lengths_cpu


def _padding_mask(lengths: Tensor, size: int, device: torch.device) -> Tensor:
    """lengths (B,) -> (B, size) bool: True at each item's positions from its length on (its padding)."""
    positions = torch.arange(size, device=device)
    return positions[None, :] >= lengths.to(device)[:, None]


class _Encoder(nn.Module):
    """Conv + batch-norm + ReLU blocks, then a BiLSTM: (B, d, T_text) -> (B, T_text, d)."""

    def __init__(self, config: Tacotron2Config) -> None:
        super().__init__()
        dim, kernel = config.encoder_embedding_dim, config.encoder_kernel_size
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(
                    dim, dim, kernel_size=kernel, stride=1, padding=(kernel - 1) // 2, dilation=1, w_init_gain="relu"
                ),
                nn.BatchNorm1d(dim),
            )
            for _ in range(config.encoder_n_convolutions)
        )
        self.lstm = nn.LSTM(dim, dim // 2, num_layers=1, batch_first=True, bidirectional=True)

    def forward(self, embedded: Tensor, text_lengths_cpu: Tensor, mask_text_padding: bool = False) -> Tensor:
        """embedded (B, d, T_text), text_lengths_cpu (B,) int64 -> (B, T_text, d), 0 at padding.

        ``mask_text_padding`` zeroes padded positions before each convolution, as an item encoded
        alone sees them; the reference lets the padding id's embedding in.
        """
        x = self.convolve(embedded, text_lengths_cpu, mask_text_padding)
        # enforce_sorted=False sorts inside and restores the caller's order, so any order works.
        packed = pack_padded_sequence(x, text_lengths_cpu, batch_first=True, enforce_sorted=False)
        outputs, _ = self.lstm(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.size(1))
        return outputs

    def convolve(self, embedded: Tensor, text_lengths_cpu: Tensor, mask_text_padding: bool = False) -> Tensor:
        """The convolution blocks: embedded (B, d, T_text) -> (B, T_text, d), what the BiLSTM reads."""
        x = embedded
        padding = None
        if mask_text_padding:
            padding = _padding_mask(text_lengths_cpu, x.size(2), x.device).unsqueeze(1)  # (B, 1, T_text)
        for block in self.convolutions:
            if padding is not None:
                x = x.masked_fill(padding, 0.0)
            x = F.dropout(F.relu(block(x)), _CONV_DROPOUT, self.training)
        return x.transpose(1, 2)  # (B, d, T_text) -> (B, T_text, d)


class _Prenet(nn.Module):
    """Bias-free Linear + ReLU + dropout layers: (..., in_dim) -> (..., sizes[-1])."""

    def __init__(self, in_dim: int, sizes: list[int]) -> None:
        super().__init__()
        in_sizes = [in_dim] + sizes[:-1]
        self.layers = nn.ModuleList(LinearNorm(i, o, bias=False) for i, o in zip(in_sizes, sizes))

    def forward(self, x: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
        """Apply each layer; dropout p is applied even in eval mode (see ``_Decoder``)."""
        for linear in self.layers:
            x = _prenet_dropout(F.relu(linear(x)), p, generator)
        return x


class _LocationLayer(nn.Module):
    """Conv over [previous, cumulative] attention weights, then dense: (B, 2, T_text) -> (B, T_text, attention_dim)."""

    def __init__(self, n_filters: int, kernel_size: int, attention_dim: int) -> None:
        super().__init__()
        self.location_conv = ConvNorm(
            2, n_filters, kernel_size=kernel_size, padding=(kernel_size - 1) // 2, bias=False, stride=1, dilation=1
        )
        self.location_dense = LinearNorm(n_filters, attention_dim, bias=False, w_init_gain="tanh")

    def forward(self, weights_cat: Tensor) -> Tensor:
        processed = self.location_conv(weights_cat).transpose(1, 2)  # (B, n_filters, T_text) -> (B, T_text, n_filters)
        return self.location_dense(processed)


class EncoderMemory(NamedTuple):
    """Encoder outputs and what attention derives from them once per utterance."""

    encoded: Tensor  # (B, T_text, encoder_embedding_dim), 0 at padding
    processed: Tensor  # (B, T_text, attention_dim), memory_layer(encoded), contiguous
    mask: Tensor | None  # (B, T_text) bool, True at padding; None when nothing is padded


class _Attention(nn.Module):
    """Location-sensitive additive attention (Chorowski et al. 2015), as in the reference."""

    def __init__(self, config: Tacotron2Config) -> None:
        super().__init__()
        dim = config.attention_dim
        self.query_layer = LinearNorm(config.attention_rnn_dim, dim, bias=False, w_init_gain="tanh")
        self.memory_layer = LinearNorm(config.encoder_embedding_dim, dim, bias=False, w_init_gain="tanh")
        self.v = LinearNorm(dim, 1, bias=False)
        self.location_layer = _LocationLayer(
            config.attention_location_n_filters, config.attention_location_kernel_size, dim
        )

    def memory(self, encoded: Tensor, text_lengths_cpu: Tensor) -> EncoderMemory:
        """encoded (B, T_text, d), text_lengths_cpu (B,) -> ``EncoderMemory``."""
        mask = None
        if int(text_lengths_cpu.min()) < encoded.size(1):  # all-False masks change nothing: skip them
            mask = _padding_mask(text_lengths_cpu, encoded.size(1), encoded.device)  # (B, T_text)
        return EncoderMemory(encoded, self.memory_layer(encoded).contiguous(), mask)

    def forward(
        self, query: Tensor, memory: EncoderMemory, weights_prev: Tensor, weights_cum: Tensor
    ) -> tuple[Tensor, Tensor]:
        """One step: query (B, attention_rnn_dim), the previous step's weights and their running
        sum (B, T_text) each -> context (B, encoder_embedding_dim), weights (B, T_text)."""
        processed_query = self.query_layer(query.unsqueeze(1))  # (B, 1, attention_dim)
        processed_location = self.location_layer(torch.stack((weights_prev, weights_cum), dim=1))
        energies = self.v(torch.tanh(processed_query + processed_location + memory.processed)).squeeze(-1)
        if memory.mask is not None:
            energies = energies.masked_fill(memory.mask, float("-inf"))
        weights = F.softmax(energies, dim=1)
        context = torch.bmm(weights.unsqueeze(1), memory.encoded).squeeze(1)
        return context, weights


class DecoderState(NamedTuple):
    """Recurrent state carried from one decoder step to the next."""

    attention_hidden: Tensor  # (B, attention_rnn_dim)
    attention_cell: Tensor  # (B, attention_rnn_dim)
    decoder_hidden: Tensor  # (B, decoder_rnn_dim)
    decoder_cell: Tensor  # (B, decoder_rnn_dim)
    attention_weights: Tensor  # (B, T_text), previous step's weights
    attention_weights_cum: Tensor  # (B, T_text), sum of all previous weights
    attention_context: Tensor  # (B, encoder_embedding_dim)

    @classmethod
    def initial(cls, memory: EncoderMemory, config: Tacotron2Config) -> DecoderState:
        """All-zero state in the memory's dtype and device."""
        batch, text_len, dim = memory.encoded.shape
        attention = memory.encoded.new_zeros(batch, config.attention_rnn_dim)
        decoder = memory.encoded.new_zeros(batch, config.decoder_rnn_dim)
        weights = memory.encoded.new_zeros(batch, text_len)
        return cls(attention, attention, decoder, decoder, weights, weights, memory.encoded.new_zeros(batch, dim))


DecoderStep = Callable[[Tensor, DecoderState, EncoderMemory], tuple[Tensor, Tensor, DecoderState]]
"""(prenet output (B, prenet_dim), state, memory) -> (frames (B, n_mels * nfps), gate logit (B, 1), new state)."""


def _stack(
    frames: list[Tensor], gates: list[Tensor], weights: list[Tensor], n_mels: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-step lists -> mel (B, n_mels, T_mel), gate (B, T_steps), alignments (B, T_steps, T_text)."""
    mel = torch.stack(frames).transpose(0, 1).contiguous()  # (T_steps, B, n_mels*nfps) -> (B, T_steps, n_mels*nfps)
    mel = mel.view(mel.size(0), -1, n_mels)  # -> (B, T_mel, n_mels)
    mel = mel.transpose(1, 2)  # -> (B, n_mels, T_mel)
    gate = torch.stack(gates).squeeze(-1).transpose(0, 1)  # (T_steps, B, 1) -> (B, T_steps)
    alignments = torch.stack(weights).transpose(0, 1)  # (T_steps, B, T_text) -> (B, T_steps, T_text)
    return mel, gate, alignments


def decode_free_running(
    step: DecoderStep,
    prenet: _Prenet,
    postnet: Callable[[Tensor, Tensor | None], Tensor],
    memory: EncoderMemory,
    config: Tacotron2Config,
    generator: torch.Generator | None,
    as_if_alone: bool = False,
) -> Tacotron2Inference:
    """Autoregressive decoding with ``step``, each step fed the previous pre-postnet frames, then the postnet.

    Stop rule (the reference's): an item continues while sigmoid(gate) <= gate_threshold; once
    it fires it stays finished (and keeps being decoded while others run). Its length counts
    the steps before the firing one. Shared by ``Tacotron2.infer`` and the prepared fast decoder.
    ``as_if_alone`` (with ``early_stopping``) gives the postnet only the frames each item would
    have emitted alone, up to and including its firing step (see ``Tacotron2.infer``).
    """
    batch = memory.encoded.size(0)
    frame = memory.encoded.new_zeros(batch, config.n_mel_channels * config.n_frames_per_step)  # the go frame
    state = DecoderState.initial(memory, config)
    running = torch.ones(batch, 1, dtype=torch.bool, device=frame.device)
    frames, gates, alignments, running_steps = [], [], [], []
    for _ in range(config.max_decoder_steps):
        frame, gate, state = step(prenet(frame, config.prenet_dropout, generator), state, memory)
        frames.append(frame)
        gates.append(gate)
        alignments.append(state.attention_weights)
        running = running & (torch.sigmoid(gate) <= config.gate_threshold)  # (B, 1)
        running_steps.append(running)
        if config.early_stopping and not bool(running.any()):  # the one host sync per step
            break
    mel_lengths = torch.cat(running_steps, 1).sum(1, dtype=torch.int32)  # steps before the firing one
    stopped = ~running.squeeze(1)
    unfinished = int(batch - stopped.sum())
    if len(frames) == config.max_decoder_steps and unfinished:
        logger.warning(
            "Tacotron 2 reached max_decoder_steps=%d before the stop gate fired for %d of %d items; "
            "raise max_decoder_steps or check the input",
            config.max_decoder_steps,
            unfinished,
            batch,
        )
    mel, gate_logits, alignments_out = _stack(frames, gates, alignments, config.n_mel_channels)
    mel_lengths = mel_lengths * config.n_frames_per_step
    emitted = None
    if as_if_alone and config.early_stopping:
        # Alone, an item ends with the step that fired its gate: its frames after that are never made.
        ended = torch.clamp(mel_lengths + config.n_frames_per_step, max=mel.size(2))
        emitted = torch.where(stopped, ended, mel.size(2))
    return Tacotron2Inference(mel + postnet(mel, emitted), mel_lengths, alignments_out, gate_logits, stopped, mel)


class _Decoder(nn.Module):
    """Autoregressive decoder; ``forward`` (teacher forcing) and ``infer`` both run ``step``.

    Named quirk, always-on prenet dropout: the reference applies it in eval mode and at inference
    too. Its noise lets the decoder escape attention failures and trained checkpoints expect it, so
    it stays (p = config.prenet_dropout), switchable (p = 0) or reproducible (a torch.Generator).
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

    def step(
        self, prenet_out: Tensor, state: DecoderState, memory: EncoderMemory
    ) -> tuple[Tensor, Tensor, DecoderState]:
        """One decoder step (a ``DecoderStep``): the reference's ``Decoder.decode``.

        Returns:
            frames (B, n_mels * n_frames_per_step), the pre-postnet mel group; gate logit (B, 1);
            the new state, whose ``attention_weights`` are this step's alignment row.
        """
        cfg = self.config
        attention_hidden, attention_cell = self.attention_rnn(
            torch.cat((prenet_out, state.attention_context), -1), (state.attention_hidden, state.attention_cell)
        )
        # Dropout hits the hidden state that is carried on, not just this step's output.
        attention_hidden = F.dropout(attention_hidden, cfg.p_attention_dropout, self.training)
        context, weights = self.attention_layer(
            attention_hidden, memory, state.attention_weights, state.attention_weights_cum
        )
        decoder_hidden, decoder_cell = self.decoder_rnn(
            torch.cat((attention_hidden, context), -1), (state.decoder_hidden, state.decoder_cell)
        )
        decoder_hidden = F.dropout(decoder_hidden, cfg.p_decoder_dropout, self.training)
        hidden_context = torch.cat((decoder_hidden, context), dim=1)
        frames, gate = self.linear_projection(hidden_context), self.gate_layer(hidden_context)
        new_state = DecoderState(
            attention_hidden,
            attention_cell,
            decoder_hidden,
            decoder_cell,
            weights,
            state.attention_weights_cum + weights,
            context,
        )
        return frames, gate, new_state

    def forward(
        self, memory: EncoderMemory, mels: Tensor, scheduled_sampling: float = 0.0
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Teacher forcing: step t sees ground-truth group t-1 (the go frame at t = 0).

        Decoder-input policy, scheduled sampling (Bengio et al. 2015): with p = ``scheduled_sampling``
        > 0, each item's step t > 0 is instead fed, with probability p, the group the model itself
        predicted at step t-1, as a constant (no gradient flows back through it). p = 0: the reference.

        mels (B, n_mels, T_mel) -> mel (B, n_mels, T_mel), gate logits (B, T_steps), alignments
        (B, T_steps, T_text).
        """
        batch, p = mels.size(0), self.config.prenet_dropout
        group = self.config.n_mel_channels * self.config.n_frames_per_step
        # (B, n_mels, T_mel) -> (B, T_mel, n_mels) -> (B, T_steps, n_mels*nfps) -> (T_steps, B, n_mels*nfps)
        inputs = mels.transpose(1, 2).reshape(batch, -1, group).transpose(0, 1)
        inputs = torch.cat((inputs.new_zeros(1, batch, group), inputs), dim=0)  # the go frame first
        n_steps = inputs.size(0) - 1
        if scheduled_sampling > 0.0:
            # Which (step, item) inputs are the model's own: (T_steps, B, 1); step 0 always gets the go frame.
            own = torch.rand(n_steps, batch, 1, device=inputs.device) < scheduled_sampling
        else:
            # One dropout draw over all steps per layer, as the reference does (same RNG consumption).
            prenet_out = self.prenet(inputs, p)
        state = DecoderState.initial(memory, self.config)
        frames: list[Tensor] = []
        gates: list[Tensor] = []
        alignments: list[Tensor] = []
        for t in range(n_steps):
            if scheduled_sampling > 0.0:
                fed = torch.where(own[t], frames[-1].detach(), inputs[t]) if t > 0 else inputs[t]
                step_in = self.prenet(fed, p)
            else:
                step_in = prenet_out[t]
            frame, gate, state = self.step(step_in, state, memory)
            frames.append(frame)
            gates.append(gate)
            alignments.append(state.attention_weights)
        return _stack(frames, gates, alignments, self.config.n_mel_channels)


class _Postnet(nn.Module):
    """Residual conv stack: mel (B, n_mels, T_mel) -> correction (B, n_mels, T_mel), added by the caller."""

    def __init__(self, config: Tacotron2Config) -> None:
        super().__init__()
        n_mels, dim, kernel = config.n_mel_channels, config.postnet_embedding_dim, config.postnet_kernel_size
        sizes = [n_mels] + [dim] * (config.postnet_n_convolutions - 1) + [n_mels]
        tanh: InitGain = "tanh"
        gains: list[InitGain] = [tanh] * (config.postnet_n_convolutions - 1) + ["linear"]
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(
                    c_in, c_out, kernel_size=kernel, stride=1, padding=(kernel - 1) // 2, dilation=1, w_init_gain=gain
                ),
                nn.BatchNorm1d(c_out),
            )
            for c_in, c_out, gain in zip(sizes[:-1], sizes[1:], gains)
        )

    def forward(self, mel: Tensor, lengths: Tensor | None = None) -> Tensor:
        """mel (B, n_mels, T_mel) -> correction (B, n_mels, T_mel).

        ``lengths`` (B,) zeroes each item's frames from its length on before each convolution, so
        its first ``length`` output frames are those of the item alone (the convolutions pad with
        zeros); the reference has no lengths and lets every frame in.
        """
        padding = None
        if lengths is not None:
            padding = _padding_mask(lengths, mel.size(2), mel.device).unsqueeze(1)  # (B, 1, T_mel)
        x = mel
        for index, block in enumerate(self.convolutions):
            if padding is not None:
                x = x.masked_fill(padding, 0.0)
            x = block(x)
            if index < len(self.convolutions) - 1:  # last block: no tanh
                x = torch.tanh(x)
            x = F.dropout(x, _CONV_DROPOUT, self.training)
        return x


class Tacotron2(nn.Module):
    """Tacotron 2 (Shen et al. 2018) in NVIDIA's DeepLearningExamples form.

    ``forward`` trains by teacher forcing; ``infer`` decodes autoregressively; both run one decoder
    step. Prenet dropout stays on in eval mode (see ``_Decoder``): set ``config.prenet_dropout`` to 0
    for deterministic output or pass ``generator`` to ``infer``. Runtime settings (mask_padding,
    dropouts, gate_threshold, max_decoder_steps, early_stopping) are read from ``config`` per call.

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

    def _encode(self, text: Tensor, text_lengths: Tensor, mask_text_padding: bool = False) -> EncoderMemory:
        """text (B, T_text) int64, text_lengths (B,) -> ``EncoderMemory``."""
        lengths_cpu = check_text(text, text_lengths)
        embedded = self.embedding(text).transpose(1, 2)  # (B, T_text, d) -> (B, d, T_text)
        encoded = self.encoder(embedded, lengths_cpu, mask_text_padding)
        return self.decoder.attention_layer.memory(encoded, lengths_cpu)

    def forward(
        self, text: Tensor, text_lengths: Tensor, mels: Tensor, mel_lengths: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Teacher-forced pass for training.

        In training mode ``config.scheduled_sampling`` feeds some steps the model's own output
        instead of the ground truth (see ``_Decoder.forward``).

        Args:
            text: symbol ids (B, T_text) int64, zero-padded, any length order; text_lengths (B,).
            mels: target natural-log mels (B, n_mels, T_mel), zero-padded, T_mel a multiple of
                n_frames_per_step; mel_lengths (B,) (used only with ``config.mask_padding``).

        Returns:
            mel (B, n_mels, T_mel) before the postnet, mel_postnet = mel + postnet(mel), gate logits
            (B, T_steps), alignments (B, T_steps, T_text). With ``mask_padding``, mels are 0 at
            frames >= mel_length and gate logits 1e3 at steps whose first frame is >= mel_length.
        """
        nfps = self.config.n_frames_per_step
        if mels.dim() != 3 or mels.size(1) != self.config.n_mel_channels or mels.size(2) % nfps:
            raise DataError(
                f"Tacotron2: expected mels (B, {self.config.n_mel_channels}, T_mel) with T_mel a "
                f"multiple of n_frames_per_step={nfps}, found {tuple(mels.shape)}"
            )
        memory = self._encode(text, text_lengths)
        scheduled_sampling = self.config.scheduled_sampling if self.training else 0.0
        mel, gate, alignments = self.decoder(memory, mels, scheduled_sampling)
        mel_postnet = mel + self.postnet(mel)
        if self.config.mask_padding:
            # Out-of-place fill (the reference writes .data): same values, no gradient at padding.
            padded = _padding_mask(mel_lengths, mel.size(2), mel.device)  # (B, T_mel)
            mel = mel.masked_fill(padded.unsqueeze(1), 0.0)
            mel_postnet = mel_postnet.masked_fill(padded.unsqueeze(1), 0.0)
            gate = gate.masked_fill(padded[:, ::nfps], _PADDED_GATE_LOGIT)
        return mel, mel_postnet, gate, alignments

    @torch.no_grad()
    def infer(
        self,
        text: Tensor,
        text_lengths: Tensor,
        generator: torch.Generator | None = None,
        as_if_alone: bool = False,
    ) -> Tacotron2Inference:
        """Synthesize mels autoregressively (no gradients).

        Args:
            text: symbol ids (B, T_text) int64, zero-padded, any length order; text_lengths (B,).
            generator: draws the prenet dropout masks (on the model's device); without it, torch's
                global RNG is used exactly as the reference does.
            as_if_alone: give each item of a batch the output it would have decoded alone (up to
                float rounding): padded text positions are zeroed before each encoder convolution,
                and, with ``early_stopping``, each item's frames after the step that fired its gate
                before each postnet convolution (its ``mel_postnet`` frames after that step are
                then what the postnet makes of zeros). Off by default: the reference, where
                padding and the frames decoded after an item's stop leak into its last frames.

        Returns:
            ``Tacotron2Inference``; T_steps = the first step at which every item has stopped (with
            ``early_stopping``) or ``max_decoder_steps`` (then a warning names unfinished items).
        """
        memory = self._encode(text, text_lengths, mask_text_padding=as_if_alone)
        return decode_free_running(
            self.decoder.step, self.decoder.prenet, self.postnet, memory, self.config, generator, as_if_alone
        )
