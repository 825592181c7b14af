"""Sentence and clause boundaries, and splitting text into pieces that fit a length budget.

The package's one sentence splitter: :mod:`tacoglow.inference` splits long input so that each
piece fits Tacotron 2's ``max_decoder_steps`` (:func:`split_text`), and :mod:`tacoglow.data.corpus`
cuts long sentences into clauses (:func:`split_fragments`). Both read boundaries the same way:

- a **sentence** ends at ``.``, ``!``, ``?`` or ``…`` (closing quotes and brackets included)
  followed by whitespace, except a period after one of :data:`ABBREVIATIONS` ("Mr.") or after
  a single letter ("J. R. Smith");
- a **clause** ends at ``,``, ``;`` or ``:`` (closing quotes and brackets included) followed by
  whitespace, and at a dash standing between spaces (``a - b``, ``a – b``, ``a — b``) or an em
  dash followed by a space. "1,000" and "$3.50" hold no boundary.

Every function here takes time linear in the length of the text: a boundary is found by one
regex scan, an abbreviation by looking back a bounded number of characters, and a word longer
than the budget is cut by measuring prefixes of growing, then halving, length (measuring is the
expensive part: ``length`` usually runs the text frontend).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tacoglow.errors import ConfigError

__all__ = [
    "ABBREVIATIONS",
    "CHARS_PER_SECOND",
    "CLAUSE_PAUSE_S",
    "SENTENCE_PAUSE_S",
    "WORD_PAUSE_S",
    "Boundary",
    "TextPiece",
    "boundaries",
    "max_chars_for_steps",
    "split_fragments",
    "split_sentences",
    "split_text",
]

ABBREVIATIONS = frozenset(
    # english_cleaners expands these (NVIDIA's list, tacoglow.text.cleaners) ...
    "mrs mr dr drs st co jr maj gen rev lt hon sgt capt esq ltd col ft "
    # ... and these are read as written, but end no sentence either.
    "ms sr prof vs etc no fig mt inc corp dept est approx "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
"""Words (lower case, without the period) whose trailing period ends no sentence."""
_LONGEST_ABBREVIATION = max(len(word) for word in ABBREVIATIONS)

SENTENCE_PAUSE_S = 0.3
"""Silence after a piece that ends a sentence, in seconds."""
CLAUSE_PAUSE_S = 0.15
"""Silence after a piece that ends at clause punctuation."""
WORD_PAUSE_S = 0.05
"""Silence after a piece cut between words (a clause too long for the budget)."""

_CLOSERS = "\"'\u201d\u2019)\\]"
# Punctuation (with closing quotes/brackets) or a spaced dash, followed by whitespace (not consumed).
_BOUNDARY = re.compile(
    rf"(?P<mark>[.!?\u2026,;:]+)[{_CLOSERS}]*(?=\s)"
    r"|(?<=\s)[-\u2013\u2014]+(?=\s)"
    r"|\u2014(?=\s)"
)
_SENTENCE_MARKS = frozenset(".!?\u2026")
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

Kind = Literal["sentence", "clause"]


@dataclass(frozen=True)
class Boundary:
    """Where a sentence or clause ends: ``text[:end]`` holds it, punctuation included."""

    end: int
    kind: Kind


@dataclass(frozen=True)
class TextPiece:
    """One piece of a split text.

    Attributes:
        text: the piece, stripped of surrounding whitespace.
        pause_after_s: silence to insert after it when joining audio (0 for the last piece).
    """

    text: str
    pause_after_s: float


def _abbreviated(text: str, period: int) -> bool:
    """Whether the period at ``text[period]`` closes an abbreviation or a single initial.

    Looks back at most ``_LONGEST_ABBREVIATION + 1`` characters, so a long word costs nothing extra.
    """
    start = period
    limit = max(0, period - _LONGEST_ABBREVIATION - 1)
    while start > limit and text[start - 1] in _ASCII_LETTERS:
        start -= 1
    if start == period or (start > 0 and text[start - 1] in _ASCII_LETTERS):
        return False  # no letters before the period, or a word longer than any abbreviation
    word = text[start:period]
    return len(word) == 1 or word.lower() in ABBREVIATIONS


def boundaries(text: str) -> list[Boundary]:
    """Ends of the sentences and clauses of ``text``, in order (see the module docstring).

    >>> [(b.end, b.kind) for b in boundaries("Mr. Brown came, sat - and left. Bye")]
    [(15, 'clause'), (20, 'clause'), (31, 'sentence')]
    """
    found: list[Boundary] = []
    for match in _BOUNDARY.finditer(text):
        mark = match.group("mark")
        if mark is None:
            found.append(Boundary(match.end(), "clause"))
        elif mark == "." and _abbreviated(text, match.start()):
            continue
        else:
            found.append(Boundary(match.end(), "sentence" if mark[-1] in _SENTENCE_MARKS else "clause"))
    return found


def _cut(text: str, ends: list[int]) -> list[str]:
    """``text`` cut at ``ends``, each part stripped, empty parts dropped."""
    bounds = [0, *ends, len(text)]
    parts = (text[a:b].strip() for a, b in itertools.pairwise(bounds))
    return [part for part in parts if part]


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, punctuation kept.

    >>> split_sentences("Dr. Smith left. J. R. Smith stayed! Why?")
    ['Dr. Smith left.', 'J. R. Smith stayed!', 'Why?']
    """
    return _cut(text, [b.end for b in boundaries(text) if b.kind == "sentence"])


