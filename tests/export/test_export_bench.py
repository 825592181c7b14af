"""``tacoglow bench --onnx`` (tacoglow.export.bench): both engines timed stage by stage, end to end."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from tacoglow.export.bench import format_onnx_table, run_onnx_bench  # noqa: E402

ENGINES = ["reference (eager)", "PyTorch engine", "ONNX Runtime fp32", "ONNX Runtime fp16", "ONNX Runtime int8"]


@pytest.mark.slow
def test_bench_runs_every_engine_and_stage():
    # Found by mypy: decode_free_running gained a postnet argument and this bench still called it
    # without one, so `tacoglow bench --onnx` died with a TypeError before timing anything.
    # Full-size Tacotron 2 (the export needs it), a narrow WaveGlow, few steps: ~15 s.
    report = run_onnx_bench(steps=4, iterations=1, waveglow_frames=4, wn_channels=8, threads=1)
    assert list(report.seconds) == ENGINES
    for engine in ENGINES:
        assert set(report.seconds[engine]) >= {"encoder", "decoder", "postnet"}
        assert all(s > 0 for s in report.seconds[engine].values())
    assert report.seconds["PyTorch engine"]["waveglow"] > 0
    assert report.seconds["ONNX Runtime fp32"]["waveglow"] > 0
    assert set(report.snr_db) == {"fp16", "int8"}
    assert all(math.isfinite(db) for db in report.snr_db.values())
    table = format_onnx_table(report)
    assert all(engine in table for engine in ENGINES)
