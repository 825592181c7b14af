"""Audio bytes for an HTTP answer: WAV and raw PCM chunk by chunk, FLAC/MP3/Opus as whole files.

WAV and PCM (16-bit little-endian mono at the voice's rate, as OpenAI's ``pcm``) are streamed: each
sentence's samples are sent as soon as they are vocoded. A streamed WAV's header cannot know the
final length, so its RIFF and data sizes hold 0xFFFFFFFF ("until the end of the stream"), as
OpenAI's streamed WAV does; players and libsndfile read such a file to its end. FLAC, MP3 and Opus
are written by libsndfile, which rewrites its headers when a file is closed, so those formats are
encoded once, when the last sentence is done. MP3 and Opus are offered only where the installed
libsndfile writes them (:func:`supported_formats`). Opus takes only 8, 12, 16, 24 or 48 kHz: the
audio is resampled to 24 kHz for it (OpenAI's rate).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
import soundfile

__all__ = ["OPUS_SAMPLE_RATE", "AudioFormat", "StreamEncoder", "supported_formats", "to_pcm16"]

OPUS_SAMPLE_RATE = 24000
"""Rate of Opus answers (an Opus rate, and the one OpenAI's Opus uses)."""
_UNKNOWN_SIZE = 0xFFFFFFFF


@dataclass(frozen=True)
class AudioFormat:
    """One ``response_format``: its MIME type, whether it streams, and libsndfile's names for it."""

    name: str
    media_type: str
    streams: bool
    sf_format: str = ""
    sf_subtype: str = ""


_ALL = (
    AudioFormat("wav", "audio/wav", True),
    AudioFormat("pcm", "audio/pcm", True),
    AudioFormat("flac", "audio/flac", False, "FLAC", "PCM_16"),
    AudioFormat("mp3", "audio/mpeg", False, "MP3", "MPEG_LAYER_III"),
    AudioFormat("opus", "audio/ogg", False, "OGG", "OPUS"),
)


def supported_formats() -> dict[str, AudioFormat]:
    """The response formats this installation can write, by name (wav and pcm always)."""
    formats = soundfile.available_formats()
    found = {}
    for fmt in _ALL:
        if not fmt.sf_format or (
            fmt.sf_format in formats and fmt.sf_subtype in soundfile.available_subtypes(fmt.sf_format)
        ):
            found[fmt.name] = fmt
    return found


def to_pcm16(samples: np.ndarray) -> bytes:
    """float audio in [-1, 1], (T,) → 16-bit little-endian PCM bytes (clipped, rounded)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def _wav_stream_header(sample_rate: int) -> bytes:
    """A 44-byte PCM WAV header (mono, 16-bit) whose sizes say "until the end of the stream"."""
    byte_rate = sample_rate * 2
    return (
        b"RIFF"
        + struct.pack("<I", _UNKNOWN_SIZE)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, byte_rate, 2, 16)
        + b"data"
        + struct.pack("<I", _UNKNOWN_SIZE)
    )


class StreamEncoder:
    """Turns one answer's audio, sentence by sentence, into the bytes to send.

    ``add(samples)`` returns bytes to send now (WAV/PCM: the samples; FLAC/MP3/Opus: nothing);
    ``finish()`` returns the rest (FLAC/MP3/Opus: the whole file).

    Args:
        fmt: the response format.
        sample_rate: rate of the samples given to ``add``, in Hz.
    """

    def __init__(self, fmt: AudioFormat, sample_rate: int) -> None:
        self.format = fmt
        self.sample_rate = sample_rate
        self._header_sent = False
        self._held: list[np.ndarray] = []

    @property
    def output_sample_rate(self) -> int:
        """Rate of the encoded audio (the voice's, or 24 kHz for Opus)."""
        return OPUS_SAMPLE_RATE if self.format.name == "opus" else self.sample_rate

    def add(self, samples: np.ndarray) -> bytes:
        """Encode float samples (T,) in [-1, 1]; returns what can be sent now."""
        if not self.format.streams:
            self._held.append(samples)
            return b""
        data = to_pcm16(samples)
        if self.format.name == "wav" and not self._header_sent:
            self._header_sent = True
            data = _wav_stream_header(self.sample_rate) + data
        return data

    def finish(self) -> bytes:
        """What remains to send after the last ``add``."""
        if self.format.streams:
            if self.format.name == "wav" and not self._header_sent:
                self._header_sent = True
                return _wav_stream_header(self.sample_rate)
            return b""
        samples = np.concatenate(self._held) if self._held else np.zeros(0, dtype=np.float32)
        if self.format.name == "opus":
            import librosa  # only Opus needs it; a core dependency already

            samples = librosa.resample(samples, orig_sr=self.sample_rate, target_sr=OPUS_SAMPLE_RATE)
        buffer = io.BytesIO()
        # Through 16-bit samples, as WAV and PCM: a lossless FLAC then holds exactly their values.
        pcm16 = np.frombuffer(to_pcm16(samples), dtype="<i2")
        soundfile.write(
            buffer, pcm16, self.output_sample_rate, format=self.format.sf_format, subtype=self.format.sf_subtype
        )
        return buffer.getvalue()
