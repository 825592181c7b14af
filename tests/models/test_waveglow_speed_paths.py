"""WaveGlow's fast inference path: same math as ``forward``, weight cache, bfloat16 end to end."""
from __future__ import annotations

import copy
import io
import math

import pytest
import torch

from tacoglow.bench.stats import snr_db
from tacoglow.models import waveglow as waveglow_module
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig

TINY = WaveGlowConfig(n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=3, n_channels=8)
ONEDNN = torch.backends.mkldnn.is_available()


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    got, want = got.detach().double(), want.detach().double()
    assert got.shape == want.shape
    return ((got - want).norm() / want.norm()).item()


def random_model(config: WaveGlowConfig = TINY, seed: int = 0, end_scale: float = 0.3) -> WaveGlow:
    """A model whose couplings are not the identity (the reference zero-inits ``end``)."""
    torch.manual_seed(seed)
    model = WaveGlow(config).eval()
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0.0, end_scale)
            wn.end.bias.normal_(0.0, end_scale)
    return model


def fast_wn(wn: torch.nn.Module, audio: torch.Tensor, spect: torch.Tensor) -> torch.Tensor:
    """``wn.infer_channels_last`` called with ``forward``'s layout: (B, n_in, L) → (B, 2·n_in, L)."""
    n_tap = wn.kernel_size * max(wn.n_channels, audio.size(1) + 1)
    work = torch.empty(spect.size(0), spect.size(2), n_tap + spect.size(1), dtype=spect.dtype)
    work[..., n_tap:] = spect.transpose(1, 2)
    work[..., :n_tap] = float("nan")  # stale scratch must not leak into the result
    with torch.no_grad():
        return wn.infer_channels_last(audio.transpose(1, 2), work).transpose(1, 2)


@pytest.mark.parametrize("kernel_size, n_layers, n_channels, batch, length", [
    (3, 3, 8, 1, 40),   # the default shape, small
    (3, 4, 6, 2, 5),    # dilation 8 > L: the outer taps see only padding
    (5, 2, 4, 2, 9),    # wider kernel
    (1, 2, 8, 1, 7),    # no taps besides the centre
    (3, 1, 2, 1, 6),    # C = 2 < n_in + 1: layer 0's taps are wider than the others'
])
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_fast_wn_equals_forward(kernel_size, n_layers, n_channels, batch, length, dtype, tolerance):
    config = WaveGlowConfig(n_flows=1, n_layers=n_layers, kernel_size=kernel_size, n_channels=n_channels)
    wn = random_model(config).WN[0].to(dtype)
    with torch.no_grad():
        for p in wn.parameters():
            p.add_(0.1 * torch.randn_like(p))  # non-zero end, un-normalised biases
    audio = torch.randn(batch, 4, length, dtype=dtype)
    spect = torch.randn(batch, 80 * 8, length, dtype=dtype)
    with torch.no_grad():
        want = wn(audio, spect)
    got = fast_wn(wn, audio, spect)
    assert got.shape == want.shape == (batch, 8, length)
    assert want.abs().mean() > 0.1
    assert rel_err(got, want) < tolerance


