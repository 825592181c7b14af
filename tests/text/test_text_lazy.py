"""Lazy inflect: importing the text frontend and cleaning digit-free text never load inflect."""

from __future__ import annotations

import subprocess
import sys

from tacoglow.text import numbers, text_to_sequence


def test_import_and_plain_text_do_not_load_inflect():
    code = (
        "import sys\n"
        "import tacoglow.text as text\n"
        "print('inflect' in sys.modules)\n"
        "print(text.text_to_sequence('Hello, Dr. Smith!'))\n"
        "print('inflect' in sys.modules)\n"
    )
    # (Loading inflect in the child too would cost seconds; test_engine_is_created_once covers it.)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    lines = result.stdout.splitlines()
    assert lines == ["False", str(text_to_sequence("Hello, Dr. Smith!")), "False"]


def test_engine_is_created_once():
    assert numbers.normalize_numbers("the 2nd of 1999") == "the second of nineteen ninety-nine"
    assert "inflect" in sys.modules
    assert numbers._engine() is numbers._engine()
    assert type(numbers._engine()).__module__.startswith("inflect")
