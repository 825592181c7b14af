"""``evaluate`` and ``tacoglow evaluate`` on an ONNX export (the ONNX Runtime engine)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("jiwer")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tacoglow.cli import main  # noqa: E402
from tacoglow.errors import ConfigError  # noqa: E402
from tacoglow.evaluation import ASREngine, evaluate  # noqa: E402


@pytest.fixture(scope="module")
def onnx_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled voice (Griffin-Lim) as an ONNX export, fp32 graphs only."""
    from tacoglow.export.onnx import export_onnx
    from tacoglow.inference.synthesizer import bundled_voice_paths

    tacotron2, _ = bundled_voice_paths()
    assert tacotron2 is not None
    return export_onnx(tmp_path_factory.mktemp("onnx_voice"), tacotron2, None, variants=False)


class HearsHello(ASREngine):
    """Hears 'hello' in any audio: the WER bookkeeping on the ONNX engine's (numpy) waveforms."""

    name = "hello"

    def _transcribe_16k(self, audio):
        assert len(audio) > 0
        return "hello"


def test_evaluate_onnx_export_rows_have_attention_health_rtf_and_a_seed_each(onnx_folder):
    report = evaluate(None, ["Hello.", "Hi there."], asr=HearsHello(), onnx=onnx_folder, seeds=2)
    rows, summary = report.utterances, report.summary
    assert [(r.index, r.seed) for r in rows] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert all(r.audio_seconds > 0 and r.compute_seconds > 0 for r in rows)
    assert all(isinstance(r.stop_gate_fired, bool) and isinstance(r.attention_reached_end, bool) for r in rows)
    assert all(r.attempts == 1 for r in rows)  # retries=0: every failure counts
    assert [r.wer for r in rows] == [0.0, 0.0, 1.0, 1.0]
    assert summary.voice == f"{onnx_folder.name} (ONNX fp32)"
    assert (summary.vocoder, summary.retries, summary.seed, summary.seeds) == ("griffin-lim", 0, 0, 2)
    assert math.isfinite(summary.rtf) and summary.rtf > 0


def test_evaluate_onnx_refuses_a_voice_or_vocoder_beside_it(onnx_folder):
    with pytest.raises(ConfigError, match="give no voice and no vocoder beside it"):
        evaluate(None, ["Hello."], asr=None, onnx=onnx_folder, vocoder="griffin-lim")
    with pytest.raises(ConfigError, match="no voice.json there"):
        evaluate(None, ["Hello."], asr=None, onnx=onnx_folder / "missing")


@pytest.mark.parametrize("extra", [["--voice", "bundled"], ["--tacotron2", "t2.pt"], ["--vocoder", "griffin-lim"]])
def test_evaluate_cli_onnx_with_a_pytorch_option_is_a_one_line_error(onnx_folder, tmp_path, capsys, extra):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Hello.\n", encoding="utf-8")
    code = main(["evaluate", "--onnx", str(onnx_folder), "--sentences", str(sentences), "--asr", "none", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "--onnx evaluates the models of its folder" in err


def test_evaluate_cli_onnx_prints_the_table(onnx_folder, tmp_path, capsys):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Hello.\n", encoding="utf-8")
    code = main(["-q", "evaluate", "--onnx", str(onnx_folder), "--sentences", str(sentences), "--asr", "none"])
    assert code == 0
    assert f"voice: {onnx_folder.name} (ONNX fp32) (vocoder griffin-lim), 1 utterances" in capsys.readouterr().out
