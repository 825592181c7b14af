"""How the server cuts requests into pieces and stretches mels for ``speed`` (no HTTP)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")

from tacoglow.errors import TextError
from tacoglow.serving.scheduler import split_request, stretch_mel
from tacoglow.text.split import SENTENCE_PAUSE_S


def test_split_request_gives_sentences_with_pauses_and_drops_unspeakable_pieces(synthesizer):
    # Longer than one piece's budget (the bundled voice's max_chars, 44): one piece per sentence.
    pieces = split_request(synthesizer, "One cat sat here. Two dogs ran off! ?! Three birds flew?")
    assert [p.text for p in pieces] == ["One cat sat here.", "Two dogs ran off!", "Three birds flew?"]
    assert [p.pause_after_s for p in pieces] == [SENTENCE_PAUSE_S, SENTENCE_PAUSE_S, 0.0]
    assert [p.text for p in split_request(synthesizer, " Short. Text. ")] == ["Short. Text."]
    with pytest.raises(TextError):
        split_request(synthesizer, "... !!!")


def test_stretch_mel_resamples_time_and_keeps_the_ends():
    mel = np.tile(np.linspace(0, 1, 100, dtype=np.float32), (80, 1))  # (n_mels, T): a ramp along time
    fast = stretch_mel(mel, 2.0)
    slow = stretch_mel(mel, 0.5)
    assert fast.shape == (80, 50) and slow.shape == (80, 200) and fast.dtype == np.float32
    # Linear interpolation of a linear ramp is exact: the ramp again, at the new frame count.
    np.testing.assert_allclose(fast, np.tile(np.linspace(0, 1, 50), (80, 1)), atol=1e-6)
    np.testing.assert_allclose(slow, np.tile(np.linspace(0, 1, 200), (80, 1)), atol=1e-6)


@pytest.mark.parametrize("speed", [0.5, 0.8, 1.3, 2.0, 1000.0])
def test_stretch_mel_equals_torch_linear_interpolation_with_aligned_corners(speed):
    mel = torch.randn(80, 37, generator=torch.Generator().manual_seed(0))
    frames = max(1, round(mel.size(1) / speed))
    expected = torch.nn.functional.interpolate(mel[None], size=frames, mode="linear", align_corners=True)[0]
    np.testing.assert_allclose(stretch_mel(mel.numpy(), speed), expected.numpy(), rtol=0, atol=1e-5)
