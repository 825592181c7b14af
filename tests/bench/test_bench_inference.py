"""`tacoglow bench` with tiny models: rows, columns, JSON and the reference inputs."""

from __future__ import annotations

import json

import pytest
import torch

from tacoglow.bench.inference import (
    BenchSettings,
    bench_inputs,
    format_table,
    random_models,
    run_benchmark,
    waveglow_gflop_per_second,
)
from tacoglow.checkpoints import load_tacotron2, load_waveglow, save_checkpoint
from tacoglow.cli import main
from tacoglow.errors import ConfigError
from tacoglow.models.tacotron2 import Tacotron2Config
from tacoglow.models.waveglow import WaveGlowConfig
from tacoglow.system import describe_cpu

TINY_T2 = Tacotron2Config(
    symbols_embedding_dim=16,
    encoder_embedding_dim=16,
    encoder_n_convolutions=1,
    attention_rnn_dim=16,
    attention_dim=8,
    attention_location_n_filters=4,
    decoder_rnn_dim=16,
    prenet_dim=8,
    postnet_embedding_dim=8,
    postnet_n_convolutions=2,
)
TINY_WG = WaveGlowConfig(n_flows=2, n_early_every=2, n_layers=1, n_channels=4)
HEADER = [
    "batch",
    "chars",
    "latency s",
    "std s",
    "p50 s",
    "p90 s",
    "p95 s",
    "p99 s",
    "T2 mels/s",
    "WG samples/s",
    "RTF",
    "text s",
    "T2 s",
    "WG s",
    "denoise s",
    "audio s",
    "WG GFLOP/s",
]


def test_bench_inputs_are_the_reference_phrases():
    lines = bench_inputs(4, 64)
    assert len(lines) == 4 and all(line == lines[0] for line in lines) and len(lines[0]) == 63
    assert bench_inputs(1, 128)[0].startswith("The forms of printed letters")
    assert len(bench_inputs(1, 256)) == 1  # the shipped file's blank line is dropped
    built = bench_inputs(8, 128)  # no phrase_8_128.txt: cut from phrase.txt as test_infer.py does
    assert len(built) == 8 and len(built[0]) == 128
    assert len(bench_inputs(1, 400)[0]) == 400
    with pytest.raises(ConfigError):
        bench_inputs(0, 64)


def test_waveglow_flop_count_matches_the_measured_figures():
    # MEASUREMENTS.md: 447.8 GFLOP per second of audio at 256 channels, 1440.7 at 512
    assert waveglow_gflop_per_second(WaveGlowConfig(n_channels=256)) == pytest.approx(447.8, abs=0.05)
    assert waveglow_gflop_per_second(WaveGlowConfig(n_channels=512)) == pytest.approx(1440.7, abs=0.05)


def test_random_models_run_exactly_the_steps():
    state = torch.get_rng_state()
    tacotron2, waveglow = random_models(7, tacotron2_config=TINY_T2, waveglow_config=TINY_WG)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    assert tacotron2.config.max_decoder_steps == 7 and not tacotron2.config.early_stopping
    assert all(float(wn.end.weight.detach().abs().sum()) > 0 for wn in waveglow.WN)
    again, _ = random_models(7, tacotron2_config=TINY_T2, waveglow_config=TINY_WG)
    assert all(torch.equal(a, b) for a, b in zip(tacotron2.state_dict().values(), again.state_dict().values()))
    # the silenced gate never fires: every item runs the full step count
    out = tacotron2.infer(torch.tensor([[5, 6, 7]]), torch.tensor([3]))
    assert out.mel_postnet.shape[2] == 7 and not bool(out.stopped[0])


