"""``tacoglow synthesize``: text (argument, ``-i FILE`` or stdin) to WAV files.

One utterance per input line (as NVIDIA's ``inference.py -i``); ``-o`` names a WAV file for a
single utterance or a folder, which receives ``001.wav``, ``002.wav``, ... in input order.
Everything that can be checked is checked before synthesis starts (input, output folder,
checkpoints, the Tacotron 2 / WaveGlow pairing, matplotlib for ``--plot``), every file is
written atomically, and errors end the command with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tacoglow.cli.voices import add_voice_option, resolve_model_sources
from tacoglow.errors import AudioError, ConfigError, DataError, TextError
from tacoglow.fileio import atomic_write, is_stream_target

if TYPE_CHECKING:
    from tacoglow.inference.synthesizer import Utterance

logger = logging.getLogger("tacoglow.cli.synthesize")

# Texts synthesized per call: several Tacotron 2 batches, few enough to write files as we go.
_CHUNK_BATCHES = 4
# Kept here (not imported from tacoglow.inference) so that `tacoglow --help` does not load torch;
# tests check that it equals tacoglow.inference.DEFAULT_MAX_TEXT_CHARS.
DEFAULT_MAX_TEXT_CHARS = 100_000


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare ``tacoglow synthesize`` and its options."""
    parser = subparsers.add_parser(
        "synthesize",
        help="text to speech (WAV files)",
        description="Synthesize speech with a Tacotron 2 and a WaveGlow (or Griffin-Lim). Input: TEXT, "
        "-i FILE (one utterance per line) or stdin (one utterance per line).",
    )
    parser.add_argument("text", nargs="?", metavar="TEXT", help="text to say ('-' reads stdin)")
    parser.add_argument("-i", "--input", type=Path, metavar="FILE", help="text file, one utterance per line")
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="WAV file (one utterance) or folder (numbered files 001.wav, ... in input order); "
        "a trailing slash or an existing folder means a folder; '-' writes the WAV to stdout "
        "(required unless --dry-run)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what the voice would say, one line per utterance (as tacoglow normalize; "
        "for a phone voice also its phones, after a tab), and synthesize nothing",
    )
    parser.add_argument(
        "--no-normalize",
        action="store_false",
        dest="normalize",
        help="read text exactly as NVIDIA's frontend (english_cleaners only, no normalizer)",
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
        help="WaveGlow checkpoint (NVIDIA's or tacoglow's); default: the bundled one",
    )
    add_voice_option(parser)
    parser.add_argument(
        "--vocoder",
        choices=("waveglow", "griffin-lim"),
        help="vocoder (default: WaveGlow when one is available, else Griffin-Lim)",
    )
    parser.add_argument("--sigma", type=float, default=0.6, help="WaveGlow noise scale (default 0.6)")
    parser.add_argument(
        "--denoise", type=float, default=0.01, help="WaveGlow denoiser strength, 0 turns it off (default 0.01)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument(
        "--precision",
        choices=("fp32", "fp16", "bf16"),
        default="fp32",
        help="fp32, bf16 (CPU or GPU) or fp16 (GPU) (default fp32)",
    )
    parser.add_argument("--seed", type=int, help="seed for reproducible output (default: random)")
    parser.add_argument("--batch-size", type=int, default=8, help="utterances decoded together (default 8)")
    parser.add_argument("--max-decoder-steps", type=int, help="decoder step cap (default: the checkpoint's)")
    parser.add_argument("--gate-threshold", type=float, help="stop-gate threshold (default: the checkpoint's)")
    parser.add_argument(
        "--prenet-dropout",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Tacotron 2's always-on prenet dropout, as trained (default on; off = deterministic)",
    )
    parser.add_argument(
        "--phone-repeats",
        type=int,
        metavar="N",
        help="read every phone N times: the speaking rate of a voice trained with repeated phones "
        "(default: the checkpoint's; the bundled voice reads 4)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="extra attempts for utterances whose stop gate never fired or whose attention "
        "did not reach the end (default 2)",
    )
    parser.add_argument(
        "--plot", action="store_true", help="also write a PNG per utterance (mel, alignment, gate); needs matplotlib"
    )
    parser.add_argument(
        "--float", action="store_true", dest="float32", help="write 32-bit float WAV (default 16-bit PCM)"
    )
    parser.add_argument(
        "--max-text-chars",
        type=int,
        default=DEFAULT_MAX_TEXT_CHARS,
        metavar="N",
        help="longest text (argument or input line) accepted, in characters "
        f"(default {DEFAULT_MAX_TEXT_CHARS:,}: about 2.3 hours of speech)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch (ONNX Runtime with --onnx)")
    parser.add_argument(
        "--onnx",
        type=Path,
        metavar="DIR",
        help="run an ONNX export folder ('tacoglow export onnx') on ONNX Runtime, "
        "without torch; --tacotron2/--waveglow/--vocoder/--device do not apply",
    )
    parser.add_argument(
        "--onnx-precision",
        choices=("fp32", "fp16", "int8"),
        default="fp32",
        help="with --onnx: fp32, fp16 graphs, or int8 decoder weights (default fp32)",
    )
    return parser


