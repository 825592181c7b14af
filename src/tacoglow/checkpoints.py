"""The one reader and writer of every checkpoint layout tacoglow meets.

Layouts read (ARCHITECTURE_FACTS §5.9, checkpoint_layout.md §3):

- **tacoglow files** — a dict::

      {"format": "tacoglow", "format_version": 1, "kind": "tacotron2" | "waveglow",
       "config": asdict(model config), "mel_config": MelConfig.to_dict(),
       "symbols": [148 symbols], "text_frontend": {"cleaners", "arpabet", "phone_repeats"} (Tacotron 2 only),
       "state_dict": {...},
       ... training extras: "step", "epoch", "optimizer", "scaler", "rng", "train_config" ...}

  The file alone rebuilds its model and states its mel contract (sample rate, hop, n_mels,
  fmin/fmax), so a mismatched Tacotron 2 / WaveGlow pair can be refused.
- **NVIDIA training checkpoints** — ``{"state_dict", "config", "epoch", "optimizer", ...}``;
  keys may carry DDP's ``module.`` prefix (and the torch.hub quirk ``module.1.``).
- **Published NGC files** — the same without optimizer state; ``config`` may be missing and
  tensors may be fp16 or mixed precision.
- **Bare state_dicts** — just the tensors.

Whenever no config is stored, every shape hyper-parameter is read off the tensors (so a
256-channel WaveGlow simply loads). WaveGlow weights may come in weight-norm form
(``weight_g``/``weight_v``) or fused (``weight``). Files are read with
``torch.load(..., weights_only=True)``: no pickled code from a file is ever executed. Files are
written with :func:`tacoglow.fileio.atomic_write`, so a crash never leaves a broken checkpoint.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import os
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from tacoglow.audio import MelConfig
from tacoglow.errors import CheckpointError, ConfigError
from tacoglow.fileio import atomic_write
from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig
from tacoglow.text import TextFrontend
from tacoglow.text import symbols as DEFAULT_SYMBOLS

__all__ = [
    "FORMAT_VERSION",
    "LoadedModel",
    "read_checkpoint",
    "detect_kind",
    "load_model",
    "load_tacotron2",
    "load_waveglow",
    "tacotron2_config_from_state_dict",
    "waveglow_config_from_state_dict",
    "save_checkpoint",
    "export_nvidia",
    "atomic_save",
    "unwrap_model",
    "state_dict_of",
    "to_weight_norm_form",
    "WarmStartReport",
    "warm_start",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
Source = str | os.PathLike | Mapping[str, Any]
_KIND_NAMES = {"tacotron2": "Tacotron 2", "waveglow": "WaveGlow"}
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")
# Keys only one kind has (by prefix), to name a checkpoint of a kind that lacks a required key.
_KIND_PREFIXES = {
    "tacotron2": ("embedding.", "encoder.", "decoder.", "postnet."),
    "waveglow": ("upsample.", "WN.", "convinv."),
}
_REQUIRED_KEY = {"tacotron2": "embedding.weight", "waveglow": "upsample.weight"}
# Layer-count settings and the pattern of their layers' keys (group "i": the layer index).
_LAYER_KEYS = {
    "tacotron2": {
        "encoder_n_convolutions": re.compile(r"^encoder\.convolutions\.(?P<i>\d+)\."),
        "postnet_n_convolutions": re.compile(r"^postnet\.convolutions\.(?P<i>\d+)\."),
    },
    "waveglow": {
        "n_flows": re.compile(r"^(?:WN|convinv)\.(?P<i>\d+)\."),
        "n_layers": re.compile(r"^WN\.\d+\.(?:in_layers|res_skip_layers)\.(?P<i>\d+)\."),
    },
}
_WN_LAYER = re.compile(r"^WN\.\d+\.(start|in_layers\.\d+|cond_layers\.\d+|res_skip_layers\.\d+)$")


class LoadedModel(NamedTuple):
    """A model read from a checkpoint, with what the file says about it.

    Attributes:
        model: the model, on CPU, in eval mode.
        kind: "tacotron2" or "waveglow".
        mel_config: the mel contract (NVIDIA's defaults for files that do not store one).
        symbols: the symbol table the embedding was trained with (Tacotron 2), else None.
        text_frontend: how text becomes ids for this Tacotron 2 (NVIDIA files: letters with
            english_cleaners), else None.
        source_format: "tacoglow" or "nvidia".
        checkpoint: the raw checkpoint dict (for optimizer state, step, ... when resuming).
    """

    model: nn.Module
    kind: str
    mel_config: MelConfig
    symbols: list[str] | None
    source_format: str
    checkpoint: dict
    text_frontend: TextFrontend | None = None

    @property
    def config(self) -> Tacotron2Config | WaveGlowConfig:
        """The model's config."""
        assert isinstance(self.model, (Tacotron2, WaveGlow))  # load_model builds only these
        return self.model.config


# ---------------------------------------------------------------------------------------------
# Reading


def _name(source: Source) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else "checkpoint dict"


def read_checkpoint(source: Source) -> dict:
    """Read a checkpoint file (or pass a dict through) as a plain dict, safely.

    Raises:
        CheckpointError: missing file, truncated/corrupt file, pickled objects that
            ``weights_only`` refuses, or content that is not a dict of tensors.
    """
    if not isinstance(source, (str, os.PathLike)):
        if not isinstance(source, Mapping):
            raise CheckpointError(f"expected a checkpoint path or dict, found {type(source).__name__}")
        return dict(source)
    path = Path(source)
    if not path.exists():
        raise CheckpointError(f"{path}: file not found")
    if path.is_dir():
        raise CheckpointError(f"{path}: expected a checkpoint file, found a directory")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message advises weights_only=False ("will likely succeed"): never repeat that.
        found = _UNSAFE_GLOBAL.search(str(exc))
        if found:
            raise CheckpointError(
                f"{path}: refusing to load pickled Python objects (found the global '{found.group(1)}')"
            ) from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (corrupt or truncated)") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types on damaged files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        detail = "" if "weights_only" in first else f": {first}"
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (corrupt or truncated){detail}") from None
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: expected a checkpoint dict, found {type(data).__name__}")
    return dict(data)


def _strip_prefixes(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Drop DDP's ``module.`` (and torch.hub's ``module.1.``) from every key, as the reference."""
    if any("module." in key for key in state):
        return {key.replace("module.1.", "").replace("module.", ""): value for key, value in state.items()}
    return dict(state)


def state_dict_of(checkpoint: Mapping[str, Any], name: str) -> dict[str, torch.Tensor]:
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"{name}: expected a 'state_dict' of tensors, found nothing usable")
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        keys = ", ".join(list(map(str, state))[:4])
        raise CheckpointError(f"{name}: unknown checkpoint layout: no tensors (first keys: {keys})")
    return _strip_prefixes(tensors)


def detect_kind(state: Mapping[str, Any]) -> str | None:
    """Return "tacotron2", "waveglow" or None from a (prefix-stripped) state_dict's keys."""
    keys = set(state)
    if "embedding.weight" in keys and any(k.startswith("decoder.") for k in keys):
        return "tacotron2"
    if "upsample.weight" in keys and any(k.startswith("WN.") for k in keys):
        return "waveglow"
    return None


def _count(state: Mapping[str, Any], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for k in state if (m := regex.match(k))})


