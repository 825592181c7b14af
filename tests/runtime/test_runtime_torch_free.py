"""The ONNX Runtime path imports no torch: the API and the CLI run with torch blocked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import soundfile as sf

SRC = Path(__file__).resolve().parents[2] / "src"
# A meta-path finder that refuses torch (as if it were not installed) before anything is imported.
BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, _NoTorch())
"""


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + code],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_blocker_blocks(tmp_path):
    result = _run("import torch", tmp_path)
    assert result.returncode != 0 and "blocked by the test" in result.stderr


def test_api_synthesizes_without_torch(onnx_golden, tmp_path):
    result = _run(
        f"""
from tacoglow.runtime import OnnxSynthesizer
utterances = OnnxSynthesizer({str(onnx_golden)!r}, seed=0).synthesize(["Hello world.", "Why?"])
utterances[0].save("api.wav")
assert "torch" not in sys.modules
print("samples", utterances[0].waveform.size)
""",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    audio, rate = sf.read(tmp_path / "api.wav")
    assert rate == 22050 and f"samples {audio.size}" in result.stdout


def test_cli_synthesizes_without_torch(onnx_voice, tmp_path):
    (tmp_path / "in.txt").write_text("Hello world.\nSecond line.\n", encoding="utf-8")
    result = _run(
        f"""
from tacoglow.cli import main
code = main(["synthesize", "--onnx", {str(onnx_voice)!r}, "-i", "in.txt", "-o", "out/", "--seed", "1"])
assert "torch" not in sys.modules
sys.exit(code)
""",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["001.wav", "002.wav"]


def test_cli_bad_folder_is_one_line_without_torch(tmp_path):
    result = _run(
        """
from tacoglow.cli import main
sys.exit(main(["synthesize", "--onnx", "missing", "Hello.", "-o", "x.wav"]))
""",
        tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        (
            "tacoglow synthesize: error: --onnx missing: no voice.json there (expected a folder written by "
            "'tacoglow export onnx')"
        )
    ]