def _read_texts(args: argparse.Namespace) -> list[str]:
    """The utterances to say: TEXT, or the non-blank lines of -i FILE or stdin."""
    if args.text is not None and args.input is not None:
        raise ConfigError("give the text either as TEXT or with -i FILE, not both")
    if args.input is not None:
        try:
            content = args.input.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(f"{args.input}: input file not found") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{args.input}: expected UTF-8 text, found an undecodable byte at {exc.start}") from None
        except OSError as exc:
            raise DataError(f"{args.input}: cannot read ({exc.strerror or exc})") from None
        source = str(args.input)
    elif args.text is not None and args.text != "-":
        if not args.text.strip():
            raise TextError("text: empty (expected something to say)")
        return [args.text]
    else:
        if args.text is None and sys.stdin.isatty():
            raise ConfigError("no text: pass TEXT, -i FILE, or pipe text on stdin")
        content = sys.stdin.read()
        source = "stdin"
    lines = [line.strip() for line in content.splitlines()]
    texts = [line for line in lines if line]
    if not texts:
        raise TextError(f"{source}: no text (expected one utterance per line)")
    return texts


def _output_paths(name: str, count: int, plot: bool) -> tuple[list[Path], Path]:
    """WAV path per utterance and the folder that will hold them (checked to be writable).

    ``-`` (stdout), a device or a FIFO takes one WAV, streamed into it.
    """
    output = Path(name)
    if is_stream_target(name):
        if count > 1:
            raise ConfigError(f"-o {name}: {count} utterances cannot share one stream; give a folder")
        if plot:
            raise ConfigError(f"-o {name}: --plot needs a file or folder output to put its PNG beside")
        return [output], output.parent
    as_folder = count > 1 or output.is_dir() or name.endswith(("/", os.sep))
    if as_folder:
        if output.exists() and not output.is_dir():
            raise ConfigError(f"-o {output}: {count} utterances need a folder, found a file")
        if output.suffix.lower() == ".wav" and not output.exists():
            raise ConfigError(f"-o {output}: {count} utterances need a folder, found a .wav file name")
        folder = output
        parent = output if output.exists() else output.parent
        width = max(3, len(str(count)))
        paths = [folder / f"{i + 1:0{width}d}.wav" for i in range(count)]
    else:
        folder = parent = output.parent
        paths = [output]
    if not parent.is_dir():
        raise ConfigError(f"-o {output}: cannot write there: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"-o {output}: cannot write there: folder {parent} is not writable")
    return paths, folder


def _check_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("--plot needs matplotlib, which is not installed: pip install 'tacoglow[plot]'") from None


def _save_plot(utterance: Utterance, path: Path, gate_threshold: float) -> None:
    """PNG of the mel, the alignment and the stop-gate probability, written atomically."""
    import torch
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 8), layout="constrained")
    mel_axis, alignment_axis, gate_axis = figure.subplots(3, 1)
    image = mel_axis.imshow(utterance.mel.numpy(), origin="lower", aspect="auto", interpolation="none")
    mel_axis.set(title=f"mel ({utterance.mel_length} frames)", ylabel="mel channel")
    figure.colorbar(image, ax=mel_axis)
    image = alignment_axis.imshow(
        utterance.alignment.T.numpy(), origin="lower", aspect="auto", interpolation="none", vmin=0.0, vmax=1.0
    )
    alignment_axis.set(title="alignment", ylabel="text token")
    figure.colorbar(image, ax=alignment_axis)
    gate_axis.plot(torch.sigmoid(utterance.gate).numpy(), label="stop probability")
    gate_axis.axhline(gate_threshold, color="red", linestyle="--", label="threshold")
    gate_axis.set(title="stop gate", xlabel="decoder step", ylim=(-0.05, 1.05), xlim=(0, max(1, len(utterance.gate))))
    gate_axis.legend(loc="upper left")
    with atomic_write(path, error=AudioError) as handle:
        figure.savefig(handle, format="png", dpi=100)


def _check_audible(waveform: Any, path: Path) -> None:
    """Refuse to write silence or NaN as if it were speech (exit 0 with an all-zero WAV).

    Args:
        waveform: (T_audio,) float samples, a CPU tensor or a numpy array (the ONNX engine's).
    """
    import numpy as np  # not torch: the --onnx path runs without it

    samples = np.asarray(waveform)
    if not bool(np.isfinite(samples).all()):
        raise AudioError(f"{path}: the synthesized audio holds NaN or infinity; check the checkpoints")
    # Below half a 16-bit step every sample rounds to 0: the WAV would be digital silence.
    if samples.size == 0 or float(np.abs(samples).max()) < 0.5 / 32768:
        raise AudioError(f"{path}: the synthesized audio is silent; check the checkpoints and --denoise")


