"""Time Tacotron 2 inference at batch 1 on CPU: tacoglow's decoder step against a straightforward one.

The straightforward baseline is the reference's arithmetic with nn modules: two ``nn.LSTMCell``
calls, the location conv then its dense layer, separate projection and gate layers. Both run the
same full-size random-weight model end to end (encoder, ``--steps`` decoder steps with no early
stop and prenet dropout off, postnet), so ``--steps 600`` is comparable with the reference's
Tacotron 2 figure (600 steps, 128 characters). Runs are interleaved and the best of
``--repeats`` is reported, because this machine is shared and timings are noisy; the load
average is printed with them, as is the difference between the two outputs.

Usage:
    python scripts/profile_tacotron2.py [--steps 200] [--threads 1 2] [--repeats 5] [--text-length 128]
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config


def baseline_infer(model: Tacotron2, text: Tensor, text_lengths: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    """Infer with a straightforward decoder -> (mel_postnet (B, n_mels, steps), alignments (B, steps, T_text))."""
    decoder = model.decoder
    attention = decoder.attention_layer
    location = attention.location_layer
    memory = model._encode(text, text_lengths)
    batch, text_len = memory.encoded.shape[:2]
    attention_h = attention_c = memory.encoded.new_zeros(batch, decoder.attention_rnn.hidden_size)
    decoder_h = decoder_c = memory.encoded.new_zeros(batch, decoder.decoder_rnn.hidden_size)
    weights = weights_cum = memory.encoded.new_zeros(batch, text_len)
    context = memory.encoded.new_zeros(batch, memory.encoded.size(2))
    frame = decoder.go_frame(memory)
    frames, alignments = [], []
    for _ in range(steps):
        prenet_out = decoder.prenet(frame, 0.0)
        attention_h, attention_c = decoder.attention_rnn(torch.cat((prenet_out, context), -1),
                                                         (attention_h, attention_c))
        weights_cat = torch.cat((weights.unsqueeze(1), weights_cum.unsqueeze(1)), dim=1)
        processed_location = location.location_dense(location.location_conv(weights_cat).transpose(1, 2))
        processed_query = attention.query_layer(attention_h.unsqueeze(1))
        energies = attention.v(torch.tanh(processed_query + processed_location + memory.processed)).squeeze(-1)
        if memory.mask is not None:
            energies = energies.masked_fill(memory.mask, float("-inf"))
        weights = F.softmax(energies, dim=1)
        weights_cum = weights_cum + weights
        context = torch.bmm(weights.unsqueeze(1), memory.encoded).squeeze(1)
        decoder_h, decoder_c = decoder.decoder_rnn(torch.cat((attention_h, context), -1), (decoder_h, decoder_c))
        hidden_context = torch.cat((decoder_h, context), dim=1)
        frame = decoder.linear_projection(hidden_context)
        decoder.gate_layer(hidden_context)
        frames.append(frame)
        alignments.append(weights)
    mel = torch.stack(frames, 2)
    return mel + model.postnet(mel), torch.stack(alignments, 1)


def tacoglow_infer(model: Tacotron2, text: Tensor, text_lengths: Tensor) -> tuple[Tensor, Tensor]:
    """``model.infer`` -> (mel_postnet (B, n_mels, T_mel), alignments (B, T_steps, T_text))."""
    out = model.infer(text, text_lengths)
    return out.mel_postnet, out.alignments


def best_ms_per_step(runs: dict[str, Callable[[], object]], steps: int, repeats: int
                     ) -> dict[str, tuple[float, float]]:
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

    with torch.no_grad():
        base_mel, base_align = baseline_infer(model, text, text_lengths, args.steps)
        mel, align = tacoglow_infer(model, text, text_lengths)
    mel_err = float((mel - base_mel).norm() / base_mel.norm())
    align_err = float((align - base_align).abs().max())
    print(f"full-size Tacotron 2, batch 1, {args.text_length} symbols, {args.steps} steps, whole infer; "
          f"tacoglow vs baseline: mel_postnet rel L2 {mel_err:.2e}, alignment max abs {align_err:.2e}")

    runs = {
        "baseline": lambda: baseline_infer(model, text, text_lengths, args.steps),
        "tacoglow": lambda: tacoglow_infer(model, text, text_lengths),
    }
    for threads in args.threads:
        torch.set_num_threads(threads)
        with torch.no_grad():
            for run in runs.values():  # warm-up: allocator, MKL, cached step weights
                run()
            best = best_ms_per_step(runs, args.steps, args.repeats)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        (base_wall, base_cpu), (ours_wall, ours_cpu) = best["baseline"], best["tacoglow"]
        print(f"threads {threads}: wall baseline {base_wall:.2f} ms/step ({base_wall * args.steps / 1e3:.2f} s), "
              f"tacoglow {ours_wall:.2f} ms/step ({ours_wall * args.steps / 1e3:.2f} s), {base_wall / ours_wall:.2f}x; "
              f"CPU time baseline {base_cpu:.2f}, tacoglow {ours_cpu:.2f} ms/step, {base_cpu / ours_cpu:.2f}x "
              f"(load average {load})")


if __name__ == "__main__":
    main()
