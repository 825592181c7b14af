"""The ONNX Runtime engine against the PyTorch engine: same mels, same flags, same vocoders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tacoglow.audio.griffin_lim import griffin_lim
from tacoglow.audio.mel import MelConfig, dynamic_range_decompression, mel_to_linear
from tacoglow.audio.stft import STFT
from tacoglow.checkpoints import load_model
from tacoglow.errors import ConfigError, TextError
from tacoglow.inference.synthesizer import Synthesizer
from tacoglow.models.denoiser import Denoiser
from tacoglow.runtime import OnnxSynthesizer
from tacoglow.runtime.dsp import denoise, griffin_lim_vocoder, istft, stft

from tolerances import GOLDEN_MODEL_TOL, PERTURBATION, rel_l2

# Norm-wise rel. 1e-4: GOLDEN_MODEL_TOL's derivation (a decoder step chains ~10 reductions of at most
# a few hundred terms; ORT and torch sum in different orders); a 0.1 % change fails it (checked below).
RTOL = GOLDEN_MODEL_TOL["rtol"]
TEXTS = ["Hello world.", "The quick brown fox jumps over the lazy dog!", "Why?"]


def _pair(folder: Path, tacotron2, waveglow, **settings):
    common = dict(seed=3, prenet_dropout=False, retries=0, **{"batch_size": 2, **settings})
    return (
        Synthesizer.from_checkpoints(tacotron2, waveglow, vocoder=None if waveglow else "griffin-lim", **common),
        OnnxSynthesizer(folder, **common),
    )


def _compare_mels(torch_engine, onnx_engine, texts):
    want = torch_engine.synthesize(texts)
    got = onnx_engine.synthesize(texts)
    assert [u.text for u in got] == texts  # input order
    for w, g in zip(want, got):
        assert g.mel_length == w.mel_length
        assert len(g.segments) == len(w.segments)
        for gs, ws in zip(g.segments, w.segments):
            assert (gs.stop_gate_fired, gs.attention_reached_end) == (ws.stop_gate_fired, ws.attention_reached_end)
            assert gs.attempts == ws.attempts
            assert rel_l2(torch.from_numpy(gs.alignment), ws.alignment) < RTOL
        assert rel_l2(torch.from_numpy(g.mel), w.mel) < RTOL
        assert g.waveform.shape == tuple(w.waveform.shape)
    return want, got


@pytest.mark.slow
def test_golden_mels_and_flags_match_pytorch_engine(onnx_golden, golden_dir):
    torch_engine, onnx_engine = _pair(onnx_golden, golden_dir / "tacotron2.pt", golden_dir / "waveglow.pt")
    # The golden decoder stops after up to 40 steps: long text is split, so pauses and joins are covered.
    _compare_mels(torch_engine, onnx_engine, TEXTS)


@pytest.mark.slow
def test_bundled_voice_mels_match_pytorch_engine(onnx_voice):
    torch_engine, onnx_engine = _pair(onnx_voice, None, None, batch_size=3)
    _, got = _compare_mels(torch_engine, onnx_engine, TEXTS)
    assert all(u.healthy for u in got)  # the bundled voice says these


def test_waveglow_graph_matches_decode_with_the_same_noise(onnx_golden, golden_dir):
    model = load_model(golden_dir / "waveglow.pt").model.eval().remove_weight_norm()
    engine = OnnxSynthesizer(onnx_golden)
    mel = torch.randn(1, 80, 12, generator=torch.Generator().manual_seed(1)) - 4.0
    z = 0.6 * torch.randn(1, 8, 12 * 256 // 8, generator=torch.Generator().manual_seed(2))
    want = model.decode(mel, z)
    (got,) = engine.waveglow.run(None, {"mel": mel.numpy(), "z": z.numpy()})
    assert rel_l2(torch.from_numpy(got), want) < RTOL
    assert rel_l2(torch.from_numpy(got), want * (1 - PERTURBATION)) > RTOL  # the test can fail


def test_numpy_stft_and_denoiser_match_torch(onnx_golden, golden_dir):
    audio = torch.randn(1, 5000, generator=torch.Generator().manual_seed(4)) * 0.3
    module = STFT(1024, 256, 1024)
    magnitude, phase = module.transform(audio)
    got_magnitude, _ = stft(audio[0].numpy(), 1024, 256, 1024)
    assert rel_l2(torch.from_numpy(got_magnitude), magnitude[0]) < RTOL
    back = istft(magnitude[0].numpy(), phase[0].numpy(), 1024, 256, 1024)
    assert rel_l2(torch.from_numpy(back), module.inverse(magnitude, phase)[0, 0]) < RTOL
    waveglow = load_model(golden_dir / "waveglow.pt").model.eval()
    denoiser = Denoiser(waveglow, generator=torch.Generator().manual_seed(0))
    engine = OnnxSynthesizer(onnx_golden)
    np.testing.assert_allclose(engine.denoiser_bias, denoiser.bias_spec[0, :, 0].numpy(), **GOLDEN_MODEL_TOL)
    got = denoise(audio[0].numpy(), engine.denoiser_bias, 0.1, 1024, 256, 1024)
    assert rel_l2(torch.from_numpy(got), denoiser(audio, strength=0.1)[0, 0]) < RTOL


def test_griffin_lim_matches_torch_from_the_same_phase(onnx_voice):
    engine = OnnxSynthesizer(onnx_voice)
    mel = torch.randn(80, 30, generator=torch.Generator().manual_seed(5)) - 6.0
    got = griffin_lim_vocoder(mel.numpy(), engine.mel_pinv, np.random.default_rng(7), 1024, 256, 1024, n_iters=60)
    # The torch recipe (tacoglow.audio.GriffinLim.forward) from the initial phase the numpy one drew.
    config = MelConfig()
    magnitude = mel_to_linear(dynamic_range_decompression(mel[None]), config)
    magnitude = magnitude.amax() * (magnitude / magnitude.amax()) ** 1.2
    magnitude = torch.nn.functional.pad(magnitude, (0, 1))
    phase = np.random.default_rng(7).random(tuple(magnitude.shape[1:]), dtype=np.float32) * np.float32(
        2 * np.pi
    ) - np.float32(np.pi)
    want = griffin_lim(magnitude, STFT(1024, 256, 1024), 60, initial_phase=torch.from_numpy(phase)[None])
    # 60 iterations each add a forward and inverse transform's rounding: still far below 1e-4.
    assert rel_l2(torch.from_numpy(got), want[0, : 30 * 256]) < RTOL


def test_seeded_runs_repeat_and_dropout_draws_differ_by_seed(onnx_voice):
    first = OnnxSynthesizer(onnx_voice, seed=11).synthesize("Hello world.")[0]
    again = OnnxSynthesizer(onnx_voice, seed=11).synthesize("Hello world.")[0]
    other = OnnxSynthesizer(onnx_voice, seed=12).synthesize("Hello world.")[0]
    np.testing.assert_array_equal(first.waveform, again.waveform)
    assert first.mel.shape != other.mel.shape or not np.array_equal(first.mel, other.mel)


def test_seed_of_a_call_replaces_the_engines_seed(onnx_voice):
    by_call = OnnxSynthesizer(onnx_voice, seed=11).synthesize("Hello world.", seed=12)[0]
    by_engine = OnnxSynthesizer(onnx_voice, seed=12).synthesize("Hello world.")[0]
    np.testing.assert_array_equal(by_call.waveform, by_engine.waveform)
    with pytest.raises(ConfigError, match="seed"):
        OnnxSynthesizer(onnx_voice).synthesize("Hello world.", seed=-1)


def test_retries_rerun_unhealthy_pieces(onnx_golden):
    # The golden decoder often hits its 40-step cap: with dropout on, those pieces are retried.
    engine = OnnxSynthesizer(onnx_golden, seed=0, retries=2)
    utterances = engine.synthesize(TEXTS)
    attempts = [s.attempts for u in utterances for s in u.segments]
    assert max(attempts) > 1
    assert all(s.healthy or s.attempts == 3 for u in utterances for s in u.segments)
    # Without dropout every attempt would repeat the first: none is made.
    plain = OnnxSynthesizer(onnx_golden, seed=0, retries=2, prenet_dropout=False).synthesize(TEXTS)
    assert {s.attempts for u in plain for s in u.segments} == {1}


def test_bad_input_is_one_clear_error(onnx_voice, tmp_path):
    engine = OnnxSynthesizer(onnx_voice)
    with pytest.raises(TextError, match="empty"):
        engine.synthesize(["Hello.", "  "])
    with pytest.raises(ConfigError, match="no voice.json"):
        OnnxSynthesizer(tmp_path)
    with pytest.raises(ConfigError, match="no int8 variant"):
        OnnxSynthesizer(onnx_voice, precision="int8")
    with pytest.raises(ConfigError, match="batch_size"):
        OnnxSynthesizer(onnx_voice, batch_size=0)


def test_wav_is_written(onnx_voice, tmp_path):
    import soundfile as sf

    utterance = OnnxSynthesizer(onnx_voice, seed=0).synthesize("Hi there.")[0]
    utterance.save(tmp_path / "hi.wav")
    audio, rate = sf.read(tmp_path / "hi.wav")
    assert rate == 22050 and audio.shape == utterance.waveform.shape


def test_everyday_text_is_normalized_as_the_pytorch_engine_does_unless_turned_off(onnx_voice):
    from tacoglow.inference.synthesizer import Synthesizer

    text = "It costs $4.50 at 7:30."
    torch_stage = Synthesizer.from_checkpoints(seed=0).text
    engine = OnnxSynthesizer(onnx_voice, seed=0)
    assert engine.text_frontend.to_sequence(text) == torch_stage.frontend.to_sequence(text)
    assert "seven thirty" in engine.text_frontend.words(text)
    as_nvidia = OnnxSynthesizer(onnx_voice, seed=0, normalize=False).text_frontend.words(text)
    assert "seven:thirty" in as_nvidia  # english_cleaners alone leave the colon
