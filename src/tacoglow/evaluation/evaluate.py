"""``evaluate``: how intelligible, robust and fast a Tacotron 2 + vocoder pair is on a sentence list.

For each sentence the synthesizer is run alone (batch of one, so its compute time is its own)
and measured:

- **attention health** — did the stop gate fire, and did the attention reach the end of the
  text (the Synthesizer's flags); an utterance failing either is an *attention failure*;
- **WER** — an offline ASR engine (:mod:`tacoglow.evaluation.asr`) transcribes the audio and
  :func:`~tacoglow.evaluation.metrics.word_errors` compares it with the sentence;
- **teacher WER** (``teacher="espeak-ng"``) — the same sentence rendered by espeak-ng and
  transcribed by the same engine: for a voice trained on espeak-ng speech this is the ceiling;
- **MCD** (``reference_audio_dir``) — mel-cepstral distance to a recording of the sentence;
- **RTF** — seconds of audio per second of compute (> 1: faster than real time); the first
  sentence is synthesized once untimed beforehand, so one-time set-up costs are not counted.

The :class:`EvaluationReport` prints as a table and saves as JSON.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from tacoglow.audio import load_wav
from tacoglow.data import normalize_for_corpus
from tacoglow.data.corpus import render_espeak as corpus_render_espeak
from tacoglow.errors import AudioError, ConfigError, DataError
from tacoglow.evaluation.asr import ASREngine, load_asr
from tacoglow.evaluation.metrics import (
    attention_failure_share,
    mel_cepstral_distance,
    real_time_factor,
    word_errors,
)
from tacoglow.fileio import write_text
from tacoglow.inference import Synthesizer
from tacoglow.runtime.engine import OnnxSynthesizer

__all__ = ["TEACHERS", "UtteranceRow", "EvaluationSummary", "EvaluationReport", "evaluate", "render_espeak"]

logger = logging.getLogger(__name__)

TEACHERS = ("espeak-ng",)
"""Teachers ``evaluate`` can render sentences with, for a ceiling WER."""

ESPEAK_VOICE = "en-us"
ESPEAK_RATE_WPM = 175
"""espeak-ng settings of the teacher: ``tacoglow corpus``'s defaults, i.e. what the bundled voice learned from."""

CheckpointPair = tuple[str | os.PathLike, str | os.PathLike | None]


@dataclass
class UtteranceRow:
    """Measurements of one sentence (None where the metric was not asked for).

    Attributes:
        index: position in the sentence list, from 1.
        id: the sentence's id (LJ id from a filelist/metadata, ``utt-<line>`` from a text file,
            the position for a plain list).
        text: the sentence as given.
        audio_seconds: length of the synthesized audio.
        compute_seconds: wall time of synthesis (text → waveform, vocoder and denoiser included).
        mel_frames: mel frames of the utterance.
        stop_gate_fired: the stop gate fired before ``max_decoder_steps`` (in every piece of a
            text the Synthesizer split).
        attention_reached_end: the attention reached the end of the text (every piece).
        attention_coverage: smallest share of a piece's tokens that got attention weight >= 0.5.
        attempts: most Tacotron 2 runs a piece needed (> 1: the Synthesizer retried it).
        transcript: ASR output on the synthesized audio.
        word_errors / reference_words / wer: word-level edits against the sentence.
        teacher_transcript / teacher_word_errors / teacher_wer: the same on the teacher's audio.
        mcd_db: mel-cepstral distance to the reference recording, in dB.
        seed: the Synthesizer's seed for this row (with ``seeds > 1`` each sentence has a row per seed).
    """

    index: int
    id: str
    text: str
    audio_seconds: float
    compute_seconds: float
    mel_frames: int
    stop_gate_fired: bool
    attention_reached_end: bool
    attention_coverage: float
    attempts: int
    transcript: str | None = None
    word_errors: int | None = None
    reference_words: int | None = None
    wer: float | None = None
    teacher_transcript: str | None = None
    teacher_word_errors: int | None = None
    teacher_wer: float | None = None
    mcd_db: float | None = None
    seed: int | None = None

    @property
    def attention_ok(self) -> bool:
        """Stop gate fired and attention reached the end of the text."""
        return self.stop_gate_fired and self.attention_reached_end


