"""Export folders shared by the runtime tests (exported once per session, fp32 graphs only)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="session")
def onnx_golden(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden Tacotron 2 + WaveGlow pair as an ONNX folder."""
    from tacoglow.export.onnx import export_onnx

    return export_onnx(
        tmp_path_factory.mktemp("onnx_golden"), golden_dir / "tacotron2.pt", golden_dir / "waveglow.pt", variants=False
    )


@pytest.fixture(scope="session")
def onnx_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled voice (Griffin-Lim: it has no WaveGlow) as an ONNX folder."""
    from tacoglow.export.onnx import export_onnx
    from tacoglow.inference.synthesizer import bundled_voice_paths

    tacotron2, _ = bundled_voice_paths()
    assert tacotron2 is not None
    return export_onnx(tmp_path_factory.mktemp("onnx_voice"), tacotron2, None, variants=False)
