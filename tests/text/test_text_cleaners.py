"""Cleaners: english_cleaners order, abbreviations, whitespace, registry."""

from __future__ import annotations

import pytest

from tacoglow.errors import ConfigError
from tacoglow.text import basic_cleaners, english_cleaners, transliteration_cleaners
from tacoglow.text.cleaners import CLEANERS, expand_abbreviations, get_cleaner

ABBREVIATIONS = [
    ("mrs", "misess"),
    ("mr", "mister"),
    ("dr", "doctor"),
    ("st", "saint"),
    ("co", "company"),
    ("jr", "junior"),
    ("maj", "major"),
    ("gen", "general"),
    ("drs", "doctors"),
    ("rev", "reverend"),
    ("lt", "lieutenant"),
    ("hon", "honorable"),
    ("sgt", "sergeant"),
    ("capt", "captain"),
    ("esq", "esquire"),
    ("ltd", "limited"),
    ("col", "colonel"),
    ("ft", "fort"),
]


@pytest.mark.parametrize(("abbreviation", "expansion"), ABBREVIATIONS)
def test_every_abbreviation_any_case(abbreviation, expansion):
    assert english_cleaners(f"{abbreviation}. x") == f"{expansion} x"
    assert english_cleaners(f"{abbreviation.upper()}. x") == f"{expansion} x"
    # Without the period nothing happens.
    assert english_cleaners(f"{abbreviation} x") == f"{abbreviation} x"


def test_abbreviation_quirks():
    assert english_cleaners("Mr.Smith") == "mistersmith"  # the period is consumed
    assert english_cleaners("Main St.") == "main saint"  # St. is always saint
    assert english_cleaners("Mrs. Jones") == "misess jones"  # mrs runs before mr
    assert english_cleaners("No. 5, ca. 1900, e.g. 3 p.m.") == ("no. five, ca. nineteen hundred, e.g. three p.m.")
    assert expand_abbreviations("first.") == "first."  # needs a word boundary before "st"


def test_whitespace_collapsed_not_stripped():
    assert english_cleaners("  Leading and\t trailing  ") == " leading and trailing "
    assert english_cleaners("hello\n") == "hello "
    assert basic_cleaners("A\n\nB  ") == "a b "


def test_order_transliterate_then_lower_then_numbers():
    # "Ü" becomes "Ue" before lower-casing; "€" becomes "E", then digits are read.
    assert english_cleaners("ÜBER €5") == "ueber efive"


def test_basic_cleaners_keep_digits_and_non_ascii():
    assert basic_cleaners("Café 42 Mr. X") == "café 42 mr. x"


def test_transliteration_cleaners_no_numbers_or_abbreviations():
    assert transliteration_cleaners("Café  42 Mr. X") == "cafe 42 mr. x"


def test_registry_finds_cleaners_by_name():
    assert set(CLEANERS) == {"basic_cleaners", "english_cleaners", "transliteration_cleaners"}
    assert get_cleaner("english_cleaners") is english_cleaners
    assert get_cleaner("basic_cleaners") is basic_cleaners


def test_unknown_cleaner_names_it_and_lists_known():
    with pytest.raises(
        ConfigError,
        match=r"'german_cleaners'.*basic_cleaners, english_cleaners, "
        r"transliteration_cleaners",
    ):
        get_cleaner("german_cleaners")
