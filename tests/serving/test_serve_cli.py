"""``tacoglow serve`` as a process: it serves, and SIGTERM finishes the request in flight and exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from test_serve_limits import LONG, stream_first_chunk

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight_and_exits_0():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "TACOGLOW_API_KEY": ""}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tacoglow",
            "-q",
            "serve",
            "--port",
            str(port),
            "--seed",
            "0",
            "--max-batch-size",
            "1",
            "--threads",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/ready", timeout=5) as answer:
                    assert json.loads(answer.read())["status"] == "ready"
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "server did not become ready"
                time.sleep(0.2)
        connection, response = stream_first_chunk(url, LONG)
        process.send_signal(signal.SIGTERM)
        rest = response.read()  # the answer is completed, not cut
        connection.close()
        assert len(rest) > 0 and response.getheader("content-type") == "audio/pcm"
        assert process.wait(60) == 0
        # No longer accepting.
        with pytest.raises(OSError):
            urllib.request.urlopen(url + "/health", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_settings_are_one_line_errors():
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "tacoglow", "serve", "--max-batch-size", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "tacoglow serve: error: --max-batch-size: expected >= 1, found 0"
