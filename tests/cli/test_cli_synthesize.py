"""`tacoglow synthesize` end to end, in-process, with tiny checkpoints: files, order, and every bad input."""

from __future__ import annotations

import io
import sys

import pytest
import soundfile as sf

from tacoglow.audio import MelConfig
from tacoglow.checkpoints import load_tacotron2, load_waveglow, save_checkpoint
from tacoglow.cli import main
from tacoglow.inference import Synthesizer, bundled_voice_paths

LINES = [
    "Hello there, how are you today?",
    "A short one.",
    "This is a medium sized sentence.",
    "Tiny.",
    "The forms of printed letters.",
    "Should be beautiful.",
    "And their arrangement on the page.",
    "Bye!",
]
COMMON = ["--max-decoder-steps", "300", "--seed", "3", "--no-prenet-dropout", "--batch-size", "4"]


@pytest.fixture(scope="module")
def voice(tmp_path_factory, golden_dir):
    folder = tmp_path_factory.mktemp("voice")
    tacotron2, waveglow = folder / "tacotron2.pt", folder / "waveglow.pt"
    save_checkpoint(tacotron2, load_tacotron2(golden_dir / "tacotron2.pt"), mel_config=MelConfig())
    save_checkpoint(waveglow, load_waveglow(golden_dir / "waveglow.pt"), mel_config=MelConfig())
    mismatched = folder / "waveglow_16k.pt"
    save_checkpoint(
        mismatched, load_waveglow(golden_dir / "waveglow.pt"), mel_config=MelConfig(sampling_rate=16000, hop_length=256)
    )
    corrupt = folder / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    return {"tacotron2": tacotron2, "waveglow": waveglow, "mismatched": mismatched, "corrupt": corrupt}


