"""Training configuration: typed dataclasses, read from YAML or JSON, with ``--set`` overrides.

A config file holds any subset of :class:`TrainConfig`'s fields; the rest take the reference
recipe's defaults for the chosen model (ARCHITECTURE_FACTS §6, :func:`default_config`)::

    model: tacotron2
    batch_size: 48
    amp: bf16
    tacotron2: {attention_dim: 128}      # Tacotron2Config fields (the waveglow: section for WaveGlow)
    mel: {mel_fmax: 8000.0}              # MelConfig fields
    data: {train: LJSpeech-1.1, validation_items: 100}
    optim: {learning_rate: 1.0e-3, schedule: step, anneal_steps: [500, 1000, 1500], anneal_factor: 0.1}
    loss: {guided_attention_weight: 1.0}
    checkpoint: {every_epochs: 50}

The model's ``n_mel_channels`` follows ``mel.n_mel_channels`` unless the model section sets it.
Command-line overrides use dotted keys, ``--set optim.learning_rate=5e-4 --set amp=off``; the
value is read as YAML (or JSON without PyYAML), so lists and ``null`` work. A key that is not a
field is a :class:`~tacoglow.errors.ConfigError` naming it, never silently ignored. JSON files
always work; YAML needs PyYAML (``pip install 'tacoglow[yaml]'``).

Each field's type hint is its rule (``Literal`` choices, ``Annotated`` ranges), applied by one
generic converter (:mod:`tacoglow.training.coerce`); :meth:`TrainConfig.validate` adds the checks
that relate fields to each other. Configs of older versions (files, and the ``train_config`` of
checkpoints) are mapped to this form in one place, :func:`_upgrade`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from tacoglow.audio import MelConfig
from tacoglow.errors import ConfigError
from tacoglow.models.tacotron2 import Tacotron2Config
from tacoglow.models.waveglow import HOP_LENGTH as WAVEGLOW_HOP
from tacoglow.models.waveglow import WaveGlowConfig
from tacoglow.text import TextFrontend
from tacoglow.training.coerce import Range, build
from tacoglow.training.schedule import Schedule

__all__ = [
    "AMP_MODES",
    "MODELS",
    "CheckpointConfig",
    "DataConfig",
    "LogConfig",
    "LossConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "default_config",
    "load_config",
    "read_config_file",
]

log = logging.getLogger(__name__)

Model = Literal["tacotron2", "waveglow"]
Amp = Literal["off", "fp16", "bf16"]
MODELS: tuple[str, ...] = typing.get_args(Model)
AMP_MODES: tuple[str, ...] = typing.get_args(Amp)

# The rules fields share (see tacoglow.training.coerce).
PositiveInt = Annotated[int, Range(1)]
Count = Annotated[int, Range(0)]
PositiveFloat = Annotated[float, Range(0.0, low_open=True)]
NonNegativeFloat = Annotated[float, Range(0.0)]


@dataclass
class DataConfig:
    """Where the training data is and how it is read.

    Attributes:
        train: the training set: an LJ Speech folder or ``metadata.csv``, an NVIDIA filelist of
            wavs (``path|text``), or a mel filelist written by ``tacoglow preprocess``
            (Tacotron 2 then reads the mels from disk, as the reference's ``--load-mel-from-disk``).
        validation: the validation set, same kinds; "" holds out ``validation_items`` instead.
        dataset_root: the folder filelist paths are relative to (NVIDIA's ``--dataset-path``);
            "" means each filelist's own folder.
        validation_items: with no ``validation`` set, the last this-many training utterances
            become the validation set (0: no validation).
        cleaners: text cleaners applied to every transcript.
        arpabet: feed Tacotron 2 CMUdict phones instead of letters (dictionary words become
            ARPAbet; see :class:`tacoglow.text.TextFrontend`). Stored in every checkpoint, so
            synthesis reads text the way training did.
        phone_repeats: emit every phone this many times (see :class:`tacoglow.text.TextFrontend`;
            the bundled voice: 3); stored in every checkpoint like ``arpabet``.
        segment_length: WaveGlow audio segment in samples (the reference's scripts use 8000).
        resample: resample audio at another sample rate instead of treating it as bad data.
        check: check every item before training (missing files, sample rate, empty text,
            silence, clipping; see :func:`tacoglow.data.check_dataset`).
        on_bad_items: "skip" drops items the check flags (with a count and examples in the log);
            "stop" refuses to train.
        num_workers: DataLoader worker processes per training process (reference: 1).
    """

    train: str = ""
    validation: str = ""
    dataset_root: str = ""
    validation_items: Count = 0
    cleaners: list[str] = field(default_factory=lambda: ["english_cleaners"])
    arpabet: bool = False
    phone_repeats: PositiveInt = 1
    segment_length: PositiveInt = 8000
    resample: bool = False
    check: bool = True
    on_bad_items: Literal["skip", "stop"] = "skip"
    num_workers: Count = 1

    @property
    def text_frontend(self) -> TextFrontend:
        """How transcripts become symbol ids (cleaners, then letters or phones)."""
        return TextFrontend(tuple(self.cleaners), self.arpabet, self.phone_repeats)


@dataclass
class OptimConfig:
    """Adam, the epoch-based step decay, and gradient clipping (ARCHITECTURE_FACTS §6.1).

    Attributes:
        learning_rate: initial learning rate (reference: 1e-3 Tacotron 2, 1e-4 WaveGlow).
        weight_decay: Adam's coupled L2 (reference: 1e-6 Tacotron 2, 0 WaveGlow).
        schedule: how the rate drops at each anneal epoch (:mod:`tacoglow.training.schedule`):
            "step" multiplies it by ``anneal_factor`` (the reference's FP32/TF32 recipe, factor
            0.1); "half_decade" alternately by 0.3 and 1/3, a decade every two anneal epochs
            (the reference's AMP recipe).
        anneal_steps: epochs at which the learning rate drops (reference scripts: 500 1000 1500
            for Tacotron 2; none for WaveGlow).
        anneal_factor: the "step" schedule's drop per anneal epoch.
        grad_clip_thresh: clip the total gradient L2 norm to this; None clips nothing (WaveGlow
            in FP32), and under fp16 AMP None means 65504, the fp16 maximum, as the reference.
    """

    learning_rate: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 1e-6
    schedule: Schedule = "step"
    anneal_steps: list[Count] = field(default_factory=lambda: [500, 1000, 1500])
    anneal_factor: Annotated[float, Range(0.0, 1.0, low_open=True)] = 0.1
    grad_clip_thresh: PositiveFloat | None = 1.0


@dataclass
class LossConfig:
    """Loss settings beyond the reference's fixed objectives (ARCHITECTURE_FACTS §4).

    Attributes:
        sigma: WaveGlow's prior standard deviation in training (reference: 1.0).
        guided_attention_weight: Tacotron 2 only: weight of the diagonal guided-attention
            term (:func:`tacoglow.training.losses.guided_attention_loss`). 0 (default) is the
            reference; about 1.0 makes attention align within ~100 steps on small datasets
            (measured on espeak-ng speech; without it attention had not formed after 630 steps).
        guided_attention_width: width of the diagonal band, as a share of the utterance.
    """

    sigma: PositiveFloat = 1.0
    guided_attention_weight: NonNegativeFloat = 0.0
    guided_attention_width: PositiveFloat = 0.2


@dataclass
class CheckpointConfig:
    """When checkpoints are written (always also at the end of training).

    Attributes:
        every_epochs: after every this-many epochs, after validation (reference: 50); 0 = never.
        every_steps: after every this-many optimizer steps; 0 = never.
    """

    every_epochs: Count = 50
    every_steps: Count = 0


@dataclass
class LogConfig:
    """What is logged, and how often.

    Attributes:
        every_steps: a JSON line (``train.jsonl``) and TensorBoard scalars every this-many steps.
        line_every_steps: a human-readable log line on stderr every this-many steps.
        tensorboard: also write TensorBoard events (scalars, alignment images, validation
            audio) to ``<output>/tensorboard`` when the ``tensorboard`` package is installed.
        progress_bar: a tqdm bar per epoch on stderr (rank 0, terminals only).
    """

    every_steps: PositiveInt = 1
    line_every_steps: PositiveInt = 50
    tensorboard: bool = True
    progress_bar: bool = True


@dataclass
class TrainConfig:
    """Everything a training run needs; saved in every checkpoint as a plain dict.

    Attributes:
        model: "tacotron2" or "waveglow".
        tacotron2: the Tacotron 2 architecture (set exactly when ``model`` is "tacotron2").
        waveglow: the WaveGlow architecture (set exactly when ``model`` is "waveglow").
        mel: the mel contract of the data (checked against preprocessed mels).
        data: datasets, checks and loading.
        optim: optimizer, schedule and clipping.
        loss: loss settings.
        checkpoint: checkpoint frequency.
        log: logging.
        epochs: epochs to train (reference: 1501 Tacotron 2, 1001 WaveGlow).
        max_steps: stop after this many optimizer steps in total (0: no limit); a checkpoint
            is written where it stops, so ``--resume`` continues exactly from there.
        batch_size: items per batch **per process** (the global batch is × world size;
            reference per GPU: 48 FP32 / 128 A100 Tacotron 2, 4 FP32 / 10 AMP WaveGlow).
        amp: "off" (fp32, TF32 where allowed), "fp16" (autocast + dynamic loss scaling with
            GradScaler) or "bf16" (autocast, no loss scaling needed).
        tf32: allow TF32 tensor cores for matmuls and convolutions on CUDA (Ampere and later).
        seed: seeds model init (same on every rank), data order and crops (by epoch and item),
            and dropout (seed + rank), so a run and its ``--resume`` give the same losses.
        device: "auto" (CUDA if available, else CPU), "cpu" or "cuda".
        uniform_bn_init: Tacotron 2: batch-norm weights drawn from U(0, 1) at init, as the
            reference's training does by default.
        validate_every_epochs: validation after every this-many epochs (0: never).
    """

    model: Model = "tacotron2"
    tacotron2: Tacotron2Config | None = field(default_factory=Tacotron2Config)
    waveglow: WaveGlowConfig | None = None
    mel: MelConfig = field(default_factory=MelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)
    epochs: PositiveInt = 1501
    max_steps: Count = 0
    batch_size: PositiveInt = 48
    amp: Amp = "off"
    tf32: bool = True
    seed: Count = 1234
    device: Literal["auto", "cpu", "cuda"] = "auto"
    uniform_bn_init: bool = True
    validate_every_epochs: Count = 1

    @property
    def model_config(self) -> Tacotron2Config | WaveGlowConfig:
        """The architecture of the model being trained."""
        config = self.tacotron2 if self.model == "tacotron2" else self.waveglow
        assert config is not None, "validate() guarantees the model's section"
        return config

    @property
    def effective_grad_clip(self) -> float | None:
        """The clipping threshold in effect: None becomes 65504 under fp16 AMP, as the reference."""
        if self.optim.grad_clip_thresh is None and self.amp == "fp16":
            return 65504.0
        return self.optim.grad_clip_thresh

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of every field (JSON-able; what checkpoints store)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output (or any subset: the rest takes the defaults).

        Also reads what older versions stored in checkpoints (``train_config``): see :func:`_upgrade`.

        Raises:
            ConfigError: unknown keys (named with their dotted path) or bad values.
        """
        values = _upgrade(values, stored=True)
        model = values.get("model", "tacotron2")
        return _build(default_config(model if isinstance(model, str) else ""), values)

    def validate(self) -> TrainConfig:
        """Check every field against its type hint, and the fields against each other; return self.

        Raises:
            ConfigError: naming the setting, what was expected and what was found.
        """
        build(TrainConfig, self.to_dict())  # types, choices and ranges: the fields' own rules
        other = "waveglow" if self.model == "tacotron2" else "tacotron2"
        if getattr(self, other) is not None:
            raise ConfigError(f"{other}: section given for a {self.model} run; remove it or set model: {other}")
        if getattr(self, self.model) is None:
            raise ConfigError(f"{self.model}: expected the model's architecture section, found null")
        if self.loss.guided_attention_weight > 0 and self.model != "tacotron2":
            raise ConfigError(
                f"loss.guided_attention_weight: guided attention applies to Tacotron 2 only, "
                f"found {self.loss.guided_attention_weight} for a {self.model} run"
            )
        if self.optim.schedule == "half_decade" and self.optim.anneal_factor != OptimConfig.anneal_factor:
            raise ConfigError(
                f"optim.anneal_factor: unused by optim.schedule half_decade (its factors are fixed, "
                f"x0.3 then x1/3), found {self.optim.anneal_factor}; remove it or use schedule step"
            )
        if self.model_config.n_mel_channels != self.mel.n_mel_channels:
            raise ConfigError(
                f"{self.model}.n_mel_channels ({self.model_config.n_mel_channels}) must equal "
                f"mel.n_mel_channels ({self.mel.n_mel_channels})"
            )
        if self.model == "waveglow":
            hop = self.mel.hop_length
            if hop != WAVEGLOW_HOP:
                raise ConfigError(
                    f"mel.hop_length: WaveGlow upsamples mels by a fixed {WAVEGLOW_HOP} samples per frame, found {hop}"
                )
            n_group = self.model_config.n_group  # type: ignore[union-attr]
            if self.data.segment_length % n_group:
                raise ConfigError(
                    f"data.segment_length: expected a multiple of waveglow.n_group ({n_group}), "
                    f"found {self.data.segment_length}"
                )
        return self


def default_config(model: str) -> TrainConfig:
    """The reference recipe for ``model`` ("tacotron2" or "waveglow"), FP32 script values.

    >>> default_config("waveglow").optim.learning_rate, default_config("waveglow").batch_size
    (0.0001, 4)
    """
    if model == "tacotron2":
        return TrainConfig()
    if model == "waveglow":
        return TrainConfig(
            model="waveglow",
            tacotron2=None,
            waveglow=WaveGlowConfig(),
            epochs=1001,
            batch_size=4,
            optim=OptimConfig(learning_rate=1e-4, weight_decay=0.0, anneal_steps=[], grad_clip_thresh=None),
        )
    raise ConfigError(f"model: expected one of {', '.join(MODELS)}, found {model!r}")


# ---------------------------------------------------------------------------------------------
# Reading files and overrides


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``, needs PyYAML) or JSON config file as a dict.

    Raises:
        ConfigError: missing file, syntax error, PyYAML absent for a YAML file, or not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ModuleNotFoundError:
            raise ConfigError(
                f"{path}: reading YAML needs PyYAML (pip install 'tacoglow[yaml]'), or write the config as JSON"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, found {type(data).__name__}")
    return data


def _parse_value(text: str) -> Any:
    """A ``--set`` value: YAML when PyYAML is there, else JSON, else the plain string."""
    try:
        import yaml
    except ModuleNotFoundError:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(values: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings to a nested settings dict (a new dict is returned).

    Raises:
        ConfigError: an override without ``=`` or with an empty key.
    """
    values = copy.deepcopy(values)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set {item!r}: expected key.sub=value")
        *parents, leaf = key.split(".")
        node = values
        for depth, part in enumerate(parents):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {'.'.join(parents[: depth + 1])} is a value, not a section")
            node = child
        node[leaf] = _parse_value(raw)
    return values


def load_config(
    path: str | os.PathLike[str] | None = None, model: str | None = None, overrides: Sequence[str] = ()
) -> TrainConfig:
    """The training config: the model's reference defaults, then the file, then ``overrides``.

    Args:
        path: a YAML/JSON config file, or None for the defaults alone.
        model: "tacotron2" or "waveglow"; None takes the file's ``model`` (default tacotron2).
        overrides: ``key.sub=value`` strings (the CLI's ``--set``).

    Returns:
        a validated :class:`TrainConfig`.

    Raises:
        ConfigError: unknown keys (dotted path named), wrong types or ranges, or a file whose
            ``model`` differs from ``model``.

    >>> load_config(model="waveglow", overrides=["batch_size=2", "waveglow.n_flows=4"]).waveglow.n_flows
    4
    """
    values = read_config_file(path) if path is not None else {}
    values = _upgrade(apply_overrides(values, overrides), stored=False)
    file_model = values.get("model")
    if model is not None and file_model is not None and file_model != model:
        raise ConfigError(f"{path or '--set'}: model is {file_model!r}, but a {model} run was asked for")
    chosen = model or file_model or "tacotron2"
    values["model"] = chosen
    return _build(default_config(chosen), values)


def _build(defaults: TrainConfig, values: Mapping[str, Any]) -> TrainConfig:
    """Merge ``values`` over ``defaults``, convert by the type hints, validate."""
    merged = dataclasses.asdict(defaults)
    for section in ("tacotron2", "waveglow"):
        if merged[section] is None and values.get(section) is not None:
            raise ConfigError(f"{section}: section given for a {defaults.model} run; remove it or set model: {section}")
    _merge(merged, values)
    model_section = merged.get(merged["model"])  # asdict(TrainConfig) always holds "model"
    given = values.get(defaults.model)
    if isinstance(model_section, dict) and not (isinstance(given, Mapping) and "n_mel_channels" in given):
        # The model's mel channels follow the mel contract unless set on their own.
        mel = merged["mel"]
        model_section["n_mel_channels"] = (
            mel.get("n_mel_channels", model_section["n_mel_channels"])
            if isinstance(mel, Mapping)
            else model_section["n_mel_channels"]
        )
    config: TrainConfig = build(TrainConfig, merged)
    return config.validate()


def _merge(base: dict[str, Any], new: Mapping[str, Any]) -> None:
    """Nested update of ``base`` with ``new`` (unknown keys pass through: :func:`build` names them)."""
    for key, value in new.items():
        if isinstance(base.get(key), dict) and isinstance(value, Mapping):
            _merge(base[key], value)
        else:
            base[key] = value


# ---------------------------------------------------------------------------------------------
# Older config forms


#: Settings of experiments that did not help, removed in issue 20, with their neutral values.
_REMOVED = {
    ("loss", "attention_forcing_weight"): 0.0,
    ("loss", "mel_loss"): "mse",
    ("optim", "train_only"): [],
    ("tacotron2", "scheduled_sampling_gradient"): False,
}
#: The anneal factor by which older versions selected the "half_decade" schedule.
_OLD_HALF_DECADE_FACTOR = 0.3


def _upgrade(values: Mapping[str, Any], *, stored: bool) -> dict[str, Any]:
    """Map an older config form to the current one (a new dict is returned).

    Two things changed. Settings of removed experiments (:data:`_REMOVED`) are dropped from a
    stored config (with a warning where they were in use: the run cannot be repeated exactly)
    and refused in a config given now. And ``optim.schedule`` is new: before it, an anneal factor
    of exactly 0.3 silently meant the "half_decade" schedule. A stored config without a schedule
    keeps that meaning; a config given now must say which it means.

    Args:
        values: a config as plain nested dicts.
        stored: True for a checkpoint's ``train_config`` (written by some version, to be read as
            it was meant), False for a config file and ``--set`` overrides.

    Raises:
        ConfigError: (``stored=False``) a removed setting, or an anneal factor of 0.3 without a schedule.
    """
    upgraded: dict[str, Any] = copy.deepcopy(dict(values))
    for (section, key), neutral in _REMOVED.items():
        part = upgraded.get(section)
        if not isinstance(part, dict) or key not in part:
            continue
        value = part.pop(key)
        if not stored:
            raise ConfigError(
                f"{section}.{key}: this setting was removed with its experiment, which did not "
                f"improve the voice; delete it from the config"
            )
        if value != neutral:
            log.warning("stored config: %s.%s = %r belongs to a removed experiment and is ignored", section, key, value)
    optim = upgraded.get("optim")
    if isinstance(optim, dict) and "schedule" not in optim and optim.get("anneal_factor") == _OLD_HALF_DECADE_FACTOR:
        if not stored:
            raise ConfigError(
                "optim.anneal_factor: 0.3 no longer selects NVIDIA's AMP schedule by itself; set "
                "optim.schedule: half_decade for that (x0.3, x0.1, x0.03 ...), or optim.schedule: "
                "step to multiply by 0.3 at every anneal epoch"
            )
        optim["schedule"] = "half_decade"
        del optim["anneal_factor"]
    return upgraded
