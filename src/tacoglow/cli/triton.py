"""``tacoglow triton``: serve an ONNX export folder with Triton Inference Server (PyTriton).

See :mod:`tacoglow.runtime.triton` for the model's signature. Torch is not imported.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "triton",
        help="serve an ONNX export with Triton Inference Server (needs nvidia-pytriton)",
        description="Bind the ONNX Runtime engine to Triton as model 'tacoglow' (inputs text BYTES, optional "
        "seed INT64 and sigma FP32; outputs audio FP32 and audio_length INT64), with dynamic "
        "batching, HTTP, gRPC and metrics.",
    )
    parser.add_argument(
        "--onnx", type=Path, required=True, metavar="DIR", help="folder written by 'tacoglow export onnx'"
    )
    parser.add_argument("--onnx-precision", choices=("fp32", "fp16", "int8"), default="fp32")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--max-batch-size", type=int, default=8, help="Triton's dynamic batching limit")
    parser.add_argument("--sigma", type=float, default=0.6, help="default WaveGlow noise scale")
    parser.add_argument("--denoise", type=float, default=0.01)
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads per graph")
    return parser


def run(args: argparse.Namespace) -> int:
    from tacoglow.runtime import OnnxSynthesizer
    from tacoglow.runtime.triton import serve_triton

    synth = OnnxSynthesizer(
        args.onnx,
        precision=args.onnx_precision,
        sigma=args.sigma,
        denoise=args.denoise,
        batch_size=args.max_batch_size,
        threads=args.threads,
    )
    serve_triton(
        synth,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        max_batch_size=args.max_batch_size,
    )
    return 0
