"""The prepared WaveGlow: the reference's math as fused GEMMs, built once, shareable between threads."""

from __future__ import annotations

import copy
import dataclasses
import doctest
import threading
import warnings

import pytest
import torch

from tacoglow.bench.stats import snr_db
from tacoglow.errors import ConfigError
from tacoglow.inference import fast_waveglow
from tacoglow.inference.fast_waveglow import PreparedWaveGlow, prepare_waveglow
from tacoglow.models.waveglow import WaveGlow, WaveGlowConfig, condition

from tolerances import perturb_weights_, reduction_rtol, rel_l2

TINY = WaveGlowConfig(n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=3, n_channels=8)
ONEDNN = torch.backends.mkldnn.is_available()

# float32 prepared vs reference, norm-wise: both round every reduction once, in different orders
# (GEMMs over [taps | conditioning], K = 3·C + 640 = 664 terms at TINY size, against separate convs),
# and the prepared weights are composed in float64 and rounded once. The errors chain through one GEMM
# per WN layer in each flow (n_flows · n_layers = 12); the inverse couplings divide by exp(log_s) ≈ 1
# here and do not amplify them. Measured 2e-7; a 0.1 % weight change moves the output by ~1e-3.
FP32_TOL = reduction_rtol(3 * TINY.n_channels + 80 * TINY.n_group, chained=TINY.n_flows * TINY.n_layers)


def random_model(config: WaveGlowConfig = TINY, seed: int = 0, end_scale: float = 0.3) -> WaveGlow:
    """A model whose couplings are not the identity (the reference zero-inits ``end``)."""
    torch.manual_seed(seed)
    model = WaveGlow(config).eval()
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0.0, end_scale)
            wn.end.bias.normal_(0.0, end_scale)
    return model


def infer(model: WaveGlow | PreparedWaveGlow, mel: torch.Tensor, seed: int = 5) -> torch.Tensor:
    return model.infer(mel, sigma=0.8, generator=torch.Generator().manual_seed(seed))


def fused_wn(model: WaveGlow, k: int, audio: torch.Tensor, spect: torch.Tensor) -> torch.Tensor:
    """Flow k's fused WN on ``forward``'s layout: (B, n_in, L), (B, n_cond, L) → (B, 2·n_in, L)."""
    wn = model.WN[k]
    fused = fast_waveglow._fuse_wn(wn, spect.dtype, spect.device)
    n_tap = wn.kernel_size * max(wn.n_channels, audio.size(1) + 1)
    work = torch.empty(spect.size(0), spect.size(2), n_tap + spect.size(1), dtype=spect.dtype)
    work[..., n_tap:] = spect.transpose(1, 2)
    work[..., :n_tap] = float("nan")  # stale scratch must not leak into the result
    with torch.no_grad():
        return fast_waveglow._run_wn(fused, audio.transpose(1, 2), work).transpose(1, 2)


@pytest.mark.parametrize(
    "kernel_size, n_layers, n_channels, batch, length",
    [
        (3, 3, 8, 1, 40),  # the default shape, small
        (3, 4, 6, 2, 5),  # dilation 8 > L: the outer taps see only padding
        (5, 2, 4, 2, 9),  # wider kernel
        (1, 2, 8, 1, 7),  # no taps besides the centre
        (3, 1, 2, 1, 6),  # C = 2 < n_in + 1: layer 0's taps are wider than the others'
    ],
)
# float64: the same math exactly (round-off ~1e-16 per operation); float32: one WN, a few reductions of
# at most ~700 terms, measured ~3e-7.
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_fused_wn_equals_forward(kernel_size, n_layers, n_channels, batch, length, dtype, tolerance):
    config = WaveGlowConfig(n_flows=1, n_layers=n_layers, kernel_size=kernel_size, n_channels=n_channels)
    model = random_model(config).to(dtype)
    with torch.no_grad():
        for p in model.WN[0].parameters():
            p.add_(0.1 * torch.randn_like(p))  # non-zero end, un-normalised biases
    audio = torch.randn(batch, 4, length, dtype=dtype)
    spect = torch.randn(batch, 80 * 8, length, dtype=dtype)
    with torch.no_grad():
        want = model.WN[0](audio, spect)
    got = fused_wn(model, 0, audio, spect)
    assert got.shape == want.shape == (batch, 8, length)
    assert want.abs().mean() > 0.1
    assert rel_l2(got, want) < tolerance


