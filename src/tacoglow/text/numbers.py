"""Number normalization of ``english_cleaners``: digits spelled out as English words.

Six regex passes run in this order (each sees the output of the previous one), reproducing
NVIDIA's reference including its quirks:

1. commas inside numbers are removed (``1,000`` -> ``1000``, ``1,2,3`` -> ``123``);
2. ``£<n>`` -> ``<n> pounds`` (dead under ``english_cleaners``: transliteration drops ``£`` first);
3. ``$<d>.<c>`` -> dollars and cents, where cents is the raw integer after the point, not scaled
   (``$1.5`` -> ``1 dollar, 5 cents``);
4. decimals: ``3.14`` -> ``3 point 14``;
5. ordinals with inflect's defaults, so "and" is kept (``101st`` -> ``one hundred and first``);
6. every other digit run: years 1000 < n < 3000 read in pairs (``1999`` -> ``nineteen
   ninety-nine``, ``1906`` -> ``nineteen oh six``, ``1900`` -> ``nineteen hundred``,
   ``2005`` -> ``two thousand five``), all others as cardinals without "and"
   (``101`` -> ``one hundred one``), inflect's group commas kept.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from tacoglow.errors import TextError

if TYPE_CHECKING:
    import inflect

__all__ = ["normalize_numbers"]

_COMMA_NUMBER = re.compile(r"[0-9][0-9,]+[0-9]")
_POUNDS = re.compile(r"£([0-9,]*[0-9])")
_DOLLARS = re.compile(r"\$([0-9.,]*[0-9])")
_DECIMAL = re.compile(r"[0-9]+\.[0-9]+")
_ORDINAL = re.compile(r"[0-9]+(?:st|nd|rd|th)")
_NUMBER = re.compile(r"[0-9]+")


@functools.lru_cache(maxsize=1)
def _engine() -> inflect.engine:
    """The process's inflect engine, created on the first number to spell out.

    Importing inflect costs 1-7 s (its typeguard decorators instrument the module at import), so
    it is deferred until text actually contains digits: ``import tacoglow.text`` stays cheap and
    text without numbers never pays for it.
    """
    import inflect

    return inflect.engine()


def _words(number: int | str, *, andword: str = "and", zero: str = "zero", group: int = 0) -> str:
    """inflect's ``number_to_words`` (same defaults), its range error turned into a TextError."""
    engine = _engine()
    import inflect  # already loaded by _engine(); only its exception type is needed here

    try:
        # inflect annotates numbers.Number, which int is at runtime but not to mypy (typeshed)
        return str(engine.number_to_words(number, andword=andword, zero=zero, group=group))  # type: ignore[arg-type]
    except inflect.NumOutOfRangeError:
        raise TextError(
            f"number {str(number)!r}: expected fewer than 37 digits to spell it out, "
            f"found {len(str(number))} characters"
        ) from None


def _remove_commas(match: re.Match[str]) -> str:
    return match.group(0).replace(",", "")


def _expand_pounds(match: re.Match[str]) -> str:
    return f"{match.group(1)} pounds"


def _expand_dollars(match: re.Match[str]) -> str:
    amount = match.group(1)
    parts = amount.split(".")
    if len(parts) > 2:
        # Not a price: leave the digits to the later passes.
        return f"{amount} dollars"
    # Commas survive pass 1 only where they do not sit between digits ("$,5"); the reference
    # crashes there, tacoglow ignores them.
    dollars = int(parts[0].replace(",", "") or 0)
    cents = int(parts[1].replace(",", "") or 0) if len(parts) > 1 else 0
    dollar_unit = "dollar" if dollars == 1 else "dollars"
    cent_unit = "cent" if cents == 1 else "cents"
    if dollars and cents:
        return f"{dollars} {dollar_unit}, {cents} {cent_unit}"
    if dollars:
        return f"{dollars} {dollar_unit}"
    if cents:
        return f"{cents} {cent_unit}"
    return "zero dollars"


def _expand_decimal_point(match: re.Match[str]) -> str:
    return match.group(0).replace(".", " point ")


def _expand_ordinal(match: re.Match[str]) -> str:
    return _words(match.group(0))


def _expand_number(match: re.Match[str]) -> str:
    number = int(match.group(0))
    if not 1000 < number < 3000:
        return _words(number, andword="")
    # Year-style readings.
    if number == 2000:
        return "two thousand"
    if 2000 < number < 2010:
        return "two thousand " + _words(number % 100)
    if number % 100 == 0:
        return _words(number // 100) + " hundred"
    return _words(number, andword="", zero="oh", group=2).replace(", ", " ")


def normalize_numbers(text: str) -> str:
    """Spell out the numbers, prices and ordinals of lower-cased ASCII ``text``.

    >>> normalize_numbers("$1.50 for the 1st 1,000 in 1906")
    'one dollar, fifty cents for the first one thousand in nineteen oh six'

    Raises:
        TextError: a number has 37 or more digits (inflect cannot name it).
    """
    text = _COMMA_NUMBER.sub(_remove_commas, text)
    text = _POUNDS.sub(_expand_pounds, text)
    text = _DOLLARS.sub(_expand_dollars, text)
    text = _DECIMAL.sub(_expand_decimal_point, text)
    text = _ORDINAL.sub(_expand_ordinal, text)
    return _NUMBER.sub(_expand_number, text)
