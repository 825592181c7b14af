"""Objective speech metrics: word error rate, mel-cepstral distance, attention health, real-time factor.

All four are pure functions of texts, waveforms, flags and timings; :mod:`tacoglow.evaluation.evaluate`
combines them into a report.

**WER.** Reference and hypothesis go through :func:`normalize_for_wer` (tacoglow's
``english_cleaners``, so "21" and "twenty-one" compare equal, then punctuation stripped) and are
aligned word by word with ``jiwer`` (minimum edit distance): WER = (substitutions + deletions +
insertions) / reference words. Over a corpus the counts are summed first, as jiwer and every ASR
benchmark do, so long sentences weigh more.

**MCD.** Kubichek's mel-cepstral distance between a synthesized and a reference waveform, after
dynamic time warping (:func:`mel_cepstral_distance` states the exact definition).

**RTF.** Here the real-time factor is seconds of audio produced per second of compute (the
reference's "samples/s ÷ 22050"): above 1 the synthesizer is faster than real time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import librosa
import numpy as np
import torch
from scipy.spatial.distance import cdist
from torch import Tensor

from tacoglow.errors import AudioError, ConfigError
from tacoglow.text import english_cleaners

__all__ = [
    "WordErrors",
    "normalize_for_wer",
    "word_errors",
    "word_error_rate",
    "MCD_SAMPLE_RATE",
    "MCD_N_CEPSTRA",
    "mel_cepstra",
    "mel_cepstral_distance",
    "attention_failure_share",
    "real_time_factor",
]

_NOT_WORD = re.compile(r"[^a-z0-9]+")
# inflect spells at most 36 digits; an ASR caught in a loop can write far longer numbers
_UNSPELLABLE_NUMBER = re.compile(r"\d(?:,?\d){36,}")
_DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _spell_digits(match: re.Match[str]) -> str:
    return " " + " ".join(_DIGIT_NAMES[int(d)] for d in match.group(0) if d != ",") + " "


# Mel-cepstrum analysis for MCD. The frame grid and filterbank are tacoglow's mel contract
# (22.05 kHz, 1024-point FFT, hop 256, 80 bands up to 8 kHz), so MCD looks at what the models see.
MCD_SAMPLE_RATE = 22050
MCD_N_FFT = 1024
MCD_HOP_LENGTH = 256
MCD_N_MELS = 80
MCD_FMAX = 8000.0
MCD_N_CEPSTRA = 24
"""Cepstral coefficients c1..c24 enter the distance; c0 (overall level) is left out, as usual."""
MCD_TRIM_TOP_DB = 40.0
"""Leading/trailing audio quieter than this below the peak is cut before analysis."""
_MEL_AMPLITUDE_FLOOR = 1e-5  # ln floor of a mel band's amplitude: digital silence stays finite
_MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)


# ---------------------------------------------------------------------------------------------
# Word error rate


@dataclass(frozen=True)
class WordErrors:
    """Word-level edit counts of one hypothesis against its reference.

    Attributes:
        substitutions, deletions, insertions: minimum-edit alignment counts.
        reference_words: number of words in the normalized reference.
    """

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        """Substitutions + deletions + insertions."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """errors / reference words (may exceed 1 with many insertions); NaN for an empty reference."""
        return self.errors / self.reference_words if self.reference_words else math.nan


def _jiwer() -> ModuleType:
    try:
        import jiwer
    except ModuleNotFoundError:
        raise ConfigError("word error rate needs jiwer: pip install jiwer (or pip install 'tacoglow[asr]')") from None
    return jiwer


def normalize_for_wer(text: str) -> str:
    """The words WER compares: ``english_cleaners`` (numbers, abbreviations, ASCII, lower case),
    then every run of characters other than a-z and 0-9 becomes one space; apostrophes vanish.
    Numbers too long to read as one (37 digits or more, as an ASR may write when it loops) are
    read digit by digit instead of stopping the evaluation.

    >>> normalize_for_wer("Mr. Smith's 21 cats -- don't!")
    'mister smiths twenty one cats dont'
    """
    cleaned = english_cleaners(_UNSPELLABLE_NUMBER.sub(_spell_digits, text)).replace("'", "")
    return " ".join(_NOT_WORD.sub(" ", cleaned).split())


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    """Align ``hypothesis`` to ``reference`` word by word, after :func:`normalize_for_wer`.

    >>> word_errors("The cat sat.", "the cat sat down").insertions
    1
    """
    ref_words = normalize_for_wer(reference)
    hyp_words = normalize_for_wer(hypothesis)
    if not ref_words:  # jiwer refuses an empty reference: every hypothesis word is an insertion
        return WordErrors(0, 0, len(hyp_words.split()), 0)
    if not hyp_words:
        n = len(ref_words.split())
        return WordErrors(0, n, 0, n)
    out = _jiwer().process_words(ref_words, hyp_words)
    return WordErrors(out.substitutions, out.deletions, out.insertions, out.hits + out.substitutions + out.deletions)


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: summed errors over summed reference words (not a mean of per-sentence WERs).

    Raises:
        ConfigError: the two lists differ in length or hold no reference word at all.

    >>> word_error_rate(["one two three", "four"], ["one too three", "four five"])
    0.5
    """
    if len(references) != len(hypotheses):
        raise ConfigError(
            f"word_error_rate: expected as many hypotheses as references ({len(references)}), found {len(hypotheses)}"
        )
    counts = [word_errors(r, h) for r, h in zip(references, hypotheses)]
    total = sum(c.reference_words for c in counts)
    if total == 0:
        raise ConfigError("word_error_rate: expected references with at least one word, found none")
    return sum(c.errors for c in counts) / total


