"""The runtime's WAV writer: the one atomic writer (tacoglow.fileio), so stdout and failures behave as everywhere."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from tacoglow.errors import AudioError
from tacoglow.runtime.dsp import write_wav


def test_write_wav_to_a_file_and_to_stdout(tmp_path, capsysbinary):
    samples = np.sin(np.linspace(0, 200, 2205, dtype=np.float32)) * 0.5
    write_wav(tmp_path / "a.wav", samples, 22050)
    written, rate = sf.read(tmp_path / "a.wav", dtype="float32")
    assert rate == 22050
    np.testing.assert_allclose(written, samples, atol=1 / 32767)  # 16-bit quantization
    write_wav("-", samples, 22050, float32=True)
    streamed, _ = sf.read(io.BytesIO(capsysbinary.readouterr().out), dtype="float32")
    np.testing.assert_array_equal(streamed, samples)


def test_write_wav_failures_leave_nothing(tmp_path):
    with pytest.raises(AudioError, match="finite"):
        write_wav(tmp_path / "nan.wav", np.array([0.0, np.nan], np.float32), 22050)
    with pytest.raises(AudioError, match=r"a.wav: cannot write: folder .*missing does not exist"):
        write_wav(tmp_path / "missing" / "a.wav", np.zeros(10, np.float32), 22050)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