def _models(voice) -> list[str]:
    return ["--tacotron2", str(voice["tacotron2"]), "--waveglow", str(voice["waveglow"])]


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_eight_lines_give_eight_wavs_in_input_order(tmp_path, voice, capsys):
    source = tmp_path / "lines.txt"
    source.write_text("\n".join(LINES[:4]) + "\n\n" + "\n".join(LINES[4:]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["synthesize", "-i", str(source), "-o", str(out), *_models(voice), *COMMON]) == 0
    assert _leftovers(out) == [f"{i:03d}.wav" for i in range(1, 9)]
    synth = Synthesizer.from_checkpoints(
        voice["tacotron2"], voice["waveglow"], max_decoder_steps=300, seed=3, prenet_dropout=False
    )
    expected = synth.synthesize(LINES)
    for i, utterance in enumerate(expected):
        audio, rate = sf.read(out / f"{i + 1:03d}.wav", dtype="float32")
        info = sf.info(out / f"{i + 1:03d}.wav")
        assert rate == 22050 and info.subtype == "PCM_16"
        assert len(audio) == utterance.mel_length * 256
        want = utterance.waveform.clamp(-1, 1).numpy()
        assert abs(audio - want).max() <= 2.0 / 32768 + 1e-3
    # order: each file is its own line, also when synthesized alone
    [alone] = synth.synthesize(LINES[2])
    audio, _ = sf.read(out / "003.wav", dtype="float32")
    assert len(audio) == alone.mel_length * 256
    assert len({len(sf.read(out / f"{i:03d}.wav")[0]) for i in range(1, 9)}) > 1


def test_text_argument_to_float_wav_file(tmp_path, voice):
    out = tmp_path / "hello.wav"
    assert main(["synthesize", "Hello world.", "-o", str(out), "--float", *_models(voice), *COMMON]) == 0
    info = sf.info(out)
    assert info.subtype == "FLOAT" and info.frames % 256 == 0 and info.frames > 0
    assert _leftovers(tmp_path) == ["hello.wav"]


def test_trailing_slash_makes_a_folder_for_one_text(tmp_path, voice):
    assert main(["synthesize", "Hello.", "-o", f"{tmp_path / 'new'}/", *_models(voice), *COMMON]) == 0
    assert _leftovers(tmp_path / "new") == ["001.wav"]


def test_stdin_one_utterance_per_line(tmp_path, voice, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("First line.\nSecond line.\n"))
    out = tmp_path / "from_stdin"
    assert main(["synthesize", "-o", str(out), *_models(voice), *COMMON]) == 0
    assert _leftovers(out) == ["001.wav", "002.wav"]


def test_griffin_lim_vocoder(tmp_path, voice):
    out = tmp_path / "gl.wav"
    assert (
        main(
            [
                "synthesize",
                "Hello.",
                "-o",
                str(out),
                "--tacotron2",
                str(voice["tacotron2"]),
                "--vocoder",
                "griffin-lim",
                *COMMON,
            ]
        )
        == 0
    )
    assert sf.info(out).frames % 256 == 0


def test_plot_writes_png_per_utterance(tmp_path, voice):
    pytest.importorskip("matplotlib")
    out = tmp_path / "plots"
    assert (
        main(
            [
                "synthesize",
                "-o",
                str(out),
                "-i",
                str(_lines_file(tmp_path, LINES[:2])),
                "--plot",
                *_models(voice),
                *COMMON,
            ]
        )
        == 0
    )
    assert _leftovers(out) == ["001.png", "001.wav", "002.png", "002.wav"]
    assert (out / "001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_a_clear_error(tmp_path, voice, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "x.wav"
    assert main(["synthesize", "Hello.", "-o", str(out), "--plot", *_models(voice), *COMMON]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err
    assert _leftovers(tmp_path) == []


def _lines_file(folder, lines):
    path = folder / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


BAD_CASES = {
    "empty text": (lambda v, d: ["", "-o", str(d / "o.wav"), *_models(v)], "text: empty"),
    "unspeakable text": (lambda v, d: ["?!...", "-o", str(d / "o.wav"), *_models(v)], "nothing speakable"),
    "unspeakable line 3": (
        lambda v, d: [
            "-i",
            str(_lines_file(d, ["Fine.", "Also fine.", "___", "Ok."])),
            "-o",
            str(d / "out"),
            *_models(v),
        ],
        "text 3: nothing speakable",
    ),
    "missing checkpoint": (
        lambda v, d: [
            "Hi.",
            "-o",
            str(d / "o.wav"),
            "--tacotron2",
            str(d / "nope.pt"),
            "--waveglow",
            str(v["waveglow"]),
        ],
        "nope.pt: file not found",
    ),
    "corrupt checkpoint": (
        lambda v, d: [
            "Hi.",
            "-o",
            str(d / "o.wav"),
            "--tacotron2",
            str(v["tacotron2"]),
            "--waveglow",
            str(v["corrupt"]),
        ],
        "corrupt.pt: not a PyTorch checkpoint",
    ),
    "wrong kind": (
        lambda v, d: [
            "Hi.",
            "-o",
            str(d / "o.wav"),
            "--tacotron2",
            str(v["waveglow"]),
            "--waveglow",
            str(v["waveglow"]),
        ],
        "expected a Tacotron 2 checkpoint",
    ),
    "mismatched pair": (
        lambda v, d: [
            "Hi.",
            "-o",
            str(d / "o.wav"),
            "--tacotron2",
            str(v["tacotron2"]),
            "--waveglow",
            str(v["mismatched"]),
        ],
        r"sampling_rate (Tacotron 2: 22050, vocoder: 16000)",
    ),
    "unwritable output": (lambda v, d: ["Hi.", "-o", str(d / "missing" / "o.wav"), *_models(v)], "does not exist"),
    "file as folder": (
        lambda v, d: ["-i", str(_lines_file(d, ["One.", "Two."])), "-o", str(d / "o.wav"), *_models(v)],
        "2 utterances need a folder",
    ),
    "negative sigma": (
        lambda v, d: ["Hi.", "-o", str(d / "o.wav"), "--sigma", "-1", *_models(v)],
        "sigma: expected a number >= 0",
    ),
    "missing input file": (
        lambda v, d: ["-i", str(d / "none.txt"), "-o", str(d / "o.wav"), *_models(v)],
        "none.txt: input file not found",
    ),
    "text and -i": (
        lambda v, d: ["Hi.", "-i", str(_lines_file(d, ["x"])), "-o", str(d / "o.wav"), *_models(v)],
        "not both",
    ),
    "fp16 on cpu": (
        lambda v, d: ["Hi.", "-o", str(d / "o.wav"), "--precision", "fp16", *_models(v)],
        "fp16: needs a CUDA device",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_one_line_error_without_files(case, tmp_path, voice, capsys):
    build, message = BAD_CASES[case]
    work = tmp_path / "work"
    work.mkdir()
    before = _leftovers(work)
    code = main(["synthesize", *build(voice, work), *COMMON])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("tacoglow synthesize: error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert [f for f in _leftovers(work) if f.endswith((".wav", ".png", ".tmp"))] == [
        f for f in before if f.endswith((".wav", ".png", ".tmp"))
    ]


def test_without_checkpoints_the_error_names_the_options(tmp_path, capsys):
    if bundled_voice_paths()[0] is not None:
        pytest.skip("this installation bundles a voice")
    assert main(["synthesize", "Hi.", "-o", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert "no bundled voice in this installation: pass a Tacotron 2 checkpoint (--tacotron2 FILE" in err
    assert not (tmp_path / "o.wav").exists()


# --- special outputs (issue 21.1): streamed into, never replaced ---------------------------------


def _is_wav(data: bytes) -> bool:
    audio, rate = sf.read(io.BytesIO(data), dtype="float32")
    return rate == 22050 and len(audio) > 0 and len(audio) % 256 == 0


def test_dash_writes_the_wav_to_stdout(tmp_path, voice, capsysbinary, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["synthesize", "Hello.", "-o", "-", *_models(voice), *COMMON]) == 0
    assert _is_wav(capsysbinary.readouterr().out)
    assert _leftovers(tmp_path) == []  # no file named "-" nor a temp file


def test_fifo_receives_the_wav_and_stays_a_fifo(tmp_path, voice):
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(["synthesize", "Hello.", "-o", str(fifo), *_models(voice), *COMMON]) == 0
    reader.join(timeout=30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
    assert len(received) == 1 and _is_wav(received[0])


def test_symlink_output_is_followed(tmp_path, voice):
    real = tmp_path / "real.wav"
    real.write_bytes(b"old")
    link = tmp_path / "link.wav"
    link.symlink_to(real)
    assert main(["synthesize", "Hello.", "-o", str(link), *_models(voice), *COMMON]) == 0
    assert link.is_symlink() and _is_wav(real.read_bytes())


@pytest.mark.skipif(
    sys.platform == "win32" or __import__("os").geteuid() != 0,
    reason="only root could replace /dev/null, so only root shows the bug",
)
def test_dev_null_stays_a_device(voice):
    import os
    import stat

    assert main(["synthesize", "Hello.", "-o", "/dev/null", *_models(voice), *COMMON]) == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["-i"], "2 utterances cannot share one stream"),
        (["--plot"], "--plot needs a file or folder"),
    ],
)
def test_stream_output_refuses_what_it_cannot_hold(tmp_path, voice, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)  # where a wrong reading of "-" as a folder name would write
    argv = ["-i", str(_lines_file(tmp_path, ["One.", "Two."]))] if extra == ["-i"] else ["Hello.", *extra]
    assert main(["synthesize", *argv, "-o", "-", *_models(voice), *COMMON]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


# --- silent or broken audio (issue 21.8): an error, not an all-zero WAV with exit 0 ---------------


def test_silent_output_is_an_error(tmp_path, voice, capsys):
    out = tmp_path / "o.wav"
    assert main(["synthesize", "Hello.", "-o", str(out), "--denoise", "1e9", *_models(voice), *COMMON]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out}: the synthesized audio is silent" in err[0], err
    assert _leftovers(tmp_path) == []


def test_nan_weights_are_refused_at_load(tmp_path, voice, capsys):
    import torch

    data = torch.load(voice["tacotron2"], weights_only=True)
    data["state_dict"]["decoder.attention_rnn.weight_hh"][0, 0] = float("nan")
    broken = tmp_path / "nan.pt"
    torch.save(data, broken)
    out = tmp_path / "o.wav"
    assert (
        main(
            [
                "synthesize",
                "Hello.",
                "-o",
                str(out),
                "--tacotron2",
                str(broken),
                "--waveglow",
                str(voice["waveglow"]),
                *COMMON,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"tacoglow synthesize: error: {broken}: tensor 'decoder.attention_rnn.weight_hh' holds "
        "NaN or infinity (a diverged or damaged model)"
    ]
    assert not out.exists()


def test_disk_full_is_one_line(full_disk, voice, capsys):
    filler = full_disk / "filler"
    with open(filler, "wb", buffering=0) as handle, pytest.raises(OSError):  # fill the disk to the last byte
        while True:
            handle.write(b"\0" * 4096)
    out = full_disk / "o.wav"
    assert main(["synthesize", "Hello there.", "-o", str(out), *_models(voice), *COMMON]) == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "error" in line] == [
        f"tacoglow synthesize: error: no space left on device: {out}"
    ] and "Traceback" not in err
    assert list(full_disk.iterdir()) == [filler]