# ---------------------------------------------------------------------------------------------
# Mel-cepstral distance


def _as_numpy(audio: Tensor | np.ndarray, name: str) -> np.ndarray:
    if isinstance(audio, Tensor):
        audio = audio.detach().to("cpu", torch.float32).numpy()
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1 or samples.size == 0:
        raise AudioError(
            f"{name}: expected mono audio of shape (T_audio,) with T_audio > 0, found shape {tuple(samples.shape)}"
        )
    if not np.isfinite(samples).all():
        raise AudioError(f"{name}: expected finite samples, found NaN or infinity")
    return samples


def mel_cepstra(audio: Tensor | np.ndarray, sample_rate: int, name: str = "audio") -> np.ndarray:
    """Mel-cepstral coefficients c1..c24 per frame, the features of :func:`mel_cepstral_distance`.

    audio → resampled to 22050 Hz → leading/trailing silence trimmed (40 dB below peak) →
    80-band mel power spectrogram (librosa; n_fft 1024, hop 256, 0-8 kHz) → natural-log mel
    amplitude L = ½·ln(max(power, 1e-10)) → DCT-II over the bands, scaled as a cosine series
    (c_k = (2/N)·Σ_n L_n cos(πk(n+½)/N), N = 80) → c1..c24.

    Args:
        audio (Tensor | ndarray): mono samples, (T_audio,).
        sample_rate (int): in Hz.
        name: what the audio is, for error messages.

    Returns:
        ndarray: float64, (24, T_frames).

    Raises:
        AudioError: empty, non-mono, non-finite or silent audio.
    """
    samples = _as_numpy(audio, name)
    if sample_rate != MCD_SAMPLE_RATE:
        samples = librosa.resample(samples, orig_sr=int(sample_rate), target_sr=MCD_SAMPLE_RATE, res_type="soxr_hq")
    if float(np.abs(samples).max()) == 0.0:
        raise AudioError(f"{name}: expected speech for mel-cepstral distance, found digital silence")
    samples, _ = librosa.effects.trim(
        samples, top_db=MCD_TRIM_TOP_DB, frame_length=MCD_N_FFT, hop_length=MCD_HOP_LENGTH
    )
    power = librosa.feature.melspectrogram(
        y=samples,
        sr=MCD_SAMPLE_RATE,
        n_fft=MCD_N_FFT,
        hop_length=MCD_HOP_LENGTH,
        n_mels=MCD_N_MELS,
        fmax=MCD_FMAX,
        power=2.0,
    )  # (N, T_frames)
    log_amplitude = 0.5 * np.log(np.maximum(power.astype(np.float64), _MEL_AMPLITUDE_FLOOR**2))
    # librosa's MFCC with the orthonormal DCT-II; sqrt(2/N) turns those coefficients (k >= 1)
    # into the cosine-series cepstrum that Kubichek's constant assumes.
    ortho = librosa.feature.mfcc(S=log_amplitude, n_mfcc=MCD_N_CEPSTRA + 1, dct_type=2, norm="ortho")
    return ortho[1:] * math.sqrt(2.0 / MCD_N_MELS)


