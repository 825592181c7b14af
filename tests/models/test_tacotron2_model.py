"""Tacotron2 against NVIDIA's golden outputs, its state-dict layout, and its own invariants."""

from __future__ import annotations

import dataclasses
import doctest
import json
import logging

import pytest
import torch

import tacoglow.models.tacotron2 as tacotron2_module
from tacoglow.errors import DataError
from tacoglow.models.tacotron2 import (
    DecoderState,
    Tacotron2,
    Tacotron2Config,
    Tacotron2Inference,
)
from tacoglow.training.losses import tacotron2_loss

from tolerances import GOLDEN_MODEL_TOL as TOL
from tolerances import SAME_MATH_TOL, perturb_weights_


@pytest.fixture(scope="module")
def golden(golden_dir):
    checkpoint = torch.load(golden_dir / "tacotron2.pt", weights_only=True)
    io = torch.load(golden_dir / "tacotron2_io.pt", weights_only=True)
    return checkpoint, io


def golden_model(golden, **overrides) -> Tacotron2:
    checkpoint, _ = golden
    config = dataclasses.replace(Tacotron2Config.from_nvidia(checkpoint["config"]), **overrides)
    model = Tacotron2(config)
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    return model.eval()


def tiny_config(**overrides) -> Tacotron2Config:
    sizes = dict(
        n_mel_channels=8,
        n_symbols=20,
        symbols_embedding_dim=16,
        encoder_embedding_dim=16,
        encoder_kernel_size=3,
        attention_rnn_dim=16,
        attention_dim=8,
        attention_location_n_filters=4,
        attention_location_kernel_size=5,
        decoder_rnn_dim=16,
        prenet_dim=8,
        postnet_embedding_dim=8,
        postnet_kernel_size=3,
        max_decoder_steps=12,
    )
    sizes.update(overrides)
    return Tacotron2Config(**sizes)


def teacher_forced(model: Tacotron2, inputs: dict):
    with torch.no_grad():
        return model(inputs["text_padded"], inputs["input_lengths"], inputs["mel_padded"], inputs["output_lengths"])


def test_forward_matches_reference(golden):
    _, io = golden
    inputs, want = io["forward_inputs"], io["forward"]
    mel, mel_postnet, gate, alignments = teacher_forced(golden_model(golden, prenet_dropout=0.0), inputs)
    torch.testing.assert_close(mel, want["mel_outputs"], **TOL)
    torch.testing.assert_close(mel_postnet, want["mel_outputs_postnet"], **TOL)
    torch.testing.assert_close(gate, want["gate_outputs"], **TOL)
    torch.testing.assert_close(alignments, want["alignments"], **TOL)
    loss = tacotron2_loss(mel, mel_postnet, gate, inputs["mel_padded"], inputs["gate_padded"])
    assert loss.item() == pytest.approx(want["loss"], rel=1e-5)


def test_forward_mask_padding_matches_reference(golden):
    _, io = golden
    inputs, want = io["forward_inputs"], io["forward_other_mask_padding"]
    assert want["mask_padding"] is True
    mel, mel_postnet, gate, _ = teacher_forced(golden_model(golden, prenet_dropout=0.0, mask_padding=True), inputs)
    torch.testing.assert_close(gate, want["gate_outputs"], **TOL)
    loss = tacotron2_loss(mel, mel_postnet, gate, inputs["mel_padded"], inputs["gate_padded"])
    assert loss.item() == pytest.approx(want["loss"], rel=1e-5)
    assert min(inputs["output_lengths"].tolist()) < mel.size(2)
    for b, length in enumerate(inputs["output_lengths"].tolist()):
        assert torch.all(mel[b, :, length:] == 0) and torch.all(mel_postnet[b, :, length:] == 0)
        assert torch.all(gate[b, length:] == 1e3)
        assert torch.all(mel[b, :, :length] != 0)


