"""The voice shipped inside this installation (package data under ``tacoglow/voices/``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled_voice_paths"]


def bundled_voice_paths() -> tuple[Path | None, Path | None]:
    """The voice shipped inside this installation: (tacotron2.pt, waveglow.pt), None where absent.

    A bundled voice is package data at ``tacoglow/voices/tacotron2.pt`` and
    ``tacoglow/voices/waveglow.pt`` (tacoglow or NVIDIA checkpoint files).
    """
    folder = resources.files("tacoglow") / "voices"
    found = []
    for name in ("tacotron2.pt", "waveglow.pt"):
        entry = folder / name
        found.append(Path(str(entry)) if entry.is_file() else None)
    return found[0], found[1]
