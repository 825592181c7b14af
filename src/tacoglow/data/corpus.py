"""Speech corpora generated here: sentences rendered with espeak-ng into an LJ Speech layout.

``make_corpus`` is the backend of ``tacoglow corpus``. It reads sentences (an NVIDIA filelist,
an LJ Speech ``metadata.csv``, a plain text file with one sentence per line, or a list of
strings), normalizes them with ``english_cleaners`` and keeps only characters of the symbol
table, so espeak-ng speaks exactly what the model will read; cuts long sentences at punctuation
into clauses of ``min_chars``..``max_chars`` characters; and renders each with Debian's
``espeak-ng`` in parallel. The output folder is an LJ Speech dataset::

    out_dir/metadata.csv      id|raw text|normalized text   (one line per utterance)
    out_dir/wavs/<id>.wav     16-bit PCM mono at sample_rate (22050 Hz)
    out_dir/corpus.json       the settings that shaped the audio (voice, rate, renderer)

Everything is deterministic: the same inputs and settings give the same ids, the same
selection, a byte-identical ``metadata.csv`` and byte-identical wavs. A re-run skips wavs that
already exist for the same text, so an interrupted run resumes. ``make_synthetic_corpus`` writes
the same layout with tones and noise bursts instead of speech, for tests on machines without
espeak-ng.
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import re
import shutil
import subprocess
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from tacoglow.audio import resample, save_wav
from tacoglow.data.files import run_parallel, safe_join
from tacoglow.errors import DataError
from tacoglow.fileio import remove_stale_temp_files, write_text
from tacoglow.text import english_cleaners, symbols
from tacoglow.text.split import split_fragments

__all__ = [
    "CorpusSummary",
    "make_corpus",
    "make_synthetic_corpus",
    "normalize_for_corpus",
    "read_sentences",
    "split_clauses",
]

log = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
MISSING_ESPEAK = "espeak-ng not found: install it with `apt-get install espeak-ng`"

#: Peak level of every rendered wav (headroom below full scale for 16-bit PCM).
PEAK_LEVEL = 0.9
#: Samples quieter than this, relative to the peak, count as silence when trimming the ends.
TRIM_TOP_DB = 40.0
#: Silence kept before the first and after the last loud sample, in seconds.
TRIM_MARGIN_S = 0.05

# Characters a symbol id exists for (letters, punctuation, space; ARPAbet entries are multi-char).
_SPEAKABLE = frozenset(s for s in symbols if len(s) == 1 and s != "_")
_METADATA_LINE = re.compile(r"^[^|\s]+\|[^|]*\|[^|]*$")
_FILELIST_LINE = re.compile(r"^[^|]+\.(wav|pt|flac)\|[^|]*$", re.IGNORECASE)


@dataclass(frozen=True)
class CorpusSummary:
    """What :func:`make_corpus` wrote.

    Attributes:
        out_dir: the dataset folder.
        metadata_path: its ``metadata.csv``.
        n_sentences: source sentences read.
        n_utterances: utterances in ``metadata.csv``.
        n_rendered: wavs rendered by this run.
        n_reused: wavs already present for the same text and kept.
        n_dropped: sentences, clauses or sentence fragments left out (outside [min_chars,
            max_chars], ARPAbet braces, nothing speakable), before the ``max_sentences`` subset.
        total_seconds: audio duration of all utterances.
    """

    out_dir: Path
    metadata_path: Path
    n_sentences: int
    n_utterances: int
    n_rendered: int
    n_reused: int
    n_dropped: int
    total_seconds: float


@dataclass(frozen=True)
class _Item:
    id: str
    raw: str
    normalized: str


def normalize_for_corpus(text: str) -> str:
    """The text a corpus speaks: ``english_cleaners``, keeping only symbol-table characters.

    Characters without a symbol id (``%``, ``"``, ``&``...) are dropped because the model never
    sees them; whitespace is collapsed and stripped.

    >>> normalize_for_corpus("Dr. Smith paid $5 (50%)!")
    'doctor smith paid five dollars (fifty)!'
    """
    cleaned = "".join(c for c in english_cleaners(text) if c in _SPEAKABLE)
    return " ".join(cleaned.split())


def read_sentences(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Read (source id, raw text) pairs from a filelist, a ``metadata.csv`` or plain text.

    The format is decided by the first non-blank line: ``path.wav|text`` is an NVIDIA filelist
    (id = the file stem), ``id|raw|normalized`` an LJ Speech metadata file (the raw text is
    used; the normalized one when raw is empty), anything else plain text with one sentence per
    line (id = ``utt-<line number>``).

    Raises:
        DataError: a missing or unreadable file, or a line not in the format of the first one
            (naming file and line).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise DataError(f"{path}: sentence file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read as UTF-8 text ({err})") from None
    numbered = [(n, line.rstrip("\r")) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        return []
    first = numbered[0][1]
    sources = []
    if _FILELIST_LINE.match(first):
        for n, line in numbered:
            fields = line.split("|")
            if len(fields) != 2:
                raise DataError(f"{path}:{n}: expected 'path|text' (2 fields), found {len(fields)} fields")
            sources.append((Path(fields[0].strip()).stem, fields[1].strip()))
    elif _METADATA_LINE.match(first):
        for n, line in numbered:
            fields = line.split("|")
            if len(fields) != 3:
                raise DataError(f"{path}:{n}: expected 'id|raw text|normalized text', found {len(fields)} fields")
            sources.append((fields[0].strip(), fields[1].strip() or fields[2].strip()))
    else:
        sources = [(f"utt-{n:05d}", line.strip()) for n, line in numbered]
    return sources


def split_clauses(text: str, *, max_chars: int, min_chars: int) -> list[str]:
    """Cut a long sentence at punctuation into clauses of min..max_chars characters.

    Fragments end where :func:`tacoglow.text.split.split_fragments` cuts (the package's one
    sentence splitter: , ; : . ! ? … and spaced dashes, not after abbreviations or initials).

    Lengths are of the normalized text (:func:`normalize_for_corpus`), i.e. what is spoken.
    Neighbouring fragments are joined to cover as much of the sentence as possible with as few
    clauses as possible; a fragment that fits in no clause (longer than ``max_chars`` alone, or
    too short to join) is left out. A sentence that already fits comes back whole.

    Returns:
        raw-text clauses in sentence order (possibly empty).

    >>> split_clauses("It rained all day, and the river rose; we left at dawn.", max_chars=40, min_chars=5)
    ['It rained all day, and the river rose;', 'we left at dawn.']
    """
    return _clauses(text, max_chars=max_chars, min_chars=min_chars)[0]


def _clauses(text: str, *, max_chars: int, min_chars: int) -> tuple[list[str], int]:
    """:func:`split_clauses` and the number of fragments it left out."""
    fragments = split_fragments(text)
    lengths = [len(normalize_for_corpus(f)) for f in fragments]
    n = len(fragments)
    # best[i]: (characters covered, -clauses, clauses) over fragments[:i]; maximize lexicographically.
    best: list[tuple[int, int, list[tuple[int, int]]]] = [(0, 0, [])]
    for i in range(1, n + 1):
        covered, neg_count, chunks = best[i - 1]
        candidate = (covered, neg_count, chunks)  # fragment i-1 left out
        for j in range(i - 1, -1, -1):
            length = sum(lengths[j:i]) + (i - j - 1)  # joined by single spaces
            if length > max_chars:
                break
            if length >= min_chars:
                prev_cov, prev_neg, prev_chunks = best[j]
                option = (prev_cov + length, prev_neg - 1, [*prev_chunks, (j, i)])
                if option[:2] > candidate[:2]:
                    candidate = option
        best.append(candidate)
    chunks = best[n][2]
    used = sum(i - j for j, i in chunks)
    return [" ".join(fragments[j:i]) for j, i in chunks], n - used


def _plan(
    sources: Sequence[tuple[str, str]],
    *,
    max_chars: int,
    min_chars: int,
    split_at_punctuation: bool,
    max_sentences: int | None,
    seed: int,
) -> tuple[list[_Item], int]:
    """Utterances to render, in source order, and the number of sentences/clauses dropped."""
    items: list[_Item] = []
    dropped = 0
    seen: set[str] = set()
    for source_id, raw in sources:
        raw = " ".join(raw.replace("|", " ").split())
        if "{" in raw:  # ARPAbet groups: espeak-ng would read the braces' letters aloud
            dropped += 1
            continue
        if split_at_punctuation:
            clauses, left_out = _clauses(raw, max_chars=max_chars, min_chars=min_chars)
            dropped += left_out
        else:
            clauses = [raw]
        for k, clause in enumerate(clauses, 1):
            normalized = normalize_for_corpus(clause)
            if not (min_chars <= len(normalized) <= max_chars) or not re.search("[a-z]", normalized):
                dropped += 1
                continue
            item_id = source_id if len(clauses) == 1 else f"{source_id}_{k}"
            if item_id in seen:
                raise DataError(f"sentences: expected unique ids, found {item_id!r} twice")
            seen.add(item_id)
            items.append(_Item(item_id, clause, normalized))
    if max_sentences is not None and max_sentences < len(items):
        keep = sorted(random.Random(seed).sample(range(len(items)), max_sentences))
        items = [items[i] for i in keep]
    return items, dropped


def _finish(audio: np.ndarray, sample_rate_in: int, sample_rate: int, item_id: str) -> torch.Tensor:
    """Resample, trim the silent ends (keeping a margin) and peak-normalise a rendered utterance."""
    wave = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    if sample_rate_in != sample_rate:
        wave = torch.as_tensor(resample(wave, sample_rate_in, sample_rate), dtype=torch.float32)
    peak = float(wave.abs().max()) if wave.numel() else 0.0
    if peak < 1e-4:
        raise DataError(f"utterance {item_id}: expected speech from the renderer, found silence")
    loud = torch.nonzero(wave.abs() > peak * 10 ** (-TRIM_TOP_DB / 20)).squeeze(1)
    margin = int(TRIM_MARGIN_S * sample_rate)
    start = max(int(loud[0]) - margin, 0)
    end = min(int(loud[-1]) + 1 + margin, wave.shape[0])
    return wave[start:end] * (PEAK_LEVEL / peak)


def render_espeak(text: str, *, voice: str = "en-us", rate_wpm: int = 175) -> tuple[np.ndarray, int]:
    """Speak ``text`` with Debian's espeak-ng, exactly as given.

    Returns:
        (audio, sample_rate): float32 (T_audio,) in [-1, 1] at espeak-ng's rate (22050 Hz).

    Raises:
        DataError: espeak-ng is not installed ("apt-get install espeak-ng"), or it failed
            (unknown voice, ...).
    """
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise DataError(MISSING_ESPEAK)
    # Text on stdin, never on the command line: a sentence starting with "-" is no option.
    proc = subprocess.run(
        [exe, "-v", voice, "-s", str(rate_wpm), "--stdout", "--stdin"],
        input=text.encode("utf-8"),
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DataError(
            f"espeak-ng -v {voice}: failed (exit {proc.returncode}: {message[-1] if message else 'no audio'})"
        )
    audio, sample_rate = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return audio, int(sample_rate)


def _espeak_renderer(voice: str, rate_wpm: int) -> Callable[[_Item], tuple[np.ndarray, int]]:
    if shutil.which(ESPEAK) is None:
        raise DataError(MISSING_ESPEAK)

    def render(item: _Item) -> tuple[np.ndarray, int]:
        try:
            return render_espeak(item.normalized, voice=voice, rate_wpm=rate_wpm)
        except DataError as exc:
            raise DataError(str(exc).replace(": failed", f": failed on utterance {item.id}", 1)) from None

    return render


def _espeak_version(exe: str) -> str:
    proc = subprocess.run([exe, "--version"], capture_output=True, check=False)
    return proc.stdout.decode("utf-8", "replace").strip()


def _synthetic_renderer(sample_rate: int, char_ms: float) -> Callable[[_Item], tuple[np.ndarray, int]]:
    """Each letter a short tone pair (consonants with a noise burst), punctuation a pause."""
    n = max(int(sample_rate * char_ms / 1000), 16)
    t = np.arange(n) / sample_rate
    envelope = np.hanning(n)

    def render(item: _Item) -> tuple[np.ndarray, int]:
        # Seeded by the id, so an utterance sounds the same whatever else was selected.
        rng = np.random.default_rng(zlib.crc32(item.id.encode("utf-8")))
        pieces = []
        for char in item.normalized:
            if "a" <= char <= "z":
                k = ord(char) - ord("a")
                tone = np.sin(2 * np.pi * (150 + 25 * k) * t) + 0.5 * np.sin(2 * np.pi * (900 + 110 * k) * t)
                if char not in "aeiouy":
                    tone = 0.4 * tone + 0.6 * rng.standard_normal(n)
                pieces.append(envelope * tone)
            elif char == " ":
                pieces.append(np.zeros(n // 2))
            else:
                pieces.append(np.zeros(2 * n))
        return np.concatenate(pieces).astype(np.float32), sample_rate

    return render


def _previous_texts(metadata: Path) -> dict[str, str] | None:
    """id -> normalized text of an earlier run's metadata.csv, or None if there is none."""
    if not metadata.exists():
        return None
    texts = {}
    for line in metadata.read_text(encoding="utf-8").split("\n"):
        fields = line.split("|")
        if len(fields) == 3:
            texts[fields[0]] = fields[2]
    return texts


def _check_settings(path: Path, settings: dict[str, object]) -> None:
    """Refuse to add audio made another way to a folder; record the settings on first use."""
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(f"{path}: cannot read corpus settings ({err})") from None
        diff = [f"{k} {old.get(k)!r} != {v!r}" for k, v in settings.items() if k != "espeak_ng" and old.get(k) != v]
        if diff:
            raise DataError(
                f"{path.parent}: holds a corpus made with other settings ({', '.join(diff)}); use another folder"
            )
        if old == settings:
            return
    write_text(path, json.dumps(settings, indent=2, sort_keys=True) + "\n", error=DataError)


def _build(
    out_dir: str | os.PathLike[str],
    sentences: Sequence[str] | str | os.PathLike[str],
    render: Callable[[_Item], tuple[np.ndarray, int]],
    settings: dict[str, object],
    *,
    max_sentences: int | None,
    max_chars: int,
    min_chars: int,
    split_at_punctuation: bool,
    seed: int,
    sample_rate: int,
    jobs: int,
    progress: bool,
) -> CorpusSummary:
    if not 1 <= min_chars <= max_chars:
        raise DataError(f"min_chars/max_chars: expected 1 <= min_chars <= max_chars, found {min_chars}/{max_chars}")
    if max_sentences is not None and max_sentences < 0:
        raise DataError(f"max_sentences: expected a count >= 0, found {max_sentences}")
    if jobs < 1:
        raise DataError(f"jobs: expected at least 1 worker, found {jobs}")
    if isinstance(sentences, (str, os.PathLike)):
        sources = read_sentences(sentences)
    else:
        sources = [(f"utt-{n:05d}", s) for n, s in enumerate(sentences, 1)]
    items, dropped = _plan(
        sources,
        max_chars=max_chars,
        min_chars=min_chars,
        split_at_punctuation=split_at_punctuation,
        max_sentences=max_sentences,
        seed=seed,
    )

    out = Path(out_dir)
    wav_dir = out / "wavs"
    for item in items:  # an id like "../../x" from a metadata.csv must not leave out_dir
        safe_join(wav_dir, item.id, ".wav")
    wav_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out / "corpus.json", settings)
    for folder in (out, wav_dir):  # temp files of a run killed mid-write
        remove_stale_temp_files(folder)
    metadata = out / "metadata.csv"
    previous = _previous_texts(metadata)

    def is_done(item: _Item) -> bool:
        if not (wav_dir / f"{item.id}.wav").exists():
            return False
        return previous is None or previous.get(item.id) == item.normalized

    todo = [item for item in items if not is_done(item)]

    def work(item: _Item) -> None:
        audio, rate = render(item)
        save_wav(wav_dir / f"{item.id}.wav", _finish(audio, rate, sample_rate, item.id), sample_rate)

    run_parallel(work, todo, jobs=jobs, desc="corpus", progress=progress)

    rows = "".join(f"{item.id}|{item.raw}|{item.normalized}\n" for item in items)
    if not metadata.exists() or metadata.read_text(encoding="utf-8") != rows:
        write_text(metadata, rows, error=DataError)
    total_seconds = sum(sf.info(str(wav_dir / f"{item.id}.wav")).duration for item in items)
    summary = CorpusSummary(
        out_dir=out,
        metadata_path=metadata,
        n_sentences=len(sources),
        n_utterances=len(items),
        n_rendered=len(todo),
        n_reused=len(items) - len(todo),
        n_dropped=dropped,
        total_seconds=total_seconds,
    )
    log.info(
        "corpus %s: %d utterances (%.1f min of audio; %d rendered, %d reused) from %d sentences, %d dropped",
        out,
        summary.n_utterances,
        total_seconds / 60,
        summary.n_rendered,
        summary.n_reused,
        summary.n_sentences,
        dropped,
    )
    return summary


