"""Inference: the text → mel → audio pipeline (:class:`Synthesizer`), batching and text splitting."""
from tacoglow.inference.batching import MelItem, infer_batch, pad_tokens, plan_batches
from tacoglow.inference.synthesizer import (
    MEL_CONTRACT_FIELDS,
    PRECISIONS,
    Segment,
    StageTimes,
    Synthesizer,
    Utterance,
    attention_health,
    bundled_voice_paths,
    check_mel_pair,
)
from tacoglow.inference.text_split import TextPiece, max_chars_for_steps, split_text

__all__ = [
    "MEL_CONTRACT_FIELDS",
    "PRECISIONS",
    "MelItem",
    "Segment",
    "StageTimes",
    "Synthesizer",
    "TextPiece",
    "Utterance",
    "attention_health",
    "bundled_voice_paths",
    "check_mel_pair",
    "infer_batch",
    "max_chars_for_steps",
    "pad_tokens",
    "plan_batches",
    "split_text",
]
