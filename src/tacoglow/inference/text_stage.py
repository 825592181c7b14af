"""The text stage of synthesis: input texts → checked pieces of symbol ids.

Each input text is checked (a string, not empty, not over :attr:`TextStage.max_text_chars`,
something speakable in it), split into pieces that fit the acoustic model's decoder
(:func:`tacoglow.text.split.split_text`, measured in symbols so numbers and abbreviations count
as spoken), and each piece turned into symbol ids with the voice's text frontend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tacoglow.errors import TextError
from tacoglow.inference.settings import check_number
from tacoglow.text import TextFrontend
from tacoglow.text import symbols as DEFAULT_SYMBOLS
from tacoglow.text.split import TextPiece, split_text

__all__ = ["DEFAULT_MAX_TEXT_CHARS", "PreparedPiece", "TextStage"]

DEFAULT_MAX_TEXT_CHARS = 100_000
"""Characters one input text may have: about 2.3 hours of speech at 12 characters a second,
whose float32 audio (0.7 GB) is held in memory until the text's utterance is joined."""


@dataclass(frozen=True)
class PreparedPiece:
    """One piece of one input text, ready for the acoustic model.

    Attributes:
        text_index: position of its text in the input.
        piece: its text and the pause after it.
        ids: its symbol ids, (T_text,).
    """

    text_index: int
    piece: TextPiece
    ids: tuple[int, ...]


class TextStage:
    """Input texts → :class:`PreparedPiece` s, in input order. Holds no per-call state.

    Args:
        frontend: how text becomes symbol ids (a checkpoint states its own, see
            :class:`~tacoglow.text.TextFrontend`).
        symbols: the acoustic model's symbol table, for telling whether a text has anything
            speakable (letters or ARPAbet phones); default: NVIDIA's.
        split_long_text: split texts that would not fit the decoder (see :meth:`prepare`).
        max_text_chars: longest input text accepted in one call, in characters.

    Raises:
        ConfigError: ``max_text_chars`` not an integer >= 1.
    """

    def __init__(
        self,
        frontend: TextFrontend | None = None,
        *,
        symbols: Sequence[str] | None = None,
        split_long_text: bool = True,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    ) -> None:
        check_number("max_text_chars", max_text_chars, 1, integer=True)
        self.frontend = frontend if frontend is not None else TextFrontend()
        self.split_long_text = split_long_text
        self.max_text_chars = max_text_chars
        # Texts are normalized once, by frontend.prepare in prepare(); the passes after it
        # (speakable check, splitting, ids) read the prepared text as it is.
        self._prepared_frontend = self.frontend.with_normalizer(False)
        # Long text is split by a speaking-rate estimate in symbols, which counts a repeated phone once.
        self._split_frontend = dataclasses.replace(self._prepared_frontend, phone_repeats=1)
        table = list(symbols if symbols is not None else DEFAULT_SYMBOLS)
        self._speakable = frozenset(i for i, s in enumerate(table) if s.startswith("@") or s.isalpha())

    def ids(self, text: str) -> list[int]:
        """Symbol ids of ``text`` with this stage's frontend, (T_text,)."""
        return self.frontend.to_sequence(text)

    def _prepared_ids(self, text: str) -> list[int]:
        return self._prepared_frontend.to_sequence(text)

    def _has_speakable(self, text: str) -> bool:
        return any(i in self._speakable for i in self._prepared_ids(text))

    def _split_length(self, piece: str) -> int:
        return len(self._split_frontend.to_sequence(piece))

    def prepare(self, texts: Sequence[str], max_piece_length: Callable[[], int]) -> list[PreparedPiece]:
        """Check ``texts`` and split them into pieces of at most ``max_piece_length()`` symbols.

        ``max_piece_length`` is asked only when a text is split (a decoder with very few steps
        has no budget to give, see :func:`~tacoglow.inference.acoustic.max_chars_for_steps`).

        Pieces with nothing speakable (a lone dash between sentences) are dropped and their
        pause given to the piece before; the last piece of each text has no pause. Time is
        linear in the length of the texts.

        Raises:
            TextError: a text is not a string, is empty, is longer than ``max_text_chars`` or
                has nothing speakable (naming the text by its position when there are several).
        """
        for index, text in enumerate(texts):  # every text is checked before any is split
            where = "text" if len(texts) == 1 else f"text {index + 1}"
            if not isinstance(text, str):
                raise TextError(f"{where}: expected a str, found {type(text).__name__}")
            if not text.strip():
                raise TextError(f"{where}: empty (expected something to say)")
            if len(text) > self.max_text_chars:
                raise TextError(
                    f"{where}: {len(text):,} characters, more than the {self.max_text_chars:,} "
                    f"allowed in one text (max_text_chars); split it into several texts"
                )
        # What is said: normalized (when the frontend does), dropped characters warned about once.
        said = [self.frontend.prepare(text) for text in texts]
        for index, (text, spoken) in enumerate(zip(texts, said)):
            if not self._has_speakable(spoken):
                where = "text" if len(texts) == 1 else f"text {index + 1}"
                raise TextError(
                    f"{where}: nothing speakable in {text.strip()[:40]!r} (expected letters or "
                    f"{{ARPAbet}} phones after cleaning)"
                )
        pieces: list[PreparedPiece] = []
        for index, text in enumerate(said):
            if self.split_long_text:
                split = split_text(text, max_piece_length(), length=self._split_length)
            else:
                split = [TextPiece(text.strip(), 0.0)]
            kept: list[tuple[TextPiece, list[int]]] = []
            for piece in split:
                ids = self._prepared_ids(piece.text)
                if any(i in self._speakable for i in ids):
                    kept.append((piece, ids))
                elif kept:  # e.g. a lone dash between sentences: keep its pause only
                    last, last_ids = kept[-1]
                    kept[-1] = (TextPiece(last.text, max(last.pause_after_s, piece.pause_after_s)), last_ids)
            last, last_ids = kept[-1]
            kept[-1] = (TextPiece(last.text, 0.0), last_ids)
            pieces.extend(PreparedPiece(index, piece, tuple(ids)) for piece, ids in kept)
        return pieces
