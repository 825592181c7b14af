"""Losses against the reference goldens and by their defining properties."""

from __future__ import annotations

import math

import torch

from tacoglow.training.losses import guided_attention_loss, guided_attention_weights, tacotron2_loss, waveglow_loss


def test_tacotron2_loss_matches_reference_formula(golden_dir):
    io = torch.load(golden_dir / "tacotron2_io.pt", weights_only=True)
    fwd, inputs = io["forward"], io["forward_inputs"]
    got = tacotron2_loss(
        fwd["mel_outputs"], fwd["mel_outputs_postnet"], fwd["gate_outputs"], inputs["mel_padded"], inputs["gate_padded"]
    )
    assert math.isclose(got.item(), float(fwd["loss"]), rel_tol=1e-5)


def test_tacotron2_loss_is_zero_for_perfect_prediction_except_gate():
    mel = torch.randn(2, 8, 5)
    gate_target = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 0, 1]], dtype=torch.float32)
    confident = (gate_target * 2 - 1) * 50  # logits far on the right side
    loss = tacotron2_loss(mel, mel, confident, mel, gate_target)
    assert loss.item() < 1e-10
    wrong = tacotron2_loss(mel, mel, -confident, mel, gate_target)
    assert math.isclose(wrong.item(), 50.0, rel_tol=1e-4)


def test_tacotron2_loss_is_mean_squared_error_of_both_mel_terms():
    target = torch.zeros(1, 2, 3)
    mel = torch.tensor([[[1.0, -1.0, 0.0], [0.0, 0.0, 2.0]]])  # squared errors sum 6 over 6 cells
    postnet = torch.full((1, 2, 3), 0.5)
    gate_target = torch.tensor([[0.0, 0.0, 1.0]])
    confident = (gate_target * 2 - 1) * 50
    mse = tacotron2_loss(mel, postnet, confident, target, gate_target)
    assert math.isclose(mse.item(), 6 / 6 + 0.25, rel_tol=1e-6)


def test_waveglow_loss_matches_reference(golden_dir):
    fwd = torch.load(golden_dir / "waveglow_io.pt", weights_only=True)["forward"]
    log_det = [d.clone() for d in fwd["log_det_W_list"]]
    got = waveglow_loss(fwd["z"], list(fwd["log_s_list"]), log_det, sigma=fwd["loss_sigma"])
    assert math.isclose(got.item(), float(fwd["loss"]), rel_tol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(log_det, fwd["log_det_W_list"]))  # not in place


def test_waveglow_loss_of_standard_normal_prior():
    z = torch.zeros(2, 4, 10)
    z[0, 0, 0] = 2.0
    loss = waveglow_loss(z, [torch.ones(2, 2, 10)], [torch.tensor(3.0)], sigma=1.0)
    assert math.isclose(loss.item(), (2.0 - 40.0 - 3.0) / 80.0, rel_tol=1e-6)


def test_guided_attention_weights_zero_on_diagonal_and_outside_items():
    weights = guided_attention_weights(torch.tensor([4, 2]), torch.tensor([4, 3]), width=0.2)
    assert weights.shape == (2, 4, 4)
    assert torch.allclose(torch.diagonal(weights[0]), torch.zeros(4))
    assert weights[0, 0, 3] > 0.9
    assert torch.all(weights[1, 3:, :] == 0) and torch.all(weights[1, :, 2:] == 0)


def test_guided_attention_loss_prefers_diagonal_alignment():
    text_lengths, mel_lengths = torch.tensor([6]), torch.tensor([12])
    diagonal = torch.zeros(1, 12, 6)
    diagonal[0, torch.arange(12), torch.arange(12) // 2] = 1.0
    stuck = torch.zeros(1, 12, 6)
    stuck[0, :, 0] = 1.0
    good = guided_attention_loss(diagonal, text_lengths, mel_lengths)
    bad = guided_attention_loss(stuck, text_lengths, mel_lengths)
    assert good < 0.05 and bad > 0.7  # per-step share of attention off the diagonal
    weights = guided_attention_weights(text_lengths, mel_lengths)
    assert torch.isclose(bad, weights[0, :, 0].sum() / 12)


def test_tacotron2_loss_groups_gate_targets_per_decoder_step():
    mel = torch.zeros(1, 4, 6)
    gate_target = torch.tensor([[0, 0, 0, 1, 1, 1]], dtype=torch.float32)  # last real frame: index 3
    per_step = torch.tensor([[-50.0, 50.0, 50.0]])  # steps cover frames (0,1), (2,3), (4,5)
    assert tacotron2_loss(mel, mel, per_step, mel, gate_target).item() < 1e-10
    late = torch.tensor([[-50.0, -50.0, 50.0]])
    assert tacotron2_loss(mel, mel, late, mel, gate_target).item() > 10
