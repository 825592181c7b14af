"""Log-mel: NVIDIA golden mels, MelConfig, range checks, compression, pseudo-inverse."""

from __future__ import annotations

import math

import librosa
import pytest
import torch

from tacoglow.audio import (
    STFT,
    MelConfig,
    MelSpectrogram,
    dynamic_range_compression,
    dynamic_range_decompression,
    mel_spectrogram,
    mel_to_linear,
)
from tacoglow.errors import AudioError, ConfigError

from tolerances import perturbed, reduction_rtol, rel_l2

STFT_KEYS = ("sampling_rate", "filter_length", "hop_length", "win_length", "n_mel_channels", "mel_fmin", "mel_fmax")

# A mel value is dominated by one float32 reduction, the 1024-sample STFT (the filterbank adds at most
# a few dozen non-zero terms); the log turns its relative error into an absolute one.
MEL_RTOL = reduction_rtol(1024)
LOG_FLOOR = math.log(1e-5)


def log_mel_error_bound(audio: torch.Tensor, mel_basis: torch.Tensor, log_mel: torch.Tensor) -> torch.Tensor:
    """Per element, how far two float32 computations of a log-mel may differ, (n_mels, T_mel).

    An STFT coefficient of a frame is a 1024-term sum whose terms add up to at most
    sum |window * frame| (the DC bin of the STFT of |audio|): its real and imaginary parts carry up to
    MEL_RTOL of that, its magnitude up to sqrt(2) times as much. The filterbank adds those errors with
    its weights, and the log divides them by the value (by the floor where clamped). A quiet bin of a
    loud frame (the chirp's bins far from its pitch) may thus differ by much more than a loud bin.
    """
    frame_terms = STFT().transform(audio.abs()[None])[0][0, 0]  # (T_mel,)
    mel_error = math.sqrt(2) * MEL_RTOL * mel_basis.sum(dim=1, keepdim=True) * frame_terms  # (n_mels, T_mel)
    return mel_error / log_mel.exp().clamp(min=1e-5)


@pytest.fixture(scope="module")
def gold(golden_dir):
    return torch.load(golden_dir / "mel.pt", weights_only=True)


