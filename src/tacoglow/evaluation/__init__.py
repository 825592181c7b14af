"""Evaluation of a voice: ASR word error rate, attention health, mel-cepstral distance, real-time factor.

>>> from tacoglow.evaluation import evaluate  # doctest: +SKIP
>>> report = evaluate(None, ["Hello world.", "How are you?"], asr="whisper", teacher="espeak-ng")  # doctest: +SKIP
>>> print(report.table())  # doctest: +SKIP
>>> report.save_json("eval.json")  # doctest: +SKIP

The ASR engines are optional extras (``pip install 'tacoglow[asr]'`` for PocketSphinx,
``'tacoglow[whisper]'`` for faster-whisper); the metrics in :mod:`tacoglow.evaluation.metrics`
need none of them (WER needs ``jiwer``).
"""

from tacoglow.evaluation.asr import ASR_ENGINES, ASREngine, PocketSphinxEngine, WhisperEngine, load_asr
from tacoglow.evaluation.evaluate import (
    TEACHERS,
    EvaluationReport,
    EvaluationSummary,
    UtteranceRow,
    evaluate,
    render_espeak,
)
from tacoglow.evaluation.metrics import (
    WordErrors,
    attention_failure_share,
    mel_cepstral_distance,
    normalize_for_wer,
    real_time_factor,
    word_error_rate,
    word_errors,
)

__all__ = [
    "ASR_ENGINES",
    "ASREngine",
    "EvaluationReport",
    "EvaluationSummary",
    "PocketSphinxEngine",
    "TEACHERS",
    "UtteranceRow",
    "WhisperEngine",
    "WordErrors",
    "attention_failure_share",
    "evaluate",
    "load_asr",
    "mel_cepstral_distance",
    "normalize_for_wer",
    "real_time_factor",
    "render_espeak",
    "word_error_rate",
    "word_errors",
]
