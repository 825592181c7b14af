"""Training losses: NVIDIA's Tacotron 2 and WaveGlow objectives, plus a guided-attention term.

All are plain functions of tensors (no state), so they are easy to test and to reuse in
validation. ``tacotron2_loss`` and ``waveglow_loss`` reproduce the reference exactly
(ARCHITECTURE_FACTS §4), including its habit of averaging over padded positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["tacotron2_loss", "waveglow_loss", "guided_attention_loss", "guided_attention_weights"]


def tacotron2_loss(mel: Tensor, mel_postnet: Tensor, gate: Tensor, mel_target: Tensor, gate_target: Tensor) -> Tensor:
    """The reference Tacotron 2 loss: MSE(mel) + MSE(mel_postnet) + BCE-with-logits(gate).

    Args:
        mel (Tensor): decoder output before the postnet, (B, n_mels, T_mel).
        mel_postnet (Tensor): output after the postnet residual, (B, n_mels, T_mel).
        gate (Tensor): stop-gate logits, (B, T_mel / n_frames_per_step).
        mel_target (Tensor): zero-padded target log-mel, (B, n_mels, T_mel).
        gate_target (Tensor): 1 from each item's last real frame on, else 0, (B, T_mel).

    Returns:
        Tensor: scalar loss. Means include padded positions, as in the reference.
    """
    mel_target = mel_target.to(mel.dtype)
    if gate.shape[-1] != gate_target.shape[-1]:
        # n_frames_per_step > 1: one gate per decoder step; a step should fire when its group
        # reaches the last real frame, i.e. at the group's last frame.
        frames_per_step = gate_target.shape[-1] // gate.shape[-1]
        gate_target = gate_target[:, frames_per_step - 1 :: frames_per_step]
    gate_loss = F.binary_cross_entropy_with_logits(gate.reshape(-1, 1), gate_target.to(gate.dtype).reshape(-1, 1))
    return F.mse_loss(mel, mel_target) + F.mse_loss(mel_postnet, mel_target) + gate_loss


def waveglow_loss(
    z: Tensor, log_s_list: Sequence[Tensor], log_det_W_list: Sequence[Tensor], sigma: float = 1.0
) -> Tensor:
    """The WaveGlow negative log-likelihood per audio sample (reference ``WaveGlowLoss``).

    loss = (Σ z² / (2σ²) − Σ_k Σ log_s_k − Σ_k log_det_W_k) / (B · n_group · L)

    Args:
        z (Tensor): latent, (B, n_group, L) with L = T_audio / n_group.
        log_s_list (list[Tensor]): per-flow log-scales, each (B, n_half_k, L).
        log_det_W_list (list[Tensor]): per-flow scalar log-determinants (already × B·L).
        sigma (float): standard deviation of the Gaussian prior (1.0 in training).

    Returns:
        Tensor: scalar loss. Unlike the reference, the inputs are not modified in place.
    """
    log_s_total = torch.stack([log_s.float().sum() for log_s in log_s_list]).sum()
    log_det_W_total = torch.stack([torch.as_tensor(d).float() for d in log_det_W_list]).sum()
    z = z.float()
    nll = torch.sum(z * z) / (2 * sigma * sigma) - log_s_total - log_det_W_total
    return nll / (z.size(0) * z.size(1) * z.size(2))


def guided_attention_weights(text_lengths: Tensor, mel_lengths: Tensor, width: float = 0.2) -> Tensor:
    """Penalty map of the diagonal prior (Tachibana et al., 2017), zero outside each item.

    W[b, t, n] = 1 − exp(−(n / N_b − t / T_b)² / (2 · width²)) for t < T_b and n < N_b.

    Args:
        text_lengths (Tensor): (B,) number of text tokens per item.
        mel_lengths (Tensor): (B,) number of decoder steps per item.
        width (float): how far from the diagonal attention may stray before it is penalised,
            as a share of the utterance.

    Returns:
        Tensor: (B, max T, max N) float32 weights.
    """
    text_lengths = text_lengths.to(torch.float32)
    mel_lengths = mel_lengths.to(torch.float32)
    max_t, max_n = int(mel_lengths.max()), int(text_lengths.max())
    t = torch.arange(max_t, dtype=torch.float32, device=text_lengths.device)[None, :, None]
    n = torch.arange(max_n, dtype=torch.float32, device=text_lengths.device)[None, None, :]
    t_norm = t / mel_lengths[:, None, None]
    n_norm = n / text_lengths[:, None, None]
    weights = 1.0 - torch.exp(-((n_norm - t_norm) ** 2) / (2 * width * width))
    valid = (t < mel_lengths[:, None, None]) & (n < text_lengths[:, None, None])
    return weights * valid


def guided_attention_loss(alignments: Tensor, text_lengths: Tensor, mel_lengths: Tensor, width: float = 0.2) -> Tensor:
    """Mean attention mass off the diagonal; pushes attention to align early in training.

    Args:
        alignments (Tensor): attention weights, (B, T_steps, T_text); T_steps is the number of
            decoder steps (T_mel / n_frames_per_step).
        text_lengths (Tensor): (B,) text lengths.
        mel_lengths (Tensor): (B,) decoder-step lengths (mel frames / n_frames_per_step).
        width (float): see :func:`guided_attention_weights`.

    Returns:
        Tensor: scalar in [0, 1]: the attention mass off the diagonal, averaged over the valid
        decoder steps.
    """
    weights = guided_attention_weights(text_lengths, mel_lengths, width)
    steps, tokens = weights.shape[1], weights.shape[2]
    alignments = alignments[:, :steps, :tokens]
    # Averaged per decoder step, not per (step, token) cell: each step's attention sums to 1,
    # so the loss reads as "share of attention off the diagonal", in [0, 1] whatever the text
    # length. Per cell it would be ~1/T_text of that and too weak beside the mel loss.
    return (alignments.float() * weights).sum() / mel_lengths.to(torch.float32).sum()
