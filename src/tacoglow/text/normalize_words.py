"""Numbers as spoken English words, for the normalizer (:mod:`tacoglow.text.normalizer`).

Built on inflect (the engine ``english_cleaners`` already uses, loaded on first use), read the
American way: no "and" inside numbers (``101`` -> ``one hundred one``) and no group commas
(``1,234`` -> ``one thousand two hundred thirty-four``), so a number is one phrase without pauses.

>>> cardinal(1234), ordinal(21), year(1805), decimal("3.14"), fraction(3, 4)
('one thousand two hundred thirty-four', 'twenty-first', 'eighteen oh five', 'three point one four', 'three quarters')
"""

from __future__ import annotations

import re
from typing import Final

from tacoglow.errors import TextError
from tacoglow.text.numbers import _engine  # the process's one inflect engine, created lazily

__all__ = ["cardinal", "decimal", "digits", "fraction", "ordinal", "roman_to_int", "year"]

_DIGIT_WORDS: Final = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ROMAN: Final = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
# Well-formed Roman numerals 1-3999 only, so "IIII" or "VX" are not read as numbers.
_ROMAN_FORM = re.compile(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")


def cardinal(number: int | str) -> str:
    """``number`` (a whole number, or its digits) in words, without "and" or commas.

    Raises:
        TextError: 37 or more digits (inflect cannot name the number).
    """
    engine = _engine()
    import inflect  # already loaded by _engine(); only its exception type is needed here

    try:
        return str(engine.number_to_words(str(int(number)), andword="", comma=""))
    except inflect.NumOutOfRangeError:
        raise TextError(f"number {str(number)[:40]!r}: expected fewer than 37 digits to spell it out") from None


def ordinal(number: int | str) -> str:
    """``21`` -> ``twenty-first``."""
    return str(_engine().ordinal(cardinal(number)))


def digits(text: str, zero: str = "zero") -> str:
    """Each digit of ``text`` as a word: ``"0199"`` -> ``"zero one nine nine"`` (``zero="oh"`` for phones)."""
    return " ".join(zero if d == "0" else _DIGIT_WORDS[int(d)] for d in text if d.isdigit())


def year(number: int) -> str:
    """A year as it is said: ``1805`` -> eighteen oh five, ``1900`` -> nineteen hundred,
    ``2000``/``2005`` -> two thousand (five), ``2026`` -> twenty twenty-six; others as cardinals."""
    if not 1010 <= number <= 9999 or 2000 <= number <= 2009:
        return cardinal(number)
    high, low = divmod(number, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {'oh ' if low < 10 else ''}{cardinal(low)}"


def decimal(text: str) -> str:
    """``"3.14"`` -> three point one four: the digits after the point one by one, as people read them."""
    whole, _, fractional = text.replace(",", "").partition(".")
    spoken = cardinal(whole or "0")
    return f"{spoken} point {digits(fractional)}" if fractional else spoken


def fraction(numerator: int, denominator: int) -> str:
    """``3, 4`` -> three quarters; ``1, 2`` -> one half; ``5, 8`` -> five eighths."""
    if denominator == 1:
        return cardinal(numerator)
    if denominator == 2:
        name = "half" if numerator == 1 else "halves"
    elif denominator == 4:
        name = "quarter" if numerator == 1 else "quarters"
    else:
        name = ordinal(denominator) + ("" if numerator == 1 else "s")
    return f"{cardinal(numerator)} {name}"


def roman_to_int(text: str) -> int | None:
    """The value of an upper-case Roman numeral (1-3999), or None if ``text`` is not a well-formed one."""
    if not text or _ROMAN_FORM.fullmatch(text) is None:
        return None
    total = 0
    for char, following in zip(text, text[1:] + " "):
        value = _ROMAN[char]
        total += -value if following != " " and _ROMAN[following] > value else value
    return total
