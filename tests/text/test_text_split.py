"""The package's one sentence splitter (tacoglow.text.split): boundaries, and long text cut into
pieces that fit a budget, in time linear in the text's length."""

from __future__ import annotations

import random
import time

import pytest

from tacoglow.errors import ConfigError
from tacoglow.text import TextFrontend, text_to_sequence
from tacoglow.text.split import (
    ABBREVIATIONS,
    CLAUSE_PAUSE_S,
    SENTENCE_PAUSE_S,
    WORD_PAUSE_S,
    boundaries,
    split_fragments,
    split_sentences,
    split_text,
)

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


def test_text_within_budget_is_one_piece():
    [piece] = split_text("  Hello there. How are you?  ", max_length=100)
    assert piece.text == "Hello there. How are you?" and piece.pause_after_s == 0.0
    assert split_text("   ", max_length=10) == []
    with pytest.raises(ConfigError, match="max_length: expected an integer >= 1, found 0"):
        split_text("hi", max_length=0)


def test_2000_character_paragraph_splits_into_fitting_pieces_in_order():
    paragraph = _paragraph()
    assert len(paragraph) >= 2000
    budget = 111  # what 1000 decoder steps hold (tests/inference/test_synth_text_stage.py)
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
    pieces = split_text(text, max_length=60)
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
    pieces = split_text("a" * 25, max_length=10)
    assert [p.text for p in pieces] == ["a" * 10, "a" * 10, "a" * 5]


def test_boundaries_read_sentences_and_clauses():
    text = 'He said "stop." Then - after a pause - "Why?" she asked; it was 1,000.50 dollars, at 7:30 \u2014 late\u2026 Done'
    assert [text[: b.end].rsplit(" ", 1)[-1] + "|" + b.kind for b in boundaries(text)] == [
        '"stop."|sentence',
        "-|clause",
        "-|clause",
        '"Why?"|sentence',
        "asked;|clause",
        "dollars,|clause",
        "\u2014|clause",
        "late\u2026|sentence",
    ]
    assert split_sentences("Dr. Smith met J. R. Ewing. Prof. Plum left! Why? ") == [
        "Dr. Smith met J. R. Ewing.",
        "Prof. Plum left!",
        "Why?",
    ]
    # a word ending in an abbreviation is not one ("Jr." ends no sentence, "Ajr." does)
    assert split_sentences("Sammy Davis Jr. sang. Ajr. Next.") == ["Sammy Davis Jr. sang.", "Ajr.", "Next."]


def test_one_abbreviation_list_covers_the_cleaners_and_serves_corpus_and_inference():
    from tacoglow.data import split_clauses
    from tacoglow.text.cleaners import _ABBREVIATIONS as CLEANER_ABBREVIATIONS

    # every abbreviation english_cleaners expands keeps its period inside the sentence
    assert {pattern.pattern[2:-2] for pattern, _ in CLEANER_ABBREVIATIONS} <= ABBREVIATIONS
    text = "Prof. Plum met Capt. Hook, and they left."
    assert split_fragments(text) == ["Prof. Plum met Capt. Hook,", "and they left."]
    assert split_clauses(text, max_chars=30, min_chars=5) == split_fragments(text)
    assert [p.text for p in split_text(text, max_length=30)] == split_fragments(text)


def _measuring(length):
    """``length`` that also counts the characters it was given (the splitter's cost)."""
    measured = [0]

    def counted(piece: str) -> int:
        measured[0] += len(piece)
        return length(piece)

    return counted, measured


def test_a_20000_character_word_is_cut_in_linear_time():
    """Issue 21.4: cutting a word tried every prefix from the whole word down, O(n²) frontend
    calls (a 2,000-character word took 64 s, 5,000 characters 25 minutes)."""
    text_to_sequence("warm up 1")  # loads inflect (seconds) outside the timed part
    word = "".join(random.Random(0).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(20_000))
    length, measured = _measuring(_ids_len)
    start = time.perf_counter()
    pieces = split_text(word, 222, length=length)
    seconds = time.perf_counter() - start
    # letters map to one symbol each: the longest prefixes that fit are 222 characters long
    assert [p.text for p in pieces] == [word[i : i + 222] for i in range(0, len(word), 222)]
    assert {p.pause_after_s for p in pieces[:-1]} == {WORD_PAUSE_S} and pieces[-1].pause_after_s == 0.0
    # Linear: the characters run through the frontend are a bounded multiple of the text's
    # (about 14x: the whole, then ~2x per piece doubling and ~8x halving to its length).
    assert measured[0] <= 20 * len(word)
    # The one timed assertion (issue 21 asks for "well under a second"): measured 0.3 s on a
    # shared 2-core machine; 2 s leaves room for a slow CI runner, the old code took hours.
    assert seconds < 2.0


def test_a_megabyte_of_text_splits_in_linear_time():
    text_to_sequence("warm up 1")
    rng = random.Random(1)
    sentences = SENTENCES + [" ".join(rng.choice(["alpha", "beta", "and", "the"]) for _ in range(300)) + "."]
    text = " ".join(rng.choice(sentences) for _ in range(10_000))
    text = text[: text.index(" ", 1_000_000)]
    assert len(text) >= 1_000_000
    length, measured = _measuring(_ids_len)
    pieces = split_text(text, 222, length=length)
    assert " ".join(p.text for p in pieces).split() == text.split()
    assert all(_ids_len(p.text) <= 222 for p in pieces)
    assert measured[0] <= 20 * len(text)


def test_phone_frontend_measures_a_long_text_in_linear_time():
    """With the ARPAbet frontend every word is a {...} group; text_to_sequence used to copy the
    rest of the text after each group (quadratic: 310 s for 1 MB)."""
    frontend = TextFrontend(arpabet=True)
    text = " ".join(["The quick brown fox, tired of jumping, sat down by the river and thought about it."] * 1000)
    length, measured = _measuring(lambda piece: len(frontend.to_sequence(piece)))
    pieces = split_text(text, 222, length=length)
    assert " ".join(p.text for p in pieces).split() == text.split()
    assert all(len(frontend.to_sequence(p.text)) <= 222 for p in pieces)
    assert measured[0] <= 20 * len(text)


def test_pieces_whose_lengths_do_not_add_up_are_packed_exactly():
    """Packing assumes a joined piece measures the sum of its words plus one per space; where a
    frontend disagrees (here: "x" counts 5 only next to another word) the piece is re-packed so
    that it still fits."""

    def length(piece: str) -> int:
        words = piece.split()
        return len(piece) + (4 * piece.count("x") if len(words) > 1 else 0)

    text = "a x b x c x d x e x f x g"  # 25 characters, over the budget of 12
    pieces = split_text(text, 12, length=length)
    assert all(length(p.text) <= 12 for p in pieces)
    assert " ".join(p.text for p in pieces) == text