def test_random_weight_benchmark_rows_and_table():
    settings = BenchSettings(
        batch_sizes=(1, 4), input_lengths=(64,), iterations=2, warmup=1, steps=6, denoise=0.01, measure_peak=False
    )
    report = run_benchmark(settings, tacotron2_config=TINY_T2, waveglow_config=TINY_WG)
    assert [(r.batch_size, r.input_length) for r in report.rows] == [(1, 63), (4, 63)]
    for row in report.rows:
        assert row.latency.n == 2 and row.latency.p50 <= row.latency.max
        assert row.decoder_steps == 6
        assert row.audio_seconds == pytest.approx(row.batch_size * 6 * 256 / 22050)
        assert row.latency.mean == pytest.approx(
            sum(row.stage_seconds[s] for s in ("tacotron2", "waveglow", "denoiser"))
        )
        assert row.rtf == pytest.approx(row.throughput_samples_per_s / 22050)
        assert row.tacotron2_mels_per_s > 0 and row.waveglow_samples_per_s > 0
    table = format_table(report)
    header = table.splitlines()[1]
    assert [c.strip() for c in header.split("  ") if c.strip()] == HEADER
    assert "peak RSS" in table and "random, 6 steps, fp32)" in table and "ceiling" not in table
    # Speed depends on the CPU: the table names it and its bf16 support.
    assert f"machine: {describe_cpu()}" in table.splitlines() and "bf16" in describe_cpu()
    assert report.rows[0].waveglow_gflops == pytest.approx(
        report.rows[0].waveglow_samples_per_s / 22050 * waveglow_gflop_per_second(TINY_WG)
    )
    with pytest.raises(ConfigError, match="iterations"):
        run_benchmark(BenchSettings(iterations=1), tacotron2_config=TINY_T2, waveglow_config=TINY_WG)
    with pytest.raises(ConfigError, match="--steps"):
        run_benchmark(BenchSettings(steps=None, iterations=2), tacotron2_config=TINY_T2, waveglow_config=TINY_WG)


def test_cli_bench_with_checkpoints_prints_table_and_json(tmp_path, golden_dir, capsys):
    tacotron2, waveglow = tmp_path / "t2.pt", tmp_path / "wg.pt"
    save_checkpoint(tacotron2, load_tacotron2(golden_dir / "tacotron2.pt"))
    save_checkpoint(waveglow, load_waveglow(golden_dir / "waveglow.pt"))
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "--tacotron2",
            str(tacotron2),
            "--waveglow",
            str(waveglow),
            "--steps",
            "8",
            "--iterations",
            "2",
            "--warmup",
            "0",
            "--precision",
            "bf16",
            "--compare-fp32",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert [c.strip() for c in printed[1].split("  ") if c.strip()] == HEADER
    assert printed[2].split()[:2] == ["1", "127"]
    assert "8 steps, fp32) + WaveGlow-6 (wg.pt, bf16)" in printed[0]
    data = json.loads(out.read_text())
    assert data["settings"]["precision"] == "bf16" and data["settings"]["steps"] == 8
    row = data["rows"][0]
    assert set(row["latency"]) == {"n", "mean", "std", "p50", "p90", "p95", "p99", "max"}
    assert set(row["stage_seconds"]) == {"text", "tacotron2", "waveglow", "denoiser"}
    assert row["decoder_steps"] == 8 and data["peak_rss_mib"] > 0
    assert data["snr_db_waveglow"] > 20 and data["snr_db_pipeline"] > 10
    assert set(data["matmul_peak_gflops"]) == {"fp32", "bf16"}
    assert "of the bf16 ceiling" in "\n".join(printed)


def test_cli_bench_bad_options(tmp_path, golden_dir, capsys):
    assert main(["bench", "--iterations", "1", "--steps", "2"]) == 2
    assert "iterations: expected at least 2" in capsys.readouterr().err
    assert main(["bench", "--waveglow", str(golden_dir / "waveglow.pt"), "--wn-channels", "512"]) == 2
    assert "--wn-channels sizes the random WaveGlow" in capsys.readouterr().err
    assert main(["bench", "--json", str(tmp_path / "no" / "b.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