def make_corpus(
    out_dir: str | os.PathLike[str],
    sentences: Sequence[str] | str | os.PathLike[str],
    *,
    voice: str = "en-us",
    rate_wpm: int = 175,
    max_sentences: int | None = None,
    max_chars: int = 70,
    min_chars: int = 15,
    split_at_punctuation: bool = True,
    seed: int = 0,
    sample_rate: int = 22050,
    jobs: int = 2,
    progress: bool = True,
) -> CorpusSummary:
    """Render sentences with espeak-ng into an LJ Speech-layout dataset (``tacoglow corpus``).

    Args:
        out_dir: the dataset folder (created; an earlier run's wavs for the same text are kept).
        sentences: a list of sentences, or a file: NVIDIA filelist, LJ Speech ``metadata.csv``
            or plain text with one sentence per line (see :func:`read_sentences`).
        voice: espeak-ng voice (``espeak-ng --voices`` lists them).
        rate_wpm: speaking rate in words per minute (espeak-ng's ``-s``; its default is 175).
        max_sentences: keep at most this many utterances (after clause splitting), a subset
            drawn with ``seed`` and kept in source order; None keeps all.
        max_chars: longest utterance, in characters of normalized text.
        min_chars: shortest utterance, in characters of normalized text.
        split_at_punctuation: cut sentences longer than ``max_chars`` into clauses
            (:func:`split_clauses`); otherwise such sentences are dropped.
        seed: seed of the ``max_sentences`` subset.
        sample_rate: sample rate of the wavs (espeak-ng's output is resampled when it differs).
        jobs: espeak-ng processes run at once.
        progress: show a progress bar on stderr.

    Returns:
        a :class:`CorpusSummary`.

    Raises:
        DataError: espeak-ng is missing ("install it with `apt-get install espeak-ng`"), the
            voice is unknown, the sentence file is malformed, or ``out_dir`` holds a corpus made
            with another voice, rate, sample rate or renderer.

    >>> make_corpus("corpus", "ljs_audio_text_train_filelist.txt", max_sentences=1000)  # doctest: +SKIP
    """
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise DataError(MISSING_ESPEAK)
    settings: dict[str, object] = {
        "renderer": "espeak-ng",
        "voice": voice,
        "rate_wpm": rate_wpm,
        "sample_rate": sample_rate,
        "espeak_ng": _espeak_version(exe),
    }
    return _build(
        out_dir,
        sentences,
        _espeak_renderer(voice, rate_wpm),
        settings,
        max_sentences=max_sentences,
        max_chars=max_chars,
        min_chars=min_chars,
        split_at_punctuation=split_at_punctuation,
        seed=seed,
        sample_rate=sample_rate,
        jobs=jobs,
        progress=progress,
    )


