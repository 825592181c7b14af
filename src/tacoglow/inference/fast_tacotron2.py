"""Fast Tacotron 2 inference: ``prepare_tacotron2`` fuses the decoder's weights once, as HiFi-GAN's
``remove_weight_norm`` prepares its generator.

At batch 1 a decoder step is bound by reading the two LSTMCells' weights (~71 MB at full size), so
the prepared decoder step does fewer, larger products over weights laid out once:

- each LSTMCell is one product over [input, hidden] with [weight_ih | weight_hh] as one
  (in + H, 4H) matrix and bias_ih + bias_hh added by that product;
- the location conv (2 -> n_filters) and dense layer (n_filters -> attention_dim) are both
  linear and bias-free, so they fold into one (2 * kernel, attention_dim) matrix applied to the
  zero-padded windows of the attention weights, and that product also adds the processed memory;
- the mel projection and the gate layer share their input, so they are one matrix.

The encoder's BiLSTM runs each direction over the padded batch instead of a packed one (see
``_PaddedBiLSTM``). This changes summation order only: outputs differ from ``Tacotron2.infer`` in
the last bits (relative differences ~1e-6 after hundreds of steps). Everything else (encoder
convolutions, prenet, stop rule, postnet) is the reference model's own code. The prepared module
keeps no state between calls, so one instance may serve many threads at once.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tacoglow.models.tacotron2 import (
    DecoderState,
    EncoderMemory,
    Tacotron2,
    Tacotron2Config,
    Tacotron2Inference,
    check_text,
    decode_free_running,
)

__all__ = ["PreparedTacotron2", "prepare_tacotron2"]


def _right_operand(weight: Tensor) -> Tensor:
    """An (out, in) weight as the (in, out) right operand of ``x @ W``, laid out for the fastest product.

    On CPU in float32, MKL's row-vector product reads an (in, out) contiguous matrix ~1.5x faster
    than the transposed view nn.Linear multiplies by, so it gets that copy. In bfloat16 and float16
    on CPU the view is the faster one (contiguous is 1.6x slower in bfloat16, ~70x in float16), and
    on GPUs cuBLAS takes either, so they keep the view. Values are the same either way.
    """
    operand = weight.t()
    return operand.contiguous() if weight.device.type == "cpu" and weight.dtype == torch.float32 else operand


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


class _PaddedBiLSTM(nn.Module):
    """The encoder's BiLSTM over a padded batch without packing it: (B, T_text, d), lengths (B,) -> (B, T_text, d).

    torch's CPU LSTM runs a packed batch about 2.5x slower than a padded one (the bundled voice,
    8 sentences of ~120 symbols: 10 -> 4 ms; at batch 1 the same), so each direction runs as a
    one-directional LSTM over the padded batch. The forward one reads padding only after an
    item's last token, which changes nothing before it; the backward one reads each item reversed
    within its length, so its padding too comes last: the step order packing gives each item.
    Same arithmetic; products over B rows round alike or nearly (~1e-6). Padded outputs are 0,
    as ``pad_packed_sequence`` leaves them.

    Args:
        lstm: the reference encoder's one-layer bidirectional ``nn.LSTM`` (batch_first); its
            weights are copied.
    """

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.hidden_size = lstm.hidden_size
        weight = lstm.weight_ih_l0
        self.directions = nn.ModuleList()
        for suffix in ("", "_reverse"):
            one = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True, device=weight.device, dtype=weight.dtype)
            with torch.no_grad():
                for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                    getattr(one, name).copy_(getattr(lstm, name + suffix))
            self.directions.append(one.requires_grad_(False))

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        positions = torch.arange(x.size(1), device=x.device)[None, :]  # (1, T_text)
        lengths = lengths.to(x.device)[:, None]  # (B, 1)
        # Position t of each item read from its position length - 1 - t (padding stays in place).
        reversed_order = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, T_text)
        forward_out, _ = self.directions[0](x)
        backward_in = x.gather(1, reversed_order.unsqueeze(2).expand(-1, -1, x.size(2)))
        backward_out, _ = self.directions[1](backward_in)
        backward_out = backward_out.gather(1, reversed_order.unsqueeze(2).expand(-1, -1, self.hidden_size))
        outputs = torch.cat((forward_out, backward_out), 2)
        return outputs.masked_fill((positions >= lengths).unsqueeze(2), 0.0)


class PreparedTacotron2(nn.Module):
    """A Tacotron 2 for inference only, made by :func:`prepare_tacotron2`.

    ``infer`` has ``Tacotron2.infer``'s signature and result. ``config`` holds the runtime
    settings (prenet dropout, gate threshold, step cap, early stopping), read at call time as in
    ``Tacotron2``. The fused weights are a snapshot of the source model: prepare again after
    changing its weights, and to change dtype or device.

    Args:
        model: the reference model (taken over: its modules are reused, not copied).
    """

    # The fused weights (buffers, see __init__).
    attention_rnn: Tensor  # (prenet_dim + encoder_embedding_dim + attention_rnn_dim, 4 * attention_rnn_dim)
    attention_rnn_bias: Tensor  # (4 * attention_rnn_dim,)
    location: Tensor  # (2 * attention_location_kernel_size, attention_dim)
    decoder_rnn: Tensor  # (attention_rnn_dim + encoder_embedding_dim + decoder_rnn_dim, 4 * decoder_rnn_dim)
    decoder_rnn_bias: Tensor  # (4 * decoder_rnn_dim,)
    projection: Tensor  # (decoder_rnn_dim + encoder_embedding_dim, n_mels * n_frames_per_step + 1)
    projection_bias: Tensor  # (n_mels * n_frames_per_step + 1,)

    def __init__(self, model: Tacotron2) -> None:
        super().__init__()
        self.config: Tacotron2Config = model.config
        self.embedding = model.embedding
        self.encoder = model.encoder
        self.encoder_lstm = _PaddedBiLSTM(model.encoder.lstm)
        self.prenet = model.decoder.prenet
        self.attention = model.decoder.attention_layer
        self.postnet = model.postnet
        decoder, location = model.decoder, model.decoder.attention_layer.location_layer
        with torch.no_grad():
            a_rnn, d_rnn = decoder.attention_rnn, decoder.decoder_rnn
            proj, gate = decoder.linear_projection.linear_layer, decoder.gate_layer.linear_layer
            conv = location.location_conv.conv.weight  # (n_filters, 2, kernel)
            dense = location.location_dense.linear_layer.weight  # (attention_dim, n_filters)
            # Buffers, not parameters: derived once here, moved by .to() but never in the state dict.
            fused = {
                "attention_rnn": _right_operand(torch.cat((a_rnn.weight_ih, a_rnn.weight_hh), 1)),
                "attention_rnn_bias": a_rnn.bias_ih + a_rnn.bias_hh,
                # dense ∘ conv as (2 * kernel, attention_dim); row c * kernel + j is input channel c, tap j.
                "location": torch.mm(conv.reshape(conv.size(0), -1).t(), dense.t()),
                "decoder_rnn": _right_operand(torch.cat((d_rnn.weight_ih, d_rnn.weight_hh), 1)),
                "decoder_rnn_bias": d_rnn.bias_ih + d_rnn.bias_hh,
                "projection": _right_operand(torch.cat((proj.weight, gate.weight), 0)),
                "projection_bias": torch.cat((proj.bias, gate.bias), 0),
            }
        for name, tensor in fused.items():
            self.register_buffer(name, tensor, persistent=False)
        self.location_kernel = conv.size(2)

    def _step(
        self, prenet_out: Tensor, state: DecoderState, memory: EncoderMemory
    ) -> tuple[Tensor, Tensor, DecoderState]:
        """``Tacotron2``'s decoder step (eval mode) on the fused weights; a ``DecoderStep``."""
        attention_hidden, attention_cell = _lstm_cell(
            torch.cat((prenet_out, state.attention_context, state.attention_hidden), 1),
            state.attention_cell,
            self.attention_rnn,
            self.attention_rnn_bias,
        )
        batch, text_len, dim = memory.processed.shape
        processed_query = self.attention.query_layer(attention_hidden).unsqueeze(1)  # (B, 1, attention_dim)
        pad = (self.location_kernel - 1) // 2
        stacked = F.pad(torch.stack((state.attention_weights, state.attention_weights_cum), dim=1), (pad, pad))
        windows = stacked.unfold(2, self.location_kernel, 1)  # (B, 2, T_text + kernel - 1) -> (B, 2, T_text, kernel)
        windows = windows.transpose(1, 2).reshape(-1, 2 * self.location_kernel)  # -> (B * T_text, 2 * kernel)
        # memory + location in one GEMM; the reference adds (query + location) + memory, a last-bit difference.
        keys = torch.addmm(memory.processed.view(batch * text_len, dim), windows, self.location)
        energies = self.attention.v(torch.tanh(keys.view(batch, text_len, dim) + processed_query)).squeeze(-1)
        if memory.mask is not None:
            energies = energies.masked_fill(memory.mask, float("-inf"))
        weights = F.softmax(energies, dim=1)  # (B, T_text)
        context = torch.bmm(weights.unsqueeze(1), memory.encoded).squeeze(1)  # (B, encoder_embedding_dim)
        decoder_hidden, decoder_cell = _lstm_cell(
            torch.cat((attention_hidden, context, state.decoder_hidden), 1),
            state.decoder_cell,
            self.decoder_rnn,
            self.decoder_rnn_bias,
        )
        output = torch.addmm(self.projection_bias, torch.cat((decoder_hidden, context), 1), self.projection)
        frames, gate = output.split((output.size(1) - 1, 1), dim=1)
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

    @torch.no_grad()
    def infer(
        self,
        text: Tensor,
        text_lengths: Tensor,
        generator: torch.Generator | None = None,
        as_if_alone: bool = False,
    ) -> Tacotron2Inference:
        """As ``Tacotron2.infer`` (same arguments, same result up to float rounding)."""
        lengths_cpu = check_text(text, text_lengths)
        embedded = self.embedding(text).transpose(1, 2)  # (B, T_text, d) -> (B, d, T_text)
        encoded = self.encoder_lstm(self.encoder.convolve(embedded, lengths_cpu, as_if_alone), lengths_cpu)
        memory = self.attention.memory(encoded, lengths_cpu)
        return decode_free_running(self._step, self.prenet, self.postnet, memory, self.config, generator, as_if_alone)


