"""``tacoglow bench --onnx``: the PyTorch engine and the ONNX Runtime engine, stage by stage, in one run.

Full-size models with seeded random weights (``tacoglow.bench.inference.random_models``: the stop
gate silenced, exactly ``steps`` decoder steps), batch 1, the reference's 128-character phrase.
The models are exported to a temporary folder and then timed on the same inputs, in one process
and with the same thread count:

- Tacotron 2 encoder, decoder (ms per step) and postnet: the reference arithmetic
  (``tacoglow.models.tacotron2``, eager, as NVIDIA's ``test_infer.py`` runs it: the
  reference-equivalent figure), the PyTorch engine (``prepare_tacotron2``), and ONNX Runtime with
  the fp32, fp16 and int8 decoder steps;
- WaveGlow (``prepare_waveglow`` vs the ONNX graph) on ``waveglow_frames`` frames, with its
  GFLOP/s as a share of this machine's fp32 matrix-product peak, measured in the same run;
- the SNR of the int8 and fp16 decoders' mels against fp32 (prenet dropout off, so the masks
  are identical).

Each figure is the median of ``iterations`` runs after one warm-up. Timings on a shared machine
move with its load: compare figures of one run, not of different runs.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from tacoglow.audio.mel import MelConfig
from tacoglow.bench.inference import (
    bench_inputs,
    random_models,
    waveglow_gflop_per_second,
)
from tacoglow.bench.stats import matmul_peak_gflops, snr_db
from tacoglow.checkpoints import LoadedModel
from tacoglow.export.onnx import export_onnx
from tacoglow.inference.fast_tacotron2 import prepare_tacotron2
from tacoglow.inference.fast_waveglow import prepare_waveglow
from tacoglow.models.tacotron2 import decode_free_running
from tacoglow.text import TextFrontend

__all__ = ["OnnxBenchReport", "format_onnx_table", "run_onnx_bench"]


@dataclass
class OnnxBenchReport:
    """Median seconds per stage for each engine; ``decoder`` is seconds per step."""

    steps: int
    threads: int
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # engine -> stage -> s
    waveglow_audio_s: float = 0.0
    waveglow_gflops: dict[str, float] = field(default_factory=dict)  # engine -> GFLOP/s
    matmul_peak_gflops: float = 0.0
    snr_db: dict[str, float] = field(default_factory=dict)  # decoder precision -> mel SNR vs fp32


def _median_time(run: Callable[[], Any], iterations: int) -> float:
    run()  # warm-up: first-call allocations and kernel choices
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_onnx_bench(
    steps: int = 600,
    iterations: int = 3,
    seed: int = 1234,
    threads: int | None = None,
    waveglow_frames: int = 88,
    wn_channels: int = 256,
    progress: Callable[[str], None] = lambda _m: None,
) -> OnnxBenchReport:
    """Time both engines stage by stage (see the module docstring); returns the report."""
    from tacoglow.runtime import OnnxSynthesizer

    if threads is not None:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    report = OnnxBenchReport(steps=steps, threads=threads)
    tacotron2, waveglow = random_models(steps, wn_channels=wn_channels, seed=seed)
    mel_config = MelConfig()
    frontend = TextFrontend()
    [text] = bench_inputs(1, 128)
    ids = frontend.to_sequence(text)
    text_t, lengths_t = torch.tensor([ids]), torch.tensor([len(ids)])
    with tempfile.TemporaryDirectory(prefix="tacoglow-onnx-bench-") as folder:
        progress(f"exporting full-size models to {folder}")
        export_onnx(
            folder,
            LoadedModel(tacotron2, "tacotron2", mel_config, None, "tacoglow", {}, frontend),
            LoadedModel(waveglow, "waveglow", mel_config, None, "tacoglow", {}),
        )
        engines = {
            p: OnnxSynthesizer(
                folder, precision=p, prenet_dropout=False, early_stopping=False, threads=threads, seed=seed
            )
            for p in ("fp32", "fp16", "int8")
        }
        memory, processed, text_mask, _ = engines["fp32"].encode([ids])

        # --- Tacotron 2, PyTorch: reference arithmetic and the PyTorch engine share the postnet, and at
        # batch 1 the encoder's arithmetic.
        prepared = prepare_tacotron2(tacotron2)
        cfg = tacotron2.config

        # The postnet is timed on its own: the decoder loops run with a zero correction in its place.
        def no_postnet(mel: torch.Tensor, _lengths: torch.Tensor | None = None) -> torch.Tensor:
            return torch.zeros_like(mel)

        with torch.no_grad():
            torch_memory = tacotron2._encode(text_t, lengths_t, mask_text_padding=True)
            torch_mel = decode_free_running(
                prepared._step, prepared.prenet, no_postnet, torch_memory, cfg, torch.Generator().manual_seed(seed)
            ).mel
            progress("timing the PyTorch engine")
            encoder_s = _median_time(lambda: tacotron2._encode(text_t, lengths_t, True), iterations)
            postnet_s = _median_time(lambda: tacotron2.postnet(torch_mel), iterations)
            for name, step in (("reference (eager)", tacotron2.decoder.step), ("PyTorch engine", prepared._step)):
                generator = torch.Generator().manual_seed(seed)
                decode = partial(
                    decode_free_running, step, tacotron2.decoder.prenet, no_postnet, torch_memory, cfg, generator
                )
                decoder_s = _median_time(decode, iterations) / steps
                report.seconds[name] = {"encoder": encoder_s, "decoder": decoder_s, "postnet": postnet_s}

        # --- Tacotron 2, ONNX Runtime.
        mels = {}
        for precision, engine in engines.items():
            progress(f"timing ONNX Runtime ({precision})")
            rng = np.random.default_rng(seed)
            mel = engine.decode(memory, processed, text_mask, rng)[0]
            mels[precision] = engine.postnet.run(None, {"mel": mel})[0]
            report.seconds[f"ONNX Runtime {precision}"] = {
                "encoder": _median_time(partial(engine.encode, [ids]), iterations),
                "decoder": _median_time(partial(engine.decode, memory, processed, text_mask, rng), iterations) / steps,
                "postnet": _median_time(partial(engine.postnet.run, None, {"mel": mel}), iterations),
            }
        for precision in ("fp16", "int8"):
            report.snr_db[precision] = snr_db(
                torch.from_numpy(mels["fp32"]).flatten(), torch.from_numpy(mels[precision]).flatten()
            )

        # --- WaveGlow on a short mel: the ONNX graph against prepare_waveglow, same noise scale.
        progress("timing WaveGlow")
        wg_mel = torch.from_numpy(mels["fp32"][:, :, :waveglow_frames].copy())
        fast = prepare_waveglow(waveglow.remove_weight_norm(), torch.float32, "cpu")
        report.waveglow_audio_s = waveglow_frames * 256 / mel_config.sampling_rate
        n_group = waveglow.config.n_group
        z = np.random.default_rng(seed).standard_normal(
            (1, n_group, waveglow_frames * 256 // n_group), dtype=np.float32
        ) * np.float32(0.6)
        onnx_waveglow = engines["fp32"].waveglow
        assert onnx_waveglow is not None  # exported above with a WaveGlow
        with torch.no_grad():
            wg_times = {
                "PyTorch engine": _median_time(lambda: fast.infer(wg_mel, sigma=0.6), iterations),
                "ONNX Runtime fp32": _median_time(
                    lambda: onnx_waveglow.run(None, {"mel": wg_mel.numpy(), "z": z}), iterations
                ),
            }
        gflop = waveglow_gflop_per_second(waveglow.config) * report.waveglow_audio_s
        for name, seconds in wg_times.items():
            report.seconds[name]["waveglow"] = seconds
            report.waveglow_gflops[name] = gflop / seconds
        report.matmul_peak_gflops = matmul_peak_gflops(torch.float32)
    return report


def format_onnx_table(report: OnnxBenchReport) -> str:
    """The report as a text table, ratios against the reference-equivalent and PyTorch-engine rows."""
    ref = report.seconds["reference (eager)"]["decoder"]
    torch_engine = report.seconds["PyTorch engine"]
    lines = [
        (
            f"Tacotron 2 batch 1, {report.steps} decoder steps, full size, random weights; {report.threads} "
            f"threads (medians; a shared machine: compare rows of one run)"
        ),
        (
            f"{'engine':<20} {'encoder ms':>10} {'ms/step':>8} {'x ref':>6} {'postnet ms':>10} "
            f"{'WaveGlow s':>10} {'vs PyTorch engine (enc/dec/post/WG)':>36}"
        ),
    ]
    for name, stages in report.seconds.items():
        ratio = "/".join(
            f"{stages[s] / torch_engine[s]:.2f}" if s in stages and s in torch_engine else "-"
            for s in ("encoder", "decoder", "postnet", "waveglow")
        )
        waveglow = f"{stages['waveglow']:.3f}" if "waveglow" in stages else "-"
        lines.append(
            f"{name:<20} {stages['encoder'] * 1e3:>10.1f} {stages['decoder'] * 1e3:>8.2f} "
            f"{ref / stages['decoder']:>6.2f} {stages['postnet'] * 1e3:>10.1f} {waveglow:>10} {ratio:>36}"
        )
    lines.append(
        "x ref = decoder speed relative to the reference arithmetic (eager, as NVIDIA's test_infer.py); "
        "ratios > 1 are slower than the PyTorch engine"
    )
    for name, gflops in report.waveglow_gflops.items():
        lines.append(
            f"WaveGlow {name}: {gflops:.1f} GFLOP/s = {100 * gflops / report.matmul_peak_gflops:.0f} % of "
            f"this run's fp32 matmul peak ({report.matmul_peak_gflops:.1f} GFLOP/s), "
            f"{report.waveglow_audio_s:.2f} s of audio"
        )
    for precision, snr in report.snr_db.items():
        lines.append(f"mel SNR of the {precision} graphs against fp32: {snr:.1f} dB (prenet dropout off)")
    return "\n".join(lines)
