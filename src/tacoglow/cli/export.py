"""``tacoglow export onnx``: write a folder of ONNX graphs and a ``voice.json``.

The folder is what the torch-free ONNX Runtime engine runs (``tacoglow synthesize --onnx DIR``);
see ``tacoglow.export.onnx``. Converting a checkpoint's layout moved to ``tacoglow convert``: the
old spellings (``tacoglow export CHECKPOINT -o FILE``, ``tacoglow export --format ...``) stop with
one line that names the new command, so a script that used them fails loudly, not half-converted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, NoReturn

from tacoglow.cli.voices import add_voice_option, resolve_model_sources

logger = logging.getLogger(__name__)

_MOVED = (
    "'tacoglow export' now only writes ONNX ('tacoglow export onnx -o DIR'); "
    "to convert a checkpoint's layout use 'tacoglow convert CHECKPOINT -o FILE [--format nvidia]'"
)


def _moved(message: str) -> NoReturn:
    """``tacoglow export``'s own arguments are only FORMAT: an error at this level is an old spelling."""
    print(f"tacoglow export: error: {_MOVED}", file=sys.stderr)
    raise SystemExit(2)


class _OldFormatOption(argparse.Action):
    """``--format`` of the old command: ``onnx`` became a subcommand, the layouts went to ``convert``."""

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        _moved("--format")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export the models for another runtime (ONNX)",
        description="Export a Tacotron 2 (and WaveGlow) for another runtime. 'onnx' writes a folder of ONNX "
        "graphs (Tacotron 2 encoder, decoder step, postnet; WaveGlow; denoiser) and voice.json for "
        "'tacoglow synthesize --onnx DIR'. Checkpoint layouts: 'tacoglow convert'.",
    )
    parser.add_argument("--format", action=_OldFormatOption, help=argparse.SUPPRESS)
    parser.error = _moved  # type: ignore[method-assign]  # argparse's own message here would not name 'convert'
    formats = parser.add_subparsers(dest="export_format", metavar="FORMAT")
    formats.required = True
    onnx = formats.add_parser(
        "onnx",
        help="ONNX graphs and voice.json for the ONNX Runtime engine",
        description="Write a folder of ONNX graphs (fp32, plus fp16 graphs and an int8 decoder step unless "
        "--no-variants) and voice.json, for 'tacoglow synthesize --onnx DIR'.",
    )
    onnx.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    onnx.add_argument("--tacotron2", metavar="FILE", help="Tacotron 2 checkpoint (default: the bundled voice)")
    onnx.add_argument(
        "--waveglow",
        metavar="FILE",
        help="WaveGlow checkpoint (default: the bundled voice's or --voice's; none: Griffin-Lim)",
    )
    add_voice_option(onnx)
    onnx.add_argument(
        "--no-variants", action="store_true", help="only the fp32 graphs (no fp16 graphs, no int8 decoder step)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from tacoglow.errors import ConfigError
    from tacoglow.export.onnx import export_onnx
    from tacoglow.inference.synthesizer import bundled_voice_paths

    given_tacotron2 = args.tacotron2 is not None or args.voice is not None
    resolve_model_sources(args)
    tacotron2, waveglow = args.tacotron2, args.waveglow
    if not given_tacotron2:
        bundled_tacotron2, bundled_waveglow = bundled_voice_paths()
        if bundled_tacotron2 is None:
            raise ConfigError("no bundled voice in this installation: pass --tacotron2 FILE or --voice NAME")
        tacotron2, waveglow = bundled_tacotron2, waveglow or bundled_waveglow
    export_onnx(args.output, tacotron2, waveglow, variants=not args.no_variants)
    return 0
