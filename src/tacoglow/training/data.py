"""The items a training run reads: the training/validation split, the data check and its policy.

Rank 0 checks every file once; the other ranks take its verdict, so all processes train on the
same items (or fail together with the same message).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from tacoglow.data import DataReport, DatasetItem, check_dataset, filter_utterances, read_dataset, read_mel_config
from tacoglow.data.preprocess import MEL_CONFIG_FILE
from tacoglow.errors import ConfigError, DataError, TacoglowError
from tacoglow.training.config import TrainConfig
from tacoglow.training.distributed import DistributedContext, broadcast_object
from tacoglow.training.tasks import Task

__all__ = ["read_training_items"]

log = logging.getLogger(__name__)


def read_training_items(
    config: TrainConfig, task: Task, ctx: DistributedContext
) -> tuple[list[DatasetItem], list[DatasetItem]]:
    """The training and validation items: read, split, checked on rank 0 with the config's policy.

    Raises:
        ConfigError: no training set, a bad split, or mels made with other mel settings.
        DataError: mixed audio/mel entries, mels for a model that trains on audio, or items
            that fail the check under ``data.on_bad_items: stop``.
    """
    data = config.data
    if not data.train:
        raise ConfigError(
            "data.train: expected a dataset (LJ Speech folder, metadata.csv or filelist), "
            "found none; pass --data or --train-filelist"
        )
    root = data.dataset_root or None
    train_items = read_dataset(data.train, root)
    if data.validation:
        val_items = read_dataset(data.validation, root)
    elif data.validation_items:
        if data.validation_items >= len(train_items):
            raise ConfigError(
                f"data.validation_items: expected fewer than the {len(train_items)} training "
                f"utterances, found {data.validation_items}"
            )
        train_items, val_items = train_items[: -data.validation_items], train_items[-data.validation_items :]
    else:
        val_items = []
    for what, items, path in (("training", train_items, data.train), ("validation", val_items, data.validation)):
        on_disk = [item.mel_path is not None for item in items]
        if any(on_disk) and not task.reads_mels:
            raise DataError(f"{path}: {task.title} trains on audio, found a mel filelist ({what} set)")
        if any(on_disk) and not all(on_disk):
            raise DataError(f"{path}: expected only audio or only mel entries, found both ({what} set)")
        if any(on_disk):
            _check_mel_contract(Path(items[0].mel_path).parent.parent, config)  # type: ignore[arg-type]
    if not data.check:
        return train_items, val_items
    verdict: tuple[list[str], list[str], str] | None = None
    if ctx.is_main:
        try:
            train_ok = _checked(train_items, config, task)
            val_ok = _checked(val_items, config, task) if val_items else []
            verdict = ([item.id for item in train_ok], [item.id for item in val_ok], "")
        except TacoglowError as exc:
            verdict = ([], [], str(exc))
    # Rank 0 reads every file once; the others take its verdict (and fail with it together).
    train_ids, val_ids, error = broadcast_object(verdict, ctx)
    if error:
        raise DataError(error)
    keep_train, keep_val = set(train_ids), set(val_ids)
    return [i for i in train_items if i.id in keep_train], [i for i in val_items if i.id in keep_val]


def _checked(items: list[DatasetItem], config: TrainConfig, task: Task) -> list[DatasetItem]:
    report = check_dataset(
        items,
        config.mel,
        resample=config.data.resample,
        text_frontend=config.data.text_frontend,
        jobs=max(1, min(8, os.cpu_count() or 1)),
    )
    if task.ignored_problems:  # e.g. WaveGlow never reads the transcripts
        report = DataReport(
            report.n_utterances, {k: v for k, v in report.problems.items() if k not in task.ignored_problems}
        )
    return filter_utterances(items, report, on_error=config.data.on_bad_items)  # type: ignore[arg-type]


def _check_mel_contract(folder: Path, config: TrainConfig) -> None:
    """Refuse precomputed mels made with another mel contract than the config's."""
    if not (folder / MEL_CONFIG_FILE).exists():
        log.warning("%s: no %s: cannot check that the mels match the config's mel settings", folder, MEL_CONFIG_FILE)
        return
    recorded = dataclasses.asdict(read_mel_config(folder))
    wanted = dataclasses.asdict(config.mel)
    diff = [f"{k} {recorded[k]!r} != {v!r}" for k, v in wanted.items() if recorded.get(k) != v]
    if diff:
        raise ConfigError(
            f"{folder / MEL_CONFIG_FILE}: the mels were made with other mel settings than the "
            f"config's ({', '.join(diff)}); preprocess again or fix the mel section"
        )
