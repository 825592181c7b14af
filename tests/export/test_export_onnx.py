"""``tacoglow export onnx``: the folder's graphs, variants, voice.json, ``--voice`` and errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from tacoglow import voice_catalog  # noqa: E402
from tacoglow.cli import main  # noqa: E402
from tacoglow.download import CACHE_ENV, RemoteFile  # noqa: E402
from tacoglow.errors import CheckpointError  # noqa: E402
from tacoglow.export.onnx import export_onnx  # noqa: E402
from tacoglow.voice_catalog import Voice  # noqa: E402

from loopback_http import closed_port_url  # noqa: E402


@pytest.fixture(scope="module")
def exported(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden Tacotron 2 alone (Griffin-Lim), with variants, through the CLI."""
    folder = tmp_path_factory.mktemp("export") / "voice"
    assert main(["export", "onnx", "--tacotron2", str(golden_dir / "tacotron2.pt"), "-o", str(folder)]) == 0
    return folder


def test_folder_holds_checked_graphs_and_variants(exported):
    voice = json.loads((exported / "voice.json").read_text())
    assert voice["graphs"] == {
        "encoder": {"fp32": "encoder.onnx", "fp16": "encoder.fp16.onnx"},
        "decoder_step": {
            "fp32": "decoder_step.onnx",
            "fp16": "decoder_step.fp16.onnx",
            "int8": "decoder_step.int8.onnx",
        },
        "postnet": {"fp32": "postnet.onnx", "fp16": "postnet.fp16.onnx"},
    }
    for files in voice["graphs"].values():
        for file in files.values():
            onnx.checker.check_model(str(exported / file), full_check=True)
    int8 = onnx.load(str(exported / "decoder_step.int8.onnx"))
    assert any(
        node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "DynamicQuantizeLinear") for node in int8.graph.node
    )  # the weights really are quantized
    assert (exported / "decoder_step.int8.onnx").stat().st_size < 0.5 * (exported / "decoder_step.onnx").stat().st_size


def test_voice_json_rebuilds_the_pipeline(exported, golden_dir):
    from tacoglow.checkpoints import load_model

    loaded = load_model(golden_dir / "tacotron2.pt")
    voice = json.loads((exported / "voice.json").read_text())
    cfg = loaded.model.config
    assert voice["tacotron2"]["max_decoder_steps"] == cfg.max_decoder_steps == 40
    assert voice["tacotron2"]["gate_threshold"] == cfg.gate_threshold
    assert voice["tacotron2"]["n_frames_per_step"] == cfg.n_frames_per_step
    assert voice["tacotron2"]["prenet_dropout"] == cfg.prenet_dropout
    assert voice["mel"] == loaded.mel_config.to_dict()
    assert voice["symbols"] == list(loaded.symbols)
    assert voice["vocoder"]["name"] == "griffin-lim"
    assert np.load(exported / "arrays.npz")["mel_pinv"].shape == (513, 80)


def test_dynamic_axes_batch_and_length(exported):
    session = ort.InferenceSession(str(exported / "encoder.onnx"))
    for batch, length in ((1, 3), (5, 17)):
        text = np.ones((batch, length), np.int64)
        memory, processed = session.run(None, {"text": text, "text_lengths": np.full(batch, length, np.int64)})
        assert memory.shape == (batch, length, 48) and processed.shape == (batch, length, 24)
    postnet = ort.InferenceSession(str(exported / "postnet.onnx"))
    assert postnet.run(None, {"mel": np.zeros((3, 80, 11), np.float32)})[0].shape == (3, 80, 11)


def test_variants_run_close_to_fp32(exported):
    from tacoglow.runtime import OnnxSynthesizer

    mels = {
        p: OnnxSynthesizer(exported, precision=p, prenet_dropout=False, seed=0, retries=0, split_long_text=False)
        .synthesize("Hello.")[0]
        .mel
        for p in ("fp32", "fp16", "int8")
    }
    for precision in ("fp16", "int8"):
        steps = min(mels[precision].shape[1], mels["fp32"].shape[1])
        a, b = mels[precision][:, :steps], mels["fp32"][:, :steps]
        # A loose sanity bound (reduced precision moves values, it must not scramble them): the
        # bench reports the real SNR at full size.
        assert np.linalg.norm(a - b) < 0.5 * np.linalg.norm(b)


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["export", "onnx", "--tacotron2", str(tmp_path / "none.pt"), "-o", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["CHECKPOINT", "-o", "x.pt", "--half"],  # the layout converter, now 'tacoglow convert'
        ["--format", "onnx", "-o", "folder"],  # ONNX before it became a subcommand
        ["-o", "x.pt"],
    ],
)
def test_old_spellings_name_the_new_commands(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["export", *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tacoglow export: error: ")
    assert "'tacoglow export onnx -o DIR'" in err and "'tacoglow convert CHECKPOINT -o FILE" in err
    assert list(tmp_path.iterdir()) == []


def test_voice_gives_both_models(golden_dir, tmp_path, monkeypatch):
    """``--voice``: a catalogue voice whose files are in the cache (no network: its URLs lead nowhere)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    (cache / "golden").mkdir(parents=True)
    models = []
    for kind in ("tacotron2", "waveglow"):
        shutil.copy(golden_dir / f"{kind}.pt", cache / "golden" / f"{kind}.pt")
        models.append(RemoteFile(closed_port_url(f"/{kind}.pt"), f"{kind}.pt", kind))
    monkeypatch.setitem(voice_catalog.VOICES, "golden", Voice("golden", "the golden pair", "en-US", "t", *models))
    folder = tmp_path / "voice"
    assert main(["-q", "export", "onnx", "--voice", "golden", "--no-variants", "-o", str(folder)]) == 0
    voice = json.loads((folder / "voice.json").read_text())
    assert voice["vocoder"]["name"] == "waveglow"  # the voice's WaveGlow, not Griffin-Lim
    assert voice["tacotron2"]["max_decoder_steps"] == 40  # the golden Tacotron 2, not the bundled voice
    assert all(set(files) == {"fp32"} for files in voice["graphs"].values())


def test_waveglow_must_be_a_waveglow(golden_dir, tmp_path):
    with pytest.raises(CheckpointError):
        export_onnx(tmp_path, golden_dir / "tacotron2.pt", golden_dir / "tacotron2.pt", variants=False)


def test_bench_onnx_refuses_checkpoints(tmp_path, capsys):
    # The side-by-side bench times full-size random models (minutes): only its argument checks run here.
    assert main(["bench", "--onnx", "--tacotron2", str(tmp_path / "t.pt")]) == 2
    assert "--onnx times full-size random models" in capsys.readouterr().err
