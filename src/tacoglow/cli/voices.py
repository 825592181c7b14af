"""``tacoglow voices``: the voice catalogue, and ``--voice NAME`` for the commands that synthesize.

``tacoglow voices`` lists every voice, its language, download size, licence and whether this
machine has it; ``tacoglow voices download NAME`` fetches a voice ahead of time (the same download
``--voice NAME`` makes on first use). Commands that take checkpoints call
:func:`add_voice_option` when declaring their options and :func:`resolve_model_sources` at the
start of their ``run``: explicit ``--tacotron2``/``--waveglow`` win over the voice's files.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_voice_option(parser: argparse.ArgumentParser) -> None:
    """Declare ``--voice NAME`` on a command that also has ``--tacotron2``/``--waveglow``."""
    parser.add_argument(
        "--voice",
        metavar="NAME",
        help="a voice of the catalogue (tacoglow voices), e.g. nvidia-ljspeech for NVIDIA's "
        "published models, downloaded on first use; --tacotron2/--waveglow override its files",
    )


def resolve_model_sources(args: argparse.Namespace) -> None:
    """Fill ``args.tacotron2``/``args.waveglow`` from ``args.voice`` where they were not given.

    The WaveGlow is not fetched when ``args.vocoder`` is ``griffin-lim``. Downloads show a
    progress bar unless ``--quiet``.

    Raises:
        ConfigError: unknown voice.
        tacoglow.download.DownloadError: a file could not be downloaded or failed verification.
    """
    if getattr(args, "voice", None) is None:
        return
    from tacoglow.voice_catalog import resolve_voice

    need_waveglow = args.waveglow is None and getattr(args, "vocoder", None) != "griffin-lim"
    tacotron2, waveglow = resolve_voice(
        args.voice, tacotron2=args.tacotron2 is None, waveglow=need_waveglow, progress=not getattr(args, "quiet", False)
    )
    if args.tacotron2 is None:
        args.tacotron2 = tacotron2
    if args.waveglow is None:
        args.waveglow = waveglow


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare ``tacoglow voices`` (list) and ``tacoglow voices download NAME``."""
    parser = subparsers.add_parser(
        "voices",
        help="list the voices (and which are downloaded), or download one",
        description="List the voice catalogue and which voices this machine already has, or download a voice "
        "ahead of time. Downloads go to $TACOGLOW_CACHE (default: the user cache folder); a file "
        "copied by hand to <cache>/<voice>/<file name> is used without any network.",
    )
    actions = parser.add_subparsers(dest="voices_action", metavar="ACTION")
    actions.add_parser("list", help="list the voices (the default)")
    download = actions.add_parser("download", help="download a voice now")
    download.add_argument("name", metavar="NAME", help="the voice (see tacoglow voices)")
    return parser


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows)


def run(args: argparse.Namespace) -> int:
    """List the catalogue, or download one voice; returns the exit code."""
    from tacoglow.download import cache_dir
    from tacoglow.voice_catalog import VOICES, get_voice, resolve_voice, voice_status

    if args.voices_action == "download":
        voice = get_voice(args.name)
        tacotron2, waveglow = resolve_voice(voice.name, progress=not getattr(args, "quiet", False))
        for path in (tacotron2, waveglow):
            if path is not None:
                print(path)
        return 0
    rows = [["NAME", "LANGUAGE", "DOWNLOAD", "STATUS", "DESCRIPTION"]]
    for voice in VOICES.values():
        size = "-" if voice.download_mb is None else f"~{voice.download_mb} MB"
        rows.append([voice.name, voice.language, size, voice_status(voice), voice.description])
    print(_table(rows))
    print("\nlicences:")
    for voice in VOICES.values():
        print(f"  {voice.name}: {voice.licence}")
    print(f"\ncache: {cache_dir()}")
    return 0
