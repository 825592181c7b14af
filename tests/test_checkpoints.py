"""Checkpoint reading/writing: every layout, round trips, shape inference and bad input."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest
import torch

from tacoglow import checkpoints
from tacoglow.audio import MelConfig
from tacoglow.checkpoints import (
    export_nvidia,
    load_model,
    load_tacotron2,
    load_waveglow,
    save_checkpoint,
    tacotron2_config_from_state_dict,
    waveglow_config_from_state_dict,
)
from tacoglow.errors import CheckpointError, ConfigError
from tacoglow.models.tacotron2 import Tacotron2, Tacotron2Config
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig
from tacoglow.text import TextFrontend

from tiny_models import tiny_tacotron2_config, tiny_waveglow_config


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def t2_golden(golden_dir):
    return _load(golden_dir / "tacotron2.pt")


@pytest.fixture(scope="module")
def wg_golden(golden_dir):
    return _load(golden_dir / "waveglow.pt")


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if key.endswith("running_var"):  # variances must stay positive
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.3)
    return model.eval()


# -------------------------------------------------------------------- layouts of NVIDIA's files


def test_golden_tacotron2_loads_from_every_layout(golden_dir, t2_golden):
    want = Tacotron2Config.from_nvidia(t2_golden["config"])
    bare = dict(t2_golden["state_dict"])
    hub_prefixed = {f"module.1.{k}": v for k, v in bare.items()}
    sources = [
        golden_dir / "tacotron2.pt",
        {"state_dict": {f"module.{k}": v for k, v in bare.items()}},
        bare,
        {"state_dict": hub_prefixed},
    ]
    reference = None
    for source in sources:
        model = load_tacotron2(source, prenet_dropout=0.0)
        assert not model.training
        got = model.config
        if source is bare or isinstance(source, dict) and "config" not in source:
            # without a config only the shape fields are known: they must all agree
            for field in (
                "n_symbols",
                "symbols_embedding_dim",
                "encoder_embedding_dim",
                "attention_rnn_dim",
                "attention_dim",
                "attention_location_n_filters",
                "attention_location_kernel_size",
                "decoder_rnn_dim",
                "prenet_dim",
                "postnet_embedding_dim",
                "postnet_n_convolutions",
                "encoder_n_convolutions",
                "n_mel_channels",
                "n_frames_per_step",
            ):
                assert getattr(got, field) == getattr(want, field), field
        else:
            assert got == dataclasses.replace(want, prenet_dropout=0.0)
        state = model.state_dict()
        for key, value in bare.items():
            assert torch.equal(state[key], value), key
        reference = reference or state


def test_golden_waveglow_config_inferred_from_tensors(wg_golden):
    assert waveglow_config_from_state_dict(wg_golden["state_dict"]) == WaveGlowConfig.from_nvidia(wg_golden["config"])


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"n_channels": 6, "n_layers": 3},
        {"n_flows": 6, "n_early_every": 4, "n_early_size": 2},
        {"n_group": 4, "n_early_every": 3, "n_early_size": 2, "n_flows": 5},
        {"kernel_size": 5},
    ],
)
def test_waveglow_shapes_inferred_for_several_configurations(changes):
    config = tiny_waveglow_config(**changes)
    model = WaveGlow(config)
    assert waveglow_config_from_state_dict(model.state_dict()) == config
    model.remove_weight_norm()
    assert waveglow_config_from_state_dict(model.state_dict()) == config


def test_waveglow_without_early_outputs_round_trips_through_inference():
    config = tiny_waveglow_config(n_flows=2, n_early_every=4)
    model = _randomise(WaveGlow(config))
    loaded = load_waveglow(dict(model.state_dict()))
    mel = torch.randn(1, 10, 3)
    assert torch.equal(loaded.infer(mel, sigma=0.0), model.infer(mel, sigma=0.0))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"encoder_n_convolutions": 3, "postnet_n_convolutions": 5, "n_mel_channels": 20},
        {"symbols_embedding_dim": 24, "encoder_embedding_dim": 24, "encoder_kernel_size": 5, "n_symbols": 40},
        {"attention_location_kernel_size": 11, "attention_location_n_filters": 6, "postnet_kernel_size": 5},
    ],
)
def test_tacotron2_shapes_inferred_for_several_configurations(changes):
    config = tiny_tacotron2_config(**changes)
    inferred = tacotron2_config_from_state_dict(
        Tacotron2(config).state_dict(), max_decoder_steps=12, prenet_dropout=0.0
    )
    assert inferred == config


def test_fp16_and_mixed_dtype_state_dicts_load_as_float32(t2_golden, wg_golden):
    half = {k: v.half() if v.is_floating_point() else v for k, v in t2_golden["state_dict"].items()}
    mixed = dict(half)
    mixed["decoder.attention_rnn.weight_ih"] = t2_golden["state_dict"]["decoder.attention_rnn.weight_ih"]
    for source in (half, mixed):
        model = load_tacotron2({"state_dict": source, "config": t2_golden["config"]})
        assert all(p.dtype == torch.float32 for p in model.parameters())
        assert torch.equal(model.state_dict()["embedding.weight"], half["embedding.weight"].float())
    wg_half = {k: v.half() for k, v in wg_golden["state_dict"].items()}
    waveglow = load_waveglow({"state_dict": wg_half})
    waveglow.remove_weight_norm()
    assert torch.isfinite(waveglow.infer(torch.randn(1, 80, 4), sigma=0.6)).all()


# -------------------------------------------------------------------- round trips


def test_tacoglow_save_load_gives_identical_outputs(tmp_path):
    model = _randomise(Tacotron2(tiny_tacotron2_config()))
    mel_config = MelConfig(sampling_rate=16000, n_mel_channels=10, mel_fmax=7600.0)
    path = save_checkpoint(tmp_path / "voice.pt", model, mel_config=mel_config, step=7)
    loaded = load_model(path)
    assert loaded.kind == "tacotron2" and loaded.source_format == "tacoglow"
    assert loaded.mel_config == mel_config
    assert loaded.checkpoint["step"] == 7
    assert loaded.model.config == model.config
    text = torch.randint(1, 148, (2, 9))
    lengths = torch.tensor([9, 6])
    with torch.no_grad():
        want = model.infer(text, lengths)
        got = loaded.model.infer(text, lengths)
    assert torch.equal(got.mel_postnet, want.mel_postnet)
    assert torch.equal(got.mel_lengths, want.mel_lengths)


def test_waveglow_fused_save_load_and_nvidia_export_round_trip(tmp_path):
    model = _randomise(WaveGlow(tiny_waveglow_config()))
    mel = torch.randn(2, 10, 5)
    with torch.no_grad():
        want = model.infer(mel, sigma=0.0)
    model.remove_weight_norm()
    save_checkpoint(tmp_path / "wg.pt", model)
    loaded = load_waveglow(tmp_path / "wg.pt")
    assert not any(k.endswith("weight_g") for k in loaded.state_dict())
    export_nvidia(tmp_path / "wg_nvidia.pt", loaded)
    exported = _load(tmp_path / "wg_nvidia.pt")
    assert exported["config"] == tiny_waveglow_config().to_nvidia()
    assert any(k.endswith("weight_g") for k in exported["state_dict"])
    again = load_waveglow(tmp_path / "wg_nvidia.pt")
    with torch.no_grad():
        assert torch.allclose(loaded.infer(mel, sigma=0.0), want, rtol=1e-5, atol=1e-6)
        assert torch.allclose(again.infer(mel, sigma=0.0), want, rtol=1e-5, atol=1e-6)


def test_nvidia_to_tacoglow_to_nvidia_is_lossless(golden_dir, tmp_path, t2_golden, wg_golden):
    for name, golden in (("tacotron2.pt", t2_golden), ("waveglow.pt", wg_golden)):
        model = load_model(golden_dir / name).model
        save_checkpoint(tmp_path / name, model)
        export_nvidia(tmp_path / f"nv_{name}", load_model(tmp_path / name).model)
        back = _load(tmp_path / f"nv_{name}")
        assert back["config"] == golden["config"]
        assert list(back["state_dict"]) == list(golden["state_dict"])
        for key, value in golden["state_dict"].items():
            assert torch.equal(back["state_dict"][key], value), key


def test_ddp_wrapped_model_saves_without_prefix(tmp_path):
    model = Tacotron2(tiny_tacotron2_config())
    compiled_like = torch.nn.Module()
    compiled_like._orig_mod = model  # what torch.compile's wrapper holds
    save_checkpoint(tmp_path / "c.pt", compiled_like)
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in _load(tmp_path / "c.pt")["state_dict"])


# -------------------------------------------------------------------- bad input


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: file not found"):
        load_tacotron2(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="found a directory"):
        load_waveglow(tmp_path)


def test_not_a_checkpoint_and_truncated(tmp_path, golden_dir):
    text = tmp_path / "notes.pt"
    text.write_text("hello, I am not a checkpoint\n")
    with pytest.raises(CheckpointError, match=r"notes\.pt: not a PyTorch checkpoint"):
        load_tacotron2(text)
    data = (golden_dir / "tacotron2.pt").read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt: not a PyTorch checkpoint \(corrupt or truncated\)"):
        load_tacotron2(cut)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refusing to load pickled Python objects"):
        load_tacotron2(path)


def test_wrong_kind_and_unknown_layout(golden_dir):
    with pytest.raises(CheckpointError, match=r"tacotron2\.pt: expected a WaveGlow checkpoint, found Tacotron 2 keys"):
        load_waveglow(golden_dir / "tacotron2.pt")
    with pytest.raises(CheckpointError, match=r"waveglow\.pt: expected a Tacotron 2 checkpoint, found WaveGlow keys"):
        load_tacotron2(golden_dir / "waveglow.pt")
    with pytest.raises(CheckpointError, match=r"unknown checkpoint layout.*first keys: fc\.weight"):
        load_model({"state_dict": {"fc.weight": torch.zeros(2, 2)}})
    with pytest.raises(CheckpointError, match="no tensors"):
        load_model({"epoch": 3, "config": {}})


def test_missing_unexpected_and_misshapen_keys_are_named(t2_golden):
    state = dict(t2_golden["state_dict"])
    config = t2_golden["config"]
    missing = {k: v for k, v in state.items() if not k.startswith("postnet.convolutions.4.")}
    with pytest.raises(CheckpointError, match=r"does not fit Tacotron 2: 7 missing keys \(postnet\.convolutions\.4\.0"):
        load_tacotron2({"state_dict": missing, "config": config})
    extra = dict(state, **{"decoder.extra.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"1 unexpected keys \(decoder\.extra\.weight\)"):
        load_tacotron2({"state_dict": extra, "config": config})
    misshapen = dict(state, **{"decoder.gate_layer.linear_layer.bias": torch.zeros(3)})
    with pytest.raises(CheckpointError, match=r"'decoder\.gate_layer\.linear_layer\.bias' has shape \(3,\)"):
        load_tacotron2({"state_dict": misshapen, "config": config})


def test_unknown_override_and_newer_format(t2_golden, tmp_path):
    with pytest.raises(ConfigError, match="unknown Tacotron 2 setting.*zoneout"):
        load_tacotron2(dict(t2_golden), zoneout=0.1)
    model = Tacotron2(tiny_tacotron2_config())
    path = save_checkpoint(tmp_path / "new.pt", model)
    data = _load(path)
    data["format_version"] = checkpoints.FORMAT_VERSION + 1
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="written by a newer tacoglow"):
        load_tacotron2(path)


def test_unwritable_target_leaves_nothing(tmp_path):
    model = Tacotron2(tiny_tacotron2_config())
    with pytest.raises(CheckpointError, match="cannot write: folder .* does not exist"):
        save_checkpoint(tmp_path / "missing" / "x.pt", model)
    assert list(tmp_path.iterdir()) == []


def test_pickle_module_is_not_used_for_reading(tmp_path):
    # a plain pickle (not a torch zip) of a dict is still refused rather than executed
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"state_dict": {}}))
    with pytest.raises(CheckpointError, match=r"plain\.pkl: (not a PyTorch checkpoint|refusing)"):
        load_tacotron2(path)


def test_text_frontend_is_stored_and_defaults_to_letters(tmp_path, t2_golden):
    model = _randomise(Tacotron2(tiny_tacotron2_config()))
    phones = TextFrontend(arpabet=True, phone_repeats=2)
    loaded = load_model(save_checkpoint(tmp_path / "phones.pt", model, text_frontend=phones))
    assert loaded.text_frontend == phones
    assert load_model(save_checkpoint(tmp_path / "letters.pt", model)).text_frontend == TextFrontend()
    assert load_model({"state_dict": dict(t2_golden["state_dict"])}).text_frontend == TextFrontend()
    assert load_model(save_checkpoint(tmp_path / "wg.pt", WaveGlow(tiny_waveglow_config()))).text_frontend is None
    bad = _load(tmp_path / "phones.pt")
    bad["text_frontend"] = {"arpabet": "maybe"}
    with pytest.raises(CheckpointError, match="arpabet: expected true or false"):
        load_model(bad)


def test_nvidia_file_with_another_symbol_count_loads_without_a_table(t2_golden):
    state = dict(t2_golden["state_dict"])
    state["embedding.weight"] = torch.randn(60, state["embedding.weight"].shape[1])
    config = dict(t2_golden["config"], n_symbols=60)
    loaded = load_model({"state_dict": state, "config": config})
    assert loaded.model.config.n_symbols == 60
    assert loaded.symbols is None
    assert load_model({"state_dict": dict(t2_golden["state_dict"])}).symbols[11] == " "


# -------------------------------------------------------------------- hostile files (issue 21)


def test_random_bytes_are_not_a_checkpoint_and_no_unsafe_advice(tmp_path):
    gen = torch.Generator().manual_seed(0)
    for name, data in {
        "random.pt": bytes(torch.randint(0, 256, (4000,), generator=gen).tolist()),
        "protocol2.pt": b"\x80\x02" + bytes(range(256)) * 8,
    }.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CheckpointError) as info:
            load_model(path)
        message = str(info.value)
        assert message.startswith(f"{path}: not a PyTorch checkpoint") and "\n" not in message
        assert "weights_only" not in message and "likely succeed" not in message


def test_pickled_code_message_names_the_global_without_torchs_advice(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": _Evil()}, path)
    with pytest.raises(CheckpointError) as info:
        load_tacotron2(path)
    message = str(info.value)
    assert message == f"{path}: refusing to load pickled Python objects (found the global 'print')"


def test_non_finite_weights_are_refused_naming_the_tensor(t2_golden, wg_golden):
    for golden, key, load in (
        (t2_golden, "decoder.attention_rnn.weight_hh", load_tacotron2),
        (wg_golden, "WN.0.end.weight", load_waveglow),
    ):
        state = {k: v.clone() for k, v in golden["state_dict"].items()}
        assert key in state
        state[key].view(-1)[3] = float("inf") if load is load_waveglow else float("nan")
        with pytest.raises(CheckpointError, match=rf"^checkpoint dict: tensor '{key}' holds NaN or infinity"):
            load(dict(golden, state_dict=state))


def _with_config(checkpoint: dict, **changes) -> dict:
    return dict(checkpoint, config=dict(checkpoint["config"], **changes))


def test_stored_sizes_that_disagree_with_the_tensors_are_refused_before_building(tmp_path):
    model = _randomise(Tacotron2(tiny_tacotron2_config()))
    data = _load(save_checkpoint(tmp_path / "t2.pt", model))
    with pytest.raises(
        CheckpointError,
        match=r"^checkpoint dict: stored config says attention_rnn_dim 10000, "
        r"the tensors say 24$",
    ):
        load_tacotron2(_with_config(data, attention_rnn_dim=10000))
    bomb = tmp_path / "bomb.pt"
    torch.save(_with_config(data, attention_rnn_dim=200_000), bomb)
    with pytest.raises(CheckpointError, match="stored config says attention_rnn_dim 200000"):
        load_tacotron2(bomb)
    counts = _with_config(data, encoder_n_convolutions=1_000_000)
    with pytest.raises(
        CheckpointError, match=r"does not fit Tacotron 2: 6999986 missing keys \(encoder\.convolutions\.2\."
    ):
        load_tacotron2(counts)
    wg = _load(save_checkpoint(tmp_path / "wg.pt", _randomise(WaveGlow(tiny_waveglow_config()))))
    with pytest.raises(CheckpointError, match="stored config says n_channels 100000, the tensors say 8"):
        load_waveglow(_with_config(wg, n_channels=100_000))
    with pytest.raises(
        CheckpointError, match=r"does not fit WaveGlow: \d+ missing keys \(WN\.0\.(in|res_skip)_layers\.2\."
    ):
        load_waveglow(_with_config(wg, n_layers=100_000))


def test_size_bomb_is_refused_with_memory_capped(tmp_path):
    # The shape: a small Tacotron 2 whose config asks for attention_rnn_dim 10,000 (about
    # 1.8 GB of LSTM weights). With the address space capped at 1 GiB above what torch needs to
    # start, building the model first would die with MemoryError; the check must come first.
    import subprocess
    import sys
    import textwrap

    model = _randomise(Tacotron2(tiny_tacotron2_config()))
    data = _load(save_checkpoint(tmp_path / "t2.pt", model))
    bomb = tmp_path / "bomb.pt"
    torch.save(_with_config(data, attention_rnn_dim=10_000), bomb)
    script = textwrap.dedent(f"""
        import resource, sys
        import torch
        from tacoglow.checkpoints import load_tacotron2
        from tacoglow.errors import CheckpointError
        used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        limit = used + (1 << 30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            torch.empty(1 << 29, dtype=torch.float32)  # 2 GiB: the cap is real
        except (MemoryError, RuntimeError):
            pass
        else:
            sys.exit("the memory cap did not hold")
        try:
            load_tacotron2({str(bomb)!r})
        except CheckpointError as exc:
            print(exc)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stored config says attention_rnn_dim 10000, the tensors say 24" in result.stdout


def test_one_missing_key_names_the_tacotron2_and_the_key(t2_golden):
    state = {k: v for k, v in t2_golden["state_dict"].items() if k != "embedding.weight"}
    with pytest.raises(CheckpointError, match=r"^checkpoint dict: Tacotron 2 checkpoint without 'embedding\.weight'"):
        load_model({"state_dict": state})
    with pytest.raises(CheckpointError, match=r"Tacotron 2 checkpoint without 'embedding\.weight'"):
        load_tacotron2({"state_dict": state, "config": t2_golden["config"]})
    wg_state = {"WN.0.start.weight": torch.zeros(1), "convinv.0.conv.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"WaveGlow checkpoint without 'upsample\.weight'"):
        load_model({"state_dict": wg_state})


@pytest.mark.parametrize("field", ["config", "mel_config", "text_frontend"])
def test_settings_stored_as_a_string_are_refused(tmp_path, field):
    data = _load(save_checkpoint(tmp_path / "t2.pt", _randomise(Tacotron2(tiny_tacotron2_config()))))
    with pytest.raises(
        CheckpointError, match=rf"^checkpoint dict: {field}: expected a mapping of settings, found str$"
    ):
        load_model(dict(data, **{field: "attention_rnn_dim=10000"}))
    nvidia = {"state_dict": data["state_dict"], "config": "not a dict"}
    with pytest.raises(CheckpointError, match=r"config: expected a mapping of settings, found str"):
        load_model(nvidia)


def test_tacoglow_file_without_its_config_is_named(tmp_path):
    # Found by mypy: a tacoglow-format file lacking "config" reached Tacotron2Config.from_dict(None)
    # and surfaced as "'NoneType' object is not iterable".
    data = _load(save_checkpoint(tmp_path / "t2.pt", _randomise(Tacotron2(tiny_tacotron2_config()))))
    del data["config"]
    with pytest.raises(CheckpointError, match=r"^checkpoint dict: tacoglow checkpoint without its config$"):
        load_model(data)
