"""Mel spectrograms to disk (``tacoglow preprocess``), as NVIDIA's ``--load-mel-from-disk`` reads them.

Layout written under ``out_dir``::

    out_dir/mels/<id>.pt        float32 tensor (n_mels, T_mel), natural-log mel
    out_dir/mels.txt            mel filelist: ``mels/<id>.pt|text`` per utterance, dataset order
    out_dir/mel_config.json     the mel contract the mels were made with (MelConfig fields)

The mels are computed with :class:`tacoglow.audio.MelSpectrogram`, the module training and
evaluation use, so on-disk and on-the-fly mels are the same. Every file is written atomically
(temp file + rename), so an existing file is complete: a re-run skips the mels already there
and rewrites nothing that has not changed. A folder whose ``mel_config.json`` records another
contract is refused: mels of two contracts must never be mixed in one training set.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from tacoglow.audio import MelConfig, MelSpectrogram, load_wav
from tacoglow.data.datasets import DatasetItem
from tacoglow.data.files import run_parallel, safe_join
from tacoglow.errors import ConfigError, DataError
from tacoglow.fileio import remove_stale_temp_files, write_bytes

__all__ = ["MEL_CONFIG_FILE", "MEL_DIR", "MEL_FILELIST", "preprocess", "read_mel_config"]

log = logging.getLogger(__name__)

MEL_DIR = "mels"
MEL_FILELIST = "mels.txt"
MEL_CONFIG_FILE = "mel_config.json"


def read_mel_config(path: str | os.PathLike[str]) -> MelConfig:
    """Read the mel contract recorded by :func:`preprocess` (``mel_config.json`` or its folder).

    Raises:
        DataError: the file is missing, unreadable, or not a set of MelConfig fields.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MEL_CONFIG_FILE
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        return MelConfig(**fields)
    except FileNotFoundError:
        raise DataError(f"{path}: mel contract not found") from None
    except (OSError, ValueError, TypeError) as err:
        raise DataError(f"{path}: expected MelConfig fields as JSON, found an unusable file ({err})") from None


def _claim_folder(out: Path, mel_config: MelConfig) -> None:
    """Record the mel contract in ``out``, or refuse if another one is recorded there."""
    path = out / MEL_CONFIG_FILE
    wanted = asdict(mel_config)
    if path.exists():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: cannot read the recorded mel contract ({err})") from None
        diff = [
            f"{key} {recorded.get(key)!r} != {value!r}" for key, value in wanted.items() if recorded.get(key) != value
        ]
        diff += [f"{key} {recorded[key]!r} (unknown)" for key in recorded if key not in wanted]
        if diff:
            raise DataError(
                f"{path}: the mels here were made with another mel contract ({', '.join(diff)}); use another folder"
            )
        return
    write_bytes(path, (json.dumps(wanted, indent=2, sort_keys=True) + "\n").encode("utf-8"), error=DataError)


def preprocess(
    utterances: Sequence[DatasetItem],
    out_dir: str | os.PathLike[str],
    mel_config: MelConfig,
    *,
    jobs: int = 2,
    resample: bool = False,
    progress: bool = True,
) -> Path:
    """Compute the mel of every utterance and save it under ``out_dir``; write a mel filelist.

    Idempotent and resumable: mels already on disk are kept, and ``mels.txt`` /
    ``mel_config.json`` are rewritten only when their content changes.

    Args:
        utterances: the dataset (audio paths), e.g. checked and filtered with
            :func:`tacoglow.data.check_dataset` / :func:`tacoglow.data.filter_utterances`.
        out_dir: the output folder (created).
        mel_config: the mel contract.
        jobs: files processed at once (threads: torch and libsndfile release the GIL).
        resample: resample audio at another sample rate instead of failing on it.
        progress: show a progress bar on stderr.

    Returns:
        the mel filelist ``out_dir/mels.txt``; read it with
        ``read_filelist(path)`` and train with ``TextMelDataset(..., load_mel_from_disk=True)``.

    Raises:
        DataError: ``out_dir`` holds mels of another mel contract (naming the differing
            settings), an utterance has no audio path, ids repeat, or an id is not a plain
            file name (``../x``, ``/tmp/x``: it would leave ``out_dir``).
        AudioError: an audio file is missing, unreadable or at the wrong sample rate.

    >>> preprocess(read_metadata("LJSpeech-1.1"), "ljs_mels", MelConfig(), jobs=8)  # doctest: +SKIP
    PosixPath('ljs_mels/mels.txt')
    """
    if jobs < 1:
        raise ConfigError(f"jobs: expected at least 1 worker, found {jobs}")
    out = Path(out_dir)
    mel_dir = out / MEL_DIR
    seen: set[str] = set()
    for utt in utterances:
        safe_join(mel_dir, utt.id, ".pt")  # an id like "../../x" must not leave out_dir
        if utt.audio_path is None:
            raise DataError(f"utterance {utt.id}: expected an audio path to compute a mel from, found none")
        if utt.id in seen:
            raise DataError(f"utterances: expected unique ids (they name the mel files), found {utt.id!r} twice")
        seen.add(utt.id)

    mel_dir.mkdir(parents=True, exist_ok=True)
    _claim_folder(out, mel_config)
    for folder in (out, mel_dir):  # temp files of a run killed mid-write
        remove_stale_temp_files(folder)

    todo = [utt for utt in utterances if not (mel_dir / f"{utt.id}.pt").exists()]
    mel_fn = MelSpectrogram(mel_config)

    def work(utt: DatasetItem) -> None:
        assert utt.audio_path is not None
        audio, _ = load_wav(utt.audio_path, mel_config.sampling_rate, resample=resample)
        with torch.no_grad():  # grad mode is per thread
            mel = mel_fn(torch.as_tensor(audio).unsqueeze(0)).squeeze(0)  # (1, S) -> (n_mels, T_mel)
        buffer = io.BytesIO()  # saved from memory: the archive name inside stays the same on every run
        torch.save(mel.contiguous().clone(), buffer)
        write_bytes(mel_dir / f"{utt.id}.pt", buffer.getvalue(), error=DataError)

    run_parallel(work, todo, jobs=jobs, desc="preprocess", progress=progress)

    filelist = out / MEL_FILELIST
    rows = "".join(f"{MEL_DIR}/{utt.id}.pt|{' '.join(utt.text.split())}\n" for utt in utterances)
    if not filelist.exists() or filelist.read_text(encoding="utf-8") != rows:
        write_bytes(filelist, rows.encode("utf-8"), error=DataError)
    log.info(
        "preprocess %s: %d mels (%d computed, %d already there)",
        out,
        len(utterances),
        len(todo),
        len(utterances) - len(todo),
    )
    return filelist