@pytest.mark.parametrize("weight_norm", [True, False])
def test_decode_inverts_forward_on_the_fast_path(weight_norm):
    model = random_model(seed=3)
    if not weight_norm:
        model.remove_weight_norm()
    mel = torch.randn(2, 80, 5)
    audio = 0.3 * torch.randn(2, 5 * 256)
    with torch.no_grad():
        z, log_s_list, _ = model(mel, audio)
    assert max(s.abs().max().item() for s in log_s_list) > 0.1
    torch.testing.assert_close(model.decode(mel, z), audio, rtol=1e-4, atol=1e-5)
    # Batched and one-at-a-time decoding agree: the taps never read across batch items.
    single = torch.cat([model.decode(mel[i:i + 1], z[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(model.decode(mel, z), single, rtol=1e-5, atol=1e-6)


def test_onednn_packed_weights_are_used_on_cpu():
    model = random_model()
    model.infer(torch.randn(1, 80, 2))
    weights = model.WN[0]._fast_cache.weights
    gemms = [weights.start, *weights.in_layers, *weights.res_skip_layers]
    assert all(g.packed == ONEDNN for g in gemms)
    if ONEDNN:
        assert weights.in_layers[0].weight.is_mkldnn
    # float64 has no oneDNN inner product here: plain F.linear, same results.
    model.double()
    model.infer(torch.randn(1, 80, 2))
    assert not any(g.packed for g in model.WN[0]._fast_cache.weights.in_layers)


def test_fast_weights_are_cached_and_follow_parameter_changes():
    model = random_model()
    mel = torch.randn(1, 80, 3)

    def infer() -> torch.Tensor:
        return model.infer(mel, sigma=0.8, generator=torch.Generator().manual_seed(5))

    first = infer()
    wn = model.WN[1]
    cache = wn._fast_cache
    assert cache is not None
    assert torch.equal(infer(), first) and wn._fast_cache is cache  # reused as is
    assert not any("fast" in key for key in model.state_dict())

    with torch.no_grad():
        wn.end.bias.add_(0.5)  # an in-place edit bumps the version
    edited = infer()
    assert wn._fast_cache is not cache
    assert rel_err(edited, first) > 1e-3
    # The rebuilt weights are those of the edited model: a fresh copy agrees exactly.
    assert torch.equal(copy.deepcopy(model).infer(mel, sigma=0.8, generator=torch.Generator().manual_seed(5)),
                       edited)

    other = random_model(seed=9)
    model.load_state_dict(other.state_dict())
    loaded = infer()
    torch.testing.assert_close(loaded, other.infer(mel, sigma=0.8, generator=torch.Generator().manual_seed(5)),
                               rtol=0, atol=0)

    model.remove_weight_norm()  # new Parameters: rebuilt, same outputs up to rounding
    torch.testing.assert_close(infer(), loaded, rtol=1e-5, atol=1e-6)
    cache = model.WN[0]._fast_cache
    model.to(torch.bfloat16)
    low = model.infer(mel, sigma=0.8, generator=torch.Generator().manual_seed(5))
    assert low.dtype == torch.bfloat16 and model.WN[0]._fast_cache is not cache
    assert model.WN[0]._fast_cache.weights.in_layers[0].bias.dtype == torch.bfloat16


def test_models_with_a_cache_copy_and_pickle():
    model = random_model()
    mel = torch.randn(1, 80, 2)
    want = model.infer(mel, generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for clone in (copy.deepcopy(model), torch.load(buffer, weights_only=False)):
        assert all(wn._fast_cache is None for wn in clone.WN)
        assert torch.equal(clone.infer(mel, generator=torch.Generator().manual_seed(0)), want)
    assert model.WN[0]._fast_cache is not None  # the original keeps its own


def test_training_forward_keeps_gradients_after_inference():
    model = random_model()
    model.infer(torch.randn(1, 80, 2))  # builds the caches
    model.train()
    mel, audio = torch.randn(2, 80, 2), torch.randn(2, 700)
    z, log_s_list, log_det_W_list = model(mel, audio)
    loss = (z ** 2).sum() / 2 - sum(s.sum() for s in log_s_list) - sum(log_det_W_list)
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
            return float((z ** 2).sum() / 2 - sum(s.sum() for s in log_s_list) - sum(log_det_W_list))

        original = float(param[index])
        numeric = (loss_at(original + step) - loss_at(original - step)) / (2 * step)
        param[index] = original
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert math.isclose(float(grads[2][index]), numeric, rel_tol=1e-3, abs_tol=1e-4)


def test_bf16_full_size_waveglow_256_is_close_to_fp32():
    """The synthesizer's bf16 path: fp32 weights fused, then cast; noise drawn in fp32, then cast."""
    torch.manual_seed(0)
    model = WaveGlow(WaveGlowConfig(n_channels=256)).eval()
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0.0, 0.01)
    model.remove_weight_norm()
    mel = torch.randn(1, 80, 12, generator=torch.Generator().manual_seed(1)) - 5.0
    want = model.infer(mel, sigma=0.6, generator=torch.Generator().manual_seed(0))
    low = copy.deepcopy(model).to(torch.bfloat16)
    got = low.infer(mel, sigma=0.6, generator=torch.Generator().manual_seed(0))
    assert got.dtype == torch.bfloat16 and got.shape == (1, 12 * 256)
    assert torch.isfinite(got).all()
    assert snr_db(want, got.float()) > 30.0
    # The float32 reference arithmetic (per-layer convs) agrees with the fast float32 path.
    with torch.no_grad():
        spect = model._condition(mel, 12 * 256)
        z = torch.randn(1, 8, 12 * 32, generator=torch.Generator().manual_seed(0))
        wn_out = model.WN[5](z[:, :3], spect)
    torch.testing.assert_close(fast_wn(model.WN[5], z[:, :3], spect), wn_out, rtol=1e-4, atol=1e-5)


def test_shift_copy_is_a_zero_padded_shift():
    src = torch.arange(2 * 6 * 3, dtype=torch.float32).view(2, 6, 3)
    for shift in (-7, -6, -2, 0, 1, 5, 6, 9):
        dst = torch.full_like(src, float("nan"))
        waveglow_module._shift_copy(dst, src, shift)
        padded = torch.nn.functional.pad(src, (0, 0, 12, 12))  # zero rows around each item
        torch.testing.assert_close(dst, padded[:, 12 + shift:12 + shift + 6], rtol=0, atol=0)
