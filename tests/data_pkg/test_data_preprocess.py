"""preprocess: mels equal to MelSpectrogram's, a mel filelist, idempotent, resumable, one mel contract."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tacoglow.audio import MelConfig, MelSpectrogram
from tacoglow.data import DatasetItem, TextMelDataset, preprocess, read_filelist, read_mel_config
from tacoglow.errors import AudioError, DataError

CONFIG = MelConfig(filter_length=256, hop_length=64, win_length=256, n_mel_channels=20)


def _dataset(root: Path, lengths: tuple[int, ...] = (3000, 4100, 2500)) -> list[DatasetItem]:
    (root / "wavs").mkdir(parents=True)
    utts = []
    for i, n in enumerate(lengths):
        audio = 0.4 * np.random.default_rng(i).uniform(-1, 1, n)
        sf.write(root / "wavs" / f"u{i}.wav", audio, 22050, subtype="PCM_16")
        utts.append(DatasetItem(f"u{i}", root / "wavs" / f"u{i}.wav", f"Sentence  number {i}."))
    return utts


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_preprocess_writes_mels_filelist_and_contract(tmp_path: Path) -> None:
    utts = _dataset(tmp_path / "data")
    out = tmp_path / "mels_out"
    filelist = preprocess(utts, out, CONFIG, jobs=2, progress=False)
    assert filelist == out / "mels.txt"
    assert filelist.read_text(encoding="utf-8").splitlines() == [f"mels/u{i}.pt|Sentence number {i}." for i in range(3)]
    assert json.loads((out / "mel_config.json").read_text()) == asdict(CONFIG)
    assert read_mel_config(out) == CONFIG

    mel_fn = MelSpectrogram(CONFIG)
    for utt in utts:
        audio = torch.from_numpy(sf.read(utt.audio_path, dtype="float32")[0])
        expected = mel_fn(audio.unsqueeze(0)).squeeze(0)
        saved = torch.load(out / "mels" / f"{utt.id}.pt", weights_only=True)
        assert saved.dtype == torch.float32 and saved.shape == (20, audio.numel() // 64 + 1)
        torch.testing.assert_close(saved, expected, rtol=0, atol=0)

    # the filelist feeds TextMelDataset(load_mel_from_disk=True) directly
    on_disk = TextMelDataset(read_filelist(filelist), CONFIG, load_mel_from_disk=True)
    on_the_fly = TextMelDataset(utts, CONFIG)
    for i in range(3):
        torch.testing.assert_close(on_disk[i][1], on_the_fly[i][1], rtol=0, atol=0)
        assert torch.equal(on_disk[i][0], on_the_fly[i][0])


def test_preprocess_is_idempotent_and_resumable(tmp_path: Path) -> None:
    utts = _dataset(tmp_path / "data")
    out = tmp_path / "out"
    preprocess(utts, out, CONFIG, progress=False)
    before = _mtimes(out)
    preprocess(utts, out, CONFIG, progress=False)
    assert _mtimes(out) == before  # second run touches nothing

    (out / "mels" / "u1.pt").unlink()
    (out / "mels" / ".u2.pt.k2j_x9q1.tmp").write_bytes(b"half a file from a killed run")  # mkstemp naming
    preprocess(utts, out, CONFIG, progress=False)
    after = _mtimes(out)
    assert sorted(after) == sorted(before)  # stale temp file gone, u1 back
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"mels/u1.pt"}


def test_preprocess_refuses_another_mel_contract(tmp_path: Path) -> None:
    utts = _dataset(tmp_path / "data")
    preprocess(utts, tmp_path / "out", CONFIG, progress=False)
    other = replace(CONFIG, hop_length=32, mel_fmax=7000.0)
    with pytest.raises(
        DataError,
        match=r"mel_config\.json: the mels here were made with another mel contract "
        r"\(hop_length 64 != 32, mel_fmax 8000\.0 != 7000\.0\)",
    ):
        preprocess(utts, tmp_path / "out", other, progress=False)


def test_preprocess_sample_rate_policy(tmp_path: Path) -> None:
    (tmp_path / "a.wav").parent.mkdir(exist_ok=True)
    sf.write(tmp_path / "a.wav", np.zeros(1600) + 0.1, 16000, subtype="PCM_16")
    utts = [DatasetItem("a", tmp_path / "a.wav", "hi")]
    with pytest.raises(AudioError, match="expected 22050 Hz audio, found 16000 Hz"):
        preprocess(utts, tmp_path / "out", CONFIG, progress=False)
    preprocess(utts, tmp_path / "out", CONFIG, resample=True, progress=False)
    assert torch.load(tmp_path / "out" / "mels" / "a.pt", weights_only=True).shape == (20, 2205 // 64 + 1)
    with pytest.raises(DataError, match="expected unique ids"):
        preprocess(utts * 2, tmp_path / "out", CONFIG, progress=False)
