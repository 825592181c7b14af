"""Text cleaners (``str -> str``) and the registry that finds them by name.

``english_cleaners`` is the one NVIDIA's checkpoints were trained with; it runs, in this order:

1. transliteration to ASCII (:func:`tacoglow.text.transliterate.transliterate`);
2. lower-casing (``str.lower``);
3. number normalization (:func:`tacoglow.text.numbers.normalize_numbers`);
4. abbreviation expansion (``Mr.`` -> ``mister``; the period is required and consumed);
5. whitespace collapsing: each run of whitespace becomes one space, **without stripping**, so a
   trailing newline becomes a trailing space (symbol id 11), as in the reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from tacoglow.errors import ConfigError
from tacoglow.text.numbers import normalize_numbers
from tacoglow.text.transliterate import transliterate

__all__ = [
    "CLEANERS",
    "basic_cleaners",
    "collapse_whitespace",
    "english_cleaners",
    "expand_abbreviations",
    "get_cleaner",
    "transliteration_cleaners",
]

Cleaner = Callable[[str], str]

_WHITESPACE = re.compile(r"\s+")

# The reference's complete list, in its order: "mrs" must precede "mr" ("mrs." would otherwise
# become "misters."), and "drs" is not caught by "dr" because the period must follow directly.
_ABBREVIATIONS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(rf"\b{abbreviation}\.", re.IGNORECASE), expansion)
    for abbreviation, expansion in (
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
    )
)


def expand_abbreviations(text: str) -> str:
    """Expand the 18 abbreviations of the reference (``St.`` is always ``saint``).

    >>> expand_abbreviations("mrs. smith met dr.who on main st.")
    'misess smith met doctorwho on main saint'
    """
    for pattern, expansion in _ABBREVIATIONS:
        text = pattern.sub(expansion, text)
    return text


def collapse_whitespace(text: str) -> str:
    """Replace every run of whitespace by one space; leading/trailing space is kept, not stripped."""
    return _WHITESPACE.sub(" ", text)


def basic_cleaners(text: str) -> str:
    """Lower-case and collapse whitespace; no transliteration (non-ASCII is dropped at id mapping)."""
    return collapse_whitespace(text.lower())


def transliteration_cleaners(text: str) -> str:
    """Transliterate to ASCII, lower-case and collapse whitespace (for non-English text)."""
    return collapse_whitespace(transliterate(text).lower())


def english_cleaners(text: str) -> str:
    """The cleaners of NVIDIA's English checkpoints: ASCII, lower case, numbers, abbreviations.

    >>> english_cleaners("Dr. Smith paid $3.50 on the 2nd of May, 1999.\\n")
    'doctor smith paid three dollars, fifty cents on the second of may, nineteen ninety-nine. '
    """
    text = transliterate(text).lower()
    text = normalize_numbers(text)
    text = expand_abbreviations(text)
    return collapse_whitespace(text)


CLEANERS: Final[Mapping[str, Cleaner]] = MappingProxyType(
    {
        "basic_cleaners": basic_cleaners,
        "english_cleaners": english_cleaners,
        "transliteration_cleaners": transliteration_cleaners,
    }
)


def get_cleaner(name: str) -> Cleaner:
    """The cleaner registered as ``name``.

    Raises:
        ConfigError: ``name`` is not one of :data:`CLEANERS`.
    """
    try:
        return CLEANERS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"text cleaner {name!r}: expected one of {', '.join(sorted(CLEANERS))}, found no cleaner by that name"
        ) from None
