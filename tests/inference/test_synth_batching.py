"""Batching for Tacotron 2: planning, padding, and batched == one-at-a-time (tacoglow.inference.batching)."""

from __future__ import annotations

import copy

import pytest
import torch

from tacoglow.checkpoints import load_tacotron2
from tacoglow.errors import ConfigError
from tacoglow.inference.batching import infer_batch, pad_tokens, plan_batches
from tacoglow.inference.fast_tacotron2 import prepare_tacotron2
from tacoglow.text import text_to_sequence

# Different lengths; with the golden model (60 steps) their stop gates fire at different steps.
TEXTS = ["hello there, how are you today?", "a short one.", "this is a medium sized sentence", "tiny"]


@pytest.fixture(scope="module")
def tacotron2(golden_dir):
    return load_tacotron2(golden_dir / "tacotron2.pt", prenet_dropout=0.0, max_decoder_steps=60)


def test_plan_batches_groups_by_length_and_covers_every_item():
    lengths = [5, 40, 7, 12, 40, 3, 9]
    batches = plan_batches(lengths, batch_size=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= 3 for b in batches)
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths, reverse=True)
    assert plan_batches([4, 4], batch_size=8) == [[0, 1]]
    with pytest.raises(ConfigError, match="batch_size"):
        plan_batches(lengths, batch_size=0)


def test_pad_tokens_pads_with_id_0():
    text, lengths = pad_tokens([[5, 6, 7], [8]])
    assert text.tolist() == [[5, 6, 7], [8, 0, 0]] and text.dtype == torch.int64
    assert lengths.tolist() == [3, 1]


@pytest.mark.parametrize("prepared", [False, True])
def test_batched_equals_one_at_a_time(tacotron2, prepared):
    if prepared:
        tacotron2 = prepare_tacotron2(tacotron2)
    ids = [text_to_sequence(t) for t in TEXTS]
    text, lengths = pad_tokens(ids)
    batched = infer_batch(tacotron2, text, lengths)
    stop_steps = {item.mel_length for item in batched}
    assert len(stop_steps) > 1, "the case must include items that stop before others"
    for row, sequence in enumerate(ids):
        single_text, single_lengths = pad_tokens([sequence])
        [alone] = infer_batch(tacotron2, single_text, single_lengths)
        got = batched[row]
        assert got.mel_length == alone.mel_length and got.stopped == alone.stopped
        assert got.mel.shape == (80, alone.mel_length)
        assert got.alignment.shape == (alone.mel_length, len(sequence))
        torch.testing.assert_close(got.mel, alone.mel, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(got.alignment, alone.alignment, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(got.gate, alone.gate, rtol=1e-4, atol=1e-4)


def test_plain_reference_batching_differs(tacotron2):
    """Why infer_batch exists: the reference's padded batch changes the shorter items."""
    ids = [text_to_sequence(t) for t in TEXTS]
    text, lengths = pad_tokens(ids)
    plain = tacotron2.infer(text, lengths)
    worst = 0.0
    for row, sequence in enumerate(ids):
        alone = tacotron2.infer(*pad_tokens([sequence]))
        n = min(int(alone.mel_lengths[0]), int(plain.mel_lengths[row]))
        worst = max(worst, float((plain.mel_postnet[row, :, :n] - alone.mel_postnet[0, :, :n]).abs().max()))
    assert worst > 1e-2


def test_without_early_stopping_every_item_keeps_every_frame(tacotron2):
    fixed = copy.deepcopy(tacotron2)
    fixed.config.early_stopping = False
    text, lengths = pad_tokens([text_to_sequence(t) for t in TEXTS[:2]])
    items = infer_batch(fixed, text, lengths)
    assert {item.mel_length for item in items} == {items[0].decoded_frames} == {fixed.config.max_decoder_steps}
    assert all(item.mel.shape[1] == item.decoded_frames for item in items)


def test_emitted_alignment_keeps_the_step_whose_gate_fired(tacotron2):
    sequence = text_to_sequence(TEXTS[1])
    text, lengths = pad_tokens([sequence])
    [item] = infer_batch(tacotron2, text, lengths)
    assert item.stopped
    with torch.no_grad():
        out = tacotron2.infer(text, lengths)
    assert item.alignment.shape[0] == item.mel_length
    assert item.emitted_alignment.shape == (item.mel_length + 1, len(sequence))
    torch.testing.assert_close(item.emitted_alignment, out.alignments[0, : item.mel_length + 1], rtol=1e-5, atol=1e-6)


def test_prepared_and_reference_models_batch_alike(tacotron2):
    """The synthesizer batches a prepared model: same items as the reference model's, up to the
    fused step's rounding (see tests/inference/test_fast_tacotron2.py), and no hooks left behind."""
    text, lengths = pad_tokens([text_to_sequence(t) for t in TEXTS])
    fast = prepare_tacotron2(tacotron2)
    for got, want in zip(infer_batch(fast, text, lengths), infer_batch(tacotron2, text, lengths)):
        assert (got.mel_length, got.stopped, got.decoded_frames) == (want.mel_length, want.stopped, want.decoded_frames)
        torch.testing.assert_close(got.mel, want.mel, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(got.emitted_alignment, want.emitted_alignment, rtol=1e-4, atol=1e-4)
    for model in (tacotron2, fast):
        assert not any(m._forward_pre_hooks or m._forward_hooks for m in model.modules())


def test_items_that_stopped_early_get_the_postnet_of_their_own_frames(tacotron2):
    """An item that stops before the batch does: its mel is the postnet over its emitted pre-postnet
    frames only (``Tacotron2Inference.mel``), not over the frames the batch decoded after its stop."""
    text, lengths = pad_tokens([text_to_sequence(t) for t in TEXTS])
    out = tacotron2.infer(text, lengths, as_if_alone=True)
    with torch.no_grad():
        whole_batch = out.mel + tacotron2.postnet(out.mel)
    items = infer_batch(tacotron2, text, lengths)
    early = [row for row, item in enumerate(items) if item.stopped and item.mel_length + 1 < out.mel.size(2)]
    assert early, "the case must include an item that stops before the batch"
    for row in early:
        length = items[row].mel_length
        emitted = out.mel[row : row + 1, :, : length + 1]
        with torch.no_grad():
            own = (emitted + tacotron2.postnet(emitted))[0, :, :length]
        # One convolution over the batch vs over one item: the same sums, rounded alike or nearly.
        torch.testing.assert_close(items[row].mel, own, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(items[row].mel, whole_batch[row, :, :length], atol=1e-4)
