"""Data-parallel training: 2 processes under torchrun (gloo, CPU) == 1 process over the same global batch.

WaveGlow is the model for this check: it has neither dropout nor batch norm, so two ranks
with batch 2 see exactly the computation of one process with batch 4 (DDP averages the ranks'
gradients; the loss is a per-sample mean). Tacotron 2 could not match bit for bit: its batch
norm statistics are per rank, its dropout masks are drawn per rank, and its loss averages over
each rank's own padding.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tacoglow.models.waveglow import WaveGlow
from tacoglow.training.config import load_config
from tacoglow.training.loop import Trainer, checkpoint_name
from tacoglow.training.metrics import read_jsonl

pytestmark = pytest.mark.slow  # torchrun starts two Python processes that import torch

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# 8 items, global batch 4: 2 steps an epoch; 3 steps cross an epoch boundary (sampler reshuffle).
SETTINGS = ["data.validation_items=0", "max_steps=3", "device=cpu", "checkpoint.every_epochs=0"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_under_torchrun_match_one_process(corpus: Path, tmp_path: Path) -> None:
    overrides = [f"data.train={corpus}", *SETTINGS]
    args = [arg for item in overrides for arg in ("--set", item)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            "1",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            "-m",
            "tacoglow",
            "-q",
            "train",
            "waveglow",
            "--config",
            str(CONFIGS / "tiny_waveglow.json"),
            "--output",
            str(tmp_path / "ddp"),
            "--batch-size",
            "2",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith(checkpoint_name("waveglow", step=3))  # rank 0 alone prints

    single_config = load_config(CONFIGS / "tiny_waveglow.json", overrides=[*overrides, "batch_size=4"])
    single = Trainer(single_config, tmp_path / "single").fit()

    ddp_steps = read_jsonl(tmp_path / "ddp" / "train.jsonl", "step")
    assert [r["loss"] for r in ddp_steps] == pytest.approx(single.losses, rel=1e-5, abs=1e-6)
    # the global item count is summed over ranks: 4 segments a step either way
    assert [r["step"] for r in ddp_steps] == [1, 2, 3]
    ddp = torch.load(tmp_path / "ddp" / checkpoint_name("waveglow", step=3), weights_only=True)
    one = torch.load(tmp_path / "single" / checkpoint_name("waveglow", step=3), weights_only=True)
    assert (
        ddp["world_size"] == 2 and len(ddp["rng"]) == 2 and not any(k.startswith("module.") for k in ddp["state_dict"])
    )
    torch.manual_seed(single_config.seed)  # the trainer's seeded initialization
    init = WaveGlow(single_config.waveglow).state_dict()
    moved = max(float((one["state_dict"][k] - init[k]).abs().max()) for k in init)
    assert moved > 1e-3  # training changed the weights, so the comparison below means something
    for key, value in one["state_dict"].items():
        torch.testing.assert_close(ddp["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)
