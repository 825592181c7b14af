"""WaveGlow: NVIDIA golden outputs, key layout, weight norm, invertibility and reduced precision.

The golden inference tests run the reference model and the module :func:`prepare_waveglow` makes of
it (the synthesizer's path); ``tests/inference/test_fast_waveglow.py`` tests the latter further."""

from __future__ import annotations

import copy
import dataclasses
import doctest
import json
import math
import warnings

import pytest
import torch

from tacoglow.errors import AudioError, ConfigError
from tacoglow.inference.fast_waveglow import prepare_waveglow
from tacoglow.models import waveglow as waveglow_module
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig, WeightNormConv1d

from tolerances import BF16_UNIT_ROUNDOFF, FP16_UNIT_ROUNDOFF, GOLDEN_MODEL_TOL, perturb_weights_

TINY = WaveGlowConfig(n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=2, n_channels=8)


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    got, want = got.detach().double(), want.detach().double()
    assert got.shape == want.shape
    return ((got - want).norm() / want.norm()).item()


@pytest.fixture(scope="module")
def golden(golden_dir):
    return (
        torch.load(golden_dir / "waveglow.pt", weights_only=True),
        torch.load(golden_dir / "waveglow_io.pt", weights_only=True),
    )


@pytest.fixture
def golden_model(golden) -> WaveGlow:
    checkpoint, _ = golden
    model = WaveGlow(WaveGlowConfig.from_nvidia(checkpoint["config"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


# Inference paths under test: the reference model itself, and the prepared module built from it.
PATHS = {"reference": lambda model: model, "prepared": lambda model: prepare_waveglow(model)}


def random_tiny(seed: int = 0, config: WaveGlowConfig = TINY) -> WaveGlow:
    """A tiny model whose couplings are not the identity (the reference zero-inits ``end``)."""
    torch.manual_seed(seed)
    model = WaveGlow(config).eval()
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0.0, 0.1)
            wn.end.bias.normal_(0.0, 0.1)
    return model


# --- state_dict layout ---------------------------------------------------------------------------


def test_golden_state_dict_layout(golden, golden_model):
    checkpoint, io = golden
    layout = [(k, tuple(v.shape)) for k, v in golden_model.state_dict().items()]
    assert layout == [(k, tuple(v.shape)) for k, v in checkpoint["state_dict"].items()]
    golden_model.remove_weight_norm()
    layout = [(k, list(v.shape)) for k, v in golden_model.state_dict().items()]
    assert layout == [(k, list(shape)) for k, shape in io["removed_weightnorm_keys"]]


@pytest.mark.parametrize("variant", ["n_channels_512", "n_channels_256"])
def test_full_size_layout_and_parameter_counts(keys_dir, variant):
    spec = json.loads((keys_dir / "waveglow_keys.json").read_text())["variants"][variant]
    with torch.device("meta"):
        model = WaveGlow(WaveGlowConfig.from_nvidia(spec["config"]))
    for layout, count_key in (
        ("checkpoint", "n_parameters_checkpoint"),
        ("after_remove_weightnorm", "n_parameters_after_remove_weightnorm"),
    ):
        if layout == "after_remove_weightnorm":
            model.remove_weight_norm()
        state = model.state_dict(keep_vars=True)
        params = {id(p) for p in model.parameters()}
        got = [
            {
                "name": k,
                "shape": list(v.shape),
                "dtype": str(v.dtype).removeprefix("torch."),
                "kind": "parameter" if id(v) in params else "buffer",
            }
            for k, v in state.items()
        ]
        assert got == spec[layout]
        assert len(got) == spec[f"n_state_dict_entries_{layout}"] == (938 if layout == "checkpoint" else 638)
        assert sum(p.numel() for p in model.parameters()) == spec[count_key]


def test_seeded_init_matches_reference(golden):
    """The golden model was built after manual_seed(seed); weight_v and WN biases kept their init."""
    checkpoint, io = golden
    torch.manual_seed(io["seed"])
    state = WaveGlow(WaveGlowConfig.from_nvidia(checkpoint["config"])).state_dict()
    kept = [
        k
        for k in checkpoint["state_dict"]
        if k.endswith("weight_v") or (k.startswith("WN.") and k.endswith("bias") and ".end." not in k)
    ]
    assert len(kept) == 5 * (3 * 3 + 1) * 2
    for key in kept:
        # uniform_ maps each random draw u to low + (high - low) * u; ATen's vectorized (AVX2 and up)
        # and scalar kernels round that last product differently, so on some CPUs a value moves by
        # one or two units in the last place of the init bound (measured: at most 2 ulp). Another
        # seed or init changes every value by the order of the bound itself.
        want = checkpoint["state_dict"][key]
        ulp = torch.finfo(torch.float32).eps * want.abs().max()
        torch.testing.assert_close(state[key], want, rtol=0, atol=float(4 * ulp), msg=key)


# --- golden outputs ------------------------------------------------------------------------------


def test_forward_matches_golden(golden, golden_model):
    fwd = golden[1]["forward"]
    with torch.no_grad():
        z, log_s_list, log_det_W_list = golden_model(fwd["mel"], fwd["audio"])
    torch.testing.assert_close(z, fwd["z"], **GOLDEN_MODEL_TOL)
    assert len(log_s_list) == len(log_det_W_list) == 5
    for got, want in zip(log_s_list, fwd["log_s_list"]):
        torch.testing.assert_close(got, want, **GOLDEN_MODEL_TOL)
    for got, want in zip(log_det_W_list, fwd["log_det_W_list"]):
        assert got.dtype == torch.float32 and got.shape == ()
        torch.testing.assert_close(got, want, **GOLDEN_MODEL_TOL)


def test_waveglow_loss_matches_golden(golden, golden_model):
    losses = pytest.importorskip("tacoglow.training.losses")
    fwd = golden[1]["forward"]
    with torch.no_grad():
        z, log_s_list, log_det_W_list = golden_model(fwd["mel"], fwd["audio"])
    loss = losses.waveglow_loss(z, log_s_list, log_det_W_list, sigma=fwd["loss_sigma"])
    assert abs(loss.item() - fwd["loss"]) <= 1e-5 * abs(fwd["loss"])


@pytest.mark.parametrize("path", PATHS)
def test_infer_matches_golden_before_and_after_weight_norm_removal(golden, golden_model, path):
    inf = golden[1]["infer"]
    before = PATHS[path](golden_model).infer(inf["mel"], sigma=inf["sigma"])
    assert before.shape == (2, 4096)
    torch.testing.assert_close(before, inf["audio_weightnorm"], **GOLDEN_MODEL_TOL)
    assert golden_model.has_weight_norm
    golden_model.remove_weight_norm()
    assert not golden_model.has_weight_norm
    after = PATHS[path](golden_model).infer(inf["mel"], sigma=inf["sigma"])
    torch.testing.assert_close(after, inf["audio_removed_weightnorm"], **GOLDEN_MODEL_TOL)


@pytest.mark.parametrize("path", PATHS)
def test_seeded_infer_matches_golden_with_global_rng_and_generator(golden, golden_model, path):
    inf = golden[1]["infer"]
    want = inf["audio_sigma06_seeded_removed_weightnorm"]
    golden_model.remove_weight_norm()
    model = PATHS[path](golden_model)
    torch.manual_seed(inf["seed"])
    torch.testing.assert_close(model.infer(inf["mel"], sigma=inf["seeded_sigma"]), want, **GOLDEN_MODEL_TOL)
    # Draw order: randn(B, 4, L), then randn(B, 2, L) for flow 4 and for flow 2.
    B, L = 2, 16 * 256 // 8
    torch.manual_seed(inf["seed"])
    for channels in (4, 2, 2):
        torch.randn(B, channels, L)
    expected_state = torch.get_rng_state()
    torch.manual_seed(inf["seed"])
    model.infer(inf["mel"], sigma=inf["seeded_sigma"])
    assert torch.equal(torch.get_rng_state(), expected_state)

    state = torch.get_rng_state()
    generator = torch.Generator().manual_seed(inf["seed"])
    got = model.infer(inf["mel"], sigma=inf["seeded_sigma"], generator=generator)
    torch.testing.assert_close(got, want, **GOLDEN_MODEL_TOL)
    assert torch.equal(torch.get_rng_state(), state), "a generator must leave the global RNG alone"


@pytest.mark.parametrize("path", PATHS)
def test_golden_comparisons_catch_a_0_1_percent_weight_change(golden, golden_model, path):
    fwd, inf = golden[1]["forward"], golden[1]["infer"]
    perturb_weights_(golden_model)
    with torch.no_grad():
        z = golden_model(fwd["mel"], fwd["audio"])[0]
    with pytest.raises(AssertionError):
        torch.testing.assert_close(z, fwd["z"], **GOLDEN_MODEL_TOL)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(
            PATHS[path](golden_model).infer(inf["mel"], sigma=inf["sigma"]), inf["audio_weightnorm"], **GOLDEN_MODEL_TOL
        )


# --- building blocks -----------------------------------------------------------------------------


def test_weight_norm_conv_matches_torch_weight_norm():
    torch.manual_seed(0)
    layer = WeightNormConv1d(6, 10, kernel_size=3, dilation=4)
    assert list(layer.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert layer.weight_g.shape == (10, 1, 1) and layer.weight_v.shape == (10, 6, 3)
    # At init g = ‖v‖, so the effective weight is v itself (as torch's weight_norm leaves it).
    torch.testing.assert_close(layer.weight, layer.weight_v.detach(), rtol=1e-6, atol=1e-7)
    with torch.no_grad():
        layer.weight_g.mul_(torch.linspace(0.5, 1.5, 10).view(10, 1, 1))
    reference = torch.nn.Conv1d(6, 10, 3, dilation=4, padding=4)
    reference = torch.nn.utils.parametrizations.weight_norm(reference)
    with torch.no_grad():
        reference.bias.copy_(layer.bias)
        reference.parametrizations.weight.original0.copy_(layer.weight_g)
        reference.parametrizations.weight.original1.copy_(layer.weight_v)
    x = torch.randn(2, 6, 50)
    assert torch.equal(layer(x), reference(x))
    v, g = layer.weight_v.detach(), layer.weight_g.detach()
    by_hand = g * v / v.norm(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(layer.weight, by_hand, rtol=1e-6, atol=1e-7)

    fused = layer.remove_weight_norm()
    assert list(fused.state_dict()) == ["bias", "weight"]
    assert fused.bias is layer.bias and torch.equal(fused.weight, layer.weight)
    assert torch.equal(fused(x), layer(x))


def test_weight_norm_removal_of_a_half_model_is_rounded_once():
    """The fusion is computed in float32 and rounded to float16 once (within half an ULP)."""
    torch.manual_seed(0)
    layer = WeightNormConv1d(512, 8).half()
    with torch.no_grad():
        layer.weight_g.mul_(3.0)
    v, g = layer.weight_v.detach().double(), layer.weight_g.detach().double()
    exact = g * v / v.norm(dim=(1, 2), keepdim=True)
    fused = layer.remove_weight_norm()
    assert fused.weight.dtype == torch.float16
    torch.testing.assert_close(fused.weight.double(), exact, rtol=2.0**-11 * 1.01, atol=1e-7)


def test_remove_weight_norm_is_idempotent_and_keeps_outputs():
    model = random_tiny()
    mel, audio = torch.randn(1, 80, 3), torch.randn(1, 768)
    with torch.no_grad():
        before = model(mel, audio)[0]
    assert model.remove_weight_norm() is model
    keys = list(model.state_dict())
    model.remove_weight_norm()
    assert list(model.state_dict()) == keys
    assert not any("weight_g" in k or "weight_v" in k for k in keys)
    assert all(type(layer) is torch.nn.Conv1d for wn in model.WN for layer in wn.cond_layers)
    with torch.no_grad():
        torch.testing.assert_close(model(mel, audio)[0], before, rtol=1e-5, atol=1e-6)


def test_invertible_conv_init_log_det_and_inverse():
    torch.manual_seed(0)
    flow = waveglow_module._Invertible1x1Conv(6)
    W = flow.conv.weight.squeeze()
    torch.testing.assert_close(W @ W.T, torch.eye(6), rtol=0, atol=1e-5)
    assert torch.det(W) > 0
    with torch.no_grad():
        flow.conv.weight.copy_(torch.randn(6, 6, 1) + 3 * torch.eye(6)[..., None])
        flow.conv.weight[0] *= torch.sign(torch.det(flow.conv.weight.squeeze()))
    z = torch.randn(3, 6, 20)
    mixed, log_det_W = flow(z)
    assert log_det_W.dtype == torch.float32
    torch.testing.assert_close(log_det_W, 3 * 20 * torch.logdet(flow.conv.weight.squeeze().double()).float())
    torch.testing.assert_close(flow.inverse(mixed), z, rtol=1e-4, atol=1e-5)

    # The inverse is computed from the current weight: it follows in-place edits, loading and dtype
    # changes, and nothing of it enters the state_dict.
    with torch.no_grad():
        flow.conv.weight.mul_(2.0)
    torch.testing.assert_close(flow.inverse(flow(z)[0]), z, rtol=1e-4, atol=1e-5)
    flow.load_state_dict({"conv.weight": torch.linalg.qr(torch.randn(6, 6))[0][..., None]})
    torch.testing.assert_close(flow.inverse(flow(z)[0]), z, rtol=1e-4, atol=1e-5)
    flow.double()
    got = flow.inverse(flow(z.double())[0])
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, z.double(), rtol=1e-4, atol=1e-5)
    assert list(flow.state_dict()) == ["conv.weight"]


def test_upsample_equals_the_transposed_conv_module_with_gradients():
    """``_upsample`` is ``model.upsample``'s math (GEMM + overlap-add instead of oneDNN's deconv).

    Compared item by item: B = 1 and few frames keep torch off its slow-to-build oneDNN kernel.
    """
    model = random_tiny()
    mel = torch.randn(2, 80, 7, requires_grad=True)
    got = waveglow_module._upsample(mel, model.upsample.weight, model.upsample.bias)
    assert got.shape == (2, 80, 6 * 256 + 1024)
    want = torch.cat([model.upsample(mel[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    grad_out = torch.randn_like(got)
    grads = torch.autograd.grad(got, (mel, model.upsample.weight, model.upsample.bias), grad_out)
    want_grads = torch.autograd.grad(want, (mel, model.upsample.weight, model.upsample.bias), grad_out)
    for g, w in zip(grads, want_grads):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        half_upsample = copy.deepcopy(model.upsample).half()
        half = waveglow_module._upsample(mel.detach().half(), half_upsample.weight, half_upsample.bias)
    assert half.dtype == torch.float16
    assert rel_err(half, want) < 2e-3


# --- forward / inverse ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch, frames", [(1, 3), (2, 5)])
def test_decode_inverts_forward(batch, frames):
    model = random_tiny(seed=batch)
    mel = torch.randn(batch, 80, frames)
    audio = 0.3 * torch.randn(batch, frames * 256)
    with torch.no_grad():
        z, log_s_list, _ = model(mel, audio)
    assert z.shape == (batch, 8, frames * 32)
    assert [log_s.shape[1] for log_s in log_s_list] == [4, 4, 3, 3]
    assert max(log_s.abs().max().item() for log_s in log_s_list) > 0.05  # couplings are not trivial
    assert rel_err(z, audio.view(batch, -1, 8).transpose(1, 2)) > 0.1  # and z is not the audio
    torch.testing.assert_close(model.decode(mel, z), audio, rtol=1e-4, atol=1e-5)


def test_infer_is_decode_of_scaled_noise():
    model = random_tiny()
    mel = torch.randn(2, 80, 4)
    generator = torch.Generator().manual_seed(7)
    # TINY: 8 channels, 2 leave early before flow 2, 6 remain: draws (B, 6, L) then (B, 2, L).
    final, early = (torch.randn(2, c, 128, generator=generator) for c in (6, 2))
    z = torch.cat([early, final], 1)
    got = model.infer(mel, sigma=0.7, generator=torch.Generator().manual_seed(7))
    assert torch.equal(got, model.decode(mel, 0.7 * z))


def test_input_validation():
    model = random_tiny()
    with pytest.raises(ConfigError, match=r"mel: expected \(B, 80, T_mel >= 1\), found \(1, 40, 5\)"):
        model.infer(torch.zeros(1, 40, 5))
    with pytest.raises(AudioError, match=r"mel of 2 frames upsamples to 1280 samples, expected >= .* 2000"):
        model(torch.zeros(1, 80, 2), torch.zeros(1, 2000))
    with pytest.raises(AudioError, match=r"audio: expected \(B=1, T_audio\), found \(1, 1, 512\)"):
        model(torch.zeros(1, 80, 2), torch.zeros(1, 1, 512))
    with pytest.raises(ConfigError, match=r"decode z: expected \(1, 8, 64\), found \(1, 8, 63\)"):
        model.decode(torch.zeros(1, 80, 2), torch.zeros(1, 8, 63))


def test_training_forward_backpropagates_to_weight_norm_parameters():
    model = random_tiny()
    model.train()
    z, log_s_list, log_det_W_list = model(torch.randn(2, 80, 2), torch.randn(2, 700))
    assert z.shape == (2, 8, 87)
    loss = (z**2).sum() / 2 - sum(s.sum() for s in log_s_list) - sum(log_det_W_list)
    loss.backward()
    wn = model.WN[0]
    for param in (
        wn.cond_layers[1].weight_g,
        wn.cond_layers[1].weight_v,
        wn.in_layers[0].weight_v,
        model.convinv[2].conv.weight,
        model.upsample.weight,
    ):
        assert param.grad is not None and param.grad.abs().sum() > 0


def test_training_gradient_matches_finite_differences():
    model = random_tiny(config=dataclasses.replace(TINY, n_layers=3))
    model.train()
    mel, audio = torch.randn(2, 80, 2), torch.randn(2, 700)
    z, log_s_list, log_det_W_list = model(mel, audio)
    loss = (z**2).sum() / 2 - sum(s.sum() for s in log_s_list) - sum(log_det_W_list)
    loss.backward()
    wn = model.WN[1]
    params = [wn.start.weight_v, wn.in_layers[2].weight_g, wn.cond_layers[0].weight_v, wn.end.weight]
    grads = [p.grad for p in params]
    # Finite differences on one weight entry confirm the gradient's value, not only its presence.
    param, index, step = wn.cond_layers[0].weight_v, (3, 17, 0), 1e-2
    with torch.no_grad():
        model.double()
        mel, audio = mel.double(), audio.double()

        def loss_at(value: float) -> float:
            param[index] = value
            z, log_s_list, log_det_W_list = model(mel, audio)
            return float((z**2).sum() / 2 - sum(s.sum() for s in log_s_list) - sum(log_det_W_list))

        original = float(param[index])
        numeric = (loss_at(original + step) - loss_at(original - step)) / (2 * step)
        param[index] = original
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert math.isclose(float(grads[2][index]), numeric, rel_tol=1e-3, abs_tol=1e-4)


# --- reduced precision ---------------------------------------------------------------------------


# Norm-wise error budget of reduced precision: rounding inputs and weights to the format costs about its
# unit roundoff u per tensor, a few tensors chain (upsampling, WN layers, couplings), and products
# accumulate in float32, also on CPUs without native bf16 (oneDNN rounds to bf16 alike). Measured about
# 3 u for both formats under simulated AVX2, AVX-512 and SSE kernels; allow 12 u.
@pytest.mark.parametrize(
    "dtype, tolerance", [(torch.float16, 12 * FP16_UNIT_ROUNDOFF), (torch.bfloat16, 12 * BF16_UNIT_ROUNDOFF)]
)
@pytest.mark.parametrize("path", PATHS)
def test_half_precision_infer_is_finite_and_close(golden_model, dtype, tolerance, path):
    mel = torch.randn(1, 80, 6, generator=torch.Generator().manual_seed(3)) - 4.0
    golden_model.remove_weight_norm()
    want = golden_model.infer(mel, sigma=0.6, generator=torch.Generator().manual_seed(1))
    # The reference cast as a whole; the prepared module composed from float32 and rounded once.
    low = copy.deepcopy(golden_model).to(dtype) if path == "reference" else prepare_waveglow(golden_model, dtype)
    got = low.infer(mel, sigma=0.6, generator=torch.Generator().manual_seed(1))
    assert got.dtype == dtype
    assert torch.isfinite(got).all()
    assert rel_err(got, want) < tolerance


def test_inverse_coupling_is_exact_in_float32_and_promoted_in_half():
    """(x − b) / exp(s): the reference's division in float32; float16 exp(s) overflows above s ≈ 11."""
    x, b = torch.randn(2, 3, 40), torch.randn(2, 3, 40)
    log_s = torch.linspace(-4.0, 13.0, 240).view(2, 3, 40)
    assert torch.equal(waveglow_module.inverse_affine(x, b, log_s), (x - b) / torch.exp(log_s))
    got = waveglow_module.inverse_affine(x.half(), b.half(), log_s.half())
    naive = (x.half() - b.half()) / torch.exp(log_s.half())
    want = (x.half().float() - b.half().float()) / torch.exp(log_s.half().float())
    assert got.dtype == torch.float16 and torch.isfinite(got).all()
    assert torch.equal(got, want.half())
    assert (naive[log_s > 11.1] == 0).all() and (got[log_s > 11.1] != 0).all()


def test_docstring_examples_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = doctest.testmod(waveglow_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0