@pytest.mark.parametrize(
    "case, stopped",
    [
        ("infer_batch", [True, True]),
        ("infer_single", [False]),
        ("infer_batch_no_early_stopping", [True, True]),
    ],
)
def test_infer_matches_reference(golden, case, stopped):
    _, io = golden
    want = io[case]
    model = golden_model(golden, prenet_dropout=0.0, early_stopping=want["early_stopping"])
    out = model.infer(want["text_padded"], want["input_lengths"])
    assert isinstance(out, Tacotron2Inference)
    assert out.mel_lengths.dtype == torch.int32
    assert out.mel_lengths.tolist() == want["mel_lengths"].tolist()
    assert out.gate.shape[1] == want["n_steps"]
    assert out.stopped.tolist() == stopped
    torch.testing.assert_close(out.mel_postnet, want["mel_outputs_postnet"], **TOL)
    torch.testing.assert_close(out.alignments, want["alignments"], **TOL)
    torch.testing.assert_close(out.gate, want["gate_outputs"], **TOL)


def test_golden_comparisons_catch_a_0_1_percent_weight_change(golden):
    _, io = golden
    inputs, want = io["forward_inputs"], io["forward"]
    model = perturb_weights_(golden_model(golden, prenet_dropout=0.0))
    with pytest.raises(AssertionError):
        torch.testing.assert_close(teacher_forced(model, inputs)[1], want["mel_outputs_postnet"], **TOL)
    want = io["infer_batch"]
    out = model.infer(want["text_padded"], want["input_lengths"])
    with pytest.raises(AssertionError):
        torch.testing.assert_close(out.mel_postnet, want["mel_outputs_postnet"], **TOL)


def test_infer_hitting_max_decoder_steps_warns(golden, caplog):
    _, io = golden
    want = io["infer_single"]
    model = golden_model(golden, prenet_dropout=0.0)
    with caplog.at_level(logging.WARNING, logger="tacoglow.models.tacotron2"):
        out = model.infer(want["text_padded"], want["input_lengths"])
    assert "max_decoder_steps=40" in caplog.text and "1 of 1 items" in caplog.text
    assert out.mel_lengths.tolist() == [40] and not out.stopped.item()


def test_infer_that_stops_does_not_warn(golden, caplog):
    _, io = golden
    want = io["infer_batch_no_early_stopping"]
    model = golden_model(golden, prenet_dropout=0.0, early_stopping=False)
    with caplog.at_level(logging.WARNING, logger="tacoglow.models.tacotron2"):
        model.infer(want["text_padded"], want["input_lengths"])
    assert caplog.text == ""


def test_seeded_prenet_dropout_matches_reference(golden):
    _, io = golden
    want = io["infer_single_prenet_dropout_seeded"]
    model = golden_model(golden)
    assert model.config.prenet_dropout == 0.5
    seed = want["prenet_dropout_seed"]

    torch.manual_seed(seed)
    global_rng = model.infer(want["text_padded"], want["input_lengths"])

    rng_state = torch.get_rng_state()
    own_rng = model.infer(want["text_padded"], want["input_lengths"], generator=torch.Generator().manual_seed(seed))
    assert torch.equal(torch.get_rng_state(), rng_state)  # the generator path leaves the global RNG alone

    for out in (global_rng, own_rng):
        assert out.mel_lengths.tolist() == want["mel_lengths"].tolist()
        torch.testing.assert_close(out.mel_postnet, want["mel_outputs_postnet"], **TOL)
        torch.testing.assert_close(out.alignments, want["alignments"], **TOL)
        torch.testing.assert_close(out.gate, want["gate_outputs"], **TOL)


