"""``tacoglow serve``: the OpenAI-compatible HTTP speech server (:mod:`tacoglow.serving`).

Loads the voice once per worker process, then serves ``POST /v1/audio/speech`` and the page at
``/``. SIGTERM (or Ctrl-C) stops accepting connections, finishes the requests in flight and
exits 0 (uvicorn's graceful shutdown, then the app's lifespan drains its queue).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from tacoglow.cli.voices import add_voice_option, resolve_model_sources
from tacoglow.errors import ConfigError

logger = logging.getLogger("tacoglow.cli.serve")

API_KEY_ENV = "TACOGLOW_API_KEY"
"""Environment variable holding the API key (safer than --api-key, which other users can see in ps)."""
_CONFIG_ENV = "TACOGLOW_SERVE_CONFIG"  # settings handed to --workers processes


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare ``tacoglow serve`` and its options."""
    parser = subparsers.add_parser(
        "serve",
        help="HTTP speech server (OpenAI's /v1/audio/speech), with a web page",
        description="Serve speech over HTTP: OpenAI-compatible POST /v1/audio/speech (streamed audio or SSE), "
        "/v1/models, /health, /ready, /metrics and a web page at /. Needs the 'serve' extra.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes, each with its own copy of the models (default 1)"
    )
    parser.add_argument(
        "--tacotron2", type=Path, metavar="FILE", help="Tacotron 2 checkpoint; default: the bundled voice"
    )
    parser.add_argument("--waveglow", type=Path, metavar="FILE", help="WaveGlow checkpoint; default: the bundled one")
    add_voice_option(parser)
    parser.add_argument(
        "--vocoder",
        choices=("waveglow", "griffin-lim"),
        help="vocoder (default: WaveGlow when one is available, else Griffin-Lim)",
    )
    parser.add_argument("--sigma", type=float, default=0.6, help="WaveGlow noise scale (default 0.6)")
    parser.add_argument("--denoise", type=float, default=0.01, help="WaveGlow denoiser strength (default 0.01)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (ONNX Runtime with --onnx), per worker")
    parser.add_argument(
        "--onnx",
        type=Path,
        metavar="DIR",
        help="serve an ONNX export folder ('tacoglow export onnx') on ONNX Runtime instead of PyTorch",
    )
    parser.add_argument(
        "--onnx-precision",
        choices=("fp32", "fp16", "int8"),
        default="fp32",
        help="with --onnx: fp32, fp16 graphs, or int8 decoder weights (default fp32)",
    )
    parser.add_argument("--seed", type=int, help="seed of every random draw (default: random)")
    parser.add_argument(
        "--prenet-dropout",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Tacotron 2's always-on prenet dropout, as trained (default on). Its masks depend on "
        "which requests share a batch: with --seed and --no-prenet-dropout the same request "
        "always gives the same audio",
    )
    parser.add_argument(
        "--no-normalize",
        action="store_false",
        dest="normalize",
        help="read text exactly as NVIDIA's frontend (english_cleaners only, no normalizer)",
    )
    parser.add_argument("--max-batch-size", type=int, default=8, help="text pieces synthesized together (default 8)")
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=25.0,
        help="under concurrent load, longest wait for a batch to grow to the previous one's size, in ms (default 25)",
    )
    parser.add_argument(
        "--max-queue", type=int, default=256, help="text pieces waiting beyond which requests get 503 (default 256)"
    )
    parser.add_argument(
        "--max-input-chars",
        type=int,
        default=4096,
        help="longest input accepted, in characters (default 4096, as OpenAI's)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per-request time limit in seconds (default 300)")
    parser.add_argument("--api-key", help=f"require 'Authorization: Bearer KEY' (or set {API_KEY_ENV})")
    parser.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="allow browser calls from this origin (repeatable; default: CORS off)",
    )
    return parser


def _voice_names(args: argparse.Namespace) -> list[str]:
    """Names requests may give as 'voice': 'default', and the catalogue name of the loaded voice."""
    if args.voice is not None:
        return ["default", args.voice]
    if args.onnx is not None:
        return ["default"]
    return ["default"] if args.tacotron2 is not None else ["default", "bundled"]


