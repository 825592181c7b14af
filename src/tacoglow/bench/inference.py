"""``tacoglow bench``: NVIDIA's inference benchmark (``test_infer.py``), in its terms, on tacoglow.

For each (batch size, input length) case the benchmark phrases (``phrases/phrase_B_L.txt``, the
reference's inputs; other sizes are cut from ``phrase.txt`` as ``test_infer.py`` does) go through
:meth:`Synthesizer.synthesize`, the same code path users run, ``warmup + iterations`` times; the
warm-up runs are discarded. Per measured iteration, as the reference defines them:

- latency = Tacotron 2 + WaveGlow (cast to float32 included) + denoiser; text processing is
  timed and shown separately but, as in the reference, not part of the latency;
- Tacotron 2 mels/s = decoded frames (batch × steps) / Tacotron 2 seconds;
- WaveGlow samples/s = vocoded samples / WaveGlow seconds;
- RTF = seconds of audio / latency (the reference's throughput in samples/s ÷ sample rate).

Statistics are the reference's (:mod:`tacoglow.bench.stats`): means, population std and
floor-indexed percentiles of the latency.

Without checkpoints the models are full size with random weights: Tacotron 2 with its stop gate
silenced and exactly ``steps`` decoder steps (600 ≈ 7 s of audio, what the reference's trained
model makes of a 128-character phrase), WaveGlow with 256 or 512 channels and small random
weights in its (normally zero-initialised) output layers so that every coupling does real work.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from tacoglow.bench.stats import LatencyStats, latency_stats, matmul_peak_gflops, peak_rss_mib, snr_db
from tacoglow.errors import ConfigError
from tacoglow.fileio import write_text
from tacoglow.inference import PRECISIONS, StageTimes, Synthesizer, WaveGlowVocoder
from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig
from tacoglow.system import describe_cpu

__all__ = [
    "BenchSettings",
    "BenchRow",
    "BenchReport",
    "bench_inputs",
    "random_models",
    "run_benchmark",
    "format_table",
    "waveglow_gflop_per_second",
    "write_json",
]

logger = logging.getLogger(__name__)

STAGES = ("text", "tacotron2", "waveglow", "denoiser")
LATENCY_STAGES = ("tacotron2", "waveglow", "denoiser")
"""Stages the reference's latency adds up (text processing is excluded, as in test_infer.py)."""
_SNR_FRAMES = 200  # the vocoder-alone SNR needs no more than ~2.3 s of audio
_SILENT_GATE_BIAS = -30.0  # sigmoid(-30) ~ 1e-13: a random stop gate that never fires


@dataclass
class BenchSettings:
    """What to run.

    Attributes:
        batch_sizes: utterances per synthesis call (the reference: 1, 4, 8).
        input_lengths: characters per utterance (the reference: 64, 128, 256).
        iterations: measured runs per case (at least 2 for the statistics).
        warmup: discarded runs before them (the reference discards 3).
        steps: fixed decoder steps (early stopping off, ``max_decoder_steps = steps``); None
            lets a trained model stop on its gate. Random weights need it.
        precision: "fp32", "bf16" or "fp16".
        device: "cpu" or "cuda[:N]".
        threads: torch CPU threads (None: torch's default).
        sigma: WaveGlow noise scale (the benchmark's 0.6).
        denoise: denoiser strength (0.01).
        seed: seed of the random weights and of every draw.
        wn_channels: WaveGlow width for random weights (256 or 512).
        compare_fp32: also report the SNR of this precision's audio against float32 with the
            same noise.
        measure_peak: also measure the machine's matrix-product ceiling (fp32 and this
            precision) in the same run, to put WaveGlow's arithmetic rate in proportion.
    """

    batch_sizes: Sequence[int] = (1,)
    input_lengths: Sequence[int] = (128,)
    iterations: int = 10
    warmup: int = 3
    steps: int | None = 600
    precision: str = "fp32"
    device: str = "cpu"
    threads: int | None = None
    sigma: float = 0.6
    denoise: float = 0.01
    seed: int = 1234
    wn_channels: int = 256
    compare_fp32: bool = False
    measure_peak: bool = True


