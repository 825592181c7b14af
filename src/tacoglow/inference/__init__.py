"""Inference: text → mel → audio, as three composable stages and the :class:`Synthesizer` joining them.

- :class:`TextStage` (:mod:`~tacoglow.inference.text_stage`): texts → checked pieces of symbol ids;
- :class:`AcousticModel` (:mod:`~tacoglow.inference.acoustic`): ids → mels with Tacotron 2,
  batched (:mod:`~tacoglow.inference.batching`), checked and retried;
- a :class:`Vocoder` (:mod:`~tacoglow.inference.vocoders`): mels → audio, :class:`WaveGlowVocoder`
  or :class:`GriffinLimVocoder`.

Models reach their fast inference form through one explicit call, :func:`prepare_for_inference`
(:mod:`~tacoglow.inference.prepare`); the stages' ``load`` methods make it for you.
"""

from tacoglow.inference.acoustic import AcousticModel, Decoded, attention_health, max_chars_for_steps
from tacoglow.inference.batching import MelItem, infer_batch, pad_tokens, plan_batches
from tacoglow.inference.bundled import bundled_voice_paths
from tacoglow.inference.prepare import prepare_for_inference
from tacoglow.inference.settings import PRECISIONS
from tacoglow.inference.synthesizer import (
    MEL_CONTRACT_FIELDS,
    Segment,
    Synthesizer,
    Utterance,
    check_mel_pair,
    default_vocoder,
)
from tacoglow.inference.text_stage import DEFAULT_MAX_TEXT_CHARS, PreparedPiece, TextStage
from tacoglow.inference.timing import StageTimes
from tacoglow.inference.vocoders import GriffinLimVocoder, Vocoder, WaveGlowVocoder

__all__ = [
    "DEFAULT_MAX_TEXT_CHARS",
    "MEL_CONTRACT_FIELDS",
    "PRECISIONS",
    "AcousticModel",
    "Decoded",
    "GriffinLimVocoder",
    "MelItem",
    "PreparedPiece",
    "Segment",
    "StageTimes",
    "Synthesizer",
    "TextStage",
    "Utterance",
    "Vocoder",
    "WaveGlowVocoder",
    "attention_health",
    "bundled_voice_paths",
    "check_mel_pair",
    "default_vocoder",
    "infer_batch",
    "max_chars_for_steps",
    "pad_tokens",
    "plan_batches",
    "prepare_for_inference",
]
