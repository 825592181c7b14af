"""``tacoglow evaluate``: WER, attention failures, MCD and RTF of a voice on a sentence list.

Examples::

    tacoglow evaluate --sentences filelists/ljs_audio_text_val_filelist.txt --asr whisper --teacher espeak-ng
    tacoglow evaluate --sentences sentences.txt --asr whisper --seeds 3     # pooled over 3 renditions
    tacoglow evaluate --tacotron2 t2.pt --waveglow wg.pt --sentences sentences.txt --limit 20 \\
        --reference-audio LJSpeech-1.1/wavs --json eval.json
    tacoglow evaluate --onnx voice_onnx --onnx-precision int8 --sentences sentences.txt --asr whisper

Sentences come from a text file (one per line), an NVIDIA filelist or an LJ Speech
``metadata.csv``. The table goes to stdout, progress and warnings to stderr; ``--json`` writes
the full report atomically.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from tacoglow.cli.voices import add_voice_option, resolve_model_sources
from tacoglow.errors import ConfigError, DataError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare ``tacoglow evaluate`` and its options."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure a voice: ASR word error rate, attention failures, MCD, RTF",
        description="Synthesize a sentence list and report ASR word error rate (optionally beside espeak-ng's "
        "own audio), the share of attention failures, mel-cepstral distance to reference "
        "recordings and the real-time factor.",
    )
    parser.add_argument(
        "--tacotron2",
        type=Path,
        metavar="FILE",
        help="Tacotron 2 checkpoint (NVIDIA's or tacoglow's); default: the bundled voice",
    )
    parser.add_argument(
        "--waveglow",
        type=Path,
        metavar="FILE",
        help="WaveGlow checkpoint to go with --tacotron2 (without it: Griffin-Lim)",
    )
    add_voice_option(parser)
    parser.add_argument(
        "--vocoder",
        choices=("waveglow", "griffin-lim"),
        help="vocoder (default: WaveGlow when one is available, else Griffin-Lim)",
    )
    parser.add_argument(
        "--onnx",
        type=Path,
        metavar="DIR",
        help="evaluate an ONNX export folder ('tacoglow export onnx') on ONNX Runtime instead of PyTorch",
    )
    parser.add_argument(
        "--onnx-precision",
        choices=("fp32", "fp16", "int8"),
        default="fp32",
        help="with --onnx: fp32, fp16 graphs, or int8 decoder weights (default fp32)",
    )
    parser.add_argument(
        "--sentences",
        type=Path,
        required=True,
        metavar="FILE",
        help="text file (one sentence per line), NVIDIA filelist, or LJ Speech metadata.csv",
    )
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N sentences")
    parser.add_argument(
        "--asr",
        choices=("pocketsphinx", "whisper", "none"),
        default="pocketsphinx",
        help="offline ASR engine for the word error rate (default pocketsphinx; 'none' skips WER)",
    )
    parser.add_argument(
        "--whisper-model",
        metavar="NAME|DIR",
        help="Whisper model for --asr whisper: a faster-whisper model name, fetched into its cache "
        "on first use (default tiny.en), or a local CTranslate2 model directory",
    )
    parser.add_argument(
        "--teacher",
        choices=("espeak-ng",),
        help="also transcribe espeak-ng's audio of each sentence: the WER ceiling of a voice "
        "trained on espeak-ng speech",
    )
    parser.add_argument(
        "--reference-audio",
        type=Path,
        metavar="DIR",
        help="folder of recordings, <id>.wav or numbered from 1 (001.wav): adds mel-cepstral distance",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthesis randomness (default 0)")
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="synthesize every sentence with N seeds (--seed and the ones after it) and pool "
        "them: each seed is another rendition, so one seed's WER moves by several points "
        "(default 1)",
    )
    parser.add_argument(
        "--phone-repeats",
        type=int,
        metavar="N",
        help="read every phone N times (speaking rate of a voice trained with repeated phones; "
        "default: the checkpoint's)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the full report as JSON")
    return parser


def _check_json_target(path: Path) -> None:
    """Fail before hours of synthesis, not after, when the report cannot be written."""
    folder = path.parent
    if path.is_dir():
        raise ConfigError(f"--json {path}: expected a file name, found a folder")
    if not folder.is_dir():
        raise ConfigError(f"--json {path}: cannot write there: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"--json {path}: cannot write there: folder {folder} is not writable")


def run(args: argparse.Namespace) -> int:
    from tacoglow.data import read_sentences
    from tacoglow.evaluation import evaluate

    if not getattr(args, "verbose", False):
        # faster-whisper logs a line per transcribed clip at INFO: noise between our own lines.
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    if args.waveglow is not None and args.tacotron2 is None and args.voice is None:
        raise ConfigError("--waveglow needs --tacotron2 (without both, the bundled voice is evaluated)")
    if args.onnx is not None and (args.tacotron2 or args.waveglow or args.voice or args.vocoder):
        raise ConfigError(
            "--onnx evaluates the models of its folder: drop --tacotron2, --waveglow, --voice and --vocoder"
        )
    if args.seeds < 1:
        raise ConfigError(f"--seeds: expected a number of seeds >= 1, found {args.seeds}")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit: expected a number of sentences >= 1, found {args.limit}")
    if args.json is not None:
        _check_json_target(args.json)
    sentences = read_sentences(args.sentences)
    if not sentences:
        raise DataError(f"{args.sentences}: no sentences (expected one per line, a filelist or metadata.csv)")
    resolve_model_sources(args)  # after the cheap checks: this may download
    if args.limit is not None:
        sentences = sentences[: args.limit]
    voice = (args.tacotron2, args.waveglow) if args.tacotron2 is not None else None
    report = evaluate(
        voice,
        sentences,
        asr=None if args.asr == "none" else args.asr,
        whisper_model=args.whisper_model,
        reference_audio_dir=args.reference_audio,
        teacher=args.teacher,
        vocoder=args.vocoder,
        seed=args.seed,
        seeds=args.seeds,
        phone_repeats=args.phone_repeats,
        progress=not getattr(args, "quiet", False),
        onnx=args.onnx,
        onnx_precision=args.onnx_precision,
    )
    print(report.table())
    if args.json is not None:
        report.save_json(args.json)
    return 0
