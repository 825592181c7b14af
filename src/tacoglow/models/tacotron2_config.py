"""``Tacotron2Config``: Tacotron 2's hyper-parameters, in NVIDIA's names, with its checkpoint dict forms.

Two dict forms are read: tacoglow's (``dataclasses.asdict``, :meth:`Tacotron2Config.from_dict`)
and NVIDIA's constructor keywords (:meth:`Tacotron2Config.from_nvidia`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tacoglow.errors import ConfigError

__all__ = ["Tacotron2Config"]

# NVIDIA's constructor keywords, in the order its config dicts list them.
_NVIDIA_KEYS = (
    "mask_padding",
    "n_mel_channels",
    "n_symbols",
    "symbols_embedding_dim",
    "encoder_kernel_size",
    "encoder_n_convolutions",
    "encoder_embedding_dim",
    "attention_rnn_dim",
    "attention_dim",
    "attention_location_n_filters",
    "attention_location_kernel_size",
    "n_frames_per_step",
    "decoder_rnn_dim",
    "prenet_dim",
    "max_decoder_steps",
    "gate_threshold",
    "p_attention_dropout",
    "p_decoder_dropout",
    "postnet_embedding_dim",
    "postnet_kernel_size",
    "postnet_n_convolutions",
    "decoder_no_early_stopping",
)

# Fields of experiments that were removed, with the value that meant "off". Checkpoints saved
# before the removal store them (the bundled voice: scheduled_sampling_gradient=False); at that
# value they load unchanged, any other value is refused rather than silently ignored.
_REMOVED_FIELDS: dict[str, Any] = {"scheduled_sampling_gradient": False}


@dataclass
class Tacotron2Config:
    """Hyper-parameters of ``Tacotron2``; NVIDIA's constructor names and full-size defaults.

    Attributes:
        mask_padding: in ``forward``, set mels to 0 and gate logits to 1e3 at frames past each
            item's mel length (default False).
        n_mel_channels: mel bands, n_mels (default 80).
        n_symbols: size of the symbol table / embedding rows (default 148).
        symbols_embedding_dim: embedding width; must equal ``encoder_embedding_dim`` (default 512).
        encoder_kernel_size: width of the encoder convolutions, odd (default 5).
        encoder_n_convolutions: number of encoder conv + batch-norm blocks (default 3).
        encoder_embedding_dim: encoder width; the BiLSTM has half of it per direction (default 512).
        attention_rnn_dim: hidden size of the attention LSTMCell (default 1024).
        attention_dim: width of the attention energies' hidden space (default 128).
        attention_location_n_filters: filters of the location convolution (default 32).
        attention_location_kernel_size: width of the location convolution, odd (default 31).
        n_frames_per_step: mel frames predicted per decoder step (default 1, the reference's only
            working value; larger values group frames, see ``tacoglow.models.tacotron2``).
        decoder_rnn_dim: hidden size of the decoder LSTMCell (default 1024).
        prenet_dim: width of both prenet layers (default 256).
        max_decoder_steps: cap on inference decoder steps (default 2000, the reference CLI's).
        gate_threshold: an item keeps decoding while sigmoid(gate) <= this (default 0.5).
        p_attention_dropout: dropout on the attention LSTM output, training only (default 0.1).
        p_decoder_dropout: dropout on the decoder LSTM output, training only (default 0.1).
        postnet_embedding_dim: channels of the inner postnet convolutions (default 512).
        postnet_kernel_size: width of the postnet convolutions, odd (default 5).
        postnet_n_convolutions: postnet conv + batch-norm blocks, at least 2 (default 5).
        early_stopping: stop inference once every item's gate fired (default True). NVIDIA stores
            the negation, ``decoder_no_early_stopping``.
        prenet_dropout: probability of the prenet dropout, which is on in training *and* inference
            as in the reference, in [0, 1) (default 0.5; 0 turns it off for deterministic output).
        scheduled_sampling: the decoder-input policy in training: the probability that a decoder
            step of an item is fed the model's own previous frame group (a constant, no gradient
            flows back through it) instead of the ground truth, as in Bengio et al. 2015; it trains
            the decoder on the inputs it meets when decoding freely (default 0, the reference's
            pure teacher forcing; the bundled voice was trained with 0.5).
    """

    mask_padding: bool = False
    n_mel_channels: int = 80
    n_symbols: int = 148
    symbols_embedding_dim: int = 512
    encoder_kernel_size: int = 5
    encoder_n_convolutions: int = 3
    encoder_embedding_dim: int = 512
    attention_rnn_dim: int = 1024
    attention_dim: int = 128
    attention_location_n_filters: int = 32
    attention_location_kernel_size: int = 31
    n_frames_per_step: int = 1
    decoder_rnn_dim: int = 1024
    prenet_dim: int = 256
    max_decoder_steps: int = 2000
    gate_threshold: float = 0.5
    p_attention_dropout: float = 0.1
    p_decoder_dropout: float = 0.1
    postnet_embedding_dim: int = 512
    postnet_kernel_size: int = 5
    postnet_n_convolutions: int = 5
    early_stopping: bool = True
    prenet_dropout: float = 0.5
    scheduled_sampling: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "bool" and not isinstance(value, bool):
                raise ConfigError(f"Tacotron2Config.{f.name}: expected a bool, found {value!r}")
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"Tacotron2Config.{f.name}: expected an int, found {value!r}")
            if f.type == "float":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"Tacotron2Config.{f.name}: expected a number, found {value!r}")
                setattr(self, f.name, float(value))
            if f.type == "int" and value < (0 if f.name == "encoder_n_convolutions" else 1):
                raise ConfigError(f"Tacotron2Config.{f.name}: expected a positive int, found {value}")
        for name in ("encoder_kernel_size", "attention_location_kernel_size", "postnet_kernel_size"):
            if getattr(self, name) % 2 != 1:
                raise ConfigError(
                    f"Tacotron2Config.{name}: expected an odd kernel size "
                    f"(same-length padding), found {getattr(self, name)}"
                )
        if self.symbols_embedding_dim != self.encoder_embedding_dim:
            raise ConfigError(
                f"Tacotron2Config: symbols_embedding_dim ({self.symbols_embedding_dim}) must "
                f"equal encoder_embedding_dim ({self.encoder_embedding_dim})"
            )
        if self.encoder_embedding_dim % 2 != 0:
            raise ConfigError(
                f"Tacotron2Config.encoder_embedding_dim: expected an even width (BiLSTM "
                f"halves), found {self.encoder_embedding_dim}"
            )
        if self.postnet_n_convolutions < 2:
            raise ConfigError(
                f"Tacotron2Config.postnet_n_convolutions: expected at least 2, found {self.postnet_n_convolutions}"
            )
        for name in ("gate_threshold", "p_attention_dropout", "p_decoder_dropout", "scheduled_sampling"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"Tacotron2Config.{name}: expected a value in [0, 1], found {getattr(self, name)}")
        # 1 would drop every unit, scaling by 1 / (1 - p) = inf: the decoder would never see its frames.
        if not 0.0 <= self.prenet_dropout < 1.0:
            raise ConfigError(
                f"Tacotron2Config.prenet_dropout: expected a value in [0, 1), found {self.prenet_dropout}"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Tacotron2Config:
        """Build from a dict such as ``dataclasses.asdict`` wrote (a tacoglow checkpoint's ``config``).

        Missing keys keep their defaults. A field of a removed experiment is dropped when it holds
        the value that meant "off" and refused otherwise, so old checkpoints load unchanged and
        none silently loses a setting it was trained with.

        Raises:
            ConfigError: on unknown keys, a removed field with a non-neutral value, or a bad value.
        """
        values = dict(values)
        for name, neutral in _REMOVED_FIELDS.items():
            if name in values:
                value = values.pop(name)
                if type(value) is not type(neutral) or value != neutral:
                    raise ConfigError(
                        f"Tacotron2Config.{name} was removed (an experiment that did not help); "
                        f"only {neutral!r} loads, found {value!r}"
                    )
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"Tacotron2Config: unknown keys {unknown}")
        return cls(**values)

    @classmethod
    def from_nvidia(cls, d: Mapping[str, Any]) -> Tacotron2Config:
        """Build from NVIDIA's constructor-keyword dict (a checkpoint's ``config``).

        Missing keys keep their defaults (older checkpoints lack ``decoder_no_early_stopping``);
        unknown keys raise ``ConfigError`` naming them. ``prenet_dropout`` and
        ``scheduled_sampling`` keep their defaults (0.5, and pure teacher forcing).
        """
        unknown = sorted(set(d) - set(_NVIDIA_KEYS))
        if unknown:
            raise ConfigError(f"Tacotron 2 NVIDIA config: unknown keys {unknown}")
        kwargs = {k: v for k, v in d.items() if k != "decoder_no_early_stopping"}
        if "decoder_no_early_stopping" in d:
            no_early = d["decoder_no_early_stopping"]
            if not isinstance(no_early, bool):
                raise ConfigError(
                    f"Tacotron 2 NVIDIA config: decoder_no_early_stopping must be a bool, found {no_early!r}"
                )
            kwargs["early_stopping"] = not no_early
        return cls(**kwargs)

    def to_nvidia(self) -> dict[str, Any]:
        """Return NVIDIA's constructor-keyword dict: exactly its 22 keys, in its order.

        ``prenet_dropout`` (fixed at 0.5 there) and ``scheduled_sampling`` (teacher forcing always,
        there) have no NVIDIA counterpart and are left out.
        """
        values = dataclasses.asdict(self)
        values["decoder_no_early_stopping"] = not self.early_stopping
        return {k: values[k] for k in _NVIDIA_KEYS}
