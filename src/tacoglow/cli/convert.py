"""``tacoglow convert``: rewrite a checkpoint between NVIDIA's layout and tacoglow's.

'nvidia' files load with NVIDIA's inference.py and torch.hub code; 'tacoglow' files carry the
config, symbols, text frontend and mel contract, so they rebuild their model alone. ONNX is
``tacoglow export onnx`` (``tacoglow.cli.export``).
"""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "convert",
        help="convert a checkpoint (NVIDIA layout <-> tacoglow layout)",
        description="Rewrite a Tacotron 2 or WaveGlow checkpoint in another layout. 'nvidia' files load with "
        "NVIDIA's inference.py and torch.hub code; 'tacoglow' files carry the config, symbols and "
        "mel contract, so they rebuild their model alone.",
    )
    parser.add_argument("checkpoint", help="input checkpoint (any supported layout)")
    parser.add_argument("-o", "--output", required=True, help="output file")
    parser.add_argument(
        "--format", choices=("tacoglow", "nvidia"), default="tacoglow", help="layout to write (default: tacoglow)"
    )
    parser.add_argument(
        "--half",
        action="store_true",
        help="tacoglow layout only: store weights as float16 (half the size; loaded as float32)",
    )
    parser.add_argument(
        "--remove-weight-norm",
        action="store_true",
        help="WaveGlow, tacoglow layout only: store fused weights (what inference runs)",
    )
    parser.add_argument(
        "--phone-repeats",
        type=int,
        metavar="N",
        help="Tacotron 2, tacoglow layout: read every phone N times (the speaking rate the file "
        "synthesizes at; only for voices trained with repeated phones)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    import torch

    from tacoglow.checkpoints import export_nvidia, load_model, save_checkpoint
    from tacoglow.errors import ConfigError
    from tacoglow.models.waveglow import WaveGlow

    weight_norm_rule = "--remove-weight-norm: only for a WaveGlow written in the tacoglow layout"
    if args.format != "tacoglow":
        if args.half:
            raise ConfigError("--half: only for the tacoglow layout")
        if args.remove_weight_norm:
            raise ConfigError(weight_norm_rule)  # NVIDIA's layout stores weight_g / weight_v
    loaded = load_model(args.checkpoint)
    if args.remove_weight_norm and loaded.kind != "waveglow":
        raise ConfigError(f"{weight_norm_rule} (this is a Tacotron 2)")
    model = loaded.model
    text_frontend = loaded.text_frontend
    if args.phone_repeats is not None:
        if args.format != "tacoglow" or text_frontend is None:
            raise ConfigError("--phone-repeats: only for a Tacotron 2 written in the tacoglow layout")
        text_frontend = text_frontend.with_phone_repeats(args.phone_repeats)
    if args.format == "nvidia":
        if loaded.text_frontend is not None and loaded.text_frontend.arpabet:
            logger.warning(
                "%s reads CMUdict phones; NVIDIA's code feeds it letters unless the text is given as {ARPABET} groups",
                args.checkpoint,
            )
        if loaded.text_frontend is not None and loaded.text_frontend.phone_repeats > 1:
            logger.warning(
                "%s reads every phone %d times in a row; NVIDIA's code does not repeat them, so "
                "write each phone that many times in the {ARPABET} groups",
                args.checkpoint,
                loaded.text_frontend.phone_repeats,
            )
        export_nvidia(args.output, model)
    else:
        if args.remove_weight_norm:
            assert isinstance(model, WaveGlow)  # checked above: the kind is "waveglow"
            model.remove_weight_norm()
        save_checkpoint(
            args.output,
            model,
            mel_config=loaded.mel_config,
            symbols=loaded.symbols,
            text_frontend=text_frontend,
            weights_dtype=torch.float16 if args.half else None,
        )
    logger.info("wrote %s (%s, %s layout)", args.output, loaded.kind, args.format)
    return 0