def mel_cepstral_distance(
    synthesized: Tensor | np.ndarray, synthesized_rate: int, reference: Tensor | np.ndarray, reference_rate: int
) -> float:
    """Mel-cepstral distance in dB between two utterances of the same text, after DTW.

    Definition: with c, c' the mel cepstra c1..c24 of :func:`mel_cepstra` and (i, j) the pairs
    of the dynamic-time-warping path (librosa.sequence.dtw over frame-to-frame Euclidean
    distances, steps (1,1), (1,0), (0,1)),

        MCD = 10/ln(10) · √2 · mean over (i, j) of √(Σ_{k=1..24} (c_k[i] − c'_k[j])²).

    For this cepstrum scaling, 10/ln 10 · √(2·Σ Δc_k²) is the RMS difference in dB between the two
    frames' log-mel spectra, smoothed to 24 cepstral coefficients and without overall level
    (c0). Identical audio gives 0. The features are librosa mel cepstra, not SPTK's all-pass
    warped ones, so values are comparable across tacoglow runs, not to papers to the decimal.

    Args:
        synthesized, reference (Tensor | ndarray): mono samples, (T_audio,).
        synthesized_rate, reference_rate (int): their sample rates in Hz.

    Returns:
        float: MCD in dB (>= 0).

    >>> tone = np.sin(np.linspace(0, 2000, 22050)).astype(np.float32)
    >>> mel_cepstral_distance(tone, 22050, tone, 22050)
    0.0
    """
    ours = mel_cepstra(synthesized, synthesized_rate, "synthesized audio")
    theirs = mel_cepstra(reference, reference_rate, "reference audio")
    cost = cdist(ours.T, theirs.T, metric="euclidean")  # (T_frames, T_frames')
    _, path = librosa.sequence.dtw(C=cost, backtrack=True)  # (L, 2) pairs, end → start
    return float(_MCD_SCALE * cost[path[:, 0], path[:, 1]].mean())


# ---------------------------------------------------------------------------------------------
# Attention health and speed


def attention_failure_share(stop_fired: Sequence[bool], attention_covered: Sequence[bool]) -> float:
    """Share of utterances whose stop gate never fired *or* whose attention did not reach the text's end.

    Raises:
        ConfigError: the flag lists differ in length or are empty.

    >>> attention_failure_share([True, True, False, True], [True, False, False, True])
    0.5
    """
    if len(stop_fired) != len(attention_covered) or not stop_fired:
        raise ConfigError(
            f"attention_failure_share: expected two non-empty flag lists of one length, "
            f"found {len(stop_fired)} and {len(attention_covered)}"
        )
    failures = sum(1 for fired, covered in zip(stop_fired, attention_covered) if not (fired and covered))
    return failures / len(stop_fired)


def real_time_factor(audio_seconds: float, compute_seconds: float) -> float:
    """Seconds of audio made per second of compute (> 1: faster than real time).

    Raises:
        ConfigError: a negative duration or zero compute time.

    >>> real_time_factor(10.0, 2.5)
    4.0
    """
    if audio_seconds < 0 or compute_seconds <= 0:
        raise ConfigError(
            f"real_time_factor: expected audio_seconds >= 0 and compute_seconds > 0, "
            f"found {audio_seconds} and {compute_seconds}"
        )
    return audio_seconds / compute_seconds