def prepare_tacotron2(
    model: Tacotron2, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> PreparedTacotron2:
    """A fast, inference-only copy of ``model`` in ``dtype`` on ``device``; ``model`` is left unchanged.

    The copy is put in eval mode without gradients, cast, and then its decoder weights are fused
    (see the module docstring), once. Call it again after changing the model's weights.

    Args:
        model: a Tacotron 2 (any mode).
        dtype: floating-point dtype of the prepared model (default: the model's).
        device: device of the prepared model (default: the model's).

    Example:
        >>> import torch
        >>> from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config
        >>> config = Tacotron2Config(symbols_embedding_dim=16, encoder_embedding_dim=16, attention_rnn_dim=16,
        ...     attention_dim=8, attention_location_n_filters=4, decoder_rnn_dim=16, prenet_dim=8,
        ...     postnet_embedding_dim=8, max_decoder_steps=20, prenet_dropout=0.0)
        >>> model = Tacotron2(config).eval()
        >>> fast = prepare_tacotron2(model)
        >>> text, text_lengths = torch.randint(1, 148, (1, 12)), torch.tensor([12])
        >>> torch.allclose(fast.infer(text, text_lengths).mel_postnet, model.infer(text, text_lengths).mel_postnet,
        ...                rtol=1e-4, atol=1e-5)
        True
    """
    # deepcopy also copies the config, so the prepared model's runtime settings are its own.
    source = copy.deepcopy(model).eval().requires_grad_(False)
    source.to(device=device, dtype=dtype)
    return PreparedTacotron2(source).eval()
