"""prepare_tacotron2: the fused decoder equals the reference model, leaves it alone, and is thread-safe."""

from __future__ import annotations

import copy
import doctest
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import tacoglow.inference.fast_tacotron2 as fast_module
from tacoglow.inference.fast_tacotron2 import _lstm_cell, prepare_tacotron2
from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config, Tacotron2Inference

# The fused step sums the same products in another order (one GEMM over [x, h] instead of two,
# memory + location in one addmm): float32 rounding, ~1e-7 relative per step, carried through
# 15 autoregressive steps of a tiny model; the measured differences are ~1e-7, 10x to 100x inside.
CLOSE = {"rtol": 1e-5, "atol": 1e-6}


def tiny_config(**overrides) -> Tacotron2Config:
    sizes = dict(
        n_mel_channels=8,
        n_symbols=20,
        symbols_embedding_dim=16,
        encoder_embedding_dim=16,
        encoder_kernel_size=3,
        attention_rnn_dim=24,
        attention_dim=8,
        attention_location_n_filters=4,
        attention_location_kernel_size=5,
        decoder_rnn_dim=20,
        prenet_dim=8,
        postnet_embedding_dim=8,
        postnet_kernel_size=3,
        max_decoder_steps=15,
        early_stopping=False,
        prenet_dropout=0.0,
    )
    sizes.update(overrides)
    return Tacotron2Config(**sizes)


def tiny_model(seed: int = 0, **overrides) -> Tacotron2:
    torch.manual_seed(seed)
    return Tacotron2(tiny_config(**overrides)).eval()


TEXT = torch.tensor([[3, 7, 1, 9, 12, 5, 8, 2, 11], [4, 4, 6, 13, 2, 7, 0, 0, 0]])
TEXT_LENGTHS = torch.tensor([9, 6])


def assert_same_inference(got: Tacotron2Inference, want: Tacotron2Inference, **tolerance) -> None:
    assert torch.equal(got.mel_lengths, want.mel_lengths) and torch.equal(got.stopped, want.stopped)
    for name in ("mel_postnet", "mel", "alignments", "gate"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), msg=name, **tolerance)


def test_fused_weights_hold_the_parameters_fused_and_transposed():
    model = tiny_model()
    fast = prepare_tacotron2(model)
    decoder = model.decoder
    for cell, weight, bias in (
        (decoder.attention_rnn, fast.attention_rnn, fast.attention_rnn_bias),
        (decoder.decoder_rnn, fast.decoder_rnn, fast.decoder_rnn_bias),
    ):
        assert weight.is_contiguous() and weight.shape == (cell.input_size + cell.hidden_size, 4 * cell.hidden_size)
        assert torch.equal(weight[: cell.input_size].t(), cell.weight_ih)
        assert torch.equal(weight[cell.input_size :].t(), cell.weight_hh)
        assert torch.equal(bias, cell.bias_ih + cell.bias_hh)
    projection, gate = decoder.linear_projection.linear_layer, decoder.gate_layer.linear_layer
    assert fast.projection.is_contiguous()
    assert torch.equal(fast.projection.t(), torch.cat((projection.weight, gate.weight)))
    assert torch.equal(fast.projection_bias, torch.cat((projection.bias, gate.bias)))
    # The fused weights are derived: never in the state dict, and no gradients anywhere.
    assert not any(name in fast.state_dict() for name in ("attention_rnn", "decoder_rnn", "projection", "location"))
    assert not any(p.requires_grad for p in fast.parameters())


def test_fused_lstm_cells_equal_nn_lstmcell():
    model = tiny_model()
    fast = prepare_tacotron2(model)
    torch.manual_seed(1)
    for cell, weight, bias in (
        (model.decoder.attention_rnn, fast.attention_rnn, fast.attention_rnn_bias),
        (model.decoder.decoder_rnn, fast.decoder_rnn, fast.decoder_rnn_bias),
    ):
        x, h, c = torch.randn(3, cell.input_size), torch.randn(3, cell.hidden_size), torch.randn(3, cell.hidden_size)
        with torch.no_grad():
            want_h, want_c = cell(x, (h, c))
            got_h, got_c = _lstm_cell(torch.cat((x, h), 1), c, weight, bias)
        torch.testing.assert_close(got_h, want_h, **CLOSE)
        torch.testing.assert_close(got_c, want_c, **CLOSE)


