"""The 148-entry symbol table: order and ids are a checkpoint format."""

from __future__ import annotations

import torch

from tacoglow.text import symbols as package_symbols
from tacoglow.text.symbols import ARPABET, PAD, PAD_ID, id_to_symbol, n_symbols, symbol_to_id, symbols


def test_table_equals_reference_table(golden_dir):
    gold = torch.load(golden_dir / "text.pt", weights_only=True)
    assert symbols == gold["symbols"]
    assert n_symbols == gold["n_symbols"] == 148
    assert package_symbols is symbols


def test_layout_pad_special_punctuation_letters_phones():
    assert symbols[PAD_ID] == PAD == "_"
    assert symbols[1] == "-"
    assert symbols[2:12] == list("!'(),.:;? ")
    assert symbols[12:38] == [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    assert symbols[38:64] == [chr(c) for c in range(ord("a"), ord("z") + 1)]
    assert symbols[64:] == ["@" + p for p in ARPABET]
    assert len(ARPABET) == 84 and len(set(ARPABET)) == 84


def test_phone_anchors():
    anchors = {"@AA": 64, "@AH0": 73, "@AW1": 82, "@B": 88, "@HH": 106, "@N": 119, "@S": 131, "@T": 133, "@ZH": 147}
    assert {s: symbol_to_id[s] for s in anchors} == anchors


def test_maps_are_inverse():
    assert len(symbol_to_id) == len(id_to_symbol) == n_symbols
    for i, s in enumerate(symbols):
        assert symbol_to_id[s] == i and id_to_symbol[i] == s
