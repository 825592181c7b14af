"""The training loop for Tacotron 2 and WaveGlow: NVIDIA's recipe, resumable and observable.

:func:`train` runs one process's share of a (possibly distributed) run; ``tacoglow train`` calls
it. The loop knows no model: a :class:`~tacoglow.training.tasks.Task` builds the model, its data
and its loss, and says what to log. Per iteration, as the reference (ARCHITECTURE_FACTS §6.1):
the epoch's learning rate, zero grads, forward + loss under autocast, backward (scaled under
fp16), unscale, clip the total gradient norm, optimizer step; a NaN loss stops the run with a
clear error.

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
import itertools
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence, Sized
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, SequentialSampler
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from tacoglow.checkpoints import load_model, save_checkpoint, warm_start
from tacoglow.errors import CheckpointError, ConfigError, DataError, TacoglowError
from tacoglow.fileio import atomic_write, remove_stale_temp_files
from tacoglow.training.config import TrainConfig
from tacoglow.training.data import read_training_items
from tacoglow.training.distributed import (
    DistributedContext,
    all_gather_objects,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    cleanup_distributed,
    init_distributed,
)
from tacoglow.training.metrics import MetricsLogger
from tacoglow.training.rng import capture_rng_state, restore_rng_state, seed_everything
from tacoglow.training.schedule import learning_rate
from tacoglow.training.tasks import make_task

__all__ = ["TrainResult", "Trainer", "TrainingError", "checkpoint_name", "train"]

log = logging.getLogger(__name__)


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
# Helpers


class _SkipSampler(Sampler[int]):
    """The indices of ``sampler`` after the first ``skip`` (the batches a resumed epoch already did)."""

    def __init__(self, sampler: Sampler[int], skip: int) -> None:
        self.sampler = sampler
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)  # type: ignore[arg-type]


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
    with open(src, "rb") as source, atomic_write(dst, error=CheckpointError, durable=True) as target:
        shutil.copyfileobj(source, target)


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

    def __init__(
        self,
        config: TrainConfig,
        output_dir: str | os.PathLike[str],
        ctx: DistributedContext | None = None,
        *,
        resume: str | os.PathLike[str] | None = None,
        warm_start_from: str | os.PathLike[str] | None = None,
        ignore_layers: Sequence[str] = (),
    ) -> None:
        self.config = config.validate()
        self.ctx = ctx or DistributedContext()
        self.device = self.ctx.device
        self.output_dir = Path(output_dir)
        self.kind = config.model
        self.task = make_task(self.config, self.device)
        if self.ctx.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(self.output_dir)  # checkpoints half-written by a killed run
        self.task.check()
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = config.tf32
            torch.backends.cudnn.allow_tf32 = config.tf32

        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.skipped_steps = 0
        self._saved_at: tuple[int, int, int] | None = None
        self._last_checkpoint: Path | None = None

        train_items, val_items = read_training_items(config, self.task, self.ctx)
        self.train_set: Dataset = self.task.dataset(train_items, 0)
        self.val_set: Dataset | None = self.task.dataset(val_items, 1) if val_items else None
        self.sampler: DistributedSampler[int] = DistributedSampler(
            self.train_set, num_replicas=self.ctx.world_size, rank=self.ctx.rank, shuffle=True, seed=config.seed
        )
        self.batches_per_epoch = len(self.sampler) // config.batch_size
        if self.batches_per_epoch == 0:
            raise DataError(
                f"training set: {len(train_items)} usable utterances give no full batch of "
                f"batch_size {config.batch_size} on each of {self.ctx.world_size} process(es); "
                "lower batch_size or add data"
            )

        # Same seed on every rank for the model init (DDP also broadcasts rank 0's weights).
        seed_everything(config.seed)
        self.raw_model = self.task.build_model().to(self.device)
        self.metrics = MetricsLogger(self.output_dir, enabled=self.ctx.is_main, tensorboard=config.log.tensorboard)
        try:
            resume_path = self._resume_path(resume)
            if warm_start_from is not None and resume_path is None:
                report = warm_start(self.raw_model, warm_start_from, ignore_layers)
                self.metrics.log_event(
                    "warm_start", {"source": str(warm_start_from), "loaded": len(report.loaded), "fresh": report.fresh}
                )
            elif warm_start_from is not None:
                log.info("resuming from %s: --warm-start %s not used", resume_path, warm_start_from)
            self.raw_model.train()
            self.model: nn.Module = self.raw_model
            if self.ctx.is_distributed:
                self.model = DistributedDataParallel(
                    self.raw_model, device_ids=[self.device.index] if self.device.type == "cuda" else None
                )
            self.optimizer = torch.optim.Adam(
                self.raw_model.parameters(), lr=config.optim.learning_rate, weight_decay=config.optim.weight_decay
            )
            self.scaler = torch.amp.GradScaler(self.device.type) if config.amp == "fp16" else None
            # Dropout differs per rank (seed + rank), as the reference seeds.
            seed_everything(config.seed + self.ctx.rank)
            if resume_path is not None:
                self._resume(resume_path)
        except BaseException:
            self.metrics.close()
            raise

    # -- setup helpers ------------------------------------------------------------------------

    def _loader(self, dataset: Dataset, sampler: Sampler[int], *, drop_last: bool, epoch: int) -> DataLoader:
        workers = self.config.data.num_workers
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=self.task.collate(),
            drop_last=drop_last,
            pin_memory=self.device.type == "cuda",
            # The worker base seed comes from here, not from the global RNG that
            # dropout uses, so building a loader does not shift dropout masks.
            generator=torch.Generator().manual_seed(self.config.seed + epoch),
        )

    def _train_loader(self, epoch: int, skip_batches: int) -> DataLoader:
        self.sampler.set_epoch(epoch)
        self.task.start_epoch(self.train_set, epoch)
        return self._loader(
            self.train_set,
            _SkipSampler(self.sampler, skip_batches * self.config.batch_size),
            drop_last=True,
            epoch=epoch,
        )

    def _val_loader(self) -> DataLoader | None:
        if self.val_set is None:
            return None
        sampler: Sampler[int]
        if self.ctx.is_distributed:
            sampler = DistributedSampler(
                self.val_set, num_replicas=self.ctx.world_size, rank=self.ctx.rank, shuffle=False
            )
        else:
            assert isinstance(self.val_set, Sized)  # the tasks' datasets are map-style, with a length
            sampler = SequentialSampler(self.val_set)
        return self._loader(self.val_set, sampler, drop_last=False, epoch=0)

    def _autocast(self) -> AbstractContextManager[Any]:
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
            raise CheckpointError(
                f"{path}: holds weights but no training state to resume; use --warm-start to start from its weights"
            )
        stored, wanted = dataclasses.asdict(loaded.config), dataclasses.asdict(self.config.model_config)
        diff = [f"{k} {stored[k]!r} != {v!r}" for k, v in wanted.items() if stored.get(k) != v]
        if diff:
            raise ConfigError(
                f"{path}: the checkpoint's {self.kind} architecture differs from the config's ({', '.join(diff)})"
            )
        if loaded.mel_config != self.config.mel:
            raise ConfigError(
                f"{path}: the checkpoint's mel settings differ from the config's "
                f"({loaded.mel_config} != {self.config.mel})"
            )
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
            log.warning(
                "%s: saved by %d process(es), resuming with %d: RNG streams are reassigned, so the "
                "run continues but not bit-identically",
                path,
                len(states),
                self.ctx.world_size,
            )
        if states:
            restore_rng_state(states[self.ctx.rank % len(states)], self.device)
        if self.batch_in_epoch > self.batches_per_epoch:
            raise CheckpointError(
                f"{path}: {self.batch_in_epoch} batches done in epoch {self.epoch}, but an epoch "
                f"now has {self.batches_per_epoch}: the data or batch size changed"
            )
        self._saved_at = (self.step, self.epoch, self.batch_in_epoch)
        self._last_checkpoint = path
        log.info("resumed from %s: step %d, epoch %d (+%d batches)", path, self.step, self.epoch, self.batch_in_epoch)
        self.metrics.log_event(
            "resume",
            {"source": str(path), "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch},
        )

    # -- one iteration --------------------------------------------------------------------------

    def _train_step(self, batch: Any) -> dict[str, Any]:
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            scored = self.task.loss(self.model, batch)
        loss, items = scored.loss, scored.items
        # One collective for the logged loss and the global item count.
        reduced = all_reduce_sum(torch.stack([loss.detach().float(), items.float()]), self.ctx)
        mean_loss, global_items = float(reduced[0]) / self.ctx.world_size, float(reduced[1])
        if math.isnan(mean_loss) or (math.isinf(mean_loss) and self.scaler is None):
            raise TrainingError(
                f"step {self.step + 1} (epoch {self.epoch}): loss is {mean_loss}; training diverged "
                "(lower optim.learning_rate, keep clipping on, or use amp off/bf16)"
            )
        clip = self.config.effective_grad_clip
        params = list(self.raw_model.parameters())
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
        record = {
            "loss": mean_loss,
            "grad_norm": float(grad_norm),
            "lr": self.optimizer.param_groups[0]["lr"],
            "skipped": skipped,
            self.task.rate_name: global_items / elapsed,
            "iteration_s": elapsed,
        }
        if self.scaler is not None:
            record["loss_scale"] = self.scaler.get_scale()
        for key, value in scored.extra.items():
            record[key] = float(all_reduce_mean(value.float(), self.ctx))
        return record

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
                    scored = self.task.loss(model, batch)
                total += float(all_reduce_mean(scored.loss.detach().float(), self.ctx))
                n_batches += 1
                if index == 0 and self.metrics.writer is not None:
                    self.task.log_examples(self.metrics, model, batch, scored, self.step)
        self.raw_model.train()
        return total / max(n_batches, 1)

    # -- checkpoints ----------------------------------------------------------------------------

    def save(self, name: str) -> Path | None:
        """Write a checkpoint of the current position as ``name`` and refresh ``..._last.pt``.

        Every rank must call this (RNG states are gathered); rank 0 writes. Returns the path.
        """
        rng = all_gather_objects(capture_rng_state(self.device), self.ctx)
        path = self.output_dir / name
        if self.ctx.is_main:
            save_checkpoint(
                path,
                self.raw_model,
                mel_config=self.config.mel,
                **self.task.checkpoint_extras(),
                optimizer=self.optimizer.state_dict(),
                scaler=self.scaler.state_dict() if self.scaler is not None else {},
                rng=rng,
                epoch=self.epoch,
                batch_in_epoch=self.batch_in_epoch,
                step=self.step,
                skipped_steps=self.skipped_steps,
                world_size=self.ctx.world_size,
                train_config=self.config.to_dict(),
            )
            _copy_atomic(path, self.output_dir / checkpoint_name(self.kind, last=True))
            log.info("checkpoint %s (step %d)", path, self.step)
            self.metrics.log_event(
                "checkpoint",
                {"path": str(path), "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch},
            )
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
            assert isinstance(self.train_set, Sized)  # the tasks' datasets are map-style, with a length
            log.info(
                "training %s (%.2f M parameters) on %s x%d, %d items/epoch, %d batches of %d per process, amp %s",
                self.kind,
                n_params / 1e6,
                self.device,
                self.ctx.world_size,
                len(self.train_set),
                self.batches_per_epoch,
                config.batch_size,
                config.amp,
            )
            self.metrics.log_event(
                "start",
                {
                    "step": self.step,
                    "epoch": self.epoch,
                    "world_size": self.ctx.world_size,
                    "parameters": n_params,
                    "config": config.to_dict(),
                },
            )
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
        optim = config.optim
        lr = learning_rate(epoch, optim.learning_rate, optim.anneal_steps, optim.schedule, optim.anneal_factor)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        epoch_start = time.perf_counter()
        losses, epoch_rates = [], []
        stop = False
        show = self.ctx.is_main and config.log.progress_bar
        with tqdm(
            total=self.batches_per_epoch,
            initial=self.batch_in_epoch,
            desc=f"epoch {epoch}",
            unit="batch",
            disable=None if show else True,
        ) as bar:  # None: shown on terminals only
            for batch in self._train_loader(epoch, self.batch_in_epoch):
                record = self._train_step(batch)
                self.step += 1
                self.batch_in_epoch += 1
                losses.append(record["loss"])
                epoch_rates.append(record[self.task.rate_name])
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
            self.metrics.log_step(
                {
                    "step": self.step,
                    "epoch": epoch,
                    **{k: v for k, v in record.items() if k != "skipped"},
                    "skipped_steps": self.skipped_steps,
                }
            )
        if self.ctx.is_main and self.step % config.log.line_every_steps == 0:
            scale = f" scale {record['loss_scale']:g}" if "loss_scale" in record else ""
            log.info(
                "step %d epoch %d: loss %.4f grad_norm %.3f lr %.2e %.0f %s%s skipped %d",
                self.step,
                epoch,
                record["loss"],
                record["grad_norm"],
                record["lr"],
                record[self.task.rate_name],
                self.task.rate_name.replace("_per_s", "/s"),
                scale,
                self.skipped_steps,
            )

    def _log_epoch(
        self, epoch: int, losses: list[float], rates: list[float], val_loss: float | None, seconds: float
    ) -> None:
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": self.step,
            "train_loss": sum(losses) / len(losses) if losses else None,
            "val_loss": val_loss,
            self.task.rate_name: sum(rates) / len(rates) if rates else None,
            "epoch_time_s": seconds,
            "skipped_steps": self.skipped_steps,
        }
        self.metrics.log_epoch(record)
        if self.ctx.is_main:
            log.info(
                "epoch %d done (step %d): train loss %s, val loss %s, %s %s, %.1f s",
                epoch,
                self.step,
                f"{record['train_loss']:.4f}" if losses else "-",
                f"{val_loss:.4f}" if val_loss is not None else "-",
                self.task.rate_name,
                f"{record[self.task.rate_name]:.0f}" if rates else "-",
                seconds,
            )


def train(
    config: TrainConfig,
    output_dir: str | os.PathLike[str],
    *,
    resume: str | os.PathLike[str] | None = None,
    warm_start_from: str | os.PathLike[str] | None = None,
    ignore_layers: Sequence[str] = (),
) -> TrainResult:
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
        return Trainer(
            config, output_dir, ctx, resume=resume, warm_start_from=warm_start_from, ignore_layers=ignore_layers
        ).fit()
    finally:
        cleanup_distributed(ctx)
