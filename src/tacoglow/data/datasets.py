"""Reading speech datasets: LJ Speech ``metadata.csv``, NVIDIA filelists, and the torch datasets.

Two on-disk layouts are understood:

- **LJ Speech**: ``<root>/metadata.csv`` with lines ``id|raw text|normalized text`` and the audio in
  ``<root>/wavs/<id>.wav`` (:func:`read_metadata`).
- **NVIDIA filelists**: lines ``path|text`` with the path relative to a dataset root, either audio
  (``LJSpeech-1.1/wavs/LJ001-0001.wav|...``) or precomputed mels (``mels/LJ001-0001.pt|...``)
  (:func:`read_filelist`).

Both give a list of :class:`DatasetItem`. :class:`TextMelDataset` turns them into Tacotron 2
training items (text ids, mel), :class:`AudioMelDataset` into WaveGlow items (mel, audio segment),
following NVIDIA's recipe (ARCHITECTURE_FACTS §2.3, §6.3).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from tacoglow.audio import MelConfig, MelSpectrogram, load_wav
from tacoglow.data.files import safe_join
from tacoglow.errors import DataError
from tacoglow.text import TextFrontend

__all__ = [
    "AudioMelDataset",
    "DatasetItem",
    "TextMelDataset",
    "load_mel",
    "read_dataset",
    "read_filelist",
    "read_metadata",
]

#: File suffixes that mark a filelist entry as a precomputed mel rather than audio.
MEL_SUFFIXES = (".pt",)


@dataclass(frozen=True)
class DatasetItem:
    """One item of a training dataset: a transcript and its audio or precomputed mel.

    (Not to be confused with :class:`tacoglow.inference.Utterance`, a synthesis result.)

    Attributes:
        id: unique name, e.g. ``LJ001-0001`` (the file stem for filelists).
        audio_path: the wav file, or None for an entry of a mel filelist.
        text: the transcript the model reads (raw or normalized; it is cleaned on load).
        mel_path: a precomputed mel ``.pt`` file (n_mels, T_mel), or None.
    """

    id: str
    audio_path: Path | None
    text: str
    mel_path: Path | None = None


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, line without newline) of the non-blank lines of a UTF-8 file."""
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: dataset file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read as UTF-8 text ({err})") from None
    # splitlines() would also split on \x1c-\x1e and U+2028, which may sit inside a transcript.
    lines = content.split("\n")
    return [(n, line.rstrip("\r")) for n, line in enumerate(lines, 1) if line.strip()]


def _check_unique(utterances: list[DatasetItem], path: Path) -> None:
    seen: set[str] = set()
    for utt in utterances:
        if utt.id in seen:
            raise DataError(f"{path}: expected unique utterance ids, found {utt.id!r} twice")
        seen.add(utt.id)


def read_metadata(path: str | os.PathLike[str]) -> list[DatasetItem]:
    """Read an LJ Speech ``metadata.csv`` (``id|raw text|normalized text`` per line).

    The normalized text is used when present and non-empty, else the raw text. Audio is
    ``<folder of metadata.csv>/wavs/<id>.wav``. The file is split on ``|`` only (LJ Speech's
    transcripts hold unbalanced quotes, so it is not parsed as CSV).

    Args:
        path: the ``metadata.csv`` file, or the dataset folder holding it.

    Returns:
        the utterances in file order.

    Raises:
        DataError: a missing file, a line without 2 or 3 fields, an empty id, an id that is not
            a plain file name (``../x``), or a duplicate id.

    >>> utts = read_metadata("LJSpeech-1.1/metadata.csv")  # doctest: +SKIP
    >>> utts[0].audio_path.name  # doctest: +SKIP
    'LJ001-0001.wav'
    """
    path = Path(path)
    if path.is_dir():
        path = path / "metadata.csv"
    wav_dir = path.parent / "wavs"
    utterances = []
    for lineno, line in _read_lines(path):
        fields = line.split("|")
        if len(fields) not in (2, 3):
            raise DataError(f"{path}:{lineno}: expected 'id|raw text|normalized text', found {len(fields)} fields")
        utt_id = fields[0].strip()
        if not utt_id:
            raise DataError(f"{path}:{lineno}: expected an utterance id before the first '|', found none")
        try:
            audio_path = safe_join(wav_dir, utt_id, ".wav")  # "../../x" must not read outside wavs/
        except DataError as err:
            raise DataError(f"{path}:{lineno}: {err}") from None
        text = fields[2] if len(fields) == 3 and fields[2].strip() else fields[1]
        utterances.append(DatasetItem(utt_id, audio_path, text.strip()))
    _check_unique(utterances, path)
    return utterances


