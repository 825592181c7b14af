"""Time Tacotron 2 inference at batch 1 on CPU: the prepared fast decoder against the reference model.

The baseline is ``Tacotron2.infer``, the reference's arithmetic with nn modules (two
``nn.LSTMCell`` calls, the location conv then its dense layer, separate projection and gate
layers); the other is ``prepare_tacotron2(model).infer`` (fused weights, see
``tacoglow.inference.fast_tacotron2``). Both run the same full-size random-weight model end to
end (encoder, ``--steps`` decoder steps with no early stop and prenet dropout off, postnet), so
``--steps 600`` is comparable with the reference's Tacotron 2 figure (600 steps, 128
characters). Runs are interleaved and the best of ``--repeats`` is reported, because this
machine is shared and timings are noisy; the load average is printed with them, as is the
difference between the two outputs.

Usage:
    python scripts/profile_tacotron2.py [--steps 200] [--threads 1 2] [--repeats 5] [--text-length 128]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch

from tacoglow.inference.fast_tacotron2 import prepare_tacotron2
from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config


def best_ms_per_step(runs: dict[str, Callable[[], object]], steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Interleave the runs ``repeats`` times -> name: (best wall, best process CPU time), ms per decoder step.

    CPU time leaves out the time this process waited for a core, so on a shared machine it is the
    steadier of the two; it counts every thread, so it exceeds wall time with more than one.
    """
    best = {name: (float("inf"), float("inf")) for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            wall, cpu = (time.perf_counter() - wall) * 1e3 / steps, (time.process_time() - cpu) * 1e3 / steps
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="decoder steps per run (default 200)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts (default 1 2)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs per variant; best is kept (default 5)")
    parser.add_argument("--text-length", type=int, default=128, help="input symbols (default 128)")
    args = parser.parse_args()

    torch.manual_seed(0)
    config = Tacotron2Config(max_decoder_steps=args.steps, early_stopping=False, prenet_dropout=0.0)
    model = Tacotron2(config).eval()
    text = torch.randint(1, config.n_symbols, (1, args.text_length))
    text_lengths = torch.tensor([args.text_length])

    fast = prepare_tacotron2(model)
    base, ours = model.infer(text, text_lengths), fast.infer(text, text_lengths)
    mel_err = float((ours.mel_postnet - base.mel_postnet).norm() / base.mel_postnet.norm())
    align_err = float((ours.alignments - base.alignments).abs().max())
    print(
        f"full-size Tacotron 2, batch 1, {args.text_length} symbols, {args.steps} steps, whole infer; "
        f"prepared vs reference: mel_postnet rel L2 {mel_err:.2e}, alignment max abs {align_err:.2e}"
    )

    runs = {
        "baseline": lambda: model.infer(text, text_lengths),
        "tacoglow": lambda: fast.infer(text, text_lengths),
    }
    for threads in args.threads:
        torch.set_num_threads(threads)
        for run in runs.values():  # warm-up: allocator, MKL
            run()
        best = best_ms_per_step(runs, args.steps, args.repeats)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        (base_wall, base_cpu), (ours_wall, ours_cpu) = best["baseline"], best["tacoglow"]
        print(
            f"threads {threads}: wall baseline {base_wall:.2f} ms/step ({base_wall * args.steps / 1e3:.2f} s), "
            f"tacoglow {ours_wall:.2f} ms/step ({ours_wall * args.steps / 1e3:.2f} s), {base_wall / ours_wall:.2f}x; "
            f"CPU time baseline {base_cpu:.2f}, tacoglow {ours_cpu:.2f} ms/step, {base_cpu / ours_cpu:.2f}x "
            f"(load average {load})"
        )


if __name__ == "__main__":
    main()
