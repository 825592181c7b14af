"""Corpus generation: sentence reading, clause splitting, espeak-ng rendering, synthetic fallback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tacoglow.data import (
    make_corpus,
    make_synthetic_corpus,
    normalize_for_corpus,
    read_metadata,
    read_sentences,
    split_clauses,
)
from tacoglow.errors import DataError

SENTENCES = [
    "Hello world, this is a test of the corpus.",
    "Dr. Smith paid $5 for 2 apples; he was happy about it, very happy indeed.",
    "Short.",
    "It cost 1,000 dollars, said Mr. Jones.",
]
# With max_chars=40, min_chars=5: ids, raw clause, normalized text.
EXPECTED_ROWS = [
    "utt-00001_1|Hello world,|hello world,",
    "utt-00001_2|this is a test of the corpus.|this is a test of the corpus.",
    "utt-00002_1|he was happy about it,|he was happy about it,",
    "utt-00002_2|very happy indeed.|very happy indeed.",
    "utt-00003|Short.|short.",
    "utt-00004_1|It cost 1,000 dollars,|it cost one thousand dollars,",
    "utt-00004_2|said Mr. Jones.|said mister jones.",
]
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "wavs").iterdir())} | {
        "metadata.csv": (folder / "metadata.csv").read_bytes()
    }


def test_normalize_for_corpus_keeps_only_symbol_characters() -> None:
    assert normalize_for_corpus('  Dr. Smith said "50% & more"\n') == "doctor smith said fifty more"
    assert normalize_for_corpus("Café № 2!") == "cafe two!"


def test_split_clauses_cuts_at_punctuation_within_bounds() -> None:
    text = "It rained all day, and the river rose; we left at dawn."
    assert split_clauses(text, max_chars=100, min_chars=5) == [text]
    assert split_clauses(text, max_chars=20, min_chars=5) == [
        "It rained all day,",
        "and the river rose;",
        "we left at dawn.",
    ]
    # no cut after abbreviations, initials or inside numbers; the 70-char fragment does not fit
    text = "Mr. J. F. Kennedy paid 1,000.50 dollars. " + "a" * 70 + ", the end of it all."
    assert split_clauses(text, max_chars=60, min_chars=10) == [
        "Mr. J. F. Kennedy paid 1,000.50 dollars.",
        "the end of it all.",
    ]
    assert split_clauses("Too short, tiny.", max_chars=60, min_chars=40) == []


def test_read_sentences_detects_the_three_formats(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("LJSpeech-1.1/wavs/LJ001-0001.wav|First one.\nwavs/LJ001-0002.wav|Second.\n")
    (tmp_path / "metadata.csv").write_text("LJ002-0001|Raw 1st.|raw first.\nLJ002-0002||only normalized\n")
    (tmp_path / "plain.txt").write_text("First line.\n\nThird line | with a bar.\n")
    assert read_sentences(tmp_path / "list.txt") == [("LJ001-0001", "First one."), ("LJ001-0002", "Second.")]
    assert read_sentences(tmp_path / "metadata.csv") == [("LJ002-0001", "Raw 1st."), ("LJ002-0002", "only normalized")]
    assert read_sentences(tmp_path / "plain.txt") == [
        ("utt-00001", "First line."),
        ("utt-00003", "Third line | with a bar."),
    ]
    (tmp_path / "bad.txt").write_text("wavs/a.wav|one\nwavs/b.wav|two|three\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: expected 'path\|text' \(2 fields\), found 3"):
        read_sentences(tmp_path / "bad.txt")


def test_missing_espeak_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(DataError, match=r"^espeak-ng not found: install it with `apt-get install espeak-ng`$"):
        make_corpus(tmp_path / "corpus", SENTENCES, progress=False)


@needs_espeak
def test_espeak_corpus_is_an_lj_dataset_and_deterministic(tmp_path: Path) -> None:
    summary = make_corpus(tmp_path / "a", SENTENCES, max_chars=40, min_chars=5, jobs=2, progress=False)
    assert (tmp_path / "a" / "metadata.csv").read_text(encoding="utf-8").splitlines() == EXPECTED_ROWS
    # "Dr. Smith paid five dollars for two apples;" is 46 characters: left out
    assert (summary.n_sentences, summary.n_utterances, summary.n_rendered, summary.n_dropped) == (4, 7, 7, 1)
    utts = read_metadata(tmp_path / "a")
    assert [u.text for u in utts] == [row.split("|")[2] for row in EXPECTED_ROWS]
    total = 0.0
    for utt in utts:
        info = sf.info(str(utt.audio_path))
        assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
        audio, _ = sf.read(utt.audio_path)
        assert 0.3 < info.duration < 5.0
        assert np.abs(audio).max() == pytest.approx(0.9, abs=1e-4)  # peak-normalised
        assert np.sqrt(np.mean(audio**2)) > 0.02  # speech, not silence
        total += info.duration
    assert summary.total_seconds == pytest.approx(total)
    assert json.loads((tmp_path / "a" / "corpus.json").read_text())["voice"] == "en-us"

    # same inputs, another folder: byte-identical metadata and audio
    make_corpus(tmp_path / "b", SENTENCES, max_chars=40, min_chars=5, jobs=1, progress=False)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")

    # re-run: everything reused, nothing rewritten
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*")}
    again = make_corpus(tmp_path / "a", SENTENCES, max_chars=40, min_chars=5, progress=False)
    assert (again.n_rendered, again.n_reused) == (0, 7)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*")} == mtimes

    # another voice in the same folder is refused
    with pytest.raises(DataError, match=r"other settings \(voice 'en-us' != 'en-gb'\)"):
        make_corpus(tmp_path / "a", SENTENCES, voice="en-gb", progress=False)


@needs_espeak
def test_unknown_voice_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="espeak-ng -v xx-bogus: failed on utterance utt-00001"):
        make_corpus(tmp_path / "c", SENTENCES[:1], voice="xx-bogus", progress=False)


def test_synthetic_corpus_selection_is_seeded_and_resumes(tmp_path: Path) -> None:
    sentences = [f"Sentence number {i}, with some words." for i in range(8)]
    summary = make_synthetic_corpus(tmp_path / "s", sentences, max_sentences=3, seed=7)
    ids = [u.id for u in read_metadata(tmp_path / "s")]
    assert summary.n_utterances == 3 and len(set(ids)) == 3 and ids == sorted(ids)  # a subset, in source order
    make_synthetic_corpus(tmp_path / "t", sentences, max_sentences=3, seed=7)
    assert _files(tmp_path / "s") == _files(tmp_path / "t")
    other = make_synthetic_corpus(tmp_path / "u", sentences, max_sentences=3, seed=8)
    assert [u.id for u in read_metadata(tmp_path / "u")] != ids and other.n_utterances == 3

    info = sf.info(str(tmp_path / "s" / "wavs" / f"{ids[0]}.wav"))
    assert info.samplerate == 22050 and info.duration > 1.0

    # a changed sentence re-renders only its own utterance
    index = int(ids[0].split("-")[1]) - 1
    sentences[index] = "A different sentence, now."
    rerun = make_synthetic_corpus(tmp_path / "s", sentences, max_sentences=3, seed=7)
    assert (rerun.n_rendered, rerun.n_reused) == (1, 2)
    assert read_metadata(tmp_path / "s")[0].text == "a different sentence, now."
    with pytest.raises(DataError, match="char_ms 60.0 != 80.0"):
        make_synthetic_corpus(tmp_path / "s", sentences, char_ms=80.0)