def read_filelist(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> list[DatasetItem]:
    """Read an NVIDIA filelist: ``path|text`` per line, paths relative to a dataset root.

    Entries ending in ``.pt`` are precomputed mels (``mels/x.pt|text``, as written by
    :func:`tacoglow.data.preprocess`) and fill :attr:`DatasetItem.mel_path`; others are audio.
    The utterance id is the file stem.

    Args:
        path: the filelist.
        root: the folder the listed paths are relative to (NVIDIA's ``--dataset-path``);
            default: the filelist's own folder. Absolute listed paths are kept as they are.

    Returns:
        the utterances in file order.

    Raises:
        DataError: a missing file, a line that is not exactly 2 fields (naming file and line),
            an empty path, or two entries with the same file stem.
    """
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    utterances = []
    for lineno, line in _read_lines(path):
        fields = line.split("|")
        if len(fields) != 2:
            raise DataError(f"{path}:{lineno}: expected 'path|text' (2 fields), found {len(fields)} fields")
        rel, text = fields[0].strip(), fields[1].strip()
        if not rel:
            raise DataError(f"{path}:{lineno}: expected a file path before '|', found none")
        file = base / rel
        if file.suffix.lower() in MEL_SUFFIXES:
            utterances.append(DatasetItem(file.stem, None, text, mel_path=file))
        else:
            utterances.append(DatasetItem(file.stem, file, text))
    _check_unique(utterances, path)
    return utterances


def read_dataset(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> list[DatasetItem]:
    """Read whichever layout ``path`` is: a dataset folder or ``*.csv`` (LJ Speech), else a filelist.

    Args:
        path: an LJ Speech folder (holding ``metadata.csv``), a ``metadata.csv``, or a filelist.
        root: for filelists, the folder listed paths are relative to (default: the filelist's folder).

    Returns:
        the utterances in file order.
    """
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".csv":
        return read_metadata(path)
    return read_filelist(path, root)


def load_mel(path: str | os.PathLike[str], n_mels: int) -> Tensor:
    """Load a precomputed mel written by :func:`tacoglow.data.preprocess`.

    Args:
        path: a ``.pt`` file holding one float tensor.
        n_mels: the expected number of mel channels.

    Returns:
        mel (Tensor): natural-log mel, float32 (n_mels, T_mel).

    Raises:
        DataError: a missing or unreadable file, a tensor that is not (n_mels, T_mel), or
            NaN / infinity in it.
    """
    path = Path(path)
    try:
        mel = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: mel file not found") from None
    except Exception as err:  # torch.load raises many unrelated types for a damaged file
        raise DataError(f"{path}: cannot load mel tensor ({type(err).__name__}: {err})") from None
    if not isinstance(mel, Tensor) or mel.dim() != 2:
        found = f"shape {tuple(mel.shape)}" if isinstance(mel, Tensor) else type(mel).__name__
        raise DataError(f"{path}: expected a mel tensor (n_mels, T_mel), found {found}")
    if mel.shape[0] != n_mels:
        raise DataError(f"{path}: expected {n_mels} mel channels, found {mel.shape[0]}")
    if not torch.isfinite(mel).all():  # else training reports "loss nan" without naming the item
        raise DataError(f"{path}: expected finite mel values, found NaN or infinity")
    return mel.float()


class TextMelDataset(Dataset[tuple[Tensor, Tensor]]):
    """Tacotron 2 training items: (text ids, mel), as NVIDIA's ``TextMelLoader``.

    The text is cleaned and mapped to ids on access; the mel is computed from the wav with
    :class:`tacoglow.audio.MelSpectrogram` or, with ``load_mel_from_disk``, read from the
    utterance's ``mel_path`` (see :func:`tacoglow.data.preprocess`).

    Args:
        utterances: the items, e.g. from :func:`read_metadata` or :func:`read_filelist`.
        mel_config: the mel contract (sample rate, STFT sizes, n_mels, fmin/fmax).
        text_frontend: how transcripts become symbol ids (default: letters, english_cleaners).
        load_mel_from_disk: read precomputed mels instead of computing them from audio.
        resample: resample audio whose rate differs from ``mel_config.sampling_rate``
            (otherwise such a file is an error, as in the reference).

    Items:
        text (LongTensor): symbol ids, (T_text,).
        mel (Tensor): natural-log mel, float32 (n_mels, T_mel).

    >>> ds = TextMelDataset(read_metadata("corpus"), MelConfig())  # doctest: +SKIP
    >>> text, mel = ds[0]  # doctest: +SKIP
    >>> mel.shape  # doctest: +SKIP
    torch.Size([80, T_mel])
    """

    def __init__(
        self,
        utterances: Sequence[DatasetItem],
        mel_config: MelConfig,
        text_frontend: TextFrontend | None = None,
        load_mel_from_disk: bool = False,
        resample: bool = False,
    ) -> None:
        self.utterances = list(utterances)
        self.mel_config = mel_config
        self.frontend = text_frontend or TextFrontend()
        self.load_mel_from_disk = load_mel_from_disk
        self.resample = resample
        if load_mel_from_disk:
            missing = [u.id for u in self.utterances if u.mel_path is None]
            if missing:
                raise DataError(
                    f"load_mel_from_disk: expected a mel path for every utterance, "
                    f"found {len(missing)} without one (first: {missing[0]}); use a mel filelist"
                )
        else:
            missing = [u.id for u in self.utterances if u.audio_path is None]
            if missing:
                raise DataError(
                    f"TextMelDataset: expected an audio path for every utterance, found {len(missing)} "
                    f"without one (first: {missing[0]}); pass load_mel_from_disk=True for a mel filelist"
                )
            self.mel_fn = MelSpectrogram(mel_config)

    def __len__(self) -> int:
        return len(self.utterances)

    def text_ids(self, index: int) -> Tensor:
        """Symbol ids of item ``index``, LongTensor (T_text,)."""
        utt = self.utterances[index]
        return torch.tensor(self.frontend.to_sequence(utt.text), dtype=torch.long)

    def mel(self, index: int) -> Tensor:
        """Mel of item ``index``, float32 (n_mels, T_mel)."""
        utt = self.utterances[index]
        if self.load_mel_from_disk:
            assert utt.mel_path is not None
            return load_mel(utt.mel_path, self.mel_config.n_mel_channels)
        assert utt.audio_path is not None
        audio, _ = load_wav(utt.audio_path, self.mel_config.sampling_rate, resample=self.resample)
        with torch.no_grad():
            return self.mel_fn(audio.unsqueeze(0)).squeeze(0)  # (1, S) -> (1, n_mels, T_mel) -> (n_mels, T_mel)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.text_ids(index), self.mel(index)


class AudioMelDataset(Dataset[tuple[Tensor, Tensor]]):
    """WaveGlow training items: a random audio segment and the mel of that segment alone.

    As NVIDIA's ``MelAudioLoader``: an utterance at least ``segment_length`` samples long is
    cropped at a start drawn uniformly from [0, S - segment_length]; a shorter one is zero-padded
    on the right. The mel is computed from the segment itself (reflect padding at its edges).

    Args:
        utterances: items with audio paths.
        mel_config: the mel contract.
        segment_length: samples per item; a multiple of hop_length gives segment/hop + 1 frames.
        generator: RNG for the crop start. None uses torch's global RNG, which DataLoader seeds
            differently in each worker process; a shared generator would give every worker the
            same crops.
        resample: resample audio whose rate differs from ``mel_config.sampling_rate``.

    Items:
        mel (Tensor): natural-log mel of the segment, float32 (n_mels, segment_length // hop + 1).
        audio (Tensor): the segment in [-1, 1], float32 (segment_length,).
    """

    def __init__(
        self,
        utterances: Sequence[DatasetItem],
        mel_config: MelConfig,
        segment_length: int = 8000,
        generator: torch.Generator | None = None,
        resample: bool = False,
    ) -> None:
        if segment_length <= 0:
            raise DataError(f"segment_length: expected a positive number of samples, found {segment_length}")
        self.utterances = list(utterances)
        missing = [u.id for u in self.utterances if u.audio_path is None]
        if missing:
            raise DataError(
                f"AudioMelDataset: expected an audio path for every utterance, "
                f"found {len(missing)} without one (first: {missing[0]})"
            )
        self.mel_config = mel_config
        self.segment_length = segment_length
        self.generator = generator
        self.resample = resample
        self.mel_fn = MelSpectrogram(mel_config)

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        utt = self.utterances[index]
        assert utt.audio_path is not None
        audio, _ = load_wav(utt.audio_path, self.mel_config.sampling_rate, resample=self.resample)
        n = audio.shape[0]
        if n >= self.segment_length:
            start = int(torch.randint(0, n - self.segment_length + 1, (1,), generator=self.generator))
            audio = audio[start : start + self.segment_length]
        else:
            audio = torch.nn.functional.pad(audio, (0, self.segment_length - n))
        with torch.no_grad():
            mel = self.mel_fn(audio.unsqueeze(0)).squeeze(0)  # (1, seg) -> (n_mels, seg // hop + 1)
        return mel, audio.contiguous()
