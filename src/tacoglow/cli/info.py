"""``tacoglow info CHECKPOINT``: what a checkpoint file holds (kind, layout, sizes, mel contract)."""
from __future__ import annotations

import argparse
import dataclasses
import json


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("info", help="describe a Tacotron 2 / WaveGlow checkpoint",
                                   description="Describe a checkpoint: kind, layout, hyper-parameters, mel contract.")
    parser.add_argument("checkpoint", help="tacoglow or NVIDIA checkpoint file")
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
        "config": dataclasses.asdict(loaded.model.config),
        "mel_config": loaded.mel_config.to_dict(),
        "text_frontend": loaded.text_frontend.to_dict() if loaded.text_frontend is not None else None,
        "step": loaded.checkpoint.get("step"),
        "epoch": loaded.checkpoint.get("epoch"),
    }


def run(args: argparse.Namespace) -> int:
    info = describe(args.checkpoint)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['file']}: {info['kind']} ({info['layout']} layout), {info['parameters']:,} parameters, "
          f"{info['state_dict_entries']} state_dict entries" + (", weight norm" if info["weight_norm"] else ""))
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