def _get(state: Mapping[str, torch.Tensor], key: str, name: str) -> torch.Tensor:
    if key not in state:
        raise CheckpointError(f"{name}: cannot infer the model size: key '{key}' is missing")
    return state[key]


def tacotron2_config_from_state_dict(
    state: Mapping[str, torch.Tensor], name: str = "state_dict", **defaults: Any
) -> Tacotron2Config:
    """Every Tacotron 2 shape hyper-parameter, read off the tensors.

    Settings that leave no trace in the tensors (dropouts, thresholds, max steps) take
    ``defaults`` or the reference's defaults.
    """
    embedding = _get(state, "embedding.weight", name)
    conv0 = _get(state, "encoder.convolutions.0.0.conv.weight", name)
    prenet0 = _get(state, "decoder.prenet.layers.0.linear_layer.weight", name)
    location = _get(state, "decoder.attention_layer.location_layer.location_conv.conv.weight", name)
    postnet0 = _get(state, "postnet.convolutions.0.0.conv.weight", name)
    n_mel = postnet0.shape[1]
    shapes = dict(
        n_symbols=embedding.shape[0],
        symbols_embedding_dim=embedding.shape[1],
        encoder_n_convolutions=_count(state, r"^encoder\.convolutions\.(\d+)\.0\.conv\.weight$"),
        encoder_embedding_dim=conv0.shape[0],
        encoder_kernel_size=conv0.shape[2],
        n_mel_channels=n_mel,
        n_frames_per_step=prenet0.shape[1] // n_mel,
        prenet_dim=prenet0.shape[0],
        attention_rnn_dim=_get(state, "decoder.attention_rnn.weight_hh", name).shape[1],
        attention_dim=_get(state, "decoder.attention_layer.query_layer.linear_layer.weight", name).shape[0],
        attention_location_n_filters=location.shape[0],
        attention_location_kernel_size=location.shape[2],
        decoder_rnn_dim=_get(state, "decoder.decoder_rnn.weight_hh", name).shape[1],
        postnet_embedding_dim=postnet0.shape[0],
        postnet_kernel_size=postnet0.shape[2],
        postnet_n_convolutions=_count(state, r"^postnet\.convolutions\.(\d+)\.0\.conv\.weight$"),
    )
    return Tacotron2Config(**{**defaults, **{k: int(v) for k, v in shapes.items()}})


