"""``tacoglow.runtime.triton``: Triton on loopback, called with the official tritonclient.

PyTriton pins its own numpy, so it lives in a separate venv (with onnxruntime, soundfile and the
text frontend's packages, no torch); point TACOGLOW_TRITON_PYTHON at that venv's python. On
machines whose system libpython differs from the interpreter's, also export LD_LIBRARY_PATH to
the interpreter's lib folder (Triton's Python backend stub links libpython3.X.so).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PYTHON = os.environ.get("TACOGLOW_TRITON_PYTHON")
SRC = Path(__file__).resolve().parents[2] / "src"
pytestmark = pytest.mark.skipif(not PYTHON, reason="TACOGLOW_TRITON_PYTHON (a venv with nvidia-pytriton) not set")

CLIENT = """
import sys, urllib.request
import numpy as np
import tritonclient.http as http
from tacoglow.runtime import OnnxSynthesizer
from tacoglow.runtime.triton import serve_triton

triton = serve_triton(OnnxSynthesizer(sys.argv[1], seed=0), http_port=18200, grpc_port=18201,
                      metrics_port=18202, block=False)
try:
    client = http.InferenceServerClient("localhost:18200")
    def ask(text, seed=None):
        inputs = [http.InferInput("text", [1, 1], "BYTES")]
        inputs[0].set_data_from_numpy(np.array([[text.encode()]], dtype=object))
        if seed is not None:
            inputs.append(http.InferInput("seed", [1, 1], "INT64"))
            inputs[-1].set_data_from_numpy(np.array([[seed]], np.int64))
        result = client.infer("tacoglow", inputs)
        return result.as_numpy("audio")[0, :int(result.as_numpy("audio_length")[0, 0])]
    first, again, other = ask("Hello world.", 3), ask("Hello world.", 3), ask("Hello world.", 4)
    direct = OnnxSynthesizer(sys.argv[1], seed=3).synthesize("Hello world.")[0].waveform
    assert first.size > 0 and np.array_equal(first, again) and np.array_equal(first, direct)
    assert not (first.size == other.size and np.array_equal(first, other))
    try:
        ask("   ")
        raise AssertionError("empty text was accepted")
    except Exception as exc:
        assert "empty" in str(exc), exc
    metrics = urllib.request.urlopen("http://localhost:18202/metrics").read()
    assert b'nv_inference_request_success{model="tacoglow"' in metrics
    assert "torch" not in sys.modules
    print("TRITON OK")
finally:
    triton.stop()
"""


def test_triton_serves_the_onnx_engine_on_loopback(onnx_voice, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [PYTHON, "-c", CLIENT, str(onnx_voice)],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "TRITON OK" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
