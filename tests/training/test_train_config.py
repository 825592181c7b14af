"""Training config (YAML/JSON + overrides, errors), the reference's LR schedule, the rank context."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from tacoglow.audio import MelConfig
from tacoglow.errors import ConfigError
from tacoglow.models.tacotron2 import Tacotron2Config
from tacoglow.models.waveglow import WaveGlowConfig
from tacoglow.training.config import TrainConfig, apply_overrides, default_config, load_config
from tacoglow.training.distributed import DistributedContext, all_reduce_mean, init_distributed
from tacoglow.training.loop import checkpoint_name
from tacoglow.training.schedule import learning_rate

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_are_the_reference_recipe() -> None:
    t2, wg = default_config("tacotron2"), default_config("waveglow")
    assert (t2.optim.learning_rate, t2.optim.weight_decay, t2.optim.grad_clip_thresh) == (1e-3, 1e-6, 1.0)
    assert (t2.optim.anneal_steps, t2.optim.anneal_factor, t2.epochs, t2.batch_size) == (
        [500, 1000, 1500],
        0.1,
        1501,
        48,
    )
    assert t2.optim.schedule == wg.optim.schedule == "step"
    assert (wg.optim.learning_rate, wg.optim.weight_decay, wg.optim.grad_clip_thresh) == (1e-4, 0.0, None)
    assert (wg.epochs, wg.batch_size, wg.data.segment_length, wg.loss.sigma) == (1001, 4, 8000, 1.0)
    assert t2.tacotron2 == Tacotron2Config() and wg.waveglow == WaveGlowConfig() and t2.mel == MelConfig()
    assert t2.loss.guided_attention_weight == 0.0 and t2.amp == "off" and t2.tf32
    assert t2.effective_grad_clip == 1.0
    assert wg.effective_grad_clip is None
    assert load_config(model="waveglow", overrides=["amp=fp16"]).effective_grad_clip == 65504.0


@pytest.mark.parametrize(
    "name",
    [
        "tacotron2_ljspeech.yaml",
        "waveglow_ljspeech.yaml",
        "tacotron2_ljspeech_amp.yaml",
        "waveglow_ljspeech_amp.yaml",
        "tiny_tacotron2.json",
        "tiny_waveglow.json",
        "voice_tacotron2.json",
        "voice_waveglow.json",
    ],
)
def test_shipped_configs_load(name: str) -> None:
    if name.endswith(".yaml"):
        pytest.importorskip("yaml", reason="YAML configs need PyYAML (the 'yaml' extra)")
    config = load_config(CONFIGS / name)
    assert config.model in name
    if "amp" in name:
        assert config.amp == "fp16" and config.optim.schedule == "half_decade"
    if name == "voice_tacotron2.json":  # the bundled voice's recipe: x0.3 after epoch 30, as before
        assert (config.optim.schedule, config.optim.anneal_steps) == ("half_decade", [30])


def test_yaml_json_and_overrides_agree(tmp_path: Path) -> None:
    pytest.importorskip("yaml", reason="YAML configs need PyYAML (the 'yaml' extra)")
    settings = {
        "model": "waveglow",
        "batch_size": 10,
        "waveglow": {"n_channels": 256},
        "optim": {"learning_rate": 2e-4},
        "mel": {"mel_fmax": None},
    }
    (tmp_path / "c.json").write_text(json.dumps(settings))
    (tmp_path / "c.yaml").write_text(
        "model: waveglow\nbatch_size: 10\nwaveglow: {n_channels: 256}\n"
        "optim:\n  learning_rate: 2e-4   # YAML 1.1 reads this as a string\n"
        "mel: {mel_fmax: null}\n"
    )
    from_json, from_yaml = load_config(tmp_path / "c.json"), load_config(tmp_path / "c.yaml")
    assert from_json == from_yaml
    assert from_json.waveglow.n_channels == 256 and from_json.mel.mel_fmax is None
    assert from_json.optim.learning_rate == 2e-4 and from_json.optim.weight_decay == 0.0  # model default kept
    changed = load_config(
        tmp_path / "c.yaml",
        overrides=["optim.anneal_steps=[10, 20]", "amp=bf16", "data.cleaners=[basic_cleaners]", "seed=7"],
    )
    assert changed.optim.anneal_steps == [10, 20] and changed.amp == "bf16" and changed.seed == 7
    assert changed.data.cleaners == ["basic_cleaners"]
    assert TrainConfig.from_dict(changed.to_dict()) == changed
    assert json.loads(json.dumps(changed.to_dict())) == changed.to_dict()  # plain, checkpoint-safe


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["optim.lr=1"], r"unknown setting\(s\) optim.lr \(known in optim: anneal_factor"),
        (["batchsize=4"], r"unknown setting\(s\) batchsize"),
        (["tacotron2.n_layers=4"], r"unknown setting\(s\) tacotron2.n_layers"),
        (["waveglow.n_flows=4"], "waveglow: section given for a tacotron2 run"),
        (["batch_size=four"], "batch_size: expected an integer, found 'four'"),
        (["optim.learning_rate=fast"], "optim.learning_rate: expected a number"),
        (["tf32=maybe"], "tf32: expected true or false"),
        (["amp=fp8"], "amp: expected one of off, fp16, bf16"),
        (["device=tpu"], "device: expected one of auto, cpu, cuda, found 'tpu'"),
        (["data.on_bad_items=ignore"], "data.on_bad_items: expected one of skip, stop"),
        (["optim.anneal_factor=2"], r"optim.anneal_factor: expected a value in \(0, 1\]"),
        (["optim.learning_rate=0"], "optim.learning_rate: expected a positive number, found 0.0"),
        (["optim.learning_rate=.nan"], "optim.learning_rate: expected a positive number, found nan"),
        (["optim.grad_clip_thresh=-1"], "optim.grad_clip_thresh: expected a positive number or null, found -1.0"),
        (["optim.anneal_steps=[10, -1]"], r"optim.anneal_steps\[1\]: expected an integer >= 0, found -1"),
        (["batch_size=0"], "batch_size: expected an integer >= 1, found 0"),
        (["checkpoint.every_steps=-2"], "checkpoint.every_steps: expected an integer >= 0, found -2"),
        (["optim.schedule=cosine"], "optim.schedule: expected one of step, half_decade, found 'cosine'"),
        (["optim.anneal_factor=0.3"], "optim.anneal_factor: 0.3 no longer selects NVIDIA's AMP schedule by itself"),
        (
            ["optim.schedule=half_decade", "optim.anneal_factor=0.5"],
            "optim.anneal_factor: unused by optim.schedule half_decade",
        ),
        (["loss.mel_loss=l1"], "loss.mel_loss: this setting was removed with its experiment"),
        (["loss.attention_forcing_weight=0"], "loss.attention_forcing_weight: this setting was removed"),
        (["optim.train_only=[postnet]"], "optim.train_only: this setting was removed"),
        (["loss.guided_attention_weight=-1"], "loss.guided_attention_weight: expected a number >= 0"),
        (["tacotron2.n_mel_channels=40"], r"tacotron2.n_mel_channels \(40\) must equal mel.n_mel_channels \(80\)"),
        (["tacotron2.encoder_kernel_size=4"], "encoder_kernel_size: expected an odd kernel size"),
        (["optim=3"], "optim: expected a section of settings"),
        (["batch_size"], "expected key.sub=value"),
        (["data.train.x=1"], r"data.train: expected a string, found \{'x': 1\}"),
    ],
)
def test_bad_settings_are_named(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_model_specific_checks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="guided attention applies to Tacotron 2 only"):
        load_config(model="waveglow", overrides=["loss.guided_attention_weight=1"])
    with pytest.raises(ConfigError, match="WaveGlow upsamples mels by a fixed 256"):
        load_config(model="waveglow", overrides=["mel.hop_length=200"])
    with pytest.raises(ConfigError, match="segment_length: expected a multiple of waveglow.n_group"):
        load_config(model="waveglow", overrides=["data.segment_length=8001"])
    (tmp_path / "wg.json").write_text('{"model": "waveglow"}')
    with pytest.raises(ConfigError, match="model is 'waveglow', but a tacotron2 run was asked for"):
        load_config(tmp_path / "wg.json", model="tacotron2")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.json").write_text("{model: ")
    with pytest.raises(ConfigError, match="bad.json: not valid JSON"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a mapping of settings, found list"):
        load_config(tmp_path / "list.json")


def test_without_pyyaml_json_works_and_yaml_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now fails
    (tmp_path / "c.json").write_text('{"model": "waveglow", "batch_size": 3}')
    config = load_config(tmp_path / "c.json", overrides=["optim.anneal_steps=[5]", "data.train=/data/LJ Speech"])
    assert (config.batch_size, config.optim.anneal_steps, config.data.train) == (3, [5], "/data/LJ Speech")
    (tmp_path / "c.yaml").write_text("model: waveglow\n")
    with pytest.raises(ConfigError, match=r"c.yaml: reading YAML needs PyYAML \(pip install 'tacoglow\[yaml\]'\)"):
        load_config(tmp_path / "c.yaml")


def test_apply_overrides_builds_nested_sections() -> None:
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2", "d.e.f=[1, 2]", "g=null"]) == {
        "a": {"b": 1, "c": 2},
        "d": {"e": {"f": [1, 2]}},
        "g": None,
    }
    with pytest.raises(ConfigError, match="a.b is a value, not a section"):
        apply_overrides({"a": {"b": 1}}, ["a.b.c=2"])


def test_learning_rate_schedule_matches_the_reference() -> None:
    steps = [500, 1000, 1500]
    assert [learning_rate(e, 1e-3, steps, "step", 0.1) for e in (0, 499)] == [1e-3, 1e-3]
    assert learning_rate(500, 1e-3, steps, "step", 0.1) == pytest.approx(1e-4, rel=1e-12)
    assert learning_rate(1500, 1e-3, steps, "step", 0.1) == pytest.approx(1e-6, rel=1e-12)
    # the AMP recipe: 1, 0.3, 0.1, 0.03 (not 0.3**p = 0.09, 0.027)
    amp = [learning_rate(e, 1.0, steps, "half_decade") for e in (0, 500, 1000, 1500)]
    assert amp == pytest.approx([1.0, 0.3, 0.1, 0.03], rel=1e-12)
    # "step" with 0.3 really is x0.3 per anneal epoch now
    assert [learning_rate(e, 1.0, steps, "step", 0.3) for e in (500, 1000)] == pytest.approx([0.3, 0.09], rel=1e-12)
    assert learning_rate(10, 1.0, [], "step", 0.1) == 1.0
    assert learning_rate(3, 2.0, [1, 2], "step", 0.5) == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="anneal_factor"):
        learning_rate(0, 1.0, [1], "step", 0.0)
    with pytest.raises(ConfigError, match="optim.schedule: expected step or half_decade"):
        learning_rate(0, 1.0, [1], "cosine")  # type: ignore[arg-type]


def test_configs_stored_by_older_versions_still_load(caplog: pytest.LogCaptureFixture) -> None:
    """A checkpoint's train_config from before optim.schedule and the removal of the experiments."""
    old = default_config("tacotron2").to_dict()
    old["optim"].pop("schedule")
    old["optim"].update(anneal_factor=0.3, anneal_steps=[30], train_only=[])
    old["loss"].update(attention_forcing_weight=0.0, mel_loss="mse")
    old["tacotron2"]["scheduled_sampling_gradient"] = False
    config = TrainConfig.from_dict(old)
    assert (config.optim.schedule, config.optim.anneal_steps) == ("half_decade", [30])
    assert [
        learning_rate(e, 1.0, [30], config.optim.schedule, config.optim.anneal_factor) for e in (29, 30)
    ] == pytest.approx([1.0, 0.3], rel=1e-12)  # what the old magic 0.3 gave
    assert not caplog.records
    old["optim"]["anneal_factor"] = 0.1  # the FP32 recipe stays a step schedule
    old["loss"]["mel_loss"] = "l1"  # an experiment's run: loads, with a warning that it is ignored
    config = TrainConfig.from_dict(old)
    assert (config.optim.schedule, config.optim.anneal_factor) == ("step", 0.1)
    assert any("loss.mel_loss = 'l1' belongs to a removed experiment" in r.getMessage() for r in caplog.records)
    assert TrainConfig.from_dict(config.to_dict()) == config  # the current form round-trips


def test_validate_checks_a_config_built_in_python() -> None:
    config = default_config("tacotron2")
    config.batch_size = 0
    with pytest.raises(ConfigError, match="batch_size: expected an integer >= 1, found 0"):
        config.validate()
    config = default_config("tacotron2")
    config.amp = "fp8"  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="amp: expected one of off, fp16, bf16"):
        config.validate()


def test_single_process_context_and_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    ctx = init_distributed("cpu")
    assert ctx == DistributedContext() and ctx.is_main and not ctx.is_distributed
    assert float(all_reduce_mean(torch.tensor(3.0), ctx)) == 3.0
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ConfigError, match="MASTER_ADDR.*not set: launch with torchrun"):
        init_distributed("cpu")
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ConfigError, match="RANK: expected an integer, found 'x'"):
        init_distributed("cpu")
    assert checkpoint_name("tacotron2", epoch=3) == "checkpoint_tacotron2_epoch3.pt"
    assert checkpoint_name("waveglow", step=40) == "checkpoint_waveglow_step40.pt"
    assert checkpoint_name("waveglow", last=True) == "checkpoint_waveglow_last.pt"
