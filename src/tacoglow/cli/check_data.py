"""``tacoglow check-data``: find the items of a dataset that would break or spoil training.

Reports missing or corrupt files, wrong sample rates, empty or unspeakable transcripts, silent
or clipped audio and out-of-range durations: a count per problem plus the first examples.
Exit code 0 when the dataset is clean, 1 when problems were found (2 on bad arguments).
``--write-filelist`` saves the clean items as an NVIDIA filelist, ready for training.

Example::

    tacoglow check-data LJSpeech-1.1
    tacoglow check-data filelists/ljs_audio_text_train_filelist.txt --dataset-path /data --jobs 8
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "check-data",
        help="check a dataset's audio and transcripts before training",
        description="Check every utterance of a dataset; exit 1 if any has a problem.",
    )
    parser.add_argument("data", help="LJ Speech folder, metadata.csv, or an NVIDIA (mel) filelist")
    parser.add_argument("--dataset-path", metavar="DIR", help="folder filelist paths are relative to")
    parser.add_argument("--config", metavar="FILE", help="training config whose mel and data settings apply")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set mel.sampling_rate=16000",
    )
    parser.add_argument("--resample", action="store_true", help="audio at another sample rate is fine (resampled)")
    parser.add_argument("--min-duration-s", type=float, default=0.2, help="shorter is a problem (default: 0.2)")
    parser.add_argument("--max-duration-s", type=float, default=20.0, help="longer is a problem (default: 20)")
    parser.add_argument("--jobs", "-j", type=int, default=4, help="files read at once (default: 4)")
    parser.add_argument(
        "--write-filelist", metavar="FILE", help="write the utterances without problems as a 'path|text' filelist"
    )
    return parser


def write_filelist(path: str, utterances: list, root: str | None) -> None:
    """Write ``utterances`` as ``path|text`` lines atomically; paths relative to ``root`` when possible."""
    import os
    from pathlib import Path

    from tacoglow.errors import DataError
    from tacoglow.fileio import write_text

    out = Path(path)
    base = Path(root) if root else out.parent
    rows = []
    for utt in utterances:
        file = Path(utt.audio_path if utt.audio_path is not None else utt.mel_path)
        try:
            shown = os.path.relpath(file.resolve(), base.resolve())
        except ValueError:  # another drive (Windows)
            shown = str(file.resolve())
        rows.append(f"{Path(shown).as_posix()}|{' '.join(utt.text.split())}\n")
    write_text(out, "".join(rows), error=DataError)


def run(args: argparse.Namespace) -> int:
    import logging

    from tacoglow.data import check_dataset, filter_utterances, read_dataset
    from tacoglow.training.config import load_config

    config = load_config(args.config, overrides=args.overrides)
    utterances = read_dataset(args.data, args.dataset_path)
    report = check_dataset(
        utterances,
        config.mel,
        resample=args.resample or config.data.resample,
        text_frontend=config.data.text_frontend,
        min_duration_s=args.min_duration_s,
        max_duration_s=args.max_duration_s,
        jobs=args.jobs,
        progress=logging.getLogger().isEnabledFor(logging.INFO),
    )
    print(report.summary())
    if args.write_filelist:
        kept = filter_utterances(utterances, report, on_error="skip")
        write_filelist(args.write_filelist, kept, args.dataset_path)
        print(f"{args.write_filelist}: {len(kept)} utterances without problems")
    return 0 if report.ok else 1
