"""check_dataset finds each kind of bad item; filter_utterances skips them or stops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tacoglow.audio import MelConfig
from tacoglow.data import DataReport, DatasetItem, check_dataset, filter_utterances
from tacoglow.errors import ConfigError, DataError

CONFIG = MelConfig(filter_length=256, hop_length=64, win_length=256, n_mel_channels=20)


def _tone(n_samples: int, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * 220 * np.arange(n_samples) / 22050)


@pytest.fixture()
def dataset(tmp_path: Path) -> list[DatasetItem]:
    """One utterance per problem, plus two good ones."""
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    second = 22050
    audio = {
        "good": (_tone(second), 22050),
        "good2": (_tone(second // 2, 0.9), 22050),
        "rate16k": (_tone(16000), 16000),
        "empty": (_tone(second), 22050),
        "unspeakable": (_tone(second), 22050),
        "silent": (np.zeros(second), 22050),
        "clipped": (np.clip(_tone(second, 1.5), -1, 1), 22050),
        "short": (_tone(1000), 22050),
    }
    for name, (samples, rate) in audio.items():
        sf.write(wavs / f"{name}.wav", samples, rate, subtype="PCM_16")
    (wavs / "corrupt.wav").write_bytes(b"RIFF this is no audio")
    texts = {"empty": "  ", "unspeakable": "%% {XX}"}
    names = [*audio, "corrupt", "missing"]
    return [DatasetItem(n, wavs / f"{n}.wav", texts.get(n, f"DatasetItem {n}.")) for n in names]


def test_check_finds_every_problem(dataset: list[DatasetItem]) -> None:
    report = check_dataset(dataset, CONFIG, min_duration_s=0.1, max_duration_s=0.9)
    assert report.n_utterances == 10
    assert {kind: [i for i, _ in found] for kind, found in report.problems.items() if found} == {
        "missing": ["missing"],
        "corrupt": ["corrupt"],
        "sample_rate": ["rate16k"],
        "empty_text": ["empty", "unspeakable"],
        "silent": ["silent"],
        "clipped": ["clipped"],
        "too_short": ["short"],
        "too_long": ["good", "rate16k", "empty", "unspeakable", "silent", "clipped"],
    }
    report = check_dataset(dataset, CONFIG, min_duration_s=0.1, max_duration_s=20.0, jobs=2)
    assert report.bad_ids == {"missing", "corrupt", "rate16k", "empty", "unspeakable", "silent", "clipped", "short"}
    assert report.counts["empty_text"] == 2 and not report.ok
    assert report.examples("sample_rate") == ["rate16k (16000 Hz, expected 22050)"]
    assert "missing.wav" in report.examples("missing")[0]

    summary = report.summary()
    assert summary.splitlines()[0] == "dataset check: 10 utterances, 2 usable, 8 with problems"
    for label in ("missing file", "corrupt file", "wrong sample rate", "silent audio", "clipped audio"):
        assert any(line.startswith(label) for line in summary.splitlines())
    assert "too long" not in summary


def test_resampling_allowed_makes_the_rate_fine(dataset: list[DatasetItem]) -> None:
    report = check_dataset(dataset, CONFIG, resample=True, min_duration_s=0.1)
    assert "rate16k" not in report.bad_ids


def test_clean_dataset_reports_no_problems(dataset: list[DatasetItem]) -> None:
    report = check_dataset(dataset[:2], CONFIG)
    assert report.ok and report.counts == {} and report.bad_ids == set()
    assert report.summary().endswith("no problems found")


def test_filter_skips_or_stops(dataset: list[DatasetItem]) -> None:
    report = check_dataset(dataset, CONFIG, min_duration_s=0.1)
    kept = filter_utterances(dataset, report, on_error="skip")
    assert [u.id for u in kept] == ["good", "good2"]
    with pytest.raises(DataError, match=r"8 of 10 utterances have problems \(missing file 1, corrupt file 1, "):
        filter_utterances(dataset, report, on_error="stop")
    assert filter_utterances(dataset[:2], DataReport(2), on_error="stop") == dataset[:2]
    with pytest.raises(ConfigError, match="on_error"):
        filter_utterances(dataset, report, on_error="ignore")  # type: ignore[arg-type]


def test_check_precomputed_mels(tmp_path: Path) -> None:
    torch.save(torch.zeros(20, 100), tmp_path / "a.pt")  # 0.29 s
    torch.save(torch.zeros(80, 50), tmp_path / "b.pt")
    torch.save(torch.zeros(20, 2), tmp_path / "c.pt")
    utts = [DatasetItem(n, None, "hello", tmp_path / f"{n}.pt") for n in "abcd"]
    report = check_dataset(utts, CONFIG)
    assert report.counts == {"missing": 1, "corrupt": 1, "too_short": 1}
    assert (
        report.problems["corrupt"][0][0] == "b"
        and "expected 20 mel channels, found 80" in report.problems["corrupt"][0][1]
    )
    assert report.problems["too_short"] == [("c", "0.01 s < 0.2 s")]
