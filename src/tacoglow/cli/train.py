"""``tacoglow train tacotron2|waveglow``: train a model from a config file plus overrides.

Examples::

    tacoglow train tacotron2 --config configs/tacotron2_ljspeech.yaml --data LJSpeech-1.1 --output runs/t2
    tacoglow train waveglow --config configs/waveglow_ljspeech.yaml \\
        --train-filelist filelists/ljs_audio_text_train_filelist.txt \\
        --val-filelist filelists/ljs_audio_text_val_filelist.txt --dataset-path /data --output runs/wg --amp fp16
    torchrun --nproc_per_node 8 -m tacoglow train tacotron2 --config ... --output runs/t2 --resume auto

The shorthand options (``--data``, ``--amp``, ``--epochs`` ...) are ``--set`` overrides with
names of their own; they apply after the config file and before the ``--set`` items.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train Tacotron 2 or WaveGlow (single process, or under torchrun)",
        description="Train Tacotron 2 or WaveGlow with NVIDIA's recipe; resumable; data-parallel under torchrun.",
    )
    parser.add_argument("model", choices=("tacotron2", "waveglow"), help="the model to train")
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON training config (default: the reference recipe)")
    data = parser.add_mutually_exclusive_group()
    data.add_argument(
        "--data", metavar="PATH", help="training set: LJ Speech folder, metadata.csv, or a (mel) filelist (data.train)"
    )
    data.add_argument("--train-filelist", metavar="FILE", help="NVIDIA filelist of the training set (data.train)")
    parser.add_argument("--val-filelist", metavar="FILE", help="validation filelist or metadata.csv (data.validation)")
    parser.add_argument(
        "--dataset-path", metavar="DIR", help="folder filelist paths are relative to (data.dataset_root)"
    )
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="folder for checkpoints and logs")
    parser.add_argument(
        "--resume",
        metavar="PATH|auto",
        help="continue from a checkpoint, or 'auto': the output folder's last one if any",
    )
    parser.add_argument(
        "--warm-start", metavar="FILE", help="start from the matching weights of an NVIDIA or tacoglow checkpoint"
    )
    parser.add_argument(
        "--ignore-layers",
        nargs="+",
        default=[],
        metavar="KEY",
        help="state_dict keys, prefixes or globs the warm start leaves freshly initialized "
        "(e.g. embedding.weight for a new symbol set)",
    )
    parser.add_argument("--amp", choices=("fp16", "bf16", "off"), help="mixed precision (amp)")
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs to train (epochs)")
    parser.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimizer steps in total (max_steps)")
    parser.add_argument("--batch-size", "-bs", type=int, metavar="N", help="batch size per process (batch_size)")
    parser.add_argument("--seed", type=int, help="random seed (seed)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="device (device)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set optim.learning_rate=5e-4 (repeatable)",
    )
    return parser


def _overrides(args: argparse.Namespace) -> list[str]:
    """The shorthand options as ``--set`` items, then the explicit ``--set`` items."""
    import json

    named = {
        "data.train": args.data or args.train_filelist,
        "data.validation": args.val_filelist,
        "data.dataset_root": args.dataset_path,
        "amp": args.amp,
        "epochs": args.epochs,
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "device": args.device,
    }
    # Paths are JSON-quoted so that a value such as "on" or "1e3" stays a string under YAML.
    items = [f"{key}={json.dumps(value)}" for key, value in named.items() if value is not None]
    return items + list(args.overrides)


def run(args: argparse.Namespace) -> int:
    import os

    from tacoglow.errors import ConfigError
    from tacoglow.training.config import load_config
    from tacoglow.training.loop import train

    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ConfigError(f"--output {args.output}: expected a folder for checkpoints and logs, found a file")
    config = load_config(args.config, model=args.model, overrides=_overrides(args))
    result = train(
        config, args.output, resume=args.resume, warm_start_from=args.warm_start, ignore_layers=args.ignore_layers
    )
    if result.last_checkpoint is not None and _is_main():
        print(result.last_checkpoint)
    return 0


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
