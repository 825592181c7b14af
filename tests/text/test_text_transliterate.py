"""Transliteration to ASCII: reference spot checks, golden non-ASCII sentences, drops."""

from __future__ import annotations

import logging

import pytest
import torch

from tacoglow.text import english_cleaners
from tacoglow.text.transliterate import transliterate

SPOT_CHECKS = [
    ("é", "e"),
    ("ß", "ss"),
    ("Ä", "Ae"),
    ("ä", "ae"),
    ("Ö", "Oe"),
    ("ö", "oe"),
    ("Ü", "Ue"),
    ("ü", "ue"),
    ("ø", "o"),
    ("€", "E"),
    ("¥", "Y"),
    ("\u2019", "'"),
    ("\u2018", "'"),
    ("\u201c", '"'),
    ("\u201d", '"'),
    ("\u2013", "-"),
    ("\u00a0", " "),
    ("×", "x"),
    ("Ł", "L"),
    ("ñ", "n"),
    ("ç", "c"),
    ("ь", ""),
    ("Ъ", ""),
]
DROPPED = ["£", "\u2014", "…", "©", "°", "½", "¼", "™", "§", "•", "Œ", "日", "本", "語", "😀", "\x7f"]


@pytest.mark.parametrize(("char", "expected"), SPOT_CHECKS)
def test_spot_checks(char, expected):
    assert transliterate(f"a{char}b") == f"a{expected}b"


@pytest.mark.parametrize("char", DROPPED)
def test_dropped(char):
    assert transliterate(f"a{char}b") == "ab"


def test_ascii_passes_unchanged():
    text = "".join(chr(c) for c in range(127))
    assert transliterate(text) == text


def test_scripts():
    assert transliterate("Ελληνικά Русский Łódź") == "Ellinika Russkiy Lodz"


def test_drop_is_logged_once_per_call(caplog):
    with caplog.at_level(logging.WARNING, logger="tacoglow.text.transliterate"):
        assert transliterate("x😀y😀") == "xy"
    assert len(caplog.records) == 1
    assert "U+1F600" in caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tacoglow.text.transliterate"):
        transliterate("Café ь")  # mapped (to "" for ь): nothing is lost unannounced
    assert caplog.records == []


def test_golden_non_ascii_sentences(golden_dir):
    gold = torch.load(golden_dir / "text.pt", weights_only=True)
    rows = [(s, c) for s, c in zip(gold["sentences"], gold["cleaned"]) if not s.isascii()]
    assert len(rows) >= 12
    for sentence, cleaned in rows:
        assert english_cleaners(sentence) == cleaned, sentence
