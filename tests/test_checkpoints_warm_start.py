"""Warm start: a fresh model takes the matching tensors of any checkpoint layout.

(The trainer's use of it, from an NVIDIA file with another symbol count, is tested in
tests/training/test_train_loop.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tacoglow.checkpoints import save_checkpoint, warm_start
from tacoglow.errors import CheckpointError
from tacoglow.models.tacotron2 import Tacotron2
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig
from tacoglow.training.config import load_config

from tolerances import reduction_rtol, rel_l2

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_warm_start_refuses_the_other_model(golden_dir: Path) -> None:
    model = Tacotron2(load_config(CONFIGS / "tiny_tacotron2.json").tacotron2)
    with pytest.raises(CheckpointError, match="expected a tacotron2 checkpoint.*found waveglow keys"):
        warm_start(model, golden_dir / "waveglow.pt")
    report = warm_start(model, golden_dir / "tacotron2.pt")  # another size: little fits
    assert len(report.mismatched) > 40 and not report.missing
    assert "encoder.convolutions.2.0.conv.weight" in report.unused  # tiny has 2 encoder convs, the file 3
    assert set(report.loaded) <= {"decoder.gate_layer.linear_layer.bias"} | {
        k for k in model.state_dict() if k.endswith("num_batches_tracked")
    }


def test_warm_start_copies_a_fused_waveglow_into_a_weight_norm_model_exactly(tmp_path: Path) -> None:
    config = WaveGlowConfig(
        n_mel_channels=40,
        n_flows=4,
        n_group=8,
        n_early_every=2,
        n_early_size=2,
        n_layers=2,
        kernel_size=3,
        n_channels=16,
    )
    torch.manual_seed(0)
    source = WaveGlow(config)
    fused = WaveGlow(config)
    fused.load_state_dict(source.state_dict())
    fused.remove_weight_norm()
    save_checkpoint(tmp_path / "fused.pt", fused)
    torch.manual_seed(1)
    target = WaveGlow(config)
    report = warm_start(target, tmp_path / "fused.pt", ignore_layers=["*.end.bias"])
    assert report.ignored and all(key.endswith(".end.bias") for key in report.ignored)
    assert not report.missing and not report.mismatched
    mel, audio = torch.randn(1, 40, 8), torch.randn(1, 8 * 256)
    with torch.no_grad():
        target_z = target(mel, audio)[0]
        for key in report.ignored:  # the ignored biases kept their fresh values; copy them to compare the rest
            source.state_dict()[key].copy_(target.state_dict()[key])
        source_z = source(mel, audio)[0]
    # Weight norm stores v = w and g = ||w||; recomputing w = g * v / ||v|| costs one norm (a reduction
    # of 2 * 16 * 3 = 96 terms) per weight, chained through the 4 flows' 2 layers.
    assert rel_l2(target_z, source_z) < reduction_rtol(96, chained=8)
