"""Named voices: the one bundled with the package and NVIDIA's published LJ Speech checkpoints.

A voice names a Tacotron 2 and a WaveGlow. Each is a file bundled in the package
(``tacoglow/voices/``) or a file published at a URL, which :func:`resolve_voice` downloads into
the cache on first use (:mod:`tacoglow.download`) and finds there afterwards::

    <cache>/<voice name>/<file name>      cache = $TACOGLOW_CACHE or the user cache folder

A file copied to that place by hand is used the same way, without any network.

NVIDIA's files are the ones its torch.hub entrypoints download
(DeepLearningExamples, ``PyTorch/SpeechSynthesis/Tacotron2/{tacotron2,waveglow}/entrypoints.py``,
NGC versions 19.09.0), under the names torch.hub gives them, so a torch.hub cache
(``~/.cache/torch/hub/checkpoints``) can be copied in. Their SHA-256 sums are not published:
a download is kept only once it loads as the expected model kind with ``weights_only=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tacoglow.download import RemoteFile, cache_dir, fetch
from tacoglow.errors import ConfigError

__all__ = [
    "DEFAULT_VOICE",
    "VOICES",
    "Bundled",
    "Voice",
    "cached_path",
    "get_voice",
    "resolve_voice",
    "voice_status",
]


@dataclass(frozen=True)
class Bundled:
    """A checkpoint shipped inside the package, at ``tacoglow/voices/<filename>``."""

    filename: str

    def path(self) -> Path | None:
        """Where this installation has it; None when it is not installed."""
        entry = resources.files("tacoglow") / "voices" / self.filename
        return Path(str(entry)) if entry.is_file() else None


ModelFile = Bundled | RemoteFile


@dataclass(frozen=True)
class Voice:
    """A catalogue entry.

    Attributes:
        name: what ``--voice`` and ``Synthesizer.from_checkpoints(voice=...)`` take.
        description: one line for ``tacoglow voices``.
        language: BCP 47 tag of what it speaks.
        licence: the terms the files are published under.
        tacotron2: its Tacotron 2 file.
        waveglow: its WaveGlow file; None: Griffin-Lim.
        download_mb: approximate download size in MB (display only; None: nothing to download).
    """

    name: str
    description: str
    language: str
    licence: str
    tacotron2: ModelFile
    waveglow: ModelFile | None
    download_mb: int | None = None


_NGC = "https://api.ngc.nvidia.com/v2/models/nvidia"
_NVIDIA_LICENCE = (
    "NVIDIA NGC catalogue terms for DeepLearningExamples checkpoints (code that made them: "
    "BSD-3-Clause; trained on LJ Speech, public domain)"
)

# Sizes: NVIDIA does not state them beside the files. Estimated from the parameter counts of the
# full-size models (Tacotron 2: 28.2 M, WaveGlow with 512 WN channels as in these files: 268.3 M):
# fp32, 4 bytes each (113 + 1073 MB); AMP, saved by the 2019 code from a half-precision model that kept
# the decoder LSTM cells and batch norms in fp32, about 97 + 537 MB. The exact size is the one the
# server announces, checked at the end of the download.
VOICES: dict[str, Voice] = {
    voice.name: voice
    for voice in (
        Voice(
            name="bundled",
            description="the voice shipped with tacoglow (small; WaveGlow if bundled, else Griffin-Lim)",
            language="en-US",
            licence="BSD-3-Clause (as tacoglow)",
            tacotron2=Bundled("tacotron2.pt"),
            waveglow=Bundled("waveglow.pt"),
        ),
        Voice(
            name="nvidia-ljspeech",
            description="NVIDIA's published Tacotron 2 + WaveGlow trained on LJ Speech with mixed precision "
            "(torch.hub, NGC 19.09.0): natural speech",
            language="en-US",
            licence=_NVIDIA_LICENCE,
            tacotron2=RemoteFile(
                f"{_NGC}/tacotron2_pyt_ckpt_amp/versions/19.09.0/files/nvidia_tacotron2pyt_fp16_20190427",
                "nvidia_tacotron2pyt_fp16_20190427",
                "tacotron2",
            ),
            waveglow=RemoteFile(
                f"{_NGC}/waveglow_ckpt_amp/versions/19.09.0/files/nvidia_waveglowpyt_fp16_20190427",
                "nvidia_waveglowpyt_fp16_20190427",
                "waveglow",
            ),
            download_mb=630,
        ),
        Voice(
            name="nvidia-ljspeech-fp32",
            description="NVIDIA's published Tacotron 2 + WaveGlow trained on LJ Speech in fp32 "
            "(torch.hub, NGC 19.09.0)",
            language="en-US",
            licence=_NVIDIA_LICENCE,
            tacotron2=RemoteFile(
                f"{_NGC}/tacotron2_pyt_ckpt_fp32/versions/19.09.0/files/nvidia_tacotron2pyt_fp32_20190427",
                "nvidia_tacotron2pyt_fp32_20190427",
                "tacotron2",
            ),
            waveglow=RemoteFile(
                f"{_NGC}/waveglow_ckpt_fp32/versions/19.09.0/files/nvidia_waveglowpyt_fp32_20190427",
                "nvidia_waveglowpyt_fp32_20190427",
                "waveglow",
            ),
            download_mb=1190,
        ),
    )
}
"""Every voice by name."""
DEFAULT_VOICE = "bundled"
"""The voice used when none is named."""


def get_voice(name: str) -> Voice:
    """The catalogue entry ``name``.

    Raises:
        ConfigError: no such voice (the message lists the known ones).
    """
    try:
        return VOICES[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"voice {name!r}: unknown, expected one of {', '.join(VOICES)} (list them with: tacoglow voices)"
        ) from None


def cached_path(voice: Voice, model: RemoteFile) -> Path:
    """Where a downloadable file of ``voice`` lives in the cache (whether it is there or not)."""
    return cache_dir() / voice.name / model.filename


def _local(voice: Voice, model: ModelFile) -> Path | None:
    """The file, if this machine has it (bundled, cached or placed by hand)."""
    if isinstance(model, Bundled):
        return model.path()
    path = cached_path(voice, model)
    return path if path.is_file() else None


def voice_status(voice: Voice) -> str:
    """ "bundled", "cached", "partly cached" (one of two files) or "not downloaded"."""
    remote = [m for m in (voice.tacotron2, voice.waveglow) if isinstance(m, RemoteFile)]
    if not remote:
        return "bundled"
    have = sum(_local(voice, m) is not None for m in remote)
    return "cached" if have == len(remote) else "partly cached" if have else "not downloaded"


def resolve_voice(
    name: str, *, tacotron2: bool = True, waveglow: bool = True, progress: bool = True
) -> tuple[Path | None, Path | None]:
    """Local paths of a voice's (Tacotron 2, WaveGlow), downloading what is missing.

    Args:
        name: a catalogue name (:data:`VOICES`).
        tacotron2: resolve the Tacotron 2 (False: None in its place, nothing downloaded).
        waveglow: resolve the WaveGlow (False: None in its place, nothing downloaded).
        progress: show download progress on stderr.

    Returns:
        (tacotron2 path, waveglow path); the WaveGlow is None for a voice without one (Griffin-Lim).

    Raises:
        ConfigError: unknown voice, or its bundled Tacotron 2 is not in this installation.
        tacoglow.download.DownloadError: a file could not be downloaded or failed verification.
    """
    voice = get_voice(name)
    paths: list[Path | None] = []
    for wanted, model in ((tacotron2, voice.tacotron2), (waveglow, voice.waveglow)):
        if not wanted or model is None:
            paths.append(None)
        elif isinstance(model, Bundled):
            paths.append(model.path())
        else:
            paths.append(fetch(model, cached_path(voice, model), progress=progress))
    if tacotron2 and paths[0] is None:
        raise ConfigError(f"voice {name!r}: its Tacotron 2 ({voice.tacotron2.filename}) is not in this installation")
    return paths[0], paths[1]
