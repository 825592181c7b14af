"""The 148-entry symbol table of NVIDIA's Tacotron 2: symbol ids are a checkpoint format.

Order (ids fixed by the embedding rows of every published checkpoint):

====== ======================================================
id     symbol
====== ======================================================
0      ``_`` (pad; also the value text batches are padded with)
1      ``-``
2-11   ``!`` ``'`` ``(`` ``)`` ``,`` ``.`` ``:`` ``;`` ``?`` and space (11)
12-37  ``A``-``Z`` (unreachable under ``english_cleaners``, which lowercases)
38-63  ``a``-``z``
64-147 ``@`` + one of the 84 CMUdict ARPAbet phones in ``ARPABET`` order
====== ======================================================
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["ARPABET", "PAD", "PAD_ID", "id_to_symbol", "n_symbols", "symbol_to_id", "symbols"]

PAD: Final[str] = "_"
PAD_ID: Final[int] = 0

# The special "-" precedes the punctuation in the table, although NVIDIA's source defines the
# punctuation first: the order below is the one the checkpoints were trained with.
_SPECIAL: Final[str] = "-"
_PUNCTUATION: Final[str] = "!'(),.:;? "

# The 84 phones of CMUdict (stress variants included), in the order of the reference table.
ARPABET: Final[tuple[str, ...]] = tuple(
    """
    AA AA0 AA1 AA2 AE AE0 AE1 AE2 AH AH0 AH1 AH2 AO AO0 AO1 AO2 AW AW0 AW1 AW2 AY AY0 AY1 AY2
    B CH D DH EH EH0 EH1 EH2 ER ER0 ER1 ER2 EY EY0 EY1 EY2 F G HH IH IH0 IH1 IH2 IY IY0 IY1 IY2
    JH K L M N NG OW OW0 OW1 OW2 OY OY0 OY1 OY2 P R S SH T TH UH UH0 UH1 UH2 UW UW0 UW1 UW2
    V W Y Z ZH
    """.split()
)

symbols: Final[list[str]] = [
    PAD,
    _SPECIAL,
    *_PUNCTUATION,
    *string.ascii_uppercase,
    *string.ascii_lowercase,
    *("@" + phone for phone in ARPABET),
]
n_symbols: Final[int] = len(symbols)

symbol_to_id: Final[Mapping[str, int]] = MappingProxyType({s: i for i, s in enumerate(symbols)})
id_to_symbol: Final[Mapping[int, str]] = MappingProxyType(dict(enumerate(symbols)))

assert n_symbols == 148 and len(ARPABET) == 84 and len(symbol_to_id) == n_symbols
