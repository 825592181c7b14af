"""The normalizer: everyday written text -> the words a person says, before the cleaners.

``english_cleaners`` (kept exactly as NVIDIA's) spells out plain numbers but reads "7:30" as
"seven:thirty", "15%" as "fifteen" and "Elm St." as "elm saint". This stage runs first and writes out
what it recognizes as words, in order:

1. abbreviations (``e.g.``, ``etc.``, ``vs.``, ``Ms.``, ``Prof.``, ``Ave.``, ...; "Elm St." and
   "Sunset Dr." are places). Titles the cleaners already expand (``Mr.``, ``Mrs.``, ``Dr.``,
   ``St.`` before a name) are left to them, so LJ Speech-style text reads exactly as before;
2. phone numbers, digit by digit ("555-0199" -> five five five, oh one nine nine);
3. dates (3/12/2026 in US order, 2026-03-12, "July 4, 1976", "Jan. 5th", "5 May");
4. times (7:30, 10:05, 9am, 9 p.m.);
5. money ($ £ € ¥ ¢ with cents or pence, "$2 million", "$5M");
6. math in expressions with "=" or an operator such as + × ÷ < ^ (plus, minus, times, ...), then
   ranges and scores ("5-10", "won 3-2" -> to), ratios ("3:1") and dimensions ("2x4" -> by);
7. signs and measures (-5 -> minus five; km, kg, ft, mph, °C, %, min, GB, ...);
8. decades (1990s, '90s), ordinals (2nd, 21st), "No. 5"/"#5", fractions (1/2, 1 1/2, ½);
9. Roman numerals in context ("World War II", "Chapter XI", "Louis XIV" -> the fourteenth);
10. decimals, then whole numbers (1010-2099 read as years, as english_cleaners does);
11. the symbols left (& @ + = % / ^ < >) as words.

Text it does not change comes out as it went in, character for character (LJ Speech's
transcripts read exactly as before, but for "etc.", "i.e.", "e.g." and "Inc.", now said), and ``{ARPAbet}`` groups are never touched. The output keeps case
and punctuation; the cleaners lower-case it afterwards.

>>> normalize("Dr. Smith paid $4.50 at 7:30 p.m. on Elm St.")
'Dr. Smith paid four dollars and fifty cents at seven thirty p m on Elm Street.'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from tacoglow.errors import TextError
from tacoglow.text.normalize_words import cardinal, decimal, digits, fraction, ordinal, roman_to_int, year

__all__ = ["normalize"]

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

# --------------------------------------------------------------------------------- shared pieces

_INT = r"\d{1,3}(?:,\d{3})+|\d+"  # 1,234,567 or 1234567
_NUMBER = rf"(?:{_INT})(?:\.\d+)?"
_BRACES = re.compile(r"(\{[^{}\n]*\})")
_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_ABBREVIATIONS: Final = {
    "Jan": 1,
    "Feb": 2,
    "Mar": 3,
    "Apr": 4,
    "Jun": 6,
    "Jul": 7,
    "Aug": 8,
    "Sep": 9,
    "Sept": 9,
    "Oct": 10,
    "Nov": 11,
    "Dec": 12,
}
_MONTH_NUMBER: Final = {name: i + 1 for i, name in enumerate(_MONTHS)} | _MONTH_ABBREVIATIONS
# Full names, or abbreviations with an optional period ("Jan. 5", "Sept 3").
_MONTH = (
    rf"(?P<month>{'|'.join(_MONTHS)}|(?:{'|'.join(sorted(_MONTH_ABBREVIATIONS, key=len, reverse=True))})"
    r"\.?)"
)


def _number_words(text: str) -> str:
    """Digits (with optional thousands commas and decimal point) in words, read as a quantity."""
    return decimal(text) if "." in text else cardinal(text.replace(",", ""))


def _ends_sentence(match: re.Match[str]) -> bool:
    """The match is followed by the end of the text, or by a space and a capital letter."""
    rest = match.string[match.end() :]
    return not rest.strip() or re.match(r"\s+[A-Z]", rest) is not None


def _with_period(words: str, match: re.Match[str]) -> str:
    """``words`` for an abbreviation whose period (consumed by the match) may also end the sentence."""
    return words + "." if _ends_sentence(match) else words


# ---------------------------------------------------------------------------------- 1. abbreviations

# (pattern, expansion, may end a sentence). Titles come before a name, so their period never ends one.
_ABBREVIATIONS: Final = (
    (r"\be\.g\.", "for example", True),
    (r"\bi\.e\.", "that is", True),
    (r"\betc\.", "et cetera", True),
    (r"\ba\.k\.a\.", "also known as", True),
    (r"\bvs\.?(?=\s)", "versus", False),
    (r"(?<=[a-z]) v\.(?= [A-Z])", " versus", False),  # Roe v. Wade
    (r"\bapprox\.", "approximately", True),
    (r"\bMs\.", "Miz", False),
    (r"\bProf\.", "Professor", False),
    (r"\bSr\.", "Senior", True),
    (r"\bAve\.", "Avenue", True),
    (r"\bBlvd\.", "Boulevard", True),
    (r"\bRd\.", "Road", True),
    (r"\bMt\.(?= [A-Z])", "Mount", False),
    (r"\bFt\.(?= [A-Z])", "Fort", False),
    (r"\bDept\.", "Department", True),
    (r"\bInc\.", "Incorporated", True),
    (r"\bCorp\.", "Corporation", True),
    (r"\bGov\.(?= [A-Z])", "Governor", False),
    (r"\bSen\.(?= [A-Z])", "Senator", False),
    (r"\bRep\.(?= [A-Z])", "Representative", False),
    (r"\bPres\.(?= [A-Z])", "President", False),
)


def _abbreviation_rule(expansion: str, may_end: bool) -> Callable[[re.Match[str]], str]:
    return lambda match: _with_period(expansion, match) if may_end else expansion


# "St." and "Dr." after a number ("5th St.") or after a name that is not the sentence's first
# word and before no other name ("on Elm St.", "Sunset Dr. in") are places. Everything else is
# left to the cleaners, which read a title (saint, doctor) as NVIDIA's voices were trained: before
# a name ("St. Louis", "Bury St. Edmunds") it usually is one.
_PLACE_OR_TITLE = re.compile(r"\b(?P<abbr>St|Dr)\.")
_WORD_BEFORE = re.compile(r"(?P<word>\S+)\s+$")
_NAME_OR_NUMBER = re.compile(r"[A-Z][a-z]+|\d+(?:st|nd|rd|th)?")
_PLACE: Final = {"St": "Street", "Dr": "Drive"}


def _place_or_title(match: re.Match[str]) -> str:
    abbreviation, before = match.group("abbr"), match.string[: match.start()]
    previous = _WORD_BEFORE.search(before)
    after_name = after_number = False
    if previous is not None and _NAME_OR_NUMBER.fullmatch(previous.group("word")):
        earlier = before[: previous.start()].rstrip()
        first_word = not earlier or earlier[-1] in ".!?:"
        after_name = not first_word
        after_number = previous.group("word")[0].isdigit()
    followed_by_name = re.match(r"\s+[A-Z]", match.string[match.end() :]) is not None
    if after_number or (after_name and not followed_by_name):
        return _with_period(_PLACE[abbreviation], match)
    return match.group(0)  # the cleaners read it as a title, as NVIDIA's voices were trained


# ---------------------------------------------------------------------------------- 2. phone numbers

_PHONE = re.compile(
    r"(?<![\w-])(?:(?P<country>\+?1)[-.\s])?(?:\((?P<area>\d{3})\)\s?|(?P<area2>\d{3})[-.\s])?"
    r"(?P<exchange>\d{3})[-.](?P<line>\d{4})(?![\w-])"
)
_DIAL = re.compile(r"\b(?P<verb>[Cc]all|[Dd]ial)(?P<ing>ing|ed|s)?\s(?P<number>\d{3})\b(?![-.,:]\d)")


def _phone_digits(group: str) -> str:
    if group == "800":  # toll-free numbers are said this way
        return "eight hundred"
    return digits(group, zero="oh")


def _phone(match: re.Match[str]) -> str:
    groups = [
        match.group("country"),
        match.group("area") or match.group("area2"),
        match.group("exchange"),
        match.group("line"),
    ]
    return ", ".join(_phone_digits(group.lstrip("+")) for group in groups if group)


def _dial(match: re.Match[str]) -> str:
    return f"{match.group('verb')}{match.group('ing') or ''} {digits(match.group('number'), zero='oh')}"


# ------------------------------------------------------------------------------------------ 3. dates


def _year_words(text: str) -> str:
    """A year written with 4 digits, or 2 ('99 -> ninety-nine; '05 -> oh five)."""
    text = text.lstrip("'")
    if len(text) == 2:
        return f"oh {cardinal(text)}" if text[0] == "0" else cardinal(text)
    return year(int(text))


def _month_name(month: str) -> str:
    return _MONTHS[_MONTH_NUMBER[month.rstrip(".")] - 1]


def _date(month: int, day: int, year_text: str | None) -> str:
    spoken = f"{_MONTHS[month - 1]} {ordinal(day)}"
    return f"{spoken}, {_year_words(year_text)}" if year_text else spoken


_NUMERIC_DATE = re.compile(r"\b(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}|\d{2})\b")
_ISO_DATE = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b")
_MONTH_DAY = re.compile(
    rf"\b{_MONTH}\s(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b(?![:.,]?\d)"
    r"(?P<year>,?\s\d{4}\b(?![:.,]?\d))?"
)
_DAY_MONTH = re.compile(
    rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s(?:of\s)?{_MONTH}(?!\w)"
    r"(?P<year>,?\s\d{4}\b(?![:.,]?\d))?"
)
_MONTH_YEAR = re.compile(rf"\b{_MONTH}\s(?P<year>\d{{4}})\b(?![:.,]?\d)")


def _numeric_date(match: re.Match[str]) -> str:
    month, day = int(match.group("m")), int(match.group("d"))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group(0)
    return _date(month, day, match.group("y"))


def _month_day(match: re.Match[str]) -> str:
    day = int(match.group("day"))
    if not 1 <= day <= 31:
        return match.group(0)
    year_text = match.group("year")
    spoken = f"{_month_name(match.group('month'))} {ordinal(day)}"
    return f"{spoken}, {_year_words(year_text.strip(', '))}" if year_text else spoken


def _day_month(match: re.Match[str]) -> str:
    day = int(match.group("day"))
    if not 1 <= day <= 31:
        return match.group(0)
    year_text = match.group("year")
    article = "" if match.string[: match.start()].lower().endswith("the ") else "the "
    spoken = f"{article}{ordinal(day)} of {_month_name(match.group('month'))}"
    return f"{spoken}, {_year_words(year_text.strip(', '))}" if year_text else spoken


def _month_year(match: re.Match[str]) -> str:
    return f"{_month_name(match.group('month'))} {_year_words(match.group('year'))}"


# ------------------------------------------------------------------------------------------ 4. times

_MERIDIEM = r"(?P<meridiem>\s?(?P<ap>[AaPp])\.?\s?[Mm]\b\.?)"
_CLOCK = re.compile(rf"(?<![\d:.])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?(?![\d:]){_MERIDIEM}?")
_HOUR = re.compile(rf"(?<![\d:.,])(?P<h>1[0-2]|0?[1-9])(?![\d:.,]){_MERIDIEM}")


def _meridiem(match: re.Match[str]) -> str:
    if match.group("meridiem") is None:
        return ""
    words = f" {match.group('ap').lower()} m"
    # "9 p.m." at the end of a sentence: the period of "m." also ends it.
    return _with_period(words, match) if match.group(0).endswith(".") else words


def _clock(match: re.Match[str]) -> str:
    hour, minute = int(match.group("h")), int(match.group("m"))
    if minute == 0:
        spoken = cardinal(hour) + ("" if match.group("meridiem") else " o'clock")
    else:
        spoken = f"{cardinal(hour)} {'oh ' if minute < 10 else ''}{cardinal(minute)}"
    if match.group("s"):
        seconds = int(match.group("s"))
        spoken += f" and {cardinal(seconds)} second{'s' if seconds != 1 else ''}"
    return spoken + _meridiem(match)


def _hour(match: re.Match[str]) -> str:
    return cardinal(match.group("h")) + _meridiem(match)


# ------------------------------------------------------------------------------------------ 5. money

_CURRENCIES: Final = {  # symbol: (unit, units, subunit, subunits)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "", ""),
}
_SCALES: Final = {
    "k": "thousand",
    "K": "thousand",
    "m": "million",
    "M": "million",
    "mn": "million",
    "b": "billion",
    "B": "billion",
    "bn": "billion",
    "thousand": "thousand",
    "million": "million",
    "billion": "billion",
    "trillion": "trillion",
    "T": "trillion",
}
_MONEY = re.compile(
    r"(?P<sign>-)?(?P<symbol>[$£€¥])\s?(?P<amount>" + _NUMBER + r")"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion)\b|(?P<short>[kKmMbBT]|mn|bn)\b)?"
)
_CENTS = re.compile(r"(?<![\d.])(?P<amount>\d+)\s?¢")


def _money(match: re.Match[str]) -> str:
    unit, units, subunit, subunits = _CURRENCIES[match.group("symbol")]
    amount = match.group("amount")
    sign = "minus " if match.group("sign") else ""
    scale = match.group("scale") or match.group("short")
    if scale:
        return f"{sign}{_number_words(amount)} {_SCALES[scale]} {units}"
    whole, _, cents_text = amount.replace(",", "").partition(".")
    if len(cents_text) > 2 or (cents_text and not subunit):
        return f"{sign}{decimal(amount)} {units}"
    value, cents = int(whole), int(cents_text.ljust(2, "0")) if cents_text else 0
    parts = []
    if value or not cents:
        parts.append(f"{cardinal(value)} {unit if value == 1 else units}")
    if cents:
        parts.append(f"{cardinal(cents)} {subunit if cents == 1 else subunits}")
    return sign + " and ".join(parts)


def _cents(match: re.Match[str]) -> str:
    amount = int(match.group("amount"))
    return f"{cardinal(amount)} cent{'' if amount == 1 else 's'}"


# --------------------------------------------------------------------- 6. math, ranges, ratios, sizes

_OPERATORS: Final = {
    "+": "plus",
    "-": "minus",
    "−": "minus",
    "x": "times",
    "×": "times",
    "*": "times",
    "/": "divided by",
    "÷": "divided by",
    "=": "equals",
    "^": "to the power of",
    "<": "is less than",
    ">": "is greater than",
    "≤": "is less than or equal to",
    "≥": "is greater than or equal to",
    "≠": "is not equal to",
}
_OPERAND = rf"(?:{_NUMBER}|[a-z])"
_EXPRESSION = re.compile(rf"(?<![\w.]){_OPERAND}(?:\s?[-−+x×*/÷=^<>≤≥≠]\s?{_OPERAND})+(?!\w|\.\d)")
_OPERATOR = re.compile(r"\s?([-−+×*/÷=^<>≤≥≠]|(?<=\d)\s?x\s?(?=\d))\s?")
_RANGE = re.compile(rf"(?<![\w.,-])(?P<a>{_NUMBER})\s?[-–]\s?(?P<b>{_NUMBER})(?![\w-]|\.\d)")
_RATIO = re.compile(r"(?<![\w:.])(?P<a>\d+):(?P<b>\d+)(?![\w:])")
_SIZE = re.compile(rf"(?<![\w.])(?P<a>{_NUMBER})\s?[x×]\s?(?=\d)")
_PLUS = re.compile(rf"(?<![\w.])(?P<a>{_NUMBER})\s?\+\s?(?={_NUMBER})")


def _expression(match: re.Match[str]) -> str:
    text = match.group(0)
    if "=" not in text and not re.search(r"\d\s?[+×÷*^<>≤≥≠]\s?\d", text):
        return text  # "2x4", "5-10" and "1/2" are not sums: later rules read them
    return _OPERATOR.sub(lambda op: f" {_OPERATORS[op.group(1).strip()]} ", text).strip()


def _range(match: re.Match[str]) -> str:
    return f"{match.group('a')} to {match.group('b')}"


# ------------------------------------------------------------------------------- 7. signs, measures

_UNITS: Final = {  # written unit: (singular, plural)
    "km": ("kilometer", "kilometers"),
    "m": ("meter", "meters"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "in.": ("inch", "inches"),
    "yd": ("yard", "yards"),
    "yds": ("yard", "yards"),
    "kg": ("kilogram", "kilograms"),
    "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "L": ("liter", "liters"),
    "l": ("liter", "liters"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "gal": ("gallon", "gallons"),
    "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "° C": ("degree Celsius", "degrees Celsius"),
    "° F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    "%": ("percent", "percent"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "ms": ("millisecond", "milliseconds"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "W": ("watt", "watts"),
    "kW": ("kilowatt", "kilowatts"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "V": ("volt", "volts"),
    "m²": ("square meter", "square meters"),
    "km²": ("square kilometer", "square kilometers"),
    "ft²": ("square foot", "square feet"),
    "sq ft": ("square foot", "square feet"),
    "m³": ("cubic meter", "cubic meters"),
}
_UNIT_NAMES = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))
_MEASURE = re.compile(
    rf"(?<![\w.])(?P<amount>{_NUMBER}|(?:\d+ )?\d+/\d+)(?:\s?)(?P<unit>{_UNIT_NAMES})"
    r"(?P<period>\.(?!\d))?(?![\w²³])"
)
# Units also written with a period ("100 ft."), which then may or may not end the sentence.
_DOTTED_UNITS: Final = frozenset(
    {"ft", "yd", "yds", "lb", "lbs", "oz", "mi", "hr", "hrs", "min", "mins", "sec", "secs", "gal"}
)
_NEGATIVE = re.compile(r"(?<![\w)\].,:/-])[-−](?=\d)")


def _measure(match: re.Match[str]) -> str:
    amount, unit = match.group("amount"), match.group("unit")
    singular, plural = _UNITS[unit]
    if "/" in amount:
        spoken = _fraction_words(amount)
        name = plural if " " in amount.strip() else f"of a {singular}"
    else:
        spoken = _number_words(amount)
        name = singular if amount == "1" else plural
    words = f"{spoken} {name}"
    if not match.group("period"):
        return words
    return _with_period(words, match) if unit in _DOTTED_UNITS else words + "."


# ---------------------------------------------------- 8. decades, ordinals, numbers, fractions

_DECADE = re.compile(r"(?<![\w.])(?P<apostrophe>')?(?P<number>\d{3}|\d)0s\b")
_ORDINAL = re.compile(rf"(?<![\w.])(?P<number>{_INT})(?:st|nd|rd|th)\b")
_NUMBER_SIGN = re.compile(r"(?:\bNo\.|#)\s?(?=\d)")
_VULGAR: Final = {
    "½": "1/2",
    "⅓": "1/3",
    "⅔": "2/3",
    "¼": "1/4",
    "¾": "3/4",
    "⅕": "1/5",
    "⅛": "1/8",
    "⅜": "3/8",
    "⅝": "5/8",
    "⅞": "7/8",
}
_VULGAR_FRACTION = re.compile(rf"(?P<whole>\d)?\s?(?P<char>[{''.join(_VULGAR)}])")
_FRACTION = re.compile(r"(?<![\w./])(?:(?P<whole>\d+)\s)?(?P<num>\d+)/(?P<den>\d+)(?![\w/]|\.\d)")


def _plural_word(words: str) -> str:
    """``nineteen ninety`` -> ``nineteen nineties``."""
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


def _decade(match: re.Match[str]) -> str:
    number = int(match.group("number") + "0")
    return _plural_word(year(number) if number >= 1000 else cardinal(number))


def _fraction_words(text: str) -> str:
    whole, _, rest = text.strip().rpartition(" ")
    numerator, _, denominator = rest.partition("/")
    num, den = int(numerator), int(denominator)
    if not whole:
        return fraction(num, den)
    if num == 1 and den == 2:
        return f"{cardinal(whole)} and a half"
    if num == 1 and den == 4:
        return f"{cardinal(whole)} and a quarter"
    return f"{cardinal(whole)} and {fraction(num, den)}"


def _fraction(match: re.Match[str]) -> str:
    num, den = int(match.group("num")), int(match.group("den"))
    if num == 24 and den == 7:
        return "twenty-four seven"
    if den == 0 or not (den <= 10 or den in (12, 16, 32, 64, 100)):
        if match.group("whole") is None and 1 <= num <= 12 and 1 <= den <= 31:
            return _date(num, den, None)  # "11/22": a date, month first
        return f"{match.group(0).replace('/', ' slash ')}"
    return _fraction_words(match.group(0))


def _vulgar(match: re.Match[str]) -> str:
    whole = match.group("whole")
    return f"{whole} {_VULGAR[match.group('char')]}" if whole else f" {_VULGAR[match.group('char')]}"


# ------------------------------------------------------------------------------ 9. Roman numerals

# After these words a numeral counts things: "World War II" -> two, "Chapter XI" -> eleven.
_COUNTED = (
    "Chapter|Part|Volume|Vol\\.|Book|Act|Scene|Section|Article|Title|Phase|Round|Level|Stage|Class|Type"
    "|Category|War|Bowl|Episode|Apollo|Gemini|Mark|Grade|Appendix|Unit|Division|Corps|Army|Fleet|Council"
    "|Schedule|Psalm|Canto|Olympiad|Amendment"
)
# Rulers and popes take an ordinal: "Louis XIV" -> Louis the fourteenth.
_REGNAL = (
    "Louis|Henry|Elizabeth|George|Edward|Charles|James|William|Richard|John|Paul|Benedict|Pius|Leo"
    "|Gregory|Innocent|Clement|Urban|Boniface|Peter|Catherine|Frederick|Napoleon|Ramesses|Ramses"
    "|Alexander|Philip|Philippe|Mary|Nicholas|Ivan|Alfonso|Ferdinand|Gustav|Gustavus|Christian|Wilhelm"
    "|Otto|Rudolf|Constantine|Justinian|Umberto|Victor|Emmanuel|Felipe|Juan|Carlos|Harald|Olaf|Haakon"
    "|Sixtus|Julius|Martin|Eugene|Stephen|Adrian|Celestine|Honorius|Alexios|Basil|Manuel|David|Robert"
    "|Malcolm|Duncan|Kamehameha|Rama|Thutmose|Amenhotep|Ptolemy|Antiochus|Seleucus|Cyrus|Darius|Xerxes"
    "|Artaxerxes|Francis|Franz|Joseph|Leopold|Maximilian|Sigismund|Casimir|Sancho|Baldwin|Conrad|Henri"
    "|Hirohito|Akihito|Naruhito|Selim|Suleiman|Mehmed|Murad|Ahmed|Pedro|Joao|Anne|Isabella|Margaret"
)
# A numeral is one letter I, V or X, or several of I V X L C; a single letter followed by a
# capitalized word is a middle initial ("Robert I. Bouck", "James C Cadigan"), not a numeral.
_NUMERAL = r"(?P<roman>[IVX](?!\.?\s[A-Z])|[IVXLC]{2,})\b(?!['’]\w|\.\w)"
_ROMAN_COUNTED = re.compile(rf"\b(?P<word>(?:{_COUNTED})) {_NUMERAL}")
_ROMAN_REGNAL = re.compile(rf"\b(?P<word>(?:{_REGNAL})) {_NUMERAL}")
# Other names take a cardinal ("Rocky II"); two letters at least, so the pronoun "I" stays.
_ROMAN_AFTER_NAME = re.compile(r"(?<=[a-z] )(?P<word>[A-Z][a-z]+) (?P<roman>[IVXL]{2,})\b(?!['’]\w|\.\w)")
_NOT_ROMAN: Final = frozenset({"LI", "LL", "XL", "XXL", "XXX", "VI"})  # sizes, "LL", and the editor vi


def _roman_counted(match: re.Match[str]) -> str:
    value = roman_to_int(match.group("roman"))
    return match.group(0) if value is None else f"{match.group('word')} {cardinal(value)}"


def _roman_regnal(match: re.Match[str]) -> str:
    value = roman_to_int(match.group("roman"))
    return match.group(0) if value is None else f"{match.group('word')} the {ordinal(value)}"


def _roman_after_name(match: re.Match[str]) -> str:
    roman = match.group("roman")
    value = None if roman in _NOT_ROMAN else roman_to_int(roman)
    return match.group(0) if value is None else f"{match.group('word')} {cardinal(value)}"


# ------------------------------------------------------------------------- 10. decimals and numbers

_LETTERS_AND_DIGITS = re.compile(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")  # "MP3", "2x", "3D"
_DECIMAL = re.compile(r"(?<![\w.])(?P<whole>\d*)\.(?P<fraction>\d+)(?!\w|\.\d)")
_WHOLE = re.compile(rf"(?P<number>{_INT})")


def _decimal(match: re.Match[str]) -> str:
    return decimal(match.group(0).replace(",", ""))


def _whole(match: re.Match[str]) -> str:
    text = match.group("number")
    if "," not in text and len(text) == 4 and 1010 <= int(text) <= 2099:
        return year(int(text))  # as english_cleaners: "in 1805" -> eighteen oh five
    return cardinal(text.replace(",", ""))


# ----------------------------------------------------------------------------- 11. symbols left

_SYMBOLS: Final = (
    (re.compile(r"\s?&\s?"), " and "),
    (re.compile(r"(?<=\w)@(?=\w)"), " at "),
    (re.compile(r"\s@\s"), " at "),
    (re.compile(r"(?<=\w)\+"), " plus"),
    (re.compile(r"\s?=\s?"), " equals "),
    (re.compile(r"\s?%"), " percent"),
    (re.compile(r"°"), " degrees"),
    (re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])"), " "),  # "and/or"
)

# -------------------------------------------------------------------------------------- pipeline


def _constant(words: str) -> Callable[[re.Match[str]], str]:
    return lambda match: words


def _rules() -> list[Rule]:
    rules: list[Rule] = [
        (re.compile(pattern), _abbreviation_rule(expansion, may_end)) for pattern, expansion, may_end in _ABBREVIATIONS
    ]
    rules += [
        (_PLACE_OR_TITLE, _place_or_title),
        (_NUMBER_SIGN, lambda match: "number "),
        (_VULGAR_FRACTION, _vulgar),
        (_PHONE, _phone),
        (_DIAL, _dial),
        (_ISO_DATE, lambda match: _numeric_date(match)),
        (_NUMERIC_DATE, _numeric_date),
        (_MONTH_DAY, _month_day),
        (_DAY_MONTH, _day_month),
        (_MONTH_YEAR, _month_year),
        (_CLOCK, _clock),
        (_HOUR, _hour),
        (_MONEY, _money),
        (_CENTS, _cents),
        (_EXPRESSION, _expression),
        (_RANGE, _range),
        (_RATIO, lambda match: f"{match.group('a')} to {match.group('b')}"),
        (_SIZE, lambda match: f"{match.group('a')} by "),
        (_PLUS, lambda match: f"{match.group('a')} plus "),
        (_NEGATIVE, lambda match: "minus "),
        (_MEASURE, _measure),
        (_DECADE, _decade),
        (_ORDINAL, lambda match: ordinal(match.group("number").replace(",", ""))),
        (_FRACTION, _fraction),
        (_ROMAN_COUNTED, _roman_counted),
        (_ROMAN_REGNAL, _roman_regnal),
        (_ROMAN_AFTER_NAME, _roman_after_name),
        (_LETTERS_AND_DIGITS, lambda match: " "),
        (_DECIMAL, _decimal),
        (_WHOLE, _whole),
    ]
    rules += [(pattern, _constant(words)) for pattern, words in _SYMBOLS]
    return rules


_RULES: Final = _rules()
_SPACES = re.compile(r"[ \t]{2,}")


def _normalize_plain(text: str) -> str:
    original = text
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    # Rules may leave double spaces ("½" -> " 1/2"); tidy only where something changed.
    return original if text == original else _SPACES.sub(" ", text)


def normalize(text: str) -> str:
    """``text`` with numbers, symbols and abbreviations written out as the words people say.

    Runs before the cleaners (which lower-case and spell out any number left); text it does not
    recognize passes unchanged, and ``{ARPAbet}`` groups are kept as written.

    Raises:
        TextError: ``text`` is not a string, or holds a number of 37 or more digits.

    >>> normalize("World War II ended in 1945; Louis XIV reigned 72 years.")
    'World War two ended in nineteen forty-five; Louis the fourteenth reigned seventy-two years.'
    """
    if not isinstance(text, str):
        raise TextError(f"text: expected a str, found {type(text).__name__}")
    pieces = _BRACES.split(text)
    for i in range(0, len(pieces), 2):  # even pieces lie outside the brace groups
        pieces[i] = _normalize_plain(pieces[i])
    return "".join(pieces)