@dataclass
class BenchRow:
    """Results of one (batch size, input length) case; times in seconds, means over iterations."""

    batch_size: int
    input_length: int
    characters: int
    latency: LatencyStats
    stage_seconds: dict[str, float]
    tacotron2_mels_per_s: float
    waveglow_samples_per_s: float
    throughput_samples_per_s: float
    rtf: float
    audio_seconds: float
    decoder_steps: float
    waveglow_gflops: float


@dataclass
class BenchReport:
    """A whole benchmark run: settings, what ran where, one row per case, memory and SNRs."""

    settings: BenchSettings
    models: str
    device: str
    threads: int
    torch_version: str
    machine: str
    rows: list[BenchRow] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    matmul_peak_gflops: dict[str, float] = field(default_factory=dict)
    snr_db_waveglow: float | None = None
    snr_db_pipeline: float | None = None


def waveglow_gflop_per_second(config: WaveGlowConfig, sampling_rate: int = 22050) -> float:
    """GFLOP (multiply-adds × 2) WaveGlow's ``infer`` spends per second of audio.

    Per column of ``n_group`` samples and per flow: the start 1×1 conv, per layer the dilated
    conv (C → 2C, kernel K) and the conditioning 1×1 conv (n_mels·n_group → 2C), the res/skip
    1×1 conv (C → 2C, the last layer C → C), the end conv (C → 2·n_half) and the invertible 1×1
    conv; plus the mel upsampling (a transposed conv, n_mels × n_mels × 1024 per frame). 447.8 at
    256 channels and 1,440.7 at 512 (MEASUREMENTS.md), full size.
    """
    C, K, cond = config.n_channels, config.kernel_size, config.n_mel_channels * config.n_group
    per_column = 0
    channels = config.n_group
    for k in range(config.n_flows):
        if k > 0 and k % config.n_early_every == 0:
            channels -= config.n_early_size
        half = channels // 2
        per_column += 2 * (
            half * C
            + config.n_layers * (C * 2 * C * K + cond * 2 * C)
            + (config.n_layers - 1) * C * 2 * C
            + C * C
            + C * 2 * half
            + channels * channels
        )
    columns_per_second = sampling_rate / config.n_group
    upsample = 2 * config.n_mel_channels**2 * 1024 * sampling_rate / 256
    return (per_column * columns_per_second + upsample) / 1e9


def bench_inputs(batch_size: int, input_length: int) -> list[str]:
    """The reference's benchmark texts: ``batch_size`` lines of about ``input_length`` characters.

    ``phrases/phrase_{B}_{L}.txt`` when the reference ships it; otherwise ``phrase.txt`` cut to
    ``input_length`` characters and repeated ``batch_size`` times, as ``test_infer.py`` builds
    its input.
    """
    if batch_size < 1 or input_length < 1:
        raise ConfigError(
            f"bench input: expected batch size and input length >= 1, found {batch_size} and {input_length}"
        )
    folder = resources.files("tacoglow.bench") / "phrases"
    shipped = folder / f"phrase_{batch_size}_{input_length}.txt"
    if shipped.is_file():
        lines = [line.strip() for line in shipped.read_text(encoding="utf-8").splitlines()]
        return [line for line in lines if line]
    sentence = (folder / "phrase.txt").read_text(encoding="utf-8").strip()
    while len(sentence) < input_length:
        sentence = sentence + " " + sentence
    return [sentence[:input_length]] * batch_size


def random_models(
    steps: int,
    *,
    wn_channels: int = 256,
    seed: int = 0,
    tacotron2_config: Tacotron2Config | None = None,
    waveglow_config: WaveGlowConfig | None = None,
) -> tuple[Tacotron2, WaveGlow]:
    """Full-size (or given-size) models with seeded random weights for timing.

    Tacotron 2 decodes exactly ``steps`` steps (gate silenced, early stopping off); WaveGlow's
    output layers get small random weights so that no coupling is the identity.
    """
    t2_config = dataclasses.replace(
        tacotron2_config or Tacotron2Config(), max_decoder_steps=steps, early_stopping=False
    )
    wg_config = waveglow_config or WaveGlowConfig(n_channels=wn_channels)
    # Module init draws from the global RNG: seed it for repeatable weights, then restore it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tacotron2 = Tacotron2(t2_config).eval()
        waveglow = WaveGlow(wg_config).eval()
        with torch.no_grad():
            tacotron2.decoder.gate_layer.linear_layer.weight.zero_()
            tacotron2.decoder.gate_layer.linear_layer.bias.fill_(_SILENT_GATE_BIAS)
            for wn in waveglow.WN:
                wn.get_parameter("end.weight").normal_(0.0, 0.01)
    return tacotron2, waveglow


