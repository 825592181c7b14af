"""Batching utterances for Tacotron 2 so that each one comes out as if synthesized alone.

NVIDIA's reference batches by padding every text to the longest with id 0 and decoding them
together, which changes each item's result (ARCHITECTURE_FACTS.md §3.6.11) in two places:

1. **Encoder convolutions.** The padding id has a non-zero embedding, and the encoder's
   convolutions (kernel 5, three layers) mix it into the last tokens of every shorter item;
   alone, those convolutions would see zeros there.
2. **Postnet.** Decoding continues for items whose stop gate already fired, and the postnet's
   convolutions (kernel 5, five layers: ±10 frames) mix those extra frames into the item's last
   frames; alone, the postnet would see zeros after the frame that fired the stop.

Attention is already exact: padded tokens get weight 0 (the mask is −inf) and padded encoder
outputs are 0. :func:`infer_batch` removes both differences with ``infer``'s ``as_if_alone``: the
padded positions are zeroed before each encoder convolution, and each item's frames after its
stop before each postnet convolution, which is what convolving the item alone does (zero
padding), in one batched pass. What remains is float rounding: matrix products over B rows may
round differently from a single row (≈1e-6 relative), so batched and one-at-a-time outputs are
close, not bit-identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from tacoglow.errors import ConfigError
from tacoglow.inference.fast_tacotron2 import PreparedTacotron2
from tacoglow.models.tacotron2 import Tacotron2
from tacoglow.text import PAD_ID

__all__ = ["MelItem", "infer_batch", "pad_tokens", "plan_batches"]


@dataclass(frozen=True)
class MelItem:
    """One utterance's Tacotron 2 output, cut to its own length.

    Attributes:
        mel: natural-log mel after the postnet, (n_mels, T_mel), T_mel = ``mel_length``.
        mel_length: frames before the one whose stop gate fired (or all decoded frames if it
            never fired), as the reference counts them.
        alignment: attention weights, (T_steps, T_text), T_steps = ceil(T_mel / frames per step).
        gate: stop-gate logits, (T_steps,).
        emitted_alignment: attention of every step the item emitted, (T_steps + 1, T_text) when
            the stop gate fired: the firing step is where attention reaches the last tokens, so
            health checks read this one.
        stopped: whether the stop gate fired before ``max_decoder_steps``.
        decoded_frames: frames the decoder produced for this item's batch (padding included);
            what the reference's Tacotron 2 throughput counts.
    """

    mel: Tensor
    mel_length: int
    alignment: Tensor
    gate: Tensor
    emitted_alignment: Tensor
    stopped: bool
    decoded_frames: int


def plan_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Group item indices into batches of similar length (little padding), longest first.

    Args:
        lengths: token count of each item.
        batch_size: at most this many items per batch.

    Returns:
        Batches of indices into ``lengths``; every index appears exactly once.

    >>> plan_batches([3, 10, 5, 9], batch_size=2)
    [[1, 3], [2, 0]]
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size: expected an integer >= 1, found {batch_size!r}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_tokens(sequences: Sequence[Sequence[int]], device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Symbol-id lists → (text (B, T_text) int64 padded with id 0, text_lengths (B,) int64)."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    text = torch.full((len(sequences), int(lengths.max())), PAD_ID, dtype=torch.int64)
    for row, ids in enumerate(sequences):
        text[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.int64)
    return text.to(device), lengths.to(device)


def infer_batch(
    model: Tacotron2 | PreparedTacotron2,
    text: Tensor,
    text_lengths: Tensor,
    generator: torch.Generator | None = None,
) -> list[MelItem]:
    """Run ``model.infer`` on a padded batch; each item as if it had been decoded alone.

    An item ends before the frame whose stop gate fired; with the model's ``early_stopping`` off,
    every item keeps every decoded frame (``mel_length`` = frames decoded), as a fixed-length
    benchmark wants.

    Args:
        model: a Tacotron 2 in eval mode, or one made by ``prepare_tacotron2``.
        text: symbol ids (B, T_text) int64, padded with id 0, on the model's device.
        text_lengths: (B,) int64.
        generator: prenet-dropout RNG (see ``Tacotron2.infer``); with dropout on, the masks
            depend on the batch (they are drawn for all B rows at once).

    Returns:
        One :class:`MelItem` per row, tensors on the model's device in its dtype.
    """
    out = model.infer(text, text_lengths, generator=generator, as_if_alone=True)
    keep_all_frames = not model.config.early_stopping
    nfps = model.config.n_frames_per_step
    total = out.mel_postnet.size(2)
    mel_lengths = out.mel_lengths.tolist()
    stopped = out.stopped.tolist()
    items: list[MelItem] = []
    for row, (mel_length, fired) in enumerate(zip(mel_lengths, stopped)):
        if keep_all_frames:
            mel_length = total
        # Alone, the item would have ended with the step that fired its gate.
        emitted = min(mel_length + nfps, total) if fired and not keep_all_frames else total
        steps = -(-mel_length // nfps)
        n_text = int(text_lengths[row])
        items.append(
            MelItem(
                mel=out.mel_postnet[row, :, :mel_length],
                mel_length=int(mel_length),
                alignment=out.alignments[row, :steps, :n_text],
                gate=out.gate[row, :steps],
                emitted_alignment=out.alignments[row, : -(-emitted // nfps), :n_text],
                stopped=bool(fired),
                decoded_frames=total,
            )
        )
    return items
