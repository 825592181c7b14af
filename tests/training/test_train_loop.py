"""Training loop: loss falls, exact resume, AMP (bf16, GradScaler), warm start, data policy, logs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tacoglow.checkpoints import load_model, read_checkpoint
from tacoglow.data import preprocess, read_metadata
from tacoglow.errors import ConfigError, DataError
from tacoglow.models.tacotron2 import Tacotron2
from tacoglow.text import TextFrontend, symbol_to_id
from tacoglow.training import metrics as metrics_module
from tacoglow.training import tasks as tasks_module
from tacoglow.training.config import load_config
from tacoglow.training.loop import Trainer, TrainingError, checkpoint_name
from tacoglow.training.losses import tacotron2_loss
from tacoglow.training.metrics import read_jsonl

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


class _RecordingWriter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.calls.append(("scalar", tag))

    def add_image(self, tag: str, image: torch.Tensor, step: int, dataformats: str) -> None:
        assert image.dim() == 3 and image.shape[0] == 1 and 0 <= float(image.min()) and float(image.max()) <= 1
        self.calls.append(("image", tag))

    def add_audio(self, tag: str, audio: torch.Tensor, step: int, sample_rate: int) -> None:
        assert audio.dim() == 1 and audio.numel() > 0 and sample_rate == 22050
        self.calls.append(("audio", tag))

    def close(self) -> None:
        self.calls.append(("close", ""))


@pytest.fixture
def writer(monkeypatch: pytest.MonkeyPatch) -> _RecordingWriter:
    """A stand-in TensorBoard writer (tensorboard is optional and absent in CI)."""
    recorder = _RecordingWriter()
    monkeypatch.setattr(metrics_module, "_make_summary_writer", lambda log_dir: recorder)
    monkeypatch.setattr(tasks_module, "PREVIEW_GL_ITERS", 1)
    return recorder


def tiny(model: str, corpus: Path, *overrides: str):
    return load_config(CONFIGS / f"tiny_{model}.json", overrides=[f"data.train={corpus}", *overrides])


def test_tacotron2_loss_falls_with_guided_attention(corpus: Path, tmp_path: Path, writer: _RecordingWriter) -> None:
    config = tiny("tacotron2", corpus, "max_steps=15", "loss.guided_attention_weight=1.0")
    result = Trainer(config, tmp_path).fit()
    assert result.step == 15 and len(result.losses) == 15
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    assert last < 0.85 * first, result.losses
    steps = read_jsonl(tmp_path / "train.jsonl", "step")
    assert [r["step"] for r in steps] == list(range(1, 16))
    assert all(r["mels_per_s"] > 0 and r["grad_norm"] > 0 and r["lr"] == 0.002 for r in steps)
    assert all(0.0 < r["guided_attention_loss"] < 1.0 for r in steps)
    epochs = read_jsonl(tmp_path / "train.jsonl", "epoch")
    assert [r["epoch"] for r in epochs] == [0, 1, 2, 3, 4]  # 6 training items / batch 2 = 3 steps an epoch
    assert all(r["val_loss"] > 0 for r in epochs) and len(result.val_losses) == 5
    # TensorBoard: scalars, and per validation an alignment image and a Griffin-Lim audio preview
    assert writer.calls.count(("scalar", "train/loss")) == 15 and ("scalar", "epoch/val_loss") in writer.calls
    assert writer.calls.count(("image", "validation/alignment")) == 5
    assert writer.calls.count(("audio", "validation/audio")) == 5 and writer.calls[-1] == ("close", "")


def test_the_loop_minimises_the_reference_loss_also_with_scheduled_sampling(corpus: Path, tmp_path: Path) -> None:
    """The trained objective is exactly tacotron2_loss; with half of the decoder steps fed the model's
    own frames (the bundled voice's setting) the loss still falls."""
    trainer = Trainer(tiny("tacotron2", corpus, "max_steps=15", "tacotron2.scheduled_sampling=0.5"), tmp_path)
    batch = next(iter(trainer._val_loader()))
    model = trainer.raw_model.eval()
    with torch.no_grad():
        torch.manual_seed(0)  # the prenet's dropout stays on in eval mode
        got = trainer.task.loss(model, batch).loss
        torch.manual_seed(0)
        mel, mel_postnet, gate, _ = model(batch.text, batch.text_lengths, batch.mel, batch.mel_lengths)
    assert torch.equal(got, tacotron2_loss(mel, mel_postnet, gate, batch.mel, batch.gate))
    model.train()
    result = trainer.fit()
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    assert last < 0.85 * first, result.losses


def test_waveglow_nll_falls_and_checkpoints(corpus: Path, tmp_path: Path, writer: _RecordingWriter) -> None:
    result = Trainer(tiny("waveglow", corpus, "max_steps=15"), tmp_path).fit()
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    assert last < first - 0.3, result.losses
    steps = read_jsonl(tmp_path / "train.jsonl", "step")
    assert all(r["samples_per_s"] > 0 for r in steps)
    assert result.items_per_s == pytest.approx(sum(r["samples_per_s"] for r in steps) / 15)
    assert writer.calls.count(("audio", "validation/audio")) == 5
    assert ("image", "validation/alignment") not in writer.calls

    # The run ends at an epoch boundary: epoch 5 done, its checkpoint and the _last copy.
    path = tmp_path / checkpoint_name("waveglow", epoch=5)
    assert result.last_checkpoint == path
    last = tmp_path / checkpoint_name("waveglow", last=True)
    assert not last.is_symlink() and last.read_bytes() == path.read_bytes()
    checkpoint = torch.load(path, weights_only=True)
    assert (checkpoint["step"], checkpoint["epoch"], checkpoint["batch_in_epoch"]) == (15, 5, 0)
    assert checkpoint["train_config"]["waveglow"]["n_flows"] == 4 and checkpoint["world_size"] == 1
    assert set(checkpoint["rng"][0]) == {"torch", "cuda", "numpy", "python"}
    assert checkpoint["optimizer"]["state"] and checkpoint["mel_config"]["n_mel_channels"] == 40
    loaded = load_model(path)
    assert loaded.kind == "waveglow" and loaded.model.config.n_channels == 16
    # --resume auto picks the last checkpoint up and continues mid-epoch
    again = Trainer(tiny("waveglow", corpus, "max_steps=16", "epochs=6"), tmp_path, resume="auto").fit()
    assert again.step == 16 and len(again.losses) == 1
    assert torch.load(tmp_path / checkpoint_name("waveglow", step=16), weights_only=True)["batch_in_epoch"] == 1


def test_resume_reproduces_uninterrupted_losses(corpus: Path, tmp_path: Path) -> None:
    # 3 steps an epoch; checkpoints after steps 2 and 4: mid-epoch 0 and mid-epoch 1.
    config = tiny("tacotron2", corpus, "max_steps=6", "checkpoint.every_steps=2")
    full = Trainer(config, tmp_path / "full").fit()
    for done in (2, 4):
        out = tmp_path / f"from{done}"
        resumed = Trainer(config, out, resume=tmp_path / "full" / checkpoint_name("tacotron2", step=done)).fit()
        assert resumed.losses == full.losses[done:]  # exactly, across the epoch boundary and validation
        assert resumed.step == 6
    assert resumed.val_losses == full.val_losses[1:]
    final_full = read_checkpoint(tmp_path / "full" / checkpoint_name("tacotron2", epoch=2))["state_dict"]
    final_resumed = read_checkpoint(out / checkpoint_name("tacotron2", epoch=2))["state_dict"]
    assert all(torch.equal(final_full[k], final_resumed[k]) for k in final_full)


def test_bf16_autocast_step_on_cpu(corpus: Path, tmp_path: Path) -> None:
    fp32 = Trainer(tiny("tacotron2", corpus, "max_steps=2"), tmp_path / "fp32").fit()
    trainer = Trainer(tiny("tacotron2", corpus, "max_steps=2", "amp=bf16"), tmp_path / "bf16")
    bf16 = trainer.fit()
    assert all(torch.isfinite(torch.tensor(bf16.losses)))
    # Same data, init and dropout masks: bf16 losses are close to fp32 ones, but not identical.
    assert bf16.losses != fp32.losses
    assert bf16.losses == pytest.approx(fp32.losses, rel=0.05)
    assert all(p.dtype == torch.float32 for p in trainer.raw_model.parameters())
    batch = next(iter(trainer._train_loader(0, 0)))
    with trainer._autocast():
        mel = trainer.model(batch.text, batch.text_lengths, batch.mel, batch.mel_lengths)[0]
    assert mel.dtype == torch.bfloat16


def test_grad_scaler_skips_inf_step_and_backs_off(corpus: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny("waveglow", corpus, "max_steps=4", "amp=fp16"), tmp_path)
    assert trainer.scaler is not None and trainer.scaler.get_scale() == 65536.0
    weight = trainer.raw_model.upsample.weight
    calls = []

    def poison_first(grad: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return torch.full_like(grad, float("inf")) if len(calls) == 1 else grad

    weight.register_hook(poison_first)
    before = weight.detach().clone()
    result = trainer.fit()
    assert result.step == 4 and result.skipped_steps == 1
    steps = read_jsonl(tmp_path / "train.jsonl", "step")
    assert [r["skipped_steps"] for r in steps] == [1, 1, 1, 1]
    assert [r["loss_scale"] for r in steps] == [32768.0] * 4  # halved once, then growth interval 2000
    assert steps[0]["grad_norm"] == "inf"
    # The skipped step did not count for Adam; the 3 others did, and the weights moved.
    assert int(trainer.optimizer.state[weight]["step"]) == 3
    assert not torch.equal(before, weight.detach())
    assert all(torch.isfinite(p).all() for p in trainer.raw_model.parameters())


def test_nan_loss_stops_with_clear_error(corpus: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny("tacotron2", corpus, "max_steps=3"), tmp_path)
    trainer.raw_model.postnet.register_forward_hook(lambda module, args, out: out * float("nan"))
    with pytest.raises(TrainingError, match=r"step 1 \(epoch 0\): loss is nan"):
        trainer.fit()


def _nvidia_file_with_symbols(golden_dir: Path, path: Path, n_symbols: int) -> dict:
    golden = torch.load(golden_dir / "tacotron2.pt", weights_only=True)
    state = {f"module.{k}": v.contiguous() for k, v in golden["state_dict"].items()}  # DDP-saved layout
    state["module.embedding.weight"] = torch.randn(n_symbols, state["module.embedding.weight"].shape[1])
    torch.save({"config": {**golden["config"], "n_symbols": n_symbols}, "state_dict": state, "epoch": 10}, path)
    return golden["state_dict"]


GOLDEN_SIZE = [
    "tacotron2.symbols_embedding_dim=48",
    "tacotron2.encoder_embedding_dim=48",
    "tacotron2.encoder_n_convolutions=3",
    "tacotron2.attention_rnn_dim=56",
    "tacotron2.attention_dim=24",
    "tacotron2.attention_location_n_filters=8",
    "tacotron2.attention_location_kernel_size=31",
    "tacotron2.decoder_rnn_dim=48",
    "tacotron2.prenet_dim=32",
    "tacotron2.postnet_embedding_dim=32",
    "tacotron2.postnet_n_convolutions=5",
    "tacotron2.n_mel_channels=80",
    "mel.n_mel_channels=80",
]


def test_warm_start_from_nvidia_layout_with_other_symbol_count(corpus: Path, tmp_path: Path, golden_dir: Path) -> None:
    source = tmp_path / "nvidia_100_symbols.pt"
    golden = _nvidia_file_with_symbols(golden_dir, source, n_symbols=100)
    config = tiny("tacotron2", corpus, "max_steps=1", *GOLDEN_SIZE)
    torch.manual_seed(config.seed)
    fresh = Tacotron2(config.tacotron2).state_dict()  # what the trainer's seeded init gives
    trainer = Trainer(config, tmp_path / "run", warm_start_from=source, ignore_layers=["decoder.gate_layer"])
    state = trainer.raw_model.state_dict()
    assert state["embedding.weight"].shape == (148, 48)
    assert torch.equal(state["embedding.weight"], fresh["embedding.weight"])  # fresh init, not the file's
    for key in ("decoder.gate_layer.linear_layer.weight", "decoder.gate_layer.linear_layer.bias"):
        assert torch.equal(state[key], fresh[key])  # ignored
    for key in (
        "encoder.lstm.weight_ih_l0",
        "postnet.convolutions.0.1.running_mean",
        "decoder.attention_rnn.weight_hh",
    ):
        assert torch.equal(state[key], golden[key])  # copied
    event = read_jsonl(tmp_path / "run" / "train.jsonl", "warm_start")[0]
    assert event["loaded"] == len(state) - 3
    assert any(name.startswith("embedding.weight (100, 48) -> (148, 48)") for name in event["fresh"])
    assert trainer.fit().step == 1


def test_bad_items_are_skipped_or_stop_the_run(corpus: Path, tmp_path: Path) -> None:
    good = [f"{u.audio_path}|{u.text}" for u in read_metadata(corpus)]
    spare = tmp_path / "spare.wav"
    shutil.copyfile(read_metadata(corpus)[0].audio_path, spare)
    bad = [f"{tmp_path / 'missing.wav'}|words here", f"{spare}|  "]  # a missing file; an empty transcript
    filelist = tmp_path / "list.txt"
    filelist.write_text("\n".join(bad + good) + "\n")  # the last 2 (good) become the validation set
    trainer = Trainer(tiny("tacotron2", filelist), tmp_path / "skip")
    assert (len(trainer.train_set), len(trainer.val_set)) == (6, 2)
    with pytest.raises(DataError, match="2 of 8 utterances have problems"):
        Trainer(tiny("tacotron2", filelist, "data.on_bad_items=stop"), tmp_path / "stop")
    # WaveGlow never reads transcripts: only the missing file goes.
    assert len(Trainer(tiny("waveglow", filelist), tmp_path / "wg").train_set) == 7


def test_trains_from_preprocessed_mels_and_checks_their_contract(corpus: Path, tmp_path: Path) -> None:
    config = tiny("tacotron2", corpus)
    mels_txt = preprocess(read_metadata(corpus), tmp_path / "mels", config.mel, jobs=1, progress=False)
    trainer = Trainer(tiny("tacotron2", mels_txt, "max_steps=2"), tmp_path / "run")
    assert trainer.train_set.load_mel_from_disk
    assert trainer.fit().step == 2
    assert load_model(tmp_path / "run" / checkpoint_name("tacotron2", last=True)).text_frontend == TextFrontend()
    phones = Trainer(
        tiny("tacotron2", mels_txt, "max_steps=1", "data.arpabet=true", "data.phone_repeats=2"), tmp_path / "phones"
    )
    ids = phones.train_set.text_ids(0).tolist()  # every word of the corpus is in the dictionary: no letters
    assert not any(symbol_to_id["A"] <= i <= symbol_to_id["z"] for i in ids) and max(ids) >= 64
    assert ids == [
        i
        for i in TextFrontend(arpabet=True).to_sequence(phones.train_set.utterances[0].text)
        for _ in range(2 if i >= 64 else 1)
    ]
    assert phones.fit().step == 1
    saved = load_model(tmp_path / "phones" / checkpoint_name("tacotron2", last=True))
    assert saved.text_frontend == TextFrontend(arpabet=True, phone_repeats=2)
    with pytest.raises(ConfigError, match="mels were made with other mel settings.*mel_fmax"):
        Trainer(tiny("tacotron2", mels_txt, "mel.mel_fmax=7000.0"), tmp_path / "bad")
    with pytest.raises(DataError, match="WaveGlow trains on audio, found a mel filelist"):
        Trainer(tiny("waveglow", mels_txt), tmp_path / "wg")


def test_config_errors_at_the_boundary(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fp16 on CPU cannot run Tacotron 2"):
        Trainer(tiny("tacotron2", corpus, "amp=fp16"), tmp_path)
    with pytest.raises(ConfigError, match="tacotron2.n_symbols: expected 148"):
        Trainer(tiny("tacotron2", corpus, "tacotron2.n_symbols=100"), tmp_path)
    with pytest.raises(DataError, match="no full batch of batch_size 16"):
        Trainer(tiny("waveglow", corpus, "batch_size=16"), tmp_path)
    with pytest.raises(ConfigError, match="data.train: expected a dataset"):
        Trainer(load_config(CONFIGS / "tiny_waveglow.json"), tmp_path)
    Trainer(tiny("waveglow", corpus, "max_steps=1"), tmp_path / "wg").fit()
    with pytest.raises(ConfigError, match="architecture differs from the config's.*n_channels 16 != 32"):
        Trainer(tiny("waveglow", corpus, "waveglow.n_channels=32"), tmp_path / "wg", resume="auto")