def _check_onnx_options(args: argparse.Namespace) -> None:
    """One-line error for PyTorch-only options beside --onnx (before any voice is downloaded)."""
    if args.onnx is not None and (
        args.tacotron2
        or args.waveglow
        or args.voice
        or args.vocoder
        or args.device != "cpu"
        or args.precision != "fp32"
    ):
        raise ConfigError(
            "--onnx runs the models of its folder on the CPU: drop --tacotron2, --waveglow, --voice, "
            "--vocoder, --device and --precision (use --onnx-precision)"
        )


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-able settings a worker process builds its app from."""
    _check_onnx_options(args)
    for name in ("port", "workers", "max_batch_size", "max_queue", "max_input_chars"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')}: expected >= 1, found {getattr(args, name)}")
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None
    return {
        "synthesizer": {
            "tacotron2": str(args.tacotron2) if args.tacotron2 else None,
            "waveglow": str(args.waveglow) if args.waveglow else None,
            "vocoder": args.vocoder,
            "sigma": args.sigma,
            "denoise": args.denoise,
            "device": args.device,
            "precision": args.precision,
            "threads": args.threads,
            "seed": args.seed,
            "prenet_dropout": args.prenet_dropout,
            "normalize": args.normalize,
            "onnx": str(args.onnx) if args.onnx is not None else None,
            "onnx_precision": args.onnx_precision,
        },
        "server": {
            "voices": _voice_names(args),
            "max_input_chars": args.max_input_chars,
            "max_batch_size": args.max_batch_size,
            "max_wait_ms": args.max_wait_ms,
            "max_queue": args.max_queue,
            "request_timeout_s": args.timeout,
            "api_key": api_key,
            "cors_origins": args.cors_origins or [],
        },
    }


def _build_app(config: dict[str, Any]) -> Any:
    import torch

    from tacoglow.inference.settings import check_number
    from tacoglow.inference.synthesizer import Synthesizer
    from tacoglow.serving import ServerSettings, create_app

    options = dict(config["synthesizer"])
    threads = options.pop("threads")
    if threads is not None:
        check_number("threads", threads, 1, integer=True)
    onnx, onnx_precision = options.pop("onnx"), options.pop("onnx_precision")
    if onnx is not None:
        from tacoglow.runtime import OnnxSynthesizer

        # ONNX Runtime has its own thread pool (`threads` per graph); torch does no work here.
        engine = OnnxSynthesizer(
            onnx,
            precision=onnx_precision,
            sigma=options["sigma"],
            denoise=options["denoise"],
            seed=options["seed"],
            prenet_dropout=options["prenet_dropout"],
            normalize=options["normalize"],
            threads=threads,
        )
        return create_app(engine, ServerSettings(**config["server"]))
    threads = threads or torch.get_num_threads()
    # Loaded single-threaded, so that the app's synthesis thread is the only one with an OpenMP
    # pool (see create_app); it then runs with `threads`.
    torch.set_num_threads(1)
    synthesizer = Synthesizer.from_checkpoints(**options)
    torch.set_num_threads(threads)
    return create_app(synthesizer, ServerSettings(**config["server"]))


def app_from_environment() -> Any:
    """App factory of each ``--workers`` process (uvicorn imports it by name)."""
    return _build_app(json.loads(os.environ[_CONFIG_ENV]))


def run(args: argparse.Namespace) -> int:
    """Load the voice, serve until SIGTERM/SIGINT; returns 0 after a graceful shutdown."""
    try:
        import fastapi  # noqa: F401  (checked here for a clear message)
        import uvicorn
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"tacoglow serve needs the 'serve' extra ({exc.name} is missing): pip install 'tacoglow[serve]'"
        ) from None
    _check_onnx_options(args)
    names = _voice_names(args)  # before the voice's files fill in --tacotron2/--waveglow
    resolve_model_sources(args)  # downloads once here, not in every worker
    config = _settings(args)
    config["server"]["voices"] = names
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler found
    # before it started: this one makes that a normal end (exit 0) instead of death by signal.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: logger.info("stopped by SIGTERM"))
    log_level = logging.getLevelName(logging.getLogger().level).lower()
    if args.workers == 1:
        app = _build_app(config)  # load errors surface here as one line, before listening
        uvicorn.run(app, host=args.host, port=args.port, log_level=log_level)
    else:
        _build_app(config)  # check the settings and checkpoints once before starting the workers
        os.environ[_CONFIG_ENV] = json.dumps(config)
        uvicorn.run(
            "tacoglow.cli.serve:app_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=log_level,
        )
    return 0