_T2_SHAPE_FIELDS = (
    "n_symbols",
    "symbols_embedding_dim",
    "encoder_embedding_dim",
    "encoder_kernel_size",
    "n_mel_channels",
    "n_frames_per_step",
    "prenet_dim",
    "attention_rnn_dim",
    "attention_dim",
    "attention_location_n_filters",
    "attention_location_kernel_size",
    "decoder_rnn_dim",
    "postnet_embedding_dim",
    "postnet_kernel_size",
)
"""Tacotron 2 sizes read off single tensors (layer counts are checked by their keys)."""


def waveglow_config_from_state_dict(state: Mapping[str, torch.Tensor], name: str = "state_dict") -> WaveGlowConfig:
    """Every WaveGlow hyper-parameter, read off the tensors (weight-norm or fused form)."""
    upsample = _get(state, "upsample.weight", name)
    n_flows = _count(state, r"^convinv\.(\d+)\.conv\.weight$")
    if n_flows == 0:
        raise CheckpointError(f"{name}: cannot infer the model size: no 'convinv.*' keys")
    sizes = [int(_get(state, f"convinv.{k}.conv.weight", name).shape[0]) for k in range(n_flows)]
    start = state.get("WN.0.start.weight_v", state.get("WN.0.start.weight"))
    in_layer = state.get("WN.0.in_layers.0.weight_v", state.get("WN.0.in_layers.0.weight"))
    if start is None or in_layer is None:
        raise CheckpointError(f"{name}: cannot infer the model size: 'WN.0.start'/'WN.0.in_layers.0' missing")
    drops = [k for k in range(1, n_flows) if sizes[k] < sizes[k - 1]]
    if drops:
        n_early_every, n_early_size = drops[0], sizes[drops[0] - 1] - sizes[drops[0]]
    else:  # no early outputs: an interval no flow index reaches
        n_early_every, n_early_size = n_flows, WaveGlowConfig.n_early_size
    return WaveGlowConfig(
        n_mel_channels=int(upsample.shape[0]),
        n_flows=n_flows,
        n_group=sizes[0],
        n_early_every=n_early_every,
        n_early_size=n_early_size,
        n_layers=_count(state, r"^WN\.0\.in_layers\.(\d+)\."),
        kernel_size=int(in_layer.shape[2]),
        n_channels=int(start.shape[0]),
    )


def _describe_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor], what: str, name: str) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
        if unexpected:
            parts.append(
                f"{len(unexpected)} unexpected keys ({', '.join(unexpected[:3])}"
                f"{', ...' if len(unexpected) > 3 else ''})"
            )
        raise CheckpointError(f"{name}: state_dict does not fit {what}: {'; '.join(parts)}")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{name}: state_dict does not fit {what}: '{key}' has shape "
                f"{tuple(state[key].shape)}, the model expects {tuple(tensor.shape)}"
            )


def _load_weights(model: nn.Module, state: Mapping[str, torch.Tensor], what: str, name: str) -> None:
    _describe_mismatch(model, state, what, name)
    # load_state_dict copies into the float32 parameters: fp16 / mixed files are cast here.
    model.load_state_dict(state, strict=True)


def _guess_kind(state: Mapping[str, Any]) -> str | None:
    """The kind most keys belong to by prefix (for a file that lacks a key :func:`detect_kind` needs)."""
    votes = {kind: sum(k.startswith(prefixes) for k in state) for kind, prefixes in _KIND_PREFIXES.items()}
    best = max(votes, key=votes.__getitem__)
    return best if votes[best] > 0 else None