def split_fragments(text: str) -> list[str]:
    """``text`` cut after every sentence and clause boundary.

    >>> split_fragments("It rained, and the river rose; we left at dawn. Mr. Smith stayed.")
    ['It rained,', 'and the river rose;', 'we left at dawn.', 'Mr. Smith stayed.']
    """
    return _cut(text, [b.end for b in boundaries(text)])


def _pack_exactly(parts: list[str], fits: Callable[[str], bool]) -> list[str]:
    """Join consecutive ``parts`` with spaces into as few strings as ``fits`` allows (greedy)."""
    packed: list[str] = []
    for part in parts:
        if packed and fits(packed[-1] + " " + part):
            packed[-1] = packed[-1] + " " + part
        else:
            packed.append(part)
    return packed


def _pack(parts: list[str], sizes: list[int], max_length: int, length: Callable[[str], int]) -> list[str]:
    """:func:`_pack_exactly` in linear time.

    Each part is measured once (``sizes``) and a joined piece is taken to measure the sum of its
    parts plus one per joining space, which holds for the text frontends (they work word by
    word). Each packed piece is then measured once to make sure; where the sum was wrong (a brace
    group of phones cut between words, say), its parts are packed again exactly.
    """
    groups: list[list[int]] = []
    total = 0
    for index, size in enumerate(sizes):
        if groups and total + 1 + size <= max_length:
            groups[-1].append(index)
            total += 1 + size
        else:
            groups.append([index])
            total = size
    packed: list[str] = []
    for group in groups:
        joined = " ".join(parts[i] for i in group)
        if len(group) == 1 or length(joined) <= max_length:
            packed.append(joined)
        else:
            packed.extend(_pack_exactly([parts[i] for i in group], lambda piece: length(piece) <= max_length))
    return packed


def _cut_word(word: str, max_length: int, length: Callable[[str], int]) -> list[str]:
    """A word longer than the budget, cut into long prefixes that fit (at least one character each).

    The length of each piece is found by doubling a prefix until it does not fit, then halving
    the gap: O(L log L) characters measured for a piece of L characters, instead of trying every
    length from the whole word down (which measured O(n²) characters for a word of n).
    """
    pieces: list[str] = []
    start = 0
    while start < len(word):
        rest = len(word) - start
        good, bad = 1, 2  # good: a prefix length accepted; bad: one known not to fit (or past the end)
        while bad <= rest and length(word[start : start + bad]) <= max_length:
            good, bad = bad, bad * 2
        bad = min(bad, rest + 1)
        while bad - good > 1:
            middle = (good + bad) // 2
            if length(word[start : start + middle]) <= max_length:
                good = middle
            else:
                bad = middle
        pieces.append(word[start : start + good])
        start += good
    return pieces


def _memoized(length: Callable[[str], int]) -> Callable[[str], int]:
    """``length`` remembering its answers: words repeat (the, and, of), and each call of a text
    frontend costs ~0.1 ms however short the piece."""
    known: dict[str, int] = {}

    def measure(piece: str) -> int:
        size = known.get(piece)
        if size is None:
            size = known[piece] = length(piece)
        return size

    return measure


