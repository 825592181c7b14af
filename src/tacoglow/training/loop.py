"""The training loop for Tacotron 2 and WaveGlow: NVIDIA's recipe, resumable and observable.

:func:`train` runs one process's share of a (possibly distributed) run; ``tacoglow train`` calls
it. Per iteration, as the reference (ARCHITECTURE_FACTS §6.1): the epoch's learning rate, zero
grads, forward + loss under autocast, backward (scaled under fp16), unscale, clip the total
gradient norm, optimizer step; a NaN loss stops the run with a clear error.

**Exact resume.** A checkpoint records the position as (``epoch``, ``batch_in_epoch``,
``step``) plus every RNG state of every rank, the optimizer and the loss scaler. Nothing else
carries hidden randomness between iterations:

- data order is a function of (seed, epoch): a ``DistributedSampler`` (also for one process)
  with ``set_epoch``; a resumed epoch skips the batches already done;
- WaveGlow's random crops are a function of (seed, epoch, item index), not of worker RNGs;
- the DataLoader draws its worker base seed from its own generator, not the global RNG;
- dropout draws from torch's global RNG, which is restored.

So an interrupted run continued with ``--resume`` gives the same losses as one that never
stopped (CPU, same config; tested). On GPUs cuDNN/cuBLAS kernels may still differ in the last bits.

**Checkpoints** (``<output>/``): ``checkpoint_<model>_epoch<E>.pt`` after E completed epochs,
``checkpoint_<model>_step<S>.pt`` after S steps, and ``checkpoint_<model>_last.pt``, an atomic
copy (not a symlink) of the newest. Each is a tacoglow checkpoint
(:func:`tacoglow.checkpoints.save_checkpoint`: config, weights, mel contract, symbols) plus
``optimizer``, ``scaler``, ``rng`` (one dict per rank: torch, cuda, numpy, python), ``epoch``
(the epoch to continue in, 0-based), ``batch_in_epoch`` (its batches already done), ``step``,
``skipped_steps``, ``world_size`` and ``train_config``, all loadable with ``weights_only=True``.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ContextManager

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, SequentialSampler
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from tacoglow.audio import GriffinLimVocoder
from tacoglow.checkpoints import (
    state_dict_of,
    to_weight_norm_form,
    detect_kind,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from tacoglow.data import (
    AudioMelDataset,
    DataReport,
    TextMelBatch,
    TextMelCollate,
    TextMelDataset,
    Utterance,
    check_dataset,
    filter_utterances,
    read_dataset,
    read_mel_config,
)
from tacoglow.data.preprocess import MEL_CONFIG_FILE
from tacoglow.errors import CheckpointError, ConfigError, DataError, TacoglowError
from tacoglow.models.tacotron2 import Tacotron2
from tacoglow.models.waveglow import WaveGlow
from tacoglow.text import symbols as SYMBOLS
from tacoglow.training.config import TrainConfig
from tacoglow.training.distributed import (
    DistributedContext,
    all_gather_objects,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    broadcast_object,
    cleanup_distributed,
    init_distributed,
)
from tacoglow.training.losses import guided_attention_loss, tacotron2_loss, waveglow_loss
from tacoglow.training.metrics import MetricsLogger
from tacoglow.training.schedule import learning_rate

__all__ = [
    "TrainResult",
    "Trainer",
    "TrainingError",
    "WarmStartReport",
    "capture_rng_state",
    "checkpoint_name",
    "restore_rng_state",
    "train",
    "warm_start",
]

log = logging.getLogger(__name__)

#: sigma of the WaveGlow validation sample written to TensorBoard (the reference's inference value).
_VALIDATION_SIGMA = 0.6
#: Griffin-Lim iterations of the Tacotron 2 validation sample: a preview, and cheap on CPU too.
_PREVIEW_GL_ITERS = 16


class TrainingError(TacoglowError):
    """Training cannot go on: the loss became NaN (or infinite without loss scaling)."""


@dataclass
class TrainResult:
    """What a call of :func:`train` did.

    Attributes:
        output_dir: the run's folder.
        step: optimizer steps done in total (including those of runs this one resumed).
        epoch: the epoch the run would continue in (== epochs when training finished).
        losses: the rank-averaged training loss of every step this call ran.
        val_losses: the validation loss of every epoch this call validated.
        skipped_steps: steps skipped by the loss scaler (overflow), in total.
        items_per_s: mean per-iteration throughput of this call: mel frames/s (Tacotron 2) or
            audio samples/s (WaveGlow), summed over ranks.
        last_checkpoint: the last checkpoint written, or None.
    """

    output_dir: Path
    step: int
    epoch: int
    losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    skipped_steps: int = 0
    items_per_s: float = 0.0
    last_checkpoint: Path | None = None


# ---------------------------------------------------------------------------------------------
# RNG state (stored as tensors and plain lists, so checkpoints load with weights_only=True)


def capture_rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Every RNG state that training consumes: torch CPU, CUDA (if used), numpy, python ``random``."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device is not None and device.type == "cuda" else None,
        "numpy": {"name": str(np_state[0]), "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": int(py_version), "state": list(py_state), "gauss_next": py_gauss},
    }


def restore_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Set the RNGs back to a :func:`capture_rng_state` result."""
    torch.set_rng_state(state["torch"].to(torch.uint8).cpu())
    if device is not None and device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"].to(torch.uint8).cpu(), device)
    np_state = state["numpy"]
    np.random.set_state((np_state["name"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


# ---------------------------------------------------------------------------------------------
# Warm start


@dataclass
class WarmStartReport:
    """Which tensors a warm start copied and which kept their fresh initialization.

    Attributes:
        loaded: keys copied from the file.
        ignored: keys skipped because ``ignore_layers`` named them.
        mismatched: keys whose shape differs in the file (e.g. an embedding of another symbol set).
        missing: keys the file lacks.
        unused: keys of the file the model has no place for.
    """

    loaded: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    @property
    def fresh(self) -> list[str]:
        """Keys that keep the model's fresh initialization."""
        return self.ignored + self.mismatched + self.missing


def _matches(key: str, patterns: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p + ".") or fnmatch.fnmatchcase(key, p) for p in patterns)


def warm_start(model: nn.Module, source: str | os.PathLike[str], ignore_layers: Sequence[str] = ()) -> WarmStartReport:
    """Copy the matching tensors of a checkpoint into ``model`` (fine-tuning's starting point).

    Any layout :mod:`tacoglow.checkpoints` reads works: NVIDIA training files (with DDP's
    ``module.`` prefixes), NGC files, bare state_dicts, tacoglow files. A tensor is copied when
    its key exists in the file with the same shape and ``ignore_layers`` does not name it
    (exact key, a key prefix such as ``decoder.attention_layer``, or a glob such as ``*.bias``);
    the others keep their fresh initialization and are listed in the report and the log.
    A file with another symbol count thus leaves ``embedding.weight`` fresh by itself.

    Args:
        model: a Tacotron2 or WaveGlow, not yet wrapped in DDP.
        source: the checkpoint file.
        ignore_layers: keys (or prefixes, or globs) not to copy.

    Returns:
        a :class:`WarmStartReport`.

    Raises:
        CheckpointError: unreadable file, a checkpoint of the other model, or no tensor matched.
    """
    name = str(source)
    kind = "tacotron2" if isinstance(model, Tacotron2) else "waveglow"
    state = state_dict_of(read_checkpoint(source), name)
    found = detect_kind(state)
    if found != kind:
        raise CheckpointError(f"{name}: expected a {kind} checkpoint to warm-start from, "
                              f"found {found or 'unknown'} keys")
    target = model.state_dict()
    if kind == "waveglow" and any(k.endswith(".weight_g") for k in target) and not any(
            k.endswith(".weight_g") for k in state):
        state = to_weight_norm_form(state)  # a fused file into a weight-norm model: exact conversion
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
        raise CheckpointError(f"{name}: no tensor of the file fits the model "
                              f"({len(report.mismatched)} shape mismatches, {len(report.missing)} missing)")
    model.load_state_dict(update, strict=False)
    log.info("warm start from %s: loaded %d of %d tensors; fresh init kept for %s",
             name, len(report.loaded), len(target),
             "; ".join(f"{what}: {', '.join(keys)}" for what, keys in
                       (("ignored", report.ignored), ("shape mismatch", report.mismatched),
                        ("missing", report.missing)) if keys) or "none")
    if report.unused:
        log.info("warm start: %d tensors of %s unused (%s%s)", len(report.unused), name,
                 ", ".join(report.unused[:3]), ", ..." if len(report.unused) > 3 else "")
    return report


# ---------------------------------------------------------------------------------------------
# Data


class _SkipSampler(Sampler[int]):
    """The indices of ``sampler`` after the first ``skip`` (the batches a resumed epoch already did)."""

    def __init__(self, sampler: Sampler[int], skip: int) -> None:
        self.sampler = sampler
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)  # type: ignore[arg-type]


class _SeededCrops(Dataset[tuple[Tensor, Tensor]]):
    """WaveGlow items whose random crop depends on (seed, stream, epoch, index) only.

    The reference crops with each worker's torch RNG, so the crops change with the number of
    workers and cannot be replayed after a resume; here a crop is the same whichever process,
    worker or run draws it.
    """

    def __init__(self, dataset: AudioMelDataset, seed: int, stream: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self.stream = stream
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        key = np.random.SeedSequence([self.seed, self.stream, self.epoch, index]).generate_state(1, np.uint64)[0]
        self.dataset.generator = torch.Generator().manual_seed(int(key) & (2**63 - 1))
        return self.dataset[index]


def _split_and_check(config: TrainConfig, ctx: DistributedContext) -> tuple[list[Utterance], list[Utterance]]:
    """Read the training and validation utterances; check them on rank 0 and apply the policy."""
    data = config.data
    if not data.train:
        raise ConfigError("data.train: expected a dataset (LJ Speech folder, metadata.csv or filelist), "
                          "found none; pass --data or --train-filelist")
    root = data.dataset_root or None
    train_utts = read_dataset(data.train, root)
    if data.validation:
        val_utts = read_dataset(data.validation, root)
    elif data.validation_items:
        if data.validation_items >= len(train_utts):
            raise ConfigError(f"data.validation_items: expected fewer than the {len(train_utts)} training "
                              f"utterances, found {data.validation_items}")
        train_utts, val_utts = train_utts[:-data.validation_items], train_utts[-data.validation_items:]
    else:
        val_utts = []
    for what, utts, path in (("training", train_utts, data.train), ("validation", val_utts, data.validation)):
        on_disk = [u.mel_path is not None for u in utts]
        if any(on_disk) and config.model == "waveglow":
            raise DataError(f"{path}: WaveGlow trains on audio, found a mel filelist ({what} set)")
        if any(on_disk) and not all(on_disk):
            raise DataError(f"{path}: expected only audio or only mel entries, found both ({what} set)")
        if any(on_disk):
            _check_mel_contract(Path(utts[0].mel_path).parent.parent, config)  # type: ignore[arg-type]
    if not data.check:
        return train_utts, val_utts
    verdict: tuple[list[str], list[str], str] | None = None
    if ctx.is_main:
        try:
            train_ok = _checked(train_utts, config)
            val_ok = _checked(val_utts, config) if val_utts else []
            verdict = ([u.id for u in train_ok], [u.id for u in val_ok], "")
        except TacoglowError as exc:
            verdict = ([], [], str(exc))
    # Rank 0 reads every file once; the others take its verdict (and fail with it together).
    train_ids, val_ids, error = broadcast_object(verdict, ctx)
    if error:
        raise DataError(error)
    keep_train, keep_val = set(train_ids), set(val_ids)
    return [u for u in train_utts if u.id in keep_train], [u for u in val_utts if u.id in keep_val]


def _checked(utts: list[Utterance], config: TrainConfig) -> list[Utterance]:
    report = check_dataset(utts, config.mel, resample=config.data.resample,
                           text_frontend=config.data.text_frontend, jobs=max(1, min(8, os.cpu_count() or 1)))
    if config.model == "waveglow":  # WaveGlow never reads the transcripts
        report = DataReport(report.n_utterances, {k: v for k, v in report.problems.items() if k != "empty_text"})
    return filter_utterances(utts, report, on_error=config.data.on_bad_items)  # type: ignore[arg-type]


def _check_mel_contract(folder: Path, config: TrainConfig) -> None:
    """Refuse precomputed mels made with another mel contract than the config's."""
    if not (folder / MEL_CONFIG_FILE).exists():
        log.warning("%s: no %s: cannot check that the mels match the config's mel settings", folder, MEL_CONFIG_FILE)
        return
    recorded = dataclasses.asdict(read_mel_config(folder))
    wanted = dataclasses.asdict(config.mel)
    diff = [f"{k} {recorded[k]!r} != {v!r}" for k, v in wanted.items() if recorded.get(k) != v]
    if diff:
        raise ConfigError(f"{folder / MEL_CONFIG_FILE}: the mels were made with other mel settings than the "
                          f"config's ({', '.join(diff)}); preprocess again or fix the mel section")


# ---------------------------------------------------------------------------------------------
# The trainer


def _clip_gradients(params: list[nn.Parameter], max_norm: float | None) -> Tensor:
    """Clip the total gradient L2 norm to ``max_norm`` (None: only measure it); return the norm."""
    if max_norm is None:
        return torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    return torch.nn.utils.clip_grad_norm_(params, max_norm)


def checkpoint_name(model: str, *, epoch: int | None = None, step: int | None = None, last: bool = False) -> str:
    """File name of a checkpoint: ``checkpoint_<model>_{epoch<E>,step<S>,last}.pt``."""
    if last:
        return f"checkpoint_{model}_last.pt"
    if epoch is not None:
        return f"checkpoint_{model}_epoch{epoch}.pt"
    return f"checkpoint_{model}_step{step}.pt"


def _copy_atomic(src: Path, dst: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _freeze_all_but(model: nn.Module, prefixes: list[str]) -> list[nn.Module]:
    """Freeze every parameter whose name starts with none of ``prefixes`` (none frozen when empty).

    Returns the modules all of whose parameters are now frozen (outermost only), which the caller
    keeps in eval mode. A prefix that names no parameter raises ``ConfigError``.
    """
    if not prefixes:
        return []

    def selected(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix.rstrip(".") + ".")

    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(selected(name, prefix) for name in names):
            raise ConfigError(f"optim.train_only: {prefix!r} names no parameter of the model "
                              f"(its top-level parts: {sorted({n.split('.')[0] for n in names})})")
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(any(selected(name, prefix) for prefix in prefixes))
    frozen: dict[str, nn.Module] = {}
    for name, module in model.named_modules():  # parents come before their children
        params = list(module.parameters())
        if any(name.startswith(outer + ".") for outer in frozen):
            continue
        if params and not any(p.requires_grad for p in params):
            frozen[name] = module
    return list(frozen.values())


class Trainer:
    """One process's part of a training run (see the module docstring).

    Args:
        config: the run's settings.
        output_dir: where checkpoints and logs go (created).
        ctx: this process's place in the run (:func:`tacoglow.training.distributed.init_distributed`).
        resume: a checkpoint to continue from, "auto" (``checkpoint_<model>_last.pt`` in
            ``output_dir`` if it exists, else a fresh start) or None.
        warm_start_from: a checkpoint whose matching weights initialize a fresh run (ignored
            when a resume checkpoint is found).
        ignore_layers: keys (prefixes, globs) the warm start leaves at their fresh init.

    Attributes:
        model: the model being trained (DDP-wrapped when distributed); ``raw_model`` is the plain one.
    """

    def __init__(self, config: TrainConfig, output_dir: str | os.PathLike[str], ctx: DistributedContext | None = None,
                 *, resume: str | os.PathLike[str] | None = None, warm_start_from: str | os.PathLike[str] | None = None,
                 ignore_layers: Sequence[str] = ()) -> None:
        self.config = config.validate()
        self.ctx = ctx or DistributedContext()
        self.device = self.ctx.device
        self.output_dir = Path(output_dir)
        self.kind = config.model
        if self.ctx.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        if config.amp == "fp16" and self.device.type == "cpu" and self.kind == "tacotron2":
            raise ConfigError("amp: fp16 on CPU cannot run Tacotron 2 (no fp16 CPU LSTM kernels); "
                              "use amp: bf16 or off")
        if self.kind == "tacotron2" and config.tacotron2.n_symbols != len(SYMBOLS):  # type: ignore[union-attr]
            raise ConfigError(f"tacotron2.n_symbols: expected {len(SYMBOLS)} (the text frontend's symbol table), "
                              f"found {config.tacotron2.n_symbols}")  # type: ignore[union-attr]
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = config.tf32
            torch.backends.cudnn.allow_tf32 = config.tf32

        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.skipped_steps = 0
        self._saved_at: tuple[int, int, int] | None = None
        self._last_checkpoint: Path | None = None

        train_utts, val_utts = _split_and_check(config, self.ctx)
        self.train_set, self.val_set = self._dataset(train_utts, 0), (self._dataset(val_utts, 1) if val_utts else None)
        self.sampler = DistributedSampler(self.train_set, num_replicas=self.ctx.world_size, rank=self.ctx.rank,
                                          shuffle=True, seed=config.seed)
        self.batches_per_epoch = len(self.sampler) // config.batch_size
        if self.batches_per_epoch == 0:
            raise DataError(f"training set: {len(train_utts)} usable utterances give no full batch of "
                            f"batch_size {config.batch_size} on each of {self.ctx.world_size} process(es); "
                            "lower batch_size or add data")

        # Same seed on every rank for the model init (DDP also broadcasts rank 0's weights).
        _seed_everything(config.seed)
        self.raw_model = self._build_model().to(self.device)
        self.metrics = MetricsLogger(self.output_dir, enabled=self.ctx.is_main, tensorboard=config.log.tensorboard)
        try:
            resume_path = self._resume_path(resume)
            if warm_start_from is not None and resume_path is None:
                report = warm_start(self.raw_model, warm_start_from, ignore_layers)
                self.metrics.log_event("warm_start", {"source": str(warm_start_from), "loaded": len(report.loaded),
                                                      "fresh": report.fresh})
            elif warm_start_from is not None:
                log.info("resuming from %s: --warm-start %s not used", resume_path, warm_start_from)
            self._frozen_modules = _freeze_all_but(self.raw_model, config.optim.train_only)
            self._train_mode()
            self.model: nn.Module = self.raw_model
            if self.ctx.is_distributed:
                self.model = DistributedDataParallel(
                    self.raw_model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            self.optimizer = torch.optim.Adam([p for p in self.raw_model.parameters() if p.requires_grad],
                                              lr=config.optim.learning_rate,
                                              weight_decay=config.optim.weight_decay)
            self.scaler = torch.amp.GradScaler(self.device.type) if config.amp == "fp16" else None
            # Dropout differs per rank (seed + rank), as the reference seeds.
            _seed_everything(config.seed + self.ctx.rank)
            if resume_path is not None:
                self._resume(resume_path)
        except BaseException:
            self.metrics.close()
            raise

    # -- setup helpers ------------------------------------------------------------------------

    def _dataset(self, utts: list[Utterance], stream: int) -> Dataset:
        config = self.config
        if self.kind == "tacotron2":
            from_disk = bool(utts) and utts[0].mel_path is not None
            return TextMelDataset(utts, config.mel, config.data.text_frontend, load_mel_from_disk=from_disk,
                                  resample=config.data.resample)
        audio = AudioMelDataset(utts, config.mel, config.data.segment_length, resample=config.data.resample)
        return _SeededCrops(audio, config.seed, stream)

    def _build_model(self) -> nn.Module:
        if self.kind == "waveglow":
            return WaveGlow(self.config.waveglow)
        model = Tacotron2(self.config.tacotron2)  # type: ignore[arg-type]
        if self.config.uniform_bn_init:
            with torch.no_grad():
                for module in model.modules():
                    if isinstance(module, nn.BatchNorm1d):
                        nn.init.uniform_(module.weight)
        return model

    def _loader(self, dataset: Dataset, sampler: Sampler[int], *, drop_last: bool, epoch: int) -> DataLoader:
        collate = TextMelCollate(self.config.tacotron2.n_frames_per_step) if self.kind == "tacotron2" else None  # type: ignore[union-attr]
        workers = self.config.data.num_workers
        return DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler, num_workers=workers,
                          collate_fn=collate, drop_last=drop_last, pin_memory=self.device.type == "cuda",
                          # The worker base seed comes from here, not from the global RNG that
                          # dropout uses, so building a loader does not shift dropout masks.
                          generator=torch.Generator().manual_seed(self.config.seed + epoch))

    def _train_loader(self, epoch: int, skip_batches: int) -> DataLoader:
        self.sampler.set_epoch(epoch)
        if isinstance(self.train_set, _SeededCrops):
            self.train_set.epoch = epoch
        return self._loader(self.train_set, _SkipSampler(self.sampler, skip_batches * self.config.batch_size),
                            drop_last=True, epoch=epoch)

    def _val_loader(self) -> DataLoader | None:
        if self.val_set is None:
            return None
        sampler: Sampler[int]
        if self.ctx.is_distributed:
            sampler = DistributedSampler(self.val_set, num_replicas=self.ctx.world_size, rank=self.ctx.rank,
                                         shuffle=False)
        else:
            sampler = SequentialSampler(self.val_set)
        return self._loader(self.val_set, sampler, drop_last=False, epoch=0)

    def _autocast(self) -> ContextManager[Any]:
        if self.config.amp == "off":
            return nullcontext()
        dtype = torch.float16 if self.config.amp == "fp16" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # -- resume ---------------------------------------------------------------------------------

    def _resume_path(self, resume: str | os.PathLike[str] | None) -> Path | None:
        if resume is None:
            return None
        if str(resume) == "auto":
            path = self.output_dir / checkpoint_name(self.kind, last=True)
            if not path.exists():
                log.info("--resume auto: no %s yet, starting fresh", path)
                return None
            return path
        return Path(resume)

    def _resume(self, path: Path) -> None:
        loaded = load_model(path, kind=self.kind)
        checkpoint = loaded.checkpoint
        if loaded.source_format != "tacoglow" or "optimizer" not in checkpoint or "step" not in checkpoint:
            raise CheckpointError(f"{path}: holds weights but no training state to resume; "
                                  "use --warm-start to start from its weights")
        stored, wanted = dataclasses.asdict(loaded.model.config), dataclasses.asdict(self.config.model_config)
        diff = [f"{k} {stored[k]!r} != {v!r}" for k, v in wanted.items() if stored.get(k) != v]
        if diff:
            raise ConfigError(f"{path}: the checkpoint's {self.kind} architecture differs from the config's "
                              f"({', '.join(diff)})")
        if loaded.mel_config != self.config.mel:
            raise ConfigError(f"{path}: the checkpoint's mel settings differ from the config's "
                              f"({loaded.mel_config} != {self.config.mel})")
        self.raw_model.load_state_dict(loaded.model.state_dict())
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scaler is not None and checkpoint.get("scaler"):
            self.scaler.load_state_dict(checkpoint["scaler"])
        self.epoch = int(checkpoint["epoch"])
        self.batch_in_epoch = int(checkpoint["batch_in_epoch"])
        self.step = int(checkpoint["step"])
        self.skipped_steps = int(checkpoint.get("skipped_steps", 0))
        states = checkpoint.get("rng") or []
        if len(states) != self.ctx.world_size:
            log.warning("%s: saved by %d process(es), resuming with %d: RNG streams are reassigned, so the "
                        "run continues but not bit-identically", path, len(states), self.ctx.world_size)
        if states:
            restore_rng_state(states[self.ctx.rank % len(states)], self.device)
        if self.batch_in_epoch > self.batches_per_epoch:
            raise CheckpointError(f"{path}: {self.batch_in_epoch} batches done in epoch {self.epoch}, but an epoch "
                                  f"now has {self.batches_per_epoch}: the data or batch size changed")
        self._saved_at = (self.step, self.epoch, self.batch_in_epoch)
        self._last_checkpoint = path
        log.info("resumed from %s: step %d, epoch %d (+%d batches)", path, self.step, self.epoch, self.batch_in_epoch)
        self.metrics.log_event("resume", {"source": str(path), "step": self.step, "epoch": self.epoch,
                                          "batch_in_epoch": self.batch_in_epoch})

    # -- one iteration --------------------------------------------------------------------------

    def _loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, Tensor, dict[str, Tensor], tuple[Tensor, ...]]:
        """Forward + loss of one batch.

        Returns:
            loss (scalar), items (mel frames or audio samples in this process's batch), extra
            loss terms for logging, and the tensors :meth:`_log_examples` needs (Tacotron 2:
            its four outputs; WaveGlow: the batch's mel and audio).
        """
        extra: dict[str, Tensor] = {}
        if self.kind == "tacotron2":
            batch = TextMelBatch(*(t.to(self.device, non_blocking=True) for t in batch))
            outputs = model(batch.text, batch.text_lengths, batch.mel, batch.mel_lengths)
            mel, mel_postnet, gate, alignments = outputs
            nfps = self.config.tacotron2.n_frames_per_step  # type: ignore[union-attr]
            steps = torch.div(batch.mel_lengths + nfps - 1, nfps, rounding_mode="floor")
            # tacotron2_loss picks each decoder step's gate target (its last frame's) itself.
            loss = tacotron2_loss(mel, mel_postnet, gate, batch.mel, batch.gate, self.config.loss.mel_loss)
            weight = self.config.loss.guided_attention_weight
            if weight > 0:
                guided = guided_attention_loss(alignments, batch.text_lengths, steps,
                                               self.config.loss.guided_attention_width)
                extra["guided_attention_loss"] = guided.detach()
                loss = loss + weight * guided
            items = batch.mel_lengths.sum()
            return loss, items, extra, tuple(outputs)
        mel, audio = (t.to(self.device, non_blocking=True) for t in batch)
        outputs = model(mel, audio)
        loss = waveglow_loss(*outputs, sigma=self.config.loss.sigma)
        return loss, torch.tensor(audio.numel(), device=self.device), extra, (mel, audio)

    def _train_step(self, batch: Any) -> dict[str, Any]:
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss, items, extra, _ = self._loss(self.model, batch)
        # One collective for the logged loss and the global item count.
        reduced = all_reduce_sum(torch.stack([loss.detach().float(), items.float()]), self.ctx)
        mean_loss, global_items = float(reduced[0]) / self.ctx.world_size, float(reduced[1])
        if math.isnan(mean_loss) or (math.isinf(mean_loss) and self.scaler is None):
            raise TrainingError(f"step {self.step + 1} (epoch {self.epoch}): loss is {mean_loss}; training diverged "
                                "(lower optim.learning_rate, keep clipping on, or use amp off/bf16)")
        clip = self.config.effective_grad_clip
        params = [p for p in self.raw_model.parameters() if p.requires_grad]
        skipped = False
        if self.scaler is not None:
            scale_before = self.scaler.get_scale()
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            grad_norm = _clip_gradients(params, clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            # GradScaler skips optimizer.step on inf/NaN gradients and then lowers the scale.
            skipped = self.scaler.get_scale() < scale_before
        else:
            loss.backward()
            grad_norm = _clip_gradients(params, clip)
            self.optimizer.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed = time.perf_counter() - start
        self.skipped_steps += int(skipped)
        record = {"loss": mean_loss, "grad_norm": float(grad_norm), "lr": self.optimizer.param_groups[0]["lr"],
                  "skipped": skipped, self._rate_name: global_items / elapsed, "iteration_s": elapsed}
        if self.scaler is not None:
            record["loss_scale"] = self.scaler.get_scale()
        for key, value in extra.items():
            record[key] = float(all_reduce_mean(value.float(), self.ctx))
        return record

    @property
    def _rate_name(self) -> str:
        return "mels_per_s" if self.kind == "tacotron2" else "samples_per_s"

    # -- validation -----------------------------------------------------------------------------

    def validate(self) -> float | None:
        """Mean validation loss (teacher-forced for Tacotron 2), averaged over ranks; None without a set."""
        loader = self._val_loader()
        if loader is None:
            return None
        model = self.raw_model
        model.eval()
        total, n_batches = 0.0, 0
        with torch.no_grad():
            for index, batch in enumerate(loader):
                with self._autocast():
                    loss, _, _, outputs = self._loss(model, batch)
                total += float(all_reduce_mean(loss.detach().float(), self.ctx))
                n_batches += 1
                if index == 0 and self.metrics.writer is not None:
                    self._log_examples(batch, outputs)
        self._train_mode()
        return total / max(n_batches, 1)

    def _train_mode(self) -> None:
        """Training mode, except for frozen modules, which run as at synthesis."""
        self.raw_model.train()
        for module in self._frozen_modules:
            module.eval()

    def _log_examples(self, batch: Any, outputs: tuple[Tensor, ...]) -> None:
        """Alignment image and an audio sample of the first validation item (TensorBoard only)."""
        rate = self.config.mel.sampling_rate
        if self.kind == "tacotron2":
            _, mel_postnet, _, alignments = outputs
            text_length, mel_length = int(batch.text_lengths[0]), int(batch.mel_lengths[0])
            nfps = self.config.tacotron2.n_frames_per_step  # type: ignore[union-attr]
            self.metrics.log_alignment("validation/alignment", alignments[0, :-(-mel_length // nfps), :text_length],
                                       self.step)
            vocoder = GriffinLimVocoder(self.config.mel, n_iters=_PREVIEW_GL_ITERS)
            audio = vocoder(mel_postnet[:1, :, :mel_length].float().cpu())
        else:
            mel, _ = outputs
            audio = self.raw_model.infer(mel[:1].float(), sigma=_VALIDATION_SIGMA,  # type: ignore[operator]
                                         generator=torch.Generator(self.device).manual_seed(0))
        self.metrics.log_audio("validation/audio", audio[0], self.step, rate)

    # -- checkpoints ----------------------------------------------------------------------------

    def save(self, name: str) -> Path | None:
        """Write a checkpoint of the current position as ``name`` and refresh ``..._last.pt``.

        Every rank must call this (RNG states are gathered); rank 0 writes. Returns the path.
        """
        rng = all_gather_objects(capture_rng_state(self.device), self.ctx)
        path = self.output_dir / name
        if self.ctx.is_main:
            save_checkpoint(
                path, self.raw_model, mel_config=self.config.mel,
                symbols=list(SYMBOLS) if self.kind == "tacotron2" else None,
                text_frontend=self.config.data.text_frontend if self.kind == "tacotron2" else None,
                optimizer=self.optimizer.state_dict(),
                scaler=self.scaler.state_dict() if self.scaler is not None else {},
                rng=rng, epoch=self.epoch, batch_in_epoch=self.batch_in_epoch, step=self.step,
                skipped_steps=self.skipped_steps, world_size=self.ctx.world_size,
                train_config=self.config.to_dict(),
            )
            _copy_atomic(path, self.output_dir / checkpoint_name(self.kind, last=True))
            log.info("checkpoint %s (step %d)", path, self.step)
            self.metrics.log_event("checkpoint", {"path": str(path), "step": self.step, "epoch": self.epoch,
                                                  "batch_in_epoch": self.batch_in_epoch})
        barrier(self.ctx)
        self._saved_at = (self.step, self.epoch, self.batch_in_epoch)
        self._last_checkpoint = path
        return path

    # -- the loop -------------------------------------------------------------------------------

    def fit(self) -> TrainResult:
        """Train until ``config.epochs`` epochs or ``config.max_steps`` steps; return what happened."""
        config = self.config
        result = TrainResult(self.output_dir, self.step, self.epoch)
        rates: list[float] = []
        if self.ctx.is_main:
            n_params = sum(p.numel() for p in self.raw_model.parameters())
            n_trained = sum(p.numel() for p in self.raw_model.parameters() if p.requires_grad)
            trained = f", {n_trained / 1e6:.2f} M of them trained" if n_trained < n_params else ""
            log.info("training %s (%.2f M parameters%s) on %s x%d, %d items/epoch, %d batches of %d per process, "
                     "amp %s", self.kind, n_params / 1e6, trained, self.device, self.ctx.world_size,
                     len(self.train_set), self.batches_per_epoch, config.batch_size, config.amp)
            self.metrics.log_event("start", {"step": self.step, "epoch": self.epoch, "world_size": self.ctx.world_size,
                                             "parameters": n_params, "config": config.to_dict()})
        try:
            stop = config.max_steps > 0 and self.step >= config.max_steps
            with logging_redirect_tqdm():
                while not stop and self.epoch < config.epochs:
                    stop = self._run_epoch(result, rates)
            if self._saved_at != (self.step, self.epoch, self.batch_in_epoch):
                self.save(checkpoint_name(self.kind, step=self.step))
        except TrainingError as exc:
            self.metrics.log_event("error", {"step": self.step, "epoch": self.epoch, "message": str(exc)})
            raise
        finally:
            self.metrics.close()
        result.step, result.epoch, result.skipped_steps = self.step, self.epoch, self.skipped_steps
        result.items_per_s = sum(rates) / len(rates) if rates else 0.0
        result.last_checkpoint = self._last_checkpoint
        return result

    def _run_epoch(self, result: TrainResult, rates: list[float]) -> bool:
        """Train the rest of epoch ``self.epoch``; at its end validate and checkpoint. True: stop now."""
        config = self.config
        epoch = self.epoch
        lr = learning_rate(epoch, config.optim.learning_rate, config.optim.anneal_steps, config.optim.anneal_factor)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        epoch_start = time.perf_counter()
        losses, epoch_rates = [], []
        stop = False
        show = self.ctx.is_main and config.log.progress_bar
        with tqdm(total=self.batches_per_epoch, initial=self.batch_in_epoch, desc=f"epoch {epoch}", unit="batch",
                  disable=None if show else True) as bar:  # None: shown on terminals only
            for batch in self._train_loader(epoch, self.batch_in_epoch):
                record = self._train_step(batch)
                self.step += 1
                self.batch_in_epoch += 1
                losses.append(record["loss"])
                epoch_rates.append(record[self._rate_name])
                result.losses.append(record["loss"])
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.4f}")
                self._log_step(epoch, record)
                if config.checkpoint.every_steps and self.step % config.checkpoint.every_steps == 0:
                    self.save(checkpoint_name(self.kind, step=self.step))
                if config.max_steps and self.step >= config.max_steps:
                    stop = True
                    break
        rates.extend(epoch_rates)
        if self.batch_in_epoch < self.batches_per_epoch:
            return True  # stopped mid-epoch: fit() writes the position's checkpoint
        due = config.validate_every_epochs and (epoch + 1) % config.validate_every_epochs == 0
        val_loss = self.validate() if due else None
        if val_loss is not None:
            result.val_losses.append(val_loss)
        self.epoch, self.batch_in_epoch = epoch + 1, 0
        self._log_epoch(epoch, losses, epoch_rates, val_loss, time.perf_counter() - epoch_start)
        every = config.checkpoint.every_epochs
        if (every and self.epoch % every == 0) or self.epoch == config.epochs or stop:
            self.save(checkpoint_name(self.kind, epoch=self.epoch))
        return stop

    def _log_step(self, epoch: int, record: dict[str, Any]) -> None:
        config = self.config
        if self.step % config.log.every_steps == 0:
            self.metrics.log_step({"step": self.step, "epoch": epoch, **{k: v for k, v in record.items() if k != "skipped"},
                                   "skipped_steps": self.skipped_steps})
        if self.ctx.is_main and self.step % config.log.line_every_steps == 0:
            scale = f" scale {record['loss_scale']:g}" if "loss_scale" in record else ""
            log.info("step %d epoch %d: loss %.4f grad_norm %.3f lr %.2e %.0f %s%s skipped %d",
                     self.step, epoch, record["loss"], record["grad_norm"], record["lr"],
                     record[self._rate_name], self._rate_name.replace("_per_s", "/s"), scale, self.skipped_steps)

    def _log_epoch(self, epoch: int, losses: list[float], rates: list[float], val_loss: float | None,
                   seconds: float) -> None:
        record: dict[str, Any] = {"epoch": epoch, "step": self.step,
                                  "train_loss": sum(losses) / len(losses) if losses else None,
                                  "val_loss": val_loss, self._rate_name: sum(rates) / len(rates) if rates else None,
                                  "epoch_time_s": seconds, "skipped_steps": self.skipped_steps}
        self.metrics.log_epoch(record)
        if self.ctx.is_main:
            log.info("epoch %d done (step %d): train loss %s, val loss %s, %s %s, %.1f s", epoch, self.step,
                     f"{record['train_loss']:.4f}" if losses else "-",
                     f"{val_loss:.4f}" if val_loss is not None else "-", self._rate_name,
                     f"{record[self._rate_name]:.0f}" if rates else "-", seconds)


def train(config: TrainConfig, output_dir: str | os.PathLike[str], *, resume: str | os.PathLike[str] | None = None,
          warm_start_from: str | os.PathLike[str] | None = None, ignore_layers: Sequence[str] = ()) -> TrainResult:
    """Train Tacotron 2 or WaveGlow with ``config``; one call per process (torchrun starts them).

    Joins the process group described by torchrun's environment (if any), trains, writes
    checkpoints and logs (rank 0) to ``output_dir``, and leaves the group.

    Args:
        config: the run's settings (:func:`tacoglow.training.config.load_config`).
        output_dir: the run's folder.
        resume: a checkpoint path, "auto" (the folder's last checkpoint if any) or None.
        warm_start_from: weights to start a fresh run from (NVIDIA or tacoglow files).
        ignore_layers: keys, prefixes or globs the warm start must not copy.

    Returns:
        a :class:`TrainResult`.

    Raises:
        ConfigError, DataError, CheckpointError: bad settings, data or files (one-line messages).
        TrainingError: the loss became NaN.

    >>> cfg = load_config("configs/tiny_tacotron2.json", overrides=["data.train=corpus"])  # doctest: +SKIP
    >>> train(cfg, "runs/tiny").losses[-1]  # doctest: +SKIP
    """
    ctx = init_distributed(config.device)
    try:
        return Trainer(config, output_dir, ctx, resume=resume, warm_start_from=warm_start_from,
                       ignore_layers=ignore_layers).fit()
    finally:
        cleanup_distributed(ctx)