def _check_kind(state: Mapping[str, Any], want: str, name: str) -> None:
    found = detect_kind(state)
    if found == want:
        return
    if found is None:
        guess = _guess_kind(state)
        if guess == want:
            raise CheckpointError(
                f"{name}: {_KIND_NAMES[want]} checkpoint without '{_REQUIRED_KEY[want]}' "
                f"(a key every {_KIND_NAMES[want]} has)"
            )
        if guess is not None:
            raise CheckpointError(f"{name}: expected a {_KIND_NAMES[want]} checkpoint, found {_KIND_NAMES[guess]} keys")
        keys = ", ".join(list(state)[:3])
        raise CheckpointError(
            f"{name}: unknown checkpoint layout: neither Tacotron 2 nor WaveGlow keys (first keys: {keys})"
        )
    raise CheckpointError(f"{name}: expected a {_KIND_NAMES[want]} checkpoint, found {_KIND_NAMES[found]} keys")


def _mel_config_of(checkpoint: Mapping[str, Any], name: str) -> MelConfig:
    stored = checkpoint.get("mel_config")
    if stored is None:
        return MelConfig()  # NVIDIA files: the reference's audio defaults (§0)
    _check_mapping(stored, "mel_config", name)
    try:
        return MelConfig.from_dict(dict(stored))
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f"{name}: bad mel_config: {exc}") from None


def _model_config(
    checkpoint: Mapping[str, Any], state: Mapping[str, torch.Tensor], name: str, kind: str, overrides: Mapping[str, Any]
) -> Any:
    """The stored config (tacoglow or NVIDIA form), else one read off the tensors; plus overrides."""
    config_class, from_shapes = (
        (Tacotron2Config, tacotron2_config_from_state_dict)
        if kind == "tacotron2"
        else (WaveGlowConfig, waveglow_config_from_state_dict)
    )
    stored = checkpoint.get("config")
    tacoglow_format = checkpoint.get("format") == "tacoglow"
    if stored is not None:
        _check_mapping(stored, "config", name)
    elif tacoglow_format:  # save_checkpoint always writes one
        raise CheckpointError(f"{name}: tacoglow checkpoint without its config")
    try:
        if stored is not None and tacoglow_format:
            # Tacotron2Config.from_dict also drops removed experiments' fields at their "off" value.
            config = Tacotron2Config.from_dict(stored) if kind == "tacotron2" else config_class(**dict(stored))
        elif isinstance(stored, Mapping):
            config = config_class.from_nvidia(dict(stored))
        else:
            config = from_shapes(state, name)
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f"{name}: bad {_KIND_NAMES[kind]} config: {exc}") from None
    return _apply_overrides(config, overrides, _KIND_NAMES[kind])


def _check_mapping(stored: Any, field: str, name: str) -> None:
    if not isinstance(stored, Mapping):
        raise CheckpointError(f"{name}: {field}: expected a mapping of settings, found {type(stored).__name__}")


