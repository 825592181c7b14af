"""``tacoglow bench``: NVIDIA's inference benchmark (latency statistics, mels/s, samples/s, RTF).

Runs on checkpoints or, without them, on full-size models with random weights and a fixed number
of decoder steps; prints a table and optionally writes JSON. See :mod:`tacoglow.bench.inference`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from tacoglow.cli.voices import add_voice_option, resolve_model_sources

logger = logging.getLogger("tacoglow.cli.bench")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare ``tacoglow bench`` and its options."""
    parser = subparsers.add_parser(
        "bench",
        help="inference benchmark (NVIDIA's test_infer.py, in its terms)",
        description="Time text -> Tacotron 2 -> WaveGlow -> denoiser on the reference's benchmark phrases. "
        "Without checkpoints: full-size models with random weights and --steps decoder steps.",
    )
    parser.add_argument("--tacotron2", type=Path, metavar="FILE", help="Tacotron 2 checkpoint (default: random)")
    parser.add_argument("--waveglow", type=Path, metavar="FILE", help="WaveGlow checkpoint (default: random)")
    add_voice_option(parser)
    parser.add_argument(
        "--wn-channels",
        type=int,
        choices=(256, 512),
        help="channels of the random WaveGlow (default 256, as NVIDIA's published one)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        help="fixed decoder steps, early stopping off (default 600 with a random Tacotron 2; "
        "a checkpoint stops on its gate unless given)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        nargs="+",
        default=[1],
        metavar="B",
        help="batch sizes (the reference: 1 4 8; default 1)",
    )
    parser.add_argument(
        "--input-length",
        type=int,
        nargs="+",
        default=[128],
        metavar="CHARS",
        help="characters per utterance (the reference: 64 128 256; default 128)",
    )
    parser.add_argument("--iterations", type=int, default=10, help="measured runs per case (default 10)")
    parser.add_argument("--warmup", type=int, default=5, help="discarded runs before them (default 3)")
    parser.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--sigma", type=float, default=0.6, help="WaveGlow noise scale (default 0.6)")
    parser.add_argument("--denoise", type=float, default=0.01, help="denoiser strength (default 0.01)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of weights and noise (default 1234)")
    parser.add_argument(
        "--compare-fp32",
        action="store_true",
        help="also report the SNR of this precision's audio against fp32 with the same noise",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    parser.add_argument(
        "--onnx",
        action="store_true",
        help="instead: the PyTorch engine and the ONNX Runtime engine (fp32, fp16, int8 decoder) "
        "stage by stage on full-size random models, batch 1 (needs tacoglow[onnx])",
    )
    sub = parser.add_subparsers(dest="bench_command", metavar="{serve}")
    _add_serve_parser(sub)
    return parser


def _add_serve_parser(sub: Any) -> None:
    """``tacoglow bench serve``: the HTTP server under concurrent load (:mod:`tacoglow.bench.serve`)."""
    serve = sub.add_parser(
        "serve",
        help="the speech server under load from loopback clients",
        description="Start tacoglow serve and drive it: sequential vs concurrent requests, "
        "a long text streamed vs not, and a soak run; prints a table.",
    )
    serve.add_argument("--clients", type=int, default=8, help="concurrent clients of the concurrent phase (default 8)")
    serve.add_argument(
        "--requests", type=int, default=32, help="requests of the sequential/concurrent phases (default 32)"
    )
    serve.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="sequential/concurrent rounds, alternated so both meet the machine alike (default 5)",
    )
    serve.add_argument("--soak-clients", type=int, default=16, help="clients of the soak phase (default 16)")
    serve.add_argument("--soak-requests", type=int, default=500, help="requests of the soak phase (default 500)")
    serve.add_argument("--tacotron2", type=Path, metavar="FILE", help="Tacotron 2 checkpoint (default: bundled voice)")
    serve.add_argument("--waveglow", type=Path, metavar="FILE", help="WaveGlow checkpoint (default: bundled, if any)")
    serve.add_argument("--workers", type=int, help="server processes (default 1)")
    serve.add_argument("--threads", type=int, help="CPU threads for torch in each server process")
    serve.add_argument("--max-batch-size", type=int, default=8, help="server's batch size (default 8)")
    serve.add_argument("--max-wait-ms", type=float, default=25.0, help="server's batch wait (default 25)")


def _run_serve(args: argparse.Namespace) -> int:
    from tacoglow.bench.serve import ServeBenchSettings, format_serve_table, run_serve_benchmark

    server_args = ["--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms)]
    for option in ("tacotron2", "waveglow", "workers", "threads"):
        if getattr(args, option) is not None:
            server_args += [f"--{option}", str(getattr(args, option))]
    settings = ServeBenchSettings(
        clients=args.clients,
        requests=args.requests,
        rounds=args.rounds,
        soak_clients=args.soak_clients,
        soak_requests=args.soak_requests,
        server_args=tuple(server_args),
    )
    phases, machine = run_serve_benchmark(settings, progress=logger.info)
    print(format_serve_table(phases, machine, args.clients))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the table, write JSON if asked; returns the exit code."""
    if args.bench_command == "serve":
        return _run_serve(args)
    from tacoglow.bench.inference import BenchSettings, format_table, run_benchmark, write_json
    from tacoglow.errors import ConfigError

    if args.json is not None and not args.json.parent.is_dir():
        raise ConfigError(f"--json {args.json}: folder {args.json.parent} does not exist")
    resolve_model_sources(args)  # after the cheap checks: this may download
    if args.wn_channels is not None and args.waveglow is not None:
        raise ConfigError("--wn-channels sizes the random WaveGlow; a --waveglow checkpoint brings its own size")
    steps = args.steps if args.steps is not None else (600 if args.tacotron2 is None else None)
    if args.onnx:
        return _run_onnx(args, steps or 600)
    settings = BenchSettings(
        batch_sizes=tuple(args.batch_size),
        input_lengths=tuple(args.input_length),
        iterations=args.iterations,
        warmup=args.warmup,
        steps=steps,
        precision=args.precision,
        device=args.device,
        threads=args.threads,
        sigma=args.sigma,
        denoise=args.denoise,
        seed=args.seed,
        wn_channels=args.wn_channels or 256,
        compare_fp32=args.compare_fp32,
    )
    report = run_benchmark(settings, tacotron2=args.tacotron2, waveglow=args.waveglow, progress=logger.info)
    print(format_table(report))
    if args.json is not None:
        write_json(report, args.json)
        logger.info("wrote %s", args.json)
    return 0


def _run_onnx(args: argparse.Namespace, steps: int) -> int:
    """``--onnx``: both engines side by side (tacoglow.export.bench)."""
    from tacoglow.errors import ConfigError
    from tacoglow.export.bench import format_onnx_table, run_onnx_bench

    if args.tacotron2 is not None or args.waveglow is not None or args.json is not None or args.device != "cpu":
        raise ConfigError(
            "--onnx times full-size random models on the CPU: drop --tacotron2, --waveglow, --json and --device"
        )
    if args.iterations < 1:
        raise ConfigError(f"--iterations: expected at least 1, found {args.iterations}")
    report = run_onnx_bench(
        steps, args.iterations, args.seed, args.threads, wn_channels=args.wn_channels or 256, progress=logger.info
    )
    print(format_onnx_table(report))
    return 0