def test_padded_bilstm_equals_the_packed_reference_encoder():
    """Each direction over the padded batch gives each item the packed BiLSTM's outputs (rows in
    any length order), 0 at padding; alone (nothing padded) the very same numbers."""
    model = tiny_model()
    fast = prepare_tacotron2(model)
    torch.manual_seed(2)
    x = torch.randn(3, 7, model.config.encoder_embedding_dim)
    lengths = torch.tensor([4, 7, 1])
    with torch.no_grad():
        want, _ = model.encoder.lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        want, _ = pad_packed_sequence(want, batch_first=True, total_length=7)
        got = fast.encoder_lstm(x, lengths)
        torch.testing.assert_close(got, want, **CLOSE)
        assert not got[0, 4:].any() and not got[2, 1:].any()
        alone = fast.encoder_lstm(x[1:2], lengths[1:2])
        assert torch.equal(alone, model.encoder.lstm(x[1:2])[0])


@pytest.mark.parametrize("batch, n_frames_per_step", [(1, 1), (2, 1), (2, 2)])
@pytest.mark.parametrize("as_if_alone", [False, True])
def test_prepared_infer_equals_the_reference_infer(batch, n_frames_per_step, as_if_alone):
    model = tiny_model(n_frames_per_step=n_frames_per_step)
    fast = prepare_tacotron2(model)
    text, text_lengths = TEXT[:batch], TEXT_LENGTHS[:batch]
    want = model.infer(text, text_lengths, as_if_alone=as_if_alone)
    got = fast.infer(text, text_lengths, as_if_alone=as_if_alone)
    assert isinstance(got, Tacotron2Inference) and got.gate.shape == (batch, 15)
    assert_same_inference(got, want, **CLOSE)


def test_prepared_infer_matches_the_golden_reference_and_its_stop_steps(golden_dir):
    """Against NVIDIA's outputs with the golden tolerance, as the reference model is tested."""
    from tacoglow.checkpoints import load_tacotron2

    from tolerances import GOLDEN_MODEL_TOL

    io = torch.load(golden_dir / "tacotron2_io.pt", weights_only=True)
    for case in ("infer_batch", "infer_single"):
        want = io[case]
        fast = prepare_tacotron2(
            load_tacotron2(golden_dir / "tacotron2.pt", prenet_dropout=0.0, early_stopping=want["early_stopping"])
        )
        out = fast.infer(want["text_padded"], want["input_lengths"])
        assert out.mel_lengths.tolist() == want["mel_lengths"].tolist() and out.gate.shape[1] == want["n_steps"]
        torch.testing.assert_close(out.mel_postnet, want["mel_outputs_postnet"], **GOLDEN_MODEL_TOL)
        torch.testing.assert_close(out.alignments, want["alignments"], **GOLDEN_MODEL_TOL)


def test_seeded_prenet_dropout_draws_the_reference_masks():
    model = tiny_model(prenet_dropout=0.5)
    fast = prepare_tacotron2(model)
    want = model.infer(TEXT, TEXT_LENGTHS, generator=torch.Generator().manual_seed(3))
    got = fast.infer(TEXT, TEXT_LENGTHS, generator=torch.Generator().manual_seed(3))
    other = fast.infer(TEXT, TEXT_LENGTHS, generator=torch.Generator().manual_seed(4))
    assert_same_inference(got, want, **CLOSE)
    assert not torch.allclose(other.mel_postnet, got.mel_postnet, atol=1e-3)