def _check_finite(state: Mapping[str, torch.Tensor], name: str) -> None:
    """Refuse NaN / infinite weights: such a model speaks silence or noise with exit code 0."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{name}: tensor '{key}' holds NaN or infinity (a diverged or damaged model)")


def _check_sizes(config: Any, state: Mapping[str, torch.Tensor], kind: str, name: str) -> None:
    """Compare the config's sizes with the tensors' shapes before a model is built.

    A 725 KB file whose config says ``attention_rnn_dim`` 200,000 would otherwise allocate
    hundreds of GB before the weights are found not to fit.
    """
    what = _KIND_NAMES[kind]
    from_shapes = tacotron2_config_from_state_dict if kind == "tacotron2" else waveglow_config_from_state_dict
    counts = _LAYER_KEYS[kind]
    for field in sorted(counts):  # more layers than the tensors hold: name the missing keys
        pattern, wanted = counts[field], int(getattr(config, field))
        present: set[int] = set()
        first_layer = []
        for key in state:
            match = pattern.match(key)
            if match:
                present.add(int(match.group("i")))
                if match.group("i") == "0":
                    first_layer.append((key, match.span("i")))
        n_missing = wanted - len({i for i in present if i < wanted})
        if n_missing > 0 and first_layer:
            indices = [i for i in range(wanted) if i not in present][:3]
            names = [f"{key[:a]}{i}{key[b:]}" for i in indices for key, (a, b) in first_layer][:3]
            raise CheckpointError(
                f"{name}: state_dict does not fit {what}: {n_missing * len(first_layer)} "
                f"missing keys ({', '.join(names)}, ...)"
            )
    inferred = from_shapes(state, name)
    fields = [f.name for f in dataclasses.fields(inferred) if f.name not in counts]
    if kind == "waveglow":
        assert isinstance(inferred, WaveGlowConfig)  # from_shapes is waveglow_config_from_state_dict
        fields = [f for f in fields if f.startswith(("n_mel", "n_group", "kernel", "n_channels"))]
        if inferred.n_early_every < inferred.n_flows:  # early outputs are seen in the shapes
            fields += ["n_early_every", "n_early_size"]
    else:
        fields = [f for f in fields if f in _T2_SHAPE_FIELDS]
    for field in fields:
        if getattr(config, field) != getattr(inferred, field):
            raise CheckpointError(
                f"{name}: stored config says {field} {getattr(config, field)}, "
                f"the tensors say {getattr(inferred, field)}"
            )


def _apply_overrides(config: Any, overrides: Mapping[str, Any], what: str) -> Any:
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown {what} setting(s): {', '.join(unknown)} (known: {', '.join(sorted(fields))})")
    return dataclasses.replace(config, **overrides) if overrides else config


def _is_fused_waveglow(state: Mapping[str, torch.Tensor]) -> bool:
    return not any(k.endswith(".weight_g") for k in state)


def load_model(source: Source, kind: str | None = None, **overrides: Any) -> LoadedModel:
    """Read any supported checkpoint into a tacoglow model (CPU, eval mode).

    Args:
        source: a file path, a checkpoint dict or a bare state_dict.
        kind: "tacotron2" or "waveglow" to insist on one; None accepts either.
        **overrides: config fields to change (e.g. ``max_decoder_steps=500``).

    Raises:
        CheckpointError: unreadable file, unknown layout, wrong kind, or keys/shapes that do
            not fit the model; the message names the file and the first offending keys.
        ConfigError: an unknown override.
    """
    name = _name(source)
    checkpoint = read_checkpoint(source)
    state = state_dict_of(checkpoint, name)
    kind = kind or detect_kind(state) or _guess_kind(state) or "tacotron2"  # no match: _check_kind names it
    _check_kind(state, kind, name)
    tacoglow_format = checkpoint.get("format") == "tacoglow"
    if tacoglow_format and checkpoint.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{name}: written by a newer tacoglow (format {checkpoint['format_version']}, "
            f"this version reads up to {FORMAT_VERSION})"
        )
    _check_finite(state, name)
    config = _model_config(checkpoint, state, name, kind, overrides)
    _check_sizes(config, state, kind, name)
    if kind == "tacotron2":
        model: nn.Module = Tacotron2(config)
        _load_weights(model, state, "Tacotron 2", name)
        stored_symbols = checkpoint.get("symbols")
        if stored_symbols is not None:
            table = list(stored_symbols)
            if len(table) != config.n_symbols:
                raise CheckpointError(
                    f"{name}: symbol table has {len(table)} entries, the embedding has {config.n_symbols} rows"
                )
            symbols: list[str] | None = table
        elif config.n_symbols == len(DEFAULT_SYMBOLS):
            symbols = list(DEFAULT_SYMBOLS)  # every NVIDIA release uses the same 148 symbols
        else:
            symbols = None  # a custom table the file does not record
            logger.warning(
                "%s: %d symbols and no symbol table stored; text cannot be mapped to its ids", name, config.n_symbols
            )
        frontend: TextFrontend | None = _text_frontend_of(checkpoint, name)
    else:
        model = WaveGlow(config)
        if _is_fused_waveglow(state):
            model.remove_weight_norm()
        _load_weights(model, state, "WaveGlow", name)
        symbols = frontend = None
    model.eval()
    return LoadedModel(
        model,
        kind,
        _mel_config_of(checkpoint, name),
        symbols,
        "tacoglow" if tacoglow_format else "nvidia",
        checkpoint,
        frontend,
    )


def _text_frontend_of(checkpoint: Mapping[str, Any], name: str) -> TextFrontend:
    """The stored text frontend, or NVIDIA's (letters, english_cleaners) when none is stored."""
    stored = checkpoint.get("text_frontend")
    if stored is None:
        return TextFrontend()
    _check_mapping(stored, "text_frontend", name)
    try:
        return TextFrontend.from_dict(stored)
    except ConfigError as err:
        raise CheckpointError(f"{name}: {err}") from None


