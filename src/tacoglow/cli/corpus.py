"""``tacoglow corpus``: render sentences with espeak-ng into an LJ Speech-layout dataset.

Example (a 1,000-utterance corpus from NVIDIA's LJ Speech training transcripts)::

    tacoglow corpus ljs_audio_text_train_filelist.txt --output espeak_corpus --max-sentences 1000 --jobs 4

The folder gets ``metadata.csv``, ``wavs/`` and ``corpus.json``; a re-run reuses the wavs already
rendered for the same text. ``--synthetic`` writes tones instead of speech (no espeak-ng needed).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "corpus",
        help="render sentences with espeak-ng into an LJ Speech-style dataset",
        description="Render sentences with espeak-ng into an LJ Speech-layout dataset "
        "(metadata.csv + wavs/), deterministic and resumable.",
    )
    parser.add_argument("sentences", help="NVIDIA filelist, LJ Speech metadata.csv, or text with one sentence per line")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="dataset folder to write")
    parser.add_argument("--voice", default="en-us", help="espeak-ng voice (default: en-us)")
    parser.add_argument("--rate-wpm", type=int, default=175, help="speaking rate, words per minute (default: 175)")
    parser.add_argument("--max-sentences", type=int, metavar="N", help="keep at most N utterances (seeded subset)")
    parser.add_argument("--min-chars", type=int, default=15, help="shortest utterance in characters (default: 15)")
    parser.add_argument("--max-chars", type=int, default=70, help="longest utterance in characters (default: 70)")
    parser.add_argument(
        "--split",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="cut long sentences into clauses at punctuation (default: on)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the --max-sentences subset (default: 0)")
    parser.add_argument("--sample-rate", type=int, default=22050, help="sample rate of the wavs (default: 22050)")
    parser.add_argument("--jobs", "-j", type=int, default=2, help="renderers run at once (default: 2)")
    parser.add_argument(
        "--synthetic", action="store_true", help="tones and noise bursts instead of espeak-ng speech (for smoke tests)"
    )
    parser.add_argument(
        "--char-ms", type=float, default=60.0, help="with --synthetic: milliseconds per letter (default: 60)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    import logging

    from tacoglow.data import make_corpus, make_synthetic_corpus

    common = dict(
        max_sentences=args.max_sentences,
        max_chars=args.max_chars,
        min_chars=args.min_chars,
        split_at_punctuation=args.split,
        seed=args.seed,
        sample_rate=args.sample_rate,
        jobs=args.jobs,
        progress=logging.getLogger().isEnabledFor(logging.INFO),
    )
    if args.synthetic:
        summary = make_synthetic_corpus(args.output, args.sentences, char_ms=args.char_ms, **common)
    else:
        summary = make_corpus(args.output, args.sentences, voice=args.voice, rate_wpm=args.rate_wpm, **common)
    print(
        f"{summary.metadata_path}: {summary.n_utterances} utterances, {summary.total_seconds / 60:.1f} min "
        f"({summary.n_rendered} rendered, {summary.n_reused} reused, {summary.n_dropped} dropped)"
    )
    return 0
