"""Paths built from data stay inside their folder; stale temp files go; bad mels are named (issue 21)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tacoglow.audio import MelConfig
from tacoglow.data import DatasetItem, load_mel, make_synthetic_corpus, preprocess, read_metadata
from tacoglow.data.files import safe_join
from tacoglow.errors import DataError

CONFIG = MelConfig(filter_length=256, hop_length=64, win_length=256, n_mel_channels=20)
SENTENCE = "A sentence that is long enough to keep."
CLIMBING = [
    "../../../../X",
    "..",
    ".",
    "/tmp/x/ABSOLUTE",
    "a/b",
    "a\\b" if os.sep == "\\" else "a/../b",
    "",
    "nul\0byte",
]


@pytest.mark.parametrize("name", CLIMBING)
def test_safe_join_refuses_names_that_leave_the_folder(tmp_path, name):
    with pytest.raises(DataError, match=r"^utterance id .*: refused: an id must be a plain file name"):
        safe_join(tmp_path, name, ".pt")


@pytest.mark.parametrize("name", ["LJ001-0001", "utt-00001_2", "..hidden", "a..b", "x.y"])
def test_safe_join_keeps_plain_names(tmp_path, name):
    assert safe_join(tmp_path, name, ".wav") == tmp_path / f"{name}.wav"
    assert (tmp_path / f"{name}.wav").resolve().parent == tmp_path.resolve()


def _files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("bad_id", ["../../../../X", "/ABSOLUTE"])
def test_corpus_never_writes_outside_its_folder(tmp_path, bad_id):
    sandbox = tmp_path / "sandbox"
    (sandbox / "a" / "b").mkdir(parents=True)
    bad_id = str(tmp_path / "ABSOLUTE") if bad_id == "/ABSOLUTE" else bad_id
    metadata = sandbox / "metadata.csv"
    metadata.write_text(f"good_1|{SENTENCE}|\n{bad_id}|{SENTENCE}|\n", encoding="utf-8")
    out = sandbox / "a" / "b" / "corpus"
    before = _files_under(tmp_path)
    with pytest.raises(DataError, match=r"refused: an id must be a plain file name"):
        make_synthetic_corpus(out, metadata)
    # nothing written anywhere: neither the climbing file nor a half corpus
    assert _files_under(tmp_path) == before
    assert not list(tmp_path.rglob("*X.wav")) and not list(tmp_path.rglob("ABSOLUTE*"))


@pytest.mark.parametrize("bad_id", ["../../X", "/ABSOLUTE"])
def test_preprocess_never_reads_or_writes_outside_its_folder(tmp_path, bad_id):
    audio = tmp_path / "a.wav"
    sf.write(audio, 0.3 * np.random.default_rng(0).uniform(-1, 1, 3000), 22050, subtype="PCM_16")
    bad_id = str(tmp_path / "ABSOLUTE") if bad_id == "/ABSOLUTE" else bad_id
    out = tmp_path / "x" / "out"
    utts = [DatasetItem("good", audio, "Hello."), DatasetItem(bad_id, audio, "Hello.")]
    with pytest.raises(DataError, match=r"refused: an id must be a plain file name"):
        preprocess(utts, out, CONFIG, jobs=1, progress=False)
    assert not list(tmp_path.rglob("*.pt")) and not (tmp_path / "x").exists()


def test_read_metadata_names_the_line_of_a_climbing_id(tmp_path):
    (tmp_path / "metadata.csv").write_text(f"ok|{SENTENCE}|\n../../etc/passwd|{SENTENCE}|\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"metadata\.csv:2: utterance id '\.\./\.\./etc/passwd': refused"):
        read_metadata(tmp_path)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_preprocess_and_corpus_remove_stale_temp_files(tmp_path):
    dead = _dead_pid()
    corpus = tmp_path / "corpus"
    (corpus / "wavs").mkdir(parents=True)
    stale = [corpus / f".metadata.csv.{dead}-0123456789ab.tmp", corpus / "wavs" / f".u.wav.{dead}-0123456789ab.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    make_synthetic_corpus(corpus, [SENTENCE])
    assert not any(path.exists() for path in stale)

    utts = read_metadata(corpus)
    out = tmp_path / "mels"
    (out / "mels").mkdir(parents=True)
    stale = [out / f".mels.txt.{dead}-0123456789ab.tmp", out / "mels" / f".{utts[0].id}.pt.{dead}-0123456789ab.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    preprocess(utts, out, CONFIG, jobs=1, progress=False)
    assert not any(path.exists() for path in stale)
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_non_finite_mel_is_named(tmp_path):
    path = tmp_path / "LJ001-0007.pt"
    mel = torch.zeros(20, 30)
    mel[3, 7] = float("nan")
    torch.save(mel, path)
    with pytest.raises(DataError, match=r"LJ001-0007\.pt: expected finite mel values, found NaN or infinity"):
        load_mel(path, 20)