def test_prenet_dropout_stays_on_in_eval_mode(golden):
    _, io = golden
    want = io["infer_single"]
    model = golden_model(golden, max_decoder_steps=5, early_stopping=False)
    first = model.infer(want["text_padded"], want["input_lengths"], generator=torch.Generator().manual_seed(1))
    second = model.infer(want["text_padded"], want["input_lengths"], generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(first.mel_postnet, second.mel_postnet)


def test_full_size_state_dict_layout(keys_dir):
    reference = json.loads((keys_dir / "tacotron2_keys.json").read_text())
    with torch.device("meta"):
        model = Tacotron2(Tacotron2Config())
    got = [(name, list(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in model.state_dict().items()]
    want = [(e["name"], e["shape"], e["dtype"]) for e in reference["state_dict"]]
    assert got == want
    assert len(got) == reference["n_state_dict_entries"] == 84
    assert sum(p.numel() for p in model.parameters()) == reference["n_parameters"] == 28_193_153


def test_backward_gives_finite_grads():
    torch.manual_seed(0)
    model = Tacotron2(tiny_config(mask_padding=True)).train()
    text = torch.randint(1, 20, (3, 7))
    text_lengths = torch.tensor([7, 5, 6])
    mels = torch.randn(3, 8, 10)
    mel_lengths = torch.tensor([10, 6, 8])
    gate_target = (torch.arange(10)[None, :] >= mel_lengths[:, None] - 1).float()
    mel, mel_postnet, gate, _ = model(text, text_lengths, mels, mel_lengths)
    tacotron2_loss(mel, mel_postnet, gate, mels, gate_target).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    assert model.postnet.convolutions[-1][1].weight.grad.abs().sum() > 0
    assert model.embedding.weight.grad.abs().sum() > 0
    assert model.decoder.gate_layer.linear_layer.weight.grad.abs().sum() > 0


def test_unsorted_lengths_give_the_sorted_results(golden):
    _, io = golden
    inputs = io["forward_inputs"]
    model = golden_model(golden, prenet_dropout=0.0)
    perm = torch.tensor([2, 0, 1])  # input_lengths become ascending-then-descending
    sorted_out = teacher_forced(model, inputs)
    shuffled = {k: inputs[k][perm] for k in ("text_padded", "input_lengths", "mel_padded", "output_lengths")}
    assert shuffled["input_lengths"].tolist() != sorted(shuffled["input_lengths"].tolist(), reverse=True)
    shuffled_out = teacher_forced(model, shuffled)
    for a, b in zip(sorted_out, shuffled_out):
        torch.testing.assert_close(a[perm], b, **SAME_MATH_TOL)


def test_batched_and_single_inference_agree_where_no_padding_enters(golden):
    """The longest item sees no text padding, so batching must not change its result.

    A shorter item does change: its encoder convolutions see the padding id's (non-zero)
    embedding near its end, exactly as in the reference, so it is not compared here.
    """
    _, io = golden
    want = io["infer_batch"]
    model = golden_model(golden, prenet_dropout=0.0)
    batched = model.infer(want["text_padded"], want["input_lengths"])
    longest = int(want["input_lengths"].argmax())
    n_text = int(want["input_lengths"][longest])
    single = model.infer(
        want["text_padded"][longest : longest + 1, :n_text], want["input_lengths"][longest : longest + 1]
    )
    assert single.mel_lengths.tolist() == [batched.mel_lengths[longest].item()]
    steps = single.gate.size(1)
    torch.testing.assert_close(single.alignments[0], batched.alignments[longest, :steps], **SAME_MATH_TOL)
    torch.testing.assert_close(single.gate[0], batched.gate[longest, :steps], **SAME_MATH_TOL)


@pytest.mark.parametrize("n_frames_per_step", [1, 2])
def test_forward_and_infer_run_the_same_step(n_frames_per_step):
    """Teacher forcing on infer's own pre-postnet mel reproduces it: the two paths cannot drift."""
    torch.manual_seed(1)
    model = Tacotron2(tiny_config(n_frames_per_step=n_frames_per_step, prenet_dropout=0.0, early_stopping=False)).eval()
    text = torch.randint(1, 20, (2, 9))
    text_lengths = torch.tensor([9, 6])
    with torch.no_grad():
        out = model.infer(text, text_lengths)
        tf_mel, tf_mel_postnet, tf_gate, tf_alignments = model(text, text_lengths, out.mel, out.mel_lengths)
    steps = model.config.max_decoder_steps
    assert out.mel.shape == (2, 8, steps * n_frames_per_step)
    assert out.gate.shape == (2, steps) and out.alignments.shape == (2, steps, 9)
    assert torch.all(out.mel_lengths % n_frames_per_step == 0)
    # Same arithmetic in both paths: only the prenet's batched-vs-per-step products may round differently.
    torch.testing.assert_close(tf_mel, out.mel, **SAME_MATH_TOL)
    torch.testing.assert_close(tf_gate, out.gate, **SAME_MATH_TOL)
    torch.testing.assert_close(tf_alignments, out.alignments, **SAME_MATH_TOL)
    torch.testing.assert_close(tf_mel_postnet, out.mel_postnet, **SAME_MATH_TOL)


def test_infer_returns_the_pre_postnet_mel_it_fed_back():
    """``mel`` is the decoder's output: mel_postnet = mel + postnet(mel), and each step's frames
    are what the next step's prenet saw (checked by decoding step by step with the decoder)."""
    torch.manual_seed(2)
    model = Tacotron2(tiny_config(n_frames_per_step=2, prenet_dropout=0.0, early_stopping=False)).eval()
    text, text_lengths = torch.randint(1, 20, (2, 7)), torch.tensor([7, 5])
    out = model.infer(text, text_lengths)
    with torch.no_grad():
        torch.testing.assert_close(out.mel_postnet, out.mel + model.postnet(out.mel), rtol=0, atol=0)
        memory = model._encode(text, text_lengths)
        state = DecoderState.initial(memory, model.config)
        frame = torch.zeros(2, 16)
        for t in range(3):
            frame, _, state = model.decoder.step(model.decoder.prenet(frame, 0.0), state, memory)
            torch.testing.assert_close(
                frame.view(2, 2, 8).transpose(1, 2), out.mel[:, :, 2 * t : 2 * t + 2], rtol=0, atol=0
            )
    assert not torch.allclose(out.mel, out.mel_postnet, atol=1e-3)


def test_mask_text_padding_makes_a_padded_item_encode_as_alone():
    """With mask_text_padding the padded item's encoder outputs equal those of the item alone;
    without it (the reference, the default) the padding id's embedding leaks into its last tokens."""
    torch.manual_seed(3)
    model = Tacotron2(tiny_config(prenet_dropout=0.0, early_stopping=False)).eval()
    alone_text = torch.randint(1, 20, (1, 5))
    text = torch.cat((torch.randint(1, 20, (1, 9)), torch.cat((alone_text, torch.zeros(1, 4, dtype=torch.long)), 1)))
    text_lengths = torch.tensor([9, 5])
    with torch.no_grad():
        alone = model._encode(alone_text, torch.tensor([5])).encoded[0]
        masked = model._encode(text, text_lengths, mask_text_padding=True).encoded[1, :5]
        plain = model._encode(text, text_lengths).encoded[1, :5]
    # Same operations on the same values, but the BiLSTM and convs run over 2 rows vs 1 (rounding only).
    torch.testing.assert_close(masked, alone, rtol=1e-5, atol=1e-6)
    assert (plain - alone).abs().max() > 1e-3
    out_masked = model.infer(text, text_lengths, as_if_alone=True)
    out_alone = model.infer(alone_text, torch.tensor([5]))
    torch.testing.assert_close(out_masked.mel[1], out_alone.mel[0], rtol=1e-4, atol=1e-5)
    # The unpadded item is untouched by the option (nothing to mask).
    torch.testing.assert_close(out_masked.mel[0], model.infer(text, text_lengths).mel[0], rtol=0, atol=0)


def test_postnet_lengths_give_each_item_the_output_of_its_frames_alone():
    """Frames from an item's length on are zeroed before every convolution: its first ``length``
    output frames are the postnet of those frames alone; without lengths the later frames leak in."""
    torch.manual_seed(4)
    postnet = Tacotron2(tiny_config()).eval().postnet
    mel = torch.randn(2, 8, 20)
    with torch.no_grad():
        masked = postnet(mel, torch.tensor([20, 11]))
        alone = postnet(mel[1:, :, :11])
        plain = postnet(mel)
    torch.testing.assert_close(masked[1, :, :11], alone[0], rtol=1e-5, atol=1e-6)  # rounding of 2 rows vs 1
    torch.testing.assert_close(masked[0], plain[0], rtol=0, atol=0)  # a full-length item is untouched
    assert (plain[1, :, :11] - alone[0]).abs().max() > 1e-3


@pytest.mark.parametrize("n_frames_per_step", [1, 3])
def test_full_scheduled_sampling_trains_on_the_free_running_output(n_frames_per_step):
    """At scheduled_sampling=1 the training pass feeds every step the model's own previous group,
    so it reproduces free-running decoding and ignores the target values (not their length)."""
    torch.manual_seed(4)
    model = Tacotron2(
        tiny_config(
            n_frames_per_step=n_frames_per_step,
            prenet_dropout=0.0,
            early_stopping=False,
            p_attention_dropout=0.0,
            p_decoder_dropout=0.0,
            scheduled_sampling=1.0,
        )
    )
    text, text_lengths = torch.randint(1, 20, (2, 7)), torch.tensor([7, 5])
    steps = model.config.max_decoder_steps
    free = model.eval().infer(text, text_lengths)
    with torch.no_grad():
        memory = model._encode(text, text_lengths)
    model.decoder.train()
    mels = torch.randn(2, 8, steps * n_frames_per_step)
    mel, gate, alignments = model.decoder(memory, mels, model.config.scheduled_sampling)
    torch.testing.assert_close(mel, free.mel, **SAME_MATH_TOL)
    torch.testing.assert_close(gate, free.gate, **SAME_MATH_TOL)
    torch.testing.assert_close(alignments, free.alignments, **SAME_MATH_TOL)
    mel.mean().backward()  # the fed-back groups are constants; the step's own weights still get gradients
    assert model.decoder.linear_projection.linear_layer.weight.grad.abs().sum() > 0
    model.eval()  # in eval mode the model feeds the targets, whatever the setting
    with torch.no_grad():
        teacher_forced, _, _ = model.decoder(memory, mels)
        eval_mel = model(text, text_lengths, mels, torch.tensor([mels.size(2)] * 2))[0]
    assert not torch.allclose(teacher_forced, free.mel, atol=1e-3)
    torch.testing.assert_close(eval_mel, teacher_forced)


def test_scheduled_sampling_feeds_back_a_constant():
    """The loss of step 1 alone: its projection-bias gradient is exactly one per item and frame,
    because the fed-back group of step 0 carries no gradient (Bengio et al.'s policy)."""
    torch.manual_seed(7)
    model = Tacotron2(
        tiny_config(prenet_dropout=0.0, p_attention_dropout=0.0, p_decoder_dropout=0.0, scheduled_sampling=1.0)
    )
    text, text_lengths = torch.randint(1, 20, (2, 6)), torch.tensor([6, 6])
    memory = model.eval()._encode(text, text_lengths)
    model.decoder.train()
    mel, _, _ = model.decoder(memory, torch.randn(2, 8, 4), model.config.scheduled_sampling)
    mel[:, :, 1].sum().backward()
    bias_grad = model.decoder.linear_projection.linear_layer.bias.grad
    torch.testing.assert_close(bias_grad, torch.full_like(bias_grad, 2.0))  # 2 items, step 0 held fixed


def test_partial_scheduled_sampling_mixes_fed_inputs_per_step_and_item():
    torch.manual_seed(5)
    model = Tacotron2(tiny_config(prenet_dropout=0.0, p_attention_dropout=0.0, p_decoder_dropout=0.0))
    text, text_lengths = torch.randint(1, 20, (3, 6)), torch.tensor([6, 6, 6])
    mels = torch.randn(3, 8, 12)
    with torch.no_grad():
        memory = model.eval()._encode(text, text_lengths)
        model.decoder.train()
        teacher_forced, _, _ = model.decoder(memory, mels)
        torch.manual_seed(6)
        mixed, _, _ = model.decoder(memory, mels, 0.5)
    torch.manual_seed(6)
    own = torch.rand(12, 3, 1) < 0.5  # the draw the decoder made: (T_steps, B, 1)
    first_own = [int(own[1:, b, 0].nonzero()[0]) + 1 for b in range(3)]  # step 0 always gets the go frame
    for b, t in enumerate(first_own):
        # identical up to the first step fed the model's own frame, different from there on
        torch.testing.assert_close(mixed[b, :, :t], teacher_forced[b, :, :t], rtol=1e-5, atol=1e-6)
        assert not torch.allclose(mixed[b, :, t], teacher_forced[b, :, t], atol=1e-4)


def test_two_frames_per_step_mask_padding_and_bad_length():
    torch.manual_seed(2)
    model = Tacotron2(tiny_config(n_frames_per_step=2, mask_padding=True)).eval()
    text, text_lengths = torch.randint(1, 20, (2, 5)), torch.tensor([5, 5])
    mels, mel_lengths = torch.randn(2, 8, 10), torch.tensor([10, 5])
    with torch.no_grad():
        mel, mel_postnet, gate, alignments = model(text, text_lengths, mels, mel_lengths)
    assert mel.shape == (2, 8, 10) and gate.shape == (2, 5) and alignments.shape == (2, 5, 5)
    assert torch.all(mel_postnet[1, :, 5:] == 0) and torch.all(mel_postnet[1, :, :5] != 0)
    # step 2 holds frames 4 and 5: frame 4 is real, so only steps 3 and 4 are padding
    assert torch.all(gate[1, 3:] == 1e3) and torch.all(gate[1, :3] != 1e3)
    with pytest.raises(DataError, match="multiple of n_frames_per_step=2"):
        model(text, text_lengths, torch.randn(2, 8, 9), mel_lengths)


def test_batch_of_one_trains_and_runtime_settings_apply():
    """The reference squeezes a batch of one to a scalar gate and crashes; here it works."""
    torch.manual_seed(3)
    model = Tacotron2(tiny_config()).train()
    mel, mel_postnet, gate, alignments = model(
        torch.randint(1, 20, (1, 4)), torch.tensor([4]), torch.randn(1, 8, 6), torch.tensor([6])
    )
    assert mel.shape == (1, 8, 6) and gate.shape == (1, 6) and alignments.shape == (1, 6, 4)
    (mel_postnet.mean() + gate.mean()).backward()
    model.eval()
    model.config.max_decoder_steps = 3
    model.config.early_stopping = False
    out = model.infer(torch.randint(1, 20, (1, 4)), torch.tensor([4]))
    assert out.gate.shape == (1, 3) and out.mel_postnet.shape == (1, 8, 3)


def test_bad_inputs_raise_data_error():
    model = Tacotron2(tiny_config()).eval()
    with pytest.raises(DataError, match=r"text \(B, T_text\)"):
        model.infer(torch.randint(1, 20, (6,)), torch.tensor([6]))
    with pytest.raises(DataError, match=r"\[1, 6\].*max 7"):
        model.infer(torch.randint(1, 20, (1, 6)), torch.tensor([7]))
    with pytest.raises(DataError, match="min 0"):
        model.infer(torch.randint(1, 20, (2, 6)), torch.tensor([6, 0]))
    with pytest.raises(DataError, match=r"mels \(B, 8, T_mel\)"):
        model(torch.randint(1, 20, (1, 6)), torch.tensor([6]), torch.randn(1, 80, 4), torch.tensor([4]))


def test_infer_always_reads_the_current_weights():
    """No derived copy of the weights lives in the model: after an optimizer step, infer equals a
    fresh model given the new state dict, bit for bit."""
    torch.manual_seed(5)
    model = Tacotron2(tiny_config(prenet_dropout=0.0, early_stopping=False)).eval()
    text, text_lengths = torch.randint(1, 20, (2, 6)), torch.tensor([6, 4])
    before = model.infer(text, text_lengths)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    _, mel_postnet, gate, _ = model(text, text_lengths, torch.randn(2, 8, 6), torch.tensor([6, 6]))
    (mel_postnet.pow(2).mean() + gate.mean()).backward()
    optimizer.step()
    after = model.eval().infer(text, text_lengths)
    fresh = Tacotron2(model.config).eval()
    fresh.load_state_dict(model.state_dict())
    assert not torch.allclose(after.mel_postnet, before.mel_postnet)
    assert torch.equal(after.mel_postnet, fresh.infer(text, text_lengths).mel_postnet)


def test_docstring_examples_run():
    result = doctest.testmod(tacotron2_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0
