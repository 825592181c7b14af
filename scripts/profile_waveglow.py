"""Time WaveGlow inference on CPU: the prepared module against the reference model, in GFLOP/s.

The baseline is :meth:`WaveGlow.infer` itself, NVIDIA's inference arithmetic (per WN layer a
dilated conv, the conditioning conv, the gate, a res/skip conv, then ``end``; the inverse 1×1 conv
as a conv); the contender is :func:`prepare_waveglow`'s module (fused, pre-packed GEMMs). Both
share the mel upsampling and draw the same noise, so their outputs must agree up to float rounding
(the relative difference is printed). Both run a full-size model with random weights (``end``
non-zero so that no coupling is the identity), in float32 and in bfloat16 (the reference cast
after ``remove_weight_norm``; the prepared module composed from float32 and rounded once, as the
synthesizer does).

Throughput is the reference's arithmetic per second of compute (``--wn-channels 256``: 447.8 GFLOP
per second of audio, 86.13 mel frames), printed next to the arithmetic ceiling of this machine
measured in the same run (a 2048² ``torch.mm``, ``matmul_peak_gflops``). Runs, the ceiling's
included, are interleaved and the best of ``--repeats`` is kept, because this machine is shared
and timings are noisy; the load average is printed with them. With both dtypes, the SNR of
bfloat16 against float32 (same noise) is printed for both runs.

Usage:
    python scripts/profile_waveglow.py [--frames 100] [--threads 1 2] [--repeats 3] [--dtypes fp32 bf16]
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable

import torch
from torch import Tensor

from tacoglow.bench.inference import waveglow_gflop_per_second
from tacoglow.bench.stats import matmul_peak_gflops, snr_db
from tacoglow.inference.fast_waveglow import PreparedWaveGlow, prepare_waveglow
from tacoglow.models.waveglow import HOP_LENGTH, WaveGlow, WaveGlowConfig

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
SAMPLE_RATE = 22050


def random_waveglow(wn_channels: int, seed: int = 0) -> WaveGlow:
    """Full-size WaveGlow with seeded random weights, weight norm removed, ``end`` non-zero."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WaveGlow(WaveGlowConfig(n_channels=wn_channels)).eval()
        with torch.no_grad():
            for wn in model.WN:
                wn.end.weight.normal_(0.0, 0.01)
    return model.remove_weight_norm()


def best_times(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Interleave the runs ``repeats`` times (after one warm-up each) → name: (best wall s, best CPU s).

    CPU time leaves out the time this process waited for a core; it counts every thread.
    """
    for run in runs.values():
        run()
    best = {name: (float("inf"), float("inf")) for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="mel frames (86.13 per second of audio)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtypes", nargs="+", choices=sorted(DTYPES), default=["fp32", "bf16"])
    parser.add_argument("--wn-channels", type=int, default=256)
    parser.add_argument("--sigma", type=float, default=0.6)
    args = parser.parse_args()

    model = random_waveglow(args.wn_channels)
    generator = torch.Generator().manual_seed(1)
    mel = torch.randn(1, model.config.n_mel_channels, args.frames, generator=generator) - 5.0
    n_samples = args.frames * HOP_LENGTH
    gflop = waveglow_gflop_per_second(model.config) * n_samples / 22050
    print(
        f"WaveGlow-{args.wn_channels}: {args.frames} frames = {n_samples / SAMPLE_RATE:.2f} s of audio, "
        f"{gflop:.1f} GFLOP ({gflop / (n_samples / SAMPLE_RATE):.1f} per second of audio)"
    )
    models = {name: model if name == "fp32" else copy.deepcopy(model).to(DTYPES[name]) for name in args.dtypes}
    prepared = {name: prepare_waveglow(model, DTYPES[name]) for name in args.dtypes}
    outputs: dict[str, Tensor] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, dtype_model in models.items():
            dtype = DTYPES[name]
            load = os.getloadavg()[0]

            def tacoglow(m: PreparedWaveGlow = prepared[name]) -> Tensor:
                return m.infer(mel, sigma=args.sigma, generator=torch.Generator().manual_seed(0))

            def reference(m: WaveGlow = dtype_model) -> Tensor:
                return m.infer(mel, sigma=args.sigma, generator=torch.Generator().manual_seed(0))

            # The ceiling is measured in every round too, and its best kept like the timings'.
            peaks: list[float] = []
            times = best_times(
                {
                    "reference": reference,
                    "tacoglow": tacoglow,
                    "peak": lambda peaks=peaks, dtype=dtype: peaks.append(matmul_peak_gflops(dtype)),
                },
                args.repeats,
            )
            del times["peak"]
            peak = max(peaks)
            got, want = tacoglow().float(), reference().float()
            outputs[f"tacoglow {name}"], outputs[f"reference {name}"] = got, want
            rel = ((got - want).norm() / want.norm()).item()
            print(
                f"{name} threads={threads} load={load:.1f}->{os.getloadavg()[0]:.1f} "
                f"matmul peak {peak:.0f} GFLOP/s | rel. diff tacoglow vs reference {rel:.1e}"
            )
            for run_name, (wall, cpu) in times.items():
                print(
                    f"  {run_name:9s} {wall:6.2f} s wall  {gflop / wall:6.1f} GFLOP/s "
                    f"({100 * gflop / wall / peak:3.0f}% of peak)  cpu {cpu:6.2f} s  "
                    f"RTF {n_samples / SAMPLE_RATE / wall:5.2f}"
                )
        if "fp32" in models and "bf16" in models:
            print(
                "  bf16 vs fp32 (same noise) SNR: "
                + ", ".join(
                    f"{run} {snr_db(outputs[f'{run} fp32'], outputs[f'{run} bf16']):.1f} dB"
                    for run in ("tacoglow", "reference")
                )
            )


if __name__ == "__main__":
    main()
