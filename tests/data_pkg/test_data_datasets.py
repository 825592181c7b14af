"""Reading LJ Speech metadata and NVIDIA filelists; TextMelDataset and AudioMelDataset items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tacoglow.audio import MelConfig, MelSpectrogram
from tacoglow.data import (
    AudioMelDataset,
    DatasetItem,
    TextMelDataset,
    load_mel,
    read_dataset,
    read_filelist,
    read_metadata,
)
from tacoglow.errors import AudioError, DataError
from tacoglow.text import TextFrontend, text_to_sequence

SR = 22050
# A small STFT keeps the filterbank/basis construction cheap; the data code is size-agnostic.
SMALL = MelConfig(filter_length=256, hop_length=64, win_length=256, n_mel_channels=20)


def _wav(path: Path, n_samples: int, sample_rate: int = SR, seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = 0.5 * np.random.default_rng(seed).uniform(-1, 1, n_samples)
    sf.write(path, audio, sample_rate, subtype="PCM_16")
    return sf.read(path, dtype="float32")[0]


def test_read_metadata_prefers_normalized_text(tmp_path: Path) -> None:
    (tmp_path / "metadata.csv").write_text(
        'LJ001-0001|Dr. Who, 1st "quote|doctor who, first "quote\n\nLJ001-0002|Only raw text|\nLJ001-0003|Two fields\n',
        encoding="utf-8",
    )
    for source in (tmp_path, tmp_path / "metadata.csv"):
        utts = read_metadata(source)
        assert [u.id for u in utts] == ["LJ001-0001", "LJ001-0002", "LJ001-0003"]
        assert [u.text for u in utts] == ['doctor who, first "quote', "Only raw text", "Two fields"]
        assert utts[0].audio_path == tmp_path / "wavs" / "LJ001-0001.wav"
        assert utts[0].mel_path is None
    assert read_dataset(tmp_path) == utts


def test_read_metadata_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "metadata.csv"
    path.write_text("a|x|x\nb|y|y|extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"metadata\.csv:2: expected 'id\|raw text\|normalized text', found 4 fields"):
        read_metadata(path)
    path.write_text("a|x|x\na|y|y\n", encoding="utf-8")
    with pytest.raises(DataError, match="unique utterance ids, found 'a' twice"):
        read_metadata(path)
    with pytest.raises(DataError, match="not found"):
        read_metadata(tmp_path / "nope.csv")


def test_read_filelist_audio_and_mel_entries(tmp_path: Path) -> None:
    lists = tmp_path / "filelists"
    lists.mkdir()
    (lists / "train.txt").write_text(
        "LJSpeech-1.1/wavs/LJ050-0234.wav|It has used other agents.\n"
        "LJSpeech-1.1/wavs/LJ019-0373.wav|to avail himself,\n",
        encoding="utf-8",
    )
    utts = read_filelist(lists / "train.txt", root=tmp_path)
    assert utts[0] == DatasetItem(
        "LJ050-0234", tmp_path / "LJSpeech-1.1/wavs/LJ050-0234.wav", "It has used other agents."
    )
    assert utts[1].text == "to avail himself,"
    # default root: the filelist's folder, as preprocess writes mels.txt next to mels/
    (lists / "mels.txt").write_text("mels/a.pt|hello\n", encoding="utf-8")
    (mel,) = read_dataset(lists / "mels.txt")
    assert mel == DatasetItem("a", None, "hello", mel_path=lists / "mels" / "a.pt")


def test_read_filelist_rejects_three_fields_with_line_number(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("wavs/a.wav|one\n\nwavs/b.wav|two|three\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"list\.txt:3: expected 'path\|text' \(2 fields\), found 3 fields"):
        read_filelist(path)


def test_text_mel_dataset_computes_mels_from_audio(tmp_path: Path) -> None:
    audio = _wav(tmp_path / "wavs" / "a.wav", 3000)
    utt = DatasetItem("a", tmp_path / "wavs" / "a.wav", "Hello, 2 worlds!")
    config = SMALL
    dataset = TextMelDataset([utt], config)
    text, mel = dataset[0]
    assert len(dataset) == 1
    assert text.dtype == torch.long and text.tolist() == text_to_sequence("Hello, 2 worlds!")
    assert mel.shape == (20, 3000 // 64 + 1) and mel.dtype == torch.float32
    expected = MelSpectrogram(config)(torch.from_numpy(audio).unsqueeze(0)).squeeze(0)
    torch.testing.assert_close(mel, expected, rtol=0, atol=0)


def test_text_mel_dataset_loads_mels_from_disk(tmp_path: Path) -> None:
    mel = torch.randn(80, 11)
    torch.save(mel, tmp_path / "a.pt")
    torch.save(torch.randn(40, 11), tmp_path / "b.pt")
    config = MelConfig()
    good = TextMelDataset([DatasetItem("a", None, "hi", tmp_path / "a.pt")], config, load_mel_from_disk=True)
    assert torch.equal(good[0][1], mel)
    assert good[0][0].tolist() == text_to_sequence("hi")
    phones = TextMelDataset(
        [DatasetItem("a", None, "hi", tmp_path / "a.pt")], config, TextFrontend(arpabet=True), load_mel_from_disk=True
    )
    assert phones[0][0].tolist() == text_to_sequence("{HH AY1}") and torch.equal(phones[0][1], mel)
    bad = TextMelDataset([DatasetItem("b", None, "hi", tmp_path / "b.pt")], config, load_mel_from_disk=True)
    with pytest.raises(DataError, match=r"b\.pt: expected 80 mel channels, found 40"):
        bad[0]
    with pytest.raises(DataError, match="mel file not found"):
        load_mel(tmp_path / "c.pt", 80)
    with pytest.raises(DataError, match="expected a mel path for every utterance"):
        TextMelDataset([DatasetItem("a", tmp_path / "a.wav", "hi")], config, load_mel_from_disk=True)


def test_text_mel_dataset_sample_rate_policy(tmp_path: Path) -> None:
    _wav(tmp_path / "a.wav", 1600, sample_rate=16000)
    utt = DatasetItem("a", tmp_path / "a.wav", "hi")
    with pytest.raises(AudioError, match="expected 22050 Hz audio, found 16000 Hz"):
        TextMelDataset([utt], SMALL)[0]
    _, mel = TextMelDataset([utt], SMALL, resample=True)[0]
    assert mel.shape == (20, 2205 // 64 + 1)


def test_audio_mel_dataset_crops_a_segment_and_its_own_mel(tmp_path: Path) -> None:
    audio = torch.from_numpy(_wav(tmp_path / "long.wav", 20000))
    _wav(tmp_path / "short.wav", 3000, seed=1)
    config = SMALL
    utts = [DatasetItem("long", tmp_path / "long.wav", ""), DatasetItem("short", tmp_path / "short.wav", "")]
    dataset = AudioMelDataset(utts, config, segment_length=8000, generator=torch.Generator().manual_seed(3))
    mel, segment = dataset[0]
    assert mel.shape == (20, 8000 // 64 + 1) and segment.shape == (8000,)
    candidates = torch.nonzero(audio[: 20000 - 8000 + 1] == segment[0]).squeeze(1).tolist()
    starts = [s for s in candidates if torch.equal(audio[s : s + 8000], segment)]
    assert len(starts) == 1
    torch.testing.assert_close(mel, MelSpectrogram(config)(segment.unsqueeze(0)).squeeze(0), rtol=0, atol=0)

    mel, padded = dataset[1]
    assert padded.shape == (8000,) and (padded[3000:] == 0).all() and padded[:3000].abs().max() > 0.1
    assert mel.shape == (20, 8000 // 64 + 1)

    again = AudioMelDataset(utts, config, segment_length=8000, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again[0][1], segment)
    with pytest.raises(DataError, match="segment_length"):
        AudioMelDataset(utts, config, segment_length=0)
