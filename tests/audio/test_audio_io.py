"""WAV I/O and resampling: round trips, sample formats, channel mixing, every error case."""

from __future__ import annotations

import math
import os
import stat
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from tacoglow.audio import load_wav, resample, save_wav
from tacoglow.errors import AudioError


def sine(freq_hz: float, sample_rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def peak_frequency(audio: torch.Tensor, sample_rate: int) -> float:
    spectrum = torch.fft.rfft(audio.double() * torch.hann_window(audio.numel(), dtype=torch.float64))
    return spectrum.abs().argmax().item() * sample_rate / audio.numel()


def test_save_load_pcm16_roundtrip(tmp_path):
    ints = np.array([-32768, -12345, -1, 0, 1, 32767], dtype=np.int16)
    path = tmp_path / "a.wav"
    save_wav(path, torch.from_numpy(ints / 32768.0), 22050)
    assert sf.info(path).subtype == "PCM_16"
    audio, sample_rate = load_wav(path, sampling_rate=22050)
    assert sample_rate == 22050 and audio.dtype == torch.float32 and audio.shape == (6,)
    assert torch.equal(audio, torch.from_numpy(ints / np.float32(32768.0)))
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temporary file left


def test_save_pcm16_clips(tmp_path):
    path = tmp_path / "clip.wav"
    save_wav(path, np.array([1.7, -2.0, 0.5], dtype=np.float32), 16000)
    data, _ = sf.read(path, dtype="int16")
    assert data.tolist() == [32767, -32768, 16384]


def test_save_load_float_roundtrip(tmp_path):
    audio = torch.from_numpy(sine(220.0, 22050, 0.05, amplitude=1.6))  # outside [-1, 1] on purpose
    path = tmp_path / "f.wav"
    save_wav(path, audio, 22050, subtype="FLOAT")
    assert sf.info(path).subtype == "FLOAT"
    data, _ = sf.read(path, dtype="float32")
    assert np.array_equal(data, audio.numpy())  # FLOAT is not clipped on write
    loaded, _ = load_wav(path)
    assert loaded.abs().max() == 1.0  # but every load comes out in [-1, 1]
    torch.testing.assert_close(loaded, audio.clamp(-1, 1))


@pytest.mark.parametrize(
    "subtype,dtype,full_scale", [("PCM_24", "int32", 2**31), ("PCM_32", "int32", 2**31), ("FLOAT", "float32", 1.0)]
)
def test_integer_and_float_wavs_scale_to_unit_range(tmp_path, subtype, dtype, full_scale):
    path = tmp_path / f"{subtype}.wav"
    samples = sine(440.0, 16000, 0.1, amplitude=0.9)
    sf.write(path, samples, 16000, subtype=subtype)
    audio, sample_rate = load_wav(path)
    assert sample_rate == 16000
    # 24-bit quantization moves a sample by at most 2**-24 (6e-8), float32 rounding by as much again.
    torch.testing.assert_close(audio, torch.from_numpy(samples).float(), rtol=0, atol=1e-6)
    raw, _ = sf.read(path, dtype=dtype)
    torch.testing.assert_close(audio, torch.from_numpy(raw / full_scale).float(), rtol=0, atol=1e-6)


def test_stereo_is_averaged_or_kept(tmp_path):
    left, right = sine(300.0, 8000, 0.1), sine(500.0, 8000, 0.1, amplitude=0.25)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    mono, _ = load_wav(path)
    torch.testing.assert_close(mono, torch.from_numpy((left + right) / 2))
    both, _ = load_wav(path, mono=False)
    assert both.shape == (2, 800)
    torch.testing.assert_close(both[1], torch.from_numpy(right))
    save_wav(tmp_path / "again.wav", both, 8000, subtype="FLOAT")
    assert sf.info(tmp_path / "again.wav").channels == 2


def test_resample_length_and_frequency():
    audio = torch.from_numpy(sine(1000.0, 16000, 1.0))
    out = resample(audio, 16000, 22050)
    assert out.shape == (22050,) and out.dtype == torch.float32
    assert abs(peak_frequency(out, 22050) - 1000.0) < 2.0
    assert abs(out.abs().max().item() - 0.5) < 0.01  # band-limited, no gain change
    batch = resample(torch.stack([audio, audio * 0.5]), 16000, 8000)
    assert batch.shape == (2, 8000)
    # Resampling is linear and halving is exact in binary floating point; only the resampler's
    # summation order between rows could differ (a few float32 roundings of values below 1).
    torch.testing.assert_close(batch[1], batch[0] * 0.5, rtol=1e-5, atol=1e-6)
    with pytest.raises(AudioError, match=r"resample target_sr: expected a positive integer .* found 0"):
        resample(audio, 16000, 0)


def test_load_with_resampling(tmp_path):
    path = tmp_path / "16k.wav"
    sf.write(path, sine(700.0, 16000, 0.5), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"16k\.wav: expected 22050 Hz audio, found 16000 Hz"):
        load_wav(path, sampling_rate=22050)
    audio, sample_rate = load_wav(path, sampling_rate=22050, resample=True)
    assert sample_rate == 22050 and audio.shape == (11025,)
    assert abs(peak_frequency(audio, 22050) - 700.0) < 3.0
    assert audio.abs().max() <= 1.0


def test_load_errors(tmp_path):
    with pytest.raises(AudioError, match=r"^\S*missing\.wav: file not found$"):
        load_wav(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match=r"expected an audio file, found a directory"):
        load_wav(tmp_path)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(AudioError, match=r"corrupt\.wav: not a readable audio file"):
        load_wav(corrupt)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    with pytest.raises(AudioError, match=r"notes\.wav: not a readable audio file"):
        load_wav(text)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 22050)
    with pytest.raises(AudioError, match=r"empty\.wav: expected audio samples, found an empty file"):
        load_wav(empty)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan], dtype=np.float32), 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: expected finite samples"):
        load_wav(nan)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="permission bits do not stop root or Windows")
