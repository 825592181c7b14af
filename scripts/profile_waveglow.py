"""Time WaveGlow inference on CPU: tacoglow's ``infer`` against the reference's arithmetic, in GFLOP/s.

The baseline is NVIDIA's inference arithmetic written with plain convs: per WN layer a dilated
``F.conv1d`` plus a 1×1 ``F.conv1d`` of the conditioning, the gate, a 1×1 res/skip conv and the
running sums, then ``end``; the inverse 1×1 conv as ``F.conv1d``. Both share the mel upsampling
(``WaveGlow._condition``) and the same noise, so the two outputs must agree up to float rounding
(their relative difference is printed). Both run a full-size model with random weights (``end``
non-zero so that no coupling is the identity) after ``remove_weight_norm``, in float32 and in
bfloat16 (the model cast after fusion, as the synthesizer does).

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
from typing import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from tacoglow.bench.inference import waveglow_gflop_per_second
from tacoglow.bench.stats import matmul_peak_gflops, snr_db
from tacoglow.models.waveglow import HOP_LENGTH, WaveGlow, WaveGlowConfig

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
SAMPLE_RATE = 22050


def reference_wn(wn: torch.nn.Module, audio: Tensor, spect: Tensor) -> Tensor:
    """NVIDIA's WN.forward: (B, n_in, L), (B, n_mels·n_group, L) → (B, 2·n_in, L)."""
    C = wn.n_channels
    audio = F.conv1d(audio, wn.start.weight, wn.start.bias)
    output = torch.zeros_like(audio)
    for i in range(wn.n_layers):
        in_layer, cond_layer, res_skip = wn.in_layers[i], wn.cond_layers[i], wn.res_skip_layers[i]
        in_act = (F.conv1d(audio, in_layer.weight, in_layer.bias, padding=in_layer.padding,
                           dilation=in_layer.dilation)
                  + F.conv1d(spect, cond_layer.weight, cond_layer.bias))
        acts = torch.tanh(in_act[:, :C]) * torch.sigmoid(in_act[:, C:])
        res_skip_acts = F.conv1d(acts, res_skip.weight, res_skip.bias)
        if i < wn.n_layers - 1:
            audio = res_skip_acts[:, :C] + audio
            output = output + res_skip_acts[:, C:]
        else:
            output = output + res_skip_acts
    return F.conv1d(output, wn.end.weight, wn.end.bias)


@torch.no_grad()
def reference_infer(model: WaveGlow, mel: Tensor, sigma: float, seed: int) -> Tensor:
    """NVIDIA's WaveGlow.infer arithmetic: mel (B, n_mels, T_mel) → audio (B, T_mel·256)."""
    config = model.config
    spect = model._condition(mel, mel.size(2) * HOP_LENGTH)
    B, L = spect.size(0), spect.size(2)
    generator = torch.Generator().manual_seed(seed)
    audio = torch.randn(B, config.n_remaining_channels, L, generator=generator).to(spect.dtype) * sigma
    for k in reversed(range(config.n_flows)):
        n_half = audio.size(1) // 2
        audio_0, audio_1 = audio[:, :n_half], audio[:, n_half:]
        output = reference_wn(model.WN[k], audio_0, spect)
        b, log_s = output[:, :n_half], output[:, n_half:]
        audio_1 = ((audio_1.float() - b.float()) / torch.exp(log_s.float())).to(audio.dtype)
        audio = torch.cat([audio_0, audio_1], 1)
        inverse = model.convinv[k].conv.weight[:, :, 0].float().inverse().to(audio.dtype)[..., None]
        audio = F.conv1d(audio, inverse)
        if k > 0 and k % config.n_early_every == 0:
            z = torch.randn(B, config.n_early_size, L, generator=generator).to(spect.dtype)
            audio = torch.cat([sigma * z, audio], 1)
    return audio.permute(0, 2, 1).reshape(B, -1)


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
    print(f"WaveGlow-{args.wn_channels}: {args.frames} frames = {n_samples / SAMPLE_RATE:.2f} s of audio, "
          f"{gflop:.1f} GFLOP ({gflop / (n_samples / SAMPLE_RATE):.1f} per second of audio)")
    models = {name: model if name == "fp32" else copy.deepcopy(model).to(DTYPES[name]) for name in args.dtypes}
    outputs: dict[str, Tensor] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, dtype_model in models.items():
            dtype = DTYPES[name]
            load = os.getloadavg()[0]

            def tacoglow(m: WaveGlow = dtype_model) -> Tensor:
                return m.infer(mel, sigma=args.sigma, generator=torch.Generator().manual_seed(0))

            def reference(m: WaveGlow = dtype_model) -> Tensor:
                return reference_infer(m, mel, args.sigma, seed=0)

            # The ceiling is measured in every round too, and its best kept like the timings'.
            peaks: list[float] = []
            times = best_times({"reference": reference, "tacoglow": tacoglow,
                                "peak": lambda: peaks.append(matmul_peak_gflops(dtype))}, args.repeats)
            del times["peak"]
            peak = max(peaks)
            got, want = tacoglow().float(), reference().float()
            outputs[f"tacoglow {name}"], outputs[f"reference {name}"] = got, want
            rel = ((got - want).norm() / want.norm()).item()
            print(f"{name} threads={threads} load={load:.1f}->{os.getloadavg()[0]:.1f} "
                  f"matmul peak {peak:.0f} GFLOP/s | rel. diff tacoglow vs reference {rel:.1e}")
            for run_name, (wall, cpu) in times.items():
                print(f"  {run_name:9s} {wall:6.2f} s wall  {gflop / wall:6.1f} GFLOP/s "
                      f"({100 * gflop / wall / peak:3.0f}% of peak)  cpu {cpu:6.2f} s  "
                      f"RTF {n_samples / SAMPLE_RATE / wall:5.2f}")
        if "fp32" in models and "bf16" in models:
            print("  bf16 vs fp32 (same noise) SNR: " + ", ".join(
                f"{run} {snr_db(outputs[f'{run} fp32'], outputs[f'{run} bf16']):.1f} dB"
                for run in ("tacoglow", "reference")))


if __name__ == "__main__":
    main()
