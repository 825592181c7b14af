"""A tiny corpus shared by the training tests, rendered once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tacoglow.data import make_corpus, make_synthetic_corpus

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "A stitch in time saves nine.",
    "Birds of a feather flock together.",
    "Every cloud has a silver lining.",
    "Actions speak louder than words.",
    "The early bird catches the worm.",
    "Practice makes perfect in the end.",
]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 utterances of espeak-ng speech (synthetic tones where espeak-ng is missing); read-only."""
    out = tmp_path_factory.mktemp("corpus")
    if shutil.which("espeak-ng"):
        make_corpus(out, SENTENCES, rate_wpm=320, jobs=1, progress=False)
    else:
        make_synthetic_corpus(out, SENTENCES, char_ms=25.0)
    return out