def test_golden_mels_functional(gold):
    params = {k: gold["params"][k] for k in STFT_KEYS}
    mel_basis = MelSpectrogram(MelConfig.from_dict(params)).mel_basis
    for name, wav, want in zip(gold["names"], gold["wav_int16"], gold["mel"]):
        audio = (wav.to(torch.float32) / 32768.0)[None]
        got = mel_spectrogram(audio, **params)[0]
        assert got.shape == want.shape == (80, wav.numel() // 256 + 1), name
        bound = log_mel_error_bound(audio[0], mel_basis, want)
        assert torch.all((got - want).abs() <= bound), (name, float(((got - want).abs() / bound).max()))
        # A 0.1 % quieter clip (log-mel - 1e-3 wherever above the floor) fails the comparison.
        if want.max() > LOG_FLOOR:
            quieter = mel_spectrogram(perturbed(audio), **params)[0]
            assert not torch.all((quieter - want).abs() <= bound), name


def test_golden_mels_module_batched(gold):
    # The two shortest clips batched (zero-padded to the longer one): frames of the shorter clip
    # that see no padding are identical to its own golden frames.
    module = MelSpectrogram(MelConfig.from_dict({k: gold["params"][k] for k in STFT_KEYS}))
    wavs = [gold["wav_int16"][3], gold["wav_int16"][4]]
    batch = torch.zeros(2, wavs[0].numel())
    batch[0] = wavs[0] / 32768.0
    batch[1, : wavs[1].numel()] = wavs[1] / 32768.0
    mel = module(batch)
    assert mel.shape == (2, 80, 26)
    for row, clip, frames in ((0, 3, 26), (1, 4, 5)):
        want = gold["mel"][clip][:, :frames]
        bound = log_mel_error_bound(batch[row], module.mel_basis, mel[row])[:, :frames]
        assert torch.all((mel[row, :, :frames] - want).abs() <= bound), clip
    # The silent clip sits at the clamp floor.
    torch.testing.assert_close(gold["mel"][4].min(), torch.tensor(math.log(1e-5)))


def test_mel_basis_is_librosa_slaney():
    config = MelConfig(
        sampling_rate=16000,
        filter_length=512,
        hop_length=128,
        win_length=400,
        n_mel_channels=40,
        mel_fmin=50.0,
        mel_fmax=None,
    )
    module = MelSpectrogram(config)
    want = torch.from_numpy(librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=50.0, fmax=None))
    assert module.mel_basis.dtype == torch.float32 and torch.equal(module.mel_basis, want)
    out = module(torch.zeros(3, 1000))
    assert out.shape == (3, 40, 1000 // 128 + 1)
    assert module.state_dict() == {}


def test_mel_of_sine_peaks_in_its_band():
    config = MelConfig()
    t = torch.arange(8192) / config.sampling_rate
    mel = MelSpectrogram(config)(0.5 * torch.sin(2 * torch.pi * 1000.0 * t)[None])
    centres = librosa.mel_frequencies(config.n_mel_channels + 2, fmin=0.0, fmax=8000.0)[1:-1]
    expected_band = int(abs(torch.from_numpy(centres) - 1000.0).argmin())
    assert torch.all((mel[0, :, 4:-4].argmax(dim=0) - expected_band).abs() <= 1)


def test_audio_out_of_range_names_peak():
    module = MelSpectrogram()
    audio = torch.zeros(1, 2048)
    audio[0, 100] = 1.5
    with pytest.raises(AudioError, match=r"expected samples in \[-1, 1\], found peak 1\.5 "):
        module(audio)
    audio[0, 100] = -3276.0
    with pytest.raises(AudioError, match=r"found peak -3276 \(int16 PCM must be divided by 32768\)"):
        mel_spectrogram(audio)
    audio[0, 100] = float("nan")
    with pytest.raises(AudioError, match="found NaN or infinity"):
        module(audio)
    with pytest.raises(AudioError, match=r"expected float audio of shape \(B, T_audio\)"):
        module(torch.zeros(2048))
    with pytest.raises(AudioError, match=r"expected float audio .* found torch\.int16"):
        module(torch.zeros(1, 2048, dtype=torch.int16))


def test_edges_of_range_are_accepted():
    audio = torch.zeros(1, 2048)
    audio[0, 0], audio[0, 1] = -1.0, 1.0
    assert torch.isfinite(mel_spectrogram(audio)).all()


def test_magnitudes_are_detached():
    audio = (torch.rand(1, 2048) - 0.5).requires_grad_()
    assert not MelSpectrogram()(audio).requires_grad


def test_config_roundtrip_and_validation():
    config = MelConfig(sampling_rate=16000, mel_fmax=7600)
    assert isinstance(config.mel_fmax, float)
    data = config.to_dict()
    assert data == {
        "sampling_rate": 16000,
        "filter_length": 1024,
        "hop_length": 256,
        "win_length": 1024,
        "n_mel_channels": 80,
        "mel_fmin": 0.0,
        "mel_fmax": 7600.0,
        "max_wav_value": 32768.0,
    }
    assert MelConfig.from_dict(data) == config
    assert MelConfig.from_dict({}) == MelConfig()
    with pytest.raises(ConfigError, match=r"unknown keys \['mel_fmaxx'\]"):
        MelConfig.from_dict({"mel_fmaxx": 7000.0})
    with pytest.raises(ConfigError, match=r"mel_fmax <= sampling_rate/2 = 8000 Hz, found .*mel_fmax=11025"):
        MelConfig(sampling_rate=16000, mel_fmax=11025.0)
    with pytest.raises(ConfigError, match=r"MelConfig.hop_length: expected a positive integer, found 0"):
        MelConfig(hop_length=0)
    with pytest.raises(ConfigError, match=r"win_length: expected at most filter_length=512, found 1024"):
        MelConfig(filter_length=512)
    with pytest.raises(ConfigError, match=r"MelConfig.n_mel_channels: expected a positive integer, found 80\.0"):
        MelConfig(n_mel_channels=80.0)  # type: ignore[arg-type]


def test_dynamic_range_compression_roundtrip():
    x = torch.tensor([0.0, 1e-6, 1e-5, 0.5, 3.0])
    y = dynamic_range_compression(x)
    torch.testing.assert_close(y, torch.log(torch.tensor([1e-5, 1e-5, 1e-5, 0.5, 3.0])))
    torch.testing.assert_close(dynamic_range_decompression(y)[2:], x[2:])
    torch.testing.assert_close(
        dynamic_range_compression(x, C=2.0, clip_val=0.1), torch.log(torch.tensor([0.2, 0.2, 0.2, 1.0, 6.0]))
    )


def test_mel_to_linear_inverts_filterbank():
    config = MelConfig()
    module = MelSpectrogram(config)
    generator = torch.Generator().manual_seed(0)
    audio = torch.rand(2, 4096, generator=generator) - 0.5
    mel = dynamic_range_decompression(module(audio))
    linear = mel_to_linear(mel, config)
    assert linear.shape == (2, 513, 17) and linear.min() >= 1e-10
    # Projecting back onto the filterbank gives the mel again, up to the few bins where the
    # pseudo-inverse went negative and was floored.
    assert rel_l2(module.mel_basis @ linear, mel) < 1e-2
    exact = torch.linalg.pinv(module.mel_basis.double()).float() @ mel
    torch.testing.assert_close(linear, exact.clamp(min=1e-10))
    assert mel_to_linear(mel[0], config).shape == (513, 17)
    with pytest.raises(AudioError, match=r"expected shape \(B, 80, T_mel\), found \(2, 40, 17\)"):
        mel_to_linear(mel[:, :40], config)
