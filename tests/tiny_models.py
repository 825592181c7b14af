"""Configs of tiny Tacotron 2 and WaveGlow models for tests that save, load and convert checkpoints.

Imported by name (``from tiny_models import tiny_tacotron2_config``) like ``tolerances``.
"""

from __future__ import annotations

from typing import Any

from tacoglow.models.tacotron2 import Tacotron2Config
from tacoglow.models.waveglow import WaveGlowConfig


def tiny_tacotron2_config(**changes: Any) -> Tacotron2Config:
    """A Tacotron 2 of a few thousand parameters with NVIDIA's symbol table and 10 mel channels."""
    base: dict[str, Any] = dict(
        n_symbols=148,
        symbols_embedding_dim=16,
        encoder_embedding_dim=16,
        encoder_n_convolutions=2,
        encoder_kernel_size=3,
        attention_rnn_dim=24,
        attention_dim=8,
        attention_location_n_filters=4,
        attention_location_kernel_size=7,
        decoder_rnn_dim=24,
        prenet_dim=12,
        postnet_embedding_dim=8,
        postnet_kernel_size=3,
        postnet_n_convolutions=3,
        n_mel_channels=10,
        max_decoder_steps=12,
        prenet_dropout=0.0,
    )
    base.update(changes)
    return Tacotron2Config(**base)


def tiny_waveglow_config(**changes: Any) -> WaveGlowConfig:
    """A WaveGlow of 4 flows with 2-layer, 8-channel WNs for 10 mel channels."""
    base: dict[str, Any] = dict(
        n_mel_channels=10,
        n_flows=4,
        n_group=8,
        n_early_every=2,
        n_early_size=2,
        n_layers=2,
        kernel_size=3,
        n_channels=8,
    )
    base.update(changes)
    return WaveGlowConfig(**base)
