"""Denoiser: NVIDIA golden outputs, RNG consumption, modes, shapes and errors."""

from __future__ import annotations

import copy

import pytest
import torch

from tacoglow.audio.stft import STFT
from tacoglow.errors import AudioError, ConfigError
from tacoglow.inference.fast_waveglow import prepare_waveglow
from tacoglow.models.denoiser import Denoiser
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig

from tolerances import GOLDEN_MODEL_TOL, perturb_weights_, perturbed


@pytest.fixture(scope="module")
def golden(golden_dir):
    return (
        torch.load(golden_dir / "waveglow.pt", weights_only=True),
        torch.load(golden_dir / "waveglow_io.pt", weights_only=True)["denoiser"],
    )


@pytest.fixture(scope="module")
def fused_model(golden) -> WaveGlow:
    """The golden WaveGlow with weight norm removed, as NVIDIA's inference builds the Denoiser."""
    checkpoint, _ = golden
    model = WaveGlow(WaveGlowConfig.from_nvidia(checkpoint["config"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval().remove_weight_norm()


@pytest.fixture(scope="module")
def denoiser(fused_model) -> Denoiser:
    return Denoiser(fused_model)


def test_bias_matches_golden(golden, fused_model, denoiser):
    _, gold = golden
    assert (gold["mode"], gold["filter_length"], gold["n_overlap"], gold["win_length"]) == ("zeros", 1024, 4, 1024)
    assert denoiser.bias_spec.shape == (1, 513, 1) and denoiser.bias_spec.dtype == torch.float32
    torch.testing.assert_close(denoiser.bias_spec, gold["bias_spec"], **GOLDEN_MODEL_TOL)
    bias_audio = fused_model.infer(torch.zeros(1, 80, 88), sigma=0.0)
    assert bias_audio.shape == (1, gold["bias_audio_len"])
    torch.testing.assert_close(bias_audio[0, :2048], gold["bias_audio_first_2048"], **GOLDEN_MODEL_TOL)
    assert list(denoiser.state_dict()) == ["bias_spec"]


def test_bias_from_the_prepared_waveglow_matches_golden(golden, fused_model, denoiser):
    """The synthesizer builds its Denoiser from the prepared module: the same bias, the same RNG use."""
    _, gold = golden
    torch.manual_seed(123)
    Denoiser(fused_model)
    expected = torch.get_rng_state()
    torch.manual_seed(123)
    prepared = Denoiser(prepare_waveglow(fused_model))
    assert torch.equal(torch.get_rng_state(), expected)
    torch.testing.assert_close(prepared.bias_spec, gold["bias_spec"], **GOLDEN_MODEL_TOL)
    with pytest.raises(AssertionError):  # the comparison notices a 0.1 % weight change
        perturbed_model = perturb_weights_(copy.deepcopy(fused_model))
        torch.testing.assert_close(
            Denoiser(prepare_waveglow(perturbed_model)).bias_spec, gold["bias_spec"], **GOLDEN_MODEL_TOL
        )


@pytest.mark.parametrize("strength, key", [(0.01, "out_strength_0_01"), (0.1, "out_strength_0_1")])
def test_output_matches_golden(golden, denoiser, strength, key):
    _, gold = golden
    out = denoiser(gold["audio"], strength=strength)
    assert out.shape == (1, 1, 3840) and out.dtype == torch.float32
    torch.testing.assert_close(out, gold[key], **GOLDEN_MODEL_TOL)


def test_golden_comparison_catches_a_0_1_percent_input_change(golden, denoiser):
    _, gold = golden
    with pytest.raises(AssertionError):
        torch.testing.assert_close(
            denoiser(perturbed(gold["audio"]), strength=0.1), gold["out_strength_0_1"], **GOLDEN_MODEL_TOL
        )


def test_default_strength_is_0_1(golden, denoiser):
    _, gold = golden
    torch.testing.assert_close(denoiser(gold["audio"]), gold["out_strength_0_1"], **GOLDEN_MODEL_TOL)


def test_construction_consumes_global_rng_like_the_reference(fused_model, denoiser):
    """Three randn draws: (1, 4, L), then (1, 2, L) twice (golden config: 2 early outputs)."""
    L = 88 * 256 // 8
    torch.manual_seed(123)
    for channels in (4, 2, 2):
        torch.randn(1, channels, L)
    expected = torch.get_rng_state()
    torch.manual_seed(123)
    Denoiser(fused_model)
    assert torch.equal(torch.get_rng_state(), expected)

    state = torch.get_rng_state()
    with_generator = Denoiser(fused_model, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state)
    # σ = 0: the noise is irrelevant (module fixtures are built before the 1-thread fixture, hence
    # a tolerance rather than bit equality).
    torch.testing.assert_close(with_generator.bias_spec, denoiser.bias_spec, rtol=1e-5, atol=1e-5)


def test_strength_zero_is_the_plain_stft_round_trip(denoiser):
    # One length (4000 samples, B = 1) across these tests: every new STFT shape costs seconds of
    # oneDNN kernel creation on CPU.
    audio = torch.randn(1, 4000, generator=torch.Generator().manual_seed(0)) * 0.1
    stft = STFT(1024, 256, 1024)
    out = denoiser(audio, strength=0.0)
    assert out.shape == (1, 1, 256 * (4000 // 256))
    torch.testing.assert_close(out, stft.inverse(*stft.transform(audio)))


def test_stronger_denoising_removes_more_energy(golden, denoiser):
    _, gold = golden
    energies = [denoiser(gold["audio"], strength=s).pow(2).sum().item() for s in (0.0, 0.1, 1.0)]
    assert energies[0] > energies[1] > energies[2]


def test_normal_mode_uses_a_random_mel(fused_model, denoiser):
    normal = Denoiser(fused_model, mode="normal", generator=torch.Generator().manual_seed(0))
    again = Denoiser(fused_model, mode="normal", generator=torch.Generator().manual_seed(0))
    assert torch.equal(normal.bias_spec, again.bias_spec)
    assert not torch.allclose(normal.bias_spec, denoiser.bias_spec)


def test_half_precision_waveglow(fused_model, denoiser):
    half = Denoiser(copy.deepcopy(fused_model).half())
    assert half.bias_spec.dtype == torch.float32 and torch.isfinite(half.bias_spec).all()
    err = (half.bias_spec - denoiser.bias_spec).norm() / denoiser.bias_spec.norm()
    assert err < 1e-2
    out = half(torch.randn(1, 4000).half(), strength=0.01)
    assert out.dtype == torch.float32 and out.shape == (1, 1, 3840)


def test_errors(fused_model, denoiser):
    with pytest.raises(ConfigError, match=r"Denoiser mode: expected 'zeros' or 'normal', found 'uniform'"):
        Denoiser(fused_model, mode="uniform")
    with pytest.raises(ConfigError, match=r"Denoiser n_overlap: expected a positive integer, found 0"):
        Denoiser(fused_model, n_overlap=0)
    with pytest.raises(AudioError, match=r"Denoiser audio: expected \(B, T_audio\), found \(1, 1, 4000\)"):
        denoiser(torch.zeros(1, 1, 4000))
    with pytest.raises(ConfigError, match=r"Denoiser strength: expected >= 0, found -0.1"):
        denoiser(torch.zeros(1, 4000), strength=-0.1)