@dataclass
class EvaluationSummary:
    """Corpus-level results.

    Attributes:
        n_utterances: sentences evaluated.
        voice: the Tacotron 2 / WaveGlow pair evaluated (file names, "bundled", or a label).
        vocoder: "waveglow" or "griffin-lim".
        asr: ASR engine name, or None.
        teacher: teacher name ("espeak-ng"), or None.
        reference_audio_dir: the folder of reference recordings (for MCD), or None.
        seed: the Synthesizer's seed, the first of ``seeds`` consecutive ones (None: not repeatable).
        retries: the Synthesizer's retries of unhealthy pieces (evaluate's own Synthesizer: 0,
            so every failure counts).
        attention_failures: syntheses whose stop gate never fired or whose attention did not
            reach the end of the text; ``attention_failure_share`` = that / (n_utterances × seeds).
        stop_not_fired / attention_not_at_end: the two causes counted separately.
        wer / teacher_wer: summed word errors / summed reference words (over every seed), or None.
        mcd_db: mean mel-cepstral distance over the utterances whose audio is not silent (None
            without references, or when every utterance was silent).
        audio_seconds / compute_seconds: totals; ``rtf`` = audio_seconds / compute_seconds.
        seeds: how many seeds each sentence was synthesized with (seed, seed + 1, ...).
        wer_per_seed: the WER of each seed's syntheses alone, in seed order (None without ASR);
            ``wer`` is their mean.
    """

    n_utterances: int
    voice: str
    vocoder: str
    asr: str | None
    teacher: str | None
    reference_audio_dir: str | None
    seed: int | None
    retries: int
    attention_failures: int
    attention_failure_share: float
    stop_not_fired: int
    attention_not_at_end: int
    wer: float | None
    teacher_wer: float | None
    mcd_db: float | None
    audio_seconds: float
    compute_seconds: float
    rtf: float
    seeds: int = 1
    wer_per_seed: list[float | None] | None = None


def _json_safe(value: Any) -> Any:
    """NaN/inf (a WER over an empty reference) become null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _percent(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@dataclass
class EvaluationReport:
    """Per-utterance rows and the summary of an :func:`evaluate` run."""

    summary: EvaluationSummary
    utterances: list[UtteranceRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{"summary": {...}, "utterances": [{...}, ...]}``; NaN as None."""
        return _json_safe({"summary": asdict(self.summary), "utterances": [asdict(u) for u in self.utterances]})

    def to_json(self, indent: int = 2) -> str:
        """The report as a JSON document (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def save_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_json` to ``path`` with :func:`tacoglow.fileio.write_text` (atomic).

        Raises:
            ConfigError: the folder does not exist or is not writable, or the disk is full.
        """
        write_text(path, self.to_json() + "\n", error=ConfigError)
        return Path(path)

    def table(self, max_transcript_chars: int = 48) -> str:
        """A plain-text table: one line per utterance, then the summary lines."""
        s = self.summary
        with_asr, with_teacher = s.asr is not None, s.teacher is not None
        with_mcd = s.reference_audio_dir is not None
        columns = ["#", "id"] + ["seed"] * (s.seeds > 1) + ["audio s", "RTF", "stop", "end"]
        columns += ["WER"] * with_asr + ["teacher WER"] * with_teacher + ["MCD dB"] * with_mcd
        columns += ["transcript"] * with_asr
        rows = []
        for u in self.utterances:
            rtf = real_time_factor(u.audio_seconds, u.compute_seconds) if u.compute_seconds > 0 else None
            row = (
                [str(u.index), u.id]
                + [str(u.seed)] * (s.seeds > 1)
                + [
                    f"{u.audio_seconds:.2f}",
                    _number(rtf),
                    "yes" if u.stop_gate_fired else "NO",
                    "yes" if u.attention_reached_end else "NO",
                ]
            )
            row += [_percent(u.wer)] * with_asr + [_percent(u.teacher_wer)] * with_teacher
            row += [_number(u.mcd_db)] * with_mcd
            if with_asr:
                text = u.transcript or ""
                row.append(text if len(text) <= max_transcript_chars else text[: max_transcript_chars - 1] + "…")
            rows.append(row)
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]

        def line(cells: list[str]) -> str:
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

        out = [line(columns), line(["-" * w for w in widths]), *(line(r) for r in rows), ""]
        seed = "no seed" if s.seed is None else f"seed {s.seed}"
        # evaluate() refuses several seeds without a first one; a hand-built summary shows no range.
        seed_range = f"{s.seed}–{s.seed + s.seeds - 1}" if s.seeds > 1 and s.seed is not None else ""
        if s.seeds > 1:
            seed = f"× {s.seeds} seeds ({seed_range})"
        out.append(f"voice: {s.voice} (vocoder {s.vocoder}), {s.n_utterances} utterances, {seed}, {s.retries} retries")
        out.append(
            f"attention failures: {s.attention_failures}/{len(self.utterances)} "
            f"({_percent(s.attention_failure_share)}; stop gate never fired: {s.stop_not_fired}, "
            f"attention did not reach the end: {s.attention_not_at_end})"
        )
        if with_asr:
            per_seed = ""
            if s.seeds > 1 and s.wer_per_seed is not None:
                per_seed = f" (mean of seeds {seed_range}: {', '.join(_percent(w) for w in s.wer_per_seed)})"
            out.append(f"WER ({s.asr}): {_percent(s.wer)}{per_seed}")
        if with_teacher:
            out.append(f"teacher WER ({s.teacher} audio, {s.asr}): {_percent(s.teacher_wer)}")
        if with_mcd:
            measured = sum(u.mcd_db is not None for u in self.utterances)
            out.append(
                f"MCD: {_number(s.mcd_db)} dB (mean over {measured} utterances with sound, "
                f"references in {s.reference_audio_dir})"
            )
        out.append(
            f"RTF: {s.rtf:.2f} ({s.audio_seconds:.1f} s of audio in {s.compute_seconds:.1f} s of compute; "
            f"> 1 is faster than real time)"
        )
        return "\n".join(out)


