"""The ``tacoglow`` command: argument parsing over the Python API.

Each subcommand lives in its own module of this package with two functions:
``add_parser(subparsers) -> argparse.ArgumentParser`` (declares its options, cheap to import)
and ``run(args) -> int`` (imports the heavy parts, calls the API, reports). ``main`` turns a
:class:`~tacoglow.errors.TacoglowError` into its one-line message on stderr and exit code 2,
so a user never sees a traceback for bad input.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
from collections.abc import Sequence

from tacoglow import __version__
from tacoglow.errors import TacoglowError

# Subcommand name -> module in this package. A module missing here is simply not offered.
COMMANDS = {
    "synthesize": "synthesize",
    "normalize": "normalize",
    "bench": "bench",
    "corpus": "corpus",
    "check-data": "check_data",
    "preprocess": "preprocess",
    "train": "train",
    "evaluate": "evaluate",
    "convert": "convert",
    "export": "export",
    "triton": "triton",
    "info": "info",
    "voices": "voices",
    "serve": "serve",
}

logger = logging.getLogger("tacoglow")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tacoglow", description="Tacotron 2 + WaveGlow text-to-speech.")
    parser.add_argument("--version", action="version", version=f"tacoglow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(f"tacoglow.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tacoglow.cli.{module_name}":
                continue
            raise
        command = module.add_parser(sub)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tacoglow`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr, force=True)
    try:
        return int(args._run(args) or 0)
    except TacoglowError as exc:
        print(f"tacoglow {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tacoglow {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # Writers that are not atomic (logs) meet a full disk too: one line, as tacoglow.fileio gives.
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(
            f"tacoglow {args.command}: error: no space left on device: {exc.filename or 'while writing'}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
