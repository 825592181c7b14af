"""Tacotron2Config: NVIDIA defaults, NVIDIA dict round trips, validation."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from tacoglow.errors import ConfigError
from tacoglow.models.tacotron2 import Tacotron2Config


def test_defaults_are_nvidias_full_size_config(keys_dir):
    reference = json.loads((keys_dir / "tacotron2_keys.json").read_text())["config"]
    config = Tacotron2Config()
    assert config.to_nvidia() == reference
    assert list(config.to_nvidia()) == list(reference)
    assert config.early_stopping is True and config.prenet_dropout == 0.5


def test_nvidia_round_trip_keeps_keys_values_and_order(golden_dir):
    nvidia = torch.load(golden_dir / "tacotron2.pt", weights_only=True)["config"]
    config = Tacotron2Config.from_nvidia(nvidia)
    assert config.encoder_embedding_dim == 48 and config.max_decoder_steps == 40
    assert config.to_nvidia() == nvidia
    assert list(config.to_nvidia()) == list(nvidia)
    assert Tacotron2Config.from_nvidia(config.to_nvidia()) == config


def test_decoder_no_early_stopping_is_negated():
    assert Tacotron2Config.from_nvidia({"decoder_no_early_stopping": True}).early_stopping is False
    assert Tacotron2Config.from_nvidia({"decoder_no_early_stopping": False}).early_stopping is True
    config = Tacotron2Config(early_stopping=False)
    assert config.to_nvidia()["decoder_no_early_stopping"] is True
    assert "early_stopping" not in config.to_nvidia() and "prenet_dropout" not in config.to_nvidia()


def test_missing_nvidia_keys_keep_defaults():
    config = Tacotron2Config.from_nvidia({"n_symbols": 100, "max_decoder_steps": 1000})
    assert config == dataclasses.replace(Tacotron2Config(), n_symbols=100, max_decoder_steps=1000)


def test_unknown_nvidia_keys_are_named():
    with pytest.raises(ConfigError, match=r"unknown keys \['early_stopping', 'wn_channels'\]"):
        Tacotron2Config.from_nvidia({"n_symbols": 148, "wn_channels": 256, "early_stopping": True})


def test_non_bool_decoder_no_early_stopping_is_rejected():
    with pytest.raises(ConfigError, match="decoder_no_early_stopping must be a bool, found 'False'"):
        Tacotron2Config.from_nvidia({"decoder_no_early_stopping": "False"})


def test_float_fields_accept_ints():
    config = Tacotron2Config(gate_threshold=1, prenet_dropout=0)
    assert isinstance(config.gate_threshold, float) and config.gate_threshold == 1.0
    assert isinstance(config.prenet_dropout, float)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"n_frames_per_step": 0}, r"n_frames_per_step: expected a positive int, found 0"),
        ({"max_decoder_steps": -1}, r"max_decoder_steps: expected a positive int, found -1"),
        ({"encoder_n_convolutions": -1}, r"encoder_n_convolutions: expected a positive int, found -1"),
        ({"symbols_embedding_dim": 256}, r"symbols_embedding_dim \(256\) must equal encoder_embedding_dim \(512\)"),
        ({"encoder_kernel_size": 4}, r"encoder_kernel_size: expected an odd kernel size .*found 4"),
        ({"attention_location_kernel_size": 30}, r"attention_location_kernel_size: expected an odd"),
        ({"postnet_kernel_size": 2}, r"postnet_kernel_size: expected an odd"),
        ({"symbols_embedding_dim": 15, "encoder_embedding_dim": 15}, r"encoder_embedding_dim: expected an even"),
        ({"postnet_n_convolutions": 1}, r"postnet_n_convolutions: expected at least 2, found 1"),
        ({"gate_threshold": 1.5}, r"gate_threshold: expected a value in \[0, 1\], found 1.5"),
        ({"p_decoder_dropout": -0.1}, r"p_decoder_dropout: expected a value in \[0, 1\]"),
        ({"prenet_dropout": 1.5}, r"prenet_dropout: expected a value in \[0, 1\), found 1.5"),
        ({"prenet_dropout": 1}, r"prenet_dropout: expected a value in \[0, 1\), found 1.0"),
        ({"scheduled_sampling": 1.5}, r"scheduled_sampling: expected a value in \[0, 1\], found 1.5"),
        ({"n_mel_channels": 80.0}, r"n_mel_channels: expected an int, found 80.0"),
        ({"n_symbols": True}, r"n_symbols: expected an int, found True"),
        ({"mask_padding": "False"}, r"mask_padding: expected a bool, found 'False'"),
        ({"gate_threshold": "0.5"}, r"gate_threshold: expected a number, found '0.5'"),
    ],
)
def test_invalid_settings_raise_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        Tacotron2Config(**overrides)


def test_from_dict_round_trips_and_names_unknown_keys():
    config = Tacotron2Config(n_frames_per_step=3, scheduled_sampling=0.5, prenet_dropout=0.0)
    assert Tacotron2Config.from_dict(dataclasses.asdict(config)) == config
    assert Tacotron2Config.from_dict({"n_symbols": 100}) == Tacotron2Config(n_symbols=100)
    with pytest.raises(ConfigError, match=r"unknown keys \['attention_forcing'\]"):
        Tacotron2Config.from_dict({"attention_forcing": True})
    with pytest.raises(ConfigError, match="n_symbols: expected an int"):
        Tacotron2Config.from_dict({"n_symbols": "148"})


def test_removed_field_loads_at_its_neutral_value_and_is_refused_otherwise():
    """Checkpoints saved before scheduled_sampling_gradient was removed store it (the bundled voice:
    False). Off, it changes nothing and is dropped; on, the checkpoint asked for behaviour that no
    longer exists, so loading it must fail rather than silently train or decode differently."""
    stored = {**dataclasses.asdict(Tacotron2Config()), "scheduled_sampling_gradient": False}
    assert Tacotron2Config.from_dict(stored) == Tacotron2Config()
    for value in (True, 0, "False"):
        with pytest.raises(ConfigError, match=rf"scheduled_sampling_gradient was removed .*found {value!r}"):
            Tacotron2Config.from_dict({"scheduled_sampling_gradient": value})


def test_a_checkpoint_with_a_removed_setting_on_fails_to_load_with_its_name(golden_dir, tmp_path):
    from tacoglow.checkpoints import load_tacotron2, save_checkpoint
    from tacoglow.errors import CheckpointError

    model = load_tacotron2(golden_dir / "tacotron2.pt")
    path = save_checkpoint(tmp_path / "t2.pt", model)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["config"]["scheduled_sampling_gradient"] = False
    torch.save(checkpoint, path)
    assert load_tacotron2(path).config == model.config
    checkpoint["config"]["scheduled_sampling_gradient"] = True
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="scheduled_sampling_gradient was removed"):
        load_tacotron2(path)
