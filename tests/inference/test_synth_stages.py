"""The synthesizer's stages on their own and composed: text stage (budget, size limit),
vocoders (the Vocoder protocol), composition, per-call seeds and progress."""

from __future__ import annotations

import pytest
import torch

from tacoglow.cli import main
from tacoglow.cli.synthesize import DEFAULT_MAX_TEXT_CHARS as CLI_DEFAULT_MAX_TEXT_CHARS
from tacoglow.errors import AudioError, ConfigError, TextError
from tacoglow.inference import (
    DEFAULT_MAX_TEXT_CHARS,
    AcousticModel,
    GriffinLimVocoder,
    Synthesizer,
    TextStage,
    Vocoder,
    WaveGlowVocoder,
    max_chars_for_steps,
)
from tacoglow.text import TextFrontend

SETTINGS = {"max_decoder_steps": 60, "prenet_dropout": True, "batch_size": 4, "retries": 1}


@pytest.fixture(scope="module")
def acoustic(golden_dir):
    return AcousticModel.load(golden_dir / "tacotron2.pt", **SETTINGS)


@pytest.fixture(scope="module")
def waveglow(golden_dir):
    return WaveGlowVocoder.load(golden_dir / "waveglow.pt")


def test_budget_follows_speaking_rate():
    # 2000 steps * 256 / 22050 = 23.2 s; * 12 chars/s * 0.8 safety = 222.9
    assert max_chars_for_steps(2000, 22050, 256) == 222
    assert max_chars_for_steps(1000, 22050, 256) == 111
    with pytest.raises(ConfigError, match="max_decoder_steps=5: too few steps"):
        max_chars_for_steps(5, 22050, 256)


def test_one_text_longer_than_max_text_chars_is_refused_before_any_work():
    stage = TextStage(TextFrontend(), max_text_chars=50)
    budget_asked = []

    def budget() -> int:
        budget_asked.append(1)
        return 20

    assert len(stage.prepare(["a" * 50], budget)) == 3  # at the limit: accepted, split
    with pytest.raises(
        TextError, match=r"^text: 51 characters, more than the 50 allowed in one text \(max_text_chars\)"
    ):
        stage.prepare(["a" * 51], budget)
    with pytest.raises(TextError, match=r"^text 2: 60 characters"):
        stage.prepare(["fine", "b" * 60], budget)
    assert len(budget_asked) == 1
    with pytest.raises(ConfigError, match="max_text_chars: expected an integer >= 1, found 0"):
        TextStage(max_text_chars=0)
    assert DEFAULT_MAX_TEXT_CHARS == CLI_DEFAULT_MAX_TEXT_CHARS  # the CLI keeps its own copy (fast --help)


def test_cli_max_text_chars_is_a_one_line_error(tmp_path, golden_dir, capsys):
    out = tmp_path / "long.wav"
    code = main(
        [
            "synthesize",
            "A sentence of some length.",
            "-o",
            str(out),
            "--tacotron2",
            str(golden_dir / "tacotron2.pt"),
            "--vocoder",
            "griffin-lim",
            "--max-text-chars",
            "10",
        ]
    )
    assert code == 2 and not out.exists()
    error = capsys.readouterr().err.strip()
    assert "26 characters, more than the 10 allowed in one text (max_text_chars)" in error
    assert len(error.splitlines()) == 1


