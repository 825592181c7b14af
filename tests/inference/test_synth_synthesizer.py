"""The Synthesizer pipeline: order, batching, precision, long text, health, pairing and bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tacoglow.audio import MelConfig
from tacoglow.checkpoints import load_model, load_tacotron2, load_waveglow, save_checkpoint
from tacoglow.errors import ConfigError, TextError
from tacoglow.inference import (
    StageTimes,
    Synthesizer,
    attention_health,
    bundled_voice_paths,
    check_mel_pair,
    max_chars_for_steps,
)
from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config
from tacoglow.text import TextFrontend, text_to_sequence

TEXTS = ["hello there, how are you today?", "a short one.", "this is a medium sized sentence", "tiny"]


@pytest.fixture(scope="module")
def models(golden_dir):
    return golden_dir / "tacotron2.pt", golden_dir / "waveglow.pt"


def _synth(models, **settings) -> Synthesizer:
    kwargs = dict(max_decoder_steps=60, prenet_dropout=False, seed=7, batch_size=4, split_long_text=False)
    kwargs.update(settings)
    return Synthesizer.from_checkpoints(*models, **kwargs)


@pytest.fixture(scope="module")
def synth(models):
    return _synth(models)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def test_outputs_in_input_order_with_contract_shapes(synth):
    utterances = synth.synthesize(TEXTS)
    assert [u.text for u in utterances] == TEXTS
    for u in utterances:
        assert u.waveform.dtype == torch.float32 and u.waveform.dim() == 1
        assert u.waveform.numel() == u.mel_length * 256
        assert u.sample_rate == 22050 and u.mel.shape == (80, u.mel_length)
        assert u.alignment.shape[1] == len(text_to_sequence(u.text))
        assert torch.isfinite(u.waveform).all()
    # different texts, different lengths: order really is the input's
    assert len({u.mel_length for u in utterances}) > 1


def test_batched_equals_one_at_a_time(models):
    batched = _synth(models, batch_size=4).synthesize(TEXTS)
    single = _synth(models, batch_size=1)
    for text, got in zip(TEXTS, batched):
        [alone] = single.synthesize(text)
        assert got.mel_length == alone.mel_length
        torch.testing.assert_close(got.mel, alone.mel, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(got.waveform, alone.waveform, rtol=1e-4, atol=1e-3)


def test_seed_makes_runs_repeatable_and_changes_noise(models):
    first = _synth(models, prenet_dropout=True).synthesize(TEXTS[0])[0]
    again = _synth(models, prenet_dropout=True).synthesize(TEXTS[0])[0]
    other = _synth(models, prenet_dropout=True, seed=8).synthesize(TEXTS[0])[0]
    assert torch.equal(first.waveform, again.waveform)
    n = min(first.waveform.numel(), other.waveform.numel())
    assert not torch.allclose(first.waveform[:n], other.waveform[:n])


def test_bf16_cpu_is_finite_and_close_to_fp32(models, synth):
    low = _synth(models, precision="bf16")
    assert next(low.vocoder.model.parameters()).dtype == torch.bfloat16
    # on a CPU Tacotron 2 stays float32 (bandwidth-bound decoder, exact stop steps)
    assert next(low.acoustic.model.parameters()).dtype == torch.float32
    [ref] = synth.synthesize(TEXTS[0])
    [got] = low.synthesize(TEXTS[0])
    assert torch.isfinite(got.waveform).all() and got.waveform.dtype == torch.float32
    assert got.mel_length == ref.mel_length
    torch.testing.assert_close(got.mel, ref.mel)
    assert 1e-5 < _rel(got.waveform, ref.waveform) < 0.05
    # the vocoder alone, same mel and same noise
    mel = ref.mel[None]
    want = synth.vocoder.model.infer(mel, 0.6, torch.Generator().manual_seed(1))
    have = low.vocoder.model.infer(mel.bfloat16(), 0.6, torch.Generator().manual_seed(1)).float()
    assert _rel(have, want) < 0.05


def test_long_paragraph_is_split_and_joined_in_order(models):
    synth = _synth(models, max_decoder_steps=400, split_long_text=True, batch_size=8)
    paragraph = " ".join(
        [
            "The quick brown fox, tired of jumping, sat down by the river and thought about it.",
            "Then it went home!",
            "Was that the end of the story?",
        ]
        * 12
    )
    assert len(paragraph) >= 1500
    budget = max_chars_for_steps(400, 22050, 256)
    timings = StageTimes()
    [u] = synth.synthesize(paragraph, timings=timings)
    assert len(u.segments) >= len(paragraph) // budget
    assert all(len(text_to_sequence(s.text)) <= budget for s in u.segments)
    assert " ".join(s.text for s in u.segments).split() == paragraph.split()
    assert u.waveform.numel() == u.mel_length * 256 and u.mel.shape[1] == u.mel_length
    pauses = sum(round(s.pause_after_s * 22050 / 256) for s in u.segments)
    assert u.mel_length == sum(s.mel.shape[1] for s in u.segments) + pauses
    assert u.alignment.shape == (u.mel_length, sum(s.alignment.shape[1] for s in u.segments))
    assert set(timings.seconds) == {"text", "tacotron2", "waveglow", "denoiser"}
    assert timings.counts["audio_samples"] >= u.mel_length * 256 - pauses * 256


def test_attention_health_on_hand_made_alignments():
    diagonal = torch.eye(6).repeat_interleave(2, dim=0)  # 12 steps over 6 tokens
    assert attention_health(diagonal) == (True, 1.0)
    stuck = torch.zeros(12, 6)
    stuck[:, 1] = 1.0  # never moves past token 1
    reached, coverage = attention_health(stuck)
    assert not reached and coverage == pytest.approx(1 / 6)
    near_end = torch.zeros(4, 10)
    near_end[:, 7] = 1.0  # token 7 of 10: within the 2-token slack of the last one
    assert attention_health(near_end)[0]
    near_end[:, 6] = 2.0
    assert not attention_health(near_end)[0]
    assert attention_health(torch.zeros(0, 5)) == (False, 0.0)


def test_unhealthy_pieces_are_retried_only_with_dropout(golden_dir):
    model = load_tacotron2(golden_dir / "tacotron2.pt", max_decoder_steps=20)
    with torch.no_grad():  # a gate that never fires: every attempt is unhealthy
        model.decoder.gate_layer.linear_layer.bias.fill_(-50.0)
    waveglow = load_waveglow(golden_dir / "waveglow.pt")
    [u] = Synthesizer.from_checkpoints(model, waveglow, seed=1, retries=2, split_long_text=False).synthesize("hello")
    assert not u.stop_gate_fired and not u.healthy
    assert u.segments[0].attempts == 3
    [u] = Synthesizer.from_checkpoints(
        model, waveglow, seed=1, retries=2, prenet_dropout=False, split_long_text=False
    ).synthesize("hello")
    assert u.segments[0].attempts == 1


def test_griffin_lim_when_no_waveglow(golden_dir):
    if bundled_voice_paths()[1] is not None:
        pytest.skip("a bundled WaveGlow would be used")
    synth = Synthesizer.from_checkpoints(
        golden_dir / "tacotron2.pt", max_decoder_steps=60, prenet_dropout=False, seed=0, split_long_text=False
    )
    assert synth.vocoder.name == "griffin-lim"
    [u] = synth.synthesize("hello there")
    assert u.waveform.numel() == u.mel_length * 256 and torch.isfinite(u.waveform).all()


def test_mismatched_pair_is_refused_naming_each_setting(golden_dir):
    t2 = load_model(golden_dir / "tacotron2.pt", "tacotron2")
    wg = load_model(golden_dir / "waveglow.pt", "waveglow")
    other = MelConfig(sampling_rate=16000, mel_fmax=7600.0)
    with pytest.raises(
        ConfigError,
        match=r"sampling_rate \(Tacotron 2: 22050, vocoder: 16000\); "
        r"mel_fmax \(Tacotron 2: 8000.0, vocoder: 7600.0\)",
    ):
        Synthesizer.from_checkpoints(t2, wg._replace(mel_config=other))
    check_mel_pair(MelConfig(), MelConfig())  # equal contracts pass


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("?!...", "nothing speakable"),
        ("___", "nothing speakable"),
        ("\u2603 \u2603", "nothing speakable in '\u2603 \u2603'"),  # names the text as given, not as cleaned ('')
    ],
)
def test_bad_text_raises_text_error(synth, text, message):
    with pytest.raises(TextError, match=message):
        synth.synthesize(text)
    with pytest.raises(TextError, match=rf"text 2: {message}"):
        synth.synthesize(["fine", text])
    with pytest.raises(TextError, match="empty list"):
        synth.synthesize([])


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"sigma": -0.1}, r"sigma: expected a number >= 0, found -0.1"),
        ({"denoise": -1.0}, "denoise strength"),
        ({"precision": "fp8"}, "precision: expected one of fp32, fp16, bf16"),
        ({"precision": "fp16"}, "fp16: needs a CUDA device"),
        ({"batch_size": 0}, "batch_size"),
        ({"retries": -1}, "retries"),
        ({"gate_threshold": 1.5}, "gate_threshold"),
        ({"max_decoder_steps": 0}, "max_decoder_steps"),
        ({"device": "tpu"}, "device"),
        ({"vocoder": "hifigan"}, "vocoder"),
        ({"vocoder": "griffin-lim"}, "both given"),
    ],
)
def test_bad_settings_raise_config_error(models, settings, message):
    with pytest.raises(ConfigError, match=message):
        Synthesizer.from_checkpoints(*models, **settings)


def test_no_bundled_voice_says_which_options_to_pass():
    if bundled_voice_paths()[0] is not None:
        pytest.skip("this installation bundles a voice")
    with pytest.raises(ConfigError, match="no bundled voice in this installation: pass a Tacotron 2 checkpoint"):
        Synthesizer.from_checkpoints()
    with pytest.raises(ConfigError, match="no bundled voice in this installation"):
        Synthesizer()


def test_model_objects_are_rebuilt_with_overrides(golden_dir):
    model = load_tacotron2(golden_dir / "tacotron2.pt")
    synth = Synthesizer.from_checkpoints(
        model, golden_dir / "waveglow.pt", max_decoder_steps=33, gate_threshold=0.4, prenet_dropout=False
    )
    config = synth.acoustic.model.config
    assert (config.max_decoder_steps, config.gate_threshold, config.prenet_dropout) == (33, 0.4, 0.0)
    assert model.config.max_decoder_steps != 33  # the caller's config object is not changed
    with pytest.raises(ConfigError, match="expected a Tacotron2"):
        Synthesizer.from_checkpoints(torch.nn.Linear(2, 2), golden_dir / "waveglow.pt")
    tiny = Tacotron2(
        dataclasses.replace(Tacotron2Config(), n_mel_channels=10, symbols_embedding_dim=8, encoder_embedding_dim=8)
    )
    with pytest.raises(ConfigError, match="n_mel_channels"):
        Synthesizer.from_checkpoints(tiny, golden_dir / "waveglow.pt")


def test_vocode_a_given_mel(synth):
    mel = torch.randn(80, 12, generator=torch.Generator().manual_seed(0)) - 5.0
    audio = synth.vocode(mel, seed=5)
    assert audio.shape == (12 * 256,) and audio.dtype == torch.float32
    assert torch.equal(audio, synth.vocode(mel, seed=5))
    assert not torch.equal(audio, synth.vocode(mel, seed=6))
    assert synth.vocode(mel[:, :0], seed=5).numel() == 0


def test_text_frontend_of_the_checkpoint_is_used(golden_dir, tmp_path):
    """A voice saved as reading phones gets CMUdict phones: "hello there" sounds as its phones do in a letter voice."""
    loaded = load_model(golden_dir / "tacotron2.pt")
    phones_voice = save_checkpoint(tmp_path / "phones.pt", loaded.model, text_frontend=TextFrontend(arpabet=True))
    settings = dict(max_decoder_steps=60, prenet_dropout=False, seed=3, split_long_text=False)
    phones = Synthesizer.from_checkpoints(phones_voice, **settings)
    letters = Synthesizer.from_checkpoints(golden_dir / "tacotron2.pt", **settings)
    assert phones.text.frontend.arpabet and not letters.text.frontend.arpabet
    [got] = phones.synthesize("Hello there.")
    [want] = letters.synthesize("{HH AH0 L OW1} {DH EH1 R}.")
    [spelled] = letters.synthesize("Hello there.")
    assert torch.equal(got.mel, want.mel)
    assert got.mel.shape != spelled.mel.shape or not torch.equal(got.mel, spelled.mel)


def test_a_voice_with_repeated_phones_reads_each_phone_twice_and_splits_text_as_one(golden_dir, tmp_path):
    loaded = load_model(golden_dir / "tacotron2.pt")
    twice = TextFrontend(arpabet=True, phone_repeats=2)
    voice = save_checkpoint(tmp_path / "twice.pt", loaded.model, text_frontend=twice)
    settings = dict(max_decoder_steps=60, prenet_dropout=False, seed=3, split_long_text=False)
    [got] = Synthesizer.from_checkpoints(voice, **settings).synthesize("Hello there.")
    [want] = Synthesizer.from_checkpoints(golden_dir / "tacotron2.pt", **settings).synthesize(
        "{HH HH AH0 AH0 L L OW1 OW1} {DH DH EH1 EH1 R R}."
    )
    assert torch.equal(got.mel, want.mel)
    paragraph = " ".join(["The quick brown fox, tired of jumping, sat down by the river and thought about it."] * 6)
    once = save_checkpoint(tmp_path / "once.pt", loaded.model, text_frontend=TextFrontend(arpabet=True))
    split = dict(settings, split_long_text=True, max_decoder_steps=200)

    def pieces(synth: Synthesizer) -> list[str]:
        return [p.piece.text for p in synth.text.prepare([paragraph], lambda: synth.acoustic.max_piece_length)]

    twice_pieces = pieces(Synthesizer.from_checkpoints(voice, **split))
    assert len(twice_pieces) > 1 and twice_pieces == pieces(Synthesizer.from_checkpoints(once, **split))


def test_phone_repeats_sets_the_speaking_rate_of_a_voice_with_repeated_phones(golden_dir, tmp_path):
    loaded = load_model(golden_dir / "tacotron2.pt")
    voice = save_checkpoint(
        tmp_path / "twice.pt", loaded.model, text_frontend=TextFrontend(arpabet=True, phone_repeats=2)
    )
    settings = dict(max_decoder_steps=60, prenet_dropout=False, seed=3, split_long_text=False)
    thrice = Synthesizer.from_checkpoints(voice, phone_repeats=3, **settings)
    assert thrice.text.frontend == TextFrontend(arpabet=True, phone_repeats=3, normalizer=True)  # normalizes by default
    [got] = thrice.synthesize("Hello.")
    [want] = Synthesizer.from_checkpoints(golden_dir / "tacotron2.pt", **settings).synthesize(
        "{HH HH HH AH0 AH0 AH0 L L L OW1 OW1 OW1}."
    )
    assert torch.equal(got.mel, want.mel)
    with pytest.raises(ConfigError, match="phone_repeats 2: this voice reads every phone once"):
        Synthesizer.from_checkpoints(golden_dir / "tacotron2.pt", phone_repeats=2)
