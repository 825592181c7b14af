"""tacoglow: Tacotron 2 + WaveGlow text-to-speech, compatible with NVIDIA's checkpoints.

>>> from tacoglow import Synthesizer              # doctest: +SKIP
>>> Synthesizer().synthesize("Hello world.")[0].save("hello.wav")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from tacoglow.errors import TacoglowError

__version__ = "0.1.0"
__all__ = ["Synthesizer", "TacoglowError", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use so that `import tacoglow` (and `tacoglow --help`) stays fast.
    if name == "Synthesizer":
        from tacoglow.api import Synthesizer

        return Synthesizer
    raise AttributeError(f"module 'tacoglow' has no attribute {name!r}")