def test_vocoders_follow_the_protocol_and_vocode_each_row_alone(golden_dir, waveglow):
    griffin_lim = GriffinLimVocoder(n_iters=4)
    for vocoder in (waveglow, griffin_lim):
        assert isinstance(vocoder, Vocoder) and vocoder.sample_rate == 22050
        mel = torch.randn(3, 80, 20, generator=torch.Generator().manual_seed(0)) - 5.0
        lengths = torch.tensor([20, 7, 0])
        audio, audio_lengths = vocoder(mel, lengths, torch.Generator().manual_seed(1))
        assert audio.shape == (3, 20 * 256) and audio.dtype == torch.float32
        assert audio_lengths.tolist() == [20 * 256, 7 * 256, 0]
        assert not audio[1, 7 * 256 :].any() and not audio[2].any()
        # the first row draws first: alone, with the same seed, it is the same audio
        [alone], _ = vocoder(mel[:1], lengths[:1], torch.Generator().manual_seed(1))
        assert torch.equal(audio[0], alone)
        # frames past a row's length are not read
        [cut], _ = vocoder(mel[1:2, :, :7], lengths[1:2], torch.Generator().manual_seed(1))
        padded = mel[1:2].clone()
        padded[..., 7:] = 0.0
        [same], _ = vocoder(padded, lengths[1:2], torch.Generator().manual_seed(1))
        assert torch.equal(cut[: 7 * 256], same[: 7 * 256])
        with pytest.raises(AudioError, match=r"vocoder lengths: expected 3 frame counts in \[0, 20\]"):
            vocoder(mel, torch.tensor([21, 1, 1]))
        with pytest.raises(AudioError, match=r"expected a log-mel of shape \(B, 80, T_mel\)"):
            vocoder(mel[0], lengths)


def test_composed_stages_equal_the_checkpoint_builder(golden_dir, acoustic, waveglow):
    built = Synthesizer.from_checkpoints(golden_dir / "tacotron2.pt", golden_dir / "waveglow.pt", seed=7, **SETTINGS)
    composed = Synthesizer(acoustic, waveglow, seed=7)
    texts = ["hello there, how are you?", "a short one."]
    for got, want in zip(composed.synthesize(texts), built.synthesize(texts), strict=True):
        assert torch.equal(got.waveform, want.waveform) and torch.equal(got.mel, want.mel)
    # another vocoder, another text stage: the parts really are swappable
    spoken = Synthesizer(
        acoustic,
        GriffinLimVocoder(acoustic.mel_config, n_iters=4),
        text=TextStage(acoustic.text_frontend, split_long_text=False),
        seed=7,
    )
    [u] = spoken.synthesize("hello there.")
    assert u.waveform.numel() == u.mel_length * 256 and torch.isfinite(u.waveform).all()


def test_seed_per_call_overrides_the_default(acoustic, waveglow):
    seeded = Synthesizer(acoustic, waveglow, seed=7)
    unseeded = Synthesizer(acoustic, waveglow)
    [want] = seeded.synthesize("a short one.")
    [got] = unseeded.synthesize("a short one.", seed=7)
    assert torch.equal(got.waveform, want.waveform)
    [other] = seeded.synthesize("a short one.", seed=8)
    n = min(other.waveform.numel(), want.waveform.numel())
    assert not torch.equal(other.waveform[:n], want.waveform[:n])
    assert seeded.seed == 7  # a call's seed is not kept
    with pytest.raises(ConfigError, match="seed: expected an integer >= 0, found -1"):
        seeded.synthesize("a short one.", seed=-1)


class _Recording:
    """A Vocoder that notes each call in ``events`` and hands the work to ``inner``."""

    def __init__(self, inner: Vocoder, events: list[str]) -> None:
        self.inner, self.events = inner, events
        self.name, self.mel_config, self.device = inner.name, inner.mel_config, inner.device

    @property
    def sample_rate(self) -> int:
        return self.inner.sample_rate

    def __call__(self, mel, lengths, generator=None, *, timings=None):
        self.events.append("vocode")
        return self.inner(mel, lengths, generator, timings=timings)


def test_progress_advances_as_each_piece_is_finished(acoustic):
    """A long text's progress must move while it is synthesized, vocoding included: each piece
    is vocoded as soon as its mel is final, then counted."""
    events: list[str] = []
    synth = Synthesizer(acoustic, _Recording(GriffinLimVocoder(acoustic.mel_config, n_iters=2), events), seed=3)
    paragraph = "The quick brown fox sat down. Then it went home! Was that the end? It was, said the fox."
    total = synth.count_pieces([paragraph])
    assert total > 3  # 60 decoder steps hold a few characters: the text is split
    [u] = synth.synthesize(paragraph, progress=lambda n: events.append(f"progress {n}"))
    assert len(u.segments) == total
    assert events == ["vocode", "progress 1"] * total
