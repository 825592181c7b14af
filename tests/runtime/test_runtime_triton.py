"""``tacoglow.runtime.triton``: Triton on loopback, called with the official tritonclient.

PyTriton pins its own numpy, so it lives in a separate venv (with onnxruntime, soundfile and the
text frontend's packages, no torch); point TACOGLOW_TRITON_PYTHON at that venv's python, or run
``.ci/triton_check``, which makes the venv and runs this file.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from tacoglow.runtime.triton import pin_libpython

PYTHON = os.environ.get("TACOGLOW_TRITON_PYTHON")
SRC = Path(__file__).resolve().parents[2] / "src"

# Free loopback ports, asked of the OS (fixed ones collide with other runs on a shared machine).
CLIENT = """
import socket, sys, urllib.request
import numpy as np
import tritonclient.http as http
from tacoglow.runtime import OnnxSynthesizer
from tacoglow.runtime.triton import serve_triton

sockets = [socket.socket() for _ in range(3)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
http_port, grpc_port, metrics_port = (s.getsockname()[1] for s in sockets)
for s in sockets:
    s.close()
triton = serve_triton(OnnxSynthesizer(sys.argv[1], seed=0), http_port=http_port, grpc_port=grpc_port,
                      metrics_port=metrics_port, block=False)
try:
    client = http.InferenceServerClient(f"localhost:{http_port}")
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
    metrics = urllib.request.urlopen(f"http://localhost:{metrics_port}/metrics").read()
    assert b'nv_inference_request_success{model="tacoglow"' in metrics
    assert "torch" not in sys.modules
    print("TRITON OK")
finally:
    triton.stop()
"""


def _shared_config(libdir: Path) -> dict[str, object]:
    """sysconfig's variables for a pyenv-style Python with a shared libpython in ``libdir``."""
    libdir.mkdir(exist_ok=True)
    (libdir / "libpython3.11.so.1.0").write_bytes(b"")
    return {"Py_ENABLE_SHARED": 1, "LIBDIR": str(libdir), "INSTSONAME": "libpython3.11.so.1.0"}


def test_pin_libpython_puts_the_interpreters_lib_folder_first_once(tmp_path):
    config = _shared_config(tmp_path / "lib")
    environ = {"LD_LIBRARY_PATH": "/opt/a:/opt/b"}
    assert pin_libpython(environ, config) == str(tmp_path / "lib")
    assert environ["LD_LIBRARY_PATH"] == f"{tmp_path / 'lib'}:/opt/a:/opt/b"
    pin_libpython(environ, config)  # serving twice in one process must not grow the path
    assert environ["LD_LIBRARY_PATH"] == f"{tmp_path / 'lib'}:/opt/a:/opt/b"
    empty: dict[str, str] = {}
    pin_libpython(empty, config)
    assert empty == {"LD_LIBRARY_PATH": str(tmp_path / "lib")}


def test_pin_libpython_leaves_default_linker_folders_and_static_builds_alone(tmp_path, caplog):
    # Debian's own python3: its libpython is found without help, and putting /usr/lib/... first
    # would shadow the libraries PyTriton appends to LD_LIBRARY_PATH.
    debian = {
        "Py_ENABLE_SHARED": 1,
        "LIBDIR": "/usr/lib/x86_64-linux-gnu",
        "INSTSONAME": "libpython3.11.so.1.0",
        "MULTIARCH": "x86_64-linux-gnu",
    }
    environ = {"LD_LIBRARY_PATH": "/opt/a"}
    assert pin_libpython(environ, debian) is None
    assert environ == {"LD_LIBRARY_PATH": "/opt/a"}
    static = {**_shared_config(tmp_path / "lib"), "Py_ENABLE_SHARED": 0}
    with caplog.at_level(logging.WARNING, logger="tacoglow.runtime.triton"):
        assert pin_libpython(environ, static) is None
    assert environ == {"LD_LIBRARY_PATH": "/opt/a"}
    assert "no shared libpython" in caplog.text


@pytest.mark.skipif(not PYTHON, reason="TACOGLOW_TRITON_PYTHON (a venv with nvidia-pytriton) not set")
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
