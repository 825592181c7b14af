"""Splitting long text into pieces that fit max_decoder_steps (tacoglow.inference.text_split)."""
from __future__ import annotations

import pytest

from tacoglow.errors import ConfigError
from tacoglow.inference.text_split import (CLAUSE_PAUSE_S, SENTENCE_PAUSE_S, WORD_PAUSE_S, max_chars_for_steps,
                                           split_text)
from tacoglow.text import text_to_sequence

SENTENCES = [
    "The forms of printed letters should be beautiful, and their arrangement on the page reasonable.",
    "Mr. Brown arrived at 10 o'clock on March 3rd, 1862, with Dr. Jones and J. R. Smith.",
    "It cost $3.50, which was, as everyone agreed, far too much; still, they paid it.",
    "What happened next?",
    "Nobody knows!",
    "A very long sentence follows here that keeps going with many clauses, one after another, "
    "each adding a little more detail about the printing press, the paper, the ink, the binding, "
    "the type founders, the compositors, the pressmen and the booksellers who sold the result.",
    "Then a run-on without any punctuation at all that simply goes on and on about nothing in "
    "particular while the reader waits patiently for a pause that never comes until the very end",
]


def _paragraph(min_chars: int = 2000) -> str:
    text, i = "", 0
    while len(text) < min_chars:
        text = (text + " " + SENTENCES[i % len(SENTENCES)]).strip()
        i += 1
    return text


def _ids_len(piece: str) -> int:
    return len(text_to_sequence(piece))


def test_budget_follows_speaking_rate():
    # 2000 steps * 256 / 22050 = 23.2 s; * 12 chars/s * 0.8 safety = 222.9
    assert max_chars_for_steps(2000, 22050, 256) == 222
    assert max_chars_for_steps(1000, 22050, 256) == 111
    with pytest.raises(ConfigError, match="max_decoder_steps=5: too few steps"):
        max_chars_for_steps(5, 22050, 256)


def test_text_within_budget_is_one_piece():
    [piece] = split_text("  Hello there. How are you?  ", max_chars=100)
    assert piece.text == "Hello there. How are you?" and piece.pause_after_s == 0.0
    assert split_text("   ", max_chars=10) == []
    with pytest.raises(ConfigError, match="max_chars"):
        split_text("hi", max_chars=0)


def test_2000_character_paragraph_splits_into_fitting_pieces_in_order():
    paragraph = _paragraph()
    assert len(paragraph) >= 2000
    budget = max_chars_for_steps(1000, 22050, 256)
    pieces = split_text(paragraph, budget, length=_ids_len)
    assert all(_ids_len(p.text) <= budget for p in pieces)
    # every word kept, in reading order, nothing invented
    assert " ".join(p.text for p in pieces).split() == paragraph.split()
    assert len(pieces) >= len(paragraph) // budget
    assert pieces[-1].pause_after_s == 0.0
    assert {p.pause_after_s for p in pieces[:-1]} <= {SENTENCE_PAUSE_S, CLAUSE_PAUSE_S, WORD_PAUSE_S}
    # sentences that fit stay whole
    texts = [p.text for p in pieces]
    assert "What happened next?" in texts and "Nobody knows!" in texts
    # the long comma-rich sentence is cut at commas, the run-on between words
    assert any(t.endswith(",") for t in texts)
    assert any(p.pause_after_s == WORD_PAUSE_S for p in pieces)


def test_no_split_after_abbreviations_or_initials():
    text = "Mr. Brown met Dr. Jones and J. R. Smith in St. Louis. They talked."
    pieces = split_text(text, max_chars=60)
    assert [p.text for p in pieces] == ["Mr. Brown met Dr. Jones and J. R. Smith in St. Louis.", "They talked."]
    assert pieces[0].pause_after_s == SENTENCE_PAUSE_S


def test_length_measures_cleaned_text():
    # "1862" is spoken as "eighteen sixty-two": by characters it fits, by spoken symbols it does not
    text = "In 1862, 1863 and 1864."
    assert len(text) <= 24
    assert len(split_text(text, 24)) == 1
    pieces = split_text(text, 24, length=_ids_len)
    assert len(pieces) > 1 and all(_ids_len(p.text) <= 24 for p in pieces)


def test_word_longer_than_budget_is_cut():
    pieces = split_text("a" * 25, max_chars=10)
    assert [p.text for p in pieces] == ["a" * 10, "a" * 10, "a" * 5]