def load_tacotron2(source: Source, **overrides: Any) -> Tacotron2:
    """Load a Tacotron 2 from any supported layout (see module docstring); eval mode, CPU.

    >>> model = load_tacotron2("nvidia_tacotron2pyt_fp16.pt", max_decoder_steps=1000)  # doctest: +SKIP
    """
    return load_model(source, "tacotron2", **overrides).model  # type: ignore[return-value]


def load_waveglow(source: Source, **overrides: Any) -> WaveGlow:
    """Load a WaveGlow from any supported layout; eval mode, CPU, weight norm as stored.

    Shapes (256 or 512 channels, flows, groups) come from the stored config or the tensors.

    >>> waveglow = load_waveglow("nvidia_waveglow256pyt_fp16.pt")  # doctest: +SKIP
    >>> waveglow.remove_weight_norm()  # doctest: +SKIP
    """
    return load_model(source, "waveglow", **overrides).model  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Writing


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` with :func:`tacoglow.fileio.atomic_write` (fsynced): never half-written.

    Raises:
        CheckpointError: the folder is missing or not writable, or the disk is full.
    """
    with atomic_write(path, error=CheckpointError, durable=True) as handle:
        torch.save(obj, handle)
    return Path(path)


def _kind_of(model: nn.Module) -> str:
    if isinstance(model, Tacotron2):
        return "tacotron2"
    if isinstance(model, WaveGlow):
        return "waveglow"
    raise CheckpointError(f"cannot save a {type(model).__name__}: expected Tacotron2 or WaveGlow")


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    mel_config: MelConfig | None = None,
    symbols: list[str] | None = None,
    text_frontend: TextFrontend | None = None,
    weights_dtype: torch.dtype | None = None,
    **extra: Any,
) -> Path:
    """Write a tacoglow checkpoint (config, weights, mel contract, symbols, text frontend) atomically.

    Args:
        path: target file.
        model: a Tacotron2 or WaveGlow (DDP / compiled wrappers are unwrapped).
        mel_config: the audio settings the model was trained with (defaults: NVIDIA's).
        symbols: Tacotron 2's symbol table (defaults: tacoglow.text.symbols).
        text_frontend: how Tacotron 2 reads text (default: letters with english_cleaners).
        weights_dtype: store floating-point weights in this dtype (e.g. torch.float16 halves
            the file, as NVIDIA's published files do); loading casts them back to float32.
        **extra: training state to keep beside the weights (step, epoch, optimizer, scaler,
            rng, train_config ...): tensors, numbers, strings and containers of those only.
    """
    model = unwrap_model(model)
    kind = _kind_of(model)
    assert isinstance(model, (Tacotron2, WaveGlow))  # _kind_of refused anything else
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if weights_dtype is not None:
        state = {k: v.to(weights_dtype) if v.is_floating_point() else v for k, v in state.items()}
    checkpoint: dict[str, Any] = {
        "format": "tacoglow",
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": dataclasses.asdict(model.config),
        "mel_config": (mel_config or MelConfig()).to_dict(),
        "state_dict": state,
    }
    if kind == "tacotron2":
        checkpoint["symbols"] = list(symbols if symbols is not None else DEFAULT_SYMBOLS)
        checkpoint["text_frontend"] = (text_frontend or TextFrontend()).to_dict()
    checkpoint.update(extra)
    return atomic_save(checkpoint, path)


def to_weight_norm_form(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fused WaveGlow weights → the reference's ``bias, weight_g, weight_v`` form (exact: v = w, g = ‖w‖)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        layer, _, leaf = key.rpartition(".")
        if _WN_LAYER.match(layer) and leaf == "weight":
            out[f"{layer}.weight_g"] = torch.linalg.vector_norm(value, dim=(1, 2), keepdim=True)
            out[f"{layer}.weight_v"] = value
        else:
            out[key] = value
    return out


def export_nvidia(path: str | os.PathLike, model: nn.Module, epoch: int = 0) -> Path:
    """Write a model in NVIDIA's train.py layout (``state_dict`` + ``config`` + ``epoch``).

    The file loads with NVIDIA's ``inference.py`` / torch.hub code. A WaveGlow whose weight norm
    was removed is written back in ``weight_g``/``weight_v`` form, as the reference expects.
    """
    model = unwrap_model(model)
    kind = _kind_of(model)
    assert isinstance(model, (Tacotron2, WaveGlow))  # _kind_of refused anything else
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if kind == "waveglow" and _is_fused_waveglow(state):
        state = to_weight_norm_form(state)
    return atomic_save({"epoch": epoch, "config": model.config.to_nvidia(), "state_dict": state}, path)


# ---------------------------------------------------------------------------------------------
# Warm start: a fresh model takes the matching tensors of any checkpoint


@dataclasses.dataclass
class WarmStartReport:
    """Which tensors a warm start copied and which kept their fresh initialization.

    Attributes:
        loaded: keys copied from the file.
        ignored: keys skipped because ``ignore_layers`` named them.
        mismatched: keys whose shape differs in the file (e.g. an embedding of another symbol set).
        missing: keys the file lacks.
        unused: keys of the file the model has no place for.
    """

    loaded: list[str] = dataclasses.field(default_factory=list)
    ignored: list[str] = dataclasses.field(default_factory=list)
    mismatched: list[str] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)
    unused: list[str] = dataclasses.field(default_factory=list)

    @property
    def fresh(self) -> list[str]:
        """Keys that keep the model's fresh initialization."""
        return self.ignored + self.mismatched + self.missing


def _matches(key: str, patterns: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p + ".") or fnmatch.fnmatchcase(key, p) for p in patterns)


def warm_start(model: nn.Module, source: Source, ignore_layers: Sequence[str] = ()) -> WarmStartReport:
    """Copy the matching tensors of a checkpoint into ``model`` (fine-tuning's starting point).

    Any layout this module reads works: NVIDIA training files (with DDP's ``module.``
    prefixes), NGC files, bare state_dicts, tacoglow files. A tensor is copied when its key
    exists in the file with the same shape and ``ignore_layers`` does not name it (exact key, a
    key prefix such as ``decoder.attention_layer``, or a glob such as ``*.bias``); the others
    keep their fresh initialization and are listed in the report and the log. A file with
    another symbol count thus leaves ``embedding.weight`` fresh by itself.

    Args:
        model: a Tacotron2 or WaveGlow, not yet wrapped in DDP.
        source: the checkpoint file (or an already-read checkpoint dict).
        ignore_layers: keys (or prefixes, or globs) not to copy.

    Returns:
        a :class:`WarmStartReport`.

    Raises:
        CheckpointError: unreadable file, a checkpoint of the other model, or no tensor matched.
    """
    name = _name(source)
    kind = _kind_of(model)
    state = state_dict_of(read_checkpoint(source), name)
    found = detect_kind(state)
    if found != kind:
        raise CheckpointError(
            f"{name}: expected a {kind} checkpoint to warm-start from, found {found or 'unknown'} keys"
        )
    target = model.state_dict()
    if any(k.endswith(".weight_g") for k in target) and not any(k.endswith(".weight_g") for k in state):
        state = to_weight_norm_form(state)  # a fused WaveGlow file into a weight-norm model: exact conversion
    report = WarmStartReport()
    update = {}
    for key, tensor in target.items():
        if _matches(key, ignore_layers):
            report.ignored.append(key)
        elif key not in state:
            report.missing.append(key)
        elif tuple(state[key].shape) != tuple(tensor.shape):
            report.mismatched.append(f"{key} {tuple(state[key].shape)} -> {tuple(tensor.shape)}")
        else:
            update[key] = state[key].to(dtype=tensor.dtype)
            report.loaded.append(key)
    report.unused = [key for key in state if key not in target]
    if not report.loaded:
        raise CheckpointError(
            f"{name}: no tensor of the file fits the model "
            f"({len(report.mismatched)} shape mismatches, {len(report.missing)} missing)"
        )
    model.load_state_dict(update, strict=False)
    logger.info(
        "warm start from %s: loaded %d of %d tensors; fresh init kept for %s",
        name,
        len(report.loaded),
        len(target),
        "; ".join(
            f"{what}: {', '.join(keys)}"
            for what, keys in (
                ("ignored", report.ignored),
                ("shape mismatch", report.mismatched),
                ("missing", report.missing),
            )
            if keys
        )
        or "none",
    )
    if report.unused:
        logger.info(
            "warm start: %d tensors of %s unused (%s%s)",
            len(report.unused),
            name,
            ", ".join(report.unused[:3]),
            ", ..." if len(report.unused) > 3 else "",
        )
    return report