@contextmanager
def _quiet_max_steps(fixed_steps: bool) -> Iterator[None]:
    """With a fixed step count, "reached max_decoder_steps" is by design: silence those warnings."""
    names = ("tacoglow.models.tacotron2", "tacoglow.inference.acoustic")
    levels = [logging.getLogger(name).level for name in names]
    if fixed_steps:
        for name in names:
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in zip(names, levels):
            logging.getLogger(name).setLevel(level)


def _build(
    settings: BenchSettings,
    precision: str,
    prenet_dropout: bool,
    tacotron2: os.PathLike | str | None,
    waveglow: os.PathLike | str | None,
    tacotron2_config: Tacotron2Config | None,
    waveglow_config: WaveGlowConfig | None,
) -> Synthesizer:
    t2_source: Any = tacotron2
    wg_source: Any = waveglow
    if tacotron2 is None or waveglow is None:
        if settings.steps is None and tacotron2 is None:
            raise ConfigError("bench with a random Tacotron 2 needs a fixed number of decoder steps (--steps)")
        random_t2, random_wg = random_models(
            settings.steps or 1,
            wn_channels=settings.wn_channels,
            seed=settings.seed,
            tacotron2_config=tacotron2_config,
            waveglow_config=waveglow_config,
        )
        t2_source = tacotron2 if tacotron2 is not None else random_t2
        wg_source = waveglow if waveglow is not None else random_wg
    fixed = settings.steps is not None
    return Synthesizer.from_checkpoints(
        t2_source,
        wg_source,
        vocoder="waveglow",
        device=settings.device,
        precision=precision,
        sigma=settings.sigma,
        denoise=settings.denoise,
        seed=settings.seed,
        batch_size=max(settings.batch_sizes),
        max_decoder_steps=settings.steps,
        early_stopping=not fixed,
        prenet_dropout=prenet_dropout,
        retries=0,
        split_long_text=False,
        threads=settings.threads,
    )


def _describe(settings: BenchSettings, synth: Synthesizer, tacotron2: Any, waveglow: Any) -> str:
    assert isinstance(synth.vocoder, WaveGlowVocoder)
    steps = f"{settings.steps} steps" if settings.steps is not None else "stops on its gate"
    dtype = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
    t2 = (
        f"Tacotron 2 ({'random' if tacotron2 is None else Path(tacotron2).name}, {steps}, "
        f"{dtype[synth.acoustic.dtype]})"
    )
    wg = (
        f"WaveGlow-{synth.vocoder.model.config.n_channels} "
        f"({'random' if waveglow is None else Path(waveglow).name}, {dtype[synth.vocoder.dtype]})"
    )
    return f"{t2} + {wg}"


def _measure(
    synth: Synthesizer, texts: list[str], settings: BenchSettings, progress: Callable[[str], None]
) -> BenchRow:
    assert isinstance(synth.vocoder, WaveGlowVocoder)
    gflop_per_audio_second = waveglow_gflop_per_second(synth.vocoder.model.config, synth.sample_rate)
    latencies: list[float] = []
    stage_sums = {stage: 0.0 for stage in STAGES}
    mels_per_s: list[float] = []
    samples_per_s: list[float] = []
    throughputs: list[float] = []
    audio_seconds: list[float] = []
    steps: list[float] = []
    for iteration in range(settings.warmup + settings.iterations):
        timings = StageTimes()
        utterances = synth.synthesize(texts, timings=timings)
        warm = iteration >= settings.warmup
        progress(
            f"batch {len(texts)}, {len(texts[0])} chars: {'iteration' if warm else 'warm-up'} "
            f"{iteration - settings.warmup + 1 if warm else iteration + 1}"
        )
        if not warm:
            continue
        seconds = {stage: timings.seconds.get(stage, 0.0) for stage in STAGES}
        latency = sum(seconds[stage] for stage in LATENCY_STAGES)
        samples = timings.counts.get("audio_samples", 0)
        latencies.append(latency)
        for stage in STAGES:
            stage_sums[stage] += seconds[stage]
        mels_per_s.append(timings.counts.get("mel_frames", 0) / seconds["tacotron2"])
        samples_per_s.append(samples / seconds["waveglow"] if seconds["waveglow"] else 0.0)
        throughputs.append(samples / latency)
        audio_seconds.append(sum(u.duration_s for u in utterances))
        steps.append(timings.counts.get("mel_frames", 0) / len(texts))
    n = settings.iterations
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    return BenchRow(
        batch_size=len(texts),
        input_length=len(texts[0]),
        characters=sum(len(t) for t in texts),
        latency=latency_stats(latencies),
        stage_seconds={k: v / n for k, v in stage_sums.items()},
        tacotron2_mels_per_s=mean(mels_per_s),
        waveglow_samples_per_s=mean(samples_per_s),
        throughput_samples_per_s=mean(throughputs),
        rtf=mean(throughputs) / synth.sample_rate,
        audio_seconds=mean(audio_seconds),
        decoder_steps=mean(steps),
        waveglow_gflops=mean(samples_per_s) / synth.sample_rate * gflop_per_audio_second,
    )