@pytest.mark.parametrize("weight_norm", [True, False])
def test_prepared_infer_and_decode_equal_the_reference(weight_norm):
    model = random_model(seed=2)
    if not weight_norm:
        model.remove_weight_norm()
    mel = torch.randn(2, 80, 5)
    want = infer(model, mel)
    prepared = prepare_waveglow(model)
    got = infer(prepared, mel)
    assert got.shape == want.shape == (2, 5 * 256) and got.dtype == torch.float32
    assert rel_l2(got, want) < FP32_TOL
    z = torch.randn(2, 8, 5 * 32)
    assert rel_l2(prepared.decode(mel, z), model.decode(mel, z)) < FP32_TOL
    # The tolerance is tight enough to notice a 0.1 % weight change.
    assert rel_l2(infer(prepare_waveglow(perturb_weights_(model)), mel), want) > 10 * FP32_TOL


@pytest.mark.parametrize("weight_norm", [True, False])
def test_decode_inverts_forward_on_the_prepared_module(weight_norm):
    model = random_model(seed=3)
    if not weight_norm:
        model.remove_weight_norm()
    mel = torch.randn(2, 80, 5)
    audio = 0.3 * torch.randn(2, 5 * 256)
    with torch.no_grad():
        z, log_s_list, _ = model(mel, audio)
    assert max(s.abs().max().item() for s in log_s_list) > 0.1
    prepared = prepare_waveglow(model)
    torch.testing.assert_close(prepared.decode(mel, z), audio, rtol=1e-4, atol=1e-5)
    # Batched and one-at-a-time decoding agree: the taps never read across batch items.
    single = torch.cat([prepared.decode(mel[i : i + 1], z[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(prepared.decode(mel, z), single, rtol=1e-5, atol=1e-6)


def test_preparing_leaves_the_model_unchanged():
    model = random_model()
    params = dict(model.named_parameters())
    before = {name: (p.detach().clone(), p._version, p.requires_grad) for name, p in params.items()}
    keys = list(model.state_dict())
    mel = torch.randn(1, 80, 3)
    want = infer(model, mel)
    prepared = prepare_waveglow(model, torch.bfloat16)
    infer(prepared, mel)
    assert dict(model.named_parameters()) == params  # the same Parameter objects
    for name, p in model.named_parameters():
        value, version, requires_grad = before[name]
        assert torch.equal(p, value) and p.dtype == torch.float32, name
        assert p._version == version and p.requires_grad == requires_grad, name
    assert list(model.state_dict()) == keys and model.has_weight_norm
    assert torch.equal(infer(model, mel), want)
    # The prepared module owns its weights: nothing it holds is a view of the model's.
    assert prepared.upsample.weight.data_ptr() != model.upsample.weight.data_ptr()
    assert not prepared.upsample.weight.requires_grad


def test_prepared_module_is_a_snapshot_of_the_model():
    model = random_model()
    mel = torch.randn(1, 80, 3)
    prepared = prepare_waveglow(model)
    first = infer(prepared, mel)
    with torch.no_grad():
        model.WN[1].end.bias.add_(0.5)
    assert torch.equal(infer(prepared, mel), first)  # later edits are not seen …
    assert rel_l2(infer(prepare_waveglow(model), mel), first) > 1e-3  # … until prepared again


def test_prepared_module_used_from_four_threads_equals_sequential_runs():
    prepared = prepare_waveglow(random_model(seed=4))
    mels = [torch.randn(1 + i % 2, 80, 3 + i) for i in range(4)]  # different shapes and batch sizes
    sequential = [infer(prepared, mel, seed=i) for i, mel in enumerate(mels)]
    first: list[torch.Tensor] = [torch.empty(0)] * len(mels)
    results: list[list[torch.Tensor]] = [[] for _ in mels]
    barrier = threading.Barrier(len(mels))
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            # A fresh thread's first call may run some GEMMs before torch's lazy per-thread init of its
            # OpenMP thread count, so with other threads than the main one's: other reduction splits,
            # float32 rounding differences (the reference model shows the same). Compared with a
            # tolerance; every later call must equal the sequential result bit for bit.
            first[i] = infer(prepared, mels[i], seed=i)
            barrier.wait()
            for _ in range(5):
                results[i].append(infer(prepared, mels[i], seed=i))
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(mels))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i, want in enumerate(sequential):
        assert rel_l2(first[i], want) < FP32_TOL
        assert len(results[i]) == 5
        for got in results[i]:
            assert torch.equal(got, want)


def test_onednn_packed_weights_are_used_on_cpu():
    flows = prepare_waveglow(random_model())._flows
    gemms = [flows[0].wn.start, *flows[0].wn.in_layers, *flows[0].wn.res_skip_layers]
    assert all(g.packed == ONEDNN for g in gemms)
    if ONEDNN:
        assert flows[0].wn.in_layers[0].weight.is_mkldnn
    # float64 has no oneDNN inner product: plain F.linear, same results.
    model = random_model().double()
    prepared = prepare_waveglow(model)
    assert not any(g.packed for g in prepared._flows[0].wn.in_layers)
    mel = torch.randn(1, 80, 2, dtype=torch.float64)
    assert infer(prepared, mel).dtype == torch.float64
    assert rel_l2(infer(prepared, mel), infer(model, mel)) < 1e-12


def test_dtype_and_device_default_to_the_models():
    prepared = prepare_waveglow(random_model())
    assert (prepared.dtype, prepared.device) == (torch.float32, torch.device("cpu"))
    low = prepare_waveglow(random_model(), torch.bfloat16, "cpu")
    assert low.dtype == torch.bfloat16 and next(low.parameters()).dtype == torch.bfloat16
    assert low.infer(torch.randn(1, 80, 2)).dtype == torch.bfloat16  # a float32 mel is cast


def test_errors():
    with pytest.raises(ConfigError, match=r"prepare_waveglow: expected a WaveGlow, found Linear"):
        prepare_waveglow(torch.nn.Linear(2, 2))  # type: ignore[arg-type]
    prepared = prepare_waveglow(random_model())
    for move in (lambda m: m.to(torch.bfloat16), lambda m: m.half(), lambda m: m.to("cpu")):
        with pytest.raises(ConfigError, match=r"cannot be moved or cast: call prepare_waveglow .* again"):
            move(prepared)
    with pytest.raises(ConfigError, match=r"mel: expected \(B, 80, T_mel >= 1\), found \(80, 5\)"):
        prepared.infer(torch.zeros(80, 5))
    with pytest.raises(ConfigError, match=r"decode z: expected \(1, 8, 64\), found \(1, 8, 63\)"):
        prepared.decode(torch.zeros(1, 80, 2), torch.zeros(1, 8, 63))


@pytest.mark.slow
def test_bf16_full_size_waveglow_256_is_close_to_fp32():
    """The synthesizer's bf16 path on a full-size model: weights composed from float32, rounded once."""
    torch.manual_seed(0)
    model = WaveGlow(WaveGlowConfig(n_channels=256)).eval()
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0.0, 0.01)
    mel = torch.randn(1, 80, 12, generator=torch.Generator().manual_seed(1)) - 5.0
    fp32 = prepare_waveglow(model)
    want = fp32.infer(mel, sigma=0.6, generator=torch.Generator().manual_seed(0))
    got = prepare_waveglow(model, torch.bfloat16).infer(mel, sigma=0.6, generator=torch.Generator().manual_seed(0))
    assert got.dtype == torch.bfloat16 and got.shape == (1, 12 * 256)
    assert torch.isfinite(got).all()
    # 30 dB is a relative error of 3.2 %, ~8 bf16 unit roundoffs (2**-8), through 12 flows of 8 layers
    # (measured 41.8 dB; 39.7 dB when the weights are rounded to bf16 before composing, as before).
    assert snr_db(want, got.float()) > 30.0
    # The full-size fused WN against the reference's per-layer convs, in float32: K = 3·256 + 640.
    with torch.no_grad():
        spect = condition(mel, model.upsample, 8, 12 * 256)
        z = torch.randn(1, 3, 12 * 32, generator=torch.Generator().manual_seed(0))
        wn_out = model.WN[5](z, spect)
    assert rel_l2(fused_wn(model, 5, z, spect), wn_out) < reduction_rtol(3 * 256 + 640, chained=8)


def test_shift_copy_is_a_zero_padded_shift():
    src = torch.arange(2 * 6 * 3, dtype=torch.float32).view(2, 6, 3)
    for shift in (-7, -6, -2, 0, 1, 5, 6, 9):
        dst = torch.full_like(src, float("nan"))
        fast_waveglow._shift_copy(dst, src, shift)
        padded = torch.nn.functional.pad(src, (0, 0, 12, 12))  # zero rows around each item
        torch.testing.assert_close(dst, padded[:, 12 + shift : 12 + shift + 6], rtol=0, atol=0)


def test_training_still_works_after_preparing():
    model = random_model()
    prepare_waveglow(model)
    model.train()
    z, log_s_list, log_det_W_list = model(torch.randn(2, 80, 2), torch.randn(2, 700))
    loss = (z**2).sum() / 2 - sum(s.sum() for s in log_s_list) - sum(log_det_W_list)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    copy.deepcopy(model)  # the reference model holds no packed state: it copies as any module


def test_docstring_examples_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = doctest.testmod(fast_waveglow, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2 and result.failed == 0


def test_wider_kernel_model_end_to_end():
    """kernel_size 5 and an odd early size layout: the whole prepared inverse, not only one WN."""
    config = dataclasses.replace(TINY, kernel_size=5, n_early_every=3, n_flows=5)
    model = random_model(config, seed=6)
    mel = torch.randn(1, 80, 4)
    assert rel_l2(infer(prepare_waveglow(model), mel), infer(model, mel)) < FP32_TOL