def make_synthetic_corpus(
    out_dir: str | os.PathLike[str],
    sentences: Sequence[str] | str | os.PathLike[str],
    *,
    char_ms: float = 60.0,
    max_sentences: int | None = None,
    max_chars: int = 70,
    min_chars: int = 15,
    split_at_punctuation: bool = True,
    seed: int = 0,
    sample_rate: int = 22050,
    jobs: int = 1,
    progress: bool = False,
) -> CorpusSummary:
    """Write the layout of :func:`make_corpus` with synthetic audio: no espeak-ng needed.

    Each letter becomes ``char_ms`` of a letter-specific tone pair (consonants mixed with a
    noise burst), a space half that of silence, punctuation twice that. The text-to-audio
    mapping is learnable, which is all a smoke test of training needs. Arguments are those of
    :func:`make_corpus`.
    """
    if char_ms <= 0:
        raise DataError(f"char_ms: expected a positive duration, found {char_ms}")
    settings: dict[str, object] = {"renderer": "synthetic", "char_ms": char_ms, "sample_rate": sample_rate}
    return _build(
        out_dir,
        sentences,
        _synthetic_renderer(sample_rate, char_ms),
        settings,
        max_sentences=max_sentences,
        max_chars=max_chars,
        min_chars=min_chars,
        split_at_punctuation=split_at_punctuation,
        seed=seed,
        sample_rate=sample_rate,
        jobs=jobs,
        progress=progress,
    )
