"""``tacoglow preprocess``: mel spectrograms to disk, for Tacotron 2 training from a mel filelist.

Writes ``<output>/mels/<id>.pt``, the mel filelist ``<output>/mels.txt`` and the mel contract
``<output>/mel_config.json``; idempotent and resumable (mels already there are kept). Train on
the result with ``tacoglow train tacotron2 --data <output>/mels.txt``. The mel settings come
from the training config (``--config``, ``--set mel.*``), so both always agree.

Example::

    tacoglow preprocess LJSpeech-1.1 --output ljs_mels --jobs 8
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "preprocess",
        help="compute mel spectrograms to disk and write a mel filelist",
        description="Compute the mel of every utterance in parallel and save it, "
        "with a mel filelist and the mel contract.",
    )
    parser.add_argument("data", help="LJ Speech folder, metadata.csv, or an NVIDIA filelist of wavs")
    parser.add_argument(
        "--output", "-o", required=True, metavar="DIR", help="folder for mels/, mels.txt, mel_config.json"
    )
    parser.add_argument("--dataset-path", metavar="DIR", help="folder filelist paths are relative to")
    parser.add_argument("--config", metavar="FILE", help="training config whose mel section (and data.cleaners) apply")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set mel.mel_fmax=7000",
    )
    parser.add_argument("--resample", action="store_true", help="resample audio at another sample rate")
    parser.add_argument(
        "--check", action=argparse.BooleanOptionalAction, default=True, help="check the data first (default: on)"
    )
    parser.add_argument(
        "--on-bad-items",
        choices=("skip", "stop"),
        default="skip",
        help="after the check, skip bad items or stop (default: skip)",
    )
    parser.add_argument("--jobs", "-j", type=int, default=2, help="files processed at once (default: 2)")
    return parser


def run(args: argparse.Namespace) -> int:
    import logging

    from tacoglow.data import check_dataset, filter_utterances, preprocess, read_dataset
    from tacoglow.training.config import load_config

    config = load_config(args.config, overrides=args.overrides)
    resample = args.resample or config.data.resample
    progress = logging.getLogger().isEnabledFor(logging.INFO)
    utterances = read_dataset(args.data, args.dataset_path)
    if args.check:
        report = check_dataset(
            utterances,
            config.mel,
            resample=resample,
            text_frontend=config.data.text_frontend,
            jobs=args.jobs,
            progress=progress,
        )
        utterances = filter_utterances(utterances, report, on_error=args.on_bad_items)
    filelist = preprocess(utterances, args.output, config.mel, jobs=args.jobs, resample=resample, progress=progress)
    print(filelist)
    return 0