def _dry_run(args: argparse.Namespace, texts: list[str]) -> int:
    """Print what the Tacotron 2's text frontend reads for each text (issue 22); loads no vocoder."""
    from tacoglow.checkpoints import load_model
    from tacoglow.cli.normalize import print_spoken
    from tacoglow.inference.synthesizer import bundled_voice_paths

    if args.tacotron2 is None and getattr(args, "voice", None) is not None:
        # The voice's text frontend lives in its Tacotron 2 (fetched once if need be); no vocoder.
        from tacoglow.voice_catalog import resolve_voice

        args.tacotron2 = resolve_voice(
            args.voice, tacotron2=True, waveglow=False, progress=not getattr(args, "quiet", False)
        )[0]
    tacotron2 = args.tacotron2 or bundled_voice_paths()[0]
    if tacotron2 is None:
        raise ConfigError("no bundled voice in this installation: pass a Tacotron 2 checkpoint (--tacotron2 FILE)")
    frontend = load_model(tacotron2, "tacotron2").text_frontend
    assert frontend is not None  # a Tacotron 2 always has one
    frontend = frontend.with_normalizer(args.normalize)
    print_spoken(texts, frontend, frontend.arpabet, sys.stdout)
    return 0


def run(args: argparse.Namespace) -> int:
    """Synthesize every input text and write the files; returns the exit code."""
    texts = _read_texts(args)
    if args.dry_run:
        return _dry_run(args, texts)
    if args.output is None:
        raise ConfigError("-o PATH: expected a WAV file or folder to write (or --dry-run to only print the text)")
    paths, folder = _output_paths(args.output, len(texts), args.plot)
    if args.plot:
        _check_matplotlib()
    resolve_model_sources(args)

    from tqdm import tqdm

    synth: Any
    if args.onnx is not None:
        # Torch-free path: tacoglow.runtime imports numpy and onnxruntime only.
        if args.tacotron2 or args.waveglow or args.vocoder or args.device != "cpu" or args.precision != "fp32":
            raise ConfigError(
                "--onnx runs the models of its folder on the CPU: drop --tacotron2, --waveglow, "
                "--vocoder, --device and --precision (use --onnx-precision)"
            )
        if args.plot:
            raise ConfigError("--plot is not available with --onnx (it draws with torch)")
        from tacoglow.runtime import OnnxSynthesizer

        synth = OnnxSynthesizer(
            args.onnx,
            precision=args.onnx_precision,
            sigma=args.sigma,
            denoise=args.denoise,
            seed=args.seed,
            batch_size=args.batch_size,
            max_decoder_steps=args.max_decoder_steps,
            gate_threshold=args.gate_threshold,
            prenet_dropout=args.prenet_dropout,
            phone_repeats=args.phone_repeats,
            normalize=args.normalize,
            retries=args.retries,
            threads=args.threads,
        )
        gate_threshold = synth.gate_threshold
    else:
        from tacoglow.inference.synthesizer import Synthesizer

        synth = Synthesizer.from_checkpoints(
            args.tacotron2,
            args.waveglow,
            vocoder=args.vocoder,
            device=args.device,
            precision=args.precision,
            sigma=args.sigma,
            denoise=args.denoise,
            seed=args.seed,
            batch_size=args.batch_size,
            max_decoder_steps=args.max_decoder_steps,
            gate_threshold=args.gate_threshold,
            prenet_dropout=args.prenet_dropout,
            phone_repeats=args.phone_repeats,
            retries=args.retries,
            max_text_chars=args.max_text_chars,
            threads=args.threads,
            normalize=args.normalize,
        )
        gate_threshold = synth.acoustic.model.config.gate_threshold
    total = synth.count_pieces(texts)  # validates every text before anything is synthesized
    chunk = args.batch_size * _CHUNK_BATCHES
    folder.mkdir(exist_ok=True)
    with tqdm(
        total=total,
        unit="piece",
        desc="synthesizing",
        file=sys.stderr,
        leave=False,
        disable=True if total <= 1 else None,
    ) as bar:
        for start in range(0, len(texts), chunk):
            utterances = synth.synthesize(texts[start : start + chunk], progress=bar.update)
            for path, utterance in zip(paths[start : start + chunk], utterances):
                _check_audible(utterance.waveform, path)
                utterance.save(path, float32=args.float32)
                if args.plot:
                    _save_plot(utterance, path.with_suffix(".png"), gate_threshold)
                if not utterance.healthy:
                    logger.warning(
                        "%s: %s",
                        path,
                        "the stop gate never fired"
                        if not utterance.stop_gate_fired
                        else "attention did not reach the end of the text",
                    )
                logger.info("wrote %s (%.2f s)", path, utterance.duration_s)
    return 0
