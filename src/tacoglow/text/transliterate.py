"""To-ASCII transliteration, the first step of ``english_cleaners``.

NVIDIA's reference maps every code point >= 127 through its own 2602-entry table (ports of
sindresorhus/transliterate's replacements and codebox/homoglyph's look-alikes) and drops, with a
warning, every character the table lacks. tacoglow does not ship that table. It reproduces the
reference's behaviour for *common* text (accented Latin letters, German umlauts, Greek,
Cyrillic, curly quotes, dashes, spaces, the usual currency and typographic symbols, CJK and emoji)
from three parts:

1. Code points below 127 pass through unchanged, as in the reference (TAB and newline included;
   whitespace is collapsed later by the cleaners). DEL (127) is dropped.
2. ``_OVERRIDES``: a small table of characters where the library below disagrees with the
   reference, each checked against the reference (ARCHITECTURE_FACTS.md section 1.5 spot checks
   and the golden ``text.pt`` sentences). A value of ``""`` means "removed silently" (the reference
   table maps these to the empty string); ``_DROPPED`` lists characters the reference has no entry
   for, which are removed with a warning.
3. Everything else goes through the maintained `anyascii <https://pypi.org/project/anyascii/>`_
   library, chosen over Unidecode because it matches the reference on Greek and Cyrillic
   (``Ελληνικά`` -> ``Ellinika``, ``Русский`` -> ``Russkiy``; Unidecode gives ``Ellenika`` and
   ``Russkii``), limited to the kinds of character the reference's table covers: letters, marks,
   decimal digits, spaces and punctuation. Symbols (``©``, ``°``, ``™``, emoji), other numerals
   (``½``, ``²``) and format/control characters are dropped, as are CJK ideographs, kana and
   Hangul letters (the reference has no table for them; anyascii would romanise them).

Characters outside the golden sentences and the spot checks (rare scripts, exotic punctuation)
may transliterate differently from the reference; ASCII text is never affected.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Final

from anyascii import anyascii

__all__ = ["transliterate"]

logger = logging.getLogger(__name__)

# Where anyascii disagrees with the reference on common characters (checked against it).
_OVERRIDES: Final[dict[str, str]] = {
    # German umlauts: the reference spells them out, anyascii strips the diaeresis
    # ("Über" -> "ueber", "pingüino" -> "pingueino" in the golden sentences).
    "ä": "ae",
    "ö": "oe",
    "ü": "ue",
    "Ä": "Ae",
    "Ö": "Oe",
    "Ü": "Ue",
    # Cyrillic soft and hard signs: the reference maps them to "" (anyascii gives "'", which
    # would become the apostrophe symbol).
    "ь": "",
    "Ь": "",
    "ъ": "",
    "Ъ": "",
    # Look-alike symbols the reference maps to one letter (anyascii: "EUR", "Y=", "*").
    "€": "E",
    "¥": "Y",
    "×": "x",
}

# Characters the reference's table lacks (so it drops them), where anyascii would keep something.
_DROPPED: Final[frozenset[str]] = frozenset(
    "£"  # anyascii "GBP"; the reference's pound rule therefore never fires
    "—"  # em dash, anyascii "-"
    "…"  # anyascii "..."
    "©°™§•½¼"  # anyascii "(C)", "deg", "TM", "S", "*", "1/2", "1/4"
    "Œ"  # "Œuvre" -> "uvre" in the golden sentences; anyascii "Oe"
)

# Kinds of character the reference's table covers (letters, marks, digits, spaces, punctuation);
# symbols (S*), other numerals (No, e.g. ½ ²) and control/format characters (C*) are absent.
_TRANSLITERATED_CATEGORIES: Final[tuple[str, ...]] = ("L", "M", "Nd", "Nl", "Z", "P")

# Scripts anyascii romanises but the reference does not know: CJK ideographs, kana, Hangul, Yi.
_EAST_ASIAN_NAME = re.compile(
    r"^(?:HALFWIDTH |FULLWIDTH )?(?:CJK|HIRAGANA|KATAKANA|HANGUL|BOPOMOFO|IDEOGRAPHIC|KANGXI|YI)\b"
)


def _transliterate_char(char: str) -> str | None:
    """ASCII replacement of one code point >= 127, or None where the reference drops it."""
    if char in _OVERRIDES:
        return _OVERRIDES[char]
    if char in _DROPPED:
        return None
    category = unicodedata.category(char)
    if not category.startswith(_TRANSLITERATED_CATEGORIES):
        return None
    if category.startswith("L") and _EAST_ASIAN_NAME.match(unicodedata.name(char, "")):
        return None
    return anyascii(char)


def transliterate(text: str) -> str:
    """Transliterate ``text`` to ASCII the way NVIDIA's ``english_cleaners`` does for common text.

    Code points below 127 are kept as they are; others are replaced by an ASCII string of length
    0-4 or dropped (logged once per call at WARNING level, like the reference's warning).

    >>> transliterate("Café “Über” — naïve ½")
    'Cafe "Ueber"  naive '
    """
    if text.isascii() and "\x7f" not in text:
        return text
    pieces: list[str] = []
    dropped: list[str] = []
    for char in text:
        if ord(char) < 127:
            pieces.append(char)
            continue
        replacement = _transliterate_char(char)
        if replacement is None:
            dropped.append(char)
        else:
            pieces.append(replacement)
    if dropped:
        logger.warning(
            "transliterate: dropped %d character(s) with no ASCII equivalent: %s",
            len(dropped),
            " ".join(sorted({f"{c!r} (U+{ord(c):04X})" for c in dropped})),
        )
    return "".join(pieces)
