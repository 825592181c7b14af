"""``tacoglow info CHECKPOINT``: what a checkpoint file holds (kind, layout, sizes, mel contract).

``tacoglow info --system``: the machine as speed depends on it (CPU, native bf16, torch's kernels).
"""

from __future__ import annotations

import argparse
import dataclasses
import json


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info",
        help="describe a Tacotron 2 / WaveGlow checkpoint, or this machine",
        description="Describe a checkpoint: kind, layout, hyper-parameters, mel contract; "
        "or, with --system, this machine: CPU, native bf16, torch.",
    )
    parser.add_argument("checkpoint", nargs="?", help="tacoglow or NVIDIA checkpoint file")
    parser.add_argument(
        "--system",
        action="store_true",
        help="describe this machine (CPU model, native bf16, torch version and kernels)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def describe(path: str) -> dict:
    """A JSON-able description of the checkpoint at ``path``."""
    from tacoglow.checkpoints import load_model

    loaded = load_model(path)
    state = loaded.model.state_dict()
    return {
        "file": path,
        "kind": loaded.kind,
        "layout": loaded.source_format,
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "state_dict_entries": len(state),
        "weight_norm": any(k.endswith("weight_g") for k in state),
        "config": dataclasses.asdict(loaded.config),
        "mel_config": loaded.mel_config.to_dict(),
        "text_frontend": loaded.text_frontend.to_dict() if loaded.text_frontend is not None else None,
        "step": loaded.checkpoint.get("step"),
        "epoch": loaded.checkpoint.get("epoch"),
    }


def run(args: argparse.Namespace) -> int:
    from tacoglow.errors import ConfigError

    if args.system == (args.checkpoint is not None):
        raise ConfigError("expected a checkpoint file or --system (one of the two)")
    if args.system:
        from tacoglow.system import system_info

        machine = system_info()
        print(
            json.dumps(machine, indent=2)
            if args.json
            else "\n".join(f"{key}: {value}" for key, value in machine.items())
        )
        return 0
    info = describe(args.checkpoint)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"{info['file']}: {info['kind']} ({info['layout']} layout), {info['parameters']:,} parameters, "
        f"{info['state_dict_entries']} state_dict entries" + (", weight norm" if info["weight_norm"] else "")
    )
    for group in ("config", "mel_config", "text_frontend"):
        if info[group] is None:
            continue
        print(f"{group}:")
        for key, value in info[group].items():
            print(f"  {key} = {value}")
    for key in ("step", "epoch"):
        if info[key] is not None:
            print(f"{key}: {info[key]}")
    return 0
