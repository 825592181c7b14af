"""Synthesizer.synthesize given something other than text: a TextError naming the type (issue 21.9)."""

from __future__ import annotations

import pytest

from tacoglow.errors import TextError
from tacoglow.inference import Synthesizer


@pytest.fixture(scope="module")
def synth(golden_dir):
    return Synthesizer.from_checkpoints(
        golden_dir / "tacotron2.pt",
        golden_dir / "waveglow.pt",
        max_decoder_steps=20,
        prenet_dropout=False,
        seed=0,
        split_long_text=False,
    )


@pytest.mark.parametrize(
    "texts, found",
    [
        (42, "int"),
        ((t for t in ["Hello."]), "generator"),
        (b"Hello.", "bytes"),
        (bytearray(b"Hi"), "bytearray"),
        (None, "NoneType"),
        ({"Hello."}, "set"),
    ],
)
def test_non_text_input_is_a_text_error_naming_the_type(synth, texts, found):
    with pytest.raises(TextError, match=rf"^texts: expected a str or a list of str, found {found}$"):
        synth.synthesize(texts)
    with pytest.raises(TextError, match=rf"found {found}$"):
        synth.count_pieces(texts)


def test_a_list_holding_bytes_names_the_item(synth):
    with pytest.raises(TextError, match=r"^text 2: expected a str, found bytes$"):
        synth.synthesize(["Hello.", b"there"])
