"""Batching Tacotron 2 items: sort by text length, pad, and build stop-gate targets.

Follows NVIDIA's ``TextMelCollate`` (ARCHITECTURE_FACTS §6.3): the batch is sorted by text length,
longest first (the encoder packs sequences and needs that order), text is padded with the pad id 0,
mels with zeros up to the longest mel rounded up to a multiple of ``n_frames_per_step``, and the
gate target is 1 from the last real frame onwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from tacoglow.errors import DataError

__all__ = ["TextMelBatch", "TextMelCollate"]


class TextMelBatch(NamedTuple):
    """A padded Tacotron 2 batch, sorted by text length (descending).

    Attributes:
        text: symbol ids padded with 0, LongTensor (B, T_text).
        text_lengths: true text lengths, LongTensor (B,), non-increasing.
        mel: target mels padded with 0, float32 (B, n_mels, T_mel); T_mel is a multiple of
            n_frames_per_step.
        gate: stop targets, float32 (B, T_mel): 1 from frame ``mel_lengths[b] - 1`` on, else 0.
        mel_lengths: true mel lengths, LongTensor (B,).
    """

    text: Tensor
    text_lengths: Tensor
    mel: Tensor
    gate: Tensor
    mel_lengths: Tensor


class TextMelCollate:
    """Collate ``(text ids (T_text,), mel (n_mels, T_mel))`` items into a :class:`TextMelBatch`.

    Args:
        n_frames_per_step: decoder frames per step; the padded mel length is rounded up to it.

    >>> collate = TextMelCollate()
    >>> items = [(torch.tensor([5, 6]), torch.ones(4, 3)), (torch.tensor([7, 8, 9]), torch.ones(4, 2))]
    >>> batch = collate(items)
    >>> batch.text.tolist(), batch.mel_lengths.tolist(), batch.gate.tolist()
    ([[7, 8, 9], [5, 6, 0]], [2, 3], [[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    """

    def __init__(self, n_frames_per_step: int = 1) -> None:
        if n_frames_per_step < 1:
            raise DataError(f"n_frames_per_step: expected an integer >= 1, found {n_frames_per_step}")
        self.n_frames_per_step = n_frames_per_step

    def __call__(self, batch: Sequence[Sequence[Tensor]]) -> TextMelBatch:
        """Pad and sort a list of ``(text ids (T_text,), mel (n_mels, T_mel), ...)`` items.

        Elements after the mel (NVIDIA's items carry a character count) are ignored.
        """
        if not batch:
            raise DataError("TextMelCollate: expected at least one item, found an empty batch")
        text_lengths = torch.tensor([len(item[0]) for item in batch], dtype=torch.long)
        # stable: equal-length texts keep dataset order, so a batch is reproducible across runs.
        text_lengths, order = torch.sort(text_lengths, descending=True, stable=True)

        text = torch.zeros(len(batch), int(text_lengths[0]), dtype=torch.long)
        for row, index in enumerate(order.tolist()):
            ids = batch[index][0]
            text[row, : len(ids)] = ids

        n_mels = batch[0][1].shape[0]
        mel_lengths_unsorted = [item[1].shape[1] for item in batch]
        max_mel = max(mel_lengths_unsorted)
        step = self.n_frames_per_step
        max_mel = -(-max_mel // step) * step  # round up to a whole decoder step

        mel = torch.zeros(len(batch), n_mels, max_mel, dtype=torch.float32)
        gate = torch.zeros(len(batch), max_mel, dtype=torch.float32)
        mel_lengths = torch.empty(len(batch), dtype=torch.long)
        for row, index in enumerate(order.tolist()):
            item_mel = batch[index][1]
            if item_mel.shape[0] != n_mels:
                raise DataError(
                    f"TextMelCollate: expected {n_mels} mel channels in every item, found {item_mel.shape[0]}"
                )
            length = item_mel.shape[1]
            mel[row, :, :length] = item_mel
            gate[row, length - 1 :] = 1.0
            mel_lengths[row] = length
        return TextMelBatch(text, text_lengths, mel, gate, mel_lengths)