def test_prepare_leaves_the_model_alone_and_snapshots_it(monkeypatch):
    model = tiny_model()
    state = copy.deepcopy(model.state_dict())
    fast = prepare_tacotron2(model, dtype=torch.float64)

    def refuse(*args):
        raise AssertionError("infer must leave the caller's thread setting alone")

    monkeypatch.setattr(torch, "set_num_threads", refuse)
    monkeypatch.setattr(torch, "set_num_interop_threads", refuse)
    before = fast.infer(TEXT, TEXT_LENGTHS)
    monkeypatch.undo()
    assert all(torch.equal(t, state[k]) and t.dtype == state[k].dtype for k, t in model.state_dict().items())
    assert fast.config == model.config and fast.config is not model.config
    fast.config.max_decoder_steps = 4  # runtime settings of the prepared model are its own
    assert model.config.max_decoder_steps == 15 and fast.infer(TEXT, TEXT_LENGTHS).gate.shape == (2, 4)
    fast.config.max_decoder_steps = 15
    with torch.no_grad():
        model.decoder.decoder_rnn.weight_hh.mul_(2.0)  # a later change of the model does not reach it
    assert torch.equal(fast.infer(TEXT, TEXT_LENGTHS).mel_postnet, before.mel_postnet)
    assert torch.equal(pickle.loads(pickle.dumps(fast)).infer(TEXT, TEXT_LENGTHS).mel_postnet, before.mel_postnet)
    assert torch.equal(copy.deepcopy(fast).infer(TEXT, TEXT_LENGTHS).mel_postnet, before.mel_postnet)


def test_four_threads_at_once_give_the_sequential_results():
    """One prepared module serving four threads at once: no per-call state on the module, so each
    call gives exactly what it gives alone (prenet dropout on, each call with its own generator)."""
    fast = prepare_tacotron2(tiny_model(prenet_dropout=0.5, max_decoder_steps=40))
    texts = [(TEXT[i % 2 : i % 2 + 1, : int(TEXT_LENGTHS[i % 2])], TEXT_LENGTHS[i % 2 : i % 2 + 1]) for i in range(4)]

    def run(i: int) -> Tacotron2Inference:
        text, lengths = texts[i]
        return fast.infer(text, lengths, generator=torch.Generator().manual_seed(i))

    sequential = [run(i) for i in range(4)]
    start = threading.Barrier(4)

    def worker(i: int) -> list[Tacotron2Inference]:
        start.wait()
        return [run(i) for _ in range(5)]  # repeated, so the threads' decoder steps interleave

    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(worker, range(4)))  # re-raises a worker's exception here
    for runs, want in zip(concurrent, sequential):
        for got in runs:
            assert_same_inference(got, want, rtol=0, atol=0)
    assert not torch.equal(sequential[0].mel_postnet, sequential[2].mel_postnet)  # the seeds mattered


def test_other_dtypes():
    model = tiny_model()
    want = prepare_tacotron2(model).infer(TEXT, TEXT_LENGTHS)
    double = prepare_tacotron2(model, torch.float64)
    got = double.infer(TEXT, TEXT_LENGTHS)
    assert double.decoder_rnn.dtype == torch.float64 and got.mel_postnet.dtype == torch.float64
    torch.testing.assert_close(got.mel_postnet.float(), want.mel_postnet, **CLOSE)
    bf16 = prepare_tacotron2(model, torch.bfloat16)
    low = bf16.infer(TEXT, TEXT_LENGTHS)
    # bfloat16 keeps nn.Linear's (out, in) memory order, its faster layout on CPU
    assert bf16.decoder_rnn.dtype == torch.bfloat16 and bf16.decoder_rnn.t().is_contiguous()
    assert low.mel_postnet.dtype == torch.bfloat16
    # 8 significant bits: ~4e-3 per rounding, a few of them chained per step
    assert (low.mel_postnet.float() - want.mel_postnet).norm() / want.mel_postnet.norm() < 0.05
    # float16 is the GPU precision; CPU kernels run the same arithmetic (slowly), so its numerics are checked here
    half = prepare_tacotron2(model, torch.float16).infer(TEXT, TEXT_LENGTHS)
    assert half.mel_postnet.dtype == torch.float16 and torch.isfinite(half.mel_postnet).all()
    assert torch.isfinite(half.alignments).all()
    # The stop decision: item 0 never stops. Item 1's gate creeps past the threshold (sigmoid 0.4997,
    # 0.5002 at steps 11, 12 in float32), closer than float16's resolution at 0.5 (2**-11 ~ 5e-4), so
    # float16 may stop it one step later, never more.
    assert half.mel_lengths[0] == want.mel_lengths[0] == 15
    assert 0 <= int(half.mel_lengths[1] - want.mel_lengths[1]) <= 1
    # 11 significant bits: ~5e-4 per rounding
    assert (half.mel_postnet.float() - want.mel_postnet).norm() / want.mel_postnet.norm() < 0.01


def test_docstring_examples_run():
    result = doctest.testmod(fast_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0
