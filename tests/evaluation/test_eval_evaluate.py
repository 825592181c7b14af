"""Tests of tacoglow.evaluation.evaluate on tiny random models saved as checkpoints."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from tacoglow.audio import MelConfig, save_wav
from tacoglow.checkpoints import save_checkpoint
from tacoglow.errors import AudioError, ConfigError, DataError
from tacoglow.evaluation import ASREngine, EvaluationReport, evaluate
from tacoglow.inference import Synthesizer, bundled_voice_paths
from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig

pytest.importorskip("jiwer")

SENTENCES = ["Hi there.", "One two."]
STEPS = 120  # the decoder's cap: a tiny random Tacotron 2 never stops, so every utterance is 120 frames
# Short FFT: Griffin-Lim's inverse STFT basis is a pseudo-inverse whose cost grows as n_fft³.
MEL = MelConfig(n_mel_channels=8, filter_length=256, win_length=256)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voice")
    torch.manual_seed(0)
    # gate_threshold 1: sigmoid(gate) <= 1 always, so the stop gate never fires (a known health outcome).
    tacotron2 = Tacotron2(
        Tacotron2Config(
            n_mel_channels=8,
            symbols_embedding_dim=16,
            encoder_embedding_dim=16,
            encoder_kernel_size=3,
            attention_rnn_dim=16,
            attention_dim=8,
            attention_location_n_filters=4,
            attention_location_kernel_size=5,
            decoder_rnn_dim=16,
            prenet_dim=8,
            postnet_embedding_dim=8,
            postnet_kernel_size=3,
            max_decoder_steps=STEPS,
            gate_threshold=1.0,
        )
    )
    waveglow = WaveGlow(
        WaveGlowConfig(
            n_mel_channels=8, n_flows=2, n_group=8, n_early_every=2, n_early_size=2, n_layers=2, n_channels=8
        )
    )
    save_checkpoint(folder / "t2.pt", tacotron2, mel_config=MEL)
    save_checkpoint(folder / "wg.pt", waveglow, mel_config=MEL)
    return folder / "t2.pt", folder / "wg.pt"


class ScriptedASR(ASREngine):
    """A recognizer that hears fixed words (to check the WER bookkeeping exactly)."""

    name = "scripted"

    def __init__(self, transcripts):
        self.transcripts = list(transcripts)
        self.heard = []

    def _transcribe_16k(self, audio):
        self.heard.append(audio.shape)
        return self.transcripts[(len(self.heard) - 1) % len(self.transcripts)]


def griffin_lim_report(checkpoints, **kwargs) -> EvaluationReport:
    return evaluate((checkpoints[0], None), SENTENCES, vocoder="griffin-lim", **kwargs)


def test_report_structure_and_values(checkpoints, tmp_path):
    report = griffin_lim_report(checkpoints, asr=None)
    summary, rows = report.summary, report.utterances
    assert [(r.index, r.id, r.text) for r in rows] == [(1, "1", SENTENCES[0]), (2, "2", SENTENCES[1])]
    for row in rows:
        assert row.mel_frames == STEPS
        assert row.audio_seconds == pytest.approx(STEPS * 256 / 22050)
        assert row.compute_seconds > 0 and row.attempts == 1
        assert row.stop_gate_fired is False and row.attention_ok is False
        assert 0.0 <= row.attention_coverage <= 1.0
        assert row.transcript is row.wer is row.teacher_wer is row.mcd_db is None
    assert summary.n_utterances == 2 and summary.voice == "t2.pt" and summary.vocoder == "griffin-lim"
    assert summary.seed == 0 and summary.retries == 0
    assert summary.asr is summary.teacher is summary.reference_audio_dir is None
    # Health counts are the rows' flags.
    assert summary.stop_not_fired == 2
    assert summary.attention_not_at_end == sum(not r.attention_reached_end for r in rows)
    assert summary.attention_failures == 2 and summary.attention_failure_share == 1.0
    assert summary.audio_seconds == pytest.approx(sum(r.audio_seconds for r in rows))
    assert summary.compute_seconds == pytest.approx(sum(r.compute_seconds for r in rows))
    assert summary.rtf == pytest.approx(summary.audio_seconds / summary.compute_seconds)
    assert summary.wer is summary.teacher_wer is summary.mcd_db is None

    table = report.table().splitlines()
    assert table[0].split() == ["#", "id", "audio", "s", "RTF", "stop", "end"]
    first = table[2].split()
    assert first[:3] == ["1", "1", "1.39"] and first[4] == "NO"
    assert first[5] == ("yes" if rows[0].attention_reached_end else "NO")
    assert "attention failures: 2/2 (100.0%; stop gate never fired: 2" in report.table()
    assert "voice: t2.pt (vocoder griffin-lim), 2 utterances, seed 0, 0 retries" in report.table()

    data = json.loads(report.to_json())
    assert data == report.to_dict()
    assert data["summary"]["stop_not_fired"] == 2 and len(data["utterances"]) == 2
    assert data["utterances"][1]["text"] == "One two." and data["utterances"][1]["mel_frames"] == STEPS
    target = report.save_json(tmp_path / "eval.json")
    assert json.loads(target.read_text(encoding="utf-8")) == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.json"]  # no temp file left behind


@pytest.mark.slow
def test_same_seed_same_audio_and_mcd_against_references(checkpoints, tmp_path):
    # References: the same voice, seed and settings, one sentence per call as evaluate does.
    same = Synthesizer.from_checkpoints(checkpoints[0], vocoder="griffin-lim", seed=0, retries=0)
    other = Synthesizer.from_checkpoints(checkpoints[0], vocoder="griffin-lim", seed=1, retries=0)
    (tmp_path / "same").mkdir()
    (tmp_path / "other").mkdir()
    for index, text in enumerate(SENTENCES, 1):
        [utterance] = same.synthesize([text])
        save_wav(tmp_path / "same" / f"{index}.wav", utterance.waveform, utterance.sample_rate, subtype="FLOAT")
        [utterance] = other.synthesize([text])
        save_wav(tmp_path / "other" / f"{index:03d}.wav", utterance.waveform, utterance.sample_rate, subtype="FLOAT")
    identical = griffin_lim_report(checkpoints, asr=None, reference_audio_dir=tmp_path / "same")
    assert [r.mcd_db for r in identical.utterances] == [0.0, 0.0]
    assert identical.summary.mcd_db == 0.0 and identical.summary.reference_audio_dir == str(tmp_path / "same")
    different = griffin_lim_report(checkpoints, asr=None, reference_audio_dir=tmp_path / "other")
    assert all(r.mcd_db > 0.0 for r in different.utterances)
    assert different.summary.mcd_db == pytest.approx(np.mean([r.mcd_db for r in different.utterances]))
    assert different.table().splitlines()[0].split()[-2:] == ["MCD", "dB"]
    assert f"MCD: {different.summary.mcd_db:.2f} dB (mean over 2 utterances with sound" in different.table()


def test_wer_bookkeeping_with_a_given_synthesizer(checkpoints):
    synthesizer = Synthesizer.from_checkpoints(*checkpoints, denoise=0.0, seed=3, retries=0)  # WaveGlow, no denoiser
    engine = ScriptedASR(["hi there", "one"])
    report = evaluate(synthesizer, [("a", SENTENCES[0]), ("b", SENTENCES[1])], asr=engine, label="tiny")
    assert engine.heard == [(math.ceil(STEPS * 256 * 16000 / 22050),)] * 2  # resampled to 16 kHz
    rows = report.utterances
    assert [r.id for r in rows] == ["a", "b"]
    assert [r.transcript for r in rows] == ["hi there", "one"]
    assert [(r.word_errors, r.reference_words) for r in rows] == [(0, 2), (1, 2)]
    assert [r.wer for r in rows] == [0.0, 0.5]
    s = report.summary
    assert (s.voice, s.vocoder, s.asr, s.seed) == ("tiny", "waveglow", "scripted", 3)
    assert s.wer == pytest.approx(1 / 4)
    assert "WER (scripted): 25.0%" in report.table()
    assert report.table().splitlines()[3].endswith("50.0%  one")


class FingerprintASR(ScriptedASR):
    """A ScriptedASR that also remembers a fingerprint of every clip it heard."""

    def _transcribe_16k(self, audio):
        self.prints = getattr(self, "prints", []) + [float(torch.as_tensor(audio).abs().sum())]
        return super()._transcribe_16k(audio)


def test_several_seeds_pool_renditions_and_report_each_seeds_wer(checkpoints):
    synthesizer = Synthesizer.from_checkpoints(checkpoints[0], vocoder="griffin-lim", seed=3, retries=0)
    engine = FingerprintASR(["hi there", "hi", "x y", "one", "one two", "one two"])
    report = evaluate(synthesizer, [("a", SENTENCES[0]), ("b", SENTENCES[1])], asr=engine, seeds=3)
    rows, s = report.utterances, report.summary
    assert [(r.id, r.seed) for r in rows] == [("a", 3), ("a", 4), ("a", 5), ("b", 3), ("b", 4), ("b", 5)]
    assert [r.word_errors for r in rows] == [0, 1, 2, 1, 0, 0]
    assert s.seeds == 3 and s.seed == 3 and s.n_utterances == 2
    assert s.wer_per_seed == [pytest.approx(1 / 4), pytest.approx(1 / 4), pytest.approx(2 / 4)]
    assert s.wer == pytest.approx(4 / 12)
    assert s.attention_failures == 6 and s.attention_failure_share == 1.0
    # every seed is another rendition of the sentence; the same seed repeats itself
    assert len(set(engine.prints)) == 6
    assert synthesizer.seed == 3  # untouched: each seed goes to one call
    again = evaluate(synthesizer, [SENTENCES[0]], asr=FingerprintASR(["hi"]), seeds=1)
    assert again.utterances[0].seed == 3
    table = report.table()
    assert table.splitlines()[0].split()[:3] == ["#", "id", "seed"]
    assert table.splitlines()[4].split()[:3] == ["1", "a", "5"]
    assert "2 utterances, × 3 seeds (3–5), 0 retries" in table
    assert "attention failures: 6/6" in table
    assert "WER (scripted): 33.3% (mean of seeds 3–5: 25.0%, 25.0%, 50.0%)" in table
    with pytest.raises(ConfigError, match="seeds: expected a number of seeds >= 1, found 0"):
        evaluate(synthesizer, SENTENCES, asr=None, seeds=0)
    with pytest.raises(ConfigError, match="seeds: 2 seeds need a seeded Synthesizer"):
        evaluate(
            Synthesizer.from_checkpoints(checkpoints[0], vocoder="griffin-lim", retries=0), SENTENCES, asr=None, seeds=2
        )


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_teacher_wer_is_measured_on_espeak_ng_audio(checkpoints):
    engine = ScriptedASR(["hi there", "one two"])  # per sentence: the teacher, then the synthesized audio
    report = griffin_lim_report(checkpoints, asr=engine, teacher="espeak-ng")
    voice_samples = math.ceil(STEPS * 256 * 16000 / 22050)
    assert len(engine.heard) == 4
    assert engine.heard[0][0] != voice_samples and engine.heard[1][0] == voice_samples  # the teacher's audio first
    rows = report.utterances
    assert [r.transcript for r in rows] == ["one two", "one two"]
    assert [r.teacher_transcript for r in rows] == ["hi there", "hi there"]
    assert [r.teacher_wer for r in rows] == [0.0, 1.0]
    assert report.summary.teacher == "espeak-ng"
    assert report.summary.teacher_wer == pytest.approx(2 / 4)
    assert [r.wer for r in rows] == [1.0, 0.0]
    assert report.summary.wer == pytest.approx(2 / 4)
    assert "teacher WER (espeak-ng audio, scripted): 50.0%" in report.table()
    # with more seeds the teacher, which has no randomness, is still heard once per sentence
    engine = ScriptedASR(["hi there", "one two", "one two"])
    again = griffin_lim_report(checkpoints, asr=engine, teacher="espeak-ng", seeds=2)
    assert [shape[0] == voice_samples for shape in engine.heard] == [False, True, True] * 2
    assert [r.teacher_transcript for r in again.utterances] == ["hi there"] * 4
    assert again.summary.teacher_wer == pytest.approx(2 / 4)  # over the sentences, not the renditions


def test_argument_errors(checkpoints, tmp_path):
    pair = (checkpoints[0], None)
    with pytest.raises(DataError, match="expected at least one sentence"):
        evaluate(pair, [], asr=None)
    with pytest.raises(DataError, match=r"sentence 2 \(2\): expected text, found an empty sentence"):
        evaluate(pair, ["Hello.", "  "], asr=None)
    with pytest.raises(ConfigError, match="teacher: a teacher WER needs an ASR engine"):
        evaluate(pair, SENTENCES, asr=None, teacher="espeak-ng")
    with pytest.raises(ConfigError, match="teacher: expected one of espeak-ng, found 'festival'"):
        evaluate(pair, SENTENCES, asr=None, teacher="festival")
    with pytest.raises(ConfigError, match="only the 'whisper' ASR engine takes a model directory"):
        evaluate(pair, SENTENCES, asr="pocketsphinx", whisper_model=tmp_path)
    with pytest.raises(
        AudioError,
        match=rf"{tmp_path}: expected a reference recording 1.wav or 001.wav "
        r"for sentence 1, found neither",
    ):
        evaluate(pair, SENTENCES, asr=None, reference_audio_dir=tmp_path)
    with pytest.raises(AudioError, match="expected a folder of reference wavs"):
        evaluate(pair, SENTENCES, asr=None, reference_audio_dir=tmp_path / "missing")
    synthesizer = Synthesizer.from_checkpoints(checkpoints[0], vocoder="griffin-lim", seed=0)
    with pytest.raises(ConfigError, match="vocoder, seed and phone_repeats are settings of the Synthesizer given"):
        evaluate(synthesizer, SENTENCES, asr=None, seed=1)
    with pytest.raises(ConfigError, match="expected a Synthesizer, a \\(tacotron2, waveglow\\) checkpoint pair"):
        evaluate("t2.pt", SENTENCES, asr=None)


def test_default_voice_is_the_bundled_one():
    if bundled_voice_paths()[0] is None:
        with pytest.raises(ConfigError, match="no bundled voice in this installation"):
            evaluate(None, ["Hello."], asr=None)
    else:
        report = evaluate(None, ["Hello."], asr=None, vocoder="griffin-lim")
        assert report.summary.voice == "bundled" and report.summary.n_utterances == 1
        assert report.utterances[0].audio_seconds > 0 and math.isfinite(report.summary.rtf)