def test_save_to_unwritable_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(AudioError, match=r"out\.wav: cannot write to folder"):
            save_wav(folder / "out.wav", np.zeros(10, dtype=np.float32), 22050)
    finally:
        folder.chmod(stat.S_IRWXU)
    assert list(folder.iterdir()) == []


def test_save_errors_leave_no_file(tmp_path):
    with pytest.raises(AudioError, match=r"out\.wav: cannot write: folder .*nowhere does not exist$"):
        save_wav(tmp_path / "nowhere" / "out.wav", np.zeros(10, dtype=np.float32), 22050)
    with pytest.raises(AudioError, match=r"subtype: expected one of \['PCM_16', 'FLOAT'\], found 'PCM_8'"):
        save_wav(tmp_path / "x.wav", np.zeros(10, dtype=np.float32), 22050, subtype="PCM_8")
    with pytest.raises(AudioError, match=r"x\.wav: expected finite samples"):
        save_wav(tmp_path / "x.wav", torch.tensor([0.0, math.inf]), 22050)
    with pytest.raises(AudioError, match=r"x\.wav: expected audio of shape \(T_audio,\)"):
        save_wav(tmp_path / "x.wav", np.zeros((1, 2, 3), dtype=np.float32), 22050)
    # The target is a folder: refused before anything is written.
    (tmp_path / "taken.wav").mkdir()
    with pytest.raises(AudioError, match=r"taken\.wav: cannot write: it is a folder$"):
        save_wav(tmp_path / "taken.wav", np.zeros(10, dtype=np.float32), 22050)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.wav"]


def test_save_permission_denied_message(tmp_path, monkeypatch):
    # Root ignores permission bits, so the refusal is simulated where the temp file is created.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tacoglow.audio.io.os.open", refuse)
    with pytest.raises(AudioError, match=r"out\.wav: cannot write to folder .* \(Permission denied\)$"):
        save_wav(tmp_path / "out.wav", np.zeros(10, dtype=np.float32), 22050)
    assert list(tmp_path.iterdir()) == []