def split_text(text: str, max_length: int, length: Callable[[str], int] = len) -> list[TextPiece]:
    """Split ``text`` into pieces of at most ``max_length`` by ``length``, in reading order.

    In this order of preference: the whole text; its sentences; a sentence still too long, its
    clauses, consecutive ones packed greedily while they fit; a clause still too long, its words,
    packed the same way; a word still too long, cut (see :func:`_cut_word`). Each piece carries
    the pause that follows it when audio is joined: longer after a sentence than after a clause.

    Args:
        text: raw input text (any length).
        max_length: budget per piece, >= 1.
        length: how a piece is measured; pass the length of its symbol ids
            (``len(text_to_sequence(piece))``) so numbers and abbreviations count as spoken.

    Returns:
        The pieces; a text within the budget comes back whole (stripped) as one piece. The last
        piece's pause is 0.

    Raises:
        ConfigError: ``max_length`` < 1.

    >>> [p.text for p in split_text("One. Two, three four.", max_length=10)]
    ['One.', 'Two,', 'three', 'four.']
    >>> [p.text for p in split_text("Dr. Smith left. Bye.", max_length=16)]
    ['Dr. Smith left.', 'Bye.']
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ConfigError(f"split_text max_length: expected an integer >= 1, found {max_length!r}")
    text = text.strip()
    measure = _memoized(length)

    def fits(piece: str) -> bool:
        return measure(piece) <= max_length

    if fits(text):
        return [TextPiece(text, 0.0)] if text else []
    pieces: list[TextPiece] = []
    for sentence in split_sentences(text):
        if fits(sentence):
            pieces.append(TextPiece(sentence, SENTENCE_PAUSE_S))
            continue
        clause_parts = _cut(sentence, [b.end for b in boundaries(sentence)])
        clauses = _pack(clause_parts, [measure(c) for c in clause_parts], max_length, measure)
        for c, clause in enumerate(clauses):
            clause_pause = SENTENCE_PAUSE_S if c == len(clauses) - 1 else CLAUSE_PAUSE_S
            if fits(clause):
                pieces.append(TextPiece(clause, clause_pause))
                continue
            words: list[str] = []
            sizes: list[int] = []
            for word in clause.split():
                size = measure(word)
                if size <= max_length:
                    words.append(word)
                    sizes.append(size)
                else:
                    cut = _cut_word(word, max_length, measure)
                    words.extend(cut)
                    sizes.extend(measure(w) for w in cut)
            chunks = _pack(words, sizes, max_length, measure)
            for w, chunk in enumerate(chunks):
                pieces.append(TextPiece(chunk, clause_pause if w == len(chunks) - 1 else WORD_PAUSE_S))
    last = pieces[-1]
    pieces[-1] = TextPiece(last.text, 0.0)
    return pieces


CHARS_PER_SECOND = 12.0
"""Typical speaking rate of the LJ Speech voices, in characters of cleaned text per second."""
STEP_BUDGET_SHARE = 0.8
"""Fraction of ``max_decoder_steps`` a piece may use at the typical rate: slow speech must fit too."""


def max_chars_for_steps(
    max_decoder_steps: int, sampling_rate: int, hop_length: int, chars_per_second: float = CHARS_PER_SECOND
) -> int:
    """Characters of cleaned text that fit ``max_decoder_steps`` at the typical speaking rate.

    Tacotron 2 decodes one mel frame per step and stops at ``max_decoder_steps`` whatever the text
    length; speech runs at about 12 characters per second (86 mel frames per second at 22,050 Hz
    and hop 256), so a budget of decoder steps is a budget of characters:
    ``floor(max_decoder_steps · hop_length / sampling_rate · chars_per_second · STEP_BUDGET_SHARE)``,
    e.g. 222 for 2000 steps at 22,050 Hz and hop 256.

    Raises:
        ConfigError: if the budget is below one character.
    """
    seconds = max_decoder_steps * hop_length / sampling_rate
    chars = math.floor(seconds * chars_per_second * STEP_BUDGET_SHARE)
    if chars < 1:
        raise ConfigError(
            f"max_decoder_steps={max_decoder_steps}: too few steps for even one character "
            f"of speech ({seconds:.3f} s at {chars_per_second:g} characters per second)"
        )
    return chars
