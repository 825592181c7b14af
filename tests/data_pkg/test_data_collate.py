"""TextMelCollate: sorting by text length, padding, gate targets, decoder-step rounding."""

from __future__ import annotations

import pytest
import torch

from tacoglow.data import TextMelBatch, TextMelCollate
from tacoglow.errors import DataError


def _items() -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    shapes = [(3, 5), (6, 2), (4, 7)]  # (T_text, T_mel)
    return [(torch.randint(1, 148, (t,), generator=gen), torch.randn(4, m, generator=gen)) for t, m in shapes]


def test_collate_sorts_pads_and_builds_gate() -> None:
    items = _items()
    batch = TextMelCollate()(items)
    assert isinstance(batch, TextMelBatch)
    order = [1, 2, 0]  # text lengths 6, 4, 3
    assert batch.text_lengths.tolist() == [6, 4, 3]
    assert batch.mel_lengths.tolist() == [2, 7, 5]
    assert batch.text.shape == (3, 6) and batch.text.dtype == torch.long
    assert batch.mel.shape == (3, 4, 7) and batch.mel.dtype == torch.float32
    assert batch.gate.shape == (3, 7)
    for row, index in enumerate(order):
        text, mel = items[index]
        n, m = len(text), mel.shape[1]
        assert torch.equal(batch.text[row, :n], text)
        assert (batch.text[row, n:] == 0).all()
        assert torch.equal(batch.mel[row, :, :m], mel)
        assert (batch.mel[row, :, m:] == 0).all()
        assert batch.gate[row].tolist() == [0.0] * (m - 1) + [1.0] * (7 - m + 1)


def test_collate_rounds_mel_length_up_to_frames_per_step() -> None:
    batch = TextMelCollate(n_frames_per_step=3)(_items())
    assert batch.mel.shape[-1] == 9 and batch.gate.shape[-1] == 9
    assert batch.mel_lengths.tolist() == [2, 7, 5]  # true lengths, not rounded
    assert batch.gate[1].tolist() == [0.0] * 6 + [1.0] * 3


def test_collate_keeps_dataset_order_for_equal_text_lengths() -> None:
    items = [(torch.tensor([i + 1, i + 1]), torch.full((2, i + 1), float(i))) for i in range(4)]
    batch = TextMelCollate()(items)
    assert batch.text[:, 0].tolist() == [1, 2, 3, 4]
    assert batch.mel_lengths.tolist() == [1, 2, 3, 4]


def test_collate_rejects_bad_input() -> None:
    with pytest.raises(DataError, match="empty batch"):
        TextMelCollate()([])
    with pytest.raises(DataError, match="n_frames_per_step"):
        TextMelCollate(0)
    with pytest.raises(DataError, match="expected 4 mel channels"):
        TextMelCollate()([(torch.tensor([1]), torch.zeros(4, 2)), (torch.tensor([2, 3]), torch.zeros(5, 2))])
