"""Tacotron 2's fast decoder step: equal to the nn-module arithmetic, and never run on stale weights."""
from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch.nn import functional as F

from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config, _lstm_cell

CLOSE = {"rtol": 1e-5, "atol": 1e-6}


def tiny_config(**overrides) -> Tacotron2Config:
    sizes = dict(n_mel_channels=8, n_symbols=20, symbols_embedding_dim=16, encoder_embedding_dim=16,
                 encoder_kernel_size=3, attention_rnn_dim=24, attention_dim=8, attention_location_n_filters=4,
                 attention_location_kernel_size=5, decoder_rnn_dim=20, prenet_dim=8, postnet_embedding_dim=8,
                 postnet_kernel_size=3, max_decoder_steps=15, early_stopping=False, prenet_dropout=0.0)
    sizes.update(overrides)
    return Tacotron2Config(**sizes)


def tiny_model(seed: int = 0, **overrides) -> Tacotron2:
    torch.manual_seed(seed)
    return Tacotron2(tiny_config(**overrides)).eval()


TEXT = torch.tensor([[3, 7, 1, 9, 12, 5, 8, 2, 11], [4, 4, 6, 13, 2, 7, 0, 0, 0]])
TEXT_LENGTHS = torch.tensor([9, 6])


def straightforward_decode(model: Tacotron2, text: torch.Tensor, text_lengths: torch.Tensor, steps: int
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reference's step with nn modules (two nn.LSTMCell calls, conv then dense location layer).

    Returns frames (B, steps, n_mels), gate logits (B, steps), alignments (B, steps, T_text).
    """
    decoder = model.decoder
    attention, location = decoder.attention_layer, decoder.attention_layer.location_layer
    memory = model._encode(text, text_lengths)
    state = decoder.initial_state(memory)
    attention_h, attention_c, decoder_h, decoder_c, weights, weights_cum, context = state
    frame = decoder.go_frame(memory)
    frames, gates, alignments = [], [], []
    for _ in range(steps):
        prenet_out = decoder.prenet(frame, 0.0)
        attention_h, attention_c = decoder.attention_rnn(torch.cat((prenet_out, context), -1),
                                                         (attention_h, attention_c))
        weights_cat = torch.stack((weights, weights_cum), dim=1)
        processed_location = location.location_dense(location.location_conv(weights_cat).transpose(1, 2))
        processed_query = attention.query_layer(attention_h.unsqueeze(1))
        energies = attention.v(torch.tanh(processed_query + processed_location + memory.processed)).squeeze(-1)
        if memory.mask is not None:
            energies = energies.masked_fill(memory.mask, float("-inf"))
        weights = F.softmax(energies, dim=1)
        weights_cum = weights_cum + weights
        context = torch.bmm(weights.unsqueeze(1), memory.encoded).squeeze(1)
        decoder_h, decoder_c = decoder.decoder_rnn(torch.cat((attention_h, context), -1), (decoder_h, decoder_c))
        hidden_context = torch.cat((decoder_h, context), dim=1)
        frame = decoder.linear_projection(hidden_context)
        frames.append(frame)
        gates.append(decoder.gate_layer(hidden_context).squeeze(1))
        alignments.append(weights)
    return torch.stack(frames, 1), torch.stack(gates, 1), torch.stack(alignments, 1)


def test_step_weights_hold_the_parameters_fused_and_transposed():
    decoder = tiny_model().decoder
    weights = decoder.step_weights()
    for cell, weight, bias in ((decoder.attention_rnn, weights.attention_rnn, weights.attention_rnn_bias),
                               (decoder.decoder_rnn, weights.decoder_rnn, weights.decoder_rnn_bias)):
        assert weight.is_contiguous() and weight.shape == (cell.input_size + cell.hidden_size, 4 * cell.hidden_size)
        assert torch.equal(weight[:cell.input_size].t(), cell.weight_ih)
        assert torch.equal(weight[cell.input_size:].t(), cell.weight_hh)
        assert torch.equal(bias, cell.bias_ih + cell.bias_hh)
    projection, gate = decoder.linear_projection.linear_layer, decoder.gate_layer.linear_layer
    assert weights.projection.is_contiguous()
    assert torch.equal(weights.projection.t(), torch.cat((projection.weight, gate.weight)))
    assert torch.equal(weights.projection_bias, torch.cat((projection.bias, gate.bias)))


def test_fused_lstm_cells_equal_nn_lstmcell():
    decoder = tiny_model().decoder
    weights = decoder.step_weights()
    torch.manual_seed(1)
    for cell, weight, bias in ((decoder.attention_rnn, weights.attention_rnn, weights.attention_rnn_bias),
                               (decoder.decoder_rnn, weights.decoder_rnn, weights.decoder_rnn_bias)):
        x, h, c = torch.randn(3, cell.input_size), torch.randn(3, cell.hidden_size), torch.randn(3, cell.hidden_size)
        with torch.no_grad():
            want_h, want_c = cell(x, (h, c))
            got_h, got_c = _lstm_cell(torch.cat((x, h), 1), c, weight, bias)
        torch.testing.assert_close(got_h, want_h, **CLOSE)
        torch.testing.assert_close(got_c, want_c, **CLOSE)


def test_fused_location_layer_equals_conv_then_dense():
    location = tiny_model().decoder.attention_layer.location_layer
    torch.manual_seed(2)
    prev, cum = torch.rand(2, 11), torch.rand(2, 11) * 3
    with torch.no_grad():
        want = location.location_dense(location.location_conv(torch.stack((prev, cum), 1)).transpose(1, 2))
        got = torch.mm(location.windows(prev, cum), location.fused_weight()).view(2, 11, -1)
    torch.testing.assert_close(got, want, **CLOSE)


@pytest.mark.parametrize("batch", [1, 2])
def test_infer_equals_the_straightforward_decoder(batch):
    model = tiny_model()
    text, text_lengths = TEXT[:batch], TEXT_LENGTHS[:batch]
    with torch.no_grad():
        want_frames, want_gate, want_align = straightforward_decode(model, text, text_lengths, 15)
        mel, gate, alignments, _, _ = model.decoder.infer(model._encode(text, text_lengths))
    assert gate.shape == (batch, 15)
    torch.testing.assert_close(mel.transpose(1, 2), want_frames, **CLOSE)
    torch.testing.assert_close(gate, want_gate, **CLOSE)
    torch.testing.assert_close(alignments, want_align, **CLOSE)


def test_training_gradients_equal_the_straightforward_decoder():
    """In grad mode the step weights are built differentiably, so every decoder parameter gets its gradient.

    Eval mode keeps the encoder's dropout out of the comparison; what matters is that grad mode is on.
    """
    fast = tiny_model()
    slow = copy.deepcopy(fast)
    torch.manual_seed(3)
    probe_mel, probe_align = torch.randn(2, 8, 15), torch.randn(2, 15, 9)
    mel, gate, alignments, _, _ = fast.decoder.infer(fast._encode(TEXT, TEXT_LENGTHS))
    ((mel * probe_mel).sum() + (alignments * probe_align).sum() + gate.sum()).backward()
    frames, want_gate, want_align = straightforward_decode(slow, TEXT, TEXT_LENGTHS, 15)
    ((frames.transpose(1, 2) * probe_mel).sum() + (want_align * probe_align).sum() + want_gate.sum()).backward()
    assert fast.decoder._step_weights_cache is None  # grad mode never caches
    slow_params = dict(slow.named_parameters())
    for name, param in fast.named_parameters():
        if name.startswith("postnet"):
            continue
        assert param.grad is not None and param.grad.abs().sum() > 0, name
        torch.testing.assert_close(param.grad, slow_params[name].grad, rtol=1e-4, atol=1e-5, msg=name)


def test_step_weights_are_cached_and_stay_out_of_the_state_dict(monkeypatch):
    model = tiny_model()
    keys = list(model.state_dict())

    def refuse(*args):
        raise AssertionError("infer must leave the caller's thread setting alone")

    monkeypatch.setattr(torch, "set_num_threads", refuse)
    monkeypatch.setattr(torch, "set_num_interop_threads", refuse)
    out = model.infer(TEXT, TEXT_LENGTHS)
    monkeypatch.undo()
    with torch.no_grad():
        first, second = model.decoder.step_weights(), model.decoder.step_weights()
    assert first is second
    assert list(model.state_dict()) == keys
    clone = copy.deepcopy(model)
    assert clone.decoder._step_weights_cache is None and model.decoder._step_weights_cache is not None
    restored = pickle.loads(pickle.dumps(model))
    assert restored.decoder._step_weights_cache is None
    assert torch.equal(restored.infer(TEXT, TEXT_LENGTHS).mel_postnet, out.mel_postnet)


def test_optimizer_step_rebuilds_the_step_weights():
    model = tiny_model()
    before = model.infer(TEXT, TEXT_LENGTHS)
    stale = model.decoder.step_weights()
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    mel, mel_postnet, gate, _ = model(TEXT, TEXT_LENGTHS, torch.randn(2, 8, 6), torch.tensor([6, 6]))
    (mel_postnet.pow(2).mean() + gate.mean()).backward()
    optimizer.step()
    model.eval()
    after = model.infer(TEXT, TEXT_LENGTHS)
    fresh = Tacotron2(model.config).eval()
    fresh.load_state_dict(model.state_dict())
    assert model.decoder.step_weights() is not stale
    assert not torch.allclose(after.mel_postnet, before.mel_postnet)
    assert torch.equal(after.mel_postnet, fresh.infer(TEXT, TEXT_LENGTHS).mel_postnet)


def test_load_state_dict_and_in_place_edits_rebuild_the_step_weights():
    model, other = tiny_model(seed=0), tiny_model(seed=1)
    model.infer(TEXT, TEXT_LENGTHS)
    model.load_state_dict(other.state_dict())
    assert torch.equal(model.infer(TEXT, TEXT_LENGTHS).mel_postnet, other.infer(TEXT, TEXT_LENGTHS).mel_postnet)
    with torch.no_grad():
        model.decoder.gate_layer.linear_layer.bias.add_(1.0)
        model.decoder.attention_layer.location_layer.location_conv.conv.weight.mul_(2.0)
        weights = model.decoder.step_weights()
    decoder = model.decoder
    torch.testing.assert_close(weights.projection_bias[-1], decoder.gate_layer.linear_layer.bias[0])
    torch.testing.assert_close(weights.location, decoder.attention_layer.location_layer.fused_weight().detach())


def test_dtype_change_rebuilds_the_step_weights():
    model = tiny_model()
    want = model.infer(TEXT, TEXT_LENGTHS)
    model.double()
    got = model.infer(TEXT, TEXT_LENGTHS)
    assert model.decoder.step_weights().decoder_rnn.dtype == torch.float64
    assert got.mel_postnet.dtype == torch.float64
    torch.testing.assert_close(got.mel_postnet.float(), want.mel_postnet, **CLOSE)
    model.bfloat16()
    low = model.infer(TEXT, TEXT_LENGTHS)
    weights = model.decoder.step_weights()
    # bfloat16 keeps nn.Linear's (out, in) memory order, its faster layout on CPU
    assert weights.decoder_rnn.dtype == torch.bfloat16 and weights.decoder_rnn.t().is_contiguous()
    assert low.mel_postnet.dtype == torch.bfloat16
    error = (low.mel_postnet.float() - want.mel_postnet).norm() / want.mel_postnet.norm()
    assert error < 0.05
    # float16 is the GPU precision; CPU kernels run the same arithmetic (slowly), so its numerics are checked here
    model.half()
    half = model.infer(TEXT, TEXT_LENGTHS)
    assert model.decoder.step_weights().decoder_rnn.dtype == torch.float16
    assert half.mel_postnet.dtype == torch.float16 and torch.isfinite(half.mel_postnet).all()
    assert torch.isfinite(half.alignments).all() and torch.equal(half.mel_lengths, want.mel_lengths)
    error = (half.mel_postnet.float() - want.mel_postnet).norm() / want.mel_postnet.norm()
    assert error < 0.01


def test_step_weights_cached_in_inference_mode_serve_autograd_later():
    """A frozen decoder cached under inference_mode still trains what lies before it (e.g. the embedding)."""
    model = tiny_model()
    model.decoder.requires_grad_(False)
    with torch.inference_mode():
        model.infer(TEXT, TEXT_LENGTHS)
    assert model.decoder._step_weights_cache is not None
    model.train()
    _, mel_postnet, _, _ = model(TEXT, TEXT_LENGTHS, torch.randn(2, 8, 5), torch.tensor([5, 5]))
    mel_postnet.sum().backward()
    assert model.embedding.weight.grad is not None and torch.isfinite(model.embedding.weight.grad).all()
    assert model.embedding.weight.grad.abs().sum() > 0
