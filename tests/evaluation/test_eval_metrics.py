"""Tests of tacoglow.evaluation.metrics: WER, MCD, attention failure share, RTF."""

import math

import numpy as np
import pytest
import torch

from tacoglow.errors import AudioError, ConfigError
from tacoglow.evaluation.metrics import (
    MCD_N_CEPSTRA,
    WordErrors,
    attention_failure_share,
    mel_cepstra,
    mel_cepstral_distance,
    normalize_for_wer,
    real_time_factor,
    word_error_rate,
    word_errors,
)

pytest.importorskip("jiwer")

SR = 22050


def speechlike(seconds: float, seed: int, f0: float = 120.0) -> np.ndarray:
    """A voiced buzz with moving formant-like resonances and pauses: something with a spectrum."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    source = np.sign(np.sin(2 * np.pi * f0 * t)) + 0.05 * rng.standard_normal(t.size)
    formant = 0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t)
    audio = source * (0.3 + 0.7 * formant) * np.sin(2 * np.pi * (500 + 1500 * formant) * t)
    envelope = (np.sin(2 * np.pi * 2.0 * t) > -0.5).astype(float)  # silent gaps
    return (0.3 * audio * envelope).astype(np.float32)


# --------------------------------------------------------------------------------------------- WER


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("Mr. Smith's 21 cats -- don't!", "mister smiths twenty one cats dont"),
        ("The QUICK, brown fox.", "the quick brown fox"),
        ("  Café   déjà-vu; ", "cafe deja vu"),
        ("...", ""),
        ("it was 7" + "0" * 40 + ".", "it was seven" + " zero" * 40),  # an ASR loop; inflect stops at 36 digits
        ("1," + "000," * 12 + "5 x", "one" + " zero" * 36 + " five x"),
    ],
)
def test_normalize_for_wer(text, normalized):
    assert normalize_for_wer(text) == normalized


def test_normalize_for_wer_reads_numbers_up_to_36_digits_as_numbers():
    assert normalize_for_wer("9" * 36).startswith("nine hundred ninety nine decillion nine hundred")


@pytest.mark.parametrize(
    "reference, hypothesis, counts",
    [
        ("the cat sat on the mat", "the cat sat on the mat", (0, 0, 0, 6)),
        ("the cat sat on the mat", "the cat sat on mat", (0, 1, 0, 6)),
        ("one two three", "one too three four", (1, 0, 1, 3)),
        ("a b c d", "x b y d", (2, 0, 0, 4)),
        ("He paid $21.", "he paid twenty one dollars", (0, 0, 0, 5)),  # numbers compare as words
        ("Hello world.", "", (0, 2, 0, 2)),
        ("...", "uh oh", (0, 0, 2, 0)),
    ],
)
def test_word_errors_on_hand_made_pairs(reference, hypothesis, counts):
    got = word_errors(reference, hypothesis)
    assert (got.substitutions, got.deletions, got.insertions, got.reference_words) == counts
    assert got.errors == sum(counts[:3])


def test_word_error_rate_of_one_pair():
    assert word_errors("one two three", "one too three four").wer == pytest.approx(2 / 3)
    assert math.isnan(WordErrors(0, 0, 2, 0).wer)


def test_corpus_wer_sums_counts_instead_of_averaging_sentences():
    references = ["one two three four", "five"]
    hypotheses = ["one two three four", "six"]
    assert word_error_rate(references, hypotheses) == pytest.approx(1 / 5)  # a mean of WERs would give 0.5


def test_word_error_rate_errors():
    with pytest.raises(ConfigError, match=r"expected as many hypotheses as references \(2\), found 1"):
        word_error_rate(["a", "b"], ["a"])
    with pytest.raises(ConfigError, match="at least one word"):
        word_error_rate(["..."], ["x"])


# --------------------------------------------------------------------------------------------- MCD


def test_mcd_of_identical_audio_is_zero():
    audio = speechlike(1.0, 0)
    assert mel_cepstral_distance(audio, SR, audio, SR) == 0.0
    assert mel_cepstral_distance(torch.from_numpy(audio), SR, audio.copy(), SR) == 0.0


def test_mcd_of_different_audio_is_positive_and_symmetric():
    a, b = speechlike(1.0, 0, f0=120.0), speechlike(1.2, 1, f0=210.0)
    noise = 0.1 * np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    ab = mel_cepstral_distance(a, SR, b, SR)
    assert ab > 1.0
    assert mel_cepstral_distance(b, SR, a, SR) == pytest.approx(ab, rel=1e-9)
    assert mel_cepstral_distance(a, SR, noise, SR) > 2 * ab  # noise is further from a buzz than a buzz


def test_mcd_ignores_level_silence_padding_and_sample_rate():
    import librosa

    audio = speechlike(1.0, 0)
    # Level only moves c0, which is left out.
    assert mel_cepstral_distance(audio, SR, 0.25 * audio, SR) < 1e-6
    # Leading silence is trimmed; a shift of whole hops leaves the frames nearly as they were.
    hop_shift = np.concatenate([np.zeros(2 * 256, np.float32), audio])
    assert mel_cepstral_distance(audio, SR, hop_shift, SR) < 0.1
    odd_pad = np.concatenate([np.zeros(SR // 2, np.float32), audio, np.zeros(SR // 3, np.float32)])
    assert mel_cepstral_distance(audio, SR, odd_pad, SR) < 0.5
    at_16k = librosa.resample(audio, orig_sr=SR, target_sr=16000)
    assert mel_cepstral_distance(audio, SR, at_16k, 16000) < 1.0


def test_mel_cepstra_shape():
    cepstra = mel_cepstra(speechlike(1.0, 0), SR)
    assert cepstra.shape[0] == MCD_N_CEPSTRA and cepstra.dtype == np.float64
    assert 80 <= cepstra.shape[1] <= 1 + SR // 256
    assert np.isfinite(cepstra).all()


def test_mcd_errors():
    audio = speechlike(0.5, 0)
    with pytest.raises(AudioError, match="reference audio: expected speech .* found digital silence"):
        mel_cepstral_distance(audio, SR, np.zeros(SR, np.float32), SR)
    with pytest.raises(AudioError, match=r"synthesized audio: expected mono audio .* found shape \(2, 100\)"):
        mel_cepstral_distance(np.zeros((2, 100), np.float32), SR, audio, SR)
    with pytest.raises(AudioError, match="reference audio: expected finite samples"):
        mel_cepstral_distance(audio, SR, np.full(100, np.nan, np.float32), SR)


# ---------------------------------------------------------------------------- health and speed


def test_attention_failure_share_from_flags():
    stop_fired = [True, True, False, True, True]
    reached_end = [True, False, False, True, False]
    assert attention_failure_share(stop_fired, reached_end) == pytest.approx(3 / 5)
    assert attention_failure_share([True], [True]) == 0.0
    with pytest.raises(ConfigError, match="found 2 and 1"):
        attention_failure_share([True, False], [True])
    with pytest.raises(ConfigError, match="non-empty"):
        attention_failure_share([], [])


def test_real_time_factor():
    assert real_time_factor(10.0, 2.5) == 4.0
    assert real_time_factor(0.0, 1.0) == 0.0
    with pytest.raises(ConfigError, match="compute_seconds > 0"):
        real_time_factor(1.0, 0.0)
