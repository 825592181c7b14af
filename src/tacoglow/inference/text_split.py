"""Splitting long text into pieces a Tacotron 2 decoder can finish within ``max_decoder_steps``.

Tacotron 2 decodes one mel frame per step and stops at ``max_decoder_steps`` whatever the text
length, so a paragraph given in one go is cut off (or its attention drifts long before that).
Speech runs at about 12 characters per second (of cleaned text: numbers and abbreviations
spelled out), i.e. 86 mel frames per second at 22,050 Hz and hop 256, so a budget of decoder
steps is a budget of characters.

Text that fits the budget is left whole. Longer text is split, in this order of preference:

1. into sentences (after ``.``, ``!``, ``?``, ``…`` followed by space; not after common
   abbreviations such as "Mr." or single initials such as "J.");
2. a sentence still too long, at clause punctuation (``,``, ``;``, ``:``, dashes), packing
   consecutive clauses greedily while they fit;
3. a clause still too long, between words; a single word longer than the budget is cut.

Each piece carries the pause that follows it when the audio is joined: longer after a sentence
than after a clause.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from tacoglow.errors import ConfigError

__all__ = [
    "CHARS_PER_SECOND",
    "SENTENCE_PAUSE_S",
    "CLAUSE_PAUSE_S",
    "WORD_PAUSE_S",
    "TextPiece",
    "max_chars_for_steps",
    "split_text",
]

CHARS_PER_SECOND = 12.0
"""Typical speaking rate of the LJ Speech voices, in characters of cleaned text per second."""
SAFETY = 0.8
"""Fraction of ``max_decoder_steps`` a piece may use at the typical rate: slow speech must fit too."""
SENTENCE_PAUSE_S = 0.3
"""Silence after a piece that ends a sentence, in seconds."""
CLAUSE_PAUSE_S = 0.15
"""Silence after a piece that ends at clause punctuation."""
WORD_PAUSE_S = 0.05
"""Silence after a piece cut between words (a clause too long for the budget)."""

# Words whose trailing period does not end a sentence (lower case, without the period).
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof gen col lt sgt capt maj rev hon esq ltd co ft vs etc no fig "
    "mt jan feb mar apr jun jul aug sep sept oct nov dec inc corp dept est approx".split()
)
# A sentence end: terminal punctuation (and closing quotes/brackets) followed by whitespace.
_SENTENCE_END = re.compile(r"""([.!?\u2026]+["'\u201d\u2019)\]]*)\s+""")
# A clause end: clause punctuation (or a spaced dash / em dash) followed by whitespace.
_CLAUSE_END = re.compile(r"""([,;:]["'\u201d\u2019)\]]*|\s[-\u2013\u2014]+|\u2014)\s+""")
_LAST_WORD = re.compile(r"""([A-Za-z]+)\.["'\u201d\u2019)\]]*$""")


@dataclass(frozen=True)
class TextPiece:
    """One piece of a split text.

    Attributes:
        text: the piece, stripped of surrounding whitespace.
        pause_after_s: silence to insert after it when joining audio (0 for the last piece).
    """

    text: str
    pause_after_s: float


def max_chars_for_steps(max_decoder_steps: int, sampling_rate: int, hop_length: int,
                        chars_per_second: float = CHARS_PER_SECOND) -> int:
    """Characters of cleaned text that fit ``max_decoder_steps`` at the typical speaking rate.

    ``floor(max_decoder_steps · hop_length / sampling_rate · chars_per_second · SAFETY)``,
    e.g. 222 for 2000 steps at 22,050 Hz and hop 256.

    Raises:
        ConfigError: if the budget is below one character.
    """
    seconds = max_decoder_steps * hop_length / sampling_rate
    chars = math.floor(seconds * chars_per_second * SAFETY)
    if chars < 1:
        raise ConfigError(f"max_decoder_steps={max_decoder_steps}: too few steps for even one character "
                          f"of speech ({seconds:.3f} s at {chars_per_second:g} characters per second)")
    return chars


def _split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (punctuation kept), not split after abbreviations or initials."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start:match.end(1)]
        if match.group(1).startswith("."):
            word = _LAST_WORD.search(candidate)
            if word and (word.group(1).lower() in _ABBREVIATIONS or len(word.group(1)) == 1):
                continue
        sentences.append(candidate.strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def _split_at(pattern: re.Pattern[str], text: str) -> list[str]:
    """``text`` cut after every match of ``pattern``'s first group (kept with the left part)."""
    parts: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        parts.append(text[start:match.end(1)].strip())
        start = match.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _pack(parts: list[str], fits: Callable[[str], bool]) -> list[str]:
    """Join consecutive ``parts`` with spaces into as few strings as ``fits`` allows (greedy)."""
    packed: list[str] = []
    for part in parts:
        if packed and fits(packed[-1] + " " + part):
            packed[-1] = packed[-1] + " " + part
        else:
            packed.append(part)
    return packed


def _cut_word(word: str, fits: Callable[[str], bool]) -> list[str]:
    """A single word longer than the budget, cut into the longest prefixes that fit."""
    pieces: list[str] = []
    while word:
        end = len(word)
        while end > 1 and not fits(word[:end]):
            end -= 1
        pieces.append(word[:end])
        word = word[end:]
    return pieces


def split_text(text: str, max_chars: int, length: Callable[[str], int] = len) -> list[TextPiece]:
    """Split ``text`` into pieces of at most ``max_chars`` by ``length``, in reading order.

    Args:
        text: raw input text (any length).
        max_chars: budget per piece, e.g. from :func:`max_chars_for_steps`.
        length: how a piece is measured; pass the length of its symbol ids
            (``len(text_to_sequence(piece))``) so numbers and abbreviations count as spoken.

    Returns:
        The pieces; a text within the budget comes back whole (stripped) as one piece. The last
        piece's pause is 0.

    >>> [p.text for p in split_text("One. Two, three four.", max_chars=10)]
    ['One.', 'Two,', 'three', 'four.']
    >>> [p.text for p in split_text("Dr. Smith left. Bye.", max_chars=16)]
    ['Dr. Smith left.', 'Bye.']
    """
    if max_chars < 1:
        raise ConfigError(f"split_text max_chars: expected >= 1, found {max_chars}")
    text = text.strip()
    def fits(piece: str) -> bool:
        return length(piece) <= max_chars

    if fits(text):
        return [TextPiece(text, 0.0)] if text else []
    pieces: list[TextPiece] = []
    for sentence in _split_sentences(text):
        if fits(sentence):
            pieces.append(TextPiece(sentence, SENTENCE_PAUSE_S))
            continue
        clauses = _pack(_split_at(_CLAUSE_END, sentence), fits)
        for c, clause in enumerate(clauses):
            clause_pause = SENTENCE_PAUSE_S if c == len(clauses) - 1 else CLAUSE_PAUSE_S
            if fits(clause):
                pieces.append(TextPiece(clause, clause_pause))
                continue
            words = [w for word in clause.split() for w in (_cut_word(word, fits) if not fits(word) else [word])]
            chunks = _pack(words, fits)
            for w, chunk in enumerate(chunks):
                pieces.append(TextPiece(chunk, clause_pause if w == len(chunks) - 1 else WORD_PAUSE_S))
    last = pieces[-1]
    pieces[-1] = TextPiece(last.text, 0.0)
    return pieces
