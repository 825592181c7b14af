"""Each model's training task: every config model has one, and each scores a batch of its data."""

from __future__ import annotations

from pathlib import Path

import torch

from tacoglow.data import read_metadata
from tacoglow.training.config import MODELS, load_config
from tacoglow.training.tasks import _TASKS, make_task

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_every_model_of_the_config_has_a_task() -> None:
    assert set(_TASKS) == set(MODELS)


def test_tasks_build_their_model_and_score_a_batch_of_their_data(corpus: Path) -> None:
    items = read_metadata(corpus)[:2]
    for model, per_item in (("tacotron2", "mel frames"), ("waveglow", "audio samples")):
        config = load_config(CONFIGS / f"tiny_{model}.json", overrides=[f"data.train={corpus}"])
        task = make_task(config, torch.device("cpu"))
        dataset = task.dataset(items, 0)
        task.start_epoch(dataset, 0)
        collate = task.collate() or torch.utils.data.default_collate
        batch = collate([dataset[0], dataset[1]])
        scored = task.loss(task.build_model(), batch)
        assert scored.loss.dim() == 0 and torch.isfinite(scored.loss), model
        if model == "tacotron2":  # items: the batch's real mel frames
            assert int(scored.items) == int(batch.mel_lengths.sum()), per_item
        else:  # items: every audio sample of the segments
            assert int(scored.items) == 2 * config.data.segment_length, per_item