def _compare_fp32(
    settings: BenchSettings, texts: list[str], build: Callable[[str], Synthesizer]
) -> tuple[float, float]:
    """SNR (dB) of ``settings.precision`` against float32 on the same noise: the vocoder (and
    denoiser) alone on the first :data:`_SNR_FRAMES` frames of one float32 mel, and the whole
    pipeline (prenet dropout off, so both decode the same way)."""
    reference = build("fp32")
    [ref_utterance] = reference.synthesize(texts[:1])
    mel = ref_utterance.segments[0].mel[:, :_SNR_FRAMES]
    ref_audio = reference.vocode(mel, settings.seed).cpu()
    del reference
    low = build(settings.precision)
    [low_utterance] = low.synthesize(texts[:1])
    low_audio = low.vocode(mel, settings.seed).cpu()
    return snr_db(ref_audio, low_audio), snr_db(ref_utterance.waveform, low_utterance.waveform)


def run_benchmark(
    settings: BenchSettings,
    *,
    tacotron2: os.PathLike | str | None = None,
    waveglow: os.PathLike | str | None = None,
    tacotron2_config: Tacotron2Config | None = None,
    waveglow_config: WaveGlowConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Run the benchmark and return its report.

    Args:
        settings: what to run (see :class:`BenchSettings`).
        tacotron2, waveglow: checkpoint files; a missing one is a random full-size model.
        tacotron2_config, waveglow_config: sizes of the random models (default: full size).
        progress: called with a short line after each run.

    Raises:
        ConfigError: bad settings (e.g. fewer than 2 iterations, random weights without steps).
    """
    if settings.iterations < 2:
        raise ConfigError(f"iterations: expected at least 2 (the statistics need them), found {settings.iterations}")
    if settings.warmup < 0:
        raise ConfigError(f"warmup: expected >= 0, found {settings.warmup}")
    if settings.steps is not None and settings.steps < 1:
        raise ConfigError(f"steps: expected >= 1, found {settings.steps}")
    if tacotron2_config is None and waveglow_config is None and settings.wn_channels not in (256, 512):
        raise ConfigError(f"wn_channels: expected 256 or 512, found {settings.wn_channels}")
    cases = [(b, n) for n in settings.input_lengths for b in settings.batch_sizes]
    inputs = {case: bench_inputs(*case) for case in cases}
    report_progress = progress or (lambda _line: None)

    def build(precision: str, prenet_dropout: bool = True) -> Synthesizer:
        return _build(settings, precision, prenet_dropout, tacotron2, waveglow, tacotron2_config, waveglow_config)

    with _quiet_max_steps(settings.steps is not None):
        synth = build(settings.precision)
        report = BenchReport(
            settings=settings,
            models=_describe(settings, synth, tacotron2, waveglow),
            device=str(synth.acoustic.device),
            threads=torch.get_num_threads(),
            torch_version=torch.__version__,
            machine=describe_cpu(),
        )
        for case in cases:
            report.rows.append(_measure(synth, inputs[case], settings, report_progress))
        report.peak_rss_mib = peak_rss_mib()
        del synth
        if settings.measure_peak:
            for name in dict.fromkeys(("fp32", settings.precision)):
                report.matmul_peak_gflops[name] = matmul_peak_gflops(PRECISIONS[name], device=report.device)
        if settings.compare_fp32:
            report.snr_db_waveglow, report.snr_db_pipeline = _compare_fp32(
                settings, inputs[cases[0]], lambda precision: build(precision, prenet_dropout=False)
            )
    return report


_COLUMNS = (
    ("batch", 5, lambda r: f"{r.batch_size}"),
    ("chars", 5, lambda r: f"{r.input_length}"),
    ("latency s", 9, lambda r: f"{r.latency.mean:.3f}"),
    ("std s", 7, lambda r: f"{r.latency.std:.3f}"),
    ("p50 s", 8, lambda r: f"{r.latency.p50:.3f}"),
    ("p90 s", 8, lambda r: f"{r.latency.p90:.3f}"),
    ("p95 s", 8, lambda r: f"{r.latency.p95:.3f}"),
    ("p99 s", 8, lambda r: f"{r.latency.p99:.3f}"),
    ("T2 mels/s", 9, lambda r: f"{r.tacotron2_mels_per_s:.0f}"),
    ("WG samples/s", 12, lambda r: f"{r.waveglow_samples_per_s:.0f}"),
    ("RTF", 6, lambda r: f"{r.rtf:.3f}"),
    ("text s", 7, lambda r: f"{r.stage_seconds['text']:.3f}"),
    ("T2 s", 7, lambda r: f"{r.stage_seconds['tacotron2']:.3f}"),
    ("WG s", 7, lambda r: f"{r.stage_seconds['waveglow']:.3f}"),
    ("denoise s", 9, lambda r: f"{r.stage_seconds['denoiser']:.3f}"),
    ("audio s", 7, lambda r: f"{r.audio_seconds:.2f}"),
    ("WG GFLOP/s", 10, lambda r: f"{r.waveglow_gflops:.1f}"),
)
"""Table columns: header, width, cell."""


def format_table(report: BenchReport) -> str:
    """The report as a text table with a header line describing the run."""
    s = report.settings
    lines = [
        f"tacoglow bench: {report.models}; {report.device}, {s.precision}, {report.threads} threads, "
        f"{s.iterations} iterations after {s.warmup} warm-up; torch {report.torch_version}",
        "  ".join(f"{name:>{width}}" for name, width, _ in _COLUMNS),
    ]
    for row in report.rows:
        lines.append("  ".join(f"{cell(row):>{width}}" for _, width, cell in _COLUMNS))
    lines.append(
        "latency = Tacotron 2 + WaveGlow + denoiser (text excluded, as the reference); RTF = seconds "
        "of audio per second of latency"
    )
    lines.append(f"machine: {report.machine}")
    lines.append(f"peak RSS: {report.peak_rss_mib:.0f} MiB")
    if report.matmul_peak_gflops:
        peaks = ", ".join(f"{name} {value:.0f} GFLOP/s" for name, value in report.matmul_peak_gflops.items())
        best = max(row.waveglow_gflops for row in report.rows)
        lines.append(
            f"matrix-product ceiling measured in this run (2048², best of 3): {peaks}; WaveGlow "
            f"reached {best:.0f} GFLOP/s = {best / report.matmul_peak_gflops[s.precision]:.0%} of the "
            f"{s.precision} ceiling"
        )
    if report.snr_db_waveglow is not None:
        lines.append(
            f"SNR of {s.precision} vs fp32 (same noise): WaveGlow {report.snr_db_waveglow:.1f} dB, "
            f"whole pipeline {report.snr_db_pipeline:.1f} dB"
        )
    return "\n".join(lines)


def write_json(report: BenchReport, path: str | os.PathLike[str]) -> None:
    """Write the report as JSON, atomically."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ConfigError(f"--json {target}: folder {target.parent} does not exist")
    data = dataclasses.asdict(report)
    data["settings"]["batch_sizes"] = list(report.settings.batch_sizes)
    data["settings"]["input_lengths"] = list(report.settings.input_lengths)
    write_text(target, json.dumps(data, indent=2, allow_nan=True) + "\n", error=ConfigError)