def render_espeak(text: str, *, voice: str = ESPEAK_VOICE, rate_wpm: int = ESPEAK_RATE_WPM) -> tuple[Tensor, int]:
    """Speak ``text`` with espeak-ng (see :func:`tacoglow.data.corpus.render_espeak`) as a tensor.

    Raises:
        ConfigError: espeak-ng is missing or failed (a teacher the evaluation cannot use).
    """
    try:
        audio, sample_rate = corpus_render_espeak(text, voice=voice, rate_wpm=rate_wpm)
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    return torch.from_numpy(audio), sample_rate


def _sentences(sentences: Sequence[str] | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for index, entry in enumerate(sentences, 1):
        sentence_id, text = (str(index), entry) if isinstance(entry, str) else entry
        if not text.strip():
            raise DataError(f"sentence {index} ({sentence_id}): expected text, found an empty sentence")
        items.append((str(sentence_id), text))
    if not items:
        raise DataError("sentences: expected at least one sentence, found none")
    return items


def _reference_files(folder: str | os.PathLike, items: list[tuple[str, str]]) -> list[Path]:
    """Each sentence's recording: ``<id>.wav``, else the file numbered by its position from 1
    (``7.wav``, ``007.wav``: the names ``tacoglow synthesize -o DIR`` writes)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AudioError(f"{folder}: expected a folder of reference wavs, found no such folder")
    numbered = {int(p.stem): p for p in folder.glob("*.wav") if p.stem.isdigit()}
    found = []
    for index, (sentence_id, _) in enumerate(items, 1):
        wav = folder / f"{sentence_id}.wav"
        path = wav if wav.is_file() else numbered.get(index)
        if path is None:
            raise AudioError(
                f"{folder}: expected a reference recording {sentence_id}.wav or {index:03d}.wav "
                f"for sentence {index}, found neither"
            )
        found.append(path)
    return found


def _synthesizer(
    voice: Synthesizer | OnnxSynthesizer | CheckpointPair | None,
    vocoder: str | None,
    seed: int | None,
    phone_repeats: int | None,
    onnx: str | os.PathLike | None,
    onnx_precision: str,
) -> tuple[Synthesizer | OnnxSynthesizer, str]:
    """The Synthesizer to evaluate and its name in the report."""
    if onnx is not None:
        if voice is not None or vocoder is not None:
            raise ConfigError("evaluate: onnx runs its folder's own models: give no voice and no vocoder beside it")
        folder = Path(onnx)
        # retries=0 as below: a retried piece would hide the attention failures being counted.
        engine = OnnxSynthesizer(
            folder, precision=onnx_precision, seed=0 if seed is None else seed, phone_repeats=phone_repeats, retries=0
        )
        return engine, f"{folder.name} (ONNX {onnx_precision})"
    if isinstance(voice, (Synthesizer, OnnxSynthesizer)):
        if vocoder is not None or seed is not None or phone_repeats is not None:
            raise ConfigError(
                "evaluate: vocoder, seed and phone_repeats are settings of the Synthesizer given; "
                "set them when building it"
            )
        return voice, "given Synthesizer"
    seed = 0 if seed is None else seed
    # retries=0: a retried piece would hide the very attention failures being counted.
    if voice is None:
        return Synthesizer.from_checkpoints(
            vocoder=vocoder, seed=seed, phone_repeats=phone_repeats, retries=0
        ), "bundled"
    if isinstance(voice, tuple) and len(voice) == 2:
        tacotron2, waveglow = voice
        label = Path(tacotron2).name + (f" + {Path(waveglow).name}" if waveglow is not None else "")
        return Synthesizer.from_checkpoints(
            tacotron2, waveglow, vocoder=vocoder, seed=seed, phone_repeats=phone_repeats, retries=0
        ), label
    raise ConfigError(
        f"evaluate voice: expected a Synthesizer, a (tacotron2, waveglow) checkpoint pair or None, "
        f"found {type(voice).__name__}"
    )


def evaluate(
    voice: Synthesizer | OnnxSynthesizer | CheckpointPair | None,
    sentences: Sequence[str] | Sequence[tuple[str, str]],
    *,
    asr: str | ASREngine | None = "pocketsphinx",
    whisper_model: str | os.PathLike | None = None,
    reference_audio_dir: str | os.PathLike | None = None,
    teacher: str | None = None,
    vocoder: str | None = None,
    seed: int | None = None,
    seeds: int = 1,
    phone_repeats: int | None = None,
    label: str | None = None,
    progress: bool = False,
    onnx: str | os.PathLike | None = None,
    onnx_precision: str = "fp32",
) -> EvaluationReport:
    """Synthesize every sentence and measure attention health, WER, teacher WER, MCD and RTF.

    Args:
        voice: a (Tacotron 2, WaveGlow) checkpoint pair (WaveGlow may be None: Griffin-Lim), None
            for the voice bundled with tacoglow — both run with ``retries=0`` so that every
            attention failure counts — or a :class:`~tacoglow.inference.Synthesizer` used as it is.
        sentences: texts, or (id, text) pairs (e.g. from :func:`tacoglow.data.read_sentences`).
        asr: "pocketsphinx", "whisper", an :class:`~tacoglow.evaluation.asr.ASREngine`, or None
            (no WER).
        whisper_model: for ``asr="whisper"``, a faster-whisper model name or directory (default tiny.en).
        reference_audio_dir: a folder with a recording of each sentence, ``<id>.wav`` or numbered
            by position from 1 (``1.wav``, ``001.wav``); enables MCD.
        teacher: "espeak-ng" to also transcribe espeak-ng's rendering of each sentence (the text
            as ``tacoglow corpus`` normalizes it, its voice and rate); needs ``asr``.
        vocoder: "waveglow" or "griffin-lim" for a pair or the bundled voice (default: WaveGlow
            when there is one).
        seed: seed of the Synthesizer built here (default 0), so a run is repeatable.
        seeds: synthesize every sentence with this many seeds, the Synthesizer's seed and the
            ones after it (default 1). Tacotron 2's prenet dropout makes every seed a different
            rendition, so one seed's WER moves by several points; the report pools them.
        phone_repeats: how many times a pair or the bundled voice reads every phone (see
            :class:`~tacoglow.inference.Synthesizer`; default: the checkpoint's).
        label: name of the voice in the report (default: the checkpoint file names, or "bundled").
        progress: show a progress bar on stderr.
        onnx: a folder written by ``tacoglow export onnx``, evaluated on ONNX Runtime
            (:class:`~tacoglow.runtime.OnnxSynthesizer`, ``retries=0``) instead of ``voice``,
            which must then be None.
        onnx_precision: with ``onnx``: "fp32", "fp16" or "int8" (compare exports by WER).

    Returns:
        an :class:`EvaluationReport`.

    Raises:
        DataError: no sentences, or an empty one.
        ConfigError: unknown ASR engine or teacher, an engine not installed, a teacher without
            ASR, vocoder/seed/phone_repeats given with a ready Synthesizer, ``seeds`` < 1, or ``seeds`` > 1
            with an unseeded Synthesizer.
        AudioError: a missing or unreadable reference recording.
        CheckpointError: a checkpoint that does not load.

    >>> report = evaluate(None, ["Hello world."], asr="whisper", teacher="espeak-ng")  # doctest: +SKIP
    >>> print(report.table())  # doctest: +SKIP
    """
    items = _sentences(sentences)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds: expected a number of seeds >= 1, found {seeds!r}")
    if teacher is not None and teacher not in TEACHERS:
        raise ConfigError(f"teacher: expected one of {', '.join(TEACHERS)}, found {teacher!r}")
    if teacher is not None and asr is None:
        raise ConfigError("teacher: a teacher WER needs an ASR engine, found asr=None")
    if whisper_model is not None and asr != "whisper":
        raise ConfigError(f"whisper_model: only the 'whisper' ASR engine takes a model directory, found asr={asr!r}")
    references = _reference_files(reference_audio_dir, items) if reference_audio_dir is not None else None
    engine = load_asr(asr, whisper_model=whisper_model) if isinstance(asr, str) else asr
    synthesizer, default_label = _synthesizer(voice, vocoder, seed, phone_repeats, onnx, onnx_precision)
    if synthesizer.seed is None and seeds > 1:
        raise ConfigError(f"seeds: {seeds} seeds need a seeded Synthesizer (seed=...), found one without a seed")
    if synthesizer.seed is None:
        logger.warning("the Synthesizer has no seed: this evaluation is not repeatable")

    # One untimed run first: one-time costs (the STFT's inverse basis, allocator growth) would
    # otherwise be charged to the first sentence's RTF.
    synthesizer.synthesize([items[0][1]])
    base_seed = synthesizer.seed
    rows: list[UtteranceRow] = []
    with tqdm(total=len(items) * seeds, desc="evaluate", unit="utt", disable=not progress) as bar:
        for index, (sentence_id, text) in enumerate(items, 1):
            # Neither the teacher nor the recording depends on the seed: each is read once per sentence.
            teacher_transcript = None
            if teacher is not None:
                assert engine is not None  # checked above: a teacher comes with an engine
                teacher_audio, teacher_rate = render_espeak(normalize_for_corpus(text))
                teacher_transcript = engine.transcribe(teacher_audio, teacher_rate)
            reference = load_wav(references[index - 1]) if references is not None else None
            for k in range(seeds):
                seed_k = None if base_seed is None else base_seed + k
                rows.append(
                    _measure(synthesizer, index, sentence_id, text, seed_k, engine, teacher_transcript, reference)
                )
                bar.update()
    reference_dir = os.fspath(reference_audio_dir) if reference_audio_dir is not None else None
    return EvaluationReport(
        _summarize(rows, synthesizer, label or default_label, engine, teacher, reference_dir, seeds), rows
    )


def _measure(
    synthesizer: Synthesizer | OnnxSynthesizer,
    index: int,
    sentence_id: str,
    text: str,
    seed: int | None,
    engine: ASREngine | None,
    teacher_transcript: str | None,
    reference: tuple[Tensor, int] | None,
) -> UtteranceRow:
    """Synthesize one sentence with ``seed`` (None: the Synthesizer's own, unseeded) and measure it
    against the teacher's transcript and the reference recording (audio, sample rate) when given."""
    start = time.perf_counter()
    [utterance] = synthesizer.synthesize([text], seed=seed)
    compute_seconds = time.perf_counter() - start
    # Measured as it is heard from a WAV file: clipped to full scale.
    # The ONNX engine's waveform is numpy: as a tensor, both engines' are measured alike.
    waveform = torch.as_tensor(utterance.waveform).clamp(-1.0, 1.0)
    row = UtteranceRow(
        index=index,
        id=sentence_id,
        text=text,
        audio_seconds=utterance.duration_s,
        compute_seconds=compute_seconds,
        mel_frames=utterance.mel_length,
        stop_gate_fired=utterance.stop_gate_fired,
        attention_reached_end=utterance.attention_reached_end,
        attention_coverage=min(s.attention_coverage for s in utterance.segments),
        attempts=max(s.attempts for s in utterance.segments),
        seed=seed,
    )
    if engine is not None:
        # No audio (the stop gate fired at the first step) is heard as no words.
        row.transcript = engine.transcribe(waveform, utterance.sample_rate) if waveform.numel() else ""
        counts = word_errors(text, row.transcript)
        row.word_errors, row.reference_words, row.wer = counts.errors, counts.reference_words, counts.wer
        if teacher_transcript is not None:
            row.teacher_transcript = teacher_transcript
            counts = word_errors(text, teacher_transcript)
            row.teacher_word_errors, row.teacher_wer = counts.errors, counts.wer
    if reference is not None:
        if bool((waveform != 0).any()):
            row.mcd_db = mel_cepstral_distance(waveform, utterance.sample_rate, *reference)
        else:  # no sound to analyse: left out of the mean, and said so
            logger.warning("%s: no MCD: the synthesized audio is silent", sentence_id)
    return row


def _summarize(
    rows: list[UtteranceRow],
    synthesizer: Synthesizer | OnnxSynthesizer,
    label: str,
    engine: ASREngine | None,
    teacher: str | None,
    reference_audio_dir: str | None,
    seeds: int,
) -> EvaluationSummary:
    """Corpus figures over all rows; ``rows`` holds each sentence's ``seeds`` renditions in seed order."""
    per_seed = len(rows) // seeds

    def corpus_wer(rows: list[UtteranceRow], errors: str) -> float | None:
        reference_words = sum(r.reference_words or 0 for r in rows)
        if reference_words == 0:
            return None
        return sum(getattr(r, errors) or 0 for r in rows) / reference_words

    wer_per_seed = None
    if engine is not None:
        wer_per_seed = [corpus_wer(rows[k::seeds], "word_errors") for k in range(seeds)]

    distances = [r.mcd_db for r in rows if r.mcd_db is not None]
    audio_seconds = sum(r.audio_seconds for r in rows)
    compute_seconds = sum(r.compute_seconds for r in rows)
    failures = sum(not r.attention_ok for r in rows)
    if isinstance(synthesizer, OnnxSynthesizer):
        vocoder, retries = synthesizer.vocoder_name, synthesizer.retries
    else:
        vocoder, retries = synthesizer.vocoder.name, synthesizer.acoustic.retries
    return EvaluationSummary(
        n_utterances=per_seed,
        voice=label,
        vocoder=vocoder,
        asr=engine.name if engine is not None else None,
        teacher=teacher,
        reference_audio_dir=reference_audio_dir,
        seed=synthesizer.seed,
        retries=retries,
        attention_failures=failures,
        attention_failure_share=attention_failure_share(
            [r.stop_gate_fired for r in rows], [r.attention_reached_end for r in rows]
        ),
        stop_not_fired=sum(not r.stop_gate_fired for r in rows),
        attention_not_at_end=sum(not r.attention_reached_end for r in rows),
        wer=corpus_wer(rows, "word_errors") if engine is not None else None,
        teacher_wer=corpus_wer(rows[::seeds], "teacher_word_errors") if teacher is not None else None,
        mcd_db=sum(distances) / len(distances) if distances else None,
        audio_seconds=audio_seconds,
        compute_seconds=compute_seconds,
        rtf=real_time_factor(audio_seconds, compute_seconds) if compute_seconds > 0 else math.inf,
        seeds=seeds,
        wer_per_seed=wer_per_seed,
    )
