"""Dataset checks before training: find the items that would break or spoil a run.

:func:`check_dataset` reads every transcript and audio file (or precomputed mel) once and
reports, per problem, a count and the first examples:

============== ==============================================================================
problem        meaning
============== ==============================================================================
missing        the wav (or mel) file does not exist
corrupt        the file cannot be read as audio (or as a mel of the expected size)
sample_rate    the audio is not at ``mel_config.sampling_rate`` (fine when resampling is allowed)
empty_text     the transcript is empty or has no letter or phone ids after cleaning
silent         the audio peak is below 1e-3
clipped        at least 0.1% of samples sit at full scale (|x| >= 0.999)
too_short      shorter than ``min_duration_s``
too_long       longer than ``max_duration_s``
============== ==============================================================================

:func:`filter_utterances` then applies the policy: drop the bad items, or stop with the counts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import torch
from tqdm import tqdm

from tacoglow.audio import MelConfig, load_wav
from tacoglow.data.datasets import DatasetItem, load_mel
from tacoglow.errors import ConfigError, DataError, TacoglowError
from tacoglow.text import TextFrontend, symbols

__all__ = ["PROBLEMS", "DataReport", "check_dataset", "filter_utterances"]

log = logging.getLogger(__name__)

#: Problem names, in report order, with the label :meth:`DataReport.summary` prints.
PROBLEMS: dict[str, str] = {
    "missing": "missing file",
    "corrupt": "corrupt file",
    "sample_rate": "wrong sample rate",
    "empty_text": "empty/unspeakable text",
    "silent": "silent audio",
    "clipped": "clipped audio",
    "too_short": "too short",
    "too_long": "too long",
}
#: Peak amplitude below which audio counts as silent.
SILENCE_PEAK = 1e-3
#: Amplitude at which a sample counts as clipped, and the share of such samples that is a problem.
CLIP_LEVEL = 0.999
CLIP_FRACTION = 1e-3
#: Examples kept per problem for the summary.
N_EXAMPLES = 5
# Ids of sounds (letters and ARPAbet phones): a transcript of only spaces and punctuation says nothing.
_SOUND_IDS = frozenset(i for i, s in enumerate(symbols) if s.isalpha() or s.startswith("@"))


@dataclass
class DataReport:
    """Result of :func:`check_dataset`.

    Attributes:
        n_utterances: utterances checked.
        problems: problem name (see :data:`PROBLEMS`) -> every ``(utterance id, detail)`` found,
            in dataset order.
    """

    n_utterances: int
    problems: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Problem name -> number of utterances with it (only problems found)."""
        return {kind: len(found) for kind, found in self.problems.items() if found}

    @property
    def bad_ids(self) -> set[str]:
        """Ids of the utterances with at least one problem."""
        return {utt_id for found in self.problems.values() for utt_id, _ in found}

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.bad_ids

    def examples(self, kind: str, n: int = N_EXAMPLES) -> list[str]:
        """The first ``n`` cases of problem ``kind`` as ``"id (detail)"``."""
        return [f"{utt_id} ({detail})" for utt_id, detail in self.problems.get(kind, [])[:n]]

    def summary(self) -> str:
        """A text table: one row per problem found, with its count and first examples."""
        n_bad = len(self.bad_ids)
        head = (
            f"dataset check: {self.n_utterances} utterances, {self.n_utterances - n_bad} usable, {n_bad} with problems"
        )
        counts = self.counts
        if not counts:
            return head + "\nno problems found"
        width = max(len(PROBLEMS[kind]) for kind in counts)
        rows = [head, f"{'problem':<{width}}  {'count':>6}  first examples"]
        for kind in PROBLEMS:
            if kind in counts:
                rows.append(f"{PROBLEMS[kind]:<{width}}  {counts[kind]:>6}  {'; '.join(self.examples(kind))}")
        return "\n".join(rows)

    def counts_line(self) -> str:
        """The counts on one line, e.g. ``missing file 2, silent audio 1``."""
        return ", ".join(f"{PROBLEMS[kind]} {count}" for kind, count in self.counts.items())


