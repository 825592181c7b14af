"""prepare_for_inference: the one entry to the speed paths, dispatching by model kind."""

import pytest
import torch

from tacoglow.errors import ConfigError
from tacoglow.inference import prepare_for_inference
from tacoglow.inference.fast_tacotron2 import PreparedTacotron2
from tacoglow.inference.fast_waveglow import PreparedWaveGlow
from tacoglow.models import Tacotron2, Tacotron2Config, WaveGlow, WaveGlowConfig


def test_each_model_kind_gets_its_prepared_form_and_stays_unchanged():
    tacotron2 = Tacotron2(
        Tacotron2Config(
            n_symbols=20,
            symbols_embedding_dim=16,
            encoder_embedding_dim=16,
            attention_rnn_dim=16,
            decoder_rnn_dim=16,
            prenet_dim=8,
            attention_dim=8,
            postnet_embedding_dim=8,
            attention_location_n_filters=4,
        )
    ).eval()
    before = {k: v.clone() for k, v in tacotron2.state_dict().items()}
    fast = prepare_for_inference(tacotron2, torch.float32, "cpu")
    assert isinstance(fast, PreparedTacotron2)
    assert all(torch.equal(before[k], v) for k, v in tacotron2.state_dict().items())
    waveglow = WaveGlow(
        WaveGlowConfig(n_flows=2, n_group=4, n_early_every=1, n_early_size=2, n_layers=2, n_channels=8)
    ).eval()
    assert isinstance(prepare_for_inference(waveglow), PreparedWaveGlow)


def test_other_modules_are_refused_by_name():
    with pytest.raises(ConfigError, match="expected a Tacotron2 or a WaveGlow, found Linear"):
        prepare_for_inference(torch.nn.Linear(2, 2))
