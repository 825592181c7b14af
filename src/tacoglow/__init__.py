"""tacoglow: Tacotron 2 + WaveGlow text-to-speech, compatible with NVIDIA's checkpoints."""
from tacoglow.errors import TacoglowError

__version__ = "0.1.0"
__all__ = ["TacoglowError", "__version__"]