def _check_one(
    utt: DatasetItem,
    mel_config: MelConfig,
    frontend: TextFrontend,
    resample: bool,
    min_duration_s: float,
    max_duration_s: float,
) -> list[tuple[str, str]]:
    """The problems of one utterance as ``(problem, detail)`` pairs."""
    found: list[tuple[str, str]] = []
    if not utt.text.strip():
        found.append(("empty_text", "empty transcript"))
    else:
        try:
            ids = frontend.to_sequence(utt.text)
        except TacoglowError as err:
            found.append(("empty_text", str(err)))
        else:
            if not _SOUND_IDS.intersection(ids):
                found.append(("empty_text", f"no letters or phones in {utt.text[:40]!r}"))

    if utt.audio_path is None:
        assert utt.mel_path is not None, "an utterance has audio or a mel"
        if not utt.mel_path.exists():
            return [*found, ("missing", str(utt.mel_path))]
        try:
            mel = load_mel(utt.mel_path, mel_config.n_mel_channels)
        except DataError as err:
            return [*found, ("corrupt", str(err))]
        duration_s = mel.shape[1] * mel_config.hop_length / mel_config.sampling_rate
    else:
        if not utt.audio_path.exists():
            return [*found, ("missing", str(utt.audio_path))]
        try:
            audio, sample_rate = load_wav(utt.audio_path)
        except (TacoglowError, RuntimeError, ValueError) as err:
            return [*found, ("corrupt", str(err))]
        audio = torch.as_tensor(audio)
        if sample_rate != mel_config.sampling_rate and not resample:
            found.append(("sample_rate", f"{sample_rate} Hz, expected {mel_config.sampling_rate}"))
        duration_s = audio.shape[-1] / sample_rate
        peak = float(audio.abs().max()) if audio.numel() else 0.0
        if peak < SILENCE_PEAK:
            found.append(("silent", f"peak {peak:.2g}"))
        clipped = float((audio.abs() >= CLIP_LEVEL).float().mean()) if audio.numel() else 0.0
        if clipped >= CLIP_FRACTION:
            found.append(("clipped", f"{100 * clipped:.2f}% of samples at full scale"))
    if duration_s < min_duration_s:
        found.append(("too_short", f"{duration_s:.2f} s < {min_duration_s} s"))
    if duration_s > max_duration_s:
        found.append(("too_long", f"{duration_s:.2f} s > {max_duration_s} s"))
    return found


def check_dataset(
    utterances: Sequence[DatasetItem],
    mel_config: MelConfig,
    *,
    resample: bool = False,
    text_frontend: TextFrontend | None = None,
    min_duration_s: float = 0.2,
    max_duration_s: float = 20.0,
    jobs: int = 1,
    progress: bool = False,
) -> DataReport:
    """Check every utterance's transcript and audio (or precomputed mel).

    Args:
        utterances: the dataset, e.g. from :func:`tacoglow.data.read_metadata`.
        mel_config: the mel contract; its ``sampling_rate`` is the expected rate and its
            ``n_mel_channels`` the expected mel size.
        resample: audio at another rate will be resampled, so it is no problem.
        text_frontend: how training turns transcripts into ids (default: letters,
            english_cleaners).
        min_duration_s: shorter utterances are ``too_short``.
        max_duration_s: longer utterances are ``too_long`` (Tacotron 2's default 2000 decoder
            steps hold 23.2 s at 22050 Hz / hop 256).
        jobs: files read at once (threads: the work is I/O and numpy).
        progress: show a progress bar on stderr.

    Returns:
        a :class:`DataReport`.

    >>> report = check_dataset(read_metadata("corpus"), MelConfig())  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    """
    if jobs < 1:
        raise ConfigError(f"jobs: expected at least 1 worker, found {jobs}")

    frontend = text_frontend or TextFrontend()

    def one(utt: DatasetItem) -> list[tuple[str, str]]:
        return _check_one(utt, mel_config, frontend, resample, min_duration_s, max_duration_s)

    report = DataReport(len(utterances), {kind: [] for kind in PROBLEMS})
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = tqdm(pool.map(one, utterances), total=len(utterances), desc="check", unit="utt", disable=not progress)
        for utt, found in zip(utterances, results):
            for kind, detail in found:
                report.problems[kind].append((utt.id, detail))
    if not report.ok:
        log.warning("%s", report.summary())
    return report


def filter_utterances(
    utterances: Sequence[DatasetItem],
    report: DataReport,
    on_error: Literal["skip", "stop"] = "skip",
) -> list[DatasetItem]:
    """Apply the bad-item policy to a checked dataset.

    Args:
        utterances: the dataset that was checked.
        report: its :class:`DataReport`.
        on_error: ``"skip"`` drops the bad items (with a warning), ``"stop"`` raises.

    Returns:
        the utterances without a problem, in dataset order.

    Raises:
        DataError: ``on_error="stop"`` and the report holds problems (the message has the counts).
        ConfigError: ``on_error`` is neither ``"skip"`` nor ``"stop"``.
    """
    if on_error not in ("skip", "stop"):
        raise ConfigError(f"on_error: expected 'skip' or 'stop', found {on_error!r}")
    bad = report.bad_ids
    if not bad:
        return list(utterances)
    if on_error == "stop":
        raise DataError(
            f"dataset check: {len(bad)} of {report.n_utterances} utterances have problems "
            f"({report.counts_line()}); fix them or skip bad items"
        )
    kept = [utt for utt in utterances if utt.id not in bad]
    log.warning("skipping %d of %d utterances with problems (%s)", len(bad), report.n_utterances, report.counts_line())
    return kept
