"""The server on the ONNX Runtime engine (``tacoglow serve --onnx``): same endpoints, same audio."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tacoglow.runtime import OnnxSynthesizer  # noqa: E402
from tacoglow.serving.encoding import to_pcm16  # noqa: E402

from live_server import Running, running  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def onnx_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled voice (Griffin-Lim) as an ONNX export, fp32 graphs only."""
    from tacoglow.export.onnx import export_onnx
    from tacoglow.inference.synthesizer import bundled_voice_paths

    tacotron2, _ = bundled_voice_paths()
    assert tacotron2 is not None
    return export_onnx(tmp_path_factory.mktemp("onnx_voice"), tacotron2, None, variants=False)


@pytest.fixture(scope="module")
def onnx_synthesizer(onnx_folder: Path) -> OnnxSynthesizer:
    return OnnxSynthesizer(onnx_folder, seed=0, prenet_dropout=False, threads=1)


@pytest.fixture(scope="module")
def onnx_server(onnx_synthesizer: OnnxSynthesizer) -> Iterator[Running]:
    with running(onnx_synthesizer) as r:
        yield r


def speech(url: str, text: str, **fields: object) -> list[bytes]:
    """The raw chunks of a PCM answer, as they arrived."""
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    body = {"model": "tacoglow", "voice": "default", "input": text, "response_format": "pcm", **fields}
    connection.request("POST", "/v1/audio/speech", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200, response.read()
    chunks = []
    while chunk := response.read1(65536):
        chunks.append(chunk)
    connection.close()
    return chunks


def test_onnx_server_answers_the_engines_own_samples(onnx_server, onnx_synthesizer):
    [utterance] = onnx_synthesizer.synthesize(["Hello world."])
    expected = np.frombuffer(to_pcm16(utterance.waveform), dtype="<i2")
    samples = np.frombuffer(b"".join(speech(onnx_server.url, "Hello world.")), dtype="<i2")
    np.testing.assert_array_equal(samples, expected)


def test_onnx_server_streams_sentence_by_sentence(onnx_server):
    chunks = speech(onnx_server.url, "The cat sat. A dog ran. Birds sang.")
    assert len(chunks) >= 3


def test_onnx_server_speed_stretches_the_mel(onnx_server, onnx_synthesizer):
    [utterance] = onnx_synthesizer.synthesize(["Hi there."])
    samples = np.frombuffer(b"".join(speech(onnx_server.url, "Hi there.", speed=2.0)), dtype="<i2")
    assert samples.size == round(utterance.mel_length / 2.0) * onnx_synthesizer.hop_length
    assert np.sqrt(np.mean((samples / 32768.0) ** 2)) > 0.01


@pytest.mark.parametrize("option", [["--device", "cuda"], ["--voice", "bundled"], ["--vocoder", "griffin-lim"]])
def test_serve_onnx_with_a_pytorch_option_is_a_one_line_error(tmp_path, option):
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(
        [sys.executable, "-m", "tacoglow", "serve", "--onnx", str(tmp_path), *option],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--onnx runs the models of its folder" in lines[0], result.stderr


def test_serve_onnx_on_a_folder_that_is_no_export_is_a_one_line_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(
        [sys.executable, "-m", "tacoglow", "serve", "--onnx", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no voice.json" in lines[0], result.stderr


def test_worker_processes_build_the_onnx_app_from_their_json_config(onnx_folder, monkeypatch):
    # --workers N: each process rebuilds the app from the JSON settings in the environment.
    import argparse

    from tacoglow.cli import serve

    subparsers = argparse.ArgumentParser().add_subparsers()
    args = serve.add_parser(subparsers).parse_args(["--onnx", str(onnx_folder), "--onnx-precision", "fp32"])
    monkeypatch.setenv("TACOGLOW_SERVE_CONFIG", json.dumps(serve._settings(args)))
    app = serve.app_from_environment()
    assert isinstance(app.state.scheduler.synthesizer, OnnxSynthesizer)
